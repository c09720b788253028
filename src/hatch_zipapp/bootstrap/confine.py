"""Confinement (``_bootstrap/confine.py`` in a .pyz): with ``ZIPAPP_CONFINE=1``, the runtime puts the process under a
Landlock ruleset once the site is extracted and on ``sys.path``, before any code of the application runs. Standard
library only: the three Landlock system calls and ``prctl`` through ``_ctypes`` (the ``ctypes`` package itself costs
more than a millisecond to import).

What the confined site may do (docs/runtime.md, "Confinement"):

- read: its interpreter (and its prefixes and standard library), the system libraries (``/usr``, ``/lib``,
  ``/lib64``, ``/lib32``), the .pyz, its extraction, ``$CREDENTIALS_DIRECTORY``, ``$CONFIGURATION_DIRECTORY``, the
  few ``/etc`` files a Python program reads (:data:`ETC`), ``/dev/null``, ``/dev/urandom``, its own ``/proc/PID``,
  and the directories of ``ZIPAPP_CONFINE_READ``;
- execute: its interpreter and that interpreter's ELF loader, nothing else (no shell, no ``curl``);
- write (and read): ``$STATE_DIRECTORY``, ``$RUNTIME_DIRECTORY``, ``$LOGS_DIRECTORY`` (each a colon-separated list,
  as systemd sets them), the temporary directory, ``/dev/null`` and the directories of ``ZIPAPP_CONFINE_WRITE`` —
  never its own code: a writable directory holding the .pyz or the extraction is refused;
- TCP (Landlock ABI 4, Linux 6.7): connect only to the ports of ``ZIPAPP_CONFINE_CONNECT``, bind only those of
  ``ZIPAPP_CONFINE_BIND``;
- abstract Unix sockets and signals (ABI 6, Linux 6.12): only within the confined processes (the site, its workers).
- IP sockets (seccomp.py, a filter installed with the ruleset): TCP only, UDP with ``ZIPAPP_CONFINE_UDP=1``.

Children inherit the ruleset (a server's workers, ``sys.executable`` re-executions). A kernel without Landlock, or
with an older ABI, gets the best it offers, said in one line on stderr (the journal): never a failed start. A bad
``ZIPAPP_CONFINE_*`` value is one line naming it and nothing runs. An audit hook installed with the ruleset writes
one line per distinct refusal the ruleset makes (an undeclared port, a write outside the writable directories, a
program run): what to declare.
"""

from __future__ import annotations

import os
import stat
import sys

