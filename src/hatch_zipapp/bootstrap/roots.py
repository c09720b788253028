"""Where a .pyz extracts (``_bootstrap/roots.py`` in a .pyz): the root directory its extractions live in, and whether
it can be trusted.

``$ZIPAPP_ROOT``, else shiv's ``$SHIV_ROOT``, else systemd's ``$CACHE_DIRECTORY`` (its first entry), else
``$XDG_CACHE_HOME/hatch-zipapp``, else ``~/.cache/hatch-zipapp``. A root named by a variable that cannot be used is
an error naming that variable; of the defaults, the first writable one is taken, and one that is not an absolute path
(``XDG_CACHE_HOME=cache``, ``~/cache``: no shell expanded it) is ignored with a note, as the XDG base directory
specification says: never a directory under the working directory. Missing directories of a root are
created, but never a home directory: a ``$HOME`` that does not exist (a service account's ``/nonexistent``) is
skipped. Model: shiv's
``bootstrap/environment.py``.

Trust, as OpenSSH's StrictModes and pip's cache check it: code is run only from a directory that no one but the
running user (or root) could have written. So the root and every directory above it are owned by the running user or
root, and none is writable by group or others unless it is sticky (``/tmp``); a sticky, world-writable root (``/tmp``
itself, ``ZIPAPP_ROOT=/tmp/shared``) is never used directly: each user gets a private ``hatch-zipapp-UID``
subdirectory in it (0700). A root the user cannot write (a read-only, pre-extracted deploy: ``ZIPAPP_PREPARE=1``) is
used only for an extraction that is already there.
"""

from __future__ import annotations

import os
import stat

