"""A build's temporary files and directories, and the removal of those a killed build left behind.

A build writes each .pyz under a temporary name beside its final one (renamed into place when every target is built),
and stages, compiles bytecode and builds sdists in directories under the system's temporary directory. A build that is
killed (SIGKILL, the OOM killer, a power loss) cannot remove them: ~100 MB per kill on a large site. So each one is:

- **recognisably ours**: ``.NAME.RANDOM.hatch-zipapp.tmp`` beside the artifact and
  ``hatch-zipapp-KIND.RANDOM.hatch-zipapp.tmp`` in the temporary directory, owned by the user who runs the build;
- **held** under an exclusive ``flock`` for as long as its build uses it. It is created under another name (ending in
  ``.hatch-zipapp.new``), locked, and only then renamed to the name above, so it never carries that name unlocked
  while its build is alive. The kernel drops a process's locks when it dies, whatever killed it.

:func:`sweep` (run by every build, and by ``hatch build -c -t zipapp``) removes what carries our name, belongs to the
running user, is a plain file or directory (a symlink is never followed) and can be locked: its build is dead. Another
build's files, running now, are locked and stay, whatever its PID namespace or host (the lock is on the file itself).
Where ``flock`` does not exist (Windows), nothing is judged left over. Files of hatch-zipapp versions before this
scheme (``.NAME.XXXXXXXX.tmp``, ``hatch-zipapp-pyc-XXXXXXXX``) carry no lock, so nothing proves them dead: they are
left alone.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import stat
import tempfile
import threading
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, cast

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "SPOOL_THRESHOLD",
    "Kept",
    "Spool",
    "atomic_write",
    "beside",
    "create_beside",
    "create_in",
    "directory",
    "discard",
    "rename",
    "set_aside",
    "sweep",
    "sweep_all",
    "write_beside",
]

MARK = ".hatch-zipapp.tmp"
_NEW = ".hatch-zipapp.new"
_PREFIX = "hatch-zipapp-"

_held: dict[Path, int] = {}  # a temporary file → the descriptor that holds its lock until it is renamed or discarded
_held_lock = threading.Lock()


#: How many bytes a :class:`Spool` keeps in memory (by default); the rest go to its temporary file, so that a large
#: site (~100 MB staged) is not held in memory; a small project's tree (1 MiB) stays there.
SPOOL_THRESHOLD = 1024 * 1024
_BUFFER = 1024 * 1024
_pread = getattr(os, "pread", None)


class Spool:
    """Where a build keeps bytes past a threshold (a staging tree's files, the files fetched): one unnamed temporary
    file (gone with the process, whatever ends it), appended to, read back at an offset (by several threads: the
    bytecode stage's). Closed by :meth:`close`, or when the spool is no longer referenced."""

    def __init__(self, threshold: int = SPOOL_THRESHOLD) -> None:
        self.threshold = threshold
        self.in_memory = 0
        self._file: BinaryIO | None = None
        self._size = 0
        self._unflushed = False
        self._lock = threading.Lock()

    def keep(self, data: bytes) -> int | None:
        """Keep ``data``: its offset in the file, or None when it stays in memory (under the threshold)."""
        if self.in_memory + len(data) <= self.threshold:
            self.in_memory += len(data)
            return None
        return self.append(data)

    def append(self, data: bytes) -> int:
        """Append ``data`` to the file (whatever the threshold): its offset. Pieces appended one after the other by
        one writer are contiguous (a large file streamed in, :meth:`Kept.spooled`)."""
        with self._lock:
            if self._file is None:
                self._file = cast(BinaryIO, tempfile.TemporaryFile(buffering=_BUFFER))  # noqa: SIM115 (see close)
                weakref.finalize(self, self._file.close)
            offset = self._size
            self._file.write(data)  # appended: the file's position is always its end (reads use pread)
            self._size += len(data)
            self._unflushed = True
        return offset

    def read(self, offset: int, size: int) -> bytes:
        with self._lock:
            assert self._file is not None
            if self._unflushed:
                self._file.flush()
                self._unflushed = False
            if _pread is None:  # pragma: no cover (Windows)
                self._file.seek(offset)
                unread = self._file.read(size)
                self._file.seek(self._size)
                return unread
            data: bytes = _pread(self._file.fileno(), size, offset)
            return data

    def chunks(self, offset: int, size: int, chunk: int = 1024 * 1024) -> Iterator[bytes]:
        """The ``size`` bytes at ``offset``, ``chunk`` bytes at a time."""
        for start in range(offset, offset + size, chunk):
            yield self.read(start, min(chunk, offset + size - start))

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None


class Kept:
    """Bytes kept in a :class:`Spool` (or in memory, without one)."""

    __slots__ = ("_data", "_offset", "_spool", "size")

    def __init__(self, data: bytes, spool: Spool | None) -> None:
        self.size = len(data)
        self._spool = spool
        self._offset = None if spool is None else spool.keep(data)
        self._data = data if self._offset is None else None

    @classmethod
    def spooled(cls, spool: Spool, offset: int, size: int) -> Kept:
        """The ``size`` bytes already appended to ``spool`` at ``offset``."""
        kept = cls(b"", None)
        kept.size, kept._spool, kept._offset, kept._data = size, spool, offset, None
        return kept

    @property
    def data(self) -> bytes:
        if self._data is not None:
            return self._data
        assert self._spool is not None and self._offset is not None
        return self._spool.read(self._offset, self.size)

    def chunks(self) -> Iterator[bytes]:
        """The bytes, a piece at a time (a large file is never read whole from the spool)."""
        if self._data is not None:
            yield self._data
            return
        assert self._spool is not None and self._offset is not None
        yield from self._spool.chunks(self._offset, self.size)


def _hold(fd: int) -> int:
    """Lock ``fd`` (exclusive, as long as the returned duplicate is open); -1 where there is no flock."""
    if fcntl is None:
        return -1
    fcntl.flock(fd, fcntl.LOCK_EX)
    return os.dup(fd)  # the lock belongs to the open file, which stays open while this duplicate does


def _release(path: Path) -> None:
    with _held_lock:
        fd = _held.pop(path, -1)
    if fd >= 0:
        os.close(fd)


def create_beside(destination: Path) -> tuple[int, Path]:
    """A new file beside ``destination`` (same file system, so a rename puts it in place), held: an open descriptor
    to write it through, and its path. Give it to :func:`rename` or :func:`discard` when done."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    fd, new = tempfile.mkstemp(dir=destination.parent, prefix=f".{destination.name}.", suffix=_NEW)
    path = Path(new.removesuffix(_NEW) + MARK)
    try:
        held = _hold(fd)
        os.rename(new, path)
    except BaseException:
        os.close(fd)
        Path(new).unlink(missing_ok=True)
        raise
    with _held_lock:
        _held[path] = held
    return fd, path


def create_in(directory: int, name: str) -> tuple[int, str]:
    """:func:`create_beside` relative to a directory open as ``directory`` (so the file is made in that directory,
    whatever has become of its path since it was opened and checked): a new file for ``name``, 0600 whatever the
    umask, and held by the descriptor returned, open for writing, and the file's name. Rename it into place (or
    remove it) relative to ``directory``, then close the descriptor."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    while True:
        new = f".{name}.{secrets.token_hex(4)}{_NEW}"
        try:
            fd = os.open(new, flags, 0o600, dir_fd=directory)
            break
        except FileExistsError:  # pragma: no cover - 2**32 names
            continue
    held = new.removesuffix(_NEW) + MARK
    try:
        os.fchmod(fd, 0o600)
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)  # held as long as fd is open: the caller's
        os.rename(new, held, src_dir_fd=directory, dst_dir_fd=directory)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(new, dir_fd=directory)
        raise
    return fd, held


