"""The .pyz at run time: where it extracts, concurrency and crashes, cleanup, isolation, bytecode, introspection."""

from __future__ import annotations

import fcntl
import hashlib
import io
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from hatch_zipapp.__main__ import main as cli
from hatch_zipapp.archive import RUNTIME_MODULES
from hatch_zipapp.bootstrap.documents import BootstrapError, parse_record
from hatch_zipapp.layout import PyzReader
from tests.helpers import IndexServer, build, make_project, make_wheel, pylock_text, run_pyz
from tests.test_interpreter_check import INTERPRETERS


@pytest.fixture
def big(tmp_path: Path, wheelhouse: Path, index: IndexServer) -> Path:
    """An app whose extraction takes long enough to be killed midway."""
    files = {f"bulk/m{i:04d}.py": f"X = {i}\n" + "# padding\n" * 100 for i in range(3000)}
    files["bulk/__init__.py"] = 'VALUE = "bulk"\n'
    bulk = make_wheel(wheelhouse, "bulk", "1.0", files=files)
    project = make_project(tmp_path / "big", dependencies=["bulk"], zipapp="bytecode = false")
    (project / "pylock.toml").write_text(pylock_text([[bulk]], base_url=index.url))
    return build(project)


def _env(root: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"SHIV_ROOT", "ZIPAPP_ROOT", "CACHE_DIRECTORY"}}
    env["ZIPAPP_ROOT"] = os.fspath(root)
    env.update(extra)
    return env


def _entries(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir())


class TestWhere:
    def test_zipapp_root_first(self, pyz: Path, tmp_path: Path) -> None:
        run_pyz(pyz, env=_env(tmp_path / "r", SHIV_ROOT=os.fspath(tmp_path / "shiv")))
        (extracted,) = [n for n in _entries(tmp_path / "r") if not n.startswith(".")]
        assert extracted.startswith("app_")
        assert not (tmp_path / "shiv").exists()

    def test_cache_directory_without_a_home(self, pyz: Path, tmp_path: Path) -> None:
        env = {k: v for k, v in os.environ.items() if k not in {"HOME", "SHIV_ROOT", "ZIPAPP_ROOT", "XDG_CACHE_HOME"}}
        env["CACHE_DIRECTORY"] = f"{tmp_path / 'cache-dir'}:{tmp_path / 'second'}"
        assert run_pyz(pyz, "alpha", env=env).endswith("app ok\n")
        assert any(n.startswith("app_") for n in _entries(tmp_path / "cache-dir"))
        assert not (tmp_path / "second").exists()

    def test_read_only_home_with_cache_directory(self, pyz: Path, tmp_path: Path) -> None:
        env = {k: v for k, v in os.environ.items() if k not in {"SHIV_ROOT", "ZIPAPP_ROOT", "XDG_CACHE_HOME"}}
        env.update({"HOME": "/proc/no-home", "CACHE_DIRECTORY": os.fspath(tmp_path / "svc")})
        assert run_pyz(pyz, env=env).endswith("app ok\n")

    def test_nothing_writable_is_a_clear_error(self, pyz: Path) -> None:
        env = {k: v for k, v in os.environ.items() if k not in {"SHIV_ROOT", "ZIPAPP_ROOT", "CACHE_DIRECTORY"}}
        env.update({"HOME": "/proc/no-home", "XDG_CACHE_HOME": "/proc/no-cache"})
        result = subprocess.run([os.fspath(pyz)], env=env, capture_output=True, text=True, check=False, timeout=60)
        assert result.returncode == 1
        assert "no writable directory to extract app into" in result.stderr
        assert "Set ZIPAPP_ROOT" in result.stderr and "CacheDirectory=" in result.stderr
        assert "Traceback" not in result.stderr

    def test_unwritable_explicit_root_names_the_variable(self, pyz: Path) -> None:
        result = subprocess.run(
            [os.fspath(pyz)], env=_env(Path("/proc/nope")), capture_output=True, text=True, check=False, timeout=60
        )
        assert (
            result.returncode == 1 and "$ZIPAPP_ROOT=/proc/nope" in result.stderr and "Traceback" not in result.stderr
        )


