"""The index of a .pyz (``NAME.pyz.index``, written beside it by the build): the file described, in order, so that a
server holding earlier releases fetches only the bytes it lacks (:mod:`hatch_zipapp.deploy.fetch`).

Reading a release's zip directories by HTTP ``Range`` costs ~3.3% of the example site's .pyz (the directories, and
every local header, can differ between releases: their timestamps are the build's ``SOURCE_DATE_EPOCH``, their
offsets shift after any changed member), three times the 1% a one-line change may cost. The index is instead what
the zips' structure needs, compressed: each zip as its central directory, byte-transposed (the 46-byte entries
column by column, their offsets left out: they are the sums of the sizes before them) with the names and the end
records after; a member's local header is its entry's fields (zipread requires it), and its bytes are known by
(method, CRC-32, compressed size, size), a deflated one's by 16 bits of the CRC-32 of its compressed bytes too: the
same content is not always the same compressed bytes (a wheel's deflated members are copied as they are, and two
wheels holding one file compress it their own ways: the example site has such a pair of 251 bytes), and those 16
bits tell such candidates apart (11 kB of the example site's index, where the whole CRC-32 cost 22 kB: the sha256 of
the result is the guarantee, this only keeps a wrong pick, and the whole download it costs, rare).
``site-packages.zip`` is described the same way, inside the outer zip; the record and the other large stored members
(and a large prefix: an embedded Python) as content-defined chunks, each known by a truncated sha256, so a changed
line costs its chunk (about 2.5 kB), not the whole member. The example site's index is 72 kB (0.42% of its .pyz).

The index is untrusted input: bounded in size, parsed strictly (:func:`read_index`; anything else is
:class:`~hatch_zipapp.errors.DeltaIndexError`), and what it describes is only used once the file assembled from it
has the published sha256.
"""

from __future__ import annotations

import hashlib
import lzma
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

from hatch_zipapp.bootstrap import zipread
from hatch_zipapp.bootstrap.documents import SITE_PACKAGES, SITE_PACKAGES_ZIP, BootstrapError
from hatch_zipapp.errors import DeltaIndexError

__all__ = ["MAGIC", "MAX_INDEX", "SUFFIX", "Piece", "describe", "read_index", "write_index"]

#: The first line of an index (outside its compression): the format's name and version.
MAGIC = b"hatch-zipapp index 1\n"
#: The index of ``NAME.pyz`` is ``NAME.pyz.index``.
SUFFIX = ".index"
#: The largest index read, compressed and not (a .pyz of 100,000 members has a ~10 MB directory).
MAX_INDEX = 32 << 20
MAX_BODY = 256 << 20
#: The most pieces an index may describe (~450 bytes of memory each): the example site's has 11,439, a .pyz of
#: 100,000 members ~200,000.
MAX_PIECES = 1 << 19
#: A stored member (other than ``site-packages.zip``) or a prefix at least this large is described as chunks.
CHUNKED = 16 << 10
#: A chunk ends after a line whose CRC-32 is a multiple of this (about 32 lines: 2.5 kB of the record), or at
#: :data:`MAX_CHUNK` bytes (binary bytes without a line end).
CUT = 32
MAX_CHUNK = 64 << 10
DIGEST = 16  # bytes of a chunk's sha256 kept
_LITERAL, _CHUNKS, _ZIP = b"L", b"C", b"Z"
_ENTRY = zipread.CENTRAL_HEADER_SIZE
_HEAD = struct.Struct("<Q32s")


@dataclass(frozen=True)
class Piece:
    """``size`` bytes at ``offset`` of the file: given by the index (``literal``), or known by ``key`` and taken from
    wherever a piece of that key is (a member's bytes: ``b"m"``, its method, CRC-32 and sizes, and when deflated 16
    bits of its compressed bytes' CRC-32; a chunk: ``b"c"`` and its truncated sha256)."""

    offset: int
    size: int
    literal: bytes | None = None
    key: bytes = b""


# -- the structure of a file: regions -------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Literal:
    data: bytes


