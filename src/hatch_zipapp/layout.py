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

import io
import struct
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from hatch_zipapp.bootstrap.documents import SITE_PACKAGES_ZIP
from hatch_zipapp.install import SITE_PACKAGES
from hatch_zipapp.reproducible import COMPRESS_LEVEL, COMPRESSION, sorted_entries, zip_info

__all__ = ["SITE_PACKAGES_ZIP", "PyzReader", "outer_entries", "write_archive", "write_outer"]


def write_archive(
    out: BinaryIO, entries: Mapping[str, tuple[bytes, bool]], date_time: tuple[int, int, int, int, int, int]
) -> None:
    """Write the zip part of a .pyz to ``out``: ``entries`` (name → data, executable) in archive order, those under
    ``site-packages/`` in the inner ``site-packages.zip``."""
    write_outer(out, outer_entries(entries, date_time), date_time)


def outer_entries(
    entries: Mapping[str, tuple[bytes, bool]], date_time: tuple[int, int, int, int, int, int]
) -> dict[str, tuple[bytes, bool]]:
    """The outer zip's members: ``entries`` not under ``site-packages/``, and ``site-packages.zip`` holding the rest
    (deflated, in archive order)."""
    inner_names = [name for name in entries if name.startswith(SITE_PACKAGES + "/")]
    inner = io.BytesIO()
    _write_zip(inner, entries, inner_names, date_time)
    outer = {name: entries[name] for name in entries if not name.startswith(SITE_PACKAGES + "/")}
    outer[SITE_PACKAGES_ZIP] = (inner.getvalue(), False)
    return outer


def write_outer(
    out: BinaryIO, outer: Mapping[str, tuple[bytes, bool]], date_time: tuple[int, int, int, int, int, int]
) -> None:
    """Write the outer zip, every member stored: its bytes are then a function of the members alone (no deflate
    stream, whose unused bits zlib ignores and whose output another zlib may change), so that ``hatch-zipapp verify``
    rebuilds it from the members it read and compares byte for byte."""
    _write_zip(out, outer, outer, date_time, stored=set(outer))


def _write_zip(
    out: BinaryIO,
    entries: Mapping[str, tuple[bytes, bool]],
    names: Iterable[str],
    date_time: tuple[int, int, int, int, int, int],
    stored: frozenset[str] | set[str] = frozenset(),
) -> None:
    with zipfile.ZipFile(out, "w", compression=COMPRESSION, compresslevel=COMPRESS_LEVEL) as archive:
        for name in sorted_entries(names):
            data, executable = entries[name]
            info = zip_info(name, date_time, executable=executable)
            if name in stored:
                info.compress_type = zipfile.ZIP_STORED
            archive.writestr(info, data)


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
