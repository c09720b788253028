"""A small mutation check: put one plausible bug at a time into ``src/`` and run the tests that must notice it.

    .venv/bin/python bench/mutants.py              # every mutant (a few minutes)
    .venv/bin/python bench/mutants.py --list       # the mutants and their tests, without running anything
    .venv/bin/python bench/mutants.py NAME ...     # only these mutants

Each mutant is an exact source replacement (file, old text, new text) and the tests that must fail with it. The
checkout is copied once to a temporary directory (without .git, .venv, dist); each mutant is applied to the copy,
its tests run there (``-x``, with the copy's ``src`` first on the path), and the file is put back before the next.
The checkout itself is never modified. First the named tests run once without a mutant: they must pass.

Exit status 0 when every mutant is caught; 1 when one survived, its old text is not in the file exactly once (the
source moved: update the list), or its tests could not run; 2 when the tests fail without any mutant.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: Seconds for one mutant's test run; pytest-timeout ends a single hung test sooner.
RUN_TIMEOUT = 900


@dataclass(frozen=True)
class Mutant:
    name: str
    file: str  # relative to the checkout
    old: str
    new: str
    tests: tuple[str, ...]  # pytest node ids, relative to the checkout; at least one must fail


RUNTIME = "src/hatch_zipapp/bootstrap/runtime.py"
ZIPREAD = "src/hatch_zipapp/bootstrap/zipread.py"
CLEANUP = "src/hatch_zipapp/bootstrap/cleanup.py"
ATOMIC = "src/hatch_zipapp/bootstrap/atomic.py"
ROOTS = "src/hatch_zipapp/bootstrap/roots.py"
LOCKS = "src/hatch_zipapp/bootstrap/locks.py"
SHARED = "tests/test_runtime_shared_machine.py"
BACKGROUND = "tests/test_runtime.py::TestBackgroundDeletion"
RELEASE = "src/hatch_zipapp/deploy/release.py"
FLOW = "tests/test_deploy_flow.py"
CONFINE = "src/hatch_zipapp/bootstrap/confine.py"
CONFINED = "tests/test_confine.py"
DEPLOY_CONFINE = "src/hatch_zipapp/deploy/confine.py"
CONFINE_TESTS = "tests/test_systemd_confine.py"
DECLARE = "tests/test_confine_declare.py"
SECCOMP = "src/hatch_zipapp/bootstrap/seccomp.py"
SECCOMP_TESTS = "tests/test_confine_seccomp.py"
RUN_TESTS = "tests/test_systemd_confine_run.py"
SURVIVORS = "tests/test_confine_survivors.py"

MUTANTS = [
    # -- the seven that survived in issue 11 ---------------------------------------------------------------------
    Mutant(
        "fetch-unlocked-index-file",
        "src/hatch_zipapp/fetch.py",
        "                if locked.sha256 in pin.hashes:\n                    self.cache.remember_filename",
        "                if True:\n                    self.cache.remember_filename",
        ("tests/test_lock_hashes.py",),
    ),
    Mutant(
        "runtime-no-site-packages-filter",
        RUNTIME,
        '    if "site-packages" in parts or "dist-packages" in parts:\n        return False\n',
        "",
        ("tests/test_runtime_isolation.py",),
    ),
    Mutant(
        "runtime-fast-path-without-shared-lock",
        RUNTIME,
        "if not force and _extracted(final) and lock.try_shared():",
        "if not force and _extracted(final):",
        ("tests/test_runtime_locks.py::test_a_warm_start_keeps_its_extraction_from_a_newer_builds_cleanup",),
    ),
    Mutant(
        "runtime-extract-without-exclusive-lock",
        RUNTIME,
        '        if lock.try_exclusive():\n            return "extract"',
        '        if True:\n            return "extract"',
        ("tests/test_runtime_locks.py::test_no_extraction_while_another_process_holds_the_exclusive_lock",),
    ),
    Mutant(
        "runtime-extract-under-a-shared-lock",  # two extractions at once: only 32 simultaneous starts show it
        RUNTIME,
        '        if lock.try_exclusive():\n            return "extract"',
        '        if lock.try_shared():\n            return "extract"',
        ("tests/test_runtime.py::TestConcurrency::test_32_cold_starts_at_once",),
    ),
    Mutant(
        "verify-skips-members-outside-site-packages",
        "src/hatch_zipapp/pyz/verify.py",
        "    for name in sorted(listed.keys() & digests.keys()):",
        '    for name in sorted(n for n in listed.keys() & digests.keys() if n.startswith("site-packages/")):',
        ("tests/test_verify_members.py",),
    ),
    Mutant(
        "verify-trusts-the-zip-headers",  # a timestamp, mode or flag changed in a header passed
        "src/hatch_zipapp/pyz/verify.py",
        "    if not unreadable and inner is not None:\n        problems += _check_headers(",
        "    if False:\n        problems += _check_headers(",
        ("tests/test_zip_differential.py::test_what_every_reader_reads_alike_but_the_build_never_writes",),
    ),
    Mutant(
        "verify-ignores-the-shebang-line",
        "src/hatch_zipapp/pyz/verify.py",
        "    if actual != listed[PREFIX]:",
        "    if False:",
        ("tests/test_verify_fuzz.py::TestShebang",),
    ),
    Mutant(
        "verify-ignores-site-packages-zip-digest",
        "src/hatch_zipapp/pyz/verify.py",
        "        and inner[0] != listed[SITE_PACKAGES_ZIP]\n",
        "        and False\n",
        ("tests/test_verify_fuzz.py::TestConsistentRewrites::test_a_mode_changed_inside_site_packages_zip",),
    ),
    Mutant(
        "verify-crashes-on-zlib-errors",  # zlib.error, NotImplementedError, ... as tracebacks
        ZIPREAD,
        "            data = inflater.decompress(raw, file_size + 1)\n        except zlib.error:",
        "            data = inflater.decompress(raw, file_size + 1)\n        except MemoryError:",
        ("tests/test_verify_fuzz.py::test_every_one_bit_flip_gets_a_verdict",),
    ),
    Mutant(
        "verify-passes-a-missing-checksum-file",
        "src/hatch_zipapp/__main__.py",
        "    if checksum is not None and not checksum.is_file():\n        print(",
        "    if False:\n        print(",
        ("tests/test_verify_fuzz.py::TestSidecars::test_a_named_checksum_file_that_does_not_exist",),
    ),
    Mutant(
        "zip-timestamps-in-local-time",
        "src/hatch_zipapp/reproducible.py",
        "return time.gmtime(epoch)[:6]",
        "return time.localtime(epoch)[:6]",
        ("tests/test_reproducible_inputs.py::test_the_time_zone_changes_nothing",),
    ),
    Mutant(
        "systemd-drops-private-devices",
        "src/hatch_zipapp/deploy/systemd.py",
        '        "PrivateDevices=yes",\n',
        "",
        ("tests/test_systemd_hardening.py",),
    ),
    # -- plausible others ------------------------------------------------------------------------------------------
    Mutant(
        "fetch-no-hash-check",
        "src/hatch_zipapp/fetch.py",
        "        if actual != locked.sha256:",
        "        if False:",
        ("tests/test_fetch.py::TestIntegrity::test_served_file_with_another_hash_is_refused",),
    ),
    Mutant(
        "archive-entries-in-insertion-order",
        "src/hatch_zipapp/pyz/zipwrite.py",
        "    return sorted(names)",
        "    return list(names)",
        ("tests/test_reproducible_inputs.py::test_the_order_files_are_staged_in_changes_nothing",),
    ),
    Mutant(
        "builder-leaves-earlier-targets-files",
        "src/hatch_zipapp/builder.py",
        "            final.unlink(missing_ok=True)\n",
        "            continue\n",
        ("tests/test_reproducible_inputs.py::test_a_failure_at_the_second_target_leaves_dist_unchanged",),
    ),
    Mutant(
        "archive-modes-from-nowhere",
        "src/hatch_zipapp/pyz/zipwrite.py",
        "    return (_EXEC_MODE if executable else _FILE_MODE) << 16",
        "    return _FILE_MODE << 16",
        ("tests/test_reproducible.py::TestSameBytes::test_scripts_have_a_fixed_shebang_and_mode",),
    ),
    Mutant(
        "static-manifest-unsorted",
        "src/hatch_zipapp/static.py",
        "json.dumps(json.loads(file.read_bytes()), sort_keys=True)",
        "json.dumps(json.loads(file.read_bytes()), sort_keys=False)",
        ("tests/test_django_hermetic.py::test_the_manifest_is_written_with_sorted_keys",),
    ),
    Mutant(
        "django-serve-leaves-gunicorns-argv",
        "src/hatch_zipapp/bootstrap/django_main.py",
        "            finally:\n                sys.argv = original\n",
        "            finally:\n                pass\n",
        ("tests/test_django_hermetic.py::test_serve_takes_the_socket_systemd_passes",),
    ),
    Mutant(
        "runtime-no-crc-check",
        ZIPREAD,
        "    if zlib.crc32(data) != crc:",
        "    if False:",
        ("tests/test_runtime.py::TestExtraction::test_a_damaged_archive_is_a_clear_error_and_leaves_nothing",),
    ),
    Mutant(
        "runtime-no-site-packages-digest",  # issue 12: a damaged site-packages.zip extracted (only CRCs left)
        ZIPREAD,
        "            check_digest(reader, base, size, record.get(SITE_PACKAGES_ZIP), SITE_PACKAGES_ZIP)\n",
        "",
        ("tests/test_runtime.py::TestExtraction::test_a_damaged_archive_is_a_clear_error_and_leaves_nothing",),
    ),
    Mutant(
        "zipread-cp437-name-read",  # issue 22: a name without the UTF-8 flag read (as the runtime read it, otherwise)
        ZIPREAD,
        "    if not flags & UTF8:\n        raise Refused(shown,",
        '    if not flags & UTF8:\n        return raw.decode("cp437")\n        raise Refused(shown,',
        ("tests/test_zip_differential.py",),
    ),
    Mutant(
        "zipread-members-overlap",  # issue 22: members that overlap or leave gaps read
        ZIPREAD,
        "            or offset != expected\n",
        "",
        ("tests/test_zip_differential.py",),
    ),
    Mutant(
        "zipread-local-header-unchecked",  # issue 22: a local header that differs from its directory entry read
        ZIPREAD,
        "    if block[: len(header)] != header:",
        "    if block[:4] != header[:4]:",
        ("tests/test_zip_differential.py",),
    ),
    Mutant(
        "runtime-verify-compares-nothing",  # issue 12: ZIPAPP_VERIFY=1 runs a changed extraction
        RUNTIME,
        "    if changed is not None:\n",
        "    if False:\n",
        ("tests/test_runtime_damage.py::test_verify_refuses_a_changed_file",),
    ),
    Mutant(
        "runtime-keeps-one-extraction-too-many",
        CLEANUP,
        "    for _, entry in others[keep - 1 :]:",
        "    for _, entry in others[keep:]:",
        ("tests/test_runtime.py::TestCleanup::test_ten_builds_leave_the_configured_number",),
    ),
    Mutant(
        "runtime-cleanup-takes-any-name",
        CLEANUP,
        '    return len(text) == 64 and all(c in "0123456789abcdef" for c in text)',
        "    return True",
        ("tests/test_runtime.py::test_cleanup_leaves_other_directories_alone",),
    ),
    Mutant(
        "runtime-leftovers-judged-without-their-lock",  # issue 12: another PID namespace's extraction set aside
        CLEANUP,
        "        if kind == WORK and extraction != key and not _unused(",
        "        if False and not _unused(",
        ("tests/test_runtime.py::TestBackgroundDeletion::test_leftovers_are_judged_by_their_lock_not_by_their_pid",),
    ),
    Mutant(
        "runtime-modes-not-restored",
        ZIPREAD,
        "0o555 if mode & 0o111 else 0o444",
        "0o444",
        ("tests/test_runtime.py::TestExtraction::test_every_member_written_with_its_bytes_and_mode",),
    ),
    Mutant(
        "runtime-extracts-in-place",
        ATOMIC,
        '        self.work = os.path.join(base, f".{key}.tmp-{os.getpid()}")\n',
        "        self.work = self.final\n",
        ("tests/test_runtime.py::TestConcurrency::test_killed_while_extracting",),
    ),
    # -- issue 12: a machine shared with other users (tests/test_runtime_shared_machine.py, real second users) ----
    Mutant(
        "runtime-trusts-a-root-of-another-user",
        ROOTS,
        "    if st.st_uid not in {0, euid()}:",
        "    if False:",
        (f"{SHARED}::test_a_root_owned_by_another_user_is_refused",),
    ),
    Mutant(
        "runtime-uses-a-sticky-root-directly",
        ROOTS,
        'if os.name != "nt" and st.st_mode & 0o002 and st.st_mode & stat.S_ISVTX:',
        "if False:",
        (f"{SHARED}::test_a_sticky_shared_root_gives_each_user_a_private_directory",),
    ),
    Mutant(
        "runtime-takes-a-private-directory-another-user-made",
        ROOTS,
        "        if st.st_uid != euid():",
        "        if False:",
        (f"{SHARED}::test_a_private_directory_planted_by_another_user_is_refused",),
    ),
    Mutant(
        "runtime-runs-a-tampered-extraction",
        RUNTIME,
        '        why = untrusted(st)\n        if why is not None:\n            message = f"refusing to run {path}',
        '        why = None\n        if why is not None:\n            message = f"refusing to run {path}',
        (f"{SHARED}::test_a_sticky_shared_root_gives_each_user_a_private_directory",),
    ),
    Mutant(
        "runtime-lock-follows-links",
        LOCKS,
        'os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)',
        "os.O_RDWR | os.O_CREAT",
        (f"{SHARED}::test_a_lock_file_that_is_a_link_is_not_followed",),
    ),
    # ("runtime-extracts-under-the-users-umask" is gone: since issue 16 every directory and file of an extraction gets
    # an explicit mode after it is written, so the umask no longer shows in the result; the mutant became equivalent.)
    # -- issue 12: faults at run time (tests/test_runtime_faults.py) -------------------------------------------------
    Mutant(
        "runtime-relative-root-is-the-working-directory",
        ROOTS,
        "    if not os.path.isabs(path):",
        "    if False:",
        ("tests/test_runtime_faults.py::test_a_root_that_is_not_an_absolute_path_is_an_error",),
    ),
    Mutant(
        "runtime-lock-timeout-nan-accepted",
        LOCKS,
        "    if not timeout >= 0:  # also true for nan",
        "    if timeout < 0:",
        ("tests/test_runtime_faults.py::test_a_lock_timeout_that_is_not_a_number_of_seconds",),
    ),
    Mutant(
        "verify-ignores-the-checksum-file",
        "src/hatch_zipapp/pyz/verify.py",
        "        if actual != expected:",
        "        if False:",
        ("tests/test_supply_chain.py::TestVerify::test_one_flipped_byte_in_the_file",),
    ),
    # -- issue 12's build side -----------------------------------------------------------------------------------
    Mutant(
        "cache-entry-seal-not-checked",
        "src/hatch_zipapp/cache.py",
        '                sealed = file_sha256(opened, _sealing(kind, key, label)) == match["seal"]',
        "                sealed = True",
        ("tests/test_cache.py::TestDamagedEntries::test_bytecode_bundle_with_an_added_pth",),
    ),
    Mutant(
        "install-file-directory-clash-allowed",
        "src/hatch_zipapp/install.py",
        "                if blocking is not None:",
        "                if False:",
        ("tests/test_build_faults.py::TestFileDirectoryClash::test_between_two_wheels",),
    ),
    Mutant(
        "sdist-uv-quiet-hides-the-backend",
        "src/hatch_zipapp/sdist.py",
        '"--wheel", "--no-progress",',
        '"--wheel", "--quiet",',
        ("tests/test_build_faults.py::TestSdistBackendError",),
    ),
    Mutant(
        "scratch-sweep-ignores-the-lock",
        "src/hatch_zipapp/scratch.py",
        "            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)\n",
        "            pass\n",
        ("tests/test_build_faults.py::TestKilledBuild::test_a_running_builds_files_are_never_removed",),
    ),
    Mutant(
        "clean-leaves-killed-builds-files",
        "src/hatch_zipapp/builder.py",
        "        scratch.sweep_all(Path(directory))",
        "        pass",
        ("tests/test_build_faults.py::TestKilledBuild::test_leftovers_are_removed",),
    ),
    # -- issue 12: the code Python runs before the runtime ---------------------------------------------------------
    Mutant(
        "main-skips-runtime-digests",
        "src/hatch_zipapp/bootstrap/check.py",
        "        if hashlib.sha256(data).hexdigest() != found[name]:",
        "        if False:",
        ("tests/test_runtime_damage.py::test_every_runtime_module_is_checked_before_it_is_imported",),
    ),
    Mutant(
        "runtime-skips-main-digest",
        RUNTIME,
        "                _checked(archive, member, record)",
        "                pass",
        ("tests/test_runtime_damage.py::test_every_runtime_module_is_checked_before_it_is_imported",),
    ),
    # -- issue 14: applications ---------------------------------------------------------------------------------
    Mutant(
        "runtime-ignores-the-invoked-name",
        RUNTIME,
        "        entry_point = scripts.get(invoked) or environment.get(ENTRY_POINT)",
        "        entry_point = environment.get(ENTRY_POINT)",
        ("tests/test_applications.py::test_every_route_to_a_script",),
    ),
    Mutant(
        "reexec-child-in-every-interpreter",
        "src/hatch_zipapp/bootstrap/sitecustomize.py",
        "    if hexversion != str(sys.hexversion) or os.path.realpath(prefix) != os.path.realpath(sys.prefix):",
        "    if False:",
        ("tests/test_applications.py::test_reexec_a_virtualenv_made_by_a_child_sees_nothing",),
    ),
    Mutant(
        "reexec-loses-the-host-sitecustomize",
        "src/hatch_zipapp/bootstrap/sitecustomize.py",
        "    _child()\n    _chain()\n",
        "    _child()\n",
        ("tests/test_applications.py::test_reexec_children_see_the_packages",),
    ),
    Mutant(
        "wrapper-without-code-is-a-traceback",
        "src/hatch_zipapp/builder.py",
        '            if not str(e).startswith("Unable to determine which files to ship"):',
        "            if True:",
        ("tests/test_applications.py::test_a_wrapper_without_code_is_one_line_naming_bypass_selection",),
    ),
    # -- issue 16: a write into the extraction fails at once ---------------------------------------------------
    Mutant(
        "extraction-directories-writable",
        RUNTIME,
        "            make_read_only(work, None if compiled else sorted(directories))  # no writing into its own code",
        "            pass",
        (f"{SHARED}::test_the_user_cannot_write_into_its_extraction_and_cleanup_still_deletes_it",),
    ),
    Mutant(
        "cleanup-cannot-delete-read-only-directories",
        ATOMIC,
        "                    os.chmod(child, 0o700)",
        "                    pass",
        (f"{SHARED}::test_the_user_cannot_write_into_its_extraction_and_cleanup_still_deletes_it",),
    ),
    # -- issue 26: the cold start's extraction made cheaper, its flush begun part way ---------------------------
    Mutant(
        "extraction-early-flush-not-waited",  # a thread of the runtime's alive when the application runs
        ZIPREAD,
        '            workers.append(threading.Thread(target=midway, name="hatch-zipapp-flush", daemon=True))\n'
        "            workers[-1].start()\n",
        '            threading.Thread(target=midway, name="hatch-zipapp-flush", daemon=True).start()\n',
        ("tests/test_extract_cold.py::test_the_flush_starts_part_way_in_a_thread_and_is_waited_for",),
    ),
    Mutant(
        "extraction-no-early-flush",
        RUNTIME,
        "            write_members(archive, work, todo, lambda: flush_early(work))",
        "            write_members(archive, work, todo)",
        ("tests/test_extract_cold.py::test_a_cold_start_flushes_part_way_and_before_the_rename",),
    ),
    Mutant(
        "extraction-early-flush-fault-raised",
        ATOMIC,
        "    try:  # noqa: SIM105 - contextlib: one module more to import\n        flush_file_system(path)\n"
        "    except OSError:\n        pass\n",
        "    flush_file_system(path)\n",
        ("tests/test_extract_cold.py::test_an_early_flush_that_fails_is_no_fault",),
    ),
    Mutant(
        "file-times-january-as-a-leap-month",  # calendar.timegm's arithmetic, one comparison off
        ZIPREAD,
        "    shifted = year - (month <= 2)",
        "    shifted = year - (month < 2)",
        ("tests/test_extract_cold.py::test_file_times_are_calendar_timegm_for_every_dos_date",),
    ),
    # -- issue 16: no thread of the runtime's alive while the application runs (uWSGI's C fork hung its worker) --
    Mutant(
        "old-extractions-deleted-by-a-thread",
        ATOMIC,
        '    if not hasattr(os, "fork"):',
        "    if True:",
        ("tests/test_runtime.py::TestBackgroundDeletion::test_old_extractions_are_deleted_while_the_app_starts",),
    ),
    Mutant(
        "app-exits-before-the-deletion-ends",
        ATOMIC,
        "            while os.read(read_end, 1):",
        "            while False:",
        ("tests/test_runtime.py::TestBackgroundDeletion::test_old_extractions_are_deleted_while_the_app_starts",),
    ),
    Mutant(
        "deleting-process-closes-a-pipe-end-numbered-0-to-2",
        ATOMIC,
        "    read_end, write_end = (_above_stdio(end) for end in os.pipe())",
        "    read_end, write_end = os.pipe()",
        (f"{BACKGROUND}::test_a_start_with_stdin_stdout_and_stderr_closed_waits_for_the_deletion",),
    ),
    Mutant(
        "child-without-a-grandchild-deletes-nothing",
        ATOMIC,
        "                grandchild = 0",
        "                raise",
        (f"{BACKGROUND}::test_a_start_that_cannot_start_a_process_deletes_itself",),
    ),
    Mutant(
        "exit-waits-on-a-descriptor-the-application-reused",
        ATOMIC,
        "        if (now.st_dev, now.st_ino) != (pipe.st_dev, pipe.st_ino):",
        "        if False:",
        (f"{BACKGROUND}::test_an_application_that_closes_every_descriptor_exits",),
    ),
    # -- issue 22: the whole build cache is yours ----------------------------------------------------------------
    Mutant(
        "cache-subdirectories-not-checked",
        "src/hatch_zipapp/cache.py",
        "            checked = self._check(fd, above=above)\n            if checked is not None:",
        "            checked = self._check(fd, above=above)\n            if checked is not None and name == '':",
        ("tests/test_cache_hostile.py::test_hostile_cache_another_user_plants_a_sealed_bytecode_bundle",),
    ),
    Mutant(
        "cache-directories-made-with-the-umask",
        "src/hatch_zipapp/cache.py",
        "                os.fchmod(fd, 0o700)  # whatever the umask",
        "                pass",
        ("tests/test_cache_hostile.py::test_every_kind_is_stored_0700_0600_whatever_the_umask",),
    ),
    # -- issue 23: a start always runs one release (tests/test_deploy_switch.py: the deploy switches it meanwhile) --
    Mutant(
        "start-goes-on-with-a-switched-file",
        "src/hatch_zipapp/bootstrap/pinned.py",
        "    if given is None and _differ(cache.get(archive, {}), cache.get(pinned, {})):",
        "    if False:",
        ("tests/test_deploy_switch.py::test_switched_at_every_start_gives_up_after_three_new_beginnings",),
    ),
    Mutant(
        "runtime-reads-the-archive-by-name",
        "src/hatch_zipapp/bootstrap/pinned.py",
        "            sys.path[index] = pinned",
        "            sys.path[index] = archive",
        ("tests/test_deploy_switch.py::test_plain_pyz",),
    ),
    Mutant(
        "launcher-reads-itself-by-name",
        "src/hatch_zipapp/launcher.sh",
        'hz_got=$(wc -c 2>/dev/null <"$hz_file")',
        'hz_got=$(wc -c 2>/dev/null <"$hz_self")',
        ("tests/test_deploy_switch.py::test_embedded_python",),
    ),
    Mutant(
        "deleting-process-keeps-the-applications-descriptors",
        "src/hatch_zipapp/bootstrap/atomic.py",
        "                os.closerange(3, write_end)",
        "                pass",
        (f"{BACKGROUND}::test_the_deleting_process_holds_nothing_of_the_application",),
    ),
    # -- issue 23: the unseen round's survivors in the server code (found by a reader of the code, not of the tests) --
    Mutant(
        "uvicorn-with-workers-1-left-to-exit-on-sighup",
        "src/hatch_zipapp/bootstrap/django_main.py",
        "    if workers is not None and workers.isdigit() and int(workers) > 1:",
        "    if workers is not None and workers.isdigit() and int(workers) >= 1:",
        ("tests/test_django_servers.py::test_uvicorn_with_one_worker_restarts_in_place_on_sighup",),
    ),
    Mutant(
        "ready-when-anyone-listens-on-the-port",
        "src/hatch_zipapp/bootstrap/django_main.py",
        "    return any(inode in mine for inode in listening)",
        "    return bool(listening)",
        ("tests/test_systemd_real.py::test_a_start_fails_when_the_port_is_taken",),
    ),
    Mutant(
        "uwsgi-reload-variables-taken-for-configuration",
        "src/hatch_zipapp/bootstrap/django_main.py",
        'name.startswith("UWSGI_") and name not in _UWSGI_OWN',
        'name.startswith("UWSGI_")',
        ("tests/test_systemd_real.py::test_the_units_run",),
    ),
    Mutant(
        "manage-script-takes-the-services-runtime-directory",
        "src/hatch_zipapp/deploy/systemd.py",
        '"TimeoutStopSec=", "RuntimeDirectory=")',
        '"TimeoutStopSec=")',
        ("tests/test_systemd_real.py::test_the_units_run",),
    ),
    Mutant(
        "manage-script-runs-a-relative-pyz-from-the-state-directory",
        "src/hatch_zipapp/deploy/systemd.py",
        '"  case $2 in /*) pyz=$2 ;; *) pyz=$(pwd)/$2 ;; esac",',
        '"  pyz=$2",',
        ("tests/test_systemd_real.py::test_the_units_run",),
    ),
    Mutant(
        "extracted-files-keep-the-extraction-time",
        "src/hatch_zipapp/bootstrap/zipread.py",
        "                    if set_times:",
        "                    if False:",
        ("tests/test_reproducible.py::TestSameBytes::test_extracted_files_carry_the_archives_time",),
    ),
    # -- the survivors of a round by an auditor who had not read the tests (issues 22 and 23) --------------------
    Mutant(
        "zipread-gap-before-central-directory",
        ZIPREAD,
        "    if expected != end:\n",
        "    if expected > end:\n",
        ("tests/test_zip_differential.py::test_one_reading",),
    ),
    Mutant(
        "zipread-slack-after-the-directory-entries",
        ZIPREAD,
        "    if position != len(entries):\n",
        "    if position > len(entries):\n",
        ("tests/test_zip_differential.py::test_one_reading",),
    ),
    Mutant(
        "install-data-scheme-without-a-file",
        "src/hatch_zipapp/install.py",
        "(scheme in SCHEME_NAMES and separator and rest)",
        "(scheme in SCHEME_NAMES)",
        ("tests/test_wheel_faults.py::TestDataSchemes::test_an_unknown_scheme_is_named",),
    ),
    Mutant(
        "install-data-directory-entries-refused",
        "src/hatch_zipapp/install.py",
        '        if name.endswith("/"):\n            continue\n',
        "",
        ("tests/test_wheel_faults.py::TestDataSchemes::test_directory_entries_are_not_members",),
    ),
    Mutant(
        "extract-quota-advice-lost",
        RUNTIME,
        '    if e.errno in {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}:',
        "    if e.errno == errno.ENOSPC:",
        ("tests/test_runtime_advice.py::test_each_errno_of_a_failed_write_gets_its_advice",),
    ),
    Mutant(
        "pinned-added-member-unnoticed",
        "src/hatch_zipapp/bootstrap/pinned.py",
        "    return len(began) != len(holds) or any(",
        "    return any(",
        ("tests/test_deploy_switch.py::test_a_switched_file_is_told_from_the_one_the_start_began_on",),
    ),
    Mutant(
        "fetch-exact-content-length-refused",
        "src/hatch_zipapp/fetch.py",
        "declared.strip().isdigit() and int(declared) > limit:",
        "declared.strip().isdigit() and int(declared) >= limit:",
        ("tests/test_locked_inputs.py::TestDownloads::test_a_content_length_of_the_locks_size_is_read",),
    ),
    # -- issue 24: the deploy's steps (tests/test_deploy_flow.py: a fake systemctl), its delta fetch and the index --
    Mutant(
        "deploy-keeps-one-release-fewer",
        RELEASE,
        "kept = set(order[-self.request.keep :])",
        "kept = set(order[-(self.request.keep - 1) :])",
        (f"{FLOW}::test_retention_keeps_the_last_three_by_default",),
    ),
    Mutant(
        "deploy-retention-forgets-the-release-before",
        RELEASE,
        "kept = set(order[-self.request.keep :]) | {n for n in (state.release, state.previous) if n}",
        "kept = set(order[-self.request.keep :])",
        (f"{FLOW}::test_after_a_rollback_the_release_live_before_the_next_deploy_is_kept",),
    ),
    Mutant(
        "deploy-cut-short-is-nothing-to-do",
        RELEASE,
        "if current == name and state.release == name and state.state == HEALTHY:",
        "if current == name and state.release == name:",
        (f"{FLOW}::test_a_deploy_killed_after_its_switch_recorded_it_and_finishes_when_run_again",),
    ),
    Mutant(
        "deploy-switches-before-recording",
        RELEASE,
        "        state.write(self.state_path)\n        self.switch(name, previous)",
        "        self.switch(name, previous)",
        (f"{FLOW}::test_a_deploy_killed_after_its_switch_recorded_it_and_finishes_when_run_again",),
    ),
    Mutant(
        "deploy-rollback-does-not-switch-back",
        RELEASE,
        "        self.switch(previous, name)\n",
        "",
        (f"{FLOW}::test_a_failed_release_is_switched_back_and_restarted",),
    ),
    Mutant(
        "deploy-health-passes-on-4xx",
        RELEASE,
        'answered.startswith(("1", "2", "3"))',
        'answered.startswith(("1", "2", "3", "answered 4"))',
        (f"{FLOW}::test_a_health_answer_of_400_or_more_fails_the_release",),
    ),
    Mutant(
        "deploy-health-host-is-the-last-allowed-host",
        RELEASE,
        '.split(",")[0]',
        '.split(",")[-1]',
        (f"{FLOW}::test_the_health_probe_s_host_is_the_first_allowed_host",),
    ),
    Mutant(
        "deploy-django-runs-no-checks",
        RELEASE,
        "checks = DJANGO_CHECKS if env.get(ENTRY_POINT) == DJANGO_ENTRY_POINT else ()",
        "checks = ()",
        (f"{FLOW}::test_a_django_site_runs_its_two_checks_in_order_and_no_check_none",),
    ),
    Mutant(
        "deploy-no-check-runs-the-default-checks",
        "src/hatch_zipapp/__main__.py",
        "checks=() if options.no_check",
        "checks=None if options.no_check",
        (f"{FLOW}::test_a_django_site_runs_its_two_checks_in_order_and_no_check_none",),
    ),
    Mutant(
        "deploy-keep-defaults-to-2",
        "src/hatch_zipapp/__main__.py",
        'deploy.add_argument("--keep", default="3"',
        'deploy.add_argument("--keep", default="2"',
        (f"{FLOW}::test_retention_keeps_the_last_three_by_default",),
    ),
    Mutant(
        "deploy-settle-not-waited",
        "src/hatch_zipapp/deploy/release.py",
        "            if now != started[unit]:",
        "            if False:",
        (f"{FLOW}::test_a_process_replaced_within_settle_is_rolled_back",),
    ),
    Mutant(
        "deploy-lock-follows-a-planted-link",
        "src/hatch_zipapp/deploy/release.py",
        "os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)",
        "os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)",
        ("tests/test_deploy_hostile.py::TestPlantedLinks::test_the_lock_is_never_followed",),
    ),
    Mutant(
        "systemd-worker-runs-as-its-own-user",
        "src/hatch_zipapp/deploy/systemd.py",
        'lines += [line, f"User={units.name}"]',
        "lines += [line]",
        ("tests/test_systemd.py::test_the_set_verifies_scores_and_is_hardened_like_the_web_unit",),
    ),
    Mutant(
        "delta-nearby-ranges-not-joined",
        "src/hatch_zipapp/deploy/fetch.py",
        "start - ranges[-1][1] < GAP",
        "start - ranges[-1][1] < 0",
        ("tests/test_deploy_fetch.py::TestDelta::test_pieces_closer_than_gap_are_one_range",),
    ),
    Mutant(
        "delta-mostly-new-still-by-ranges",
        "src/hatch_zipapp/deploy/fetch.py",
        "missing > MOST * index.size",
        "missing > index.size",
        ("tests/test_deploy_fetch.py::TestWholeDownload::test_more_than_half_new_is_one_whole_download",),
    ),
    Mutant(
        "delta-overlong-range-body-written",
        "src/hatch_zipapp/deploy/fetch.py",
        "if self.position + len(block) > self.end:",
        "if False:",
        (
            "tests/test_deploy_fetch.py::TestFailures::test_a_range_answered_with_more_bytes_is_refused_and_leaves_nothing",
        ),
    ),
    Mutant(
        "index-chunk-runs-to-a-far-line-end",
        "src/hatch_zipapp/pyz/index.py",
        'data.find(b"\\n", position, start + MAX_CHUNK)',
        'data.find(b"\\n", position)',
        ("tests/test_pyz_index.py::test_binary_bytes_with_a_line_end_past_max_chunk_are_cut_at_max_chunk",),
    ),
    # -- confinement (issue 25): each Landlock rule taken out, the tests that try it through a real .pyz ---------
    Mutant(
        "confine-writable-directory-holding-its-code",
        CONFINE,
        "if _beneath(code, real):",
        "if False:",
        (f"{CONFINED}::TestBadValues",),
    ),
    Mutant(
        "confine-after-pth-files",
        RUNTIME,
        "            confine(archive, site_packages, [lock.path for lock in _held], started)\n"
        "        set_path(archive, site_packages, environment)\n",
        "            pass\n"
        "        set_path(archive, site_packages, environment)\n"
        "        if flag(ZIPAPP_CONFINE):\n"
        "            confine(archive, site_packages, [lock.path for lock in _held], started)\n",
        ("tests/test_confine_attack.py::TestBeforeConfinement",),
    ),
    Mutant(
        "confine-writable-beneath-its-code",
        CONFINE,
        "if _beneath(real, code):",
        "if False:",
        ("tests/test_confine_attack.py::TestCodeReachableFromWritable::test_a_writable_directory_beneath_its_code",),
    ),
    Mutant(
        "confine-links-on-the-way-not-followed",
        CONFINE,
        "        if os.path.islink(candidate):\n",
        "        if False:\n",
        (
            "tests/test_confine_attack.py::TestCodeReachableFromWritable::test_a_link_to_the_pyz_in_a_writable_directory",
        ),
    ),
    Mutant(
        "confine-root-as-named-not-checked",
        CONFINE,
        "named += [root for root in _roots()",
        "named += [root for root in []",
        (
            "tests/test_confine_attack.py::TestCodeReachableFromWritable::test_a_link_to_the_root_in_a_writable_directory",
        ),
    ),
    Mutant(
        "confine-interpreter-in-writable-directory",
        CONFINE,
        "programs = [p for p in (sys.executable, os.path.dirname(os.__file__)) if p]",
        "programs = []",
        ("tests/test_confine_attack.py::TestCodeReachableFromWritable::test_its_interpreter_in_a_writable_directory",),
    ),
    Mutant(
        "seccomp-memory-files-executable",
        SECCOMP,
        "(JSET, allow, deny, MFD_NOEXEC_SEAL),",
        "(JSET, allow, allow, MFD_NOEXEC_SEAL),",
        ("tests/test_confine_attack.py::TestPrograms",),
    ),
    Mutant(
        "confine-standard-library-writable",
        CONFINE,
        "if _beneath(real, self.library):",
        "if False:",
        (
            "tests/test_confine_attack.py::TestCodeReachableFromWritable::test_a_writable_directory_in_its_standard_library",
        ),
    ),
    Mutant(
        "systemd-confine-interpreter-writable",
        DEPLOY_CONFINE,
        """code += [("the interpreter", units.python)] if units.python.startswith("/") else []""",
        "code += []",
        ("tests/test_confine_attack.py::TestUnitRefuses",),
    ),
    Mutant(
        "confine-links-in-writable-directories-followed",
        CONFINE,
        "_check_links([*self.declared_read, *self.write], self.write)",
        "pass",
        ("tests/test_confine_attack.py::TestPlantedLinks",),
    ),
    Mutant(
        "confine-user-site-writable",
        CONFINE,
        "if self.user_site and self.real_user_site and _beneath(self.real_user_site, real):",
        "if False:",
        ("tests/test_confine_attack.py::TestUserSite",),
    ),
    Mutant(
        "confine-paths-of-another-user-trusted",
        CONFINE,
        "_check_owners([*self.declared_read, *self.write])",
        "pass",
        ("tests/test_confine_attack.py::TestAnotherUser",),
    ),
    Mutant(
        "systemd-confine-user-site-on",
        DEPLOY_CONFINE,
        """    lines.append("Environment=PYTHONNOUSERSITE=1")\n""",
        "",
        ("tests/test_confine_attack.py::test_a_user_site_relative_to_the_working_directory",),
    ),
    Mutant(
        "confine-read-paths-writable",
        CONFINE,
        'paths += [(path, READ & handled_fs, "") for path in rules.read]',
        'paths += [(path, WRITE & handled_fs, "") for path in rules.read]',
        (f"{CONFINED}::TestFiles::test_writes_only_where_declared",),
    ),
    Mutant(
        "confine-system-executable",
        CONFINE,
        "READ = READ_FILE | READ_DIR\n",
        "READ = READ_FILE | READ_DIR | EXECUTE\n",
        (f"{CONFINED}::TestPrograms",),
    ),
    Mutant(
        "confine-network-not-handled",
        CONFINE,
        "network = abi >= 4\n",
        "network = False\n",
        (f"{CONFINED}::TestNetwork",),
    ),
    Mutant(
        "confine-nothing-scoped",
        CONFINE,
        "scoped = SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL if abi >= 6 else 0",
        "scoped = 0",
        (f"{CONFINED}::TestScope",),
    ),
    Mutant(
        "confine-port-zero-accepted",
        CONFINE,
        "1 <= int(word) <= 65535",
        "0 <= int(word) <= 65535",
        (f"{CONFINED}::TestBadValues",),
    ),
    Mutant(
        "confine-temporary-directory-not-writable",
        CONFINE,
        "            self.write.append(temporary)",
        "            pass",
        (f"{CONFINED}::TestFiles::test_writes_only_where_declared",),
    ),
    Mutant(
        "confine-lock-file-not-writable",
        CONFINE,
        '        self.write_files = ["/dev/null", *lock_files]',
        '        self.write_files = ["/dev/null"]',
        (f"{CONFINED}::TestFiles::test_children_inherit_it",),
    ),
    Mutant(
        "confine-database-refusal-not-said",
        CONFINE,
        '            "sqlite3.connect": self._database,\n',
        "",
        (f"{CONFINED}::TestFiles::test_writes_only_where_declared",),
    ),
    Mutant(
        "confine-refusals-not-said",
        CONFINE,
        '            sys.stderr.write(f"{PREFIX}{line}\\n")\n            sys.stderr.flush()',
        "            sys.stderr.flush()",
        (f"{CONFINED}::TestPrograms", f"{CONFINED}::TestNetwork"),
    ),
    Mutant(
        "confine-flag-ignored",
        RUNTIME,
        "        if flag(ZIPAPP_CONFINE):",
        "        if False:",
        (f"{CONFINED}::TestFiles::test_reads_only_its_own",),
    ),
    Mutant(
        "confine-no-landlock-fails-the-start",
        CONFINE,
        '        sys.stderr.write(f"{PREFIX}nothing confined: {why}\\n")\n        return',
        "        raise BootstrapError(why)",
        (f"{CONFINED}::test_under_systemd_confined_or_one_journal_line",),
    ),
    # -- issue 25: `hatch-zipapp systemd --confine` ---------------------------------------------------------------
    Mutant(
        "confine-no-ip-firewall",
        DEPLOY_CONFINE,
        '        lines.append("IPAddressDeny=any")',
        "        pass",
        (f"{CONFINE_TESTS}::test_the_declaration_and_the_options_make_the_unit",),
    ),
    Mutant(
        "confine-write-under-home-accepted",
        DEPLOY_CONFINE,
        "hidden = _under(path, _HIDDEN)",
        "hidden = None",
        (f"{CONFINE_TESTS}::test_each_bad_value_is_one_line_exit_2_nothing_written",),
    ),
    Mutant(
        "confine-port-0-accepted",
        DEPLOY_CONFINE,
        "not 1 <= int(text) <= 65535",
        "not 0 <= int(text) <= 65535",
        (f"{CONFINE_TESTS}::test_each_bad_value_is_one_line_exit_2_nothing_written",),
    ),
    Mutant(
        "confine-host-name-without-network",
        DEPLOY_CONFINE,
        "if names and not networks:",
        "if False:",
        (
            f"{CONFINE_TESTS}::test_each_bad_value_is_one_line_exit_2_nothing_written",
            f"{CONFINE_TESTS}::test_a_declared_host_name_is_said_to_come_from_the_pyz",
        ),
    ),
    Mutant(
        "confine-socket-activated-binds-anyway",
        DEPLOY_CONFINE,
        "if confinement.bind or units.socket is not None or not units.command",
        "if confinement.bind or not units.command",
        (f"{CONFINE_TESTS}::test_a_serve_unit_binds_its_default_address_unless_socket_activated",),
    ),
    Mutant(
        "confine-var-lib-shown",
        DEPLOY_CONFINE,
        '"/srv", "/var/cache", "/var/lib", "/var/log", "/run")',
        '"/srv", "/var/cache", "/var/log", "/run")',
        (f"{CONFINE_TESTS}::test_the_declaration_and_the_options_make_the_unit",),
    ),
    Mutant(
        "confine-io-uring-allowed",
        DEPLOY_CONFINE,
        '    "io_uring_setup",\n',
        "",
        (f"{CONFINE_TESTS}::test_the_declaration_and_the_options_make_the_unit",),
    ),
    Mutant(
        "confine-apparmor-raw-sockets",
        DEPLOY_CONFINE,
        '"  deny network raw,",',
        '"  network raw,",',
        (f"{CONFINE_TESTS}::test_the_declaration_and_the_options_make_the_unit",),
    ),
    Mutant(
        "confine-apparmor-syntax",
        DEPLOY_CONFINE,
        '"  deny capability,",',
        '"  deny capabilities,",',
        (f"{CONFINE_TESTS}::test_apparmor_parser_compiles_every_variant",),
    ),
    Mutant(
        "confine-declaration-unchecked",
        DEPLOY_CONFINE,
        "if not isinstance(value, list) or not all(isinstance(v, str) for v in value):",
        "if False:",
        (f"{CONFINE_TESTS}::test_the_declaration_of_the_pyz_is_checked",),
    ),
    Mutant(
        "confine-declaration-ignored",
        "src/hatch_zipapp/__main__.py",
        "asked = declared.merged(asked)",
        "asked = asked",
        (f"{CONFINE_TESTS}::test_the_declaration_and_the_options_make_the_unit",),
    ),
    Mutant(
        "confine-serve-bind-default-only",
        DEPLOY_CONFINE,
        "return _command_binds(units.command[1:]) or (",
        "return (",
        (f"{CONFINE_TESTS}::test_a_serve_unit_binds_the_address_its_command_names",),
    ),
    Mutant(
        "confine-database-unannounced",
        "src/hatch_zipapp/bootstrap/django_main.py",
        "        _announce_databases()\n",
        "",
        ("tests/test_django_hermetic.py::test_a_confined_site_names_its_undeclared_database",),
    ),
    Mutant(
        "confine-unwritable-declared-unsaid",
        CONFINE,
        "not os.access(path, os.W_OK | os.X_OK)",
        "False",
        (f"{CONFINED}::test_a_declared_directory_the_user_cannot_write_is_said_at_start",),
    ),
    Mutant(
        "confine-write-over-the-code",
        DEPLOY_CONFINE,
        'if where == path or where.startswith(path.rstrip("/") + "/") or path.startswith(where + "/"):',
        "if False:",
        (f"{CONFINE_TESTS}::test_a_writable_directory_never_holds_the_code",),
    ),
    Mutant(
        "confine-landlock-calls-refused",
        DEPLOY_CONFINE,
        """        f"SystemCallFilter={' '.join(LANDLOCK_CALLS)}",\n""",
        "",
        (f"{CONFINE_TESTS}::test_the_declaration_and_the_options_make_the_unit",),
    ),
    Mutant(
        "confine-outermost-by-text",
        CONFINE,
        "named = sorted({os.path.normpath(p) for p in paths if p}, key=lambda p: p.split(os.sep))",
        "named = sorted({os.path.normpath(p) for p in paths if p})",
        ("tests/test_confine_outermost.py",),
    ),
    Mutant(
        "confine-link-check-the-wrong-way",
        CONFINE,
        "                if _beneath(directory, real):\n                    message = (\n"
        '                        f"{named} goes through the link',
        "                if _beneath(real, directory):\n                    message = (\n"
        '                        f"{named} goes through the link',
        (
            "tests/test_confine_attack.py::TestPlantedLinks::"
            "test_a_link_deeper_in_a_writable_directory_and_one_above_it",
        ),
    ),
    Mutant(
        "confine-absolute-link-target-from-the-link",
        CONFINE,
        "if target.startswith(os.sep):\n                current = os.sep",
        "if False:\n                current = os.sep",
        ("tests/test_confine_attack.py::TestAnotherUser::test_a_link_s_absolute_target_is_looked_up_from_the_root",),
    ),
    Mutant(
        "database-host-brackets-kept",
        "src/hatch_zipapp/bootstrap/django_main.py",
        'host.strip("[]"), int(port))',
        "host, int(port))",
        ("tests/test_django_hermetic.py::test_a_confined_site_names_its_undeclared_database",),
    ),
    Mutant(
        "confine-user-site-left-on",
        DEPLOY_CONFINE,
        'lines.append("Environment=PYTHONNOUSERSITE=1")',
        "pass",
        (f"{RUN_TESTS}::test_the_user_site_is_off",),
    ),
    Mutant(
        "seccomp-x32-memfd-unfiltered",
        SECCOMP,
        '        *([(JEQ, "memfd", 0, X32 | target.memfd_create)] if target.x32 else []),\n',
        "",
        ("tests/test_confine_survivors.py::test_x32_calls_are_filtered_as_the_native_ones",),
    ),
    Mutant(
        "confine-localhost-read-as-a-host-name",
        DEPLOY_CONFINE,
        'if self.host.lower().removesuffix(".") == "localhost":',
        'if self.host == "localhost":',
        (f"{CONFINE_TESTS}::test_localhost_is_the_loopback_addresses_not_a_host_name",),
    ),
    Mutant(
        "confine-options-without-confine",
        "src/hatch_zipapp/__main__.py",
        "if given and not options.confine:",
        "if False:",
        (f"{CONFINE_TESTS}::test_the_options_need_confine",),
    ),
    # -- the confinement declaration (issue 25): the confine table and the Django settings, in hatch-zipapp.json ----
    Mutant(
        "declare-port-zero-accepted",
        "src/hatch_zipapp/pyz/confine.py",
        "if not 1 <= int(port) <= 65535:",
        "if not 0 <= int(port) <= 65535:",
        (f"{DECLARE}::TestTable::test_a_bad_entry_is_one_line_naming_the_file_key_value_and_fix",),
    ),
    Mutant(
        "confine-table-not-checked",
        "src/hatch_zipapp/config.py",
        "                reason = problem(kind, value)\n",
        "                reason = None\n",
        (f"{DECLARE}::TestTable",),
    ),
    Mutant(
        "confine-key-written-when-empty",
        "src/hatch_zipapp/builder.py",
        "        if confine:  # absent",
        "        if True:  # absent",
        (f"{DECLARE}::TestRecorded::test_nothing_declared_no_key",),
    ),
    Mutant(
        "confine-settings-false-ignored",
        "src/hatch_zipapp/static.py",
        "    if not context.config.confine.settings:\n",
        "    if False:\n",
        (f"{DECLARE}::test_settings_false_keeps_the_table_alone",),
    ),
    Mutant(
        "confine-postgres-socket-directory-as-host",
        "src/hatch_zipapp/static.py",
        'if family in ("postgresql", "postgis") and one.startswith("/"):',
        "if False:",
        (f"{DECLARE}::test_what_the_settings_say_is_recorded",),
    ),
    Mutant(
        "confine-build-paths-recorded",
        "src/hatch_zipapp/static.py",
        "    if os.path.commonpath([os.path.realpath(path), work]) != work:\n",
        "    if True:\n",
        (f"{DECLARE}::test_what_the_settings_say_is_recorded",),
    ),
    Mutant(
        "confine-redis-credentials-kept",
        "src/hatch_zipapp/static.py",
        '.split("/", 1)[0].rpartition("@")[2], 6379)',
        '.split("/", 1)[0], 6379)',
        (f"{DECLARE}::test_what_the_settings_say_is_recorded",),
    ),
    Mutant(
        "confine-any-email-backend",
        "src/hatch_zipapp/static.py",
        'if getattr(settings, "EMAIL_BACKEND", smtp) == smtp and',
        "if",
        (f"{DECLARE}::test_what_the_settings_say_is_recorded",),
    ),
    Mutant(
        "confine-cache-note-drops-the-settings",
        "src/hatch_zipapp/static.py",
        "note=json.dumps([prefix, findings, declared])",
        "note=json.dumps([prefix, findings, []])",
        (f"{DECLARE}::test_a_warm_cache_records_the_same",),
    ),
    Mutant(
        "confine-unreadable-settings-fail-the-build",
        "src/hatch_zipapp/static.py",
        "except Exception as e:\n    declared = [",
        "except ZeroDivisionError as e:\n    declared = [",
        (f"{DECLARE}::test_settings_of_a_shape_the_build_cannot_read_are_one_warning_not_a_failed_build",),
    ),
    # -- issue 26: the quirks round (wheels as other writers write them, orders where text and numbers disagree, --
    # every bad value of a rule, identities, verify's every finding, paths that do not exist yet) ----------------
    Mutant(
        "check-glibc-as-text",
        "src/hatch_zipapp/bootstrap/check.py",
        "if minimum and have < tuple(minimum):",
        "if minimum and _version_text(have) < _version_text(minimum):",
        ("tests/test_boundaries.py::TestGlibcOrder",),
    ),
    Mutant(
        "check-python-minor-as-text",
        "src/hatch_zipapp/bootstrap/check.py",
        'if not required["exact"] and running < wanted:',
        'if not required["exact"] and "%d.%d" % running < python:',
        ("tests/test_boundaries.py::TestPythonOrder",),
    ),
    Mutant(
        "check-suggests-one-digit-minors",
        "src/hatch_zipapp/bootstrap/check.py",
        "if len(low) > 1 else 6, 40):",
        "if len(low) > 1 else 6, 10):",
        ("tests/test_boundaries.py::TestPythonOrder::test_a_requires_python_of_two_digit_minors",),
    ),
    Mutant(
        "check-macos-as-text",
        "src/hatch_zipapp/bootstrap/check.py",
        "        if have < tuple(minimum):",
        "        if _version_text(have) < _version_text(minimum):",
        ("tests/test_boundaries.py::TestMacOSOrder",),
    ),
    Mutant(
        "target-least-demanding-tag-by-text",
        "src/hatch_zipapp/target.py",
        "                needed = min(versions)",
        "                needed = min(versions, key=str)",
        ("tests/test_boundaries.py::TestManylinuxOrder::test_a_wheel_tagged_2_5_and_2_17_needs_2_5",),
    ),
    Mutant(
        "target-highest-wheel-by-text",
        "src/hatch_zipapp/target.py",
        "highest = needed if highest is None else max(highest, needed)",
        "highest = needed if highest is None else max(highest, needed, key=str)",
        ("tests/test_boundaries.py::TestManylinuxOrder::test_the_highest_wheel_wins",),
    ),
    Mutant(
        "roots-group-writable-trusted",
        ROOTS,
        "if st.st_mode & 0o022 and not",
        "if st.st_mode & 0o002 and not",
        ("tests/test_boundaries.py::TestRootModes",),
    ),
    Mutant(
        "roots-other-writable-trusted",
        ROOTS,
        "if st.st_mode & 0o022 and not",
        "if st.st_mode & 0o020 and not",
        ("tests/test_boundaries.py::TestRootModes",),
    ),
    Mutant(
        "roots-sticky-ok-everywhere",
        ROOTS,
        "and not (sticky_ok and st.st_mode & stat.S_ISVTX)",
        "and not st.st_mode & stat.S_ISVTX",
        ("tests/test_boundaries.py::TestRootModes",),
    ),
    Mutant(
        "roots-check-above-one-level",
        ROOTS,
        "        above = os.path.dirname(parent)\n",
        "        above = parent\n",
        ("tests/test_boundaries.py::TestAncestors",),
    ),
    Mutant(
        "roots-make-only-the-leaf",
        ROOTS,
        "for directory in reversed(missing):",
        "for directory in missing[:1]:",
        (
            "tests/test_boundaries.py::TestRootsThatDoNotExistYet",
            "tests/test_paths_not_yet.py::TestExtractionRoot",
        ),
    ),
    Mutant(
        "roots-make-without-chmod",
        ROOTS,
        "        os.chmod(directory, mode)\n",
        "",
        ("tests/test_boundaries.py::TestRootsThatDoNotExistYet::test_missing_levels_are_made_readable_when_preparing",),
    ),
    Mutant(
        "flag-off-without-off",
        "src/hatch_zipapp/bootstrap/documents.py",
        '{"", "0", "false", "no", "off"}',
        '{"", "0", "false", "no"}',
        ("tests/test_boundaries.py::TestOnOff",),
    ),
    Mutant(
        "flag-garbage-is-off",
        "src/hatch_zipapp/bootstrap/documents.py",
        '    raise BootstrapError(f"{name}={value!r} is not on or off: set it to 1 (on) or 0 (off), or unset it")',
        "    return False",
        ("tests/test_boundaries.py::TestOnOff",),
    ),
    Mutant(
        "count-minimum-excluded",
        "src/hatch_zipapp/bootstrap/documents.py",
        "    if number < minimum:",
        "    if number <= minimum:",
        ("tests/test_boundaries.py::TestWholeNumbers",),
    ),
    Mutant(
        "locks-timeout-zero-refused",
        "src/hatch_zipapp/bootstrap/locks.py",
        "    if not timeout >= 0:  # also true for nan",
        "    if not timeout > 0:",
        ("tests/test_boundaries.py::TestLockTimeout",),
    ),
    Mutant(
        "deploy-settle-equal-to-timeout-refused",
        RELEASE,
        "0 <= request.settle <= request.timeout",
        "0 <= request.settle < request.timeout",
        ("tests/test_boundaries.py::TestDeployOptions",),
    ),
    Mutant(
        "deploy-keep-2-refused",
        RELEASE,
        "    if request.keep < 2:",
        "    if request.keep <= 2:",
        ("tests/test_boundaries.py::TestDeployOptions",),
    ),
    Mutant(
        "deploy-sha256-uppercase-refused",
        RELEASE,
        "request.sha256.lower().strip(",
        "request.sha256.strip(",
        ("tests/test_boundaries.py::TestDeployOptions",),
    ),
    Mutant(
        "cleanup-keeps-the-oldest",
        CLEANUP,
        "others.sort(reverse=True)",
        "others.sort()",
        ("tests/test_identities.py::test_the_newest_extractions_are_the_ones_kept",),
    ),
    Mutant(
        "cleanup-keeps-one-more",
        CLEANUP,
        "for _, entry in others[keep - 1 :]:",
        "for _, entry in others[keep:]:",
        ("tests/test_identities.py::test_cleanup_names_what_it_sets_aside",),
    ),
    Mutant(
        "cleanup-leaves-cut-short-deletions",
        CLEANUP,
        "kind in {WORK, ASIDE}",
        "kind == WORK",
        ("tests/test_identities.py::test_cleanup_names_what_it_sets_aside",),
    ),
    Mutant(
        "verify-missing-checksum-ignored",
        "src/hatch_zipapp/pyz/verify.py",
        '        return [f"{checksum}: no such checksum file"]',
        "        checksum = None",
        ("tests/test_verify_messages.py::test_the_sidecars",),
    ),
    Mutant(
        "verify-drops-dist-record-mismatch",
        "src/hatch_zipapp/pyz/verify.py",
        "        elif digests[name] != covered[name]:",
        "        elif False:",
        ("tests/test_verify_messages.py::test_a_member_its_distributions_record_lists_changed",),
    ),
    Mutant(
        "verify-drops-missing-member",
        "src/hatch_zipapp/pyz/verify.py",
        '            problems.append(f"{name}: in the record but missing from the archive")',
        "            pass",
        ("tests/test_verify_messages.py::test_a_member_outside_site_packages_missing",),
    ),
    Mutant(
        "verify-no-record-silent",
        "src/hatch_zipapp/pyz/verify.py",
        'return [*problems, *unreadable, f"{name} has no {RECORD}: it was not',
        "return [*problems, *unreadable]  # f'{name} has no {RECORD}: it was not",
        ("tests/test_verify_messages.py::test_no_record",),
    ),
    Mutant(
        "verify-names-no-missing-distribution-member",
        "src/hatch_zipapp/pyz/verify.py",
        "        for missing in gone:",
        "        for missing in gone[:0]:",
        ("tests/test_verify_messages.py::test_a_member_its_distributions_record_lists_missing",),
    ),
    Mutant(
        "verify-drops-added-member",
        "src/hatch_zipapp/pyz/verify.py",
        '            problems.append(f"{name}: in the archive but not in its record (added after the build)")',
        "            pass",
        ("tests/test_verify_messages.py::test_a_member_added",),
    ),
    Mutant(
        "verify-damaged-record-silent",
        "src/hatch_zipapp/pyz/verify.py",
        '        return [*problems, *unreadable, f"{RECORD}: {record_problem}"]',
        "        return [*problems, *unreadable]",
        ("tests/test_verify_messages.py::test_a_damaged_record",),
    ),
    Mutant(
        "verify-earlier-build-silent",
        "src/hatch_zipapp/pyz/verify.py",
        '        return [*problems, f"{name}: built by an earlier hatch-zipapp ({message})"]',
        "        return problems",
        ("tests/test_verify_messages.py::test_a_record_of_an_earlier_build",),
    ),
    Mutant(
        "install-raw-offset-central-extra",
        "src/hatch_zipapp/install.py",
        "offset = info.header_offset + 30 + name_length + extra_length",
        "offset = info.header_offset + 30 + name_length + len(info.extra)",
        ("tests/test_wheel_quirks.py::test_each_member_is_staged_byte_for_byte",),
    ),
    Mutant(
        "install-raw-name-length-in-chars",
        "src/hatch_zipapp/install.py",
        'name_length, extra_length = struct.unpack("<HH", header[26:30])',
        'name_length, extra_length = len(info.filename), struct.unpack("<H", header[28:30])[0]',
        ("tests/test_wheel_quirks.py::test_each_member_is_staged_byte_for_byte",),
    ),
    Mutant(
        "install-backslash-allowed",
        "src/hatch_zipapp/install.py",
        'if name.startswith("/") or ".." in parts or "\\\\" in name:',
        'if name.startswith("/") or ".." in parts:',
        ("tests/test_wheel_quirks.py::test_a_backslash_in_a_name_is_refused_in_one_line",),
    ),
    Mutant(
        "install-data-dir-entries-refused",
        "src/hatch_zipapp/install.py",
        '        if name.endswith("/"):\n            continue\n        scheme',
        "        scheme",
        ("tests/test_wheel_quirks.py::test_each_member_is_staged_byte_for_byte",),
    ),
    Mutant(
        "install-unflagged-utf8-name-accepted",
        "src/hatch_zipapp/install.py",
        "            if not name.isascii() and not info.flag_bits & 0x800:",
        "            if False:",
        ("tests/test_wheel_quirks.py::test_an_unflagged_name_that_is_not_ascii_is_refused",),
    ),
    Mutant(
        "install-raw-member-loses-its-mode",
        "src/hatch_zipapp/install.py",
        "        staged = StagedFile.of_member(raw, is_executable, self.wheel)",
        "        staged = StagedFile.of_member(raw, False, self.wheel)",
        ("tests/test_wheel_quirks.py::test_modes_as_other_writers_leave_them",),
    ),
    Mutant(
        "zipwrite-no-utf8-flag",
        "src/hatch_zipapp/pyz/zipwrite.py",
        "        flags = 0 if name.isascii() else UTF8",
        "        flags = 0",
        ("tests/test_wheel_quirks.py::test_a_pyz_of_quirky_wheels_runs_and_reads_each_file",),
    ),
    Mutant(
        "zipread-names-as-cp437",
        ZIPREAD,
        '        return raw.decode("utf-8")\n    except UnicodeDecodeError:',
        '        return raw.decode("cp437")\n    except UnicodeDecodeError:',
        ("tests/test_wheel_quirks.py::test_a_pyz_of_quirky_wheels_runs_and_reads_each_file",),
    ),
    Mutant(
        "cache-default-checks-only-an-existing-cache",
        "src/hatch_zipapp/cache.py",
        "        directory = cache._open_directory((), create=False)",
        "        directory = cache._open_directory((), create=False) if root.is_dir() else None",
        ("tests/test_paths_not_yet.py::TestBuildCache",),
    ),
    Mutant(
        "cache-group-writable-own-group",
        "src/hatch_zipapp/cache.py",
        "if mode & 0o020 and st.st_gid != os.getegid() and not shared:",
        "if mode & 0o020 and st.st_gid == 0 and not shared:",
        ("tests/test_paths_not_yet.py::TestBuildCache",),
    ),
    Mutant(
        "systemd-output-parents-not-made",
        "src/hatch_zipapp/__main__.py",
        "        output.mkdir(parents=True, exist_ok=True)",
        "        output.mkdir(exist_ok=True)",
        ("tests/test_paths_not_yet.py::TestUnitsOutput",),
    ),
    # -- issue 25: UDP refused by the runtime's seccomp filter, /run hidden by the unit ------------------------------
    Mutant(
        "seccomp-not-installed",
        CONFINE,
        "        _sockets(kernel, rules.udp)\n",
        "",
        (f"{SECCOMP_TESTS}::test_udp_off_is_refused",),
    ),
    Mutant(
        "seccomp-udp-always-allowed",
        SECCOMP,
        '(JEQ, "datagram", deny, SOCK_DGRAM) if udp else (RET, 0, 0, RET_ERRNO | EACCES),',
        '(JEQ, "datagram", deny, SOCK_DGRAM),',
        (f"{SECCOMP_TESTS}::test_udp_off_is_refused",),
    ),
    Mutant(
        "seccomp-type-flags-not-masked",
        SECCOMP,
        "(AND, 0, 0, SOCK_TYPE_MASK),",
        "(AND, 0, 0, 0xFFFFFFFF),",
        (f"{SECCOMP_TESTS}::test_udp_off_is_refused", f"{SECCOMP_TESTS}::test_udp_on_is_allowed"),
    ),
    Mutant(
        "seccomp-any-stream-protocol",
        SECCOMP,
        "(JEQ, allow, deny, IPPROTO_TCP),",
        "(JEQ, allow, allow, IPPROTO_TCP),",
        (f"{SECCOMP_TESTS}::test_udp_off_is_refused",),
    ),
    Mutant(
        "seccomp-other-architecture-allowed",
        SECCOMP,
        "(JEQ, 0, deny, target.arch),",
        "(JEQ, 0, 0, target.arch),",
        (f"{SECCOMP_TESTS}::TestArchitecture",),
    ),
    Mutant(
        "seccomp-udp-flag-ignored",
        CONFINE,
        "self.udp = flag(ZIPAPP_CONFINE_UDP)",
        "self.udp = False",
        (f"{SECCOMP_TESTS}::test_udp_on_is_allowed",),
    ),
    Mutant(
        "confine-run-shown",
        DEPLOY_CONFINE,
        '"/var/log", "/run")',
        '"/var/log")',
        (f"{RUN_TESTS}::test_run_is_hidden_and_what_the_site_needs_bound_back",),
    ),
    Mutant(
        "confine-notify-socket-hidden",
        DEPLOY_CONFINE,
        '    "/run/systemd/notify",\n',
        "",
        (f"{RUN_TESTS}::test_run_is_hidden_and_what_the_site_needs_bound_back",),
    ),
    Mutant(
        "confine-runtime-directories-hidden",
        DEPLOY_CONFINE,
        '    read_write += [f"-{p}" for p in _runtime_directories(units) if _under(p, trees) is not None]\n',
        "",
        (f"{RUN_TESTS}::test_each_unit_sees_the_site_runtime_directories",),
    ),
    Mutant(
        "confine-udp-always",
        DEPLOY_CONFINE,
        "    if _host_names(confinement):  # resolving",
        "    if True:  # resolving",
        (f"{RUN_TESTS}::test_udp_only_for_a_host_name",),
    ),
    Mutant(
        "confine-apparmor-udp-always",
        DEPLOY_CONFINE,
        '*(["  network inet dgram,", "  network inet6 dgram,"] if _host_names(confinement) else []),',
        '"  network inet dgram,",\n        "  network inet6 dgram,",',
        (f"{RUN_TESTS}::test_udp_only_for_a_host_name",),
    ),
    # -- issue 25: the unseen-mutants round's survivors (tests/test_confine_survivors.py) ------------------------------
    Mutant(
        "confine-dev-writable",
        DEPLOY_CONFINE,
        '_SYSTEM = ("/usr", "/boot", "/proc", "/sys", "/dev")',
        '_SYSTEM = ("/usr", "/boot", "/proc", "/sys")',
        (f"{SURVIVORS}::test_a_write_under_dev_sys_proc_is_refused",),
    ),
    Mutant(
        "confine-pyuwsgi-binds-nothing",
        DEPLOY_CONFINE,
        '_SERVING = ("serve", "pyuwsgi")',
        '_SERVING = ("serve",)',
        (f"{SURVIVORS}::test_a_server_without_a_socket_binds_its_default_port",),
    ),
    Mutant(
        "confine-apparmor-sigterm-refused",
        DEPLOY_CONFINE,
        '        "  signal (receive) peer=unconfined,",\n',
        "",
        (f"{SURVIVORS}::test_the_profile_lets_systemd_stop_the_service",),
    ),
    Mutant(
        "confine-apparmor-no-flock",
        DEPLOY_CONFINE,
        '    "flock",\n',
        "",
        (f"{SURVIVORS}::test_the_embedded_profile_runs_every_program_of_the_launcher",),
    ),
    Mutant(
        "confine-ptrace-allowed",
        DEPLOY_CONFINE,
        '    "ptrace",\n',
        "",
        (f"{SURVIVORS}::test_the_unit_refuses_the_documented_calls",),
    ),
    Mutant(
        "seccomp-io-uring-allowed",
        SECCOMP,
        "(JEQ, deny, 0, target.io_uring_setup),",
        "(JEQ, 0, 0, target.io_uring_setup),",
        (f"{SURVIVORS}::test_io_uring_setup_is_refused_with_eacces",),
    ),
    Mutant(
        "seccomp-x32-socket-allowed",
        SECCOMP,
        '*([(JEQ, "socket", 0, X32 | target.socket)] if target.x32 else []),',
        "",
        (f"{SURVIVORS}::test_x32_calls_are_filtered_as_the_native_ones",),
    ),
    Mutant(
        "confine-no-ca-certificates",
        CONFINE,
        '    "/etc/ssl",\n',
        "",
        (f"{SURVIVORS}::test_what_the_site_reads_of_the_system",),
    ),
    Mutant(
        "confine-landlock-off-misnamed",
        CONFINE,
        "EOPNOTSUPP = 95",
        "EOPNOTSUPP = 94",
        (f"{SURVIVORS}::test_landlock_off_or_missing_is_said",),
    ),
    Mutant(
        "confine-declared-read-not-listed",
        CONFINE,
        "paths += [(path, READ & handled_fs, named) for path, named in rules.declared_read]",
        "paths += [(path, READ_FILE & handled_fs, named) for path, named in rules.declared_read]",
        (f"{SURVIVORS}::test_what_the_site_reads_of_the_system",),
    ),
    Mutant(
        "confine-memory-database-said",
        CONFINE,
        'if name and name != ":memory:" and not name.startswith("file:"):',
        'if name and not name.startswith("file:"):',
        (f"{SURVIVORS}::test_what_is_no_refusal_says_nothing",),
    ),
    Mutant(
        "confine-abi-2-renames-said",
        CONFINE,
        "    if abi < 2:\n",
        "    if abi < 3:\n",
        (f"{SURVIVORS}::test_said_for_abi_2_3_4",),
    ),
    Mutant(
        "confine-abi-4-network-unsaid",
        CONFINE,
        'confined = "files and network confined" if abi >= 4 else "files confined"',
        'confined = "files and network confined" if abi >= 5 else "files confined"',
        (f"{SURVIVORS}::test_said_for_abi_2_3_4",),
    ),
    Mutant(
        "confine-no-cpus-online",
        CONFINE,
        'SYSTEM = ("/usr", "/lib", "/lib64", "/lib32", "/sys/devices/system/cpu")',
        'SYSTEM = ("/usr", "/lib", "/lib64", "/lib32")',
        (f"{SURVIVORS}::test_what_the_site_reads_of_the_system",),
    ),
    Mutant(
        "confine-udp-connect-said",
        CONFINE,
        "sock.family not in _INET or sock.type != _STREAM or",
        "sock.family not in _INET or",
        (f"{SURVIVORS}::test_what_is_no_refusal_says_nothing",),
    ),
    Mutant(
        "static-cache-key-not-bumped",
        "src/hatch_zipapp/static.py",
        'inputs = ["settings-checks-4",',
        'inputs = ["settings-checks-3",',
        (f"{SURVIVORS}::test_a_cache_without_the_missing_directory_finding_is_collected_again",),
    ),
    Mutant(
        "runtime-module-bytecode-of-another-python",
        RUNTIME,
        "        if data[:4] == MAGIC_NUMBER:",
        "        if data[:4] != MAGIC_NUMBER:",
        (f"{CONFINED}::test_a_confined_start_reads_its_modules_bytecode_once",),
    ),
    Mutant(
        "confine-real-paths-kept-across-rulesets",
        CONFINE,
        "        _REAL.clear()  # the paths as they are now",
        "        pass",
        (f"{CONFINED}::test_each_ruleset_looks_at_the_paths_as_they_are_then",),
    ),
    Mutant(
        "confine-every-path-taken-as-link-free",
        CONFINE,
        "    if absolute != os.sep and _real(absolute) == absolute:",
        "    if absolute != os.sep:",
        ("tests/test_confine_attack.py",),
    ),
    Mutant(
        "runtime-module-foreign-bytecode-run",
        RUNTIME,
        "        if data[:4] == MAGIC_NUMBER:",
        "        if data[:4] == MAGIC_NUMBER or data:",
        ("tests/test_confine_attack.py::TestRuntimeModules::test_bytecode_of_another_python",),
    ),
    Mutant(
        "confine-real-without-proc-unresolved",
        CONFINE,
        "real = _REAL[path] = _kernel_real(path) or os.path.realpath(path)",
        "real = _REAL[path] = _kernel_real(path) or path",
        ("tests/test_confine_attack.py::test_the_start_checks_without_proc",),
    ),
    Mutant(
        "confine-rule-on-a-replaced-path",
        CONFINE,
        "if named and seen.get(path, (opened.st_dev, opened.st_ino)) != (opened.st_dev, opened.st_ino):",
        "if False:",
        ("tests/test_confine_attack.py::TestPlantedLinks::test_a_declared_directory_replaced_while_it_starts",),
    ),
    Mutant(
        "zipread-no-zip-said-as-truncated",
        ZIPREAD,
        "        if LOCAL_HEADER not in reader.read(min(65536, end - start), start):",
        "        if False:",
        ("tests/test_runtime_damage.py::test_a_truncated_copy_is_what_the_docs_say",),
    ),
    # -- issue 26: round 3 of the unseen mutants (docs/unseen-round-3.md), the survivors made tests ----------------
    Mutant(
        "config-keep-extractions-zero",
        "src/hatch_zipapp/config.py",
        '        if value < 1:\n            message = f"{field} must be {what}, got {value!r}"',
        '        if value < 0:\n            message = f"{field} must be {what}, got {value!r}"',
        ("tests/test_config.py::TestKeepExtractions",),
    ),
    Mutant(
        "locks-old-mode-kept",
        LOCKS,
        "os.fchmod(self.fd, MODE)",
        "pass",
        ("tests/test_runtime_locks.py::test_a_lock_file_left_open_to_others_is_made_owner_only_again",),
    ),
    # The round's `contains(pin.version)` is equivalent under packaging >= 26.1 (its default now admits a
    # pre-release); `prereleases=False` is what it meant under packaging < 26, where the default excluded them.
    Mutant(
        "lock-stale-prerelease-pin",
        "src/hatch_zipapp/lock.py",
        "contains(pin.version, prereleases=True)",
        "contains(pin.version, prereleases=False)",
        ("tests/test_lock.py::TestStaleLock::test_a_pre_release_pin_inside_the_specifier_is_not_stale",),
    ),
    Mutant(
        "sitecustomize-other-version-same-prefix",
        "src/hatch_zipapp/bootstrap/sitecustomize.py",
        "if hexversion != str(sys.hexversion) or os.path.realpath(prefix) != os.path.realpath(sys.prefix):",
        "if os.path.realpath(prefix) != os.path.realpath(sys.prefix):",
        ("tests/test_applications.py::test_reexec_another_python_version_sharing_the_prefix_sees_nothing",),
    ),
    # -- issue 26: the third unseen round's survivors (docs/unseen-round-3.md: #20, #21, #22, #37) ------------------
    Mutant(
        "zipread-stored-crc-unchecked",
        ZIPREAD,
        "    if zlib.crc32(data) != crc:",
        "    if method == DEFLATED and zlib.crc32(data) != crc:",
        ("tests/test_zip_differential.py::test_a_stored_outer_member_whose_crc_is_wrong_in_both_headers",),
    ),
    Mutant(
        "zipread-dot-part-plain",
        ZIPREAD,
        'return not {"", ".", ".."} & set(name.split("/"))',
        'return not {"", ".."} & set(name.split("/"))',
        ("tests/test_zip_differential.py::test_a_name_with_a_dot_part_in_the_outer_zip",),
    ),
    Mutant(
        "verify-checksum-file-case",
        "src/hatch_zipapp/pyz/verify.py",
        'expected = text.split()[0].lower() if text.strip() else ""',
        'expected = text.split()[0] if text.strip() else ""',
        ("tests/test_verify_messages.py::test_a_checksum_file_in_upper_case",),
    ),
    Mutant(
        "config-shebang-length-boundary",
        "src/hatch_zipapp/config.py",
        "if len(value) + 3 > _BINPRM_BUF_SIZE:",
        "if len(value) + 2 > _BINPRM_BUF_SIZE:",
        ("tests/test_config.py::TestShebang::test_the_longest_line_linux_reads_whole_and_one_more",),
    ),
    Mutant(
        "uvicorn-idle-connection-closed-at-shutdown",
        "src/hatch_zipapp/bootstrap/django_main.py",
        "    _idle_connections_get_a_moment()\n    target, factory = _asgi_target()",
        "    target, factory = _asgi_target()",
        ("tests/test_django_servers.py::test_uvicorn_answers_a_connection_made_as_its_shutdown_begins",),
    ),
]


def _copy(destination: Path) -> Path:
    """The checkout without its git directory, virtualenv, build outputs and caches."""
    top = {".git", ".venv", "dist", "site", ".mypy_cache", ".ruff_cache", ".pytest_cache"}

    def ignore(directory: str, names: list[str]) -> set[str]:
        skipped = {name for name in names if name == "__pycache__"}
        return skipped | (top & set(names) if Path(directory) == ROOT else set())

    shutil.copytree(ROOT, destination, ignore=ignore, symlinks=True)
    return destination


def _pytest(copy: Path, tests: list[str]) -> tuple[int, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([os.fspath(copy / "src"), os.fspath(copy)])
    env.pop("PYTEST_ADDOPTS", None)
    command = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "--no-header", *tests]
    try:
        result = subprocess.run(
            command, cwd=copy, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT, check=False
        )
    except subprocess.TimeoutExpired:
        return -1, f"the tests ran longer than {RUN_TIMEOUT} s"
    lines = (result.stdout + result.stderr).strip().splitlines()
    return result.returncode, lines[-1] if lines else ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="only these mutants (default: all)")
    parser.add_argument("--list", action="store_true", help="list the mutants and their tests, run nothing")
    options = parser.parse_args(argv)
    unknown = sorted(set(options.names) - {m.name for m in MUTANTS})
    if unknown:
        parser.error(f"unknown mutant(s) {', '.join(unknown)}; --list shows them")
    mutants = [m for m in MUTANTS if not options.names or m.name in options.names]
    if options.list:
        for mutant in mutants:
            print(f"{mutant.name}: {mutant.file}\n    must fail: {' '.join(mutant.tests)}")
        return 0
    with tempfile.TemporaryDirectory(prefix="hatch-zipapp-mutants-") as temp:
        copy = _copy(Path(temp) / "checkout")
        tests = list(dict.fromkeys(t for m in mutants for t in m.tests))
        started = time.monotonic()
        code, last = _pytest(copy, tests)
        if code != 0:
            print(f"the tests fail without any mutant ({last}): fix them first", file=sys.stderr)
            return 2
        print(f"baseline: {len(tests)} test selections pass ({time.monotonic() - started:.0f} s)")
        results = {"caught": 0, "survived": 0, "not found": 0, "error": 0}
        for mutant in mutants:
            path = copy / mutant.file
            original = path.read_text(encoding="utf-8")
            count = original.count(mutant.old)
            if count != 1:
                where = "is not in" if count == 0 else f"is {count} times in"
                print(
                    f"NOT FOUND  {mutant.name}: its old text {where} {mutant.file}: the source moved, update the list"
                )
                results["not found"] += 1
                continue
            path.write_text(original.replace(mutant.old, mutant.new), encoding="utf-8")
            started = time.monotonic()
            try:
                code, last = _pytest(copy, list(mutant.tests))
            finally:
                path.write_text(original, encoding="utf-8")
            elapsed = f"{time.monotonic() - started:.0f} s"
            if code == 1:  # pytest: some tests failed
                print(f"caught     {mutant.name} ({elapsed}: {last})")
                results["caught"] += 1
            elif code == 0:
                print(f"SURVIVED   {mutant.name} ({elapsed}): {' '.join(mutant.tests)} passed with the bug in")
                results["survived"] += 1
            else:
                print(f"ERROR      {mutant.name} ({elapsed}): pytest exit status {code}: {last}")
                results["error"] += 1
    print(", ".join(f"{count} {what}" for what, count in results.items()))
    return 0 if results["caught"] == len(mutants) else 1


if __name__ == "__main__":
    sys.exit(main())