@dataclass(frozen=True)
class _Chunks:
    chunks: tuple[tuple[int, bytes], ...]  # (size, truncated sha256)


@dataclass(frozen=True)
class _Zip:
    entries: tuple[bytes, ...]  # each central directory entry (46 bytes and its name), its offset zeroed
    lead: int  # where the offsets count from: this many bytes before the first member
    tail: bytes  # the end records (ZIP64's too)
    checks: tuple[int, ...]  # a deflated member's compressed bytes' CRC-32, its low 16 bits (0: a stored member)
    parts: dict[int, tuple[_Region, ...]]  # a member's bytes described further (a nested zip, chunks)


_Region = _Literal | _Chunks | _Zip


def chunks(data: bytes) -> tuple[tuple[int, bytes], ...]:
    """``data`` cut after each line whose CRC-32 is a multiple of :data:`CUT`, or at :data:`MAX_CHUNK` bytes: cuts
    that depend on the content only, so a changed line changes its own chunk and no other."""
    return tuple(_cut(data, final=True)[0])


def _cut(data: bytes, *, final: bool) -> tuple[list[tuple[int, bytes]], int]:
    """The chunks of ``data`` that more data after it cannot change (all of them when ``final``), and their size."""
    found: list[tuple[int, bytes]] = []
    start = position = 0
    while position < len(data) and (final or len(data) - start >= MAX_CHUNK):
        end = data.find(b"\n", position, start + MAX_CHUNK)
        end = start + MAX_CHUNK if end < 0 else end + 1
        end = min(end, len(data))
        if zlib.crc32(data[position:end]) % CUT == 0 or end - start >= MAX_CHUNK or end == len(data):
            found.append((end - start, hashlib.sha256(data[start:end]).digest()[:DIGEST]))
            start = end
        position = end
    return found, start


def _chunks_at(reader: zipread.Reader, offset: int, size: int) -> _Region:
    """The ``size`` bytes at ``offset``: literal when small, else chunks (read a block at a time: a prefix that is
    an embedded Python is tens of MB, and the build's memory is bounded)."""
    if size < CHUNKED:
        return _Literal(reader.read(size, offset))
    found: list[tuple[int, bytes]] = []
    pending, position, end = b"", offset, offset + size
    while position < end:
        block = reader.read(min(zipread.CHUNK, end - position), position)
        if not block:
            raise zipread.Refused(reader.path, "cut short")
        position += len(block)
        cut, used = _cut(pending + block, final=position >= end)
        found += cut
        pending = (pending + block)[used:]
    return _Chunks(tuple(found))


def _walk(reader: zipread.Reader) -> list[_Region]:
    """The regions of a .pyz (read as zipread reads it: anything else is refused)."""
    size = reader.size()
    start, outer = zipread.directory(reader, 0, size, "the .pyz", prefix=True)
    regions = [_chunks_at(reader, 0, start)] if start else []
    parts: dict[int, tuple[_Region, ...]] = {}
    for number, member in enumerate(outer):
        name, method, compressed, _, offset, _, _, header = member
        data = offset + len(header)
        if reader.read(len(header), offset) != header:
            raise zipread.Refused(name, "its local header differs from its central directory entry")
        if name == SITE_PACKAGES_ZIP and method == zipread.STORED:
            parts[number] = (_zip(reader, data, data + compressed, name, under=SITE_PACKAGES),)
        elif method == zipread.STORED and compressed >= CHUNKED:
            parts[number] = (_chunks_at(reader, data, compressed),)
    regions.append(_zip(reader, start, size, "the .pyz", outer=outer, parts=parts))
    return regions


