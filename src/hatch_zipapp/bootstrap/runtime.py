"""The runtime of every hatch-zipapp .pyz (written into it as ``_bootstrap/__init__.py``). Standard library only.

On start (once ``__main__.py``, bootstrap/check.py, has checked that this interpreter fits the .pyz) it:

1. prints the build information and exits, without extracting, when ``ZIPAPP_INFO=1``;
2. finds where to extract: ``$ZIPAPP_ROOT``, else shiv's ``$SHIV_ROOT``, else systemd's ``$CACHE_DIRECTORY`` (its
   first entry), else ``$XDG_CACHE_HOME/hatch-zipapp``, else ``~/.cache/hatch-zipapp``; none writable is an error
   that names the variable to set, never a traceback;
3. uses ``ROOT/NAME_BUILDID`` when it exists (the fast path: no exclusive lock, no waiting, no extraction), holding a
   shared lock on it for the process's life so cleanup never removes an extraction in use;
4. otherwise waits (at most ``$ZIPAPP_LOCK_TIMEOUT`` seconds) for either the build's exclusive lock or another
   process's finished extraction; with the lock, extracts ``site-packages`` (a few threads, every CRC checked) into a
   temporary directory, compiles bytecode there if the archive has none, and renames it into place: a process
   killed midway leaves only a temporary directory, which the next extraction removes;
5. sets aside older extractions of the same application, keeping ``$ZIPAPP_KEEP`` (default 2) and any in use, and
   deletes them in a background thread while the application starts (waiting for it at exit);
6. puts the extraction on ``sys.path`` *without* the host interpreter's site-packages, dist-packages or user site
   (``ZIPAPP_INHERIT_SITE=1`` keeps them), and runs the entry point. shiv's variables keep working:
   ``SHIV_ROOT``, ``SHIV_ENTRY_POINT``/``SHIV_MODULE``, ``SHIV_CONSOLE_SCRIPT``, ``SHIV_INTERPRETER``,
   ``SHIV_FORCE_EXTRACT``, ``SHIV_COMPILE_PYC``, ``SHIV_COMPILE_WORKERS``, ``SHIV_PREPEND_PYTHONPATH``,
   ``SHIV_EXTEND_PYTHONPATH``.
"""

from __future__ import annotations

import errno
import json
import os
import sys
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    #: (name, compression, compressed size, size, offset of the local header in the .pyz, crc32, st_mode) of one
    #: member of site-packages.zip.
    Member = tuple[str, int, int, int, int, int, int]

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: extraction still works, without cross-process locks
    fcntl = None  # type: ignore[assignment]

SITE_PACKAGES = "site-packages"
SITE_PACKAGES_ZIP = "site-packages.zip"  # stored in the .pyz: the zip of site-packages/... (hatch_zipapp/layout.py)
INFO_FILE = "hatch-zipapp.json"
_held: list[int] = []  # lock file descriptors kept open for the life of the process


class BootstrapError(Exception):
    """A problem the user can fix: printed as one message, without a traceback."""


