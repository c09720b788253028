"""The packages of a .pyz for the Python processes it starts (``_bootstrap/sitecustomize.py`` in a .pyz). Standard
library only; it parses on every Python 3 (a virtualenv of another version may import it).

With re-exec on (the ``reexec`` option, ``ZIPAPP_REEXEC=1``), the runtime exports ``PYTHONPATH=ARCHIVE/_bootstrap``
(before what was there) and ``_ZIPAPP_CHILD`` for its children. A child Python imports this module as
``sitecustomize`` at start-up, from the .pyz itself (zipimport), and:

- takes ``ARCHIVE/_bootstrap`` off its ``sys.path`` (it is there for this module only);
- when it is the interpreter that runs the .pyz (the same ``sys.prefix`` and version: ``sys.executable -m pip``,
  ``sys.executable script.py``), puts the extraction on ``sys.path`` as the runtime does (without the host's
  site-packages when the .pyz is isolated), and leaves the variables for its own children;
- any other interpreter (a virtualenv or venv a child made: its ``sys.prefix`` is its own directory; another Python
  version) adds nothing, and takes the entry and ``_ZIPAPP_CHILD`` out of its environment, so neither it nor what it
  starts sees the .pyz's packages;
- then imports the interpreter's own ``sitecustomize``, if it has one (Debian's), as if this one were not there.

pip runs its build environments the same way (a ``sitecustomize.py`` on ``PYTHONPATH``: pip 26.3,
``pip/_internal/build_env/virtual.py``).
"""

import os
import sys

CHILD = "_ZIPAPP_CHILD"  # documents.ZIPAPP_CHILD (this module is loaded alone: it imports nothing of the runtime)


def _path_without(entry):  # type: (str) -> list[str]
    """$PYTHONPATH without ``entry`` nor any other .pyz's ``ARCHIVE/_bootstrap`` (nested re-exec)."""
    return [
        p
        for p in os.environ.get("PYTHONPATH", "").split(os.pathsep)
        if p and p != entry and not (os.path.basename(p) == "_bootstrap" and os.path.isfile(os.path.dirname(p)))
    ]


def _child():  # type: () -> None
    parts = os.environ.get(CHILD, "").split("\t")
    if len(parts) != 5:
        return
    hexversion, isolated, prefix, site_packages, entry = parts
    sys.path[:] = [p for p in sys.path if p != entry]
    if hexversion != str(sys.hexversion) or os.path.realpath(prefix) != os.path.realpath(sys.prefix):
        pythonpath = _path_without(entry)
        if pythonpath:
            os.environ["PYTHONPATH"] = os.pathsep.join(pythonpath)
        else:
            os.environ.pop("PYTHONPATH", None)
        os.environ.pop(CHILD, None)
        return
    import site

    if isolated == "1":  # as the runtime's set_path: the host's site-packages, dist-packages and user site go
        kept = set(_path_without(entry))
        sys.path[:] = [
            p for p in sys.path if p in kept or not {"site-packages", "dist-packages"} & set(p.split(os.sep))
        ]
    site.addsitedir(site_packages)


def _chain():  # type: () -> None
    """The interpreter's own sitecustomize, found further along sys.path, in this one's place."""
    import importlib

    here = os.path.dirname(os.path.abspath(__file__))  # off the path even without _ZIPAPP_CHILD: else found again
    sys.path[:] = [p for p in sys.path if os.path.abspath(p) != here]
    me = sys.modules.pop("sitecustomize", None)
    try:
        importlib.import_module("sitecustomize")  # not a dependency: the hook site.py looks for, if there is one
    except ImportError as e:
        if getattr(e, "name", None) != "sitecustomize":
            raise
        if me is not None:
            sys.modules["sitecustomize"] = me


if __name__ == "sitecustomize":
    _child()
    _chain()
