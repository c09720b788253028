"""The zip inside a .pyz: a few top-level members, and ``site-packages/`` kept in one inner zip.

Python reads the whole central directory of a zip it runs before the first line of the runtime executes: for a
Django site's ~5,600 members that is 20 ms of every start. So the outer zip holds only the runtime and its metadata,
and every ``site-packages/...`` member (same names, same modes, deflated) sits in ``site-packages.zip``, stored
uncompressed, so that the runtime reads the inner members in place, at their offsets in the .pyz, and only on the
start that extracts them. It also keeps the outer zip far below the 65,535 members that need ZIP64, which the
zipimport of Python 3.11 and 3.12 cannot read. The other outer members are stored too (:func:`write_outer` says why).

:class:`PyzReader` reads both levels as one list of members, for ``hatch-zipapp info``/``verify`` and the tests; a
.pyz without ``site-packages.zip`` (an earlier hatch-zipapp's flat layout) reads the same way.
"""

from __future__ import annotations

import hashlib
import io
import shutil
import struct
import tempfile
import zipfile
import zlib
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import BinaryIO, cast

from hatch_zipapp.bootstrap.documents import SITE_PACKAGES_ZIP
from hatch_zipapp.install import SITE_PACKAGES, StagedFile
from hatch_zipapp.reproducible import COMPRESS_LEVEL, COMPRESSION, sorted_entries, zip_info

__all__ = [
    "SITE_PACKAGES_ZIP",
    "Content",
    "HashingWriter",
    "InnerZip",
    "PyzReader",
    "close_entries",
    "outer_entries",
    "write_archive",
    "write_outer",
]

_CHUNK = 1024 * 1024


class InnerZip:
    """``site-packages.zip``, in an unnamed temporary file rather than in memory (a large site's is ~100 MB), with its
    size, CRC-32 and sha256, taken as it was written (:class:`_InOrder`)."""

    def __init__(self, file: BinaryIO, size: int, crc: int, sha256: str) -> None:
        self.file = file
        self.size, self.crc, self.sha256 = size, crc, sha256

    def read(self) -> bytes:
        self.file.seek(0)
        return self.file.read()

    def close(self) -> None:
        self.file.close()


class _InOrder:
    """What zipfile writes a zip through, written to ``out`` strictly in order, and digested as it goes.

    zipfile seeks back only to rewrite the local header of the member it has just written (with its CRC and sizes),
    then returns to the end. So each member is kept here until zipfile is back at the end, then written out: one
    member in memory at a time, no seek on the file (which would cost two system calls per member), and the bytes
    written are final, so they are hashed on the way."""

    def __init__(self, out: BinaryIO) -> None:
        self._out = out
        self._start = 0  # where the kept bytes start in the zip
        self._kept = bytearray()
        self._position = 0
        self.sha256 = hashlib.sha256()
        self.crc = 0

    def write(self, data: bytes) -> int:
        offset = self._position - self._start
        if offset == len(self._kept):  # the usual case: appended
            self._kept += data
            self._position += len(data)
            return len(data)
        if not 0 <= offset <= len(self._kept):
            message = f"zipfile wrote at {self._position}, before the member being written ({self._start})"
            raise AssertionError(message)
        self._kept[offset : offset + len(data)] = data
        self._position += len(data)
        return len(data)

    def seek(self, position: int, whence: int = 0) -> int:
        assert whence == 0
        self._position = position
        if position == self._start + len(self._kept):  # back at the end: what is kept is final
            self.flush()
        return position

    def tell(self) -> int:
        return self._position

    def flush(self) -> None:
        if self._position == self._start + len(self._kept) and self._kept:
            chunk = bytes(self._kept)
            self._out.write(chunk)
            self.sha256.update(chunk)
            self.crc = zlib.crc32(chunk, self.crc)
            self._start += len(chunk)
            self._kept = bytearray()

    def close(self) -> None:
        """Nothing: the file written through is its owner's to close."""