@contextlib.contextmanager
def beside(destination: Path, mode: int | None = None) -> Iterator[tuple[BinaryIO, Path]]:
    """A new file beside ``destination`` (see :func:`create_beside`) to write, with ``mode`` once written (else the
    0600 of a temporary file), removed if the block fails. The caller puts it in place with :func:`rename` or
    removes it with :func:`discard`; until then it is held, so a killed build's is known for a leftover."""
    fd, path = create_beside(destination)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f, path
        if mode is not None:
            path.chmod(mode)
    except BaseException:
        discard(path)
        raise


def write_beside(destination: Path, data: bytes, mode: int | None = None) -> Path:
    """``data`` in a new file beside ``destination`` (:func:`beside`), for the caller to rename into place."""
    with beside(destination, mode) as (f, path):
        f.write(data)
    return path


def atomic_write(path: Path, data: bytes) -> None:
    """``data`` at ``path``, through a file beside it and a rename: never seen half-written. What killed builds left
    in that directory is removed first (:func:`sweep`)."""
    sweep(path.parent, ".")
    rename(write_beside(path, data), path)


def rename(temporary: Path, final: Path) -> None:
    """Put a file made by :func:`create_beside` in place, and let go of it."""
    try:
        os.replace(temporary, final)
    finally:
        _release(temporary)


