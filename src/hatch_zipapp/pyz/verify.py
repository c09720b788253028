"""``hatch-zipapp verify``: a .pyz checked against its own record, the `.sha256` and the SBOM published beside it,
read as the runtime reads it (:mod:`hatch_zipapp.bootstrap.zipread`), its outer zip's headers rebuilt by the
build's own writer (:mod:`hatch_zipapp.pyz.zipwrite`) and compared byte for byte. Standard library only, so that the
deploy side runs it on a server with Python and nothing else; the build writes the files it reads
(:func:`sidecars`, the record of :mod:`hatch_zipapp.pyz.record`).
"""

from __future__ import annotations

import hashlib
import os
import struct
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, cast

from hatch_zipapp.bootstrap.documents import SITE_PACKAGES, SITE_PACKAGES_ZIP
from hatch_zipapp.bootstrap.zipread import CHUNK, Reader, Refused, contents, directory
from hatch_zipapp.pyz.record import PREFIX, RECORD, dist_records, parse_record
from hatch_zipapp.pyz.zipwrite import InnerZip, write_outer

if TYPE_CHECKING:
    from hatch_zipapp.bootstrap.zipread import Member

__all__ = ["SBOM", "check", "sidecars", "verify"]

#: The SBOM inside the .pyz, which the `.cdx.json` beside it must equal.
SBOM = "sbom.cdx.json"


def verify(pyz: Path, checksum: Path | None = None) -> list[str]:
    """Problems found in ``pyz`` (empty when it is intact): :func:`check` of its bytes, with the `.sha256` named by
    ``checksum`` (by default the one beside it, when there is one) and the `.cdx.json` beside it (when there is one).
    The file is read a piece at a time, never whole: a member of any size is checked in constant memory."""
    default = pyz.with_name(pyz.name + ".sha256")
    if checksum is not None and not checksum.is_file():
        return [f"{checksum}: no such checksum file"]
    checksum = checksum or (default if default.is_file() else None)
    sidecar = pyz.with_name(pyz.name + ".cdx.json")
    with Reader(os.fspath(pyz)) as reader:
        return _check(
            pyz.name,
            reader,
            checksum=(checksum.name, checksum.read_bytes()) if checksum else None,
            cdx=(sidecar.name, sidecar.read_bytes()) if sidecar.is_file() else None,
        )


def check(
    name: str, data: bytes, *, checksum: tuple[str, bytes] | None = None, cdx: tuple[str, bytes] | None = None
) -> list[str]:
    """Problems found in ``data``, the bytes of the .pyz ``name``; ``checksum`` and ``cdx`` are the name and bytes
    of its `.sha256` and its `.cdx.json`, when there are (:func:`verify` reads a file the same way)."""
    return _check(name, _InMemory(name, data), checksum=checksum, cdx=cdx)


class _InMemory(Reader):
    """A .pyz's bytes in memory, read as :class:`~hatch_zipapp.bootstrap.zipread.Reader` reads a file."""

    def __init__(self, path: str, data: bytes) -> None:  # (no file to open)
        self.path, self._data = path, data

    def read(self, size: int, offset: int) -> bytes:
        return self._data[offset : offset + size]

    def size(self) -> int:
        return len(self._data)

    def close(self) -> None:
        pass


