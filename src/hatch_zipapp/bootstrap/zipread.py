"""The zip reader of the runtime (``_bootstrap/zipread.py`` in a .pyz), and the one reading of a .pyz's zips that
``hatch-zipapp verify`` and the build share: the members of ``site-packages.zip`` (stored inside the .pyz), read in
place at their offsets in the .pyz, and written out by a few threads.

A zip can be read more than one way: a name without the UTF-8 flag is cp437 to :mod:`zipfile` and ``unzip``, a local
header can disagree with its central directory entry, members can overlap, hide bytes between them, or end with a
data descriptor, and a reader may take the first end record or the last. Two readers of one .pyz then see different
files (issue 22: ``verify`` passed while the runtime ran other bytes). So this reader reads only what the builder
writes (pyz/zipwrite.py): every field fixed or equal between the two headers, no extra field, no comment, members
back to back from the first byte to the central directory, the end record last, each deflate stream ending exactly
at its compressed size with exactly its size; anything else is :class:`Refused`, by the runtime (nothing extracted),
by ``verify`` (one problem line) and by the build (for a wheel's members copied as they are). What it accepts,
:mod:`zipfile` and ``unzip`` read the same.

The outer zip's central directory is read here too (it holds a dozen members: one read at the end of the file), not
taken from the zipimporter's private index.
"""

from __future__ import annotations

import os
import struct
import zlib  # (this module is imported by the start that extracts, and by verify: never by a warm start)

from .documents import RECORD, RECORD_PREFIX, SITE_PACKAGES, SITE_PACKAGES_ZIP, Damaged

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator
    from typing import Any

    #: (name, compression, compressed size, size, offset of the local header in the .pyz, crc32, st_mode, the local
    #: header it must have: its 30 bytes and its name) of one member of a zip.
    Member = tuple[str, int, int, int, int, int, int, bytes]

LOCAL_HEADER = b"PK\x03\x04"
CENTRAL_HEADER = b"PK\x01\x02"
END_OF_DIRECTORY = b"PK\x05\x06"
END64 = b"PK\x06\x06"
END64_LOCATOR = b"PK\x06\x07"
LOCAL_HEADER_SIZE = 30
CENTRAL_HEADER_SIZE = 46
END_SIZE = 22  # the end of central directory record without a comment (the builder writes none)
END64_SIZE, LOCATOR_SIZE = 56, 20
STORED, DEFLATED = 0, 8
#: What the builder writes in every header (pyz/zipwrite.py takes them from here): version 2.0 needed to extract,
#: made by Unix 2.0 (the external attributes are Unix modes), the UTF-8 flag on a name that is not ASCII, and no
#: other flag; the ZIP64 end record's size and versions.
VERSION = 20
MADE_BY = 3 << 8 | 20
UTF8 = 0x800
END64_FIELDS = (44, 45, 45)
#: The modes a member may have (pyz/zipwrite.py external_attr): a regular file, 0644 or 0755.
MODES = (0o100644, 0o100755)
#: At most this many threads write an extraction (inflating, reading and writing release the GIL).
MAX_WORKERS = 4
#: Bytes read, hashed or inflated at once: large enough to be fast, small enough that a member of any size is
#: extracted and checked in constant memory.
CHUNK = 1 << 20


class Refused(Damaged):
    """A zip, or a member of it (``where``), that is not read one way only, or not as the builder wrote it
    (``why``)."""

    def __init__(self, where: str, why: str) -> None:
        super().__init__(f"{where}: {why}")
        self.where, self.why = where, why


