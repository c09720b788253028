"""The runtime of every hatch-zipapp .pyz (written into it as ``_bootstrap/__init__.py``): the start. Standard
library only.

On start (once ``__main__.py``, bootstrap/check.py, has checked that this interpreter fits the .pyz) it:

0. checks what it reads: ``environment.json`` against its sha256 in the archive's record and its typed members
   (documents.py); a damaged .pyz is one line, ``damaged .pyz (WHAT), rebuild or download it again``;
1. prints the build information and exits, without extracting, when ``ZIPAPP_INFO=1``; makes a link per console
   script and exits when ``ZIPAPP_LINKS=DIR`` (:func:`links`);
2. finds where to extract (roots.py: ``$ZIPAPP_ROOT``, ``$SHIV_ROOT``, ``$CACHE_DIRECTORY``, ``$XDG_CACHE_HOME``,
   ``~/.cache``); none usable is an error that names the variable to set, never a traceback;
3. uses ``ROOT/NAME_BUILDID`` when it exists (the fast path: no exclusive lock, no waiting, no extraction), holding a
   shared lock on it for the process's life (locks.py) so cleanup never removes an extraction in use; with
   ``ZIPAPP_VERIFY=1``, after comparing every file of it with the .pyz;
4. otherwise waits (at most ``$ZIPAPP_LOCK_TIMEOUT`` seconds) for either the build's exclusive lock or another
   process's finished extraction; with the lock, checks ``site-packages.zip``'s sha256 against the record, then
   extracts ``site-packages`` (zipread.py: a few threads, every CRC checked) into a work directory, compiles
   bytecode there if the archive has none, and renames it into place (atomic.py): a process killed midway leaves
   only a work directory, which a later extraction removes;
5. sets aside older extractions of the same application (cleanup.py), keeping ``$ZIPAPP_KEEP`` (default 2) and any
   in use, and deletes them in a process of its own while the application starts (waiting for it at exit);
6. puts the extraction on ``sys.path`` *without* the host interpreter's site-packages, dist-packages or user site
   (``ZIPAPP_INHERIT_SITE=1`` keeps them), with ``ZIPAPP_REEXEC`` exports it to child interpreters (sitecustomize.py),
   and runs the console script ``ZIPAPP_SCRIPT`` or the name it was invoked through names, else the entry point
   (:func:`run`). shiv's variables keep working:
   ``SHIV_ROOT``, ``SHIV_ENTRY_POINT``/``SHIV_MODULE``, ``SHIV_CONSOLE_SCRIPT``, ``SHIV_INTERPRETER``,
   ``SHIV_FORCE_EXTRACT``, ``SHIV_COMPILE_PYC``, ``SHIV_COMPILE_WORKERS``, ``SHIV_PREPEND_PYTHONPATH``,
   ``SHIV_EXTEND_PYTHONPATH``;
7. with ``ZIPAPP_CONFINE=1``, before ``sys.path`` is set: puts the process under Landlock (confine.py), so that no
   code of the site (the ``.pth`` files of its packages, its entry point, Django's settings) runs unconfined.

Only documents.py, roots.py and locks.py are imported by a warm start (and confine.py when confined); zipread.py,
atomic.py and cleanup.py by the start that extracts.
"""

from __future__ import annotations

import os
import stat
import sys

from .documents import (
    BOOTSTRAP_PACKAGE,
    BUILD_ID,
    COMMANDS,
    COMPILE_PYC,
    DEFAULT_KEEP,
    ENTRY_POINT,
    ENVIRONMENT_JSON,
    EXTEND_PYTHONPATH,
    INFO_JSON,
    INHERIT_SITE,
    KEEP,
    NAME,
    ON_OFF,
    RECORD,
    REEXEC,
    SCRIPT,
    SCRIPTS,
    SHIV_COMPILE_PYC,
    SHIV_COMPILE_WORKERS,
    SHIV_CONSOLE_SCRIPT,
    SHIV_ENTRY_POINT,
    SHIV_EXTEND_PYTHONPATH,
    SHIV_FORCE_EXTRACT,
    SHIV_INTERPRETER,
    SHIV_MODULE,
    SHIV_PREPEND_PYTHONPATH,
    SITE_PACKAGES,
    ZIPAPP_CHILD,
    ZIPAPP_CONFINE,
    ZIPAPP_FORCE_EXTRACT,
    ZIPAPP_INFO,
    ZIPAPP_INHERIT_SITE,
    ZIPAPP_KEEP,
    ZIPAPP_LINKS,
    ZIPAPP_PREPARE,
    ZIPAPP_REEXEC,
    ZIPAPP_ROOT,
    ZIPAPP_SCRIPT,
    ZIPAPP_VERIFY,
    BootstrapError,
    Damaged,
    count,
    flag,
    parse_record,
    record_digest,
)
from .documents import environment as parse_environment
from .locks import FileLock, held_by, wait
from .roots import check_above, euid, root, untrusted

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, NoReturn

    from .atomic import AtomicDirectory
    from .documents import Environment


