"""The zip inside a .pyz: a few top-level members, and ``site-packages/`` kept in one inner zip.

Python reads the whole central directory of a zip it runs before the first line of the runtime executes: for a
Django site's ~5,600 members that is 20 ms of every start. So the outer zip holds only the runtime and its metadata,
and every ``site-packages/...`` member (same names, same modes, compressed) sits in ``site-packages.zip``, stored
uncompressed, so that the runtime reads the inner members in place, at their offsets in the .pyz, and only on the
start that extracts them. It also keeps the outer zip far below the 65,535 members that need ZIP64, which the
zipimport of Python 3.11 and 3.12 cannot read. The other outer members are stored too (pyz/zipwrite.py says why:
this module splits the members, that one writes the zip).

:class:`PyzReader` reads both levels as one list of members, for ``hatch-zipapp info``/``verify`` and the tests; a
.pyz without ``site-packages.zip`` (an earlier hatch-zipapp's flat layout) reads the same way.
"""

from __future__ import annotations

import hashlib
import io
import struct
import tempfile
import zipfile
import zlib
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import BinaryIO, cast

from hatch_zipapp.bootstrap.documents import SITE_PACKAGES_ZIP
from hatch_zipapp.errors import LayoutError
from hatch_zipapp.install import SITE_PACKAGES, StagedFile
from hatch_zipapp.pyz.zipwrite import InnerZip, ZipWriter, sorted_entries, write_outer
from hatch_zipapp.reproducible import deflate_member

__all__ = [
    "SITE_PACKAGES_ZIP",
    "Compressed",
    "Content",
    "HashingWriter",
    "PyzReader",
    "close_entries",
    "outer_entries",
    "write_archive",
]

_CHUNK = 1024 * 1024


class _Digesting:
    """What a zip is written through: to ``out``, strictly in order, its size, CRC-32 and sha256 taken on the way."""

    def __init__(self, out: BinaryIO) -> None:
        self._out = out
        self.size = 0
        self.sha256 = hashlib.sha256()
        self.crc = 0

    def write(self, data: bytes) -> int:
        self._out.write(data)
        self.sha256.update(data)
        self.crc = zlib.crc32(data, self.crc)
        self.size += len(data)
        return len(data)

    def tell(self) -> int:
        return self.size


class Compressed(bytes):
    """A member's bytes (as :class:`bytes`) that also knows how a zip held them: ``member`` (method, CRC-32,
    compressed size, size) and ``raw``, its compressed bytes, which the archive copies as they are. Read by
    :meth:`PyzReader.read_member`: a .pyz rewritten from its members keeps their bytes."""

    member: tuple[int, int, int, int]
    raw: bytes

    @classmethod
    def of(cls, data: bytes, member: tuple[int, int, int, int], raw: bytes) -> Compressed:
        made = cls(data)
        made.member, made.raw = member, raw
        return made


#: A member's bytes: in memory (perhaps :class:`Compressed`), a staged file (read when written), or
#: site-packages.zip in its temporary file.
Content = bytes | StagedFile | InnerZip


def write_archive(
    out: BinaryIO, entries: Mapping[str, tuple[Content, bool]], date_time: tuple[int, int, int, int, int, int]
) -> None:
    """Write the zip part of a .pyz to ``out``: ``entries`` (name → data, executable) in archive order, those under
    ``site-packages/`` in the inner ``site-packages.zip``."""
    outer = outer_entries(entries, date_time)
    try:
        write_outer(out, outer, date_time)
    finally:
        close_entries(outer)


def outer_entries(
    entries: Mapping[str, tuple[Content, bool]], date_time: tuple[int, int, int, int, int, int]
) -> dict[str, tuple[Content, bool]]:
    """The outer zip's members: ``entries`` not under ``site-packages/``, and ``site-packages.zip`` holding the rest
    (in archive order), in a temporary file: give the result to :func:`close_entries` when done.

    A file installed unchanged from a locked wheel keeps the wheel's own compressed bytes (its method, CRC-32 and
    sizes: only its name and header are new); every other file is compressed by the pinned compressor
    (:func:`~hatch_zipapp.reproducible.deflate_member`)."""
    inner_names = [name for name in entries if name.startswith(SITE_PACKAGES + "/")]
    file = cast(BinaryIO, tempfile.TemporaryFile(buffering=_CHUNK))  # noqa: SIM115 (closed by close_entries)
    try:
        out = _Digesting(file)
        writer = ZipWriter(out, date_time)
        for name in sorted_entries(inner_names):
            content, executable = entries[name]
            _add_inner(writer, name, content, executable)
        writer.close()
        file.flush()
        inner = InnerZip(file, out.size, out.crc, out.sha256.hexdigest())
    except BaseException:
        file.close()
        raise
    outer = {name: entries[name] for name in entries if not name.startswith(SITE_PACKAGES + "/")}
    outer[SITE_PACKAGES_ZIP] = (inner, False)
    return outer