class Reader:
    """Reads at offsets of the .pyz from any thread: ``os.pread`` where there is one (POSIX), else (Windows) one file
    object per thread."""

    def __init__(self, path: str) -> None:
        import threading

        self.path = path
        self._fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0)) if hasattr(os, "pread") else None
        self._local = threading.local()
        self._files: list[Any] = []

    def read(self, size: int, offset: int) -> bytes:
        if self._fd is not None:
            return os.pread(self._fd, size, offset)
        f = getattr(self._local, "file", None)
        if f is None:
            f = self._local.file = open(self.path, "rb")  # noqa: SIM115 - closed by close()
            self._files.append(f)
        f.seek(offset)
        return f.read(size)

    def size(self) -> int:
        return os.fstat(self._fd).st_size if self._fd is not None else os.path.getsize(self.path)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
        for f in self._files:
            f.close()

    def __enter__(self) -> Reader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def members(archive: str, record: dict[str, str]) -> list[Member]:
    """The members of ``site-packages.zip`` (stored inside the .pyz), with offsets in the .pyz file itself, once the
    bytes before the zip (the shebang line) and ``site-packages.zip``'s bytes match their sha256 in ``record`` (the
    archive's ``hatch-zipapp.sha256``) and both zips read one way only (:func:`directory`): a damaged .pyz is
    :class:`Damaged`, and nothing of it is extracted."""
    try:
        with Reader(archive) as reader:
            start, base, size = inner_zip(reader)
            check_digest(reader, 0, start, record.get(RECORD_PREFIX), "the shebang line")
            check_digest(reader, base, size, record.get(SITE_PACKAGES_ZIP), SITE_PACKAGES_ZIP)
            return directory(reader, base, base + size, SITE_PACKAGES_ZIP, under=SITE_PACKAGES)[1]
    except (struct.error, ValueError) as e:  # (every length is checked before it is unpacked: not expected)
        raise Damaged(f"{SITE_PACKAGES_ZIP}: {type(e).__name__}") from None


def check_digest(reader: Reader, offset: int, size: int, expected: str | None, what: str) -> None:
    """``size`` bytes at ``offset`` must have the sha256 ``expected``: one pass over ``site-packages.zip`` on the
    start that extracts (docs/performance.md has its cost); the warm start never pays it."""
    import hashlib

    if expected is None:
        raise Damaged(f"{RECORD} lists no sha256 of {what}")
    digest = hashlib.sha256()
    end = offset + size
    while offset < end:
        chunk = reader.read(min(CHUNK, end - offset), offset)
        if not chunk:
            break
        digest.update(chunk)
        offset += len(chunk)
    if offset != end or digest.hexdigest() != expected:
        raise Damaged(f"{what} differs from its sha256 in {RECORD}")


def inner_zip(reader: Reader) -> tuple[int, int, int]:
    """Where the outer zip starts in the .pyz (the shebang line, or an embedded Python's launcher and archive, ends
    there), where ``site-packages.zip``'s bytes are, and their size; the outer zip read as :func:`directory` reads
    it, and ``site-packages.zip``'s local header as its entry says."""
    start, outer = directory(reader, 0, reader.size(), "the .pyz", prefix=True)
    found = [m for m in outer if m[0] == SITE_PACKAGES_ZIP]
    if not found:
        raise Damaged(f"no {SITE_PACKAGES_ZIP}")
    name, compress, data_size, _, offset, _, _, header = found[0]
    if compress != STORED:
        raise Refused(name, "compressed; the build stores it")
    if reader.read(len(header), offset) != header:
        raise Refused(name, "its local header differs from its central directory entry")
    return start, offset + len(header), data_size