from .documents import (
    ZIPAPP_CONFINE_BIND,
    ZIPAPP_CONFINE_CONNECT,
    ZIPAPP_CONFINE_READ,
    ZIPAPP_CONFINE_UDP,
    ZIPAPP_CONFINE_WRITE,
    BootstrapError,
    flag,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from typing import Any

#: Every line this module writes starts so (the journal of a unit: grep for it).
PREFIX = "hatch-zipapp: confine: "
#: The pyproject table and command a refusal's line names.
TABLE = "[tool.hatch.build.targets.zipapp.confine]"
COMMAND = "hatch-zipapp systemd"

# Landlock's system calls: the generic numbers, the same on every architecture but alpha and mips.
SYSCALLS = (444, 445, 446)  # landlock_create_ruleset, landlock_add_rule, landlock_restrict_self
ARCHITECTURES = frozenset(
    {"x86_64", "aarch64", "arm64", "i386", "i686", "armv7l", "armv6l", "riscv64", "ppc64le", "ppc64", "s390x"}
)
CREATE_RULESET_VERSION = 1
RULE_PATH_BENEATH, RULE_NET_PORT = 1, 2
PR_SET_NO_NEW_PRIVS = 38
EOPNOTSUPP = 95  # Landlock built in, not enabled at boot

# Access rights, by the ABI that brought them.
EXECUTE, WRITE_FILE, READ_FILE, READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
REMOVE_DIR, REMOVE_FILE, MAKE_CHAR, MAKE_DIR, MAKE_REG = 1 << 4, 1 << 5, 1 << 6, 1 << 7, 1 << 8
MAKE_SOCK, MAKE_FIFO, MAKE_BLOCK, MAKE_SYM = 1 << 9, 1 << 10, 1 << 11, 1 << 12
REFER, TRUNCATE, IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15  # ABI 2, 3, 5
BIND_TCP, CONNECT_TCP = 1 << 0, 1 << 1  # ABI 4
SCOPE_ABSTRACT_UNIX_SOCKET, SCOPE_SIGNAL = 1 << 0, 1 << 1  # ABI 6
#: The file-system rights each ABI handles.
FS_BY_ABI = {1: (1 << 13) - 1, 2: (1 << 14) - 1, 3: (1 << 15) - 1, 4: (1 << 15) - 1, 5: (1 << 16) - 1}
#: Rights that apply to a file (a rule on a file with any other is refused by the kernel).
FILE_RIGHTS = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE | IOCTL_DEV
READ = READ_FILE | READ_DIR
WRITE = (
    READ | WRITE_FILE | REMOVE_DIR | REMOVE_FILE | MAKE_DIR | MAKE_REG | MAKE_SOCK | MAKE_FIFO | MAKE_SYM | REFER
) | TRUNCATE

#: What a Python program reads in /etc: name resolution, TLS certificates, time zone, users, MIME types, the loader.
ETC = (
    "/etc/resolv.conf",
    "/etc/hosts",
    "/etc/nsswitch.conf",
    "/etc/gai.conf",
    "/etc/host.conf",
    "/etc/services",
    "/etc/protocols",
    "/etc/ssl",
    "/etc/pki",
    "/etc/ca-certificates",
    "/etc/localtime",
    "/etc/timezone",
    "/etc/passwd",
    "/etc/group",
    "/etc/mime.types",
    "/etc/ld.so.cache",
    "/etc/ld.so.preload",
)
SYSTEM = ("/usr", "/lib", "/lib64", "/lib32", "/sys/devices/system/cpu")
#: What an older ABI leaves unconfined, the ABI that confines it and the first Linux that has it: the line said.
NEEDS = (
    (3, "6.2", "truncation"),
    (4, "6.7", "network"),
    (5, "6.10", "device ioctls"),
    (6, "6.12", "abstract Unix sockets and signals"),
)
#: Seconds the last :func:`confine` took, from ``started`` (the runtime's clock before it imported this module, so
#: that loading the module from the .pyz counts too: docs/performance.md, bench/confine.py).
elapsed = 0.0


def degraded(abi: int, kernel: str) -> str | None:
    """The line said once where the kernel's Landlock ``abi`` confines less than ABI 6 does; None from ABI 6 on."""
    parts = [f"{what} not (needs ABI {need}, Linux {linux})" for need, linux, what in NEEDS if abi < need]
    if not parts:
        return None
    confined = "files and network confined" if abi >= 4 else "files confined"
    if abi < 2:
        parts.insert(0, "renames and links into another directory refused (allowed from ABI 2, Linux 5.19)")
    return f"Landlock ABI {abi} ({kernel}): {confined}, {', '.join(parts)}"


class Rules:
    """What the site may do, from the environment and the runtime's own paths: checked before anything is applied."""

    def __init__(self, archive: str, extraction: str, lock_files: Iterable[str]) -> None:
        _REAL.clear()  # the paths as they are now
        _SEEN.clear()
        self.archive, self.extraction = archive, extraction
        self.executables = _executables()
        read = [*SYSTEM, *ETC, "/dev/urandom", "/dev/random"]  # what this machine lacks is skipped
        read += [p for p in (sys.prefix, sys.exec_prefix, sys.base_prefix, sys.base_exec_prefix) if p != os.sep]
        read += [os.path.dirname(os.__file__), archive, extraction, f"/proc/{os.getpid()}"]
        read += [os.path.join(sys.base_prefix, "etc", f"python{sys.version_info[0]}.{sys.version_info[1]}")]
        read += [f"/etc/python{sys.version_info[0]}.{sys.version_info[1]}"]  # Debian's sitecustomize
        for variable in ("CREDENTIALS_DIRECTORY", "CONFIGURATION_DIRECTORY"):
            read += [p for p in os.environ.get(variable, "").split(":") if p]
        self.read = _outermost(read)  # missing ones are skipped when the rule is made
        #: (path, what names it) of the declared readable and writable paths: every one must be there
        self.declared_read = [(p, f"{ZIPAPP_CONFINE_READ}={p}") for p in _paths(ZIPAPP_CONFINE_READ)]
        self.write = [
            (p, f"{variable}={p}")
            for variable in ("STATE_DIRECTORY", "RUNTIME_DIRECTORY", "LOGS_DIRECTORY", ZIPAPP_CONFINE_WRITE)
            for p in _paths(variable)
        ]
        temporary = _temporary()
        if temporary:
            self.write.append(temporary)
        self.write_files = ["/dev/null", *lock_files]
        code = _Code(archive, extraction)
        for path, named in self.write:
            code.check(_real(path), named)
        _check_links([*self.declared_read, *self.write], self.write)
        _check_owners([*self.declared_read, *self.write])
        self.connect = _ports(ZIPAPP_CONFINE_CONNECT)
        self.bind = _ports(ZIPAPP_CONFINE_BIND)
        self.udp = flag(ZIPAPP_CONFINE_UDP)  # UDP sockets (seccomp.py): the unit turns it on for DNS


#: :func:`_real`'s answers during one :class:`Rules` (emptied when one is made: the paths as they are at that start).
_REAL: dict[str, str] = {}
#: The (device, inode) each path opened as when :func:`_real` looked: its rule must be on that same file.
_SEEN: dict[str, tuple[int, int]] = {}


def _real(path: str) -> str:
    """``os.path.realpath(path)``, from the kernel where it can open the path: one lookup and the name ``/proc`` gives
    the descriptor, where ``realpath`` looks up every component in Python (tens of microseconds a path at start)."""
    real = _REAL.get(path)
    if real is None:
        real = _REAL[path] = _kernel_real(path) or os.path.realpath(path)
    return real


def _kernel_real(path: str) -> str | None:
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return None  # not there (realpath names what it would be), or not reachable
    try:
        seen = os.fstat(fd)
        _SEEN[path] = (seen.st_dev, seen.st_ino)
        real = os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return None  # no /proc
    finally:
        os.close(fd)
    return real if real.startswith(os.sep) and not real.endswith(" (deleted)") else None


def _beneath(path: str, directory: str) -> bool:
    """Whether ``path`` is ``directory`` or beneath it (both real, absolute)."""
    return path == directory or path.startswith(directory.rstrip(os.sep) + os.sep)


def _looked_up(path: str) -> list[str]:
    """The real directories in which a name is looked up while ``path`` is resolved, link by link as the kernel does
    (a link's own directory, then its target's): the site could change what ``path`` opens by renaming an entry in
    any of them."""
    return _resolved(path)[0]


def _resolved(path: str) -> tuple[list[str], list[tuple[str, str]]]:
    """:func:`_looked_up`, and each link followed: (the real directory it is in, the link's path)."""
    absolute = path if path.startswith(os.sep) else os.path.join(os.getcwd(), path)
    if absolute != os.sep and _real(absolute) == absolute:  # no link, "." or ".." on the way: its parents, in order
        names = absolute.split(os.sep)
        return [os.sep, *(os.sep.join(names[:i]) for i in range(2, len(names)))], []
    directories: list[str] = []
    links: list[tuple[str, str]] = []
    remaining = absolute.split(os.sep)
    current, hops = os.sep, 0
    while remaining and hops <= 40:  # the kernel's limit of links followed (ELOOP)
        name = remaining.pop(0)
        if name in ("", "."):
            continue
        if name == "..":
            current = os.path.dirname(current)
            continue
        directories.append(current)
        candidate = os.path.join(current, name)
        if os.path.islink(candidate):
            hops += 1
            links.append((current, candidate))
            target = os.readlink(candidate)
            if target.startswith(os.sep):
                current = os.sep
            remaining = target.split(os.sep) + remaining
        else:
            current = candidate
    return directories, links


def _check_owners(paths: list[tuple[str, str]]) -> None:
    """A :class:`BootstrapError` if a path given to the site (named so) is looked up in a directory another user could
    change (roots.py's rule for an extraction root): that user could replace it by a link to anything."""
    from .roots import untrusted

    checked: set[str] = set()  # the paths share most of their directories: each is looked at once
    for path, named in paths:
        for directory in _looked_up(path):
            if directory in checked:
                continue
            checked.add(directory)
            try:
                why = untrusted(os.stat(directory), sticky_ok=True)
            except OSError:
                continue  # not there: opening the path says so
            if why is not None:
                message = (
                    f"{named}: {directory} is unsafe: {why}, so another user could replace what it names. Use a "
                    "directory only root or the service's user can change"
                )
                raise BootstrapError(message)


def _check_links(paths: list[tuple[str, str]], writable: list[tuple[str, str]]) -> None:
    """A :class:`BootstrapError` if a path given to the site (named so) goes through a link in a directory it writes:
    the site could point it at another service's state, or its own code, before its next start."""
    real_writable = [(_real(w), named) for w, named in writable]
    for path, named in paths:
        for directory, link in _resolved(path)[1]:
            for real, writes in real_writable:
                if _beneath(directory, real):
                    message = (
                        f"{named} goes through the link {link} in a directory the site writes ({writes}): it could "
                        "point it anywhere before its next start. Name the real directory, outside the ones it writes"
                    )
                    raise BootstrapError(message)


class _Code:
    """What a writable directory must not reach, computed once: the site's code (real), the directories its names
    are looked up in, and the interpreter's."""

    def __init__(self, archive: str, extraction: str) -> None:
        if archive.startswith("/proc/self/fd/") and sys.argv and sys.argv[0]:  # pinned.py: the name it started by
            archive = sys.argv[0]
        self.real = [_real(extraction), _real(archive)]
        named = [extraction, archive]  # and the root the extraction is in, as named: a link there picks the code
        named += [root for root in _roots() if _beneath(self.real[0], _real(root))]
        self.looked_up = [(path, _looked_up(path)) for path in named]
        programs = [p for p in (sys.executable, os.path.dirname(os.__file__)) if p]
        self.programs = [(p, [*_looked_up(p), _real(p)]) for p in programs]
        self.library = _real(os.path.dirname(os.__file__))  # what the next start imports before confining
        import site  # imported at start already (unless -S): its .pth files are run at every start, unconfined

        self.user_site = site.getusersitepackages() if site.ENABLE_USER_SITE else None
        self.real_user_site = _real(self.user_site) if self.user_site else None

    def check(self, real: str, named: str) -> None:
        """A :class:`BootstrapError` if the writable directory ``real`` (named so) could change what runs at the
        next start: it holds the site's code or its interpreter, is beneath its code, or holds a link on the way."""
        never = (
            "a confined site never writes its code. Declare a directory beside it, or move the .pyz (or ZIPAPP_ROOT) "
            "out of it"
        )
        for code in self.real:
            if _beneath(code, real):
                raise BootstrapError(f"{named} holds this site's own code ({code}): {never}")
            if _beneath(real, code):
                raise BootstrapError(f"{named} is beneath this site's own code ({code}): {never}")
        for path, directories in self.looked_up:
            if any(_beneath(directory, real) for directory in directories):
                raise BootstrapError(f"{named} holds a link on the way to this site's own code ({path}): {never}")
        if self.user_site and self.real_user_site and _beneath(self.real_user_site, real):
            message = (
                f"{named} holds the interpreter's user site-packages ({self.user_site}), whose .pth files it runs "
                "at every start before anything is confined. Start it with python -s (or -I), or give the service "
                "a home outside the directories it writes"
            )
            raise BootstrapError(message)
        if _beneath(real, self.library):
            message = (
                f"{named} is beneath this site's interpreter's standard library ({self.library}): a confined site "
                "never writes the modules its next start imports. Declare a directory elsewhere"
            )
            raise BootstrapError(message)
        for program, directories in self.programs:
            if any(_beneath(directory, real) for directory in directories):
                message = (
                    f"{named} holds this site's interpreter ({program}): a confined site never writes the program "
                    "that starts it. Use an interpreter outside the directories it writes"
                )
                raise BootstrapError(message)


def _roots() -> list[str]:
    """The extraction roots the environment names (roots.py), as named."""
    from .roots import EXPLICIT, defaults, explicit

    for variable in EXPLICIT:
        value = os.environ.get(variable)
        if value:
            try:
                return [explicit(variable, value)]
            except BootstrapError:
                return []
    return [path for _, path in defaults() if os.path.isabs(path)]


def _outermost(paths: list[str]) -> list[str]:
    """``paths`` without those a rule on another covers (the same path, or beneath it, as named): ``/usr`` is most
    often the interpreter's prefixes too, and one rule fewer is one open and one system call fewer at every start."""
    # Sorted by components, what is beneath a path comes right after it (by text, "/usr-x" would come between "/usr"
    # and "/usr/lib"): each path needs comparing with the last one kept only.
    named = sorted({os.path.normpath(p) for p in paths if p}, key=lambda p: p.split(os.sep))
    kept: list[str] = []
    for path in named:
        if not kept or not (path == kept[-1] or path.startswith(kept[-1].rstrip(os.sep) + os.sep)):
            kept.append(path)
    return kept


def _paths(variable: str) -> list[str]:
    """The colon-separated absolute paths of ``variable``, each an existing file or directory."""
    paths = []
    for path in os.environ.get(variable, "").split(":"):
        if not path.strip():
            continue
        if not os.path.isabs(path):
            raise BootstrapError(f"{variable}={path!r} is not an absolute path: name it from /, or unset it")
        if not os.path.exists(path):
            how = "create it"
            if variable == ZIPAPP_CONFINE_WRITE:
                how += (
                    ", writable by the service's user (a DynamicUser= unit's uid is not fixed: use a directory under "
                    "its state directory, which systemd makes the service's)"
                )
            message = f"{variable}={path!r} does not exist: {how}, or drop it"
            raise BootstrapError(message)
        paths.append(path)
    return paths


def _ports(variable: str) -> list[int]:
    """The comma-separated TCP ports of ``variable`` (1 to 65535)."""
    ports = []
    for item in os.environ.get(variable, "").split(","):
        word = item.strip()
        if not word:
            continue
        if not (word.isdigit() and word.isascii() and 1 <= int(word) <= 65535):
            message = (
                f"{variable}={os.environ[variable]!r}: {word!r} is not a TCP port: "
                f"give ports from 1 to 65535, separated by commas (5432,6379)"
            )
            raise BootstrapError(message)
        ports.append(int(word))
    return sorted(set(ports))


def _temporary() -> tuple[str, str] | None:
    """The directory ``tempfile.gettempdir()`` picks (its candidates, without importing tempfile), and what names
    it. A unit's ``PrivateTmp=`` makes it the service's own."""
    for variable in ("TMPDIR", "TEMP", "TMP"):
        value = os.environ.get(variable)
        if value and os.path.isabs(value) and os.path.isdir(value):
            return value, f"{variable}={value}"
    for path in ("/tmp", "/var/tmp", "/usr/tmp"):  # noqa: S108 - tempfile's own candidates, named, not created
        if os.path.isdir(path):
            return path, f"the temporary directory {path} (TMPDIR unset)"
    return None


def _executables() -> list[str]:
    """The interpreter and the ELF loader its ``PT_INTERP`` names (as named: a rule is on the file a path opens)."""
    if not sys.executable:
        return []
    try:
        with open(sys.executable, "rb") as f:
            head = f.read(4096)
    except OSError:
        return [sys.executable]
    loader = _elf_interpreter(head)
    return [sys.executable, loader] if loader else [sys.executable]


def _elf_interpreter(head: bytes) -> str | None:
    """The ``PT_INTERP`` path of an ELF executable's first bytes, or None."""
    if head[:4] != b"\x7fELF" or len(head) < 64:
        return None
    wide, big = head[4] == 2, head[5] == 2

    def number(offset: int, size: int) -> int:
        return int.from_bytes(head[offset : offset + size], "big" if big else "little")

    phoff, phentsize, phnum = (
        (number(32, 8), number(54, 2), number(56, 2)) if wide else (number(28, 4), number(42, 2), number(44, 2))
    )
    for index in range(phnum):
        entry = phoff + index * phentsize
        if entry + phentsize > len(head):
            return None
        if number(entry, 4) == 3:  # PT_INTERP
            offset, size = (
                (number(entry + 8, 8), number(entry + 32, 8)) if wide else (number(entry + 4, 4), number(entry + 16, 4))
            )
            if offset + size > len(head):
                return None
            return head[offset : offset + size].rstrip(b"\0").decode("utf-8", "replace")
    return None


class _Kernel:
    """The system calls, through ``_ctypes`` (what ``ctypes.CDLL(None).syscall`` is, for a tenth of its cost). Every
    argument is a small ``int`` (passed as a C int, widened to the register as the ABI does for a variadic call), a
    ``bytes`` (passed as the address of its bytes: the rule's structure) or None (NULL); the result is a C int."""

    def __init__(self) -> None:
        import _ctypes as imported

        _ctypes: Any = imported  # typeshed types only ctypes' classes

        class Function(_ctypes.CFuncPtr):  # type: ignore[misc]
            _flags_ = _ctypes.FUNCFLAG_CDECL | _ctypes.FUNCFLAG_USE_ERRNO

        class Library:
            _handle = _ctypes.dlopen(None, 2)  # the process itself (RTLD_NOW): libc's symbols

        self.get_errno = _ctypes.get_errno
        self._syscall = Function(("syscall", Library()))
        self._prctl = Function(("prctl", Library()))

    def _checked(self, result: int) -> int:
        if result < 0:
            error: int = self.get_errno()
            raise OSError(error, os.strerror(error))
        return result

    def create_ruleset(self, attr: bytes | None, size: int, flags: int) -> int:
        return self._checked(self._syscall(SYSCALLS[0], attr, size, flags))

    def add_rule(self, ruleset: int, rule_type: int, attr: bytes) -> None:
        self._checked(self._syscall(SYSCALLS[1], ruleset, rule_type, attr, 0))

    def restrict_self(self, ruleset: int) -> None:
        self._checked(self._syscall(SYSCALLS[2], ruleset, 0))

    def abi(self) -> int:
        return self.create_ruleset(None, 0, CREATE_RULESET_VERSION)

    def no_new_privs(self) -> None:
        self._checked(self._prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))


