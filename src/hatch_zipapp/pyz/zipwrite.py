"""The zip as hatch-zipapp writes it, which the build writes and ``verify`` rebuilds to compare byte for byte: every
header field fixed here (:class:`ZipWriter`), not by the running Python's :mod:`zipfile`; the members in sorted order
(:func:`sorted_entries`), with the modes 0644 or 0755 (:func:`external_attr`); the outer zip's members all stored
(:func:`write_outer`). The build's reproducibility rules (reproducible.py) rest on these; bootstrap/zipread.py reads
exactly what is written here.
"""

from __future__ import annotations

import struct
import zipfile
import zlib
from collections.abc import Iterable, Iterator, Mapping
from typing import BinaryIO, Protocol

from hatch_zipapp.bootstrap.zipread import CHUNK, END64_FIELDS, MADE_BY, UTF8, VERSION
from hatch_zipapp.errors import LayoutError

__all__ = [
    "DateTime",
    "InnerZip",
    "Staged",
    "ZipWriter",
    "external_attr",
    "sorted_entries",
    "stored",
    "write_outer",
]

#: A member's mode (:func:`external_attr`): 0644, or 0755 for an executable, whatever the umask or the wheel said.
_FILE_MODE = 0o100644
_EXEC_MODE = 0o100755


class InnerZip:
    """``site-packages.zip``, in an unnamed temporary file rather than in memory (a large site's is ~100 MB), with its
    size, CRC-32 and sha256, taken as it was written."""

    def __init__(self, file: BinaryIO, size: int, crc: int, sha256: str) -> None:
        self.file = file
        self.size, self.crc, self.sha256 = size, crc, sha256

    def read(self) -> bytes:
        self.file.seek(0)
        return self.file.read()

    def chunks(self) -> Iterator[bytes]:
        self.file.seek(0)
        while piece := self.file.read(CHUNK):
            yield piece

    def close(self) -> None:
        self.file.close()


class _Writable(Protocol):
    def write(self, data: bytes, /) -> int: ...


class Staged(Protocol):
    """A member's bytes kept elsewhere, read when it is written (the build's ``install.StagedFile``)."""

    @property
    def data(self) -> bytes: ...


class ZipWriter:
    """A zip written strictly in order, never seeking back: each member's local header holds its CRC-32 and sizes
    (known before its data is written), then its data, then the central directory and its end record (ZIP64 only
    when 65,535 members or more need it). Every field is fixed here, not by the running Python's :mod:`zipfile`: the
    same members give the same bytes whichever Python builds them (and :mod:`zipfile` reads the result)."""

    def __init__(self, out: _Writable, date_time: DateTime) -> None:
        self._out = out
        self._offset = 0
        self._central: list[bytes] = []
        self._names: set[str] = set()
        self._time, self._date = _dos_time(date_time)

    def add(
        self, name: str, member: tuple[int, int, int, int], pieces: Iterable[bytes], *, executable: bool = False
    ) -> None:
        """A member: ``member`` is its (method, CRC-32, compressed size, size); ``pieces`` its data as stored."""
        method, crc, compressed, size = member
        if name in self._names:
            message = f"Refusing to write {name!r} twice"
            raise LayoutError(message)
        if max(compressed, size, self._offset) >= _ZIP64_LIMIT:
            message = f"{name!r} is 4 GiB or more, or starts past 4 GiB: too large for a .pyz"
            raise LayoutError(message)
        self._names.add(name)
        encoded = name.encode("utf-8")
        flags = 0 if name.isascii() else UTF8
        fields = (VERSION, flags, method, self._time, self._date, crc, compressed, size, len(encoded))
        header = struct.pack(_LOCAL, _LOCAL_SIGNATURE, *fields, 0) + encoded
        mode = external_attr(executable)
        self._central.append(
            struct.pack(_CENTRAL, _CENTRAL_SIGNATURE, MADE_BY, *fields, 0, 0, 0, 0, mode, self._offset) + encoded
        )
        self._write(header)
        written = 0
        for piece in pieces:
            self._write(piece)
            written += len(piece)
        if written != compressed:
            message = f"{name!r}: {written} bytes written, {compressed} announced"
            raise LayoutError(message)

    def close(self) -> None:
        """The central directory and its end record (after a ZIP64 end record and locator when needed)."""
        start = self._offset
        for entry in self._central:
            self._write(entry)
        size, count = self._offset - start, len(self._central)
        if count >= 0xFFFF or start >= _ZIP64_LIMIT:
            end64 = self._offset
            self._write(struct.pack(_END64, _END64_SIGNATURE, *END64_FIELDS, 0, 0, count, count, size, start))
            self._write(struct.pack(_LOCATOR, _LOCATOR_SIGNATURE, 0, end64, 1))
        count, size, start = min(count, 0xFFFF), min(size, 0xFFFFFFFF), min(start, 0xFFFFFFFF)
        self._write(struct.pack(_END, _END_SIGNATURE, 0, 0, count, count, size, start, 0))

    def _write(self, data: bytes) -> None:
        self._out.write(data)
        self._offset += len(data)