def _flag(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _archive() -> str:
    """The .pyz, as the path Python was given (``./app.pyz``, ``d//app.pyz``, a symlink): the zipimporter that loaded
    this module keeps it so, as its ``archive`` and as the key of its index in ``zipimport._zip_directory_cache``.
    Normalising it (``abspath``) would name a file the zipimporter does not know: every use goes through this one."""
    archive = getattr(globals().get("__loader__"), "archive", None)
    if isinstance(archive, str):
        return archive
    # Imported some other way: this module is .../app.pyz/_bootstrap/__init__.py
    return os.path.dirname(os.path.dirname(__file__))  # pragma: no cover


def _program() -> str:
    return os.path.basename(sys.argv[0] or _archive())


def _read(archive: str, member: str) -> bytes:
    """A member of the archive, through the zipimporter that loaded this module (its index is already read)."""
    loader = globals().get("__loader__")
    get_data = getattr(loader, "get_data", None)
    if get_data is not None and getattr(loader, "archive", None) == archive:
        return get_data(os.path.join(archive, member))  # type: ignore[no-any-return]
    import zipfile

    with zipfile.ZipFile(archive) as zf:  # pragma: no cover - imported some other way
        return zf.read(member)


def bootstrap() -> None:
    archive = _archive()
    try:
        environment = json.loads(_read(archive, "environment.json"))
        if _flag("ZIPAPP_INFO"):
            sys.stdout.write(_read(archive, INFO_FILE).decode("utf-8"))
            sys.exit(0)
        site_packages = extract(archive, environment)
    except BootstrapError as e:
        sys.stderr.write(f"{_program()}: {e}\n")
        sys.exit(1)
    set_path(archive, site_packages, environment)
    run(site_packages, environment)


# -- where ---------------------------------------------------------------------------------------------------------


def _writable(path: str) -> bool:
    try:
        os.makedirs(path, exist_ok=True)
    except OSError:
        return False
    return os.access(path, os.W_OK | os.X_OK)


def root(name: str) -> str:
    """The directory extractions live in."""
    for variable in ("ZIPAPP_ROOT", "SHIV_ROOT"):
        value = os.environ.get(variable)
        if value:
            if value.startswith("$"):  # shiv's indirection: SHIV_ROOT=$OTHER_VARIABLE
                value = os.environ.get(value[1:], "")
            path = os.path.abspath(os.path.expanduser(value))
            if not _writable(path):
                message = f"cannot extract {name} into ${variable}={path}: it is not a writable directory"
                raise BootstrapError(message)
            return path
    tried = []
    candidates = []
    cache_directory = os.environ.get("CACHE_DIRECTORY")
    if cache_directory:
        candidates.append(("$CACHE_DIRECTORY", cache_directory.split(":")[0]))
    if os.environ.get("XDG_CACHE_HOME"):
        candidates.append(("$XDG_CACHE_HOME", os.path.join(os.environ["XDG_CACHE_HOME"], "hatch-zipapp")))
    home = os.environ.get("HOME")
    if home:
        candidates.append(("$HOME", os.path.join(home, ".cache", "hatch-zipapp")))
    for variable, path in candidates:
        if _writable(path):
            return os.path.abspath(path)
        tried.append(f"{path} (from {variable})")
    message = (
        f"no writable directory to extract {name} into (tried: {', '.join(tried) or 'none: no $HOME'}). "
        f"Set ZIPAPP_ROOT to a writable directory, or under systemd give the unit CacheDirectory={name}"
    )
    raise BootstrapError(message)


# -- locks ---------------------------------------------------------------------------------------------------------


def _open_lock(path: str) -> int:
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        message = f"cannot open the lock file {path}: {e.strerror}"
        raise BootstrapError(message) from None


def _wait(attempt: Callable[[], str | None], path: str, what: str) -> str:
    """Call ``attempt`` until it returns a result, for at most ``$ZIPAPP_LOCK_TIMEOUT`` seconds (default 300)."""
    try:
        timeout = float(os.environ.get("ZIPAPP_LOCK_TIMEOUT", "300"))
    except ValueError:
        timeout = 300.0
    deadline = time.monotonic() + timeout
    delay = 0.002
    while True:
        result = attempt()
        if result is not None:
            return result
        if time.monotonic() >= deadline:
            message = (
                f"waited {timeout:g} s for another process {what} (lock: {path}). If none is running, delete the "
                f"lock file; ZIPAPP_LOCK_TIMEOUT sets how long to wait"
            )
            raise BootstrapError(message)
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


def _try_lock(fd: int, operation: int) -> bool:
    if fcntl is None:  # pragma: no cover - Windows: no cross-process locks
        return True
    try:
        fcntl.flock(fd, operation | fcntl.LOCK_NB)
        return True
    except OSError as e:
        if e.errno not in {errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK}:
            raise
        return False


# -- extraction ----------------------------------------------------------------------------------------------------


def extract(archive: str, environment: dict[str, Any]) -> str:
    """The extracted site-packages of this build, extracting it (once, across processes) if needed."""
    name = str(environment.get("name") or "app")
    build_id = str(environment["build_id"])
    base = root(name)
    key = f"{name}_{build_id}"
    final = os.path.join(base, key)
    lock_path = os.path.join(base, f".{key}.lock")
    force = _flag("ZIPAPP_FORCE_EXTRACT", _flag("SHIV_FORCE_EXTRACT"))
    fd = _open_lock(lock_path)
    _held.append(fd)
    if fcntl is not None:
        shared, exclusive, unlock = fcntl.LOCK_SH, fcntl.LOCK_EX, fcntl.LOCK_UN
    else:  # pragma: no cover
        shared = exclusive = unlock = 0

    def attempt() -> str | None:
        # Extracted already: the fast path. A shared lock marks the extraction as in use for the process's life, so
        # cleanup never removes it; it is refused only while a cleanup or a forced re-extraction holds the lock.
        if not force and os.path.isdir(final) and _try_lock(fd, shared):
            if os.path.isdir(final):
                return "extracted"
            if fcntl is not None:  # removed by a cleanup between the two looks: extract it again
                fcntl.flock(fd, unlock)
        if _try_lock(fd, exclusive):
            return "extract"
        return None  # another process is extracting it (or cleaning it up): wait, then look again

    if _wait(attempt, lock_path, f"extracting {key}") == "extracted":
        return os.path.join(final, SITE_PACKAGES)
    try:
        doomed: list[str] = []
        if force or not os.path.isdir(final):
            _extract(archive, environment, base, key, final, doomed)
        _cleanup(base, name, key, environment, doomed)
    finally:
        if fcntl is not None:
            fcntl.flock(fd, shared)  # keep marking it as in use
    if doomed:
        _delete_in_background(doomed)
    return os.path.join(final, SITE_PACKAGES)


def _members(archive: str) -> list[Member]:
    """The members of ``site-packages.zip`` (stored inside the .pyz), with offsets in the .pyz file itself."""
    import struct

    with _Reader(archive) as reader:
        header_offset, size = _inner_zip(archive)
        header = reader.read(30, header_offset)
        if header[:4] != b"PK\x03\x04":
            raise BootstrapError(f"{archive} is damaged: no zip header for {SITE_PACKAGES_ZIP}. Download it again")
        base = header_offset + 30 + sum(struct.unpack_from("<HH", header, 26))
        # The end of central directory record, without a comment (the builder writes none): 22 bytes.
        end = reader.read(22, base + size - 22)
        if len(end) == 22 and end[:4] == b"PK\x05\x06":
            _, _, _, count, directory_size, directory_offset, _ = struct.unpack_from("<4H2LH", end, 4)
            if count != 0xFFFF and directory_offset != 0xFFFFFFFF:
                directory = reader.read(directory_size, base + directory_offset)
                return _parse_directory(directory, count, base)
    return _members_zipfile(archive, base)  # ZIP64 (65,535 members or more), or a comment: the slow, general way


class _Reader:
    """Reads at offsets of the .pyz from any thread: ``os.pread`` where there is one (POSIX), else (Windows) one file
    object per thread."""

    def __init__(self, path: str) -> None:
        import threading

        self.path = path
        self._fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0)) if hasattr(os, "pread") else None
        self._local = threading.local()
        self._files: list[Any] = []

    def read(self, size: int, offset: int) -> bytes:
        if self._fd is not None:
            return os.pread(self._fd, size, offset)
        f = getattr(self._local, "file", None)
        if f is None:
            f = self._local.file = open(self.path, "rb")  # noqa: SIM115 - closed by close()
            self._files.append(f)
        f.seek(offset)
        return f.read(size)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
        for f in self._files:
            f.close()

    def __enter__(self) -> _Reader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _inner_zip(archive: str) -> tuple[int, int]:
    """Where ``site-packages.zip``'s local header is in the .pyz, and its size: from the index the zipimporter that
    loaded this module already read, else (imported some other way) from zipfile."""
    import zipimport

    loader = globals().get("__loader__")
    toc = getattr(zipimport, "_zip_directory_cache", {}).get(getattr(loader, "archive", None))
    try:
        _, compress, data_size, _, offset, _, _, _ = toc[SITE_PACKAGES_ZIP]  # type: ignore[index]
    except (TypeError, KeyError, ValueError):
        import zipfile

        try:
            with zipfile.ZipFile(archive) as zf:
                info = zf.getinfo(SITE_PACKAGES_ZIP)
        except (KeyError, zipfile.BadZipFile) as e:
            raise BootstrapError(f"{archive} has no readable {SITE_PACKAGES_ZIP} ({e}). Build it again") from None
        compress, data_size, offset = info.compress_type, info.compress_size, info.header_offset
    if compress != 0:
        raise BootstrapError(f"{archive}: {SITE_PACKAGES_ZIP} is compressed; it must be stored. Build it again")
    return offset, data_size