#: What Python ran before this package: the source, and its bytecode when the build compiled the runtime.
_MAIN = ("__main__.py", "__main__.pyc")
_held: list[FileLock] = []  # locks kept for the life of the process
#: How a pinned archive is named (pinned.py PINNED: this process's descriptor of the file the start began on).
_PINNED = "/proc/self/fd/"


def _archive() -> str:
    """The .pyz, as the path Python was given (``./app.pyz``, ``d//app.pyz``, a symlink): the zipimporter that loaded
    this module keeps it so, as its ``archive``. Normalising it (``abspath``) would name a file the zipimporter does
    not know: every use goes through this one."""
    archive = getattr(globals().get("__loader__"), "archive", None)
    if isinstance(archive, str):
        return archive
    # Imported some other way: this module is .../app.pyz/_bootstrap/__init__.py
    return os.path.dirname(os.path.dirname(__file__))  # pragma: no cover


def _named() -> str:
    """The .pyz as the user named it, for messages and links: ``_archive()``, unless ``__main__`` pinned the file this
    start began on (pinned.py: ``_archive()`` is then ``/proc/self/fd/N``); then the name it was started by."""
    archive = _archive()
    return sys.argv[0] if archive.startswith(_PINNED) and sys.argv and sys.argv[0] else archive


def _program() -> str:
    return os.path.basename(sys.argv[0] or _archive())


def say(text: str) -> None:
    """``text`` on stdout, whatever the locale makes of a path's undecodable bytes (written as escapes)."""
    encoding = getattr(sys.stdout, "encoding", None) or "utf-8"
    sys.stdout.write(text.encode(encoding, "backslashreplace").decode(encoding))


def _read(archive: str, member: str) -> bytes:
    """A member of the archive, through the zipimporter that loaded this module (its index is already read). One
    that cannot be read (a damaged header, a missing member) is :class:`Damaged`."""
    loader = globals().get("__loader__")
    get_data = getattr(loader, "get_data", None)
    try:
        if get_data is not None and getattr(loader, "archive", None) == archive:
            return get_data(os.path.join(archive, member))  # type: ignore[no-any-return]
        import zipfile

        with zipfile.ZipFile(archive) as zf:  # pragma: no cover - imported some other way
            return zf.read(member)
    except Exception as e:  # zipimport's ZipImportError, OSError, EOFError, zlib.error: the bytes are not as built
        _gone(archive)  # unless the file is not there any more: nothing is damaged, it was moved or deleted
        raise Damaged(f"{member} is unreadable: {type(e).__name__}") from None


def _gone(archive: str) -> None:
    """A :class:`BootstrapError` if ``archive`` is no longer there (deleted, or a link to a deleted release), read
    again after Python opened it: "no such file", not a damaged .pyz nor a full disk."""
    if not os.path.isfile(archive):
        message = f"cannot read {archive}: no such file (moved or deleted while it started). Start it from where it is"
        raise BootstrapError(message)


def _checked(archive: str, member: str, record: bytes) -> bytes:
    """A member of the archive whose sha256 is the one in the archive's record (a few hundred bytes: microseconds)."""
    import hashlib

    data = _read(archive, member)
    if hashlib.sha256(data).hexdigest() != record_digest(record, member):
        raise Damaged(f"{member} differs from its sha256 in {RECORD}")
    return data