def _add_inner(writer: ZipWriter, name: str, content: Content, executable: bool) -> None:
    raw = content.raw if isinstance(content, StagedFile) else None
    if raw is not None:
        writer.add(name, raw.member, raw.chunks(), executable=executable)
        return
    if isinstance(content, InnerZip):
        message = f"Refusing to write {name!r}: a zip inside site-packages.zip"
        raise LayoutError(message)
    if isinstance(content, Compressed):
        writer.add(name, content.member, [content.raw], executable=executable)
        return
    data = content.data if isinstance(content, StagedFile) else content
    method, compressed = deflate_member(data)
    writer.add(name, (method, zlib.crc32(data), len(compressed), len(data)), [compressed], executable=executable)


def close_entries(entries: Mapping[str, tuple[Content, bool]]) -> None:
    """Close the temporary files of :func:`outer_entries`."""
    for content, _ in entries.values():
        if isinstance(content, InnerZip):
            content.close()


class HashingWriter:
    """A file to write a .pyz through that hashes it in the same pass (for its ``.sha256`` sidecar)."""

    def __init__(self, out: BinaryIO) -> None:
        self._out = out
        self._digest = hashlib.sha256()

    def write(self, data: bytes) -> int:
        self._digest.update(data)
        return self._out.write(data)

    def hexdigest(self) -> str:
        return self._digest.hexdigest()

    def tell(self) -> int:
        return self._out.tell()

    def flush(self) -> None:
        self._out.flush()


class PyzReader:
    """Every member of a .pyz by name, those inside ``site-packages.zip`` included (that member itself is not one)."""

    def __init__(self, path: str | Path, data: bytes | None = None) -> None:
        """The .pyz at ``path``, or ``data`` (the bytes of a .pyz called ``path``) read in memory."""
        self.path = Path(path)
        self._data = data
        self._outer = zipfile.ZipFile(self.path if data is None else io.BytesIO(data))
        self._inner: zipfile.ZipFile | None = None
        self._inner_base = 0
        #: site-packages.zip's bytes as stored in the .pyz (None in a flat .pyz)
        self.inner_data: bytes | None = None
        try:
            if SITE_PACKAGES_ZIP in self._outer.NameToInfo:
                info = self._outer.getinfo(SITE_PACKAGES_ZIP)
                self._inner_base = self._data_start(info)
                # Read in place, not through the outer zip: a damaged byte is then reported for the member it is in
                # (the outer CRC-32 would fail for site-packages.zip as a whole).
                self.inner_data = self._read_at(self._inner_base, info.compress_size)
                self._inner = zipfile.ZipFile(io.BytesIO(self.inner_data))
        except BaseException:
            self._outer.close()
            raise

    def outer_infolist(self) -> list[zipfile.ZipInfo]:
        """The outer zip's own members, ``site-packages.zip`` included, in the order of its central directory."""
        return self._outer.infolist()

    def infolist(self) -> list[zipfile.ZipInfo]:
        outer = [info for info in self._outer.infolist() if info.filename != SITE_PACKAGES_ZIP]
        return outer + (self._inner.infolist() if self._inner is not None else [])

    def namelist(self) -> list[str]:
        return [info.filename for info in self.infolist()]

    def getinfo(self, name: str) -> zipfile.ZipInfo:
        return self._archive_of(name).getinfo(name)

    def read(self, name: str | zipfile.ZipInfo) -> bytes:
        return self._archive_of(name if isinstance(name, str) else name.filename).read(name)

    def read_member(self, name: str | zipfile.ZipInfo) -> Compressed:
        """:meth:`read`, with the member's compressed bytes as the .pyz holds them (:class:`Compressed`)."""
        info = self.getinfo(name) if isinstance(name, str) else name
        data = self.read(info)
        offset = self.data_offset(info.filename)
        if self._inner is not None and info.filename in self._inner.NameToInfo:
            raw = self.inner_data[offset - self._inner_base :][: info.compress_size] if self.inner_data else b""
        else:
            raw = self._read_at(offset, info.compress_size)
        return Compressed.of(data, (info.compress_type, info.CRC, info.compress_size, info.file_size), raw)

    def data_offset(self, name: str) -> int:
        """Where the (compressed) bytes of member ``name`` start in the .pyz file."""
        info = self.getinfo(name)
        if self._inner is not None and name in self._inner.NameToInfo:
            return self._inner_base + self._data_start(info, base=self._inner_base)
        return self._data_start(info)

    def _archive_of(self, name: str) -> zipfile.ZipFile:
        if self._inner is not None and name in self._inner.NameToInfo:
            return self._inner
        if name == SITE_PACKAGES_ZIP:
            raise KeyError(name)
        return self._outer

    def _data_start(self, info: zipfile.ZipInfo, base: int = 0) -> int:
        """The offset (from ``base``) of a member's data: after its local header, its name and its extra field."""
        name_length, extra_length = struct.unpack("<HH", self._read_at(base + info.header_offset + 26, 4))
        return int(info.header_offset + 30 + name_length + extra_length)

    def _read_at(self, offset: int, size: int) -> bytes:
        if self._data is not None:
            return self._data[offset : offset + size]
        with self.path.open("rb") as f:
            f.seek(offset)
            return f.read(size)

    def close(self) -> None:
        if self._inner is not None:
            self._inner.close()
        self._outer.close()

    def __enter__(self) -> PyzReader:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()