def discard(temporary: Path) -> None:
    """Remove a file made by :func:`create_beside` (if it is still there), and let go of it."""
    try:
        temporary.unlink(missing_ok=True)
    finally:
        _release(temporary)


@contextlib.contextmanager
def directory(kind: str) -> Iterator[Path]:
    """A new directory in the system's temporary directory, held while the block runs, then removed."""
    new = tempfile.mkdtemp(prefix=f"{_PREFIX}{kind}.", suffix=_NEW)
    path = Path(new.removesuffix(_NEW) + MARK)
    fd = -1
    try:
        if fcntl is not None:
            fd = os.open(new, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            fcntl.flock(fd, fcntl.LOCK_EX)
        os.rename(new, path)
    except BaseException:
        if fd >= 0:
            os.close(fd)
        shutil.rmtree(new, ignore_errors=True)
        raise
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
        if fd >= 0:
            os.close(fd)


def sweep(where: Path | int, prefix: str) -> int:
    """Remove the files and directories named ``PREFIX...hatch-zipapp.tmp`` in ``where`` (a path, or a directory
    open as a descriptor) whose build is dead (see the module's docstring); how many were removed."""
    if fcntl is None:
        return 0
    try:
        entries = list(os.scandir(where))
    except OSError:
        return 0
    dir_fd = where if isinstance(where, int) else None
    removed = 0
    for entry in entries:
        if entry.name.startswith(prefix) and entry.name.endswith(MARK) and _remove_if_dead(entry, dir_fd):
            removed += 1
    return removed


def _remove_if_dead(entry: os.DirEntry[str], dir_fd: int | None = None) -> bool:
    assert fcntl is not None
    try:
        info = entry.stat(follow_symlinks=False)
    except OSError:
        return False
    is_directory = stat.S_ISDIR(info.st_mode)
    if info.st_uid != os.getuid() or not (is_directory or stat.S_ISREG(info.st_mode)):
        return False  # another user's, or a symlink or device planted under our name
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | (os.O_DIRECTORY if is_directory else 0)
    try:
        fd = os.open(entry.path, flags, dir_fd=dir_fd)
    except OSError:
        return False
    try:
        opened = os.fstat(fd)
        if (opened.st_dev, opened.st_ino) != (info.st_dev, info.st_ino):
            return False  # replaced since it was listed
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False  # held: its build is running
        if is_directory:
            shutil.rmtree(entry.path, ignore_errors=True, dir_fd=dir_fd)
        else:
            os.unlink(entry.path, dir_fd=dir_fd)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def sweep_all(output: Path) -> int:
    """The leftovers of killed builds beside the artifacts in ``output`` and in the system's temporary directory."""
    return sweep(output, ".") + sweep(Path(tempfile.gettempdir()), _PREFIX)


def set_aside(final: Path) -> Path | None:
    """Move an existing ``final`` out of the way under a held temporary name beside it (None when there is none), so
    that a failed build can put it back with :func:`rename` or a finished one drop it with :func:`discard`."""
    try:
        fd = os.open(final, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        held = _hold(fd)  # the lock is on the old file itself, so a sweep never takes it while this build is alive
    finally:
        os.close(fd)
    path = final.with_name(f".{final.name}.{secrets.token_hex(8)}{MARK}")
    try:
        os.rename(final, path)
    except BaseException:
        if held >= 0:
            os.close(held)
        raise
    with _held_lock:
        _held[path] = held
    return path
