"""One reading of a .pyz's zips (issue 22, security item 1): `verify`, the runtime's extraction, zipfile and `unzip -t`
fed the same crafted ``site-packages.zip``.

Each crafted .pyz is what an attacker who can recompute every digest makes: ``site-packages.zip`` rewritten by this
file's own zip writer (not zipfile's, not the builder's: every header field is the case's to choose), the archive's
record (``hatch-zipapp.sha256``) listing the new digests, the outer zip written by the builder's own code, and the
``.sha256`` beside it matching the new file. Whenever `verify` passes, the runtime must write exactly the bytes zipfile
and unzip read, member by member; everything the zip format lets two readers read differently must be refused by
`verify` (one problem line naming the member and what is wrong) and by the runtime (one line, nothing extracted).
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import shutil
import struct
import subprocess
import sys
import zipfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import cast

import pytest

from hatch_zipapp.layout import PyzReader
from hatch_zipapp.pyz.record import record
from hatch_zipapp.pyz.verify import verify
from hatch_zipapp.pyz.zipwrite import InnerZip, write_outer
from tests.helpers import small_pyz

RECORD = "hatch-zipapp.sha256"
INNER = "site-packages.zip"
#: What the crafted members would run if a reader took them: a .pth line the runtime's site.addsitedir executes.
EVIL = b"import sys; sys.stdout.write('EVIL ran\\n')\n"
PTH = b"site-packages/zz.pth"
_TIME, _DATE = 0, (2020 - 1980) << 9 | 2 << 5 | 2


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A real .pyz (the project, one locked wheel from 127.0.0.1), as tests/conftest.py's ``pyz`` builds it."""
    with small_pyz(tmp_path_factory.mktemp("built")) as pyz:
        yield pyz


# -- a zip writer that writes whatever it is told ---------------------------------------------------------------------


@dataclasses.dataclass
class Member:
    """One member: ``data`` as stored after its local header; ``local`` the local header's fields that differ from
    the directory entry's (name, flags, method, crc, compressed, size, extra)."""

    name: bytes
    data: bytes
    method: int
    crc: int
    size: int
    mode: int = 0o100644
    flags: int | None = None  # None: the UTF-8 flag on a name that is not ASCII, as the build writes
    local: dict[str, int | bytes] = dataclasses.field(default_factory=dict)
    extra: bytes = b""  # the directory entry's extra field
    comment: bytes = b""
    after: bytes = b""  # bytes written after its data: a data descriptor, a gap
    inside: bytes | None = None  # not written itself: its entry points into the data of the member of this name


def stored(name: bytes, data: bytes, **fields: object) -> Member:
    return Member(name, data, zipfile.ZIP_STORED, zlib.crc32(data), len(data), **fields)  # type: ignore[arg-type]


def deflated(name: bytes, content: bytes, stream: bytes | None = None, **fields: object) -> Member:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    data = stream if stream is not None else compressor.compress(content) + compressor.flush()
    return Member(name, data, zipfile.ZIP_DEFLATED, zlib.crc32(content), len(content), **fields)  # type: ignore[arg-type]


def _local(member: Member) -> bytes:
    flags = member.flags if member.flags is not None else (0 if member.name.isascii() else 0x800)
    fields: dict[str, int | bytes] = {
        "name": member.name,
        "flags": flags,
        "method": member.method,
        "crc": member.crc,
        "compressed": len(member.data),
        "size": member.size,
        "extra": b"",
        **member.local,
    }
    name, extra = cast(bytes, fields["name"]), cast(bytes, fields["extra"])
    numbers = [cast(int, fields[k]) for k in ("flags", "method")] + [_TIME, _DATE]
    numbers += [cast(int, fields[k]) for k in ("crc", "compressed", "size")]
    return struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, *numbers, len(name), len(extra)) + name + extra