def directory(
    reader: Reader, start: int, end: int, what: str, *, prefix: bool = False, under: str = ""
) -> tuple[int, list[Member]]:
    """Where the zip ending at ``end`` starts, and every entry of its central directory (offsets absolute), when the
    zip is exactly as the builder writes it: its end record (ZIP64's too, where needed) the last bytes before
    ``end``, no comment, its central directory just before, its members back to back before that from its first
    byte, each entry's fields as the builder writes them. Bytes between ``start`` and the zip are allowed only as a
    ``prefix`` (the .pyz's shebang line, bound by the record); every name a plain relative path (``under`` the
    directory ``under``, when given). Anything else is :class:`Refused` (``what`` names the zip): the local headers
    are compared as each member is read (:func:`contents`)."""
    tail_size = min(END_SIZE + LOCATOR_SIZE + END64_SIZE, end - start)  # the end records, ZIP64's included
    tail = reader.read(tail_size, end - tail_size)
    end_record = tail[-END_SIZE:]
    if len(end_record) != END_SIZE or end_record[:4] != END_OF_DIRECTORY:
        if LOCAL_HEADER not in reader.read(min(65536, end - start), start):  # a member would start in the first bytes
            raise Refused(what, "no zip in it: not a .pyz, or a copy cut before its first member")
        why = "no end of central directory record in its last 22 bytes (a truncated copy, a comment, or bytes after it)"
        raise Refused(what, why)
    disk, directory_disk, disk_count, count, size, offset, comment = struct.unpack_from("<4H2LH", end_record, 4)
    if disk or directory_disk or disk_count != count or comment:
        raise Refused(what, "its end record spans disks or has a comment (the build writes neither)")
    directory_end = end - END_SIZE
    if count == 0xFFFF or size == 0xFFFFFFFF or offset == 0xFFFFFFFF:  # ZIP64: the end record before the locator
        if len(tail) != END_SIZE + LOCATOR_SIZE + END64_SIZE:
            raise Refused(what, "no ZIP64 end record where its end record needs one")
        locator, end64 = tail[END64_SIZE : END64_SIZE + LOCATOR_SIZE], tail[:END64_SIZE]
        signature, locator_disk, end64_offset, disks = struct.unpack("<4sLQL", locator)
        fields = struct.unpack("<4sQHHLLQQQQ", end64)
        if signature != END64_LOCATOR or fields[0] != END64 or locator_disk or disks != 1:
            raise Refused(what, "no ZIP64 end record where its end record needs one")
        if fields[1:4] != END64_FIELDS or fields[4] or fields[5] or fields[6] != fields[7]:
            raise Refused(what, "its ZIP64 end record has fields the build never writes")
        count, size, offset = fields[7:]
        saturated = struct.pack("<2H2L", *[min(count, 0xFFFF)] * 2, min(size, 0xFFFFFFFF), min(offset, 0xFFFFFFFF))
        if end_record[8:20] != saturated or (count < 0xFFFF and offset < 1 << 32):  # the build writes it only then
            raise Refused(what, "its ZIP64 end record and its end record disagree")
        directory_end -= END64_SIZE + LOCATOR_SIZE
        if end64_offset != offset + size:
            raise Refused(what, "its ZIP64 end record is not where its locator says")
    base = directory_end - size - offset  # where the zip starts: its offsets count from there
    if base < start or (base != start and not prefix):
        raise Refused(what, f"its central directory does not end where its end record starts ({base - start} bytes "
                            "before its first member, or between its directory and its end record)")  # fmt: skip
    entries = reader.read(size, base + offset)
    if len(entries) != size:
        raise Refused(what, "cut short")
    first = 0  # where the first member is: past the prefix too, when the offsets count from the file's start
    if prefix and len(entries) >= CENTRAL_HEADER_SIZE:
        first = min(struct.unpack_from("<L", entries, 42)[0], offset)
    return base + first, parse_directory(entries, count, base, offset, what, under, first)


#: A central directory entry's fields (46 bytes, then its name).
_ENTRY = struct.Struct("<4s6H3L5H2L")