def _zip(
    reader: zipread.Reader,
    start: int,
    end: int,
    what: str,
    *,
    under: str = "",
    outer: list[zipread.Member] | None = None,
    parts: dict[int, tuple[_Region, ...]] | None = None,
) -> _Zip:
    if outer is None:
        start, members = zipread.directory(reader, start, end, what, under=under)
        for name, _, _, _, offset, _, _, header in members:
            if reader.read(len(header), offset) != header:
                raise zipread.Refused(name, "its local header differs from its central directory entry")
    else:
        members = outer
    last = members[-1] if members else None
    directory = last[4] + len(last[7]) + last[2] if last else start
    raw = reader.read(end - directory, directory)
    lead = struct.unpack_from("<L", raw, 42)[0] if members else 0  # the first member's offset
    entries: list[bytes] = []
    checks = tuple(_crc(reader, m[4] + len(m[7]), m[2]) & 0xFFFF if m[1] == zipread.DEFLATED else 0 for m in members)
    position = 0
    for _ in members:
        length = _ENTRY + struct.unpack_from("<H", raw, position + 28)[0]  # (no extra field, no comment: zipread)
        entry = bytearray(raw[position : position + length])
        struct.pack_into("<L", entry, 42, 0)
        entries.append(bytes(entry))
        position += length
    return _Zip(tuple(entries), lead, raw[position:], checks, parts or {})


def _crc(reader: zipread.Reader, offset: int, size: int) -> int:
    crc, end = 0, offset + size
    while offset < end:
        block = reader.read(min(zipread.CHUNK, end - offset), offset)
        if not block:
            raise zipread.Refused(reader.path, "cut short")
        crc = zlib.crc32(block, crc)
        offset += len(block)
    return crc


# -- pieces ---------------------------------------------------------------------------------------------------------
def _flatten(regions: tuple[_Region, ...] | list[_Region], offset: int, out: list[Piece]) -> int:
    """Append the pieces of ``regions`` (starting at ``offset``) to ``out``; where they end."""
    for region in regions:
        if isinstance(region, _Literal):
            if region.data:
                out.append(Piece(offset, len(region.data), region.data))
            offset += len(region.data)
        elif isinstance(region, _Chunks):
            for size, digest in region.chunks:
                out.append(Piece(offset, size, key=b"c" + digest))
                offset += size
        else:
            offset = _flatten_zip(region, offset, out)
    return offset


def _flatten_zip(region: _Zip, offset: int, out: list[Piece]) -> int:
    start = offset
    directory = bytearray()
    for number, entry in enumerate(region.entries):
        header = zipread.LOCAL_HEADER + entry[6:32] + entry[_ENTRY:]
        out.append(Piece(offset, len(header), header))
        at = offset + len(header)
        method, compressed = struct.unpack_from("<H", entry, 10)[0], struct.unpack_from("<L", entry, 20)[0]
        if number in region.parts:
            end = _flatten(region.parts[number], at, out)
            if end - at != compressed:
                message = f"entry {number} of a zip is {compressed} bytes, its parts {end - at}"
                raise DeltaIndexError(message)
        elif compressed:
            key = b"m" + bytes([method]) + entry[16:28]
            if method == zipread.DEFLATED:
                key += struct.pack("<H", region.checks[number])
            out.append(Piece(at, compressed, key=key))
        directory += entry[:42] + struct.pack("<L", offset - start + region.lead) + entry[46:]
        offset = at + compressed
    directory += region.tail
    out.append(Piece(offset, len(directory), bytes(directory)))
    return offset + len(directory)


def pieces(regions: list[_Region]) -> list[Piece]:
    """The pieces of a file, in order, adjacent literals joined."""
    out: list[Piece] = []
    _flatten(regions, 0, out)
    joined: list[Piece] = []
    run: list[Piece] = []  # adjacent literals, joined once (joining each to the last was quadratic)
    for piece in [*out, Piece(0, 0)]:
        if piece.literal is not None:
            run.append(piece)
            continue
        if len(run) == 1:
            joined.append(run[0])
        elif run:
            joined.append(Piece(run[0].offset, sum(p.size for p in run), b"".join(p.literal or b"" for p in run)))
        run.clear()
        joined.append(piece)
    return joined[:-1]