DateTime = tuple[int, int, int, int, int, int]
_LOCAL = "<4sHHHHHLLLHH"
_CENTRAL = "<4sHHHHHHLLLHHHHHLL"
_END = "<4sHHHHLLH"
_END64 = "<4sQHHLLQQQQ"
_LOCATOR = "<4sLQL"
_LOCAL_SIGNATURE, _CENTRAL_SIGNATURE, _END_SIGNATURE = b"PK\x03\x04", b"PK\x01\x02", b"PK\x05\x06"
_END64_SIGNATURE, _LOCATOR_SIGNATURE = b"PK\x06\x06", b"PK\x06\x07"
# The version needed to extract (2.0: deflate), made by (Unix 2.0: the external attributes are Unix modes), the UTF-8
# flag: bootstrap/zipread.py's, which reads only what is written here.
_ZIP64_LIMIT = 1 << 32


def _dos_time(date_time: DateTime) -> tuple[int, int]:
    year, month, day, hour, minute, second = date_time
    if not 1980 <= year <= 2107:
        message = f"A zip timestamp holds the years 1980 to 2107, not {year}: set SOURCE_DATE_EPOCH within them"
        raise LayoutError(message)  # a ValueError too: `verify` reports a .pyz whose timestamp is out of range
    return hour << 11 | minute << 5 | second // 2, (year - 1980) << 9 | month << 5 | day


def stored(data: bytes) -> tuple[int, int, int, int]:
    """The (method, CRC-32, compressed size, size) of ``data`` stored."""
    return zipfile.ZIP_STORED, zlib.crc32(data), len(data), len(data)


def write_outer(
    out: _Writable,
    outer: Mapping[str, tuple[bytes | Staged | InnerZip, bool]],
    date_time: DateTime,
) -> None:
    """Write the outer zip, every member stored: its bytes are then a function of the members alone (no deflate
    stream), so that ``hatch-zipapp verify`` rebuilds it from the members it read and compares byte for byte."""
    writer = ZipWriter(out, date_time)
    for name in sorted_entries(outer):
        content, executable = outer[name]
        if isinstance(content, InnerZip):
            member = (zipfile.ZIP_STORED, content.crc, content.size, content.size)
            writer.add(name, member, content.chunks(), executable=executable)
        elif isinstance(content, bytes):
            writer.add(name, stored(content), [content], executable=executable)
        else:
            data = content.data
            writer.add(name, stored(data), [data], executable=executable)
    writer.close()


def external_attr(executable: bool) -> int:
    """A member's external attributes: its Unix mode, 0755 or 0644, whatever the umask or the wheel said."""
    return (_EXEC_MODE if executable else _FILE_MODE) << 16


def sorted_entries(names: Iterable[str]) -> list[str]:
    """Archive order: plain code-point order of the POSIX path, independent of the file system's listing order."""
    return sorted(names)