from .documents import (
    CACHE_DIRECTORY,
    CACHE_NAME,
    HOME,
    SHIV_ROOT,
    XDG_CACHE_HOME,
    ZIPAPP_PREPARE,
    ZIPAPP_ROOT,
    BootstrapError,
    flag,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

#: The variables naming a root explicitly, in order: one that is set and unusable is an error.
EXPLICIT = (ZIPAPP_ROOT, SHIV_ROOT)
#: The private subdirectory each user gets in a sticky, world-writable root.
PRIVATE = "hatch-zipapp-{uid}"
#: Modes of the directories the runtime makes: private, or readable by all when preparing a root for a service.
PRIVATE_MODE, SHARED_MODE = 0o700, 0o755


def euid() -> int:
    """This process's effective user (0 where there are no users: Windows)."""
    return os.geteuid() if hasattr(os, "geteuid") else 0


def untrusted(st: os.stat_result, sticky_ok: bool = False) -> str | None:
    """Why a directory (or file) with this status must not be trusted, or None: owned by someone other than the
    running user or root, or writable by group or others (a sticky directory is, when ``sticky_ok``)."""
    if os.name == "nt":  # pragma: no cover - no owners and modes to check
        return None
    if st.st_uid not in {0, euid()}:
        return f"it is owned by another user (uid {st.st_uid})"
    if st.st_mode & 0o022 and not (sticky_ok and st.st_mode & stat.S_ISVTX):
        return f"it is writable by group or others (mode {stat.S_IMODE(st.st_mode):04o})"
    return None


def check_above(path: str) -> None:
    """Every directory above ``path`` (resolved) is trusted: no one else could rename or replace ``path``. The rule
    for every directory the runtime trusts: an extraction root, a directory links are made in (runtime.links)."""
    parent = os.path.dirname(path)
    while True:
        why = untrusted(os.stat(parent), sticky_ok=True)
        if why is not None:
            message = f"{parent} is unsafe: {why}, so another user could replace {path}. Use another directory"
            raise BootstrapError(message)
        above = os.path.dirname(parent)
        if above == parent:
            return
        parent = above


def _make(path: str, mode: int) -> None:
    """Create ``path`` and its missing parents, each with exactly ``mode`` whatever the umask."""
    missing = []
    while not os.path.lexists(path):
        missing.append(path)
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    for directory in reversed(missing):
        try:
            os.mkdir(directory, mode)
        except FileExistsError:
            continue  # another process made it meanwhile: checked like any other
        os.chmod(directory, mode)


def secure(path: str, variable: str, name: str) -> tuple[str, bool]:
    """The root to use for ``path`` (from ``$variable``): the directory, checked, and whether this user can write
    it. Creates it if missing; a sticky, world-writable directory gives its private ``hatch-zipapp-UID``."""
    mode = SHARED_MODE if flag(ZIPAPP_PREPARE) else PRIVATE_MODE
    where = f"${variable}={path}"
    try:
        _make(path, mode)
        real = os.path.realpath(path)
        st = os.stat(real)
    except OSError as e:
        message = f"cannot extract {name} into {where}: {e.strerror}"
        if isinstance(e, PermissionError):
            message += f" (a root prepared for another user must be readable by it: {ZIPAPP_PREPARE}=1 makes it 0755)"
        raise BootstrapError(message) from None
    if not stat.S_ISDIR(st.st_mode):
        message = f"cannot extract {name} into {where}: it is not a directory"
        raise BootstrapError(message)
    if os.name != "nt" and st.st_mode & 0o002 and st.st_mode & stat.S_ISVTX:  # /tmp: a private subdirectory
        private = os.path.join(real, PRIVATE.format(uid=euid()))
        try:
            os.mkdir(private, mode)
            os.chmod(private, mode)
        except FileExistsError:
            pass
        except OSError as e:
            message = f"cannot extract {name} into {private} (in {where}): {e.strerror}"
            raise BootstrapError(message) from None
        st = os.lstat(private)
        if not stat.S_ISDIR(st.st_mode):
            message = (
                f"refusing to extract {name} into {private} (in {where}): it is not a directory but a link or file"
            )
            raise BootstrapError(message)
        if st.st_uid != euid():
            message = (
                f"refusing to extract {name} into {private} (in {where}): another user (uid {st.st_uid}) made it. "
                f"Set {ZIPAPP_ROOT} to a directory of your own"
            )
            raise BootstrapError(message)
        real = private
    why = untrusted(st)
    if why is not None:
        message = f"refusing to run {name} from {where}: {why}. Use a directory only you can write (chmod go-w)"
        raise BootstrapError(message)
    check_above(real)
    if mode == SHARED_MODE and st.st_uid == euid() and stat.S_IMODE(st.st_mode) != SHARED_MODE:
        try:  # preparing for a service that runs as another user: it must be able to read the root
            os.chmod(real, SHARED_MODE)
        except OSError as e:
            message = f"cannot prepare {name} in {where}: {e.strerror}"
            raise BootstrapError(message) from None
    return real, os.access(real, os.W_OK | os.X_OK)


def root(name: str, note: Callable[[str], object] | None = None) -> tuple[str, bool]:
    """The directory extractions of application ``name`` live in, and whether this user can write it. A default
    that is not an absolute path is ignored, with a ``note`` saying so (when another is used)."""
    for variable in EXPLICIT:
        value = os.environ.get(variable)
        if value:
            return secure(explicit(variable, value), variable, name)
    tried, notes = [], []
    for variable, path in defaults():
        home, absolute = os.environ.get(HOME, ""), os.path.isabs(path)
        if not absolute:  # the XDG base directory spec: "consider the path invalid and ignore it"
            given = os.environ.get(variable, "")
            why = "not an absolute path (a relative one would depend on the working directory)"
            notes.append(f"ignoring ${variable}={given}: {why}")
            tried.append(f"${variable}={given} (not an absolute path)")
            continue
        if variable == HOME and not os.path.isdir(home):  # a service account's HOME=/nonexistent: never created
            tried.append(f"{path} (from ${HOME}: {home} is not a directory)")
            continue
        try:
            real, writable = secure(os.path.abspath(path), variable, name)
        except BootstrapError as e:
            tried.append(f"{path} (from ${variable}: {e})")
            continue
        if writable:
            for text in notes:  # when none is usable, the error lists them instead
                if note is not None:
                    note(text)
            return real, writable
        tried.append(f"{path} (from ${variable}: not writable)")
    message = (
        f"no writable directory to extract {name} into (tried: {', '.join(tried) or 'none: no $HOME'}). "
        f"Set {ZIPAPP_ROOT} to a writable directory, or under systemd give the unit CacheDirectory={name}"
    )
    raise BootstrapError(message)


def explicit(variable: str, value: str) -> str:
    """The absolute path ``$variable`` (set to ``value``) names: ``~`` expanded, shiv's ``$OTHER_VARIABLE`` read; a
    relative path, or a variable that names nothing, is an error (never the current directory)."""
    given = value
    if value.startswith("$"):  # shiv's indirection: SHIV_ROOT=$OTHER_VARIABLE
        other = value[1:].strip("{}")
        value = os.environ.get(other, "")
        if not value:
            message = (
                f"${variable}={given} names the variable ${other}, which is not set (an unexpanded variable?): "
                f"set {variable} to an absolute path"
            )
            raise BootstrapError(message)
    path = os.path.expanduser(value)
    if not os.path.isabs(path):
        message = (
            f"${variable}={given} is not an absolute path: set it to one (a relative root would depend on the "
            f"working directory)"
        )
        raise BootstrapError(message)
    return os.path.abspath(path)


def defaults() -> list[tuple[str, str]]:
    """(variable, directory) of each default root that the environment names, in order."""
    candidates = []
    cache_directory = os.environ.get(CACHE_DIRECTORY)
    if cache_directory:
        candidates.append((CACHE_DIRECTORY, cache_directory.split(":")[0]))
    xdg = os.environ.get(XDG_CACHE_HOME)
    if xdg:
        candidates.append((XDG_CACHE_HOME, os.path.join(xdg, CACHE_NAME)))
    home = os.environ.get(HOME)
    if home:
        candidates.append((HOME, os.path.join(home, ".cache", CACHE_NAME)))
    return candidates