def _parse_directory(directory: bytes, count: int, base: int) -> list[Member]:
    import struct

    members = []
    position = 0
    for _ in range(count):
        (signature, _, _, flags, method, _, _, crc, size, file_size, name_length, extra_length, comment_length, _, _,
         attributes, offset) = struct.unpack_from("<4s6H3L5H2L", directory, position)  # fmt: skip
        if signature != b"PK\x01\x02":
            raise BootstrapError(f"the central directory of {SITE_PACKAGES_ZIP} is damaged. Download the .pyz again")
        start = position + 46
        name = directory[start : start + name_length].decode("utf-8" if flags & 0x800 else "cp437")
        position = start + name_length + extra_length + comment_length
        if name.startswith(SITE_PACKAGES + "/") and not name.endswith("/"):
            members.append((name, method, size, file_size, base + offset, crc, attributes >> 16))
    return members


def _members_zipfile(archive: str, base: int) -> list[Member]:
    import zipfile

    try:
        with zipfile.ZipFile(archive) as outer, zipfile.ZipFile(outer.open(SITE_PACKAGES_ZIP)) as inner:
            infos = inner.infolist()
    except (zipfile.BadZipFile, OSError, KeyError, ValueError) as e:
        raise BootstrapError(
            f"{archive} is damaged: {SITE_PACKAGES_ZIP} is unreadable ({e}). Download it again"
        ) from None
    return [
        (
            i.filename,
            i.compress_type,
            i.compress_size,
            i.file_size,
            base + i.header_offset,
            i.CRC,
            i.external_attr >> 16,
        )
        for i in infos
        if i.filename.startswith(SITE_PACKAGES + "/") and not i.filename.endswith("/")
    ]