def _u64(value: int) -> bytes:
    return value.to_bytes(8, sys.byteorder)


def confine(archive: str, site_packages: str, lock_files: Iterable[str] = (), started: float | None = None) -> None:
    """Apply the ruleset (``ZIPAPP_CONFINE=1``) and install the audit hook that names refusals. A bad
    ``ZIPAPP_CONFINE_*`` value is a :class:`BootstrapError` before anything is applied. ``started``: the
    :func:`time.perf_counter` the step's cost is counted from (default: now)."""
    global elapsed
    import time

    started = time.perf_counter() if started is None else started
    try:
        _confine(archive, site_packages, lock_files)
    finally:
        elapsed = time.perf_counter() - started


def _confine(archive: str, site_packages: str, lock_files: Iterable[str]) -> None:
    rules = Rules(archive, os.path.dirname(site_packages), lock_files)
    kernel_name = f"kernel {os.uname().release.split('-')[0]}" if hasattr(os, "uname") else sys.platform
    if sys.platform != "linux":
        sys.stderr.write(f"{PREFIX}nothing confined: Landlock is Linux's ({sys.platform})\n")
        return
    if os.uname().machine not in ARCHITECTURES:
        sys.stderr.write(f"{PREFIX}nothing confined: Landlock's system calls are not known on {os.uname().machine}\n")
        return
    try:
        kernel = _Kernel()
        abi = kernel.abi()
    except OSError as e:
        if e.errno == EOPNOTSUPP:
            why = f"Landlock is off in this {kernel_name} (add landlock to its lsm= boot parameter)"
        else:
            why = f"no Landlock system calls ({kernel_name}: before Linux 5.13, or a seccomp filter refuses them)"
        sys.stderr.write(f"{PREFIX}nothing confined: {why}\n")
        return
    except (ImportError, AttributeError) as e:  # an interpreter without _ctypes
        sys.stderr.write(f"{PREFIX}nothing confined: no _ctypes in this Python ({e})\n")
        return
    for path in _paths(ZIPAPP_CONFINE_WRITE):  # exists (Rules checked); EACCES there is not the hook's to name
        if os.path.isdir(path) and not os.access(path, os.W_OK | os.X_OK):
            sys.stderr.write(
                f"{PREFIX}{ZIPAPP_CONFINE_WRITE}={path} is not writable by this process (uid {os.geteuid()}): writes "
                f"there fail. Make it the service's (a DynamicUser= unit's uid is not fixed: use a directory under "
                f"its state directory, which systemd makes the service's and needs no declaring; never one writable "
                f"by all)\n"
            )
    try:
        enforced = _apply(kernel, abi, rules)
    except OSError as e:  # Landlock is there and refused: asked for, confinement is not silently dropped
        message = (
            f"cannot confine the site: Landlock (ABI {abi}) refused its ruleset: {e.strerror}. Unset "
            f"ZIPAPP_CONFINE to run it unconfined"
        )
        raise BootstrapError(message) from None
    line = degraded(abi, kernel_name)
    if line:
        sys.stderr.write(f"{PREFIX}{line}\n")
    sys.addaudithook(_Hook(rules, network=enforced).function())


