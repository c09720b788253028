"""What the pytest-xdist workers of one run share: files made once, by the first worker to need them, under a lock.

The directory is the documented pattern's: below the base temporary directory's parent, which is this run's own
(``/tmp/pytest-of-USER/pytest-N/``; each worker's base is ``popen-gwK`` in it), so nothing is shared between runs and
nothing made by an older checkout is ever taken. Without workers it is a fresh directory of the process.
"""

from __future__ import annotations

import fcntl
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest


def run_directory(factory: pytest.TempPathFactory, name: str) -> Path:
    """A directory every worker of this run shares (without workers, a fresh one)."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return factory.mktemp(name)
    directory = factory.getbasetemp().parent / name
    directory.mkdir(exist_ok=True)
    return directory


class Shared:
    """``made(name, make)``: ``directory/name``, made by ``make(path)`` (which creates ``path``, a file or a directory)
    by the first worker that asks, under an exclusive lock on ``directory/name.lock``; the others wait, then take it.
    What a killed worker left half-made (``name.partial``) is made again."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def made(self, name: str, make: Callable[[Path], object]) -> Path:
        path = self.directory / name
        with (self.directory / f"{name}.lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                if not path.exists():
                    partial = self.directory / f"{name}.partial"
                    if partial.is_dir() and not partial.is_symlink():
                        shutil.rmtree(partial)
                    else:
                        partial.unlink(missing_ok=True)
                    make(partial)
                    partial.rename(path)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
        return path