def _runtime_module(archive: str, record: bytes, name: str) -> Any:
    """The runtime's module ``name`` (confine, seccomp: those a confined start adds), from its bytecode in the archive
    (checked against the record with every runtime module before this package ran: check.runtime_record), read and
    unmarshalled once: Python 3.11's zipimport does both twice (for the module's file name, then for its code), 0.3
    ms of a confined start. Imported as usual where the archive holds no bytecode for this Python, or this package
    was not imported from the archive."""
    package = __package__ or ""
    fullname = f"{package}.{name}"
    if fullname in sys.modules:
        return sys.modules[fullname]
    member = f"{package}/{name}.pyc"
    path = (getattr(sys.modules.get(package), "__path__", None) or [""])[0]
    loader = sys.path_importer_cache.get(path)  # the zipimporter of this package's directory in the archive
    if getattr(loader, "archive", None) == archive and f"  {member}\n".encode() in record:
        import marshal
        from _frozen_importlib_external import MAGIC_NUMBER  # what importlib.util names so, without importing it

        data = _read(archive, member)
        if data[:4] == MAGIC_NUMBER:
            module: Any = type(sys)(fullname)
            module.__file__ = os.path.join(archive, package, f"{name}.py")
            module.__package__, module.__loader__ = package, loader  # relative imports; a traceback's source lines
            sys.modules[fullname] = module
            try:
                exec(marshal.loads(memoryview(data)[16:]), module.__dict__)  # noqa: S102, S302 - checked at start
            except BaseException:
                del sys.modules[fullname]
                raise
            setattr(sys.modules[package], name, module)
            return module
    import importlib

    return importlib.import_module(fullname)


def bootstrap(record: bytes | None = None) -> None:
    """Start: ``record`` is the .pyz's record as ``__main__`` read it to check this package (read here if None)."""
    archive = _archive()
    try:
        for variable in ON_OFF:
            flag(variable)
        if record is None:
            record = _read(archive, RECORD)  # parsed whole only by the start that extracts (parse_record)
        for member in _MAIN:  # __main__ checked this package before importing it; this checks __main__
            if member == _MAIN[0] or f"  {member}\n".encode() in record:
                _checked(archive, member, record)
        environment = parse_environment(_checked(archive, ENVIRONMENT_JSON, record))
        if flag(ZIPAPP_INFO):
            sys.stdout.write(_checked(archive, INFO_JSON, record).decode("utf-8", "replace"))
            sys.exit(0)
        if ZIPAPP_LINKS in os.environ:  # a deploy step: a link per console script, nothing extracted or run
            if not os.environ[ZIPAPP_LINKS]:  # `ZIPAPP_LINKS="$BIN"` with BIN unset: not a start of the app
                raise BootstrapError(f"{ZIPAPP_LINKS} is set but empty: set it to the directory to link into")
            for line in links(_named(), environment, os.environ[ZIPAPP_LINKS]):
                say(f"{_program()}: {line}\n")
            sys.exit(0)
        site_packages = extract(archive, environment, record)
        if flag(ZIPAPP_PREPARE):  # a deploy step: extracted (readable by all, writable by no one else), not run
            say(f"{_program()}: prepared {os.path.dirname(site_packages)}\n")
            sys.exit(0)
        if flag(ZIPAPP_CONFINE):  # before any code of the site: its packages' .pth files, its entry point
            import time

            started = time.perf_counter()  # the step's cost counts loading its modules from the .pyz
            _runtime_module(archive, record, "seccomp")  # confine.py imports it once the ruleset is made
            confine = _runtime_module(archive, record, "confine").confine
            confine(archive, site_packages, [lock.path for lock in _held], started)
        set_path(archive, site_packages, environment)
    except BootstrapError as e:
        sys.stderr.write(f"{_program()}: {e}\n")
        sys.exit(1)
    run(site_packages, environment)


# -- extraction ----------------------------------------------------------------------------------------------------