def _apply(kernel: _Kernel, abi: int, rules: Rules) -> bool:
    """Create the ruleset the ABI knows, add the rules, restrict this process: whether the network is confined."""
    handled_fs = FS_BY_ABI.get(abi, FS_BY_ABI[5])
    network = abi >= 4
    handled_net = BIND_TCP | CONNECT_TCP if network else 0
    scoped = SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL if abi >= 6 else 0
    size = 8 if abi < 4 else 16 if abi < 6 else 24
    attr = (_u64(handled_fs) + _u64(handled_net) + _u64(scoped))[:size]
    ruleset = kernel.create_ruleset(attr, size, 0)
    try:
        paths = [(path, (READ_FILE | EXECUTE) & handled_fs, "") for path in rules.executables]
        paths += [(path, READ & handled_fs, "") for path in rules.read]
        paths += [(path, READ & handled_fs, named) for path, named in rules.declared_read]
        paths += [(path, WRITE & handled_fs, named) for path, named in rules.write]
        paths += [
            (path, (READ_FILE | WRITE_FILE | TRUNCATE | IOCTL_DEV) & handled_fs, "") for path in rules.write_files
        ]
        _path_rules(kernel, ruleset, paths)
        if network:
            for rights, ports in ((CONNECT_TCP, rules.connect), (BIND_TCP, rules.bind)):
                for port in ports:
                    kernel.add_rule(ruleset, RULE_NET_PORT, _u64(rights) + _u64(port))
        kernel.no_new_privs()
        _sockets(kernel, rules.udp)
        kernel.restrict_self(ruleset)
    finally:
        os.close(ruleset)
    return network


