# ruff: noqa: UP031
# Part of the .pyz's ``__main__.py`` (written by hatch_zipapp/archive.py after bootstrap/check.py), and its first act:
# it must parse and run on every Python 3 from 3.6 up (as check.py: no f-strings with ``=``, no walrus, annotations as
# strings only). Standard library only.
"""Pin the .pyz: a start reads the one file it began on, whatever its name points to by then.

A deploy switches ``current.pyz`` to another release while starts are in flight (docs/deployment.md: ``ln -sfn`` and
``mv -T``, or ``mv`` over the file). Python's zipimport and the runtime open the archive by its name for every
read, so a start that began on release N would read release N+1 at N's offsets: ``damaged .pyz``, for a file that is
not damaged. So, before anything else, :func:`pin`:

1. opens the archive once (``fd``), and compares the central directory zipimport read at the interpreter's start
   (``zipimport._zip_directory_cache``: every member's offset, sizes and CRC) with the one ``fd`` holds. A difference
   means the name was switched in between: the start begins again, the same command line (``os.execv``), and so
   starts cleanly on the new release; at most :data:`RESTARTS` times in a row (:data:`SWITCHED` counts them), then
   one line and exit status 1;
2. from then on reads everything through that file: the archive's entry on ``sys.path`` and ``__main__``'s loader
   become ``/proc/self/fd/N`` (:data:`PINNED`: on Linux, the same file whatever the name now points to, for this
   process and the processes it forks), so the runtime's package, its reads (runtime.py, zipread.py) and zipimport's
   all read that one file. ``sys.argv[0]`` stays the name the user typed (messages, dispatch by invoked name).

The embedded-interpreter launcher (launcher.sh) pins the file itself and hands Python ``/proc/PID/fd/N``, with the
name it was started by in :data:`NAMED`: that descriptor is used as it is, and ``sys.argv[0]`` becomes the name.

Where there is no ``/proc`` (not Linux), nothing is pinned: the archive is read by its name, as before.
"""

import os
import sys

#: The name of a pinned archive: this process's descriptor of it, N appended (the runtime's children are given
#: ``/proc/PID/fd/N``: runtime.py ``_for_children``).
PINNED = "/proc/self/fd/"
#: How many times in a row a start that found its file switched under it begins again before it gives up.
RESTARTS = 3
#: The variable that counts those new beginnings (removed from the environment at once: the app never sees it).
SWITCHED = "_ZIPAPP_SWITCHED"
#: The name the embedded-interpreter launcher was started by, when it hands Python its descriptor (launcher.sh).
NAMED = "_ZIPAPP_NAMED"


def _given_descriptor(archive: "str") -> "int | None":
    """N when ``archive`` is this process's ``/proc/PID/fd/N`` (the launcher's, inherited through its exec)."""
    prefix = "/proc/%d/fd/" % os.getpid()
    number = archive[len(prefix) :]
    if archive.startswith(prefix) and number.isdigit():
        return int(number)
    return None


def _restart(count: "str | None") -> None:
    """Begin the start again, on what the name points to now; one line and exit status 1 after RESTARTS times."""
    done = int(count) if count and count.isdigit() else 0
    if done >= RESTARTS:
        program = os.path.basename(sys.argv[0] if sys.argv and sys.argv[0] else "app.pyz")
        sys.stderr.write(
            "%s: the file was replaced while it started, %d times in a row (a deploy switching it?): start it again\n"
            % (program, done + 1)
        )
        sys.stderr.flush()
        raise SystemExit(1)
    os.environ[SWITCHED] = str(done + 1)
    argv = getattr(sys, "orig_argv", None)  # Python 3.10+: the command line as it was, interpreter options included
    if not argv:
        import subprocess

        argv = [sys.executable, *subprocess._args_from_interpreter_flags(), *sys.argv]  # type: ignore[attr-defined]
    os.execv(sys.executable, argv)  # noqa: S606 - this start's own command line, begun again


def _differ(began: "dict[str, tuple[object, ...]]", holds: "dict[str, tuple[object, ...]]") -> bool:
    """Whether two central directories as zipimport keeps them (name: path, compression, sizes, offset, time, date,
    CRC-32) list other members, or the same ones elsewhere or with other bytes."""
    return len(began) != len(holds) or any(tuple(holds.get(k, ()))[1:] != tuple(v)[1:] for k, v in began.items())


def pin() -> None:
    """Make every later read of this start's archive read the file it began on (the module's docstring)."""
    count = os.environ.pop(SWITCHED, None) if SWITCHED in os.environ else None
    named = os.environ.pop(NAMED, None) if NAMED in os.environ else None
    main = sys.modules["__main__"]
    loader = main.__dict__.get("__loader__")
    archive = getattr(loader, "archive", None)
    if not isinstance(archive, str) or not sys.platform.startswith("linux"):
        return
    import zipimport

    given = _given_descriptor(archive)  # the launcher's: already the file it began on
    fd = -1
    try:
        fd = os.open(archive, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0)) if given is None else given
        os.set_inheritable(fd, False)  # for this process and its forks, not for the programs it runs
        pinned = PINNED + str(fd)
        importer = zipimport.zipimporter(pinned)  # reads the central directory of the file fd holds
        cache = zipimport._zip_directory_cache  # type: ignore[attr-defined]
    except FileNotFoundError:  # moved or deleted since the interpreter read it: nothing of it to run
        program = os.path.basename(sys.argv[0] if sys.argv and sys.argv[0] else archive)
        sys.stderr.write(
            "%s: cannot read %s: no such file (moved or deleted while it started). Start it from where it is\n"
            % (program, archive)
        )
        sys.stderr.flush()
        raise SystemExit(1) from None
    except Exception:  # no /proc (a container without it), an unreadable file: read by name, as before
        if given is None and fd >= 0:
            os.close(fd)
        return
    if given is None and _differ(cache.get(archive, {}), cache.get(pinned, {})):
        os.close(fd)
        _restart(count)  # switched between the interpreter's first read and this open
    if given is not None and named:
        sys.argv[0] = named
    for index, entry in enumerate(sys.path):
        if entry == archive:
            sys.path[index] = pinned
    sys.path_importer_cache.pop(archive, None)
    sys.path_importer_cache[pinned] = importer
    main.__loader__ = importer
    spec = main.__dict__.get("__spec__")
    if spec is not None and spec.loader is loader:
        spec.loader = importer