def extract(archive: str, environment: Environment, record: bytes) -> str:
    """The extracted site-packages of this build, extracting it (once, across processes) if needed."""
    name = str(environment.get(NAME) or "app")
    keep = _keep(environment)  # a bad ZIPAPP_KEEP is one line at every start, before anything is written
    base, writable = root(name, lambda text: sys.stderr.write(f"{_program()}: note: {text}\n"))
    key = f"{name}_{environment[BUILD_ID]}"
    final = os.path.join(base, key)
    if not writable and flag(ZIPAPP_PREPARE):
        message = f"cannot prepare {key} in {base}: it is not writable by this user. Prepare it as its owner"
        raise BootstrapError(message)
    if not writable:  # a read-only root, prepared by the deploy (ZIPAPP_PREPARE=1): use it, never change it
        if not _extracted(final):
            message = (
                f"{base} is read-only and holds no extraction of this build ({key}). Prepare it as the deploying "
                f"user (root, or the service's own user): {ZIPAPP_ROOT}={base} {ZIPAPP_PREPARE}=1 {_named()}"
            )
            raise BootstrapError(message)
        if flag(ZIPAPP_VERIFY):
            _verify(archive, environment, record, final)
        return os.path.join(final, SITE_PACKAGES)
    force = flag(ZIPAPP_FORCE_EXTRACT, flag(SHIV_FORCE_EXTRACT))
    lock = FileLock(os.path.join(base, f".{key}.lock"))
    _held.append(lock)

    def attempt() -> str | None:
        # Extracted already: the fast path. A shared lock marks the extraction as in use for the process's life, so
        # cleanup never removes it; it is refused only while a cleanup or a forced re-extraction holds the lock.
        if not force and _extracted(final) and lock.try_shared():
            if _extracted(final):
                return "extracted"
            lock.unlock()  # removed by a cleanup between the two looks: extract it again
        if lock.try_exclusive():
            return "extract"
        if force and _extracted(final) and lock.try_shared():  # no one extracts: running processes use it
            users = held_by(lock.path)
            lock.unlock()
            variable = ZIPAPP_FORCE_EXTRACT if ZIPAPP_FORCE_EXTRACT in os.environ else SHIV_FORCE_EXTRACT
            message = (
                f"cannot force a new extraction of {key}: it is in use by {users} (a running process of this build "
                f"holds {lock.path}), and a forced extraction cannot replace an extraction in use. Stop it first, or "
                f"start without {variable}"
            )
            raise BootstrapError(message)
        return None  # another process is extracting it (or cleaning it up): wait, then look again

    if wait(attempt, lock.path, f"extracting {key}") == "extracted":
        if flag(ZIPAPP_VERIFY):
            _verify(archive, environment, record, final)
        return os.path.join(final, SITE_PACKAGES)
    from .atomic import AtomicDirectory, delete_in_background
    from .cleanup import cleanup

    directory = AtomicDirectory(base, key)
    try:
        if force or not _extracted(final):
            _extract(archive, environment, record, directory)
        directory.doomed += cleanup(base, name, key, keep)
    except OSError as e:  # disk full, a file system gone read-only: nothing half-made is left in use
        _gone(archive)
        raise BootstrapError(_cannot_extract(e, key, base)) from None
    finally:
        lock.shared()  # keep marking it as in use
    if directory.doomed:
        delete_in_background(directory.doomed)
    return os.path.join(final, SITE_PACKAGES)


def _cannot_extract(e: OSError, key: str, base: str) -> str:
    """The line for an extraction that failed with ``e``: what the system said, and the fix for that fault."""
    import errno

    where = ""
    if e.errno in {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}:
        fix = f"Free the space, or set {ZIPAPP_ROOT} to a directory on a file system with room"
    elif e.errno in {errno.EMFILE, errno.ENFILE}:
        fix = "Raise the limit of open files (ulimit -n; LimitNOFILE= in a systemd unit)"
    elif e.errno == errno.ENAMETOOLONG:
        where = f" ({e.filename})" if e.filename else ""
        fix = f"Set {ZIPAPP_ROOT} to a shorter path"
    elif e.errno in {errno.EROFS, errno.EACCES, errno.EPERM}:
        fix = f"Set {ZIPAPP_ROOT} to a directory this user can write"
    else:
        where = f" ({e.filename})" if e.filename else ""
        fix = f"Set {ZIPAPP_ROOT} to another directory if it persists"
    return f"cannot extract {key} into {base}: {e.strerror or e}{where}. {fix}"