def parse_directory(
    entries: bytes, count: int, base: int, end: int, what: str, under: str = "", first: int = 0
) -> list[Member]:
    """The ``count`` entries of a central directory (``entries``, every byte of it), offsets made absolute by adding
    ``base``; their members must lie back to back from ``first`` up to ``end`` (the directory's own offset), and each
    entry's fields be as the builder writes them (one test for all of them: this loop is on the cold start's path,
    a few microseconds for each of thousands of members; :func:`_refuse_entry` says what is wrong)."""
    found: list[Member] = []
    names: set[str] = set()
    position, expected = 0, first
    prefix = under + "/" if under else ""
    unpack, modes = _ENTRY.unpack_from, MODES
    for _ in range(count):
        if len(entries) - position < CENTRAL_HEADER_SIZE:
            raise Refused(what, f"its central directory holds fewer entries than its {count}")
        fields = unpack(entries, position)
        start = position + CENTRAL_HEADER_SIZE
        (signature, made_by, version, flags, method, _, _, crc, size, file_size, name_length, extra_length,
         comment_length, disk, internal, attributes, offset) = fields  # fmt: skip
        raw = entries[start : start + name_length]
        if signature != CENTRAL_HEADER or len(raw) != name_length:
            raise Refused(what, f"its central directory is damaged after {len(found)} entries")
        name = raw.decode("ascii") if not flags and raw.isascii() and b"\0" not in raw else _name(raw, flags, what)
        if (
            name in names
            or offset != expected
            or made_by != MADE_BY
            or version != VERSION
            or (flags & ~UTF8) | extra_length | comment_length | disk | internal | (attributes & 0xFFFF)
            or attributes >> 16 not in modes
            or not (method == DEFLATED or (method == STORED and size == file_size))
            or not name.startswith(prefix)
            or (("//" in name or "/." in name or name[:1] in "./" or name[-1:] == "/") and not _plain(name))
        ):
            _refuse_entry(name, fields, expected, found[-1][0] if found else None, names, what, under)
        names.add(name)
        header = LOCAL_HEADER + entries[position + 6 : position + 32] + raw  # what its local header must be
        expected = offset + len(header) + size
        found.append((name, method, size, file_size, base + offset, crc, attributes >> 16, header))
        position = start + name_length
    if position != len(entries):
        raise Refused(what, f"{len(entries) - position} bytes in its central directory after its {count} entries")
    if expected != end:
        raise Refused(what, f"its last member ends at byte {expected}, not where its central directory starts ({end})")
    return found


def _refuse_entry(
    name: str, fields: tuple[Any, ...], expected: int, previous: str | None, names: set[str], what: str, under: str
) -> None:
    """What is wrong with a directory entry that :func:`parse_directory` found not as the builder writes it."""
    (_, made_by, version, flags, method, _, _, _, size, file_size, _, extra_length, comment_length, disk, internal,
     attributes, offset) = fields  # fmt: skip
    if name in names:
        raise Refused(name, f"listed twice in {what}'s directory")
    if offset != expected:
        before = f"{previous!r} ends" if previous is not None else "its zip starts"
        raise Refused(name, f"starts at byte {offset} of {what}, not at {expected} where {before} (members that "
                            "overlap, or bytes between them)")  # fmt: skip
    if flags & ~UTF8:
        raise Refused(name, f"flags {flags:#06x} (a data descriptor, encryption or another option the build "
                            "never writes)")  # fmt: skip
    if extra_length or comment_length:
        raise Refused(name, "an extra field or a comment in its directory entry (the build writes neither)")
    if made_by != MADE_BY or version != VERSION or disk or internal:
        raise Refused(name, "version, disk or attribute fields the build never writes")
    if attributes >> 16 not in MODES or attributes & 0xFFFF:
        raise Refused(name, f"mode {attributes >> 16:#o}, not a regular file's 0o100644 or 0o100755 (the modes the "
                            "build writes: a regular file's type bits and rw-r--r-- or rwxr-xr-x)")  # fmt: skip
    if method not in {STORED, DEFLATED}:
        raise Refused(name, f"compression method {method} (the build stores or deflates)")
    if method == STORED and size != file_size:
        raise Refused(name, f"stored, with a compressed size {size} that is not its size {file_size}")
    where = f" outside {under}/ or" if under else ""
    raise Refused(name, f"a name{where} not a plain relative path (the build writes none)")


