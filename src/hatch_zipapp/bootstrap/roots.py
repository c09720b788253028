"""Where a .pyz extracts (``_bootstrap/roots.py`` in a .pyz): the root directory its extractions live in.

``$ZIPAPP_ROOT``, else shiv's ``$SHIV_ROOT``, else systemd's ``$CACHE_DIRECTORY`` (its first entry), else
``$XDG_CACHE_HOME/hatch-zipapp``, else ``~/.cache/hatch-zipapp``. A root named by a variable that cannot be used is
an error naming that variable; of the defaults, the first usable one is taken. Model: shiv's
``bootstrap/environment.py``.
"""

from __future__ import annotations

import os

from .documents import CACHE_DIRECTORY, CACHE_NAME, HOME, SHIV_ROOT, XDG_CACHE_HOME, ZIPAPP_ROOT, BootstrapError

#: The variables naming a root explicitly, in order: one that is set and unusable is an error.
EXPLICIT = (ZIPAPP_ROOT, SHIV_ROOT)


def _writable(path: str) -> bool:
    try:
        os.makedirs(path, exist_ok=True)
    except OSError:
        return False
    return os.access(path, os.W_OK | os.X_OK)


def root(name: str) -> str:
    """The directory extractions of application ``name`` live in."""
    for variable in EXPLICIT:
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
    for variable, path in defaults():
        if _writable(path):
            return os.path.abspath(path)
        tried.append(f"{path} (from ${variable})")
    message = (
        f"no writable directory to extract {name} into (tried: {', '.join(tried) or 'none: no $HOME'}). "
        f"Set {ZIPAPP_ROOT} to a writable directory, or under systemd give the unit CacheDirectory={name}"
    )
    raise BootstrapError(message)


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
