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
    one of ``key``, whose exclusive lock the caller holds) and any in use, and the leftovers of processes that died;
    the paths set aside, to delete (renamed to ``.NAME_BUILDID.old-PID-N``, so no start can take them for an
    extraction meanwhile).

    Leftovers are judged by their lock, never by the PID in their name (a PID says nothing across PID namespaces,
    containers sharing a root): a work directory ``.KEY.tmp-PID`` is being written only while someone holds
    ``.KEY.lock`` exclusively, so it is a leftover when that lock can be taken (or is the caller's own); a
    ``.KEY.old-PID-N`` is set aside already, never used again, so deleting it is always right (if its process is
    still deleting it too, both finish the same job)."""
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
        kind = leftover.partition("-")[0]
        if not (entry.startswith(f".{prefix}") and is_build_id(extraction[len(prefix) :]) and kind in {WORK, ASIDE}):
            continue
        if kind == WORK and extraction != key and not _unused(os.path.join(base, f".{extraction}.lock")):
            continue  # being extracted now (or its lock cannot be opened): not a leftover
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


def _unused(lock_path: str) -> bool:
    """Whether no process holds the lock at ``lock_path`` (taken and released at once)."""
    if not os.path.lexists(lock_path):
        return True
    try:
        lock = FileLock(lock_path)
    except BootstrapError:
        return False
    try:
        return lock.try_exclusive()
    finally:
        lock.close()


def is_build_id(text: str) -> bool:
    """Only NAME_<sha256 hex> directories are this application's extractions (never another app's, nor a user's)."""
    return len(text) == 64 and all(c in "0123456789abcdef" for c in text)
