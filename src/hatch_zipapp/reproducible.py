"""Everything that makes two builds of the same inputs give the same bytes.

- one timestamp for every entry: ``SOURCE_DATE_EPOCH`` (validated: 1980 at the least, 2107 at the most);
- modes forced to 0644 / 0755 whatever the umask or the wheel said, as Unix modes (the zip headers say so:
  ``create_system`` Unix), and entries written in sorted order: the zip writer's own rules, which ``verify`` rebuilds
  the headers by (pyz/zipwrite.py: ``external_attr``, ``sorted_entries``, ``ZipWriter``);
- one pinned DEFLATE implementation for everything the build compresses (:func:`deflate_member`): libdeflate, as the
  ``deflate`` package of exactly :data:`DEFLATE_VERSION` bundles it, never the interpreter's ``zlib``, whose output
  differs between zlib, zlib-ng and their versions. What a locked wheel holds is not compressed again: its members'
  compressed bytes are copied as they are (layout.py).
"""

from __future__ import annotations

import os
import time
import zipfile
from collections.abc import Mapping

from hatch_zipapp.errors import ConfigError

__all__ = [
    "COMPRESS_LEVEL",
    "DEFAULT_EPOCH",
    "DEFLATE_VERSION",
    "check_compressor",
    "deflate_member",
    "source_date_epoch",
    "zip_date_time",
]

#: hatchling's own default, so the project wheel and the .pyz agree when SOURCE_DATE_EPOCH is unset.
DEFAULT_EPOCH = 1580601600
#: 1980-01-01T00:00:00Z and 2107-12-31T23:59:58Z: the range of a zip (DOS) timestamp.
_ZIP_MIN_EPOCH = 315532800
_ZIP_MAX_EPOCH = 4354819198

#: libdeflate's level (1-12) for what the build compresses: 6 is 3.8x faster than zlib's 6 and 0.5% smaller on a
#: Django site's generated files (docs/performance.md: level 9 is 1.2% smaller and half as fast as 6).
COMPRESS_LEVEL = 6
#: The exact version of the ``deflate`` package (libdeflate) whose output the .pyz holds; pyproject.toml pins it.
DEFLATE_VERSION = "0.9.0"


def source_date_epoch(environ: Mapping[str, str] | None = None) -> int:
    """The build's timestamp: ``SOURCE_DATE_EPOCH`` if set, hatchling's default otherwise; raised to 1980 (as
    hatchling does), and after 2107 (which no zip can hold, and hatchling's wheel fails on) an error; set but empty
    (which hatchling's wheel fails on too, not taking it as unset) an error."""
    environ = os.environ if environ is None else environ
    if "SOURCE_DATE_EPOCH" not in environ:
        epoch = DEFAULT_EPOCH
    elif not (raw := environ["SOURCE_DATE_EPOCH"].strip()):  # hatchling's int("") stops the project wheel
        message = (
            "Environment variable SOURCE_DATE_EPOCH is set but empty (a `$(git log ...)` that failed?); give it a "
            "whole number of seconds since 1970-01-01 UTC, SOURCE_DATE_EPOCH=$(git log -1 --format=%ct), or unset it"
        )
        raise ConfigError(message)
    else:
        try:
            epoch = int(raw)
        except ValueError:
            message = (
                f"Environment variable SOURCE_DATE_EPOCH must be a whole number of seconds since 1970-01-01 UTC, "
                f"got {raw!r}; set it with e.g. SOURCE_DATE_EPOCH=$(git log -1 --format=%ct) or unset it"
            )
            raise ConfigError(message) from None
        if epoch < 0:
            message = (
                f"Environment variable SOURCE_DATE_EPOCH must not be negative, got {raw!r}; set it with e.g. "
                f"SOURCE_DATE_EPOCH=$(git log -1 --format=%ct) or unset it"
            )
            raise ConfigError(message)
        if epoch > _ZIP_MAX_EPOCH:  # hatchling's wheel would stop with struct.error; an earlier time is not the same
            message = (
                f"Environment variable SOURCE_DATE_EPOCH is {raw}, after 2107-12-31, the last date a zip file (the "
                f"project's wheel, the .pyz) can hold; set it to the last commit's time, "
                f"SOURCE_DATE_EPOCH=$(git log -1 --format=%ct), or unset it"
            )
            raise ConfigError(message)
    return max(epoch, _ZIP_MIN_EPOCH)


def zip_date_time(epoch: int) -> tuple[int, int, int, int, int, int]:
    """The zip timestamp of ``epoch`` in UTC (never the build machine's time zone)."""
    return time.gmtime(epoch)[:6]


def check_compressor() -> None:
    """The pinned compressor is the one installed: else the build's bytes could differ from another machine's."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        found = version("deflate")
    except PackageNotFoundError:
        found = "none"
    if found != DEFLATE_VERSION:
        message = (
            f"hatch-zipapp compresses with the `deflate` package {DEFLATE_VERSION} (libdeflate), so that a .pyz has "
            f"the same bytes on every machine; this environment has {found}. Install hatch-zipapp's own dependencies "
            f"(`pip install deflate=={DEFLATE_VERSION}`)"
        )
        raise ConfigError(message)


def deflate_member(data: bytes) -> tuple[int, bytes]:
    """``data`` as a zip member holds it: (method, bytes), DEFLATE by the pinned libdeflate at
    :data:`COMPRESS_LEVEL`, or stored when that is no smaller (an empty file, a .gz or .br variant, an image)."""
    import deflate

    compressed = bytes(deflate.deflate_compress(data, COMPRESS_LEVEL))
    if len(compressed) >= len(data):
        return zipfile.ZIP_STORED, data
    return zipfile.ZIP_DEFLATED, compressed
