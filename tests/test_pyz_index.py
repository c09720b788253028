"""The index the build writes beside a .pyz (hatch_zipapp/pyz/index.py): the same .pyz gives the same bytes, its
pieces put together are the .pyz byte for byte, and a damaged index is one DeltaIndexError naming what is wrong,
never a traceback of another kind (it is fetched: untrusted)."""

from __future__ import annotations

import lzma
import os
import random
import struct
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from hatch_zipapp.errors import DeltaIndexError
from hatch_zipapp.pyz import index
from tests.helpers import build, make_project, make_wheel, pylock_text, small_pyz


@pytest.fixture(scope="module")
def pyz(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    with small_pyz(tmp_path_factory.mktemp("index")) as built:
        yield built


def _assembled(pieces: list[index.Piece], source: bytes, at: dict[bytes, int]) -> bytes:
    out = bytearray()
    for piece in pieces:
        assert piece.offset == len(out)
        out += piece.literal if piece.literal is not None else source[at[piece.key] : at[piece.key] + piece.size]
    return bytes(out)


def _body(data: bytes) -> bytes:
    return lzma.decompress(data[len(index.MAGIC) :])


def _pack(body: bytes) -> bytes:
    return index.MAGIC + lzma.compress(body)


def test_the_build_writes_it_and_it_is_reproducible(pyz: Path) -> None:
    written = Path(f"{pyz}.index").read_bytes()
    assert written == index.write_index(pyz) == index.write_index(pyz)
    assert written.startswith(index.MAGIC)


def test_its_pieces_are_the_pyz(pyz: Path) -> None:
    data = pyz.read_bytes()
    parsed = index.read_index(Path(f"{pyz}.index").read_bytes())
    assert parsed.size == len(data)
    at = {piece.key: piece.offset for piece in index.describe(pyz) if piece.literal is None}
    assert _assembled(parsed.pieces, data, at) == data
    keys = [piece.key[:1] for piece in parsed.pieces if piece.literal is None]
    assert b"m" in keys and b"c" in keys  # members by key, and the record in chunks


def _same_size_deflated() -> tuple[bytes, int, int]:
    """A text that zlib deflates to streams of the same size but other bytes at two levels."""
    rng = random.Random(1)  # noqa: S311 - a fixed search
    words = ["alpha", "beta", "gamma", "delta", "zip", "range", "one", "two"]
    while True:
        text = (" ".join(rng.choices(words, k=rng.randint(20, 200))) + "\n").encode()
        fast, best = (zlib.compressobj(level, zlib.DEFLATED, -15) for level in (1, 9))
        first, second = fast.compress(text) + fast.flush(), best.compress(text) + best.flush()
        if len(first) == len(second) and first != second:
            return text, 1, 9


def test_one_content_deflated_two_ways_is_two_keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two wheels hold the same file, deflated by their own tools to the same size but other bytes (the build copies
    a wheel's deflated members as they are): the same method, CRC-32 and sizes, so only the index's 16 bits of the
    compressed bytes' CRC-32 tell them apart; without them, one member would be put together from the other's
    bytes."""
    text, fast, best = _same_size_deflated()
    wheels = []
    for name, level in (("alpha", fast), ("beta", best)):
        plain = make_wheel(tmp_path / "plain", name, "1.0", members={f"{name}/same.txt": text})
        wheel = tmp_path / "wheels" / plain.path.name
        wheel.parent.mkdir(exist_ok=True)
        with zipfile.ZipFile(plain.path) as source, zipfile.ZipFile(wheel, "w") as out:
            for info in source.infolist():
                member = zipfile.ZipInfo(info.filename, info.date_time)
                out.writestr(member, source.read(info), zipfile.ZIP_DEFLATED, level)
        wheels.append([type(plain)(wheel, name, "1.0")])
    monkeypatch.setenv("HATCH_ZIPAPP_CACHE_DIR", os.fspath(tmp_path / "cache"))
    project = make_project(tmp_path / "p", dependencies=["alpha", "beta"])
    (project / "pylock.toml").write_text(pylock_text(wheels, base_url=None))
    pyz = build(project)
    data = pyz.read_bytes()
    pieces = index.read_index(Path(f"{pyz}.index").read_bytes()).pieces
    same = [p for p in pieces if p.literal is None and data[p.offset : p.offset + p.size] in (
        _deflated(text, fast), _deflated(text, best))]  # fmt: skip
    assert len(same) == 2 and same[0].key[:-2] == same[1].key[:-2] and same[0].key != same[1].key
    at = {piece.key: piece.offset for piece in index.describe(pyz) if piece.literal is None}
    assert _assembled(pieces, data, at) == data


def _deflated(data: bytes, level: int) -> bytes:
    compressor = zlib.compressobj(level, zlib.DEFLATED, -15)
    return compressor.compress(data) + compressor.flush()


def test_a_changed_line_changes_one_chunk() -> None:
    lines = [f"{n:064x}  site-packages/m{n}.py\n".encode() for n in range(3000)]
    before = index.chunks(b"".join(lines))
    lines[1500] = lines[1500].replace(b"m1500", b"M1500")
    after = index.chunks(b"".join(lines))
    assert len(set(after) - set(before)) == 1 and len(set(before) - set(after)) == 1
    assert all(size <= index.MAX_CHUNK for size, _ in before)
    assert index.chunks(b"x" * (index.MAX_CHUNK * 2 + 5)) == index.chunks(b"x" * (index.MAX_CHUNK * 2 + 5))
    assert [size for size, _ in index.chunks(b"x" * (index.MAX_CHUNK * 2 + 5))] == [index.MAX_CHUNK] * 2 + [5]


def test_chunks_read_a_block_at_a_time_are_the_same(tmp_path: Path) -> None:
    """A large prefix (an embedded Python) is chunked as it is read, a MB at a time: the same cuts as whole."""
    from hatch_zipapp.bootstrap import zipread

    data = random.Random(3).randbytes(3 * zipread.CHUNK + 12345)  # noqa: S311 - binary: a line end every 256 bytes
    data += b"y" * (index.MAX_CHUNK * 3 + 7)  # and a run with no line end, across a block's end
    path = tmp_path / "blob"
    path.write_bytes(data)
    with zipread.Reader(os.fspath(path)) as reader:
        region = index._chunks_at(reader, 0, len(data))
    assert isinstance(region, index._Chunks) and region.chunks == index.chunks(data)
    assert sum(size for size, _ in region.chunks) == len(data)


@pytest.mark.parametrize("newline", [index.MAX_CHUNK - 1, index.MAX_CHUNK, index.MAX_CHUNK + 1000])
def test_binary_bytes_with_a_line_end_past_max_chunk_are_cut_at_max_chunk(tmp_path: Path, newline: int) -> None:
    """Stored binary data (an embedded Python, a stored member) whose first line end is at or after MAX_CHUNK: the
    first chunk is MAX_CHUNK bytes, none is larger, and the index of them reads back (read_index refuses a chunk
    over MAX_CHUNK: a delta would then always be the whole download)."""
    from hatch_zipapp.bootstrap import zipread

    rng = random.Random(newline)  # noqa: S311
    data = rng.randbytes(newline).replace(b"\n", b"n") + b"\n" + rng.randbytes(2 * zipread.CHUNK)
    path = tmp_path / "blob"
    path.write_bytes(data)
    with zipread.Reader(os.fspath(path)) as reader:
        region = index._chunks_at(reader, 0, len(data))
    assert isinstance(region, index._Chunks) and region.chunks == index.chunks(data)
    sizes = [size for size, _ in region.chunks]
    assert sizes[0] == index.MAX_CHUNK and max(sizes) <= index.MAX_CHUNK and sum(sizes) == len(data)
    body = bytearray(struct.pack("<Q32s", len(data), bytes(32)))
    index._encode([region], body)
    parsed = index.read_index(_pack(bytes(body)))
    assert [(piece.offset, piece.size) for piece in parsed.pieces] == [
        (sum(sizes[:n]), size) for n, size in enumerate(sizes)
    ]


def test_a_file_not_as_the_build_writes_it_cannot_be_indexed(tmp_path: Path) -> None:
    import zipfile

    other = tmp_path / "other.pyz"
    with zipfile.ZipFile(other, "w") as archive:
        archive.writestr("__main__.py", "print(1)\n")  # zipfile's headers: not what the build writes
    with pytest.raises(DeltaIndexError, match=r"^other\.pyz: cannot index it: "):
        index.write_index(other)


class TestDamaged:
    """Each damage of a real index: one DeltaIndexError whose message says what."""

    @pytest.fixture
    def body(self, pyz: Path) -> bytes:
        return _body(Path(f"{pyz}.index").read_bytes())

    def test_not_an_index(self) -> None:
        with pytest.raises(DeltaIndexError, match=r"^does not start with 'hatch-zipapp index 1'$"):
            index.read_index(b"<html>not found</html>")

    def test_too_large(self) -> None:
        with pytest.raises(DeltaIndexError, match=r"more than the 33554432 an index may have"):
            index.read_index(index.MAGIC + bytes(index.MAX_INDEX))

    def test_not_lzma(self) -> None:
        with pytest.raises(DeltaIndexError, match=r"^its compressed body is damaged"):
            index.read_index(index.MAGIC + b"\xfd7zXZ\x00 garbage")

    def test_cut_short_or_followed(self, pyz: Path) -> None:
        data = Path(f"{pyz}.index").read_bytes()
        for damaged in (data[:-10], data + b"more"):
            with pytest.raises(DeltaIndexError, match=r"^its compressed body is"):
                index.read_index(damaged)

    def test_a_body_cut_short(self, body: bytes) -> None:
        for size in (10, 41, len(body) // 2, len(body) - 1):
            with pytest.raises(DeltaIndexError, match=r"^(cut short at byte \d+ of \d+|\d+ items at byte \d+, more)"):
                index.read_index(_pack(body[:size]))

    def test_bytes_after_it(self, body: bytes) -> None:
        with pytest.raises(DeltaIndexError, match=r"^3 bytes after its last region$"):
            index.read_index(_pack(body + b"abc"))

    def test_a_size_that_is_not_its_pieces(self, body: bytes) -> None:
        size = struct.unpack_from("<Q", body)[0]
        for claimed in (0, size - 1, size + 1, 2**63):
            changed = struct.pack("<Q", claimed) + body[8:]
            with pytest.raises(DeltaIndexError, match=rf"^its pieces make {size} bytes, not the {claimed} it says"):
                index.read_index(_pack(changed))

    def test_an_unknown_region(self, body: bytes) -> None:
        changed = body[:40] + b"\x01Q" + body[42:]  # one region, of kind Q
        with pytest.raises(DeltaIndexError, match=r"^a region of kind b'Q' at byte 41$"):
            index.read_index(_pack(changed))

    def test_a_huge_count(self, body: bytes) -> None:
        changed = body[:40] + b"\xff\xff\xff\xff\x0f" + body[41:]
        with pytest.raises(DeltaIndexError, match=r"^4294967295 items at byte 45, more than the index holds$"):
            index.read_index(_pack(changed))

    def test_a_number_too_long(self, body: bytes) -> None:
        changed = body[:40] + b"\xff" * 12 + body[41:]
        with pytest.raises(DeltaIndexError, match=r"^a number too long at byte 50$"):
            index.read_index(_pack(changed))

    def test_a_chunk_too_large_or_empty(self, pyz: Path) -> None:
        regions = [index._Chunks(((size, bytes(16)),)) for size in (0, index.MAX_CHUNK + 1)]
        for region in regions:
            body = bytearray(struct.pack("<Q32s", 1, bytes(32)))
            index._encode([region], body)
            with pytest.raises(DeltaIndexError, match=r"^a chunk of \d+ bytes \(at most 65536\)$"):
                index.read_index(_pack(bytes(body)))

    def test_regions_nested_too_deep(self) -> None:
        region: index._Region = index._Literal(b"x")
        for _ in range(5):
            entry = b"PK\x01\x02" + bytes(6) + b"\x00\x00" + bytes(8) + struct.pack("<LL", 1, 1) + bytes(18)
            region = index._Zip((entry,), 0, b"", (0,), {0: (region,)})
        body = bytearray(struct.pack("<Q32s", 1, bytes(32)))
        index._encode([region], body)
        with pytest.raises(DeltaIndexError, match=r"^regions nested more than 3 deep$"):
            index.read_index(_pack(bytes(body)))
