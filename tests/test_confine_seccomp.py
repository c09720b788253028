"""The confined site's IP sockets (bootstrap/seccomp.py, issue 25): TCP only, UDP when ``ZIPAPP_CONFINE_UDP=1``; raw
sockets and the other IP protocols never. Tried through a real .pyz run by a real interpreter (tests/test_confine.py's
attempts project), against a real UDP echo on 127.0.0.1 (another service's statsd), each attempt also run unconfined
(it would succeed). Name resolution without UDP (``getfqdn``, ``localhost``) keeps working."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from hatch_zipapp.bootstrap import seccomp
from tests.test_confine import Place, _both, _run, _said
from tests.test_confine import pyz as _pyz

pyz = _pyz  # the attempts' .pyz (tests/test_confine.py's module fixture)


@pytest.fixture
def place(tmp_path: Path) -> Place:
    return Place(tmp_path)


@pytest.fixture
def echo() -> Iterator[int]:
    """A UDP echo on 127.0.0.1: its port."""
    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.bind(("127.0.0.1", 0))
    server.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                data, peer = server.recvfrom(64)
            except TimeoutError:
                continue
            server.sendto(data, peer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        thread.join(timeout=5)
        server.close()


#: The attempts: a UDP exchange with the echo, each way of asking for a datagram or raw IP socket, and what stays.
SOCKETS = """
import socket
def udp(family, kind=socket.SOCK_DGRAM, proto=0):
    with socket.socket(family, kind, proto) as s:
        s.settimeout(5)
        s.sendto(b"ping", ("127.0.0.1" if family == socket.AF_INET else "::1", {port}))
        assert s.recv(64) == b"ping"
def opened(family, kind, proto=0):
    socket.socket(family, kind, proto).close()
