"""The runtime of every hatch-zipapp .pyz (written into it as ``_bootstrap/__init__.py``). Standard library only.

On start it:

1. prints the build information and exits, without extracting, when ``ZIPAPP_INFO=1``;
2. finds where to extract: ``$ZIPAPP_ROOT``, else shiv's ``$SHIV_ROOT``, else systemd's ``$CACHE_DIRECTORY`` (its
   first entry), else ``$XDG_CACHE_HOME/hatch-zipapp``, else ``~/.cache/hatch-zipapp``; none writable is an error
   that names the variable to set, never a traceback;
3. uses ``ROOT/NAME_BUILDID`` when it exists (the fast path: no exclusive lock, no waiting, no extraction), holding a
   shared lock on it for the process's life so cleanup never removes an extraction in use;
4. otherwise takes the build's exclusive lock (waiting at most ``$ZIPAPP_LOCK_TIMEOUT`` seconds), extracts
   ``site-packages`` into a temporary directory, compiles bytecode there if the archive has none, and renames it into
   place: a process killed midway leaves only a temporary directory, which the next extraction removes;
5. removes older extractions of the same application, keeping ``$ZIPAPP_KEEP`` (default 2) and any in use;
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
    import zipfile
    from collections.abc import Callable
    from typing import Any

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: extraction still works, without cross-process locks
    fcntl = None  # type: ignore[assignment]

SITE_PACKAGES = "site-packages"
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
    # This module is imported from inside the archive: .../app.pyz/_bootstrap/__init__.py
    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _program() -> str:
    return os.path.basename(sys.argv[0] or _archive())


def _read(archive: str, member: str) -> bytes:
    """A member of the archive, through the zipimporter that loaded this module (its index is already read)."""
    loader = globals().get("__loader__")
    get_data = getattr(loader, "get_data", None)
    if get_data is not None:
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


def _lock(fd: int, operation: int, path: str, what: str) -> None:
    """flock with a bounded wait (``$ZIPAPP_LOCK_TIMEOUT`` seconds, default 300)."""
    if fcntl is None:  # pragma: no cover
        return
    try:
        timeout = float(os.environ.get("ZIPAPP_LOCK_TIMEOUT", "300"))
    except ValueError:
        timeout = 300.0
    deadline = time.monotonic() + timeout
    delay = 0.005
    while True:
        try:
            fcntl.flock(fd, operation | fcntl.LOCK_NB)
            return
        except OSError as e:
            if e.errno not in {errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK}:
                raise
        if time.monotonic() >= deadline:
            message = (
                f"waited {timeout:g} s for another process {what} (lock: {path}). If none is running, delete the "
                f"lock file; ZIPAPP_LOCK_TIMEOUT sets how long to wait"
            )
            raise BootstrapError(message)
        time.sleep(delay)
        delay = min(delay * 2, 0.1)


def _try_lock(fd: int, operation: int) -> bool:
    if fcntl is None:  # pragma: no cover
        return True
    try:
        fcntl.flock(fd, operation | fcntl.LOCK_NB)
        return True
    except OSError:
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
        shared, exclusive = fcntl.LOCK_SH, fcntl.LOCK_EX
    else:  # pragma: no cover
        shared = exclusive = 0
    if not force and os.path.isdir(final):
        # The fast path: a shared lock marks the extraction as in use; it waits only while a cleanup holds it.
        _lock(fd, shared, lock_path, f"cleaning up {key}")
        if os.path.isdir(final):
            return os.path.join(final, SITE_PACKAGES)
    _lock(fd, exclusive, lock_path, f"extracting {key}")
    try:
        if force or not os.path.isdir(final):
            import zipfile

            with zipfile.ZipFile(archive) as zf:
                _extract(zf, environment, base, key, final)
        _cleanup(base, name, key, environment)
    finally:
        if fcntl is not None:
            fcntl.flock(fd, shared)  # keep marking it as in use
    return os.path.join(final, SITE_PACKAGES)


def _extract(zf: zipfile.ZipFile, environment: dict[str, Any], base: str, key: str, final: str) -> None:
    import shutil

    for leftover in os.listdir(base):  # a process killed while extracting this build left these; we hold its lock
        if leftover.startswith((f".{key}.tmp-", f".{key}.old-")):
            shutil.rmtree(os.path.join(base, leftover), ignore_errors=True)
    temp = os.path.join(base, f".{key}.tmp-{os.getpid()}")
    os.makedirs(temp)
    members = []
    for info in zf.infolist():
        parts = info.filename.split("/")
        if parts[0] == SITE_PACKAGES and not info.filename.endswith("/") and ".." not in parts:
            members.append(info)
    for directory in sorted({os.path.dirname(info.filename) for info in members}):
        os.makedirs(os.path.join(temp, directory), exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    has_bytecode = False
    for info in members:  # the hot loop of a cold start: one read, one open, one write per file
        data = zf.read(info)
        mode = 0o755 if (info.external_attr >> 16) & 0o111 else 0o644
        fd = os.open(os.path.join(temp, info.filename), flags, mode)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)
        has_bytecode = has_bytecode or info.filename.endswith(".pyc")
    compile_pyc = _flag("SHIV_COMPILE_PYC", bool(environment.get("compile_pyc", True)))
    if compile_pyc and not has_bytecode:
        _compile(os.path.join(temp, SITE_PACKAGES))
    if os.path.isdir(final):  # forced re-extraction: move the old one aside, then drop it
        aside = os.path.join(base, f".{key}.old-{os.getpid()}")
        os.rename(final, aside)
        shutil.rmtree(aside, ignore_errors=True)
    os.rename(temp, final)


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


def _cleanup(base: str, name: str, key: str, environment: dict[str, Any]) -> None:
    """Remove older extractions of this application: keep the newest ``$ZIPAPP_KEEP`` (default 2), and any in use."""
    import contextlib
    import shutil

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
        elif entry.startswith(f".{prefix}") and ".tmp-" in entry and not entry.startswith(f".{key}."):
            pid = entry.rsplit("-", 1)[-1]
            if pid.isdigit() and not _alive(int(pid)):
                shutil.rmtree(path, ignore_errors=True)
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
            aside = os.path.join(base, f".{entry}.old-{os.getpid()}")
            try:
                os.rename(os.path.join(base, entry), aside)
            except OSError:
                continue
            shutil.rmtree(aside, ignore_errors=True)
            with contextlib.suppress(OSError):
                os.unlink(lock_path)
        finally:
            os.close(fd)


def _is_build_id(text: str) -> bool:
    """Only NAME_<sha256 hex> directories are this application's extractions (never another app's, nor a user's)."""
    return len(text) == 64 and all(c in "0123456789abcdef" for c in text)


def _alive(pid: int) -> bool:
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