def _extract(archive: str, environment: dict[str, Any], base: str, key: str, final: str, doomed: list[str]) -> None:
    """Extract into ``final`` (a temporary directory, then one rename), adding to ``doomed`` what is to be deleted:
    the extraction a forced re-extraction replaces. Leftovers of processes killed midway are :func:`_cleanup`'s."""
    import shutil

    temp = os.path.join(base, f".{key}.tmp-{os.getpid()}")
    if os.path.lexists(temp):  # left by a dead process that had this PID
        _set_aside(base, os.path.basename(temp), doomed, key)
    members = [m for m in _members(archive) if ".." not in m[0].split("/")]
    directories = {SITE_PACKAGES}
    for member in members:
        directory = os.path.dirname(member[0])
        while directory not in directories:
            directories.add(directory)
            directory = os.path.dirname(directory)
    os.mkdir(temp)
    try:
        for directory in sorted(directories):  # parents sort before their children
            os.mkdir(os.path.join(temp, directory))
        _write_members(archive, temp, members)
        compile_pyc = _flag("SHIV_COMPILE_PYC", bool(environment.get("compile_pyc", True)))
        if compile_pyc and not any(m[0].endswith(".pyc") for m in members):
            _compile(os.path.join(temp, SITE_PACKAGES))
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise
    if os.path.isdir(final):  # forced re-extraction: the old one goes aside, to be deleted with the others
        _set_aside(base, key, doomed)
    try:
        os.rename(temp, final)
    except OSError:
        if not os.path.isdir(final):
            raise
        doomed.append(temp)  # another process that opened a newer lock file won the race