def describe(pyz: Path) -> list[Piece]:
    """The pieces of a .pyz at hand (an earlier release: where each key's bytes are), as its index gives them."""
    with zipread.Reader(str(pyz)) as reader:
        return pieces(_walk(reader))


# -- the index's bytes ----------------------------------------------------------------------------------------------
def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _encode(regions: tuple[_Region, ...] | list[_Region], out: bytearray) -> None:
    out += _varint(len(regions))
    for region in regions:
        if isinstance(region, _Literal):
            out += _LITERAL + _varint(len(region.data)) + region.data
        elif isinstance(region, _Chunks):
            out += _CHUNKS + _varint(len(region.chunks))
            for size, digest in region.chunks:
                out += _varint(size) + digest
        else:
            out += _ZIP + _varint(len(region.entries)) + _varint(region.lead)
            fixed = [entry[:_ENTRY] for entry in region.entries]
            out += b"".join(bytes(column) for column in zip(*fixed, strict=True))  # column by column
            out += b"".join(entry[_ENTRY:] for entry in region.entries)
            deflated = [
                check for entry, check in zip(fixed, region.checks, strict=True) if entry[10] == zipread.DEFLATED
            ]
            out += b"".join(struct.pack("<H", check) for check in deflated)
            out += _varint(len(region.tail)) + region.tail
            out += _varint(len(region.parts))
            for number, parts in sorted(region.parts.items()):
                out += _varint(number)
                _encode(parts, out)


def write_index(pyz: Path) -> bytes:
    """The index of the .pyz ``pyz`` (as the build wrote it: zipread refuses anything else); the same .pyz gives the
    same bytes (lzma at a fixed preset)."""
    with zipread.Reader(str(pyz)) as reader:
        try:
            regions = _walk(reader)
        except BootstrapError as e:
            message = f"{pyz.name}: cannot index it: {e}"
            raise DeltaIndexError(message) from None
    digest, size = hashlib.sha256(), 0
    with pyz.open("rb") as f:
        while block := f.read(zipread.CHUNK):
            digest.update(block)
            size += len(block)
    body = bytearray(_HEAD.pack(size, digest.digest()))
    _encode(regions, body)
    return MAGIC + lzma.compress(bytes(body), format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC64, preset=9)


@dataclass(frozen=True)
class Index:
    """A parsed index: the file's size, sha256 (hex) and pieces."""

    size: int
    sha256: str
    pieces: list[Piece]