def _plain(name: str) -> bool:
    """Whether ``name`` is a plain relative path: no empty, ``.`` or ``..`` part."""
    return not {"", ".", ".."} & set(name.split("/"))


def _name(raw: bytes, flags: int, what: str) -> str:
    """A member's name: UTF-8, flagged so when not ASCII (a non-ASCII name without the flag is cp437 to zipfile and
    unzip, UTF-8 to others), with no NUL (zipfile cuts a name there)."""
    shown = raw.decode("utf-8" if flags & UTF8 else "cp437", "replace").replace("\0", "\\x00")  # as zipfile reads it
    if b"\0" in raw:
        raise Refused(shown, f"a NUL byte in its name in {what} (zipfile reads the name up to it)")
    if raw.isascii():
        if flags & UTF8:
            raise Refused(shown, "the UTF-8 flag on an ASCII name (the build sets it only on names that are not)")
        return raw.decode("ascii")
    if not flags & UTF8:
        raise Refused(shown, "a name with bytes above 0x7f and no UTF-8 flag (zip readers decode it differently)")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise Refused(shown, "a name that is not UTF-8 though its UTF-8 flag says so") from None


def contents(reader: Reader, member: Member) -> Iterator[bytes]:
    """The bytes of one member, a piece at a time, its local header, sizes and CRC checked (:func:`inflate`) by the
    time the last piece is out. A small member (the common case) is one piece, checked before it is out: one read at
    its offset, one inflate, no generator (a few thousand of them are the cold start's hot loop)."""
    if member[2] > CHUNK or member[3] > CHUNK:
        return _large(reader, member)
    return iter((_small(reader, member),))


def _small(reader: Reader, member: Member) -> bytes:
    """The bytes of a member of at most :data:`CHUNK` bytes (compressed and not), every check of :func:`contents`
    done."""
    name, method, size, file_size, offset, crc, _, header = member
    block = reader.read(len(header) + size, offset)
    if block[: len(header)] != header:
        raise Refused(name, "its local header differs from its central directory entry")
    raw = block[len(header) :]
    if len(raw) != size:
        raise Refused(name, "cut short")
    if method == DEFLATED:
        inflater = zlib.decompressobj(-15)
        try:
            data = inflater.decompress(raw, file_size + 1)
        except zlib.error:
            raise Refused(name, "its deflate stream is damaged") from None
        if len(data) != file_size or not inflater.eof or inflater.unused_data:
            _ended(name, inflater, len(data), file_size)
    else:
        data = raw
    if zlib.crc32(data) != crc:
        raise Refused(name, "fails its CRC")
    return data


def _large(reader: Reader, member: Member) -> Iterator[bytes]:
    name, method, size, file_size, offset, crc, _, header = member
    first = reader.read(len(header) + min(size, CHUNK), offset)
    if first[: len(header)] != header:
        raise Refused(name, "its local header differs from its central directory entry")
    pieces = _pieces(reader, first[len(header) :], offset + len(header), size, name)
    yield from inflate(pieces, name, (method, crc, size, file_size))


def _pieces(reader: Reader, first: bytes, offset: int, size: int, name: str) -> Iterator[bytes]:
    yield first
    position, end = offset + len(first), offset + size
    while position < end:
        piece = reader.read(min(CHUNK, end - position), position)
        if not piece:
            raise Refused(name, "cut short")
        yield piece
        position += len(piece)