def _check(
    name: str, reader: Reader, *, checksum: tuple[str, bytes] | None, cdx: tuple[str, bytes] | None
) -> list[str]:
    """The archive's own record binds every byte of the file: the shebang line by its digest, every member (directly,
    or through its distribution's RECORD, itself in the record), ``site-packages.zip`` as a whole by its digest, and
    the outer zip's headers, which are rebuilt from the members and compared. Both zips are read as the runtime reads
    them (:mod:`hatch_zipapp.bootstrap.zipread`): what it would read differently from zipfile or unzip is refused
    there, and named here."""
    problems = []
    size = reader.size()
    if checksum is not None:
        text = checksum[1].decode("utf-8", "replace")
        expected = text.split()[0].lower() if text.strip() else ""
        actual = _sha256(reader, 0, size)
        if actual != expected:
            problems.append(f"{name}: sha256 {actual}, but {checksum[0]} says {expected}")
    try:
        start, outer = directory(reader, 0, size, name, prefix=True)
    except Refused as e:
        return [*problems, f"{e.where}: {e.why}"]
    digests: dict[str, str] = {}
    kept: dict[str, bytes] = {}  # the record, the SBOM and the distributions' RECORDs: the members read as text
    unreadable: list[str] = []
    inner: tuple[str, int, int] | None = None  # site-packages.zip's sha256 and CRC-32, and where its bytes start
    unread = ""  # the members not read at all, when its directory is refused
    for member in outer:
        if member[0] == SITE_PACKAGES_ZIP:
            inner = _stored(reader, member, unreadable)
            continue
        digest = _read(reader, member, kept, unreadable)
        if digest is not None and member[0] != RECORD:  # (the record lists every member but itself)
            digests[member[0]] = digest
    if inner is not None:
        site_packages = next(m for m in outer if m[0] == SITE_PACKAGES_ZIP)
        try:
            found = directory(reader, inner[2], inner[2] + site_packages[2], SITE_PACKAGES_ZIP, under=SITE_PACKAGES)[1]
        except Refused as e:  # (its members are not read: that one line says why, not one line for each)
            unreadable.append(f"{e.where}: {e.why}")
            found, unread = [], SITE_PACKAGES + "/"
        for member in found:
            digest = _read(reader, member, kept, unreadable)
            if digest is not None:
                digests[member[0]] = digest
    if RECORD not in kept:
        return [*problems, *unreadable, f"{name} has no {RECORD}: it was not built by hatch-zipapp 0.1 or later"]
    raw_record = kept[RECORD]
    listed, record_problem = parse_record(raw_record)
    if record_problem:
        return [*problems, *unreadable, f"{RECORD}: {record_problem}"]
    if cdx is not None and SBOM in kept and cdx[1] != kept[SBOM]:
        problems.append(f"{cdx[0]}: differs from the SBOM inside {name} ({SBOM})")
    problems += unreadable
    if PREFIX not in listed or SITE_PACKAGES_ZIP not in listed:
        message = f"{RECORD} has no digest of the shebang line or of {SITE_PACKAGES_ZIP}: rebuild it"
        return [*problems, f"{name}: built by an earlier hatch-zipapp ({message})"]
    actual = _sha256(reader, 0, start)
    if actual != listed[PREFIX]:
        shown = reader.read(min(start, 200), 0).split(b"\n", 1)[0][:80].decode("utf-8", "replace")
        problems.append(f"the shebang line ({shown!r}): sha256 {actual}, the record says {listed[PREFIX]}")
    texts = {n: kept[n] for n in kept if n != RECORD}
    problems += _check_members(listed, digests, texts, [*unreadable, *([unread] if unread else [])])
    if not any(m[0] == SITE_PACKAGES_ZIP for m in outer):
        problems.append(f"{SITE_PACKAGES_ZIP}: in the record but missing from the archive")
    elif (
        inner is not None
        and inner[0] != listed[SITE_PACKAGES_ZIP]
        and not any(p.startswith(SITE_PACKAGES + "/") for p in problems)  # (a member inside that changed says what)
    ):
        trusted = {n: texts[n] for n in texts if n in listed and digests.get(n) == listed[n]}
        gone = sorted(dist_records(trusted).keys() - digests.keys())  # (named only once site-packages.zip changed)
        for missing in gone:
            problems.append(f"{missing}: in its distribution's RECORD but missing from the archive")
        if not gone:
            problems.append(
                f"{SITE_PACKAGES_ZIP}: sha256 {inner[0]}, the record says {listed[SITE_PACKAGES_ZIP]} (its members "
                "read the same: its zip headers or compressed bytes changed)"
            )
    if not unreadable and inner is not None:
        problems += _check_headers(name, reader, start, outer, inner[1])
    return problems


def _read(reader: Reader, member: Member, kept: dict[str, bytes], unreadable: list[str]) -> str | None:
    """The sha256 of a member as the runtime reads it, a piece at a time (the members read as text also kept whole,
    in ``kept``); None, and the reason in ``unreadable``, when the runtime would refuse it."""
    name = member[0]
    keep = name in {RECORD, SBOM} or (name.endswith(".dist-info/RECORD") and name.startswith(SITE_PACKAGES + "/"))
    digest, pieces = hashlib.sha256(), []
    try:
        for piece in contents(reader, member):
            digest.update(piece)
            if keep:
                pieces.append(piece)
    except Refused as e:
        unreadable.append(f"{e.where}: {e.why}")
        return None
    if keep:
        kept[name] = b"".join(pieces)
    return digest.hexdigest()


def _stored(reader: Reader, member: Member, unreadable: list[str]) -> tuple[str, int, int] | None:
    """``site-packages.zip``'s sha256 and CRC-32, and where its bytes start, its local header checked: its CRC-32 is
    not checked here (the rebuilt headers are), so that a damaged byte is reported for the member it is in."""
    name, _, size, _, offset, _, _, header = member
    if reader.read(len(header), offset) != header:
        unreadable.append(f"{name}: its local header differs from its central directory entry")
        return None
    digest, crc, start = hashlib.sha256(), 0, offset + len(header)
    for position in range(start, start + size, CHUNK):
        piece = reader.read(min(CHUNK, start + size - position), position)
        digest.update(piece)
        crc = zlib.crc32(piece, crc)
    return digest.hexdigest(), crc, start


