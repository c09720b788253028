"""The confined site's IP sockets (``_bootstrap/seccomp.py`` in a .pyz): a seccomp filter, installed by confine.py
with the Landlock ruleset, that lets the site open only TCP sockets over IPv4 and IPv6 — and UDP ones when
``ZIPAPP_CONFINE_UDP=1`` — and refuses every other kind (UDP, raw, SCTP, MPTCP, ICMP "ping" sockets) with
``EACCES``. Landlock has no UDP rules and systemd's ``IPAddressAllow=127.0.0.1`` opens every port of that address:
without it a site could send to another service's UDP port (a statsd, a memcached) on the loopback.

A classic BPF program (standard library only: ``_ctypes`` for ``prctl`` and the program's buffer), checking
the audit architecture (x86_64 and aarch64; on any other machine no filter is installed, said once on stderr): a
system call of another architecture (i386's ``int 0x80`` from an x86_64 process) is refused as a whole, as systemd's
``SystemCallArchitectures=native`` does. ``io_uring_setup`` is refused too (io_uring opens sockets without the
``socket`` system call), and so is ``memfd_create`` without ``MFD_NOEXEC_SEAL`` (Landlock does not govern running
a memory file: ``execve("/proc/self/fd/N")`` would run any program the site writes there). Children inherit the
filter, as they inherit the ruleset; installing it costs about 0.13 ms: the program, the ``_ctypes`` array that holds
it and the ``prctl`` (docs/performance.md).
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 22, 2
EACCES = 13
RET_ALLOW, RET_ERRNO = 0x7FFF0000, 0x00050000
# Classic BPF opcodes: load a word of seccomp_data, compare and jump, and with a constant, return a constant.
LD_ABS, JEQ, JSET, AND, RET = 0x20, 0x15, 0x45, 0x54, 0x06
# seccomp_data: int nr; u32 arch; u64 instruction_pointer; u64 args[6] (the low word of an argument: little-endian).
NR, ARCH, ARGS = 0, 4, 16
AF_INET, AF_INET6 = 2, 10
SOCK_STREAM, SOCK_DGRAM, SOCK_TYPE_MASK = 1, 2, 0xF  # the mask drops SOCK_NONBLOCK and SOCK_CLOEXEC
IPPROTO_TCP, IPPROTO_UDP = 6, 17
MFD_NOEXEC_SEAL = 0x0008  # Linux 6.3: the memory file is not executable, and cannot be made so
X32 = 0x40000000  # x86_64's x32 system calls: the same audit architecture, this bit in the number


class Machine:
    """An architecture the filter knows: its audit value and system call numbers."""

    def __init__(self, arch: int, socket: int, io_uring_setup: int, memfd_create: int, x32: bool) -> None:
        self.arch, self.socket, self.io_uring_setup, self.x32 = arch, socket, io_uring_setup, x32
        self.memfd_create = memfd_create


#: ``os.uname().machine`` → what the filter checks (AUDIT_ARCH_X86_64, AUDIT_ARCH_AARCH64).
MACHINES = {
    "x86_64": Machine(0xC000003E, 41, 425, 319, x32=True),
    "aarch64": Machine(0xC00000B7, 198, 425, 279, x32=False),
    "arm64": Machine(0xC00000B7, 198, 425, 279, x32=False),
}
#: Seconds the last :func:`install` took (docs/performance.md).
elapsed = 0.0


def machine(name: str) -> Machine | None:
    """The architecture ``name`` (``os.uname().machine``) is, or None: no filter there."""
    return MACHINES.get(name)


def program(target: Machine, udp: bool) -> list[tuple[int, int, int, int]]:
    """The filter's instructions (code, jump if true, jump if false, constant): ``socket`` of AF_INET or AF_INET6
    allowed for TCP (and UDP when ``udp``), refused with EACCES for any other type or protocol."""
    allow, deny = "allow", "deny"
    steps: list[tuple[int | str, object, object, int]] = [
        (LD_ABS, 0, 0, ARCH),
        (JEQ, 0, deny, target.arch),
        (LD_ABS, 0, 0, NR),
        (JEQ, deny, 0, target.io_uring_setup),
        *([(JEQ, deny, 0, X32 | target.io_uring_setup)] if target.x32 else []),
        (JEQ, "socket", 0, target.socket),
        *([(JEQ, "socket", 0, X32 | target.socket)] if target.x32 else []),
        (JEQ, "memfd", 0, target.memfd_create),
        *([(JEQ, "memfd", 0, X32 | target.memfd_create)] if target.x32 else []),
        (RET, 0, 0, RET_ALLOW),
        ("memfd", 0, 0, 0),
        (LD_ABS, 0, 0, ARGS + 8),  # the flags: a memory file that can never be executed, or none
        (JSET, allow, deny, MFD_NOEXEC_SEAL),
        ("socket", 0, 0, 0),
        (LD_ABS, 0, 0, ARGS),  # the domain
        (JEQ, "inet", 0, AF_INET),
        (JEQ, "inet", allow, AF_INET6),
        ("inet", 0, 0, 0),
        (LD_ABS, 0, 0, ARGS + 8),  # the type
        (AND, 0, 0, SOCK_TYPE_MASK),
        (JEQ, "stream", 0, SOCK_STREAM),
        (JEQ, "datagram", deny, SOCK_DGRAM) if udp else (RET, 0, 0, RET_ERRNO | EACCES),
        ("stream", 0, 0, 0),
        (LD_ABS, 0, 0, ARGS + 16),  # the protocol
        (JEQ, allow, 0, 0),
        (JEQ, allow, deny, IPPROTO_TCP),
        ("datagram", 0, 0, 0),
        (LD_ABS, 0, 0, ARGS + 16),
        (JEQ, allow, 0, 0),
        (JEQ, allow, deny, IPPROTO_UDP),
        (allow, 0, 0, 0),
        (RET, 0, 0, RET_ALLOW),
        (deny, 0, 0, 0),
        (RET, 0, 0, RET_ERRNO | EACCES),
    ]
    labels: dict[object, int] = {}
    instructions: list[tuple[int, object, object, int]] = []
    for code, true, false, k in steps:
        if isinstance(code, str):
            labels[code] = len(instructions)
        else:
            instructions.append((code, true, false, k))

    def offset(index: int, to: object) -> int:
        return 0 if to == 0 else labels[to] - index - 1

    return [(code, offset(i, t), offset(i, f), k) for i, (code, t, f, k) in enumerate(instructions)]


def install(prctl: Callable[..., int], get_errno: Callable[[], int], udp: bool) -> str | None:
    """Install the filter in this process (no_new_privs already set): the line to say when none is installed (a
    machine the filter does not know), else None. OSError where the kernel refuses it."""
    global elapsed
    import time

    started = time.perf_counter()
    try:
        target = machine(os.uname().machine)
        if target is None:
            return f"UDP and raw sockets not refused: no seccomp filter for {os.uname().machine} (x86_64, aarch64)"
        code = b"".join(_instruction(*instruction) for instruction in program(target, udp))
        buffer = _buffer(16 + len(code))
        address: int = _ctypes().addressof(buffer)
        count = len(code) // 8
        buffer.raw = _le(count, 8) + _le(address + 16, 8) + code  # struct sock_fprog (u16, padding, pointer), filter
        if prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, buffer, 0, 0) < 0:
            error = get_errno()
            raise OSError(error, os.strerror(error))
        return None
    finally:
        elapsed = time.perf_counter() - started


def _le(value: int, size: int) -> bytes:
    return value.to_bytes(size, "little")


def _instruction(code: int, true: int, false: int, k: int) -> bytes:
    """struct sock_filter: u16 code, u8 jt, u8 jf, u32 k."""
    return _le(code, 2) + _le(true, 1) + _le(false, 1) + _le(k, 4)


def _ctypes() -> Any:
    import _ctypes

    return _ctypes


def _buffer(size: int) -> Any:
    """A C array of ``size`` bytes (``ctypes.create_string_buffer``, from ``_ctypes`` alone)."""
    module = _ctypes()

    class Char(module._SimpleCData):  # type: ignore[misc,name-defined]
        _type_ = "c"

    class Array(module.Array):  # type: ignore[misc,name-defined]
        _type_ = Char
        _length_ = size

    return Array()


if sys.byteorder != "little":  # the program reads an argument's low word at its address
    MACHINES.clear()