def _write_members(archive: str, temp: str, members: list[Member]) -> None:
    """Write every member: the hot loop of a cold start. A few threads share it, as inflating, reading and writing
    all release the GIL; each file is one read at its offset, one inflate, one open and one write."""
    import struct
    import threading
    import zlib

    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    pending = iter(sorted(members, key=lambda m: m[4]))  # in archive order: the reads stay sequential
    failures: list[BaseException] = []
    reader = _Reader(archive)

    def work() -> None:
        try:
            for name, compress, size, file_size, offset, crc, mode in pending:
                encoded = len(name.encode())
                block = reader.read(30 + encoded + size + 64, offset)
                if block[:4] != b"PK\x03\x04":
                    raise BootstrapError(f"{archive} is damaged: no zip header for {name}. Download or copy it again")
                start = 30 + encoded + struct.unpack_from("<H", block, 28)[0]
                raw = block[start : start + size]
                if len(raw) < size:
                    raw = reader.read(size, offset + start)
                if compress not in {0, 8}:
                    raise BootstrapError(f"{archive}: {name} uses zip compression method {compress}, not deflate")
                try:
                    data = zlib.decompress(raw, -15, file_size) if compress == 8 else raw
                except zlib.error:
                    data = b""
                if len(data) != file_size or zlib.crc32(data) != crc:
                    raise BootstrapError(f"{archive} is damaged: {name} fails its checksum. Download or copy it again")
                out = os.open(
                    os.path.join(temp, name), flags | getattr(os, "O_BINARY", 0), 0o755 if mode & 0o111 else 0o644
                )
                try:
                    view = memoryview(data)
                    while view:
                        view = view[os.write(out, view) :]
                finally:
                    os.close(out)
        except BaseException as e:  # re-raised by the main thread
            failures.append(e)

    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    try:
        workers = [threading.Thread(target=work, daemon=True) for _ in range(min(4, cpus) - 1)]
        for worker in workers:
            worker.start()
        work()
        for worker in workers:
            worker.join()
    finally:
        reader.close()
    if failures:
        raise failures[0]


def _compile(directory: str) -> None:
    import compileall
    import py_compile

    try:
        workers = int(os.environ.get("SHIV_COMPILE_WORKERS", "0"))
    except ValueError:
        workers = 0
    compileall.compile_dir(
        directory,
        quiet=2,
        workers=workers,
        invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH,
    )


def _cleanup(base: str, name: str, key: str, environment: dict[str, Any], doomed: list[str]) -> None:
    """Set aside older extractions of this application, keeping the newest ``$ZIPAPP_KEEP`` (default 2) and any in
    use, and the leftovers of dead processes, adding them to ``doomed``: the directories to delete (renamed to
    ``.NAME_BUILDID.old-PID-N``, so no start can take them for an extraction while they are being deleted)."""
    import contextlib

    try:
        keep = int(os.environ.get("ZIPAPP_KEEP", environment.get("keep", 2)))
    except ValueError:
        keep = 2
    keep = max(keep, 1)
    prefix = f"{name}_"
    others = []
    for entry in os.listdir(base):
        path = os.path.join(base, entry)
        if entry.startswith(prefix) and entry != key and _is_build_id(entry[len(prefix) :]) and os.path.isdir(path):
            others.append((os.stat(path).st_mtime, entry))
            continue
        # .NAME_BUILDID.tmp-PID (an extraction killed midway) or .NAME_BUILDID.old-PID-N (a deletion cut short)
        extraction, _, leftover = entry[1:].rpartition(".")
        kind, _, owner = leftover.partition("-")
        pid = owner.split("-")[0]
        if (
            entry.startswith(f".{prefix}")
            and _is_build_id(extraction[len(prefix) :])
            and kind in {"tmp", "old"}
            and pid.isdigit()
            and not _alive(int(pid))
        ):
            _set_aside(base, entry, doomed, extraction)
    others.sort(reverse=True)
    for _, entry in others[keep - 1 :]:
        lock_path = os.path.join(base, f".{entry}.lock")
        try:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError:
            continue
        try:
            if fcntl is not None and not _try_lock(fd, fcntl.LOCK_EX):
                continue  # a running process uses it
            if _set_aside(base, entry, doomed):
                with contextlib.suppress(OSError):
                    os.unlink(lock_path)
        finally:
            os.close(fd)


def _set_aside(base: str, entry: str, doomed: list[str], extraction: str | None = None) -> bool:
    """Rename ``base/entry`` to ``.EXTRACTION.old-PID-N`` (no start takes it for an extraction any more) and add it to
    ``doomed``; whether that worked."""
    aside = os.path.join(base, f".{extraction or entry}.old-{os.getpid()}-{len(doomed)}")
    try:
        os.rename(os.path.join(base, entry), aside)
    except OSError:
        return False
    doomed.append(aside)
    return True