def entry(member: Member, offset: int) -> bytes:
    """``member``'s central directory entry, its local header at ``offset``."""
    flags = member.flags if member.flags is not None else (0 if member.name.isascii() else 0x800)
    fields = [3 << 8 | 20, 20, flags, member.method, _TIME, _DATE, member.crc, len(member.data), member.size]
    fields += [len(member.name), len(member.extra), len(member.comment), 0, 0, member.mode << 16, offset]
    return struct.pack("<4s6H3L5H2L", b"PK\x01\x02", *fields) + member.name + member.extra + member.comment


def zip_bytes(
    members: list[Member],
    *,
    before: bytes = b"",
    comment: bytes = b"",
    after: bytes = b"",
    second_end: bool = False,
    gap: bytes = b"",
    slack: bytes = b"",
) -> bytes:
    """The zip of ``members``: ``before`` its first member, ``gap`` between its last member and its central directory
    (the directory's offset counts it), ``slack`` after the directory's entries (its size counts it), a ``comment``,
    a ``second_end`` record, and ``after`` its end record."""
    out = bytearray(before)
    offsets: list[int] = []  # (a list: a name may be there twice)
    for member in members:
        if member.inside is not None:
            holder = next(i for i, m in enumerate(members) if m.name == member.inside)
            offsets.append(offsets[holder] + len(_local(members[holder])))
            continue
        offsets.append(len(out) - len(before))
        out += _local(member) + member.data + member.after
    directory = b"".join(entry(member, offset) for member, offset in zip(members, offsets, strict=True)) + slack
    out += gap
    start = len(out) - len(before)
    out += directory
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, len(members), len(members), len(directory), start, len(comment))
    out += end + comment + (end if second_end else b"") + after
    return bytes(out)


# -- the crafted .pyz -------------------------------------------------------------------------------------------------


def _baseline(built: Path) -> list[Member]:
    """site-packages.zip's members as the build wrote them (their compressed bytes copied)."""
    with PyzReader(built) as archive:
        found = []
        for info in archive.infolist():
            if info.filename.startswith("site-packages/"):
                read = archive.read_member(info)
                method, crc, _, size = read.member
                found.append(Member(info.filename.encode(), read.raw, method, crc, size, mode=info.external_attr >> 16))
        return found


def _pyz(built: Path, destination: Path, inner: bytes) -> Path:
    """``built`` with ``inner`` as its site-packages.zip, and every digest made to match: the record lists
    site-packages.zip's new sha256 and every member zipfile reads that no distribution's RECORD covers (by zipfile's
    reading); the `.sha256` and `.cdx.json` beside it."""
    with PyzReader(built) as archive:
        infos = archive.outer_infolist()
        outer: dict[str, tuple[bytes | InnerZip, bool]] = {
            i.filename: (archive.read(i), False) for i in infos if i.filename != INNER
        }
        original = {line[66:]: line[:64] for line in archive.read(RECORD).decode().splitlines()}
        date_time = infos[0].date_time
    listed = dict(original)
    listed[INNER] = hashlib.sha256(inner).hexdigest()
    built_members = {m.name.decode() for m in _baseline(built)}
    for name, data in _zipfile_reading(inner).items():
        if name not in built_members:  # a member the attacker added: listed by zipfile's reading of it
            listed[name] = hashlib.sha256(data).hexdigest()
    outer[RECORD] = (record(listed), False)
    file = cast(io.BufferedRandom, io.BytesIO(inner))
    outer[INNER] = (InnerZip(file, len(inner), zlib.crc32(inner), listed[INNER]), False)
    data = built.read_bytes()
    with destination.open("wb") as out:
        out.write(data[: data.index(b"\n") + 1])
        write_outer(out, outer, date_time)
    destination.chmod(0o755)
    digest = hashlib.sha256(destination.read_bytes()).hexdigest()
    destination.with_name(destination.name + ".sha256").write_text(f"{digest}  {destination.name}\n")
    shutil.copy(built.with_name(built.name + ".cdx.json"), destination.with_name(destination.name + ".cdx.json"))
    return destination


def _zipfile_reading(inner: bytes) -> dict[str, bytes]:
    """Every member zipfile reads from ``inner`` (one it cannot read is left out)."""
    found = {}
    try:
        with zipfile.ZipFile(io.BytesIO(inner)) as archive:
            for info in archive.infolist():
                try:
                    found[info.filename] = archive.read(info)
                except Exception:  # noqa: S112 - zipfile's own verdict on that member: not read
                    continue
    except Exception:
        return {}
    return found