def inflate(pieces: Iterable[bytes], name: str, member: tuple[int, int, int, int]) -> Iterator[bytes]:
    """The content of a member from its compressed bytes (``pieces``), ``member`` its (method, CRC-32, compressed
    size, size), at most :data:`CHUNK` bytes at a time: the one reading of a member that the runtime, ``verify`` and
    the build (for a wheel's member it copies) share. A deflate stream must end exactly at the last compressed byte
    and give exactly ``size`` bytes (zipfile stops at ``size`` and ignores what follows the stream's end; zlib does
    neither), and the CRC-32 must match; else :class:`Refused`."""
    method, crc, size, file_size = member
    running = total = read = 0
    if method == STORED:
        for piece in pieces:
            read += len(piece)
            running = zlib.crc32(piece, running)
            yield piece
        total = read
    elif method == DEFLATED:
        inflater = zlib.decompressobj(-15)
        try:
            for piece in pieces:
                read += len(piece)
                while piece:
                    out = inflater.decompress(piece, CHUNK)
                    piece = inflater.unconsumed_tail
                    total += len(out)
                    if total > file_size:
                        raise Refused(name, f"its deflate stream inflates past its declared {file_size} bytes")
                    running = zlib.crc32(out, running)
                    yield out
                    if inflater.eof:
                        break
            while not inflater.eof:  # output zlib holds back after the last piece
                out = inflater.decompress(b"", CHUNK)
                if not out:
                    break
                total += len(out)
                if total > file_size:
                    raise Refused(name, f"its deflate stream inflates past its declared {file_size} bytes")
                running = zlib.crc32(out, running)
                yield out
        except zlib.error:
            raise Refused(name, "its deflate stream is damaged") from None
        _ended(name, inflater, total, file_size)
    else:
        raise Refused(name, f"compression method {method} (the build stores or deflates)")
    if read != size:
        raise Refused(name, f"{read} compressed bytes, not its declared {size}")
    if total != file_size:
        raise Refused(name, f"{total} bytes, not its declared {file_size}")
    if running != crc:
        raise Refused(name, "fails its CRC")


def _ended(name: str, inflater: Any, total: int, file_size: int) -> None:
    """A deflate stream read whole: it ended, at the last compressed byte, with exactly ``file_size`` bytes."""
    if total > file_size:
        raise Refused(name, f"its deflate stream inflates past its declared {file_size} bytes")
    if not inflater.eof:
        raise Refused(name, "its deflate stream is cut short")
    if inflater.unused_data:
        raise Refused(name, f"{len(inflater.unused_data)} bytes after the end of its deflate stream")
    if total != file_size:
        raise Refused(name, f"{total} bytes, not its declared {file_size}")


def read_member(reader: Reader, member: Member) -> bytes:
    """The bytes of one member, whole (:func:`contents`): for a small member."""
    return b"".join(contents(reader, member))


def changed_file(archive: str, directory: str, todo: list[Member], compiled: bool) -> str | None:
    """The first file of the extraction ``directory`` that is not byte for byte the archive's member (changed,
    missing, or added: a planted ``.pth``), or None. ``compiled``: bytecode was compiled at extraction, so a
    ``__pycache__/*.pyc`` that is no member is expected (it is not compared: docs/runtime.md says so)."""
    expected = {m[0]: m for m in todo}
    with Reader(archive) as reader:
        for member in sorted(todo, key=lambda m: m[4]):
            try:
                with open(os.path.join(directory, member[0]), "rb") as f:
                    for piece in contents(reader, member):
                        if f.read(len(piece)) != piece:
                            return member[0]
                    if f.read(1):
                        return member[0]
            except FileNotFoundError:
                return member[0]
    for parent, _, names in os.walk(os.path.join(directory, SITE_PACKAGES)):
        for file_name in names:
            path = os.path.relpath(os.path.join(parent, file_name), directory).replace(os.sep, "/")
            if path in expected or (compiled and os.path.basename(parent) == "__pycache__" and path.endswith(".pyc")):
                continue
            return path
    return None


