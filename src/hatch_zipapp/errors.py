"""Every error hatch-zipapp raises on purpose.

Bad input (configuration, lock files, hashes, entry points) raises a subclass of both
:class:`ZipappError` and :class:`ValueError`, so callers that only know hatchling's
conventions still see a ``ValueError``. Messages say what is wrong, where, and the fix.
"""

from __future__ import annotations

__all__ = [
    "CacheError",
    "ConfigError",
    "DeployError",
    "DjangoError",
    "EntryPointError",
    "FetchError",
    "HashMismatchError",
    "LayoutError",
    "LockError",
    "NoMatchingFileError",
    "StaleLockError",
    "SystemdError",
    "TargetError",
    "UnsafeWheelError",
    "ZipappError",
]


class ZipappError(Exception):
    """Base class of hatch-zipapp's own errors."""


class CacheError(ZipappError, OSError):
    """A directory or file of the build cache (or a directory above it) could have been written by another user:
    nothing in it can be trusted."""


class ConfigError(ZipappError, ValueError):
    """A `[tool.hatch.build.targets.zipapp]` option is missing, mistyped or of the wrong type."""


class LockError(ZipappError, ValueError):
    """The lock file is missing, unreadable, or locks a package in a way that cannot be built."""


class StaleLockError(LockError):
    """`[project] dependencies` asks for something that the lock does not satisfy."""


class NoMatchingFileError(LockError):
    """A locked package has no file that fits the target."""


class FetchError(ZipappError, OSError):
    """A file could not be fetched (index unreachable, HTTP error)."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status

    def __str__(self) -> str:
        return str(self.args[0])


class HashMismatchError(ZipappError, ValueError):
    """A downloaded, local or cached file does not have the sha256 that the lock records."""


class UnsafeWheelError(ZipappError, ValueError):
    """A wheel tries to write outside the staging root."""


class EntryPointError(ZipappError, ValueError):
    """The entry point does not exist in the staged packages."""


class TargetError(ZipappError, ValueError):
    """A target's python version, implementation or platform cannot be understood."""


class DjangoError(ZipappError, ValueError):
    """The Django settings or collectstatic failed at build time."""


class LayoutError(ZipappError, ValueError):
    """A member would be written outside the .pyz's layout (site-packages/, _bootstrap/ and the top-level files)."""


class SystemdError(ZipappError, ValueError):
    """`hatch-zipapp systemd` was given a name, path, socket or command systemd cannot take, or a .pyz it cannot
    read."""


class DeployError(ZipappError):
    """`hatch-zipapp deploy` stopped: a bad argument (``status`` 2) or a step that failed (``status`` 1); the message
    names what and the fix, and ``current.pyz`` is on a release that passed its checks."""

    def __init__(self, message: str, *, status: int = 1) -> None:
        super().__init__(message)
        self.status = status