def _extracted(final: str) -> bool:
    """Whether ``final`` is a finished extraction this user may run: a directory (not a link), and it and its
    site-packages owned by this user or root and writable by no one else. One that is not is refused, never run."""
    for path in (final, os.path.join(final, SITE_PACKAGES)):
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return False
        except OSError as e:  # a root this user may not read (0700, another owner)
            message = (
                f"cannot use {path}: {e.strerror}. A root prepared for another user must be readable by it: "
                f"prepare it with {ZIPAPP_PREPARE}=1 (it makes the root 0755)"
            )
            raise BootstrapError(message) from None
        if not stat.S_ISDIR(st.st_mode):
            if path == final:
                return False  # a file or link in the way: an extraction replaces it (atomic.py)
            message = f"refusing to run {final}: its {SITE_PACKAGES} is not a directory. Delete it"
            raise BootstrapError(message)
        why = untrusted(st)
        if why is not None:
            message = f"refusing to run {path}: {why}. Delete {final}; the next start extracts it again"
            raise BootstrapError(message)
    return True


def _verify(archive: str, environment: Environment, record: bytes, final: str) -> None:
    """``ZIPAPP_VERIFY=1``: every file of the extraction ``final`` is byte for byte the .pyz's (itself checked against
    its record first), and no file was added. A warm start does not do this unless asked: it costs about what an
    extraction reads and inflates (docs/performance.md)."""
    from .zipread import changed_file, members

    todo = [m for m in members(archive, parse_record(record)) if ".." not in m[0].split("/")]
    compiled = flag(SHIV_COMPILE_PYC, bool(environment.get(COMPILE_PYC, True))) and not any(
        m[0].endswith(".pyc") for m in todo
    )
    changed = changed_file(archive, final, todo, compiled)
    if changed is not None:
        message = (
            f"{os.path.join(final, changed)} is not the file this .pyz holds (changed, missing or added since it was "
            f"extracted): do not run it. Extract again: {ZIPAPP_FORCE_EXTRACT}=1 {_named()}, or delete {final}"
        )
        raise BootstrapError(message)


def _keep(environment: Environment) -> int:
    built = environment.get(KEEP, DEFAULT_KEEP)  # an int (documents.environment checked it)
    return count(ZIPAPP_KEEP, built if built >= 1 else DEFAULT_KEEP, 1)


def _extract(archive: str, environment: Environment, record: bytes, directory: AtomicDirectory) -> None:
    """Extract into ``directory`` (its work directory, then one rename), once the shebang line's and
    site-packages.zip's bytes match their sha256 in the record. What a forced re-extraction replaces goes to
    ``directory.doomed``; leftovers of processes killed midway are cleanup.py's."""
    from .atomic import MODE, flush_early, make_read_only
    from .zipread import members, write_members

    todo = [m for m in members(archive, parse_record(record)) if ".." not in m[0].split("/")]
    directories = {SITE_PACKAGES}
    for member in todo:
        parent = os.path.dirname(member[0])
        while parent not in directories:
            directories.add(parent)
            parent = os.path.dirname(parent)
    umask = os.umask(0o022)  # the modes below, whatever the user's umask (compileall's too)
    try:
        work = directory.make_work_dir()
        try:
            for path in sorted(directories):  # parents sort before their children
                os.mkdir(os.path.join(work, path), MODE)
            write_members(archive, work, todo, lambda: flush_early(work))  # a first flush part way
            compile_pyc = flag(SHIV_COMPILE_PYC, bool(environment.get(COMPILE_PYC, True)))
            compiled = compile_pyc and not any(m[0].endswith(".pyc") for m in todo)
            if compiled:  # it makes __pycache__ directories: found by a walk
                _compile(os.path.join(work, SITE_PACKAGES))
            make_read_only(work, None if compiled else sorted(directories))  # no writing into its own code
        except BaseException:
            directory.discard()
            raise
        directory.finalize()
    finally:
        os.umask(umask)


def _compile(directory: str) -> None:
    """Compile hash-based bytecode for every module under ``directory``, read-only as the extracted files."""
    import compileall
    import py_compile

    workers = count(SHIV_COMPILE_WORKERS, 0, 0)  # 0: one per CPU
    compileall.compile_dir(
        directory,
        quiet=2,
        workers=workers,
        invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH,
    )
    for parent, _, names in os.walk(directory):  # read-only, as the extracted files (py_compile adds u+w)
        if os.path.basename(parent) == "__pycache__":
            for name in names:
                os.chmod(os.path.join(parent, name), 0o444)


# -- sys.path and the entry point ----------------------------------------------------------------------------------