def _sockets(kernel: _Kernel, udp: bool) -> None:
    """The seccomp filter on IP sockets (seccomp.py): TCP only, and UDP when ``udp``. Refused by the kernel, nothing
    of the application runs (asked for, confinement is not silently dropped)."""
    from .seccomp import install

    try:
        line = install(kernel._prctl, kernel.get_errno, udp)
    except OSError as e:
        message = (
            f"cannot confine the site: the kernel refused its seccomp filter on sockets: {e.strerror}. Unset "
            f"ZIPAPP_CONFINE to run it unconfined"
        )
        raise BootstrapError(message) from None
    if line is not None:
        sys.stderr.write(f"{PREFIX}{line}\n")


def _path_rules(kernel: _Kernel, ruleset: int, paths: list[tuple[str, int, str]]) -> None:
    """Allow each (path, rights, what names it) beneath its path (only a file's rights when it is a file). A path that
    cannot be opened is skipped (a system path this machine does not have), unless named (declared): then it is an
    error naming it; one that is not the file it was when checked (replaced meanwhile) is an error too. One loop, its
    names local: ~40 paths at every start."""
    add_rule, path_beneath, byteorder = kernel.add_rule, RULE_PATH_BENEATH, sys.byteorder
    flags, is_directory, seen = os.O_PATH | os.O_CLOEXEC, stat.S_ISDIR, _SEEN
    for path, rights, named in paths:
        try:
            fd = os.open(path, flags)
        except OSError as e:
            if named:
                raise BootstrapError(
                    f"{named} cannot be opened: {e.strerror}. Make it reachable by the service's user"
                ) from None
            continue
        try:
            opened = os.fstat(fd)
            if named and seen.get(path, (opened.st_dev, opened.st_ino)) != (opened.st_dev, opened.st_ino):
                raise BootstrapError(
                    f"{named} was replaced while the site started (its rule would be on another file than the one "
                    "checked): start it again, and find out what replaces it"
                )
            if not is_directory(opened.st_mode):
                rights &= FILE_RIGHTS
            add_rule(ruleset, path_beneath, rights.to_bytes(8, byteorder) + fd.to_bytes(4, byteorder, signed=True))
        finally:
            os.close(fd)