attempt("udp", lambda: udp(socket.AF_INET))
FLAGS = socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC
attempt("udp nonblocking cloexec", lambda: opened(socket.AF_INET, socket.SOCK_DGRAM | FLAGS))
attempt("udp protocol", lambda: opened(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP))
attempt("udp6", lambda: opened(socket.AF_INET6, socket.SOCK_DGRAM))
attempt("raw", lambda: opened(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_UDP))
attempt("raw6", lambda: opened(socket.AF_INET6, socket.SOCK_RAW | socket.SOCK_CLOEXEC, socket.IPPROTO_ICMPV6))
attempt("ping", lambda: opened(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMP))
attempt("mptcp", lambda: opened(socket.AF_INET, socket.SOCK_STREAM, 262))
attempt("tcp", lambda: opened(socket.AF_INET, socket.SOCK_STREAM))
attempt("tcp6 protocol", lambda: opened(socket.AF_INET6, socket.SOCK_STREAM | socket.SOCK_NONBLOCK, socket.IPPROTO_TCP))
attempt("unix stream", lambda: opened(socket.AF_UNIX, socket.SOCK_STREAM))
attempt("unix datagram", lambda: opened(socket.AF_UNIX, socket.SOCK_DGRAM))
attempt("socketpair", lambda: [s.close() for s in socket.socketpair()])
"""
#: Refused whatever ZIPAPP_CONFINE_UDP says: raw sockets and IP protocols that are neither TCP nor UDP.
NEVER = {"raw", "raw6", "ping", "mptcp"}
UDP = {"udp", "udp nonblocking cloexec", "udp protocol", "udp6"}


def _mptcp() -> bool:
    try:
        socket.socket(socket.AF_INET, socket.SOCK_STREAM, 262).close()
    except OSError:
        return False
    return True


def _ping() -> bool:
    try:
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMP).close()
    except OSError:
        return False
    return True


@pytest.mark.parametrize("value", ["0", "off", ""])
def test_udp_off_is_refused(pyz: Path, place: Place, echo: int, value: str) -> None:
    code = SOCKETS.format(port=echo)
    skipped = {name for name, there in (("mptcp", _mptcp()), ("ping", _ping())) if not there}
    code = "\n".join(line for line in code.splitlines() if not any(f'attempt("{s}"' in line for s in skipped))
    results, confined = _both(pyz, place, code, ZIPAPP_CONFINE_UDP=value)
    refused = UDP | NEVER
    assert results == {name: "blocked" if name in refused else "allowed" for name in results}
    assert set(results) >= UDP | {"raw", "raw6", "tcp", "unix stream"}
    assert _said(confined) == []


@pytest.mark.parametrize("value", ["1", "yes", "ON"])
def test_udp_on_is_allowed(pyz: Path, place: Place, echo: int, value: str) -> None:
    code = SOCKETS.format(port=echo)
    skipped = {name for name, there in (("mptcp", _mptcp()), ("ping", _ping())) if not there}
    code = "\n".join(line for line in code.splitlines() if not any(f'attempt("{s}"' in line for s in skipped))
    results, _ = _both(pyz, place, code, ZIPAPP_CONFINE_UDP=value)
    assert results == {name: "blocked" if name in NEVER else "allowed" for name in results}


def test_refused_with_eacces_in_children(pyz: Path, place: Place) -> None:
    """The error is EACCES (a PermissionError: the site's own handling of a refused socket), in a child too."""
    code = """
import subprocess
child = "import socket\\ntry:\\n socket.socket(socket.AF_INET, 2)\\nexcept OSError as e:\\n print(e.errno)"
print("child", subprocess.run([sys.executable, "-c", child], capture_output=True, text=True).stdout.strip())
"""
    result = _run(pyz, code, place.env())
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[1:] == ["child 13"]


def test_name_resolution_without_udp(pyz: Path, place: Place) -> None:
    """``getfqdn`` (a DNS query where /etc/hosts does not answer) and ``localhost`` work with UDP refused."""
    code = """
import socket
attempt("getfqdn", lambda: print("fqdn", socket.getfqdn()))
attempt("localhost", lambda: print("localhost", sorted({a[4][0] for a in socket.getaddrinfo("localhost", 80)})))
attempt("resolved", lambda: socket.create_connection(("localhost", 9), timeout=2))
import time
started = time.monotonic()
attempt("unknown name", lambda: socket.getaddrinfo("no-such-host.invalid", 80))
print("unknown name took", round(time.monotonic() - started))
"""
    result = _run(pyz, code, place.env())
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()[1:]
    assert f"fqdn {socket.getfqdn()}" in lines and "getfqdn: allowed" in lines, lines
    assert "localhost: allowed" in lines and any(x.startswith("localhost [") and "127.0.0.1" in x for x in lines)
    assert "resolved: blocked" in lines  # port 9 undeclared: Landlock's refusal, after the name resolved
    # a name only DNS could answer: an error at once (the resolver's socket refused), not a hang
    (unknown,) = [line for line in lines if line.startswith("unknown name: ")]
    assert unknown.startswith("unknown name: error [Errno -"), lines
    assert "unknown name took 0" in lines, lines


class TestArchitecture:
    """Which filter a machine gets: its audit value and socket's number; none on a machine it does not know."""

    @pytest.mark.parametrize(
        ("name", "arch", "socket_call"),
        [("x86_64", 0xC000003E, 41), ("aarch64", 0xC00000B7, 198), ("arm64", 0xC00000B7, 198)],
    )
    def test_known(self, name: str, arch: int, socket_call: int) -> None:
        machine = seccomp.machine(name)
        assert machine is not None and (machine.arch, machine.socket) == (arch, socket_call)
        program = seccomp.program(machine, udp=False)
        assert program[:2] == [(seccomp.LD_ABS, 0, 0, seccomp.ARCH), (seccomp.JEQ, 0, program[1][2], arch)]
        # another architecture's call (i386's int 0x80 from an x86_64 process) jumps to the refusal
        assert program[2 + program[1][2]] == (seccomp.RET, 0, 0, seccomp.RET_ERRNO | seccomp.EACCES)

    @pytest.mark.parametrize("name", ["i686", "armv7l", "riscv64", "ppc64le", "s390x", "mips", ""])
    def test_unknown_is_no_filter(self, name: str, monkeypatch: pytest.MonkeyPatch) -> None:
        assert seccomp.machine(name) is None
        calls: list[object] = []

        class Uname:
            machine = name

        monkeypatch.setattr("hatch_zipapp.bootstrap.seccomp.os.uname", lambda: Uname())

        def prctl(*arguments: object) -> int:
            calls.append(arguments)
            return 0

        line = seccomp.install(prctl, lambda: 0, udp=False)
        assert line == f"UDP and raw sockets not refused: no seccomp filter for {name} (x86_64, aarch64)"
        assert calls == []


def test_the_filter_is_cheap(pyz: Path, place: Place) -> None:
    """Its install time, within the confinement step (docs/performance.md): the median of 5 starts."""
    code = "print('timing', __import__('_bootstrap.seccomp').seccomp.elapsed)"
    times = []
    for _ in range(5):
        result = _run(pyz, code, place.env())
        assert result.returncode == 0, result.stderr
        times.append(float(result.stdout.split()[-1]))
    assert 0 < sorted(times)[2] < 0.002, times


def test_a_bad_flag_is_one_line(pyz: Path, place: Place) -> None:
    result = _run(pyz, "print('attempted')", place.env(extra={"ZIPAPP_CONFINE_UDP": "dns"}))
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == (
        f"{pyz.name}: ZIPAPP_CONFINE_UDP='dns' is not on or off: set it to 1 (on) or 0 (off), or unset it\n"
    )