def _unzip(inner: bytes, directory: Path) -> tuple[int, dict[str, bytes]]:
    """`unzip -t`'s exit status, and what `unzip` extracts (into ``directory``)."""
    if shutil.which("unzip") is None:
        message = "unzip is not installed (apt-get install -y unzip): the differential test needs it"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    path = directory / "inner.zip"
    path.write_bytes(inner)
    tested = subprocess.run(["unzip", "-t", "-q", os.fspath(path)], capture_output=True, check=False, timeout=60)
    out = directory / "unzipped"
    subprocess.run(
        ["unzip", "-q", "-o", os.fspath(path), "-d", os.fspath(out)], capture_output=True, check=False, timeout=60
    )
    return tested.returncode, _tree(out)


def _tree(directory: Path) -> dict[str, bytes]:
    """Every regular file below ``directory`` (by its path from it, POSIX), with its bytes."""
    found = {}
    for parent, _, names in os.walk(directory):
        for name in names:
            path = Path(parent) / name
            if path.is_file() and not path.is_symlink():
                found[path.relative_to(directory).as_posix()] = path.read_bytes()
    return found


def _start(pyz: Path, root: Path, **variables: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SHIV_", "ZIPAPP_")) and k != "CACHE_DIRECTORY"}
    env.update(ZIPAPP_ROOT=os.fspath(root), **variables)
    return subprocess.run(
        [sys.executable, os.fspath(pyz)], env=env, capture_output=True, text=True, check=False, timeout=120
    )


def _extracted(root: Path) -> dict[str, bytes] | None:
    """The files of the one extraction under ``root``, or None."""
    if not root.is_dir():
        return None
    finals = [n for n in os.listdir(root) if not n.startswith(".") and (root / n).is_dir()]
    if not finals:
        return None
    (final,) = finals
    return _tree(root / final)


# -- the cases --------------------------------------------------------------------------------------------------------


def _crc_table() -> list[int]:
    """The reflected CRC-32 table zlib uses."""
    table = []
    for index in range(256):
        value = index
        for _ in range(8):
            value = (value >> 1) ^ 0xEDB88320 if value & 1 else value >> 1
        table.append(value)
    return table


_CRC_TABLE = _crc_table()
_TOP = {value >> 24: index for index, value in enumerate(_CRC_TABLE)}


def forged_front(tail: bytes, crc: int) -> bytes:
    """Four bytes that, put before ``tail``, make its CRC-32 ``crc`` (the CRC is linear: run it backwards)."""
    register = crc ^ 0xFFFFFFFF
    for byte in (*reversed(tail), 0, 0, 0, 0):
        index = _TOP[register >> 24]
        register = ((register ^ _CRC_TABLE[index]) << 8 | (index ^ byte)) & 0xFFFFFFFF
    return (register ^ 0xFFFFFFFF).to_bytes(4, "little")


@dataclasses.dataclass
class Case:
    members: list[Member]  # put before the build's members
    where: str  # the member (or zip) the refusal names: "" for a case every reader reads alike
    why: str
    zip: dict[str, bytes | bool] = dataclasses.field(default_factory=dict)


def _cp437_forged() -> Case:
    """The attack of issue 22: four cp437 bytes >= 0x80 in a name without the UTF-8 flag are eight bytes in UTF-8, so
    a reader that re-encodes the name (the runtime did) reads the data four bytes further on. The four bytes before
    EVIL are forged so that both readings have the CRC-32 of the header: zipfile reads harmless bytes, that reader
    the EVIL line, and it runs."""
    front = forged_front(EVIL[:-4], zlib.crc32(EVIL))
    member = Member(b"site-packages/\x82\x82\x82\x82.pth", front + EVIL, 0, zlib.crc32(EVIL), len(EVIL), flags=0)
    member.data, member.after = front + EVIL[:-4], EVIL[-4:]  # zipfile's reading, then the four bytes it skips
    assert zlib.crc32(member.data) == member.crc
    return Case([member], "site-packages/\u00e9\u00e9\u00e9\u00e9.pth", "no UTF-8 flag")


def _overlapping() -> Case:
    inner = stored(PTH, EVIL)
    holder = stored(b"site-packages/zy.txt", _local(inner) + EVIL)
    inner.inside = holder.name
    return Case([holder, inner], PTH.decode(), "members that overlap")


def _listed_twice() -> Case:
    return Case([stored(PTH, b"# one\n"), stored(PTH, EVIL)], PTH.decode(), "listed twice")


def _descriptor() -> Case:
    member = stored(PTH, EVIL, flags=0x8)
    member.local = {"crc": 0, "compressed": 0, "size": 0}
    member.after = struct.pack("<4s3L", b"PK\x07\x08", member.crc, len(EVIL), len(EVIL))
    return Case([member], PTH.decode(), "flags 0x0008")


def _sync_flushed() -> Case:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    stream = compressor.compress(EVIL) + compressor.flush(zlib.Z_SYNC_FLUSH)  # no final block
    return Case([deflated(PTH, EVIL, stream)], PTH.decode(), "its deflate stream is cut short")


def _longer_stream() -> Case:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    stream = compressor.compress(EVIL + b"# and more\n") + compressor.flush()
    return Case([deflated(PTH, EVIL, stream)], PTH.decode(), f"inflates past its declared {len(EVIL)} bytes")


def _after_stream() -> Case:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    stream = compressor.compress(EVIL) + compressor.flush() + b"JUNK"
    return Case([deflated(PTH, EVIL, stream)], PTH.decode(), "4 bytes after the end of its deflate stream")


def _hidden_entry() -> Case:
    """A whole directory entry after the ``count`` entries the end record declares, inside the directory's declared
    size: a reader that reads the directory to its size (zipfile does) lists a member the others do not."""
    hidden = entry(stored(PTH, EVIL), 0)
    return Case([stored(b"site-packages/zy.txt", EVIL)], INNER, f"{len(hidden)} bytes in its central directory after",
                {"slack": hidden})  # fmt: skip


CASES: dict[str, Callable[[], Case]] = {
    # what every reader reads alike: verify passes, and the extraction is zipfile's and unzip's
    "unchanged": lambda: Case([], "", ""),
    "an added member in the record": lambda: Case([stored(PTH, b"# nothing\n")], "", ""),
    "an added deflated member in the record": lambda: Case([deflated(PTH, b"# nothing\n" * 50)], "", ""),
    # names
    "a cp437 name without the UTF-8 flag, its CRC forged": _cp437_forged,
    "a UTF-8 name without the UTF-8 flag": lambda: Case(
        [stored("site-packages/\u00e9.pth".encode(), EVIL, flags=0)], "site-packages/\u251c\u2310.pth", "no UTF-8 flag"
    ),
    "the UTF-8 flag on a name that is not UTF-8": lambda: Case(
        [stored(b"site-packages/\xff.pth", EVIL, flags=0x800)], "site-packages/\ufffd.pth", "not UTF-8"
    ),
    "the UTF-8 flag on an ASCII name": lambda: Case(
        [stored(PTH, EVIL, flags=0x800)], PTH.decode(), "the UTF-8 flag on an ASCII name"
    ),
    "a NUL in a name": lambda: Case([stored(PTH + b"\0.txt", EVIL)], "site-packages/zz.pth\\x00.txt", "a NUL byte"),
    "a name outside site-packages/": lambda: Case([stored(b"zz.pth", EVIL)], "zz.pth", "outside site-packages/"),
    "a name with ..": lambda: Case(
        [stored(b"site-packages/../zz.pth", EVIL)], "site-packages/../zz.pth", "not a plain relative path"
    ),
    "a member listed twice": _listed_twice,
    "a name with a . part": lambda: Case(
        [stored(b"site-packages/./zz.pth", EVIL)], "site-packages/./zz.pth", "not a plain relative path"
    ),
    "a name with a . part beside the same name without it": lambda: Case(  # two members to verify, one file
        [stored(PTH, b"# nothing\n"), stored(b"site-packages/./zz.pth", EVIL)],
        "site-packages/./zz.pth",
        "not a plain relative path",
    ),
    # the local header against the directory entry
    "local header: another name": lambda: Case(
        [stored(PTH, EVIL, local={"name": b"site-packages/zy.pth"})], PTH.decode(), "its local header differs"
    ),
    "local header: another compressed size": lambda: Case(
        [stored(PTH, EVIL, local={"compressed": len(EVIL) - 4})], PTH.decode(), "its local header differs"
    ),
    "local header: another size": lambda: Case(
        [deflated(PTH, EVIL, local={"size": 4})], PTH.decode(), "its local header differs"
    ),
    "local header: another CRC": lambda: Case(
        [stored(PTH, EVIL, local={"crc": 1})], PTH.decode(), "its local header differs"
    ),
    "local header: another method": lambda: Case(
        [stored(PTH, EVIL, local={"method": 8})], PTH.decode(), "its local header differs"
    ),
    "local header: other flags": lambda: Case(
        [stored(PTH, EVIL, local={"flags": 0x2})], PTH.decode(), "its local header differs"
    ),
    "an extra field in the local header only": lambda: Case(  # its data, so the next member, 9 bytes further on
        [stored(PTH, EVIL, local={"extra": b"UT\x05\x00\x01\x00\x00\x00\x00"})], "", f"where {PTH.decode()!r} ends"
    ),
    # flags, fields and modes the build never writes
    "a data descriptor": _descriptor,
    "the encrypted flag": lambda: Case([stored(PTH, EVIL, flags=0x1)], PTH.decode(), "flags 0x0001"),
    "an extra field in the directory only": lambda: Case(
        [stored(PTH, EVIL, extra=b"UT\x05\x00\x01\x00\x00\x00\x00")], PTH.decode(), "an extra field or a comment"
    ),
    "a member comment": lambda: Case([stored(PTH, EVIL, comment=b"hi")], PTH.decode(), "an extra field or a comment"),
    "a symlink's mode": lambda: Case([stored(PTH, b"/etc/passwd", mode=0o120777)], PTH.decode(), "mode 0o120777"),
    "a stored member whose CRC is wrong in both headers": lambda: Case(  # zipfile and unzip -t refuse it too
        [Member(PTH, EVIL, 0, zlib.crc32(EVIL) ^ 1, len(EVIL))], PTH.decode(), "fails its CRC"
    ),
    "a stored member whose sizes differ": lambda: Case(
        [Member(PTH, EVIL, 0, zlib.crc32(EVIL[:8]), 8)], PTH.decode(), "stored, with a compressed size"
    ),
    # deflate streams
    "a deflate stream longer than the member": _longer_stream,
    "bytes after the deflate stream": _after_stream,
    "a deflate stream without its final block": _sync_flushed,
    # the layout of the members
    "members that overlap": _overlapping,
    "a gap between members": lambda: Case([stored(PTH, EVIL, after=b"JUNK")], "", f"where {PTH.decode()!r} ends"),
    "bytes before the first member": lambda: Case(
        [stored(PTH, EVIL)], INNER, "4 bytes before its first member", {"before": b"JUNK"}
    ),
    "bytes after the end record": lambda: Case([stored(PTH, EVIL)], INNER, "bytes after it", {"after": b"JUNK"}),
    "a second end record": lambda: Case([stored(PTH, EVIL)], INNER, "22 bytes before", {"second_end": True}),
    "an archive comment": lambda: Case([stored(PTH, EVIL)], INNER, "a comment", {"comment": b"hello"}),
    "a byte between the last member and the directory": lambda: Case(
        [], INNER, "its last member ends at byte", {"gap": b"\0"}
    ),
    "a hidden member between the last member and the directory": lambda: Case(  # read by a reader of local headers
        [], INNER, "its last member ends at byte", {"gap": _local(stored(PTH, EVIL)) + EVIL}
    ),
    "a byte after the directory's entries": lambda: Case(
        [stored(PTH, b"# nothing\n")], INNER, "1 bytes in its central directory after its", {"slack": b"\0"}
    ),
    "a hidden entry after the directory's entries": _hidden_entry,
}
_AGREED = {"unchanged", "an added member in the record", "an added deflated member in the record"}


@pytest.mark.parametrize("case", sorted(CASES))
def test_one_reading(built: Path, tmp_path: Path, case: str) -> None:
    crafted = CASES[case]()
    inner = zip_bytes(crafted.members + _baseline(built), **crafted.zip)  # type: ignore[arg-type]
    pyz = _pyz(built, tmp_path / "app.pyz", inner)
    problems = verify(pyz)
    runs = {
        flag: _start(pyz, tmp_path / f"root-{flag or 'plain'}", **({"ZIPAPP_VERIFY": flag} if flag else {}))
        for flag in ("", "1")
    }
    for run in runs.values():
        assert "EVIL" not in run.stdout + run.stderr, (case, run)
    zipfile_read = _zipfile_reading(inner)
    unzip_status, unzipped = _unzip(inner, tmp_path)
    if not problems:
        # every reader read the same bytes: the extraction (with ZIPAPP_VERIFY=1 and without) is zipfile's and unzip's
        assert case in _AGREED, f"{case}: verify passed"
        for flag, run in runs.items():
            assert (run.returncode, run.stdout) == (0, "app ok\n"), (case, flag, run.stderr)
            assert _extracted(tmp_path / f"root-{flag or 'plain'}") == zipfile_read, (case, flag)
        assert (unzip_status, unzipped) == (0, zipfile_read), case
        return
    # refused by verify: one line naming the member (or the zip) and why
    assert case not in _AGREED, (case, problems)
    assert len(problems) == 1, (case, problems)
    (problem,) = problems
    assert crafted.why in problem, (case, problem)
    if crafted.where:
        assert problem.startswith(f"{crafted.where}: "), (case, problem)
    # and by the runtime, with ZIPAPP_VERIFY=1 and without: one line, exit status 1, nothing extracted
    for flag, run in runs.items():
        assert run.returncode == 1, (case, flag, run)
        assert "Traceback" not in run.stderr and len(run.stderr.splitlines()) == 1, (case, flag, run.stderr)
        assert "damaged .pyz (" in run.stderr and crafted.why in run.stderr, (case, flag, run.stderr)
        assert _extracted(tmp_path / f"root-{flag or 'plain'}") is None, (case, flag)


def test_the_forged_crc_reads_two_ways(built: Path) -> None:
    """The attack case is what issue 22 says: zipfile reads the member (its CRC-32 passes) as other bytes than the
    four-bytes-later reading, whose CRC-32 passes too."""
    crafted = _cp437_forged()
    inner = zip_bytes(crafted.members + _baseline(built))
    read = _zipfile_reading(inner)["site-packages/\u00e9\u00e9\u00e9\u00e9.pth"]
    later = crafted.members[0].data[4:] + crafted.members[0].after
    assert read != later == EVIL and zlib.crc32(read) == zlib.crc32(later)


@pytest.mark.parametrize("change", ["mode", "timestamp"])
def test_what_every_reader_reads_alike_but_the_build_never_writes(built: Path, tmp_path: Path, change: str) -> None:
    """An outer member made executable (its directory entry's mode 0755), or one member's timestamp changed in both
    of its headers: every reader reads the same bytes, but the build never writes it (one mode, one timestamp for
    the whole .pyz). verify's rebuilt headers say so, with the .sha256 beside it made to match."""
    data = bytearray(built.read_bytes())
    with zipfile.ZipFile(built) as archive:
        header = archive.getinfo("environment.json").header_offset  # (zipfile's offsets are the file's)
        entry = archive.start_dir
    while data[entry + 46 : entry + 46 + len(b"environment.json")] != b"environment.json":
        entry += 46 + sum(struct.unpack_from("<3H", data, entry + 28))  # past its name, extra field and comment
    if change == "mode":
        struct.pack_into("<L", data, entry + 38, 0o100755 << 16)
    else:
        for offset in (entry + 12, header + 10):  # the time in its directory entry, and in its local header
            struct.pack_into("<H", data, offset, struct.unpack_from("<H", data, offset)[0] ^ 1)
    changed = tmp_path / built.name
    changed.write_bytes(bytes(data))
    changed.with_name(changed.name + ".sha256").write_text(f"{hashlib.sha256(data).hexdigest()}  {changed.name}\n")
    problems = verify(changed)
    assert len(problems) == 1 and problems[0].startswith(f"{changed.name}: its zip headers differ"), problems


@pytest.mark.parametrize("name", ["__main__.py", "environment.json", "_bootstrap/zipread.py"])
def test_a_stored_outer_member_whose_crc_is_wrong_in_both_headers(built: Path, tmp_path: Path, name: str) -> None:
    """An outer member (stored, as the build stores every one) with its bytes intact, so its digest matches the
    record, but another CRC-32 in its local header and in its directory entry alike, and the .sha256 beside it made
    to match: zipfile and `unzip -t` fail it, so verify refuses it, in one line naming it (its rebuilt headers would
    carry the same wrong CRC: only reading it says so)."""
    data = bytearray(built.read_bytes())
    with zipfile.ZipFile(built) as archive:
        header = archive.getinfo(name).header_offset  # (zipfile's offsets are the file's)
        entry = archive.start_dir
    while data[entry + 46 : entry + 46 + len(name)] != name.encode():
        entry += 46 + sum(struct.unpack_from("<3H", data, entry + 28))  # past its name, extra field and comment
    assert data[header + 8] == data[entry + 10] == zipfile.ZIP_STORED
    for offset in (entry + 16, header + 14):  # the CRC-32 in its directory entry, and in its local header
        struct.pack_into("<L", data, offset, struct.unpack_from("<L", data, offset)[0] ^ 1)
    changed = tmp_path / built.name
    changed.write_bytes(bytes(data))
    changed.with_name(changed.name + ".sha256").write_text(f"{hashlib.sha256(data).hexdigest()}  {changed.name}\n")
    with zipfile.ZipFile(changed) as archive:
        assert archive.testzip() == name  # what every other reader says
    assert verify(changed) == [f"{name}: fails its CRC"]


def test_a_name_with_a_dot_part_in_the_outer_zip(built: Path, tmp_path: Path) -> None:
    """`_bootstrap/./zipread.py` beside `_bootstrap/zipread.py` in the outer zip, listed in the record with its digest
    (the outer zip written by the build's own writer): two members to a reader that takes the name as it is, one file
    to a reader that normalizes it. Refused by verify and by the runtime's start, one line naming it."""
    dotted = "_bootstrap/./zipread.py"
    with zipfile.ZipFile(built) as archive:
        infos = archive.infolist()
        outer: dict[str, tuple[bytes | InnerZip, bool]] = {
            i.filename: (archive.read(i), bool(i.external_attr >> 16 & 0o111)) for i in infos
        }
        listed = {line[66:]: line[:64] for line in archive.read(RECORD).decode().splitlines()}
        date_time = infos[0].date_time
    body = cast(bytes, outer["_bootstrap/zipread.py"][0])
    outer[dotted] = (body, False)
    listed[dotted] = hashlib.sha256(body).hexdigest()
    outer[RECORD] = (record(listed), False)
    pyz = tmp_path / "app.pyz"
    with pyz.open("wb") as out:
        out.write(built.read_bytes().split(b"\n", 1)[0] + b"\n")
        write_outer(out, outer, date_time)
    why = "a name not a plain relative path (the build writes none)"
    assert verify(pyz) == [f"{dotted}: {why}"]
    run = _start(pyz, tmp_path / "root")
    assert run.returncode == 1 and run.stdout == "", run
    assert run.stderr.count("\n") == 1 and "Traceback" not in run.stderr, run.stderr
    assert f"damaged .pyz ({dotted}: {why})" in run.stderr, run.stderr
    assert _extracted(tmp_path / "root") is None