class _Parser:
    def __init__(self, body: bytes) -> None:
        self.body, self.position, self.pieces = body, 0, 0

    def add(self, pieces: int) -> None:
        """Count the pieces the regions read so far describe: at most :data:`MAX_PIECES`."""
        self.pieces += pieces
        if self.pieces > MAX_PIECES:
            message = f"more than {MAX_PIECES} pieces at byte {self.position} (the build writes one a member or chunk)"
            raise DeltaIndexError(message)

    def take(self, size: int) -> bytes:
        if size < 0 or self.position + size > len(self.body):
            message = f"cut short at byte {self.position} of {len(self.body)}"
            raise DeltaIndexError(message)
        data = self.body[self.position : self.position + size]
        self.position += size
        return data

    def varint(self) -> int:
        value = shift = 0
        while True:
            byte = self.take(1)[0]
            value |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return value
            shift += 7
            if shift > 63:
                message = f"a number too long at byte {self.position}"
                raise DeltaIndexError(message)

    def count(self, each: int) -> int:
        """A count of items of at least ``each`` bytes: no more than the bytes left can hold."""
        value = self.varint()
        if value * each > len(self.body) - self.position:
            message = f"{value} items at byte {self.position}, more than the index holds"
            raise DeltaIndexError(message)
        return value

    def regions(self, depth: int) -> tuple[_Region, ...]:
        if depth > 3:
            raise DeltaIndexError("regions nested more than 3 deep")
        found: list[_Region] = []
        for _ in range(self.count(1)):
            kind = self.take(1)
            if kind == _LITERAL:
                self.add(1)
                found.append(_Literal(self.take(self.varint())))
            elif kind == _CHUNKS:
                listed = []
                count = self.count(1 + DIGEST)
                self.add(count)
                for _ in range(count):
                    size = self.varint()
                    if not 0 < size <= MAX_CHUNK:
                        message = f"a chunk of {size} bytes (at most {MAX_CHUNK})"
                        raise DeltaIndexError(message)
                    listed.append((size, self.take(DIGEST)))
                found.append(_Chunks(tuple(listed)))
            elif kind == _ZIP:
                found.append(self.zip(depth))
            else:
                message = f"a region of kind {kind!r} at byte {self.position - 1}"
                raise DeltaIndexError(message)
        return tuple(found)

    def zip(self, depth: int) -> _Zip:
        count, lead = self.count(_ENTRY), self.varint()
        self.add(2 * count + 1)  # each entry's local header and bytes, and the directory
        columns = self.take(count * _ENTRY)
        fixed = [bytes(row) for row in zip(*(columns[k * count : (k + 1) * count] for k in range(_ENTRY)), strict=True)]
        entries = []
        for entry in fixed:
            if entry[:4] != zipread.CENTRAL_HEADER or entry[30:38] != bytes(8):
                message = f"a directory entry that is not as the build writes it at byte {self.position}"
                raise DeltaIndexError(message)
            if entry[42:46] != bytes(4) or struct.unpack_from("<H", entry, 10)[0] not in (0, 8):
                message = f"a directory entry with an offset or method the build never writes at byte {self.position}"
                raise DeltaIndexError(message)
            entries.append(entry + self.take(struct.unpack_from("<H", entry, 28)[0]))
        deflated = [i for i, entry in enumerate(entries) if entry[10] == zipread.DEFLATED]
        found = dict(zip(deflated, struct.unpack(f"<{len(deflated)}H", self.take(2 * len(deflated))), strict=True))
        checks = tuple(found.get(i, 0) for i in range(count))
        tail = self.take(self.varint())
        parts: dict[int, tuple[_Region, ...]] = {}
        for _ in range(self.count(2)):
            number = self.varint()
            if number >= count or number in parts or (parts and number < max(parts)):
                message = f"parts of entry {number} of a zip of {count} entries"
                raise DeltaIndexError(message)
            parts[number] = self.regions(depth + 1)
        return _Zip(tuple(entries), lead, tail, checks, parts)


def read_index(data: bytes) -> Index:
    """The index ``data`` (untrusted: fetched beside the .pyz), parsed strictly; anything else is
    :class:`DeltaIndexError` naming what is wrong."""
    if len(data) > MAX_INDEX:
        message = f"{len(data)} bytes, more than the {MAX_INDEX} an index may have"
        raise DeltaIndexError(message)
    if not data.startswith(MAGIC):
        message = f"does not start with {MAGIC.decode().strip()!r}"
        raise DeltaIndexError(message)
    decompressor = lzma.LZMADecompressor(format=lzma.FORMAT_XZ)
    try:
        body = decompressor.decompress(data[len(MAGIC) :], MAX_BODY + 1)
    except lzma.LZMAError as e:
        message = f"its compressed body is damaged ({e})"
        raise DeltaIndexError(message) from None
    if len(body) > MAX_BODY:
        message = f"its body is more than {MAX_BODY} bytes"
        raise DeltaIndexError(message)
    if not decompressor.eof or decompressor.unused_data:
        raise DeltaIndexError("its compressed body is cut short, or followed by other bytes")
    parser = _Parser(body)
    size, digest = _HEAD.unpack(parser.take(_HEAD.size))
    regions = parser.regions(0)
    if parser.position != len(body):
        message = f"{len(body) - parser.position} bytes after its last region"
        raise DeltaIndexError(message)
    found = pieces(list(regions))
    described = found[-1].offset + found[-1].size if found else 0
    if described != size:
        message = f"its pieces make {described} bytes, not the {size} it says the file has"
        raise DeltaIndexError(message)
    return Index(size, digest.hex(), found)