#: A member's bytes: in memory, a staged file (read when written), or site-packages.zip in its temporary file.
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
    (deflated, in archive order), in a temporary file: give the result to :func:`close_entries` when done."""
    inner_names = [name for name in entries if name.startswith(SITE_PACKAGES + "/")]
    file = cast(BinaryIO, tempfile.TemporaryFile(buffering=_CHUNK))  # noqa: SIM115 (closed by close_entries)
    try:
        out = _InOrder(file)
        _write_zip(out, entries, inner_names, date_time)
        out.flush()
        file.flush()
        inner = InnerZip(file, out.tell(), out.crc, out.sha256.hexdigest())
    except BaseException:
        file.close()
        raise
    outer = {name: entries[name] for name in entries if not name.startswith(SITE_PACKAGES + "/")}
    outer[SITE_PACKAGES_ZIP] = (inner, False)
    return outer


def close_entries(entries: Mapping[str, tuple[Content, bool]]) -> None:
    """Close the temporary files of :func:`outer_entries`."""
    for content, _ in entries.values():
        if isinstance(content, InnerZip):
            content.close()


def write_outer(
    out: BinaryIO | HashingWriter,
    outer: Mapping[str, tuple[Content, bool]],
    date_time: tuple[int, int, int, int, int, int],
) -> None:
    """Write the outer zip, every member stored: its bytes are then a function of the members alone (no deflate
    stream, whose unused bits zlib ignores and whose output another zlib may change), so that ``hatch-zipapp verify``
    rebuilds it from the members it read and compares byte for byte."""
    _write_zip(out, outer, outer, date_time, stored=set(outer))


class HashingWriter:
    """A file to write a .pyz through that hashes it in the same pass (for its ``.sha256`` sidecar), in file order.

    zipfile writes each member's local header twice: with a zero CRC and sizes, then, once the member is written,
    again with the real ones (it seeks back). Every outer member is stored and known before it is written, so
    :func:`write_outer` gives the final header beforehand (:meth:`expect`); it is hashed in place of the first, and
    the rewrite must then be that header, byte for byte (else this is an error, never a wrong digest)."""

    def __init__(self, out: BinaryIO) -> None:
        self._out = out
        self._digest = hashlib.sha256()
        self._end = out.tell()
        self._next_header: bytes | None = None
        self._headers: dict[int, bytes] = {}  # offset → the final header hashed there

    def expect(self, header: bytes) -> None:
        self._next_header = header

    def write(self, data: bytes) -> int:
        data = bytes(data)
        position = self._out.tell()
        if position < self._end:
            if self._headers.pop(position, None) != data:
                message = f"zipfile rewrote {len(data)} bytes at {position} that were not the header expected there"
                raise AssertionError(message)
        else:
            header, self._next_header = self._next_header, None
            if header is not None:
                if len(header) != len(data):
                    message = f"zipfile wrote a {len(data)}-byte header, {len(header)} bytes were expected"
                    raise AssertionError(message)
                self._headers[position] = header
            self._digest.update(data if header is None else header)
            self._end = position + len(data)
        return self._out.write(data)

    def hexdigest(self) -> str:
        if self._headers:
            message = f"zipfile left local headers unwritten at {sorted(self._headers)}"
            raise AssertionError(message)
        return self._digest.hexdigest()

    def tell(self) -> int:
        return self._out.tell()

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._out.seek(offset, whence)

    def flush(self) -> None:
        self._out.flush()

    def close(self) -> None:
        """Nothing: the file written through is its owner's to close."""


def _write_zip(
    out: BinaryIO | HashingWriter | _InOrder,
    entries: Mapping[str, tuple[Content, bool]],
    names: Iterable[str],
    date_time: tuple[int, int, int, int, int, int],
    stored: frozenset[str] | set[str] = frozenset(),
) -> None:
    with zipfile.ZipFile(out, "w", compression=COMPRESSION, compresslevel=COMPRESS_LEVEL) as archive:
        for name in sorted_entries(names):
            content, executable = entries[name]
            info = zip_info(name, date_time, executable=executable)
            if name in stored:
                info.compress_type = zipfile.ZIP_STORED
            if isinstance(content, InnerZip):
                info.file_size = content.size  # as writestr sets it: the same headers
                if isinstance(out, HashingWriter):
                    out.expect(_final_header(info, content.crc, content.size))
                content.file.seek(0)
                with archive.open(info, "w") as member:
                    shutil.copyfileobj(content.file, member, _CHUNK)
                continue
            if isinstance(content, StagedFile) and not isinstance(out, HashingWriter):  # read a piece at a time
                info.file_size = content.size  # as writestr sets it: the same headers
                with archive.open(info, "w") as member:
                    for chunk in content.chunks():
                        member.write(chunk)
                continue
            data = content.data if isinstance(content, StagedFile) else content
            if isinstance(out, HashingWriter):
                out.expect(_final_header(info, zlib.crc32(data), len(data)))
            archive.writestr(info, data)


def _final_header(info: zipfile.ZipInfo, crc: int, size: int) -> bytes:
    """The local header zipfile writes last for a stored member of this CRC and size (see :class:`HashingWriter`)."""
    final = zipfile.ZipInfo(info.filename, date_time=info.date_time)
    final.create_system, final.external_attr = info.create_system, info.external_attr
    final.compress_type = zipfile.ZIP_STORED
    final.flag_bits = 0
    final.CRC, final.file_size, final.compress_size = crc, size, size
    return final.FileHeader(False)


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
