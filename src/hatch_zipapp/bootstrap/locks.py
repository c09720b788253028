"""A file lock with a shared and an exclusive mode (``_bootstrap/locks.py`` in a .pyz), and a bounded wait.

POSIX: ``flock`` on the lock file (released by the kernel when the process dies, however it dies). Windows has no
shared mode (``msvcrt.locking`` locks a byte range exclusively): there a shared lock is not taken (always granted)
and the exclusive one locks the first byte, so two extractions still exclude each other. The platform's module is
imported here only. Models: shiv's ``bootstrap/filelock.py``, pex's ``fs/lock.py``.
"""

from __future__ import annotations

import errno
import os
import stat
import sys
import time

from .documents import DEFAULT_LOCK_TIMEOUT, ZIPAPP_LOCK_TIMEOUT, BootstrapError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]
    import msvcrt
else:
    msvcrt = None  # type: ignore[assignment]

_BUSY = {errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK, errno.EDEADLK}
#: Never through a symbolic link, never inherited by a child; only the owner can open it (so only the owner can
#: hold it and make others wait).
FLAGS = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
MODE = 0o600


class FileLock:
    """A lock file opened once; :meth:`try_shared` and :meth:`try_exclusive` never block, and switch the mode of a
    lock already held (POSIX ``flock`` converts it)."""

    def __init__(self, path: str) -> None:
        self.path = path
        try:
            self.fd = os.open(path, FLAGS, MODE)
        except OSError as e:
            if e.errno == errno.ELOOP:
                message = f"refusing the lock file {path}: it is a symbolic link. Delete it"
            else:
                message = f"cannot open the lock file {path}: {e.strerror}"
            raise BootstrapError(message) from None
        if os.name != "nt":  # pragma: no branch
            st = os.fstat(self.fd)
            why = None
            if not stat.S_ISREG(st.st_mode):  # a FIFO (opened read-write: no hang) or a device
                why = "it is not a regular file"
            elif st.st_uid != os.geteuid():
                owner = "root" if st.st_uid == 0 else "another user"
                why = f"{owner} (uid {st.st_uid}) made it, not you (uid {os.geteuid()})"
            if why is not None:
                os.close(self.fd)
                raise BootstrapError(f"refusing the lock file {path}: {why}. Delete it")
            if stat.S_IMODE(st.st_mode) != MODE:  # made by an earlier hatch-zipapp (0644): anyone could lock it
                os.fchmod(self.fd, MODE)

    def try_shared(self) -> bool:
        if fcntl is None:  # pragma: no cover - Windows: no shared mode
            return True
        return self._try(fcntl.LOCK_SH)

    def try_exclusive(self) -> bool:
        if fcntl is None:  # pragma: no cover - Windows
            try:
                msvcrt.locking(self.fd, msvcrt.LK_NBLCK, 1)
            except OSError:
                return False
            return True
        return self._try(fcntl.LOCK_EX)

    def shared(self) -> None:
        """Hold it shared, blocking (from exclusive: a conversion, granted at once)."""
        if fcntl is not None:
            fcntl.flock(self.fd, fcntl.LOCK_SH)

    def unlock(self) -> None:
        if fcntl is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
        else:  # pragma: no cover - Windows
            try:  # noqa: SIM105 - contextlib: one module more to import at every start
                msvcrt.locking(self.fd, msvcrt.LK_UNLCK, 1)
            except OSError:
                pass

    def close(self) -> None:
        os.close(self.fd)

    def _try(self, operation: int) -> bool:
        try:
            fcntl.flock(self.fd, operation | fcntl.LOCK_NB)
        except OSError as e:
            if e.errno not in _BUSY:
                raise
            return False
        return True


def holders(path: str) -> list[int] | None:
    """The processes (as this PID namespace sees them) holding a ``flock`` on the file ``path``, from Linux's
    ``/proc/locks`` (none: they are not visible from here, another container); None where it cannot be told."""
    try:
        st = os.stat(path)
        with open("/proc/locks", encoding="ascii", errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:  # not Linux, or no /proc
        return None
    where = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    found = set()
    for line in lines:  # "1: FLOCK  ADVISORY  WRITE 1234 fe:00:2146387 0 EOF"; "1: -> FLOCK ..." waits for it
        fields = line.split()
        if len(fields) >= 6 and fields[1] == "FLOCK" and fields[5] == where and fields[4].isdigit():
            found.add(int(fields[4]))
    return sorted(found - {0})


def held_by(path: str) -> str:
    """Who holds the lock ``path``, for a message: ``PID 12``, ``PIDs 12, 13``, or that none is visible."""
    found = holders(path)
    if found is None:
        return "another process"
    pids = [pid for pid in found if pid != os.getpid()]
    if not pids:
        return "a process not visible from here (another container?)"
    return f"PID{'s' if len(pids) > 1 else ''} {', '.join(map(str, pids))}"


def lock_timeout() -> float:
    """``$ZIPAPP_LOCK_TIMEOUT``: a number of seconds, 0 or more (default 300; ``inf``: no limit); anything else
    (``nan``, which never compares, waited forever) is an error."""
    value = os.environ.get(ZIPAPP_LOCK_TIMEOUT)
    if value is None or not value.strip():
        return DEFAULT_LOCK_TIMEOUT
    try:
        timeout = float(value)
    except ValueError:
        timeout = -1.0
    if not timeout >= 0:  # also true for nan
        message = f"${ZIPAPP_LOCK_TIMEOUT}={value!r} is not a number of seconds: set it to one, e.g. 300 (the default)"
        raise BootstrapError(message)
    return timeout


#: Seconds a start waits for a lock before it says so (one line on stderr), as the embedded launcher does.
SAY_WAITING_AFTER = 2.0


def wait(attempt: Callable[[], str | None], path: str, what: str) -> str:
    """Call ``attempt`` until it returns a result, for at most ``$ZIPAPP_LOCK_TIMEOUT`` seconds (default 300)."""
    timeout = lock_timeout()
    started = time.monotonic()
    deadline = started + timeout
    delay = 0.002
    said = False
    while True:
        result = attempt()
        if result is not None:
            return result
        if not said and time.monotonic() - started >= SAY_WAITING_AFTER and deadline > started + SAY_WAITING_AFTER:
            said = True  # one line, as the embedded launcher says it: a start that waits is never silent
            program = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "app.pyz"
            sys.stderr.write(
                f"{program}: waiting for another process {what} (lock: {path}, held by {held_by(path)}), for at most "
                f"{timeout:g} s ({ZIPAPP_LOCK_TIMEOUT})\n"
            )
            sys.stderr.flush()
        if time.monotonic() >= deadline:  # a flock is released by the kernel when its holder dies: one is alive
            message = (
                f"waited {timeout:g} s for another process {what} (lock: {path}, held by {held_by(path)}). If it is "
                f"stuck (stopped or hung), end it; never delete the lock file while it runs. {ZIPAPP_LOCK_TIMEOUT} "
                f"sets how long to wait"
            )
            raise BootstrapError(message)
        time.sleep(delay)
        delay = min(delay * 2, 0.05)