def _sha256(reader: Reader, offset: int, size: int) -> str:
    digest = hashlib.sha256()
    for position in range(offset, offset + size, CHUNK):
        digest.update(reader.read(min(CHUNK, offset + size - position), position))
    return digest.hexdigest()


def _check_members(
    listed: Mapping[str, str], digests: Mapping[str, str], texts: Mapping[str, bytes], unreadable: list[str]
) -> list[str]:
    """Every member (its sha256 in ``digests``) against the record, or against its distribution's RECORD (in
    ``texts``) once that RECORD matches the record; ``unreadable`` says why a member, or what is under a directory
    (``site-packages/``), was not read."""
    problems = []
    missing = listed.keys() - digests.keys() - {PREFIX, SITE_PACKAGES_ZIP}
    for name in sorted(missing):
        if not any(p.startswith(f"{name}: ") or (name.startswith(p) and p.endswith("/")) for p in unreadable):
            problems.append(f"{name}: in the record but missing from the archive")
    trusted = {}
    for name in sorted(listed.keys() & digests.keys()):
        if digests[name] != listed[name]:
            problems.append(f"{name}: sha256 {digests[name]}, the record says {listed[name]}")
        elif name in texts:
            trusted[name] = texts[name]
    covered = dist_records(trusted)  # only RECORDs that match the archive's record vouch for other files
    for name in sorted(digests.keys() - listed.keys()):
        if name not in covered:
            problems.append(f"{name}: in the archive but not in its record (added after the build)")
        elif digests[name] != covered[name]:
            problems.append(f"{name}: sha256 {digests[name]}, its distribution's RECORD says {covered[name]}")
    return problems


def _check_headers(name: str, reader: Reader, start: int, outer: list[Member], inner_crc: int) -> list[str]:
    """The outer zip rebuilt from its members, as the build writes it (all stored, one timestamp, fixed modes), must
    be the file's bytes after the shebang line: a changed header field, timestamp, mode, flag or length is not. The
    members' bytes are streamed from the file into the rebuilt zip, which is compared as it is written (every CRC-32
    is the one its bytes have: ``inner_crc`` is site-packages.zip's, the others were checked as they were read)."""
    members: dict[str, tuple[InnerZip, bool]] = {}
    for member in outer:
        window = cast(BinaryIO, _Window(reader, member[4] + len(member[7]), member[2]))
        crc = inner_crc if member[0] == SITE_PACKAGES_ZIP else member[5]
        members[member[0]] = (InnerZip(window, member[2], crc, ""), False)
    time, date = struct.unpack_from("<HH", outer[0][7], 10)  # (the record is a member: there is a first)
    date_time = ((date >> 9) + 1980, date >> 5 & 15, date & 31, time >> 11, time >> 5 & 63, (time & 31) * 2)
    rebuilt = _Comparing(reader, start)
    try:
        write_outer(rebuilt, members, date_time)
    except ValueError as e:  # a timestamp no zip can hold
        return [f"{name}: its zip headers are not as hatch-zipapp writes them ({type(e).__name__}: {e})"]
    where = rebuilt.first_difference
    if where is None and rebuilt.position != reader.size():
        where = min(rebuilt.position, reader.size())
    if where is not None:
        return [f"{name}: its zip headers differ from those hatch-zipapp writes for these members (byte {where})"]
    return []


class _Window:
    """``size`` bytes of the .pyz at ``offset``, read as a file (for :class:`~hatch_zipapp.pyz.zipwrite.InnerZip`)."""

    def __init__(self, reader: Reader, offset: int, size: int) -> None:
        self._reader, self._offset, self._size, self._position = reader, offset, size, 0

    def seek(self, position: int) -> int:
        self._position = position
        return position

    def read(self, size: int) -> bytes:
        piece = self._reader.read(max(0, min(size, self._size - self._position)), self._offset + self._position)
        self._position += len(piece)
        return piece


class _Comparing:
    """What a zip is written to here: compared with the .pyz's bytes from ``position`` on; the first that differs."""

    def __init__(self, reader: Reader, position: int) -> None:
        self._reader, self.position = reader, position
        self.first_difference: int | None = None

    def write(self, data: bytes) -> int:
        if self.first_difference is None:
            found = self._reader.read(len(data), self.position)
            if found != data:
                self.first_difference = self.position + next(
                    (i for i in range(min(len(data), len(found))) if data[i] != found[i]), min(len(data), len(found))
                )
        self.position += len(data)
        return len(data)


def sidecars(pyz_name: str, pyz_sha256: str, sbom_json: bytes) -> dict[str, bytes]:
    """The files written beside the .pyz: its SBOM and its checksum (``pyz_sha256``: the .pyz's, in hex)."""
    return {
        f"{pyz_name}.cdx.json": sbom_json,
        f"{pyz_name}.sha256": f"{pyz_sha256}  {pyz_name}\n".encode(),
    }
