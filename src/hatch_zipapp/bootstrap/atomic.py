"""An atomic directory (``_bootstrap/atomic.py`` in a .pyz): written in a work directory beside its final place, then
renamed there in one step, so that no process ever sees half of it; what it replaces, and leftovers, are set aside
under a name no start takes for an extraction and deleted afterwards. Model: pex's ``atomic_directory.py``.

Names in a root (``KEY`` is ``NAME_BUILDID``)::

    KEY                   a finished extraction
    .KEY.lock             its lock (locks.py)
    .KEY.tmp-PID          the work directory of the process extracting it
    .KEY.old-PID-N        set aside, being deleted
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

#: The mode of a finished extraction's top directory: writable by its owner only, readable by all (a root prepared
#: for a service that runs as another user).
MODE = 0o755
#: The mode of every directory below it: no one can add a file (an upload into ``MEDIA_ROOT`` inside the package,
#: data the next deploy's cleanup would delete) or change one; :func:`remove_tree` makes them writable to delete them.
READ_ONLY = 0o555
_serial = [0]  # numbers the directories this process sets aside: each name is new


class AtomicDirectory:
    """``base/key``, written through a work directory. :attr:`doomed` collects what to delete once done."""

    def __init__(self, base: str, key: str) -> None:
        self.base = base
        self.key = key
        self.final = os.path.join(base, key)
        self.work = os.path.join(base, f".{key}.tmp-{os.getpid()}")
        self.doomed: list[str] = []

    def is_finalized(self) -> bool:
        return os.path.isdir(self.final)

    def make_work_dir(self) -> str:
        """Create the (empty) work directory, private (0700) until :meth:`finalize`; one left by a dead process that
        had this PID is set aside first."""
        if os.path.lexists(self.work):
            self.set_aside(os.path.basename(self.work), self.key)
        os.mkdir(self.work, 0o700)
        os.chmod(self.work, 0o700)
        return self.work

    def discard(self) -> None:
        """Remove the work directory (the extraction failed)."""
        remove_tree(self.work)

    def finalize(self) -> None:
        """Rename the work directory into place; a finished directory already there (a forced re-extraction) is set
        aside first (and a file or link in its way, which no start would use)."""
        os.chmod(self.work, MODE)
        flush_file_system(self.work)  # every file and name of the work directory on disk before it is in place
        if os.path.lexists(self.final):
            self.set_aside(self.key)
        try:
            os.rename(self.work, self.final)
        except OSError:
            if not os.path.isdir(self.final):
                raise
            self.doomed.append(self.work)  # another process that opened a newer lock file won the race
        sync_directory(self.base)  # the rename itself, on disk

    def set_aside(self, entry: str, extraction: str | None = None) -> bool:
        """Rename ``base/entry`` to ``.EXTRACTION.old-PID-N`` (no start takes it for an extraction any more) and add
        it to :attr:`doomed`; whether that worked."""
        aside = set_aside(self.base, entry, extraction)
        if aside is None:
            return False
        self.doomed.append(aside)
        return True


def flush_file_system(path: str) -> None:
    """Write everything of the file system ``path`` is on to disk, and wait: ``syncfs`` where the C library has it
    (Linux), else ``sync``. After a power loss the fast path, which trusts any extraction in place, then never finds
    empty or truncated files. One call rather than an ``fsync`` per file: on the benchmark's disk, fsyncing 6,000
    files made a cold start 2.1 s slower, one ``syncfs`` costs about nothing more (docs/runtime.md)."""
    if os.name == "nt":  # pragma: no cover - NTFS journals its metadata; no sync call in os
        return
    try:
        syncfs = _libc("syncfs")
    except (ImportError, OSError, AttributeError):  # no _ctypes, or no syncfs in the C library (macOS)
        os.sync()
        return
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        if syncfs(fd) != 0:
            os.sync()
    finally:
        os.close(fd)


def _libc(name: str) -> Any:
    """The C library's function ``name``, called with ints and returning a C int, through ``_ctypes`` alone
    (``ctypes.CDLL(None).NAME``: 0.5 ms where the ``ctypes`` package costs 1.5 ms of imports at a cold start)."""
    import _ctypes

    module: Any = _ctypes  # typeshed types only ctypes' classes

    class Function(module.CFuncPtr):  # type: ignore[misc]
        _flags_ = module.FUNCFLAG_CDECL | module.FUNCFLAG_USE_ERRNO

    class Library:
        _handle = module.dlopen(None, 2)  # the process itself (RTLD_NOW): the C library's symbols

    return Function((name, Library()))


def flush_early(path: str) -> None:
    """:func:`flush_file_system` started while an extraction is still being written (zipread.write_members runs it
    in a thread of its own, part way): the disk writes what is written so far while the rest is inflated, and the
    flush before the rename, which alone makes the extraction durable, waits only for the rest (on the benchmark's
    disk: that flush 72 ms -> 19 ms, the writing itself no slower). A fault here is left to that flush to meet."""
    try:  # noqa: SIM105 - contextlib: one module more to import
        flush_file_system(path)
    except OSError:
        pass


def sync_directory(path: str) -> None:
    """fsync a directory: the names in it (files made, renames) are on disk. Not on Windows (no such call)."""
    if os.name == "nt":  # pragma: no cover
        return
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def set_aside(base: str, entry: str, extraction: str | None = None) -> str | None:
    """Rename ``base/entry`` to ``.EXTRACTION.old-PID-N`` (``EXTRACTION`` defaults to ``entry``); the new path, or
    None if it could not be renamed (gone, or taken by another process)."""
    _serial[0] += 1
    aside = os.path.join(base, f".{extraction or entry}.old-{os.getpid()}-{_serial[0] - 1}")
    try:
        os.rename(os.path.join(base, entry), aside)
    except OSError:
        return None
    return aside


def make_read_only(top: str, known: list[str] | None = None) -> None:
    """Every directory below ``top`` (not ``top`` itself, nor through a link) :data:`READ_ONLY`: writes into an
    extraction fail at once, loudly, instead of being lost at the next cleanup. ``known``: those directories,
    relative to ``top``, when the caller made them all (no walk of thousands of files on a cold start)."""
    if known is not None:
        for name in known:
            os.chmod(os.path.join(top, name), READ_ONLY)
        return
    for parent, directories, _ in os.walk(top):
        for name in directories:
            path = os.path.join(parent, name)
            if not os.path.islink(path):
                os.chmod(path, READ_ONLY)


def remove_tree(path: str) -> None:
    """Delete the directory ``path`` (an extraction, set aside or half-written): its read-only directories are made
    writable first (never through a link), then everything goes; errors are ignored (a later cleanup retries)."""
    import shutil

    if os.path.islink(path) or not os.path.isdir(path):
        return
    try:  # noqa: SIM105 - contextlib: one module more to import
        os.chmod(path, 0o700)
    except OSError:
        pass
    for parent, directories, _ in os.walk(path):
        for name in directories:
            child = os.path.join(parent, name)
            if not os.path.islink(child):
                try:  # noqa: SIM105
                    os.chmod(child, 0o700)
                except OSError:
                    pass
    shutil.rmtree(path, ignore_errors=True)
    if os.path.isdir(path) and not os.path.islink(path):
        # rmtree holds a descriptor for each level it is in: at the open files limit (the very fault that may have
        # stopped this extraction) it gives up. One directory open at a time, names unlinked by path, then.
        for parent, directories, files in os.walk(path, topdown=False):
            for name in files + directories:
                child = os.path.join(parent, name)
                try:
                    if os.path.isdir(child) and not os.path.islink(child):
                        os.rmdir(child)
                    else:
                        os.unlink(child)
                except OSError:
                    pass
        try:  # noqa: SIM105 - contextlib: one module more to import
            os.rmdir(path)
        except OSError:
            pass


def delete_in_background(paths: list[str]) -> None:
    """Delete ``paths`` while the application starts, not before: an old extraction is thousands of files, which
    took 1.3 s on the disk of the benchmark. The process waits for it at exit; a deletion cut short (Ctrl-C, a
    service stopped, which signal the deleting process too) leaves a ``.old-PID`` directory, which the next
    extraction deletes.

    On POSIX the deleting is done by a process of its own, never by a thread of the application's process: a server
    that forks its workers from C (uWSGI) while another thread holds the GIL gets workers that wait for it forever,
    and a thread alive at ``os.fork`` is a deadlock risk Python 3.12 warns about. The deleting process is a
    grandchild, so no server reaping its children (uWSGI's master, gunicorn's arbiter) sees it, unless the server is
    PID 1 or a subreaper; the application's process waits at exit for the end of a pipe only that grandchild holds.
    """
    import atexit

    if not hasattr(os, "fork"):
        import threading

        worker = threading.Thread(target=_delete, args=(paths,), name="hatch-zipapp-cleanup", daemon=True)
        worker.start()
        atexit.register(worker.join)
        return
    read_end, write_end = (_above_stdio(end) for end in os.pipe())  # not inherited by programs this process runs
    try:
        child = os.fork()
    except OSError:  # no process left to start (a process limit): delete now, the start waits
        os.close(read_end)
        os.close(write_end)
        _delete(paths)
        return
    if child == 0:
        try:
            os.close(read_end)
            try:
                grandchild = os.fork()
            except OSError:  # no process left for a grandchild (a process limit): this child deletes, the start waits
                grandchild = 0
            if grandchild == 0:  # the grandchild: deletes, holding the pipe's write end until it exits
                import shutil  # noqa: F401 - (remove_tree's) before the archive's descriptor is closed below

                null = os.open(os.devnull, os.O_RDWR)
                for fd in (0, 1, 2):  # keeps no caller's pipe or terminal open ($(./app.pyz ...) returns with the app)
                    os.dup2(null, fd)
                # Nothing of the application either: not the shared lock that marks its extraction in use (an
                # application that exits without waiting, as uWSGI's master does, would leave it in use for as long
                # as the deletion runs, and the next start could not set it aside), nor the archive, nor its files.
                os.closerange(3, write_end)
                os.closerange(write_end + 1, _MAX_FD)
                _delete(paths)
        finally:
            os._exit(0)  # a forked child: no atexit, no flush of the parent's buffers
    os.close(write_end)
    try:  # noqa: SIM105 - contextlib: one module more to import
        os.waitpid(child, 0)  # at once: the child's only work is to start the grandchild (or to delete, if it cannot)
    except ChildProcessError:  # reaped already: SIGCHLD ignored, as a program that started this one may leave it
        pass
    owner, pipe = os.getpid(), os.fstat(read_end)

    def wait() -> None:
        if os.getpid() != owner:  # a worker forked from this process: not the one that waits
            return
        try:
            now = os.fstat(read_end)
        except OSError:  # closed by the application (a daemon library closes every descriptor)
            return
        if (now.st_dev, now.st_ino) != (pipe.st_dev, pipe.st_ino):  # and its number reused: not ours to read, nor close
            return
        try:
            while os.read(read_end, 1):
                pass
        except (OSError, KeyboardInterrupt):  # interrupted at exit: the deletion goes on by itself
            pass
        finally:
            os.close(read_end)

    atexit.register(wait)


#: Above every descriptor a process may hold (os.closerange closes them in one call where the kernel can).
_MAX_FD = 1 << 20


def _above_stdio(fd: int) -> int:
    """``fd``, or a copy of it numbered 3 or more (``fd`` closed): a process started with its stdin, stdout and stderr
    closed gets a pipe numbered 1 and 2, and the write end, which the deleting process's ``/dev/null`` replaced, was
    closed before the deletion ended (the application exited while it went on)."""
    below = []
    while fd <= 2:
        below.append(fd)
        fd = os.dup(fd)  # the lowest free number, not inherited by programs (as os.pipe's)
    for number in below:
        os.close(number)
    return fd


def _delete(paths: list[str]) -> None:
    for path in paths:
        if os.path.isdir(path) and not os.path.islink(path):
            remove_tree(path)
        else:  # a file or link that was in an extraction's way
            try:  # noqa: SIM105 - contextlib: one module more to import
                os.unlink(path)
            except OSError:
                pass