def set_path(archive: str, site_packages: str, environment: Environment) -> None:
    """sys.path: the archive, the standard library, $PYTHONPATH, then the extraction (with its .pth files)."""
    import site

    isolated = not flag(ZIPAPP_INHERIT_SITE, bool(environment.get(INHERIT_SITE, False)))
    if isolated:
        sys.path[:] = [entry for entry in sys.path if _keep_on_path(entry, archive)]
    before = list(sys.path)
    site.addsitedir(site_packages)
    added = [entry for entry in sys.path if entry not in before]
    prepend = os.environ.get(SHIV_PREPEND_PYTHONPATH)
    if prepend:
        sys.path.insert(0, prepend)
    if flag(SHIV_EXTEND_PYTHONPATH, bool(environment.get(EXTEND_PYTHONPATH, False))):
        current = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
        os.environ["PYTHONPATH"] = os.pathsep.join(dict.fromkeys([*current, *added]))
    if flag(ZIPAPP_REEXEC, bool(environment.get(REEXEC, False))):
        _for_children(archive, site_packages, isolated)


def _for_children(archive: str, site_packages: str, isolated: bool) -> None:
    """Re-exec: a child started as ``sys.executable -m ...`` or ``sys.executable script`` sees the extraction, through
    the archive's ``_bootstrap/sitecustomize.py`` on ``PYTHONPATH``; a virtualenv a child makes does not (that module
    adds it only for this interpreter, and takes itself out of any other's environment)."""
    if archive.startswith(_PINNED):  # the file this start began on, through this process's descriptor (pinned.py)
        archive = f"/proc/{os.getpid()}/fd/{archive[len(_PINNED) :]}"
    entry = os.path.join(os.path.abspath(archive), BOOTSTRAP_PACKAGE)
    fields = (str(sys.hexversion), "1" if isolated else "0", sys.prefix, site_packages, entry)
    for field, separator, carrier in ((entry, os.pathsep, "PYTHONPATH"), ("".join(fields), "\t", ZIPAPP_CHILD)):
        if separator in field:
            message = (
                f"cannot pass this .pyz's packages to child interpreters ({ZIPAPP_REEXEC}): {carrier} cannot carry "
                f"{separator!r}, which is in {field!r}. Move the .pyz to a path without it, or set {ZIPAPP_REEXEC}=0"
            )
            raise BootstrapError(message)
    # One .pyz's bootstrap at a time: a .pyz started by another's child replaces the other's (nested re-exec)
    current = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and not _is_bootstrap_entry(p)]
    os.environ["PYTHONPATH"] = os.pathsep.join([entry, *current])
    os.environ[ZIPAPP_CHILD] = "\t".join(fields)


def _is_bootstrap_entry(entry: str) -> bool:
    """Whether a ``PYTHONPATH`` entry is some .pyz's ``ARCHIVE/_bootstrap`` (re-exec's, this one's or another's)."""
    return os.path.basename(entry) == BOOTSTRAP_PACKAGE and os.path.isfile(os.path.dirname(entry))


def _standard_library() -> tuple[str, ...]:
    library = os.path.realpath(os.path.dirname(os.__file__))  # lib/python3.X, with lib-dynload below it
    version = f"{sys.version_info[0]}{sys.version_info[1]}"
    return library, os.path.realpath(
        os.path.join(sys.base_prefix, getattr(sys, "platlibdir", "lib"), f"python{version}.zip")
    )


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


def _import_string(name: str, where: str) -> Callable[[], Any]:
    """The object ``module:attribute.path`` names. One that names nothing is one line (``where`` it came from); an
    error raised by the module's own code keeps its traceback."""
    from importlib import import_module

    module_name, _, attributes = name.partition(":")
    try:
        target: Any = import_module(module_name)
    except ModuleNotFoundError as e:
        if not e.name or not (module_name == e.name or module_name.startswith(e.name + ".")):
            raise  # a module the application's code imports is missing: its own traceback
        _fail(f"{where}={name!r} names no module: there is no module {e.name!r} in this .pyz")
    except ValueError:  # an empty or relative module name
        _fail(f"{where}={name!r} is not module:function")
    for attribute in [a for a in attributes.split(".") if a]:
        try:
            target = getattr(target, attribute)
        except AttributeError:
            _fail(f"{where}={name!r} names nothing: {target!r} has no attribute {attribute!r}")
    return target  # type: ignore[no-any-return]


def _fail(message: str) -> NoReturn:
    sys.stderr.write(f"{_program()}: {message}\n")
    sys.exit(1)