def _delete_in_background(paths: list[str]) -> None:
    """Delete ``paths`` while the application starts, not before: an old extraction is thousands of files, which
    took 1.3 s on the disk of the benchmark. The process waits for it at exit; one killed first leaves a
    ``.old-PID`` directory, which the next extraction deletes."""
    import atexit
    import shutil
    import threading

    def delete() -> None:
        for path in paths:
            shutil.rmtree(path, ignore_errors=True)

    worker = threading.Thread(target=delete, name="hatch-zipapp-cleanup", daemon=True)
    worker.start()
    atexit.register(worker.join)


def _is_build_id(text: str) -> bool:
    """Only NAME_<sha256 hex> directories are this application's extractions (never another app's, nor a user's)."""
    return len(text) == 64 and all(c in "0123456789abcdef" for c in text)


def _alive(pid: int) -> bool:
    """Whether process ``pid`` exists. On Windows, where ``os.kill(pid, 0)`` would terminate it, always assumed: the
    leftovers of dead processes then stay (they are only disk space), and no live process's work is ever deleted."""
    if os.name == "nt":  # pragma: no cover - not run on the POSIX test machines
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# -- sys.path and the entry point ----------------------------------------------------------------------------------


def set_path(archive: str, site_packages: str, environment: dict[str, Any]) -> None:
    """sys.path: the archive, the standard library, $PYTHONPATH, then the extraction (with its .pth files)."""
    import site

    if not _flag("ZIPAPP_INHERIT_SITE", bool(environment.get("inherit_site", False))):
        sys.path[:] = [entry for entry in sys.path if _keep_on_path(entry, archive)]
    before = list(sys.path)
    site.addsitedir(site_packages)
    added = [entry for entry in sys.path if entry not in before]
    prepend = os.environ.get("SHIV_PREPEND_PYTHONPATH")
    if prepend:
        sys.path.insert(0, prepend)
    if _flag("SHIV_EXTEND_PYTHONPATH", bool(environment.get("extend_pythonpath", False))):
        current = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
        os.environ["PYTHONPATH"] = os.pathsep.join(dict.fromkeys([*current, *added]))


def _standard_library() -> tuple[str, ...]:
    library = os.path.realpath(os.path.dirname(os.__file__))  # lib/python3.X, with lib-dynload below it
    version = f"{sys.version_info[0]}{sys.version_info[1]}"
    return library, os.path.realpath(os.path.join(sys.base_prefix, sys.platlibdir, f"python{version}.zip"))


def _keep_on_path(entry: str, archive: str) -> bool:
    """The archive, $PYTHONPATH and the standard library stay; site-packages, dist-packages and user sites go."""
    if not entry:
        return False
    real = os.path.realpath(entry)
    if real == os.path.realpath(archive):
        return True
    if entry in os.environ.get("PYTHONPATH", "").split(os.pathsep):
        return True
    parts = real.split(os.sep)
    if "site-packages" in parts or "dist-packages" in parts:
        return False
    library, library_zip = _standard_library()
    return real in {library, library_zip} or real.startswith(library + os.sep)


def _import_string(name: str) -> Callable[[], Any]:
    from importlib import import_module

    module_name, _, attributes = name.partition(":")
    target: Any = import_module(module_name)
    for attribute in [a for a in attributes.split(".") if a]:
        target = getattr(target, attribute)
    return target  # type: ignore[no-any-return]


def run(site_packages: str, environment: dict[str, Any]) -> None:
    if os.environ.get("SHIV_INTERPRETER"):
        _interpreter()
        return
    entry_point = os.environ.get("SHIV_ENTRY_POINT") or os.environ.get("SHIV_MODULE")
    script = None if entry_point else os.environ.get("SHIV_CONSOLE_SCRIPT") or environment.get("script")
    entry_point = entry_point or environment.get("entry_point")
    for variable in ("SHIV_ENTRY_POINT", "SHIV_MODULE", "SHIV_CONSOLE_SCRIPT"):  # not for the app's subprocesses
        os.environ.pop(variable, None)
    if script:
        import runpy

        runpy.run_path(os.path.join(site_packages, "bin", script), run_name="__main__")
    elif entry_point:
        sys.exit(_import_string(entry_point)())
    else:
        _interpreter()


def _interpreter() -> None:
    import code
    import runpy

    if len(sys.argv) > 1:
        sys.argv = sys.argv[1:]
        runpy.run_path(sys.argv[0], run_name="__main__")
    else:
        code.interact(local={"__name__": "__main__"})