def member_time(member: Member) -> tuple[int, int]:
    """(atime, mtime) of an extracted member: its zip timestamp (the build's ``SOURCE_DATE_EPOCH``, written in UTC),
    so every extraction of a .pyz, on every server and at any time, has the same file times: whitenoise's
    ``Last-Modified`` and ``ETag`` come from them, and two servers of one release must answer alike."""
    dos_time, dos_date = struct.unpack_from("<HH", member[7], 10)
    year, month, day = 1980 + (dos_date >> 9), (dos_date >> 5) & 0xF, dos_date & 0x1F
    if not 1 <= month <= 12:  # no such month: calendar.timegm's own error, as it would say it
        import calendar

        calendar.timegm((year, month, day, 0, 0, 0, 0, 0, 0))
    # calendar.timegm's arithmetic (days since 1970-01-01 of the month's first day, then the day, hours, minutes and
    # seconds added as they are), without importing calendar, datetime and locale for it on every cold start
    shifted = year - (month <= 2)
    days = 365 * shifted + shifted // 4 - shifted // 100 + shifted // 400 + (153 * ((month + 9) % 12) + 2) // 5 - 719468
    seconds = ((days + day - 1) * 24 + (dos_time >> 11)) * 3600 + ((dos_time >> 5) & 0x3F) * 60 + (dos_time & 0x1F) * 2
    return seconds, seconds


def write_members(archive: str, directory: str, todo: list[Member], midway: Callable[[], object] | None = None) -> None:
    """Write every member under ``directory`` (its parent directories exist), read-only (0444, or 0555 when
    executable in the archive: the application cannot change its own code): the hot loop of a cold start. Each
    thread writes its own slice of the members (every n-th in archive order, so the reads stay near each other);
    each file is one read at its offset, one inflate, one open and one write (a large one a piece at a time).
    ``midway``, if given, runs in a thread of its own once the calling thread has written 3/5 of its slice, and is
    waited for before this returns (the runtime's: the files so far start going to disk while the rest are
    written, so the flush before the rename waits for less)."""
    import threading

    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
    set_times = os.utime in os.supports_fd
    times: dict[bytes, tuple[int, int]] = {}  # by the header's DOS time and date: the build writes one for all
    ordered = sorted(todo, key=lambda m: m[4])  # in archive order: the reads stay sequential
    failures: list[BaseException] = []
    reader = Reader(archive)

    def work(mine: list[Member]) -> None:
        try:
            for member in mine:
                small = member[2] <= CHUNK and member[3] <= CHUNK
                # its header checked (a small member inflated and its CRC checked) before its file is made
                pieces = None if small else contents(reader, member)
                data: bytes | None = _small(reader, member) if pieces is None else next(pieces, b"")
                name, mode = member[0], member[6]
                out = os.open(os.path.join(directory, name), flags, 0o555 if mode & 0o111 else 0o444)
                try:
                    while data is not None:
                        written = os.write(out, data)
                        if written < len(data):  # a short write (a signal, a full disk): the rest
                            view = memoryview(data)[written:]
                            while view:
                                view = view[os.write(out, view) :]
                        data = None if pieces is None else next(pieces, None)  # a large one: checked after its last
                    if set_times:
                        stamp = member[7][10:14]
                        when = times.get(stamp)
                        if when is None:
                            when = times[stamp] = member_time(member)
                        os.utime(out, when)
                finally:
                    os.close(out)
        except BaseException as e:  # re-raised by the main thread
            failures.append(e)

    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    count = max(1, min(MAX_WORKERS, cpus))
    slices = [ordered[i::count] for i in range(count)]
    try:
        workers = [threading.Thread(target=work, args=(mine,), daemon=True) for mine in slices[1:]]
        for worker in workers:
            worker.start()
        cut = len(slices[0]) * 3 // 5
        work(slices[0][:cut])
        if midway is not None and not failures:
            workers.append(threading.Thread(target=midway, name="hatch-zipapp-flush", daemon=True))
            workers[-1].start()
        work(slices[0][cut:])
        for worker in workers:
            worker.join()
    finally:
        reader.close()
    if failures:
        raise failures[0]
