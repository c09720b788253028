"""Cleanup of a root (``_bootstrap/cleanup.py`` in a .pyz): older extractions of the same application, beyond the
number to keep and not in use, and the leftovers of processes killed midway, are set aside for deletion."""

from __future__ import annotations

import os

from .atomic import set_aside
from .documents import BootstrapError
from .locks import FileLock

WORK, ASIDE = "tmp", "old"  # .KEY.tmp-PID, .KEY.old-PID-N (atomic.py)


def cleanup(base: str, name: str, key: str, keep: int) -> list[str]:
    """Set aside older extractions of application ``name`` in ``base``, keeping the newest ``keep`` (at least 1: the
    one of ``key``, which the caller holds) and any in use, and the leftovers of dead processes; the paths set aside,
    to delete (renamed to ``.NAME_BUILDID.old-PID-N``, so no start can take them for an extraction meanwhile)."""
    keep = max(keep, 1)
    doomed: list[str] = []
    prefix = f"{name}_"
    others = []
    for entry in os.listdir(base):
        path = os.path.join(base, entry)
        if entry.startswith(prefix) and entry != key and is_build_id(entry[len(prefix) :]) and os.path.isdir(path):
            others.append((os.stat(path).st_mtime, entry))
            continue
        # .NAME_BUILDID.tmp-PID (an extraction killed midway) or .NAME_BUILDID.old-PID-N (a deletion cut short)
        extraction, _, leftover = entry[1:].rpartition(".")
        kind, _, owner = leftover.partition("-")
        pid = owner.split("-")[0]
        if (
            entry.startswith(f".{prefix}")
            and is_build_id(extraction[len(prefix) :])
            and kind in {WORK, ASIDE}
            and pid.isdigit()
            and not alive(int(pid))
        ):
            aside = set_aside(base, entry, extraction)
            if aside is not None:
                doomed.append(aside)
    others.sort(reverse=True)
    for _, entry in others[keep - 1 :]:
        lock_path = os.path.join(base, f".{entry}.lock")
        try:
            lock = FileLock(lock_path)
        except BootstrapError:  # a lock that cannot be opened: leave that extraction alone
            continue
        try:
            if not lock.try_exclusive():
                continue  # a running process uses it
            aside = set_aside(base, entry)
            if aside is not None:
                doomed.append(aside)
                try:  # noqa: SIM105 - contextlib: one module more to import
                    os.unlink(lock_path)
                except OSError:
                    pass
        finally:
            lock.close()
    return doomed


def is_build_id(text: str) -> bool:
    """Only NAME_<sha256 hex> directories are this application's extractions (never another app's, nor a user's)."""
    return len(text) == 64 and all(c in "0123456789abcdef" for c in text)


def alive(pid: int) -> bool:
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
