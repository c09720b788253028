"""What an unseen-mutants round of issue 25 left alive in the confinement code, each caught here: through a real .pyz
confined on this host (tests/test_confine.py's attempts project) where the runtime is at stake, through the seccomp
filter's own program run by a small classic-BPF interpreter where this kernel cannot make the call (x32), through
the units and profile `hatch-zipapp systemd --confine` writes where the deploy side is."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from hatch_zipapp import static
from hatch_zipapp.bootstrap import confine, seccomp
from hatch_zipapp.bootstrap.documents import INFO_CONFINE
from hatch_zipapp.deploy.confine import REFUSED_CALLS, Confinement
from hatch_zipapp.deploy.systemd import Units, render
from tests.test_confine import PREFIX, Place, _both, _results, _run, _said
from tests.test_confine import pyz as _pyz
from tests.test_confine_declare import SETTINGS, _expected, _info, _settings
from tests.test_confine_declare import site as _site
from tests.test_systemd_confine import PYZ, _apparmor_parser, _lines
from tests.test_systemd_confine import _run as _systemd

_collect = static._collect

pyz = _pyz  # the attempts' .pyz (tests/test_confine.py's module fixture)
site = _site  # a project with the stand-in Django (tests/test_confine_declare.py)
ROOT = Path(__file__).parent.parent


@pytest.fixture
def place(tmp_path: Path) -> Place:
    return Place(tmp_path)


# -- the runtime, confined on this host ------------------------------------------------------------------------------
def test_what_the_site_reads_of_the_system(pyz: Path, place: Place) -> None:
    """The CA certificates (/etc/ssl), the CPUs online (/sys/devices/system/cpu: what glibc counts first), a
    declared readable directory listed (not only its files read): the same confined as unconfined."""
    code = f"""
import ssl
print("ca", ssl.create_default_context().cert_store_stats()["x509_ca"] > 0)
print("cpus", os.cpu_count(), len(os.sched_getaffinity(0)))
attempt("cpus online", lambda: open("/sys/devices/system/cpu/online").read())
attempt("list declared", lambda: print("listed", os.listdir("{place.tmp}/config")))
"""
    confined = _run(pyz, code, place.env())
    free = _run(pyz, code, place.env(confined=False))
    assert confined.returncode == 0 and free.returncode == 0, confined.stderr + free.stderr
    assert free.stdout.splitlines() == [
        "RAN",
        "ca True",
        f"cpus {os.cpu_count()} {len(os.sched_getaffinity(0))}",  # glibc falls back to the affinity without /sys
        "cpus online: allowed",
        "listed ['settings.ini']",
        "list declared: allowed",
    ]
    assert confined.stdout == free.stdout, confined.stderr
    assert _said(confined) == []


def test_what_is_no_refusal_says_nothing(pyz: Path, place: Place) -> None:
    """A SQLite database in memory and a UDP socket connected (with ZIPAPP_CONFINE_UDP=1) are not refused: no line
    tells the operator to declare them (a UDP port has no Landlock rule, ":memory:" is no file)."""
    code = """