def run(site_packages: str, environment: Environment) -> None:
    """The entry point, or another console script of the .pyz: the one ``$ZIPAPP_SCRIPT`` (or shiv's
    ``$SHIV_CONSOLE_SCRIPT``) names, else the one named as the .pyz was invoked (a link ``ansible-galaxy`` to it runs
    ``ansible-galaxy``, busybox style), else the entry point. ``$SHIV_ENTRY_POINT`` and ``$SHIV_MODULE`` come first."""
    if os.environ.get(SHIV_INTERPRETER):
        _interpreter()
        return
    scripts = environment.get(SCRIPTS) or {}
    where = next((f"${v}" for v in (SHIV_ENTRY_POINT, SHIV_MODULE, ZIPAPP_SCRIPT) if os.environ.get(v)), None)
    where = where or (f"${SHIV_CONSOLE_SCRIPT}" if os.environ.get(SHIV_CONSOLE_SCRIPT) else None)
    entry_point = os.environ.get(SHIV_ENTRY_POINT) or os.environ.get(SHIV_MODULE)
    script = None if entry_point else os.environ.get(ZIPAPP_SCRIPT) or os.environ.get(SHIV_CONSOLE_SCRIPT)
    for variable in (SHIV_ENTRY_POINT, SHIV_MODULE, SHIV_CONSOLE_SCRIPT, ZIPAPP_SCRIPT):  # not for the children
        os.environ.pop(variable, None)
    if script is None and entry_point is None:
        invoked = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
        entry_point = scripts.get(invoked) or environment.get(ENTRY_POINT)
        script = None if entry_point else environment.get(SCRIPT)
        where = f"the console script {invoked!r}" if invoked in scripts else f"{ENVIRONMENT_JSON}'s {ENTRY_POINT}"
    elif script is not None and script in scripts:
        entry_point, script = scripts[script], None
    if script:
        import runpy

        path = os.path.join(site_packages, "bin", script)
        if os.sep in script or not os.path.isfile(path):  # shiv's: any file in bin/, entry point or not
            known = ", ".join(sorted(scripts)) or "none"
            _fail(f"{where}={script!r} is not a console script of this .pyz; it has: {known}")
        runpy.run_path(path, run_name="__main__")
    elif entry_point:
        sys.exit(_import_string(entry_point, where or f"{ENVIRONMENT_JSON}'s {ENTRY_POINT}")())
    else:
        _interpreter()


def links(archive: str, environment: Environment, directory: str, names: list[str] | None = None) -> list[str]:
    """``ZIPAPP_LINKS=DIR`` (and ``hatch-zipapp links``): in ``directory``, a symbolic link to the .pyz (by its
    absolute path, not resolved: a link to ``current.pyz`` follows the deploy's switch) for each of ``names`` (default:
    the application's console scripts, ``environment.json``'s ``commands``), each running its script. A link already
    there to the same path is kept; anything else in the way is an error naming it, and no link is made. What was
    done, one line a link."""
    scripts = environment.get(SCRIPTS) or {}
    names = list(environment.get(COMMANDS) or []) if names is None else names
    unknown = [name for name in names if name not in scripts]
    known = ", ".join(sorted(scripts)) or "none"
    if unknown:
        what = f"{', '.join(map(repr, unknown))} {'is not a console script' if len(unknown) == 1 else 'are not'}"
        raise BootstrapError(f"{what} of this .pyz; it has: {known}")
    if not names:
        raise BootstrapError(f"its application has no console script of its own: name those to link; it has: {known}")
    odd = sorted({name for name in names if not name or name in {".", ".."} or "/" in name or os.sep in name})
    if odd:
        raise BootstrapError(f"cannot link {', '.join(map(repr, odd))}: not a file name; name the scripts to link")
    if not os.path.isdir(directory):
        raise BootstrapError(f"cannot link into {directory}: not a directory. Create it, or name another")
    why = untrusted(os.stat(directory), sticky_ok=True)
    if why is not None:  # another user could replace the links later: root would run their file
        raise BootstrapError(f"refusing to link into {directory}: {why}. Use a directory only you can write")
    try:  # nor rename it (or a directory above it) and put their own in its place
        check_above(os.path.realpath(directory))
    except BootstrapError as e:
        raise BootstrapError(f"refusing to link into {directory}: {e}") from None
    target = os.path.abspath(archive)
    done, blocked, new = [], [], []
    for name in sorted(set(names)):
        path = os.path.join(directory, name)
        if _own_link(path, target):
            done.append(f"{path} -> {target} (already there)")
        elif os.path.lexists(path):
            blocked.append(path)
        else:
            done.append(f"{path} -> {target}")
            new.append(path)
    if blocked:
        message = (
            f"{', '.join(blocked)}: already there and not your link to {target}. Remove, or link into another directory"
        )
        raise BootstrapError(message)
    for path in new:
        try:
            os.symlink(target, path)  # never follows nor replaces what appeared meanwhile: FileExistsError
        except OSError as e:
            raise BootstrapError(f"cannot link {path}: {e.strerror or e}") from None
    return done