# -- the lines that say what to declare -----------------------------------------------------------------------------
#: Raised by the Django entry point (django_main.py) for each database the settings name by host and port: a client
#: written in C (libpq, mysqlclient) connects without Python's ``socket.connect`` event.
DATABASE_EVENT = "hatch_zipapp.database"
#: The audit events the hook looks at; it returns at once for every other.
WATCHED = frozenset(
    {
        "open",
        "sqlite3.connect",
        "socket.connect",
        "socket.bind",
        "subprocess.Popen",
        "os.exec",
        "os.posix_spawn",
        "os.system",
        DATABASE_EVENT,
    }
)
_WRITING = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
_INET = {2, 10}  # AF_INET, AF_INET6
_STREAM = 1  # SOCK_STREAM


class _Hook:
    """The audit hook: one line on stderr per distinct refusal the ruleset makes, naming what to declare."""

    def __init__(self, rules: Rules, network: bool) -> None:
        self.writable = tuple(_real(p).rstrip(os.sep) + os.sep for p, _ in rules.write)
        self.writable_files = frozenset(_real(p) for p in rules.write_files)
        self.own = (_real(rules.extraction), _real(rules.archive))
        self.executables = rules.executables  # their real paths on the first program run (_run)
        self.real_executables: frozenset[str] | None = None
        self.connect, self.bind = frozenset(rules.connect), frozenset(rules.bind)
        self.network = network
        self.said: set[str] = set()
        self.handlers: dict[str, Callable[[tuple[Any, ...]], str | None]] = {
            "open": self._open,
            "sqlite3.connect": self._database,
            "socket.connect": self._connect,
            "socket.bind": self._bind,
            "subprocess.Popen": self._run,
            "os.exec": self._run,
            "os.posix_spawn": self._run,
            "os.system": lambda args: self._refused("/bin/sh"),
            DATABASE_EVENT: self._named_database,
        }

    def function(self) -> Callable[[str, tuple[Any, ...]], None]:
        """The hook as a plain function, that returns at once for the events it does not watch: every audit event of
        the process calls it (Django raises ~25 a request, ``builtins.id`` most), and a hook that is a bound method
        costs 0.3 µs more each (docs/performance.md)."""
        call = self.__call__

        def hook(event: str, args: tuple[Any, ...], watched: frozenset[str] = WATCHED) -> None:
            if event in watched:
                call(event, args)

        return hook

    def __call__(self, event: str, args: tuple[Any, ...]) -> None:
        if event not in WATCHED:
            return
        try:
            line = self.handlers[event](args)
        except Exception:  # never in the application's way: a line not said
            return
        if line is not None and line not in self.said:
            self.said.add(line)
            sys.stderr.write(f"{PREFIX}{line}\n")
            sys.stderr.flush()

    def _open(self, args: tuple[Any, ...]) -> str | None:
        path, _, flags = args
        if not isinstance(flags, int) or not flags & _WRITING or isinstance(path, int) or path is None:
            return None
        real = os.path.realpath(os.fsdecode(path))
        if not real.startswith(os.sep) or real in self.writable_files or (real + os.sep).startswith(self.writable):
            return None
        extraction, archive = self.own
        if real in (archive, extraction) or real.startswith(extraction + os.sep):
            return f"writing {real} is refused: it is this site's own code, never written by a confined site"
        directory = os.path.dirname(real)
        return f'writing {real} is not declared: add "{directory}" to {TABLE} write, or --write to {COMMAND}'

    def _database(self, args: tuple[Any, ...]) -> str | None:
        """A SQLite database is opened for writing by C code (no ``open`` event), and its journal beside it."""
        database = args[0]
        if isinstance(database, (str, bytes, os.PathLike)):
            name = os.fsdecode(database)
            if name and name != ":memory:" and not name.startswith("file:"):
                return self._open((name, None, os.O_RDWR))
        return None

    def _address(self, args: tuple[Any, ...], ports: frozenset[int], verb: str) -> str | None:
        sock, address = args
        if not self.network or sock.family not in _INET or sock.type != _STREAM or not isinstance(address, tuple):
            return None
        host, port = address[0], address[1]
        if port in ports:
            return None
        where = f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
        return f'{verb} to {where} is not declared: add "{where}" to {TABLE} {verb}, or --{verb} to {COMMAND}'

    def _named_database(self, args: tuple[Any, ...]) -> str | None:
        """(setting, host, port): the line an undeclared port gets, said before the client's own error."""
        setting, host, port = args
        if not self.network or port in self.connect:
            return None
        where = f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
        return (
            f'connect to {where} ({setting}) is not declared: add "{where}" to {TABLE} connect, or --connect to '
            f"{COMMAND}"
        )

    def _connect(self, args: tuple[Any, ...]) -> str | None:
        return self._address(args, self.connect, "connect")

    def _bind(self, args: tuple[Any, ...]) -> str | None:
        return self._address(args, self.bind, "bind")

    def _run(self, args: tuple[Any, ...]) -> str | None:
        program = args[0]
        if program is None:  # subprocess.Popen without executable: the first argument
            first = args[1]
            program = first if isinstance(first, (str, bytes)) else first[0]
        program = os.fsdecode(program)
        if os.sep not in program:
            for directory in os.environ.get("PATH", os.defpath).split(os.pathsep):
                candidate = os.path.join(directory or ".", program)
                if os.path.isfile(candidate):
                    program = candidate
                    break
        if self.real_executables is None:
            self.real_executables = frozenset(os.path.realpath(p) for p in self.executables)
        if os.path.realpath(program) in self.real_executables:
            return None
        return self._refused(program)

    def _refused(self, program: str) -> str:
        interpreter = os.path.realpath(sys.executable)
        return (
            f"running {program} is refused: a confined site runs no program but its interpreter ({interpreter}, "
            f"as sys.executable). Do it in Python, or run the service without ZIPAPP_CONFINE"
        )