import socket, sqlite3
attempt("memory database", lambda: sqlite3.connect(":memory:").execute("create table t (a)"))
def udp(family, host):
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        s.connect((host, 9))
attempt("udp connect", lambda: udp(socket.AF_INET, "127.0.0.1"))
attempt("udp6 connect", lambda: udp(socket.AF_INET6, "::1"))
"""
    results, confined = _both(pyz, place, code, ZIPAPP_CONFINE_UDP="1")
    assert results == {"memory database": "allowed", "udp connect": "allowed", "udp6 connect": "allowed"}
    assert _said(confined) == []


def test_io_uring_setup_is_refused_with_eacces(pyz: Path, place: Place) -> None:
    """io_uring opens sockets without the socket system call: a confined child's io_uring_setup fails with EACCES
    (the number from seccomp.py's table for this machine); unconfined it gives a ring."""
    target = seccomp.machine(os.uname().machine)
    if target is None:
        pytest.skip(f"no seccomp filter for {os.uname().machine}")
    code = f"""
import ctypes
def ring():
    libc = ctypes.CDLL(None, use_errno=True)
    params = ctypes.create_string_buffer(120)  # struct io_uring_params
    fd = libc.syscall({target.io_uring_setup}, 1, params)
    if fd < 0:
        error = ctypes.get_errno()
        raise (PermissionError if error == 13 else OSError)(error, os.strerror(error))
    os.close(fd)
attempt("io_uring_setup", ring)
"""
    results, _ = _both(pyz, place, code)
    assert results == {"io_uring_setup": "blocked"}


#: A filter that makes landlock_create_ruleset fail with one errno (systemd's SystemCallFilter=~ with
#: SystemCallErrorNumber=), then runs the .pyz: the kernel as a site sees it where Landlock is off or missing.
WITHOUT_LANDLOCK = """
import ctypes, os, sys
errno, arch = int(sys.argv[1]), int(sys.argv[2])
def instruction(code, true, false, k):
    return code.to_bytes(2, "little") + bytes([true, false]) + k.to_bytes(4, "little")
program = b"".join([
    instruction(0x20, 0, 0, 4), instruction(0x15, 1, 0, arch), instruction(0x06, 0, 0, 0x7FFF0000),
    instruction(0x20, 0, 0, 0), instruction(0x15, 0, 1, 444), instruction(0x06, 0, 0, 0x00050000 | errno),
    instruction(0x06, 0, 0, 0x7FFF0000),
])
buffer = ctypes.create_string_buffer(program)
fprog = ctypes.create_string_buffer(ctypes.c_uint16(len(program) // 8).value.to_bytes(8, "little")
                                    + ctypes.addressof(buffer).to_bytes(8, "little"))
libc = ctypes.CDLL(None, use_errno=True)
assert libc.prctl(38, 1, 0, 0, 0) == 0
assert libc.prctl(22, 2, fprog, 0, 0) == 0, ctypes.get_errno()
os.execv(sys.executable, [sys.executable, *sys.argv[3:]])
"""


@pytest.mark.parametrize(
    ("errno", "why"),
    [
        (95, "Landlock is off in this kernel {kernel} (add landlock to its lsm= boot parameter)"),
        (38, "no Landlock system calls (kernel {kernel}: before Linux 5.13, or a seccomp filter refuses them)"),
        (94, "no Landlock system calls (kernel {kernel}: before Linux 5.13, or a seccomp filter refuses them)"),
    ],
)
def test_landlock_off_or_missing_is_said(pyz: Path, place: Place, errno: int, why: str) -> None:
    """EOPNOTSUPP (95) from landlock_create_ruleset is Landlock built in and off at boot: the line names the boot
    parameter; ENOSYS, or any other errno (94 is not 95), is no Landlock system calls. The site runs, unconfined."""
    target = seccomp.machine(os.uname().machine)
    if target is None:
        pytest.skip(f"no seccomp filter for {os.uname().machine}")
    code = f"attempt('shadow', lambda: open('{place.tmp}/shadow').read())"
    result = subprocess.run(
        [sys.executable, "-c", WITHOUT_LANDLOCK, str(errno), str(target.arch), os.fspath(pyz), code],
        env=place.env(),
        cwd=pyz.parent,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert _results(result) == {"shadow": "allowed"}
    kernel = os.uname().release.split("-")[0]
    assert result.stderr == f"{PREFIX}nothing confined: {why.format(kernel=kernel)}\n"


@pytest.mark.parametrize(
    ("abi", "line"),
    [
        (
            2,
            "Landlock ABI 2 (kernel 5.19): files confined, truncation not (needs ABI 3, Linux 6.2), network not (needs "
            "ABI 4, Linux 6.7), device ioctls not (needs ABI 5, Linux 6.10), abstract Unix sockets and signals not "
            "(needs ABI 6, Linux 6.12)",
        ),
        (
            3,
            "Landlock ABI 3 (kernel 6.2): files confined, network not (needs ABI 4, Linux 6.7), device ioctls not "
            "(needs ABI 5, Linux 6.10), abstract Unix sockets and signals not (needs ABI 6, Linux 6.12)",
        ),
        (
            4,
            "Landlock ABI 4 (kernel 6.7): files and network confined, device ioctls not (needs ABI 5, Linux 6.10), "
            "abstract Unix sockets and signals not (needs ABI 6, Linux 6.12)",
        ),
    ],
)
def test_said_for_abi_2_3_4(abi: int, line: str) -> None:
    """tests/test_confine.py's TestOlderKernels has ABI 1, 3, 5, 6, 7: the ABIs between, where "renames refused"
    stops (2) and "network confined" starts (4)."""
    kernel = {2: "5.19", 3: "6.2", 4: "6.7"}[abi]
    assert confine.degraded(abi, f"kernel {kernel}") == line


# -- the seccomp filter's program, where this kernel cannot make the call --------------------------------------------
def _run_filter(program: list[tuple[int, int, int, int]], nr: int, arch: int, args: tuple[int, ...]) -> int:
    """What the classic BPF ``program`` returns for seccomp_data (nr, arch, args): the opcodes seccomp.py uses."""
    data = nr.to_bytes(4, "little") + arch.to_bytes(4, "little") + bytes(8)
    data += b"".join((a & 0xFFFFFFFFFFFFFFFF).to_bytes(8, "little") for a in (*args, 0, 0, 0, 0, 0, 0)[:6])
    accumulator, pc = 0, 0
    while True:
        code, true, false, k = program[pc]
        pc += 1
        if code == seccomp.LD_ABS:
            accumulator = int.from_bytes(data[k : k + 4], "little")
        elif code == seccomp.AND:
            accumulator &= k
        elif code == seccomp.JEQ:
            pc += true if accumulator == k else false
        elif code == seccomp.JSET:
            pc += true if accumulator & k else false
        elif code == seccomp.RET:
            return k
        else:
            raise AssertionError(f"opcode {code:#x}")


@pytest.mark.parametrize("udp", [False, True])
def test_x32_calls_are_filtered_as_the_native_ones(udp: bool) -> None:
    """x86_64's x32 calls share its audit architecture, with bit 30 in the number: a UDP or raw socket asked for by
    the x32 number is refused as by the native one, io_uring_setup too (this kernel has no x32: the filter's own
    program is run). Both for the filter with and without ZIPAPP_CONFINE_UDP."""
    x86 = seccomp.MACHINES["x86_64"]
    program = seccomp.program(x86, udp)
    refused = seccomp.RET_ERRNO | seccomp.EACCES
    raw = (seccomp.AF_INET, 3, 17)
    udp_call = (seccomp.AF_INET6, seccomp.SOCK_DGRAM, 0)
    tcp = (seccomp.AF_INET, seccomp.SOCK_STREAM, 0)
    for nr in (x86.socket, seccomp.X32 | x86.socket):
        assert _run_filter(program, nr, x86.arch, raw) == refused
        assert _run_filter(program, nr, x86.arch, udp_call) == (seccomp.RET_ALLOW if udp else refused)
        assert _run_filter(program, nr, x86.arch, tcp) == seccomp.RET_ALLOW
    for nr in (x86.io_uring_setup, seccomp.X32 | x86.io_uring_setup):
        assert _run_filter(program, nr, x86.arch, (1, 0)) == refused
    for nr in (x86.memfd_create, seccomp.X32 | x86.memfd_create):  # a program run from a memory file: sealed only
        assert _run_filter(program, nr, x86.arch, (0, 0)) == refused
        assert _run_filter(program, nr, x86.arch, (0, seccomp.MFD_NOEXEC_SEAL)) == seccomp.RET_ALLOW
    assert _run_filter(program, 0, x86.arch, ()) == seccomp.RET_ALLOW  # read(2)


# -- the units and the profile ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("path", ["/dev/shm/media", "/dev/mysite", "/sys/fs/cgroup/mysite", "/proc/sys/mysite"])
def test_a_write_under_dev_sys_proc_is_refused(path: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, files, out, err = _systemd(tmp_path, capsys, "--confine", "--write", path)
    top = "/" + path.split("/")[1]
    assert (status, files, out) == (2, {}, "")
    assert err == (
        f"hatch-zipapp systemd: --write '{path}' is under {top}: the system is never the site's to write; use a "
        "directory such as /srv/NAME/media\n"
    )


@pytest.mark.parametrize(("command", "port"), [("serve", "8000"), ("pyuwsgi", "8000")])
def test_a_server_without_a_socket_binds_its_default_port(
    command: str, port: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, files, _, err = _systemd(tmp_path, capsys, "--command", command, "--confine")
    assert status == 0, err
    service = _lines(files["mysite.service"])
    assert f"Environment=ZIPAPP_CONFINE_BIND={port}" in service
    assert f"SocketBindAllow=tcp:{port}" in service


def test_the_unit_refuses_the_documented_calls() -> None:
    """docs/security.md's list of SystemCallFilter=~ is what the unit refuses, ptrace among them."""
    docs = (ROOT / "docs" / "security.md").read_text(encoding="utf-8")
    paragraph = docs[docs.index("`SystemCallFilter=~` refuses") :]
    paragraph = paragraph[: paragraph.index(". It allows Landlock")]
    documented = re.findall(r"`([a-z_0-9]+)`", paragraph)
    assert {"ptrace", "io_uring_setup", "process_vm_readv", "pidfd_getfd", "fanotify_init"} <= set(documented)
    service = _lines(render(Units("mysite", PYZ, confine=Confinement()))["mysite.service"])
    (line,) = [line for line in service if line.startswith("SystemCallFilter=~") and "@" not in line]
    assert set(line.removeprefix("SystemCallFilter=~").split()) == set(documented) == set(REFUSED_CALLS)


def test_the_profile_lets_systemd_stop_the_service(tmp_path: Path) -> None:
    """systemd (unconfined) sends SIGTERM to stop the service: the profile receives it, and still compiles."""
    units = Units("mysite", PYZ, confine=Confinement())
    text = render(units)["mysite.apparmor"]
    assert "  signal (receive) peer=unconfined," in text.splitlines()
    parser = _apparmor_parser()
    profile = tmp_path / "mysite.apparmor"
    profile.write_text(text)
    result = subprocess.run(
        [parser, "-Q", "-K", os.fspath(profile)], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr


#: The sh builtins and keywords (dash's): not programs the profile must let run.
SHELL = {"cd", "echo", "printf", "read", "test", "[", "pwd", "umask", "export", "unset", "set", "exit", "return"}
SHELL |= {"eval", "exec", "command", "break", "continue", "shift", "trap", "wait", "true", "false", "local", ":", "."}


def _launcher_programs() -> set[str]:
    """The programs launcher.sh runs: each word in a command's place (after any VAR=value) that is a program on this
    machine and neither a builtin nor a function of the script, and every tool it asks hz_need for."""
    text = (ROOT / "src" / "hatch_zipapp" / "launcher.sh").read_text(encoding="utf-8")
    functions = set(re.findall(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\(\)", text, re.MULTILINE))
    found: set[str] = set()
    command = re.compile(
        r"(?:^|[|;&(`]|\$\()\s*(?:[A-Za-z_][A-Za-z0-9_]*=(?:'[^']*'|\"[^\"]*\"|\S*)\s+)*([A-Za-z][A-Za-z0-9_.-]*)"
    )
    for line in text.splitlines():
        line = re.sub(r"(^|\s)#.*", "", line)
        line = re.sub(r"(^|\s)(then|do|else|elif|if|while|until|!|-v)(?=\s)", r"\1;", line)  # command -v TOOL
        if line.strip().startswith("hz_need "):
            found.update(line.split()[1:])
        for word in command.findall(line):
            if word not in SHELL | functions and shutil.which(word):
                found.add(word)
    return found


def test_the_embedded_profile_runs_every_program_of_the_launcher() -> None:
    """An embedded Python's unit runs launcher.sh under the profile: every program it runs is allowed there (flock
    for its lock, the tools that unpack Python). ``id -u`` is its fallback where /proc/self cannot be listed: the
    unit always has /proc, so it is left out."""
    programs = _launcher_programs()
    assert {"flock", "tail", "head", "gzip", "tar", "sha256sum", "ls", "kill", "sleep", "cat"} <= programs
    profile = render(Units("mysite", PYZ, python="", confine=Confinement()))["mysite.apparmor"]
    (rule,) = [line for line in profile.splitlines() if line.startswith("  /{usr/,}bin/{")]
    allowed = set(rule.removeprefix("  /{usr/,}bin/{").split("}")[0].split(","))
    assert programs - {"id"} <= allowed, sorted(programs - allowed)


# -- the build's cache of collectstatic ------------------------------------------------------------------------------
def test_a_cache_of_the_previous_note_format_is_collected_again(site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Before the declaration, the static bundle's note was [prefix, findings] under the key "settings-checks-1".
    A cache warmed by that build (its key and note made here) is not read after an upgrade: collectstatic runs
    again and the declaration is recorded, where reading the old note would be a traceback."""
    from tests.helpers import build

    _settings(site, SETTINGS["places-written"][0])
    with monkeypatch.context() as previous:
        from hatch_zipapp.cache import write_bundle as write
        from hatch_zipapp.install import files_digest as digest

        def old_key(files: object, names: object, salt: bytes) -> str:
            salt = re.sub(rb'"settings-checks-[0-9]+"', b'"settings-checks-1"', salt)
            return digest(files, names, salt=salt)  # type: ignore[arg-type]

        def old_note(collected: object, note: str) -> object:
            prefix, findings, _ = json.loads(note)
            return write(collected, note=json.dumps([prefix, findings]))  # type: ignore[arg-type]

        class OldJson:  # the previous build read its own note: two items
            dumps = staticmethod(json.dumps)

            @staticmethod
            def loads(text: str) -> object:
                loaded = json.loads(text)
                return [*loaded, []] if isinstance(loaded, list) and len(loaded) == 2 else loaded

        previous.setattr(static, "files_digest", old_key)
        previous.setattr(static, "write_bundle", old_note)
        previous.setattr(static, "json", OldJson)
        build(site)
    collected: list[object] = []

    def counted(*arguments: object) -> object:
        collected.append(1)
        return _collect(*arguments)  # type: ignore[arg-type]

    monkeypatch.setattr(static, "_collect", counted)
    assert _info(build(site))[INFO_CONFINE] == _expected(SETTINGS["places-written"][1])
    assert collected == [1]


@contextlib.contextmanager
def _an_earlier_build(
    monkeypatch: pytest.MonkeyPatch, version: int, findings: Callable[[list[list[str]]], list[list[str]]]
) -> Iterator[None]:
    """Builds in this block are an earlier version's: their static bundle cached under "settings-checks-VERSION",
    their note's findings as that version wrote them (``findings`` of the current ones)."""
    from hatch_zipapp.cache import write_bundle as write
    from hatch_zipapp.install import files_digest as digest

    def old_key(files: object, names: object, salt: bytes) -> str:
        salt = re.sub(rb'"settings-checks-[0-9]+"', f'"settings-checks-{version}"'.encode(), salt)
        return digest(files, names, salt=salt)  # type: ignore[arg-type]

    def old_note(collected: object, note: str) -> object:
        prefix, current, declared = json.loads(note)
        return write(collected, note=json.dumps([prefix, findings(current), declared]))  # type: ignore[arg-type]

    with monkeypatch.context() as previous:
        previous.setattr(static, "files_digest", old_key)
        previous.setattr(static, "write_bundle", old_note)
        yield


def test_a_cache_of_the_warning_era_note_is_collected_again(site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Under "settings-checks-2" a relative template directory was a finding without its absolute form (a warning
    then). A cache warmed by such a build is not read after the upgrade: the build stops with the absolute form the
    settings' BASE_DIR allows, never with an empty one."""
    from hatch_zipapp.errors import ZipappError
    from tests.helpers import build

    _settings(site, 'BASE_DIR = "/srv/site"\nTEMPLATES = [{"BACKEND": "t", "DIRS": ["templates"]}]\n')

    def without_the_fix(found: list[list[str]]) -> list[list[str]]:
        return [[kind, setting, value, "" if kind == "relative" else fix] for kind, setting, value, fix in found]

    with _an_earlier_build(monkeypatch, 2, without_the_fix), pytest.raises(ZipappError, match=r"Make it absolute: $"):
        build(site)
    with pytest.raises(ZipappError, match=re.escape("Make it absolute: os.path.join(BASE_DIR, 'templates')")):
        build(site)


def test_a_cache_without_the_missing_directory_finding_is_collected_again(
    site: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    """Under "settings-checks-3" a template directory inside the package that the .pyz does not ship was not a
    finding. A cache warmed by such a build is not read after the upgrade: the build says so."""
    from tests.helpers import build

    _settings(site, 'TEMPLATES = [{"BACKEND": "t", "DIRS": [os.path.join(os.path.dirname(__file__), "gone")]}]\n')
    with _an_earlier_build(monkeypatch, 3, lambda found: [finding for finding in found if finding[0] != "missing"]):
        build(site)
        assert "does not ship" not in capfd.readouterr().err
    build(site)
    assert "names 'app/gone' in the installed packages, which the .pyz does not ship" in " ".join(
        capfd.readouterr().err.split()
    )