def _own_link(path: str, target: str) -> bool:
    """Whether ``path`` is a symbolic link to ``target`` made by this user (or root)."""
    try:
        st = os.lstat(path)
        mine = st.st_uid in {0, euid()}  # a link's own mode means nothing
        return stat.S_ISLNK(st.st_mode) and os.readlink(path) == target and mine
    except OSError:
        return False


def _runnable_module(module: str) -> None:
    """`-m MODULE` of ``SHIV_INTERPRETER``: a module that is not there, or a package without ``__main__``, is the one
    line Python's own `-m` prints (runpy alone: a traceback). Finding it imports its parent packages, as runpy does."""
    import importlib.util

    try:
        spec = importlib.util.find_spec(module)
        if spec is None:
            _fail(f"SHIV_INTERPRETER: -m {module}: No module named {module}")
        if spec.submodule_search_locations is not None and importlib.util.find_spec(f"{module}.__main__") is None:
            message = f"No module named {module}.__main__; {module!r} is a package and cannot be directly executed"
            _fail(f"SHIV_INTERPRETER: -m {module}: {message}")
    except (ImportError, ValueError) as e:  # a parent package that is not there; an empty or relative name
        _fail(f"SHIV_INTERPRETER: -m {module}: {e}")


def _interpreter() -> None:
    """``SHIV_INTERPRETER=1``: Python's own `-c CODE`, `-m MODULE`, `-` (stdin) or `SCRIPT`, with the arguments after
    it, or an interactive interpreter; as shiv 1.0.8's bootstrap (``shiv/bootstrap/interpreter.py``) does it:
    ``sys.argv`` is `["-c", ARGS...]`, `[MODULE, ARGS...]`, `["-", ARGS...]` or `[SCRIPT, ARGS...]`; the code runs
    as `__main__` in a namespace of its own, named `<string>` / `<stdin>` in tracebacks as Python names it. A missing
    argument, a module not there or an unreadable script is one line (shiv: a traceback)."""
    import code
    import runpy

    args = sys.argv[1:]
    if not args:
        code.interact(local={"__name__": "__main__"})
        return
    first = args[0]
    if first in ("-c", "-m") and len(args) < 2:
        _fail(f"SHIV_INTERPRETER: {first} needs an argument (the {'code' if first == '-c' else 'module'} to run)")
    if first == "-m":
        _runnable_module(args[1])
        sys.argv = args[1:]
        runpy.run_module(args[1], run_name="__main__")
        return
    if first == "-c":
        name, source, sys.argv = "<string>", args[1], ["-c", *args[2:]]
    elif first == "-":
        name, source, sys.argv = "<stdin>", sys.stdin.read(), args
    else:
        if first.startswith("-") and not os.path.exists(first):  # -V, -u, -X ...: Python's, not shiv's
            _fail(f"SHIV_INTERPRETER: {first} is not an option it takes: -c CODE, -m MODULE, - (stdin), or a script")
        if not os.path.exists(first) or not os.access(first, os.R_OK):  # a directory or a zip with __main__ runs
            why = "no such file or directory" if not os.path.exists(first) else "permission denied"
            _fail(f"SHIV_INTERPRETER: cannot open {first!r}: {why}")
        sys.argv = args
        runpy.run_path(first, run_name="__main__")
        return
    import builtins

    namespace = {"__name__": "__main__", "__builtins__": builtins}
    exec(compile(source, name, "exec", dont_inherit=True), namespace)  # noqa: S102 - the code given to run