class TestConcurrency:
    def test_32_cold_starts_at_once(self, tmp_path: Path, wheelhouse: Path, index: IndexServer) -> None:
        """32 processes start the same cold .pyz at the same moment, 2 rounds: every one runs, one extraction is
        left, nothing temporary. Each process waits at a barrier (a small Python that execs the .pyz, keeping its
        PID) until all 32 are ready, so they reach the runtime together instead of one Popen after another (then
        the first had often extracted before the last started). The application looks at its package directory,
        sleeps 0.5 s, imports a second module and looks again: a tree replaced or set aside under a running process
        (two extractions at once) fails it."""
        files = {f"slow/m{i:03d}.py": f"X = {i}\n" for i in range(300)}  # a longer extraction
        files["slow/__init__.py"] = (
            "import os, time\n"
            "here = os.path.dirname(os.path.abspath(__file__))\n"
            "before = os.stat(here).st_ino\n"
            "time.sleep(0.5)\n"
            "from slow import late\n"
            "VALUE = late.VALUE if os.stat(here).st_ino == before else 'its tree was replaced while it ran'\n"
        )
        files["slow/late.py"] = "VALUE = 'late'\n"
        slow = make_wheel(wheelhouse, "slow", "1.0", files=files)
        project = make_project(tmp_path / "p", dependencies=["slow"])
        (project / "pylock.toml").write_text(pylock_text([[slow]], base_url=index.url))
        pyz = build(project)
        barrier = (
            "import os, sys, time\n"
            "open(os.path.join(sys.argv[1], 'ready-%d' % os.getpid()), 'w').close()\n"
            "while not os.path.exists(os.path.join(sys.argv[1], 'go')):\n"
            "    time.sleep(0.002)\n"
            "os.execv(sys.argv[2], sys.argv[2:])\n"
        )
        for round_number in range(2):  # (extracting under a shared lock fails the first)
            root, gate = tmp_path / f"round-{round_number}", tmp_path / f"gate-{round_number}"
            gate.mkdir()
            env = _env(root)
            processes = [
                subprocess.Popen(
                    [sys.executable, "-S", "-c", barrier, os.fspath(gate), os.fspath(pyz), "slow"],
                    env=env,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                )
                for _ in range(32)
            ]
            try:
                deadline = time.monotonic() + 60
                while len(list(gate.glob("ready-*"))) < 32:
                    assert time.monotonic() < deadline, "the 32 processes did not reach the barrier"
                    time.sleep(0.01)
                (gate / "go").touch()
                results = [(p.communicate(timeout=120), p.returncode) for p in processes]
            finally:
                for process in processes:
                    if process.poll() is None:
                        process.kill()
                        process.communicate(timeout=30)
            failed = [(code, err) for (out, err), code in results if code != 0 or not out.startswith(b"slow: late")]
            assert failed == [], failed[:1]
            visible = [n for n in _entries(root) if not n.startswith(".")]
            assert len(visible) == 1 and visible[0].startswith("app_")
            assert not [n for n in _entries(root) if ".tmp-" in n or ".old-" in n]

    def test_processes_waiting_for_an_extraction_then_run_together(
        self, tmp_path: Path, wheelhouse: Path, index: IndexServer
    ) -> None:
        """Once the tree is in place every waiting process runs: none queues behind another's run (a waiter that
        insisted on the exclusive lock would wait for every running process, which holds the shared one, to exit)."""
        files = {f"sleeper/m{i:04d}.py": f"X = {i}\n" + "# padding\n" * 100 for i in range(3000)}  # a long extraction
        files["sleeper/__init__.py"] = "import time\nS = time.time()\ntime.sleep(3)\nVALUE = f'{S} {time.time()}'\n"
        sleeper = make_wheel(wheelhouse, "sleeper", "1.0", files=files)
        project = make_project(tmp_path / "p", dependencies=["sleeper"], zipapp="bytecode = false")
        (project / "pylock.toml").write_text(pylock_text([[sleeper]], base_url=index.url))
        app = build(project)
        env = _env(tmp_path / "root")
        processes = [
            subprocess.Popen([os.fspath(app), "sleeper"], env=env, stdout=subprocess.PIPE, text=True) for _ in range(6)
        ]
        outputs = [p.communicate(timeout=120)[0] for p in processes]
        assert all(p.returncode == 0 for p in processes), outputs
        spans = [[float(t) for t in out.split()[1:3]] for out in outputs]  # "sleeper: START END from site-packages"
        assert max(start for start, _ in spans) < min(end for _, end in spans), spans  # all running at one moment

    @pytest.mark.parametrize("delay", [0.05, 0.15, 0.3, 0.5])
    def test_killed_while_extracting(self, big: Path, tmp_path: Path, delay: float) -> None:
        root = tmp_path / "root"
        env = _env(root)
        process = subprocess.Popen(
            [os.fspath(big), "bulk"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        extracted = [n for n in _entries(root) if not n.startswith(".")] if root.exists() else []
        if extracted:  # it finished before the kill: then it is complete
            assert len(list((root / extracted[0] / "site-packages" / "bulk").glob("m*.py"))) == 3000
        out = run_pyz(big, "bulk", env=env)
        assert out.startswith("bulk: bulk from site-packages")
        (final,) = [n for n in _entries(root) if not n.startswith(".")]
        assert len(list((root / final / "site-packages" / "bulk").glob("m*.py"))) == 3000
        assert not [n for n in _entries(root) if ".tmp-" in n]

    def test_waiting_for_another_extraction_is_bounded(self, pyz: Path, tmp_path: Path) -> None:
        import fcntl

        with PyzReader(pyz) as archive:
            environment = json.loads(archive.read("environment.json"))
        root = tmp_path / "root"
        root.mkdir()
        lock = root / f".app_{environment['build_id']}.lock"
        with lock.open("w") as held:
            fcntl.flock(held, fcntl.LOCK_EX)
            started = time.monotonic()
            result = subprocess.run(
                [os.fspath(pyz)],
                env=_env(root, ZIPAPP_LOCK_TIMEOUT="1"),
                capture_output=True,
                text=True,
                check=False,
                timeout=30,
            )
        assert result.returncode == 1 and time.monotonic() - started < 10
        assert "waited 1 s for another process extracting app_" in result.stderr
        assert os.fspath(lock) in result.stderr and "Traceback" not in result.stderr


class TestCleanup:
    def test_ten_builds_leave_the_configured_number(self, tmp_path: Path, wheelhouse: Path, index: IndexServer) -> None:
        alpha = make_wheel(wheelhouse, "alpha", "1.0")
        project = make_project(tmp_path / "p", dependencies=["alpha"], zipapp="bytecode = false")
        (project / "pylock.toml").write_text(pylock_text([[alpha]], base_url=index.url))
        root = tmp_path / "root"
        for version in range(10):
            (project / "src" / "app" / "version.py").write_text(f"N = {version}\n")
            run_pyz(build(project), env=_env(root))
            assert len([n for n in _entries(root) if not n.startswith(".")]) == min(version + 1, 2)
        assert len([n for n in _entries(root) if n.endswith(".lock")]) == 2

    def test_an_extraction_in_use_is_kept(self, tmp_path: Path, wheelhouse: Path, index: IndexServer) -> None:
        alpha = make_wheel(wheelhouse, "alpha", "1.0")
        project = make_project(tmp_path / "p", dependencies=["alpha"], zipapp="bytecode = false\nkeep-extractions = 1")
        (project / "pylock.toml").write_text(pylock_text([[alpha]], base_url=index.url))
        root = tmp_path / "root"
        first = build(project, tmp_path / "first")
        (tmp_path / "sleep.py").write_text("import time\ntime.sleep(60)\n")
        sleeper = subprocess.Popen(
            [os.fspath(first), os.fspath(tmp_path / "sleep.py")], env=_env(root, SHIV_INTERPRETER="1")
        )
        try:
            deadline = time.monotonic() + 30
            while not (root.exists() and [n for n in _entries(root) if not n.startswith(".")]):
                assert time.monotonic() < deadline
                time.sleep(0.05)
            (in_use,) = [n for n in _entries(root) if not n.startswith(".")]
            for version in range(3):
                (project / "src" / "app" / "version.py").write_text(f"N = {version}\n")
                run_pyz(build(project, tmp_path / f"b{version}"), env=_env(root))
            names = [n for n in _entries(root) if not n.startswith(".")]
            assert in_use in names and len(names) == 2  # the one in use, and the newest (keep-extractions = 1)
        finally:
            sleeper.kill()
            sleeper.wait(timeout=30)


class TestBackgroundDeletion:
    def test_old_extractions_are_deleted_while_the_app_starts(
        self, tmp_path: Path, wheelhouse: Path, index: IndexServer
    ) -> None:
        """The start that sets an old extraction aside does not wait for thousands of unlinks: the application is
        already running while the old tree is still there, and the process finishes the deletion before it exits.
        The application's process has no thread but its own meanwhile: a server forking workers from C (uWSGI)
        while a deleting thread held the GIL got workers that never answered."""
        root = tmp_path / "root"
        probe = (
            "import os, threading\n"
            "ASIDE = any('.old-' in n for n in os.listdir(os.environ['ZIPAPP_ROOT']))\n"
            "VALUE = f'{ASIDE} threads={threading.active_count()}'\n"
        )
        for version in range(2):
            files = {f"probe/m{i:04d}.py": f"X = {i}\n" + "# padding\n" * 20 for i in range(3000)}
            files["probe/__init__.py"] = probe + f"# version {version}\n"
            wheel = make_wheel(wheelhouse, "probe", f"{version + 1}.0", files=files)
            project = make_project(tmp_path / f"p{version}", dependencies=["probe"], zipapp="keep-extractions = 1")
            (project / "pylock.toml").write_text(pylock_text([[wheel]], base_url=index.url))
            out = run_pyz(build(project), "probe", env=_env(root))
        assert out.startswith("probe: True threads=1 from site-packages")  # the old tree was still being deleted
        assert not [n for n in _entries(root) if ".old-" in n or ".tmp-" in n]  # deleted before the process exited
        assert len([n for n in _entries(root) if not n.startswith(".")]) == 1

    def test_the_deleting_process_holds_nothing_of_the_application(self, pyz: Path, tmp_path: Path) -> None:
        """The deleting process keeps none of the application's descriptors: not the shared lock that marks the
        extraction it runs from as in use (else, after an application that exits without waiting for it — uWSGI's
        master ends without Python's exit handlers — the next start could not set that extraction aside, and two
        releases stayed), nor the archive, nor anything the application opened."""
        root = tmp_path / "root"
        run_pyz(pyz, env=_env(root))
        (old,) = [n for n in _entries(root) if not n.startswith(".")]
        pad = root / old / "pad"
        os.chmod(root / old, 0o700)  # (its directories are read-only)
        pad.mkdir()
        for i in range(30000):  # an old tree that takes a while to delete
            os.close(os.open(pad / f"f{i}", os.O_CREAT | os.O_WRONLY, 0o644))
        script = tmp_path / "quit.py"
        script.write_text("import os\nos._exit(0)  # as uWSGI's master: no exit handlers, no waiting\n")
        subprocess.run(
            [os.fspath(pyz), os.fspath(script)],
            env=_env(root, SHIV_INTERPRETER="1", ZIPAPP_FORCE_EXTRACT="1"),  # the old tree set aside and deleted
            check=True,
            timeout=120,
        )
        held = []  # what any process holds open of the root (but the tree being deleted) or of the archive
        for pid in (p for p in os.listdir("/proc") if p.isdigit()):
            try:
                for fd in os.listdir(f"/proc/{pid}/fd"):
                    target = os.readlink(f"/proc/{pid}/fd/{fd}")
                    if (target.startswith(os.fspath(root)) and ".old-" not in target) or target == os.fspath(pyz):
                        held.append((pid, fd, target))
            except OSError:
                continue
        deleting = [n for n in _entries(root) if ".old-" in n]
        assert deleting, "the old tree was deleted before the check: it must still be going on here"
        assert held == [], held
        (lock,) = [root / n for n in _entries(root) if n.endswith(".lock")]
        with lock.open("rb") as f:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)  # nobody holds the extraction any more

    def test_a_start_with_sigchld_ignored(self, pyz: Path, tmp_path: Path) -> None:
        """A program that ignores SIGCHLD passes that on to the programs it runs: the runtime's child that starts the
        deleting process is then reaped by the kernel, and waiting for it is ECHILD — not an error of the start."""
        root = tmp_path / "root"
        run_pyz(pyz, env=_env(root))
        (root / f".app_{'0' * 64}.old-1-0" / "deep").mkdir(parents=True)  # a leftover, deleted by an extraction
        result = subprocess.run(
            [os.fspath(pyz), "alpha"],
            env=_env(root, ZIPAPP_FORCE_EXTRACT="1"),  # the old tree set aside too
            capture_output=True,
            text=True,
            timeout=120,
            preexec_fn=lambda: signal.signal(signal.SIGCHLD, signal.SIG_IGN),  # inherited through exec
            check=False,
        )
        assert (result.returncode, result.stderr) == (0, "")
        assert result.stdout.endswith("app ok\n")
        assert not [n for n in _entries(root) if ".old-" in n]

    def test_a_start_with_stdin_stdout_and_stderr_closed_waits_for_the_deletion(
        self, big: Path, tmp_path: Path
    ) -> None:
        """A program started with its stdin, stdout and stderr closed (as some daemons start theirs) gets the pipe to
        the deleting process numbered 1 and 2 (its lock file is 0): the /dev/null the deleting process puts on its
        stdio replaced the pipe's write end, and the application exited while the old tree was still being deleted
        (the next deploy deleted the rest). Its process still waits."""
        root = tmp_path / "root"
        run_pyz(big, env=_env(root))
        result = subprocess.run(
            [os.fspath(big)],
            env=_env(root, ZIPAPP_FORCE_EXTRACT="1"),  # the old tree (3,000 files) set aside
            timeout=120,
            preexec_fn=lambda: os.closerange(0, 3),
            check=False,
        )
        assert result.returncode == 0
        assert not [n for n in _entries(root) if ".old-" in n]  # deleted before the process exited
        assert len([n for n in _entries(root) if not n.startswith(".")]) == 1

    @pytest.mark.parametrize("refused", ["child", "grandchild"])
    def test_a_start_that_cannot_start_a_process_deletes_itself(self, pyz: Path, tmp_path: Path, refused: str) -> None:
        """A process limit (``ulimit -u``, systemd's TasksMax, a container's pids.max; or no memory to copy the
        process) refuses the runtime's fork, or its child's: the start deletes the old extraction itself, and waits.
        A child that could not start its grandchild exited without deleting anything: the old extraction stayed until
        the next deploy. (A ``sitecustomize`` makes the fork fail as the limit would, with EAGAIN: a real limit counts
        every process of the user, and does not bind root.)"""
        root = tmp_path / "root"
        run_pyz(pyz, env=_env(root))
        site = tmp_path / "site"
        site.mkdir()
        (site / "sitecustomize.py").write_text(
            "import errno, os\n"
            "_fork, _first = os.fork, os.getpid()\n"
            "def fork():\n"
            f"    if {'os.getpid() != _first' if refused == 'grandchild' else 'True'}:\n"
            "        raise OSError(errno.EAGAIN, os.strerror(errno.EAGAIN))\n"
            "    return _fork()\n"
            "os.fork = fork\n"
        )
        env = _env(root, ZIPAPP_FORCE_EXTRACT="1", PYTHONPATH=os.fspath(site))  # the old tree set aside
        assert run_pyz(pyz, "alpha", env=env).endswith("app ok\n")
        assert not [n for n in _entries(root) if ".old-" in n]
        assert len([n for n in _entries(root) if not n.startswith(".")]) == 1

    def test_an_application_that_closes_every_descriptor_exits(
        self, tmp_path: Path, wheelhouse: Path, index: IndexServer
    ) -> None:
        """An application may close every file descriptor it did not open (python-daemon's DaemonContext does so, in
        its own process, when started by init: a systemd service) and open others under the same numbers. The wait
        at exit read the number the pipe to the deleting process had: a socket of the application's own, with nothing
        to read, and its process never ended. It reads only the pipe it made."""
        closer = make_wheel(
            wheelhouse,
            "closer",
            files={
                "closer/__init__.py": (
                    "import os, socket\n"
                    "os.closerange(3, 64)\n"
                    "PAIRS = [socket.socketpair() for _ in range(8)]  # connected, nothing to read: numbers 3 to 18\n"
                    "VALUE = 'closed'\n"
                )
            },
        )
        project = make_project(tmp_path / "p", dependencies=["closer"])
        (project / "pylock.toml").write_text(pylock_text([[closer]], base_url=index.url))
        pyz, root = build(project), tmp_path / "root"
        run_pyz(pyz, env=_env(root))
        result = subprocess.run(
            [os.fspath(pyz), "closer"],
            env=_env(root, ZIPAPP_FORCE_EXTRACT="1"),  # the old tree set aside: the start deletes it, and waits
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert (result.returncode, result.stderr) == (0, "")
        assert result.stdout == "closer: closed from site-packages\napp ok\n"

    def test_leftovers_are_judged_by_their_lock_not_by_their_pid(self, pyz: Path, tmp_path: Path) -> None:
        """A work directory whose build's lock is held stays, though the PID in its name is dead here: two PID
        namespaces (containers) sharing a root see each other's PIDs as dead, and judging by PID set aside another
        container's extraction midway. One whose lock is free goes, and so does every set-aside directory (whatever
        its PID: it is never used again); nothing that is not this application's is touched."""
        import fcntl

        root = tmp_path / "root"
        dead = subprocess.run(
            [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, timeout=60
        )
        pid = int(dead.stdout)
        other, busy = "0" * 64, "1" * 64
        leftovers = [f".app_{other}.old-{pid}-0", f".app_{other}.tmp-{pid}", f".app_{other}.old-{os.getpid()}-0"]
        kept = [f".app_{busy}.tmp-{pid}", ".app_backups.old-1", f".other_{other}.tmp-{pid}"]
        for name in leftovers + kept:
            (root / name / "deep").mkdir(parents=True)
            (root / name / "deep" / "file").write_text("x")
        with (root / f".app_{busy}.lock").open("w") as held:
            fcntl.flock(held, fcntl.LOCK_EX)  # the extraction of another namespace, going on
            run_pyz(pyz, env=_env(root))
            entries = _entries(root)
        assert not set(leftovers) & set(entries)
        assert set(kept) <= set(entries)


@pytest.mark.skipif(shutil.which("unshare") is None or os.geteuid() != 0, reason="needs unshare and root")
def test_an_extraction_in_another_pid_namespace_is_left_alone(
    big: Path, tmp_path: Path, wheelhouse: Path, index: IndexServer
) -> None:
    """Two PID namespaces (containers) share one root: while this namespace extracts one build (a long extraction),
    another build of the same application starts in a new PID namespace, where the extracting process's PID does not
    exist, and cleans up (the extracting process is stopped meanwhile, so the two always overlap). Judged by PID, the
    work directory looked dead and was set aside midway, and the extracting process died with FileNotFoundError;
    judged by its lock, it is left alone and both run."""
    probe = subprocess.run(["unshare", "--pid", "--fork", "true"], capture_output=True, text=True, timeout=60)
    if probe.returncode != 0:
        pytest.skip(f"cannot make a PID namespace here: {probe.stderr.strip()}")
    alpha = make_wheel(wheelhouse, "alpha", "1.0")
    project = make_project(tmp_path / "other", dependencies=["alpha"], name="app")
    (project / "src" / "app" / "version.py").write_text("N = 2\n")
    (project / "pylock.toml").write_text(pylock_text([[alpha]], base_url=index.url))
    other = build(project, tmp_path / "other-dist")
    root = tmp_path / "root"
    env = _env(root)
    extracting = subprocess.Popen(
        [os.fspath(big), "bulk"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 60
        while not (root.exists() and [n for n in _entries(root) if ".tmp-" in n]):
            assert extracting.poll() is None, extracting.communicate(timeout=60)
            assert time.monotonic() < deadline, "the extraction did not start"
            time.sleep(0.005)
        extracting.send_signal(signal.SIGSTOP)  # midway, for as long as the other namespace takes
        try:
            elsewhere = subprocess.run(
                ["unshare", "--pid", "--fork", os.fspath(other)], env=env, capture_output=True, text=True, timeout=120
            )
        finally:
            extracting.send_signal(signal.SIGCONT)
        assert elsewhere.returncode == 0, elsewhere.stderr
        out, err = extracting.communicate(timeout=120)
    finally:
        if extracting.poll() is None:
            extracting.kill()
            extracting.communicate(timeout=30)
    assert extracting.returncode == 0 and out.startswith("bulk: bulk from site-packages"), err


class TestForcedExtraction:
    def test_force_replaces_the_tree_and_leaves_nothing(self, pyz: Path, tmp_path: Path) -> None:
        root = tmp_path / "root"
        run_pyz(pyz, env=_env(root))
        (final,) = [n for n in _entries(root) if not n.startswith(".")]
        (root / final / "site-packages" / "stray.txt").write_text("not from the archive")
        assert run_pyz(pyz, "alpha", env=_env(root, ZIPAPP_FORCE_EXTRACT="1")).endswith("app ok\n")
        assert [n for n in _entries(root) if not n.startswith(".")] == [final]
        assert not (root / final / "site-packages" / "stray.txt").exists()
        assert not [n for n in _entries(root) if ".old-" in n or ".tmp-" in n]

    def test_a_dead_process_with_this_pid_left_its_temporary_tree(self, pyz: Path, tmp_path: Path) -> None:
        """PIDs are reused: a leftover ``.KEY.tmp-<this PID>`` is set aside for deletion, not an error."""
        from hatch_zipapp.bootstrap import runtime
        from hatch_zipapp.bootstrap.atomic import AtomicDirectory

        with PyzReader(pyz) as archive:
            environment = json.loads(archive.read("environment.json"))
        key, base = f"app_{environment['build_id']}", tmp_path / "root"
        (base / f".{key}.tmp-{os.getpid()}" / "half").mkdir(parents=True)
        directory = AtomicDirectory(os.fspath(base), key)
        runtime._extract(os.fspath(pyz), environment, _record(pyz), directory)
        (aside,) = directory.doomed
        assert os.path.basename(aside).startswith(f".{key}.old-{os.getpid()}-")
        assert (Path(aside) / "half").is_dir()
        assert (base / key / "site-packages" / "alpha" / "__init__.py").is_file()


class TestIsolation:
    @pytest.fixture
    def venv_python(self, tmp_path: Path) -> Path:
        """A virtualenv whose site-packages has a module the .pyz does not carry."""
        venv = tmp_path / "host-venv"
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", os.fspath(venv)], check=True, timeout=120)
        site_packages = next(venv.glob("lib/python3*/site-packages"))
        (site_packages / "hostonly.py").write_text("VALUE = 'from the host'\n")
        return venv / "bin" / "python"

    def test_host_site_packages_are_not_importable(self, pyz: Path, tmp_path: Path, venv_python: Path) -> None:
        result = subprocess.run(
            [os.fspath(venv_python), os.fspath(pyz), "hostonly"],
            env=_env(tmp_path / "r"),
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        assert result.returncode != 0 and "No module named 'hostonly'" in result.stderr

    def test_opt_back_in(self, pyz: Path, tmp_path: Path, venv_python: Path) -> None:
        env = _env(tmp_path / "r", ZIPAPP_INHERIT_SITE="1")
        result = subprocess.run(
            [os.fspath(venv_python), os.fspath(pyz), "hostonly"],
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        assert result.returncode == 0 and "hostonly: from the host" in result.stdout


def _release(version: str) -> tuple[int, ...]:
    return tuple(map(int, version.split(".")))


_PORTABLE = sorted((str(v) for v in INTERPRETERS if _release(str(v)) >= (3, 8)), key=_release)


@pytest.mark.parametrize("version", _PORTABLE)
def test_a_portable_pyz_runs_on_every_python_it_accepts(pyz: Path, tmp_path: Path, version: str) -> None:
    """A ``py3-none-any`` .pyz whose project requires Python 3.8 or newer extracts and runs, cold then warm, on each
    such interpreter on this machine: the runtime uses nothing newer than its oldest (``sys.platlibdir`` is 3.9+)."""
    env = _env(tmp_path / "root")
    for _ in range(2):
        result = subprocess.run(
            [INTERPRETERS[version], os.fspath(pyz), "alpha"], env=env, capture_output=True, text=True, timeout=120
        )
        assert result.returncode == 0 and result.stdout.endswith("app ok\n"), result.stderr


class TestBytecodeAtExtraction:
    def test_compiled_once_when_the_archive_has_none(self, big: Path, tmp_path: Path) -> None:
        root = tmp_path / "root"
        run_pyz(big, env=_env(root, SHIV_COMPILE_PYC="1"))
        (final,) = [n for n in _entries(root) if not n.startswith(".")]
        pycs = list((root / final / "site-packages" / "bulk" / "__pycache__").glob("*.pyc"))
        assert len(pycs) == 3001
        stamp = pycs[0].stat().st_mtime_ns
        run_pyz(big, env=_env(root, SHIV_COMPILE_PYC="1"))
        assert pycs[0].stat().st_mtime_ns == stamp


class TestRuntimeBytecode:
    def test_the_runtime_loads_from_its_bytecode(self, pyz: Path, tmp_path: Path) -> None:
        """The bootstrap's .pyc sits where zipimport looks (beside the source), so no start compiles it."""
        with PyzReader(pyz) as zf:
            assert {"_bootstrap/__init__.py", "_bootstrap/__init__.pyc"} <= set(zf.namelist())
        script = tmp_path / "which.py"
        script.write_text("import sys\nprint(sys.modules['_bootstrap'].__file__)\n")
        out = run_pyz(pyz, os.fspath(script), env=_env(tmp_path / "root", SHIV_INTERPRETER="1"))
        # read through the file the start began on (bootstrap/pinned.py: this process's descriptor of it)
        assert re.fullmatch(r"/proc/self/fd/\d+/_bootstrap/__init__\.pyc", out.strip()), out

    def test_without_bytecode_the_runtime_is_source(self, big: Path, tmp_path: Path) -> None:
        with PyzReader(big) as zf:
            assert "_bootstrap/__init__.py" in zf.namelist() and "_bootstrap/__init__.pyc" not in zf.namelist()


class TestInfo:
    def test_zipapp_info_prints_json_without_extracting(self, pyz: Path, tmp_path: Path) -> None:
        root = tmp_path / "root"
        out = run_pyz(pyz, "--help", env=_env(root, ZIPAPP_INFO="1"))
        info = json.loads(out)
        assert info["project"] == "app" and info["version"] == "1.0"
        assert info["target"]["tag"] == "py3-none-any" and info["target"]["build_host"] is True
        (alpha,) = [d for d in info["distributions"] if d["name"] == "alpha"]
        assert alpha["version"] == "1.0" and len(alpha["sha256"]) == 64 and alpha["file"].endswith(".whl")
        assert info["lock"]["file"] == "pylock.toml" and len(info["lock"]["sha256"]) == 64
        assert info["source_date_epoch"] == 1580601600 and info["builder"].startswith("hatch-zipapp ")
        assert not root.exists() or _entries(root) == []

    def test_info_command(self, pyz: Path, capsys: pytest.CaptureFixture[str]) -> None:
        assert cli(["info", os.fspath(pyz)]) == 0
        assert json.loads(capsys.readouterr().out)["build_id"]

    def test_info_command_on_another_file(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        (tmp_path / "x.pyz").write_bytes(b"not a zip")
        assert cli(["info", os.fspath(tmp_path / "x.pyz")]) == 2
        assert "is not a .pyz built by hatch-zipapp" in capsys.readouterr().err


def test_cleanup_leaves_other_directories_alone(tmp_path: Path, wheelhouse: Path, index: IndexServer) -> None:
    alpha = make_wheel(wheelhouse, "alpha", "1.0")
    project = make_project(tmp_path / "p", dependencies=["alpha"], zipapp="bytecode = false\nkeep-extractions = 1")
    (project / "pylock.toml").write_text(pylock_text([[alpha]], base_url=index.url))
    root = tmp_path / "root"
    (root / "app_backups").mkdir(parents=True)  # not an extraction: a name that merely starts like one
    (root / "app-admin_" / "x").mkdir(parents=True)
    for version in range(3):
        (project / "src" / "app" / "version.py").write_text(f"N = {version}\n")
        run_pyz(build(project, tmp_path / f"b{version}"), env=_env(root))
    assert (root / "app_backups").is_dir() and (root / "app-admin_" / "x").is_dir()
    assert len([n for n in _entries(root) if n.startswith("app_") and n != "app_backups"]) == 1


class TestExtraction:
    @pytest.fixture
    def tool(self, tmp_path: Path, wheelhouse: Path, index: IndexServer) -> Path:
        files: dict[str, str | bytes] = {
            "tool/__init__.py": 'VALUE = "tool"\ndef main():\n    print("tool ran")\n',
            "tool/data.bin": bytes(range(256)) * 64,  # binary data, and a member big enough to span reads
            "tool/empty.txt": b"",
        }
        entry_points = "[console_scripts]\ntool-run = tool:main\n"
        wheel = make_wheel(
            wheelhouse, "tool", "1.0", files=files, members={"tool-1.0.dist-info/entry_points.txt": entry_points}
        )
        project = make_project(tmp_path / "p", dependencies=["tool"])
        (project / "pylock.toml").write_text(pylock_text([[wheel]], base_url=index.url))
        return build(project)

    def test_every_member_written_with_its_bytes_and_mode(self, tool: Path, tmp_path: Path) -> None:
        root = tmp_path / "root"
        assert run_pyz(tool, "tool", env=_env(root)).startswith("tool: tool from site-packages")
        (final,) = [n for n in _entries(root) if not n.startswith(".")]
        _assert_extracted(tool, root / final)

    def test_the_same_tree_through_zipfile(self, tool: Path, tmp_path: Path) -> None:
        """Imported some other way than from the archive (no zipimporter), the runtime finds site-packages.zip the same
        way: from the .pyz's own central directory."""
        base = _extract_in_process(tool, tmp_path / "root")
        assert len(_entries(base)) == 1

    def test_without_pread_the_same_tree(self, tool: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """Windows has no os.pread: each extracting thread reads through its own file object."""
        monkeypatch.delattr(os, "pread")
        _extract_in_process(tool, tmp_path / "root")

    def test_a_zip64_site_packages_is_read_the_general_way(self, tool: Path, tmp_path: Path) -> None:
        """65,536 members need ZIP64 records in site-packages.zip (the outer zip stays small, so the zipimport of
        Python 3.11 still runs it): the runtime's quick reader hands those to zipfile, with the same result."""
        from hatch_zipapp.bootstrap import zipread
        from hatch_zipapp.layout import write_archive

        with PyzReader(tool) as source:
            entries = {i.filename: (source.read(i), bool((i.external_attr >> 16) & 0o111)) for i in source.infolist()}
        entries.update({f"site-packages/many/m{i:05d}.txt": (b"", False) for i in range(65536)})
        many = tmp_path / "many.pyz"
        with many.open("wb") as out:
            out.write(b"#!/usr/bin/env python3\n")
            write_archive(out, entries, (2020, 2, 2, 0, 0, 0))
        members = zipread.members(os.fspath(many), parse_record(_record(many)))
        with PyzReader(many) as archive:
            expected = [i for i in archive.infolist() if i.filename.startswith("site-packages/")]
            assert [m[0] for m in members] == [i.filename for i in expected]
            assert [m[4] for m in members[:3]] == [
                archive.data_offset(i.filename) - 30 - len(i.filename) for i in expected[:3]
            ]
        with zipfile.ZipFile(many) as outer:
            # __main__.py(c), _bootstrap/__init__.py(c) and its modules (.py and .pyc each), 5 files
            assert len(outer.namelist()) == 9 + 2 * len(RUNTIME_MODULES)

    def test_a_damaged_directory_is_a_clear_error(self, tool: Path, tmp_path: Path) -> None:
        data = bytearray(tool.read_bytes())
        with zipfile.ZipFile(tool) as outer:
            info = outer.getinfo("site-packages.zip")
        name_length, extra_length = struct.unpack_from("<HH", data, info.header_offset + 26)
        base = info.header_offset + 30 + name_length + extra_length
        with zipfile.ZipFile(io.BytesIO(bytes(data[base : base + info.compress_size]))) as inner:
            data[base + inner.start_dir] ^= 0xFF  # the first header of site-packages.zip's central directory
        damaged = tmp_path / "damaged.pyz"
        damaged.write_bytes(bytes(data))
        damaged.chmod(0o755)
        result = subprocess.run(
            [os.fspath(damaged)], capture_output=True, text=True, env=_env(tmp_path / "r"), timeout=60, check=False
        )
        assert result.returncode == 1
        assert result.stderr == (
            "damaged.pyz: damaged .pyz (site-packages.zip differs from its sha256 in hatch-zipapp.sha256), "
            "rebuild or download it again\n"
        )
        # Had the record been made from the damaged bytes, the directory's own check still refuses it
        with pytest.raises(
            BootstrapError,
            match=r"damaged \.pyz \(site-packages\.zip: its central directory is damaged after 0 entries\)",
        ):
            _extract_in_process(damaged, tmp_path / "in-process")

    def test_a_damaged_archive_is_a_clear_error_and_leaves_nothing(self, tool: Path, tmp_path: Path) -> None:
        with PyzReader(tool) as archive:
            info = archive.getinfo("site-packages/tool/data.bin")
            offset = archive.data_offset(info.filename)  # in the .pyz file, inside site-packages.zip
        data = bytearray(tool.read_bytes())
        data[offset + info.compress_size // 2] ^= 0xFF
        damaged = tmp_path / "damaged.pyz"
        damaged.write_bytes(bytes(data))
        damaged.chmod(0o755)
        root = tmp_path / "root"
        result = subprocess.run(
            [os.fspath(damaged), "tool"], capture_output=True, text=True, env=_env(root), check=False, timeout=60
        )
        assert result.returncode == 1
        assert result.stderr == (
            "damaged.pyz: damaged .pyz (site-packages.zip differs from its sha256 in hatch-zipapp.sha256), "
            "rebuild or download it again\n"
        )
        assert [n for n in _entries(root) if not n.endswith(".lock")] == []
        # Had the record been made from the damaged bytes, each member's CRC still refuses it, leaving nothing
        with pytest.raises(BootstrapError, match=r"damaged \.pyz \(site-packages/tool/data\.bin: fails its CRC\)"):
            _extract_in_process(damaged, tmp_path / "in-process")
        assert [n for n in _entries(tmp_path / "in-process") if not n.endswith(".lock")] == []


def _record(pyz: Path) -> bytes:
    """The digests the runtime checks before extracting (the shebang line's, site-packages.zip's), made from ``pyz``
    as it is now: whatever damage it has is then the build's, and only the runtime's other checks can see it."""
    data = pyz.read_bytes()
    with zipfile.ZipFile(pyz) as outer:
        info = outer.getinfo("site-packages.zip")
        start = min(i.header_offset for i in outer.infolist())
    base = info.header_offset + 30 + sum(struct.unpack_from("<HH", data, info.header_offset + 26))
    digests = {
        "(shebang)": hashlib.sha256(data[:start]).hexdigest(),
        "site-packages.zip": hashlib.sha256(data[base : base + info.compress_size]).hexdigest(),
    }
    return "".join(f"{digest}  {name}\n" for name, digest in sorted(digests.items())).encode()


def _extract_in_process(pyz: Path, base: Path) -> Path:
    """Extract ``pyz`` into ``base`` with the runtime imported here (not from the archive), and check the tree."""
    from hatch_zipapp.bootstrap import runtime
    from hatch_zipapp.bootstrap.atomic import AtomicDirectory

    with zipfile.ZipFile(pyz) as archive:  # (not PyzReader: site-packages.zip may be damaged)
        environment = json.loads(archive.read("environment.json"))
    key = f"{environment['name']}_{environment['build_id']}"
    base.mkdir()
    directory = AtomicDirectory(os.fspath(base), key)
    runtime._extract(os.fspath(pyz), environment, _record(pyz), directory)
    assert directory.doomed == []
    _assert_extracted(pyz, base / key)
    return base


def _assert_extracted(pyz: Path, tree: Path) -> None:
    """``tree`` holds exactly the archive's site-packages members, each with its bytes and its mode, read-only
    (0444, 0555 when executable in the archive); the top directory 0755, every directory below it 0555."""
    with PyzReader(pyz) as zf:
        members = [i for i in zf.infolist() if i.filename.startswith("site-packages/")]
        for info in members:
            written = tree / info.filename
            assert written.read_bytes() == zf.read(info), info.filename
            executable = bool((info.external_attr >> 16) & 0o111)
            assert written.stat().st_mode & 0o777 == (0o555 if executable else 0o444), info.filename
    assert any(i.filename == "site-packages/bin/tool-run" and (i.external_attr >> 16) & 0o111 for i in members)
    assert len([p for p in tree.rglob("*") if p.is_file()]) == len(members)
    assert tree.stat().st_mode & 0o777 == 0o755
    assert {p.stat().st_mode & 0o777 for p in tree.rglob("*") if p.is_dir()} == {0o555}
