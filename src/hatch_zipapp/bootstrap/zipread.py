"""The zip reader of the runtime (``_bootstrap/zipread.py`` in a .pyz): the members of ``site-packages.zip`` (stored
inside the .pyz), read in place at their offsets in the .pyz, and written out by a few threads.

The outer zip's central directory is read here too (it holds a dozen members: one read at the end of the file), not
taken from the zipimporter's private index. A directory this quick reader does not handle (ZIP64, a comment) goes to
:mod:`zipfile`: the slow, general way.
"""

from __future__ import annotations

import os
import struct

from .documents import RECORD, RECORD_PREFIX, SITE_PACKAGES, SITE_PACKAGES_ZIP, BootstrapError, Damaged

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    #: (name, compression, compressed size, size, offset of the local header in the .pyz, crc32, st_mode) of one
    #: member of site-packages.zip.
    Member = tuple[str, int, int, int, int, int, int]

LOCAL_HEADER = b"PK\x03\x04"
CENTRAL_HEADER = b"PK\x01\x02"
END_OF_DIRECTORY = b"PK\x05\x06"
LOCAL_HEADER_SIZE = 30
CENTRAL_HEADER_SIZE = 46
END_SIZE = 22  # the end of central directory record without a comment (the builder writes none)
STORED, DEFLATED = 0, 8
#: At most this many threads write an extraction (inflating, reading and writing release the GIL).
MAX_WORKERS = 4


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
    archive's ``hatch-zipapp.sha256``): a damaged .pyz is :class:`Damaged`, and nothing of it is extracted."""
    try:
        with Reader(archive) as reader:
            start, header_offset, size = _inner_zip(reader)
            header = reader.read(LOCAL_HEADER_SIZE, header_offset)
            if header[:4] != LOCAL_HEADER:
                raise Damaged(f"no zip header for {SITE_PACKAGES_ZIP}")
            base = header_offset + LOCAL_HEADER_SIZE + sum(struct.unpack_from("<HH", header, 26))
            _check_digest(reader, 0, start, record.get(RECORD_PREFIX), "the shebang line")
            _check_digest(reader, base, size, record.get(SITE_PACKAGES_ZIP), SITE_PACKAGES_ZIP)
            found = _directory(reader, base, size)
            if found is not None:
                return [m for m in found if m[0].startswith(SITE_PACKAGES + "/") and not m[0].endswith("/")]
    except (struct.error, ValueError) as e:  # a header cut short, a name that does not decode
        raise Damaged(f"{SITE_PACKAGES_ZIP}: {type(e).__name__}") from None
    return _members_zipfile(archive, base)  # ZIP64 (65,535 members or more), or a comment: the slow, general way


#: Bytes hashed per read: large enough to be fast, small enough not to hold a big site-packages.zip in memory.
CHUNK = 1 << 20


def _check_digest(reader: Reader, offset: int, size: int, expected: str | None, what: str) -> None:
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


def _directory(reader: Reader, base: int, size: int) -> list[Member] | None:
    """Every entry of the central directory of the zip at ``base`` (``size`` bytes) in the file; None when this quick
    reader does not handle it (ZIP64, a comment)."""
    end = reader.read(END_SIZE, base + size - END_SIZE)
    if len(end) != END_SIZE or end[:4] != END_OF_DIRECTORY:
        return None
    _, _, _, count, directory_size, directory_offset, _ = struct.unpack_from("<4H2LH", end, 4)
    if count == 0xFFFF or directory_offset == 0xFFFFFFFF:
        return None
    return parse_directory(reader.read(directory_size, base + directory_offset), count, base)


def _inner_zip(reader: Reader) -> tuple[int, int, int]:
    """Where the outer zip starts in the .pyz (after the shebang line), where ``site-packages.zip``'s local header is,
    and its size."""
    size = reader.size()
    end = reader.read(END_SIZE, size - END_SIZE)
    outer = None
    if len(end) == END_SIZE and end[:4] == END_OF_DIRECTORY:
        directory_size, directory_offset = struct.unpack_from("<2L", end, 12)
        concat = size - END_SIZE - directory_size - directory_offset  # 0 when the offsets count from the file's start
        if concat >= 0:
            outer = _directory(reader, concat, size - concat)
    if outer is None:  # a comment, or damaged: zipfile says what is wrong
        import zipfile

        try:
            with zipfile.ZipFile(reader.path) as zf:
                info = zf.getinfo(SITE_PACKAGES_ZIP)
                start = min(i.header_offset for i in zf.infolist())
        except (KeyError, zipfile.BadZipFile, ValueError, OSError, EOFError) as e:
            raise Damaged(f"no readable {SITE_PACKAGES_ZIP}: {type(e).__name__}") from None
        compress, data_size, offset = info.compress_type, info.compress_size, info.header_offset
    else:
        found = [m for m in outer if m[0] == SITE_PACKAGES_ZIP]
        start = min(m[4] for m in outer)  # the first member's local header: the shebang line ends there
        if not found:
            raise Damaged(f"no {SITE_PACKAGES_ZIP}")
        _, compress, data_size, _, offset, _, _ = found[0]
    if compress != STORED:
        raise Damaged(f"{SITE_PACKAGES_ZIP} is compressed; the build stores it")
    return start, offset, data_size


def parse_directory(directory: bytes, count: int, base: int) -> list[Member]:
    """The ``count`` entries of a central directory, offsets made absolute by adding ``base``."""
    found = []
    position = 0
    for _ in range(count):
        (signature, _, _, flags, method, _, _, crc, size, file_size, name_length, extra_length, comment_length, _, _,
         attributes, offset) = struct.unpack_from("<4s6H3L5H2L", directory, position)  # fmt: skip
        if signature != CENTRAL_HEADER:
            raise Damaged(f"the central directory of {SITE_PACKAGES_ZIP}")
        start = position + CENTRAL_HEADER_SIZE
        name = directory[start : start + name_length].decode("utf-8" if flags & 0x800 else "cp437")
        position = start + name_length + extra_length + comment_length
        found.append((name, method, size, file_size, base + offset, crc, attributes >> 16))
    return found


def _members_zipfile(archive: str, base: int) -> list[Member]:
    import zipfile

    try:
        with zipfile.ZipFile(archive) as outer, zipfile.ZipFile(outer.open(SITE_PACKAGES_ZIP)) as inner:
            infos = inner.infolist()
    except (zipfile.BadZipFile, OSError, KeyError, ValueError) as e:
        raise Damaged(f"{SITE_PACKAGES_ZIP} is unreadable: {type(e).__name__}") from None
    return [
        (
            i.filename,
            i.compress_type,
            i.compress_size,
            i.file_size,
            base + i.header_offset,
            i.CRC,
            i.external_attr >> 16,
        )
        for i in infos
        if i.filename.startswith(SITE_PACKAGES + "/") and not i.filename.endswith("/")
    ]


def read_member(reader: Reader, member: Member) -> bytes:
    """The bytes of one member of site-packages.zip, its CRC and size checked: one read at its offset, one inflate."""
    import zlib

    name, compress, size, file_size, offset, crc, _ = member
    encoded = len(name.encode())
    block = reader.read(LOCAL_HEADER_SIZE + encoded + size + 64, offset)
    if block[:4] != LOCAL_HEADER:
        raise Damaged(f"no zip header for {name}")
    start = LOCAL_HEADER_SIZE + encoded + struct.unpack_from("<H", block, 28)[0]
    raw = block[start : start + size]
    if len(raw) < size:
        raw = reader.read(size, offset + start)
    if compress not in {STORED, DEFLATED}:
        raise BootstrapError(f"{reader.path}: {name} uses zip compression method {compress}, not deflate")
    try:
        data = zlib.decompress(raw, -15, file_size) if compress == DEFLATED else raw
    except zlib.error:
        data = b""
    if len(data) != file_size or zlib.crc32(data) != crc:
        raise Damaged(f"{name} fails its CRC")
    return data


def changed_file(archive: str, directory: str, todo: list[Member], compiled: bool) -> str | None:
    """The first file of the extraction ``directory`` that is not byte for byte the archive's member (changed,
    missing, or added: a planted ``.pth``), or None. ``compiled``: bytecode was compiled at extraction, so a
    ``__pycache__/*.pyc`` that is no member is expected (it is not compared: docs/runtime.md says so)."""
    expected = {m[0]: m for m in todo}
    with Reader(archive) as reader:
        for member in sorted(todo, key=lambda m: m[4]):
            try:
                with open(os.path.join(directory, member[0]), "rb") as f:
                    if f.read() != read_member(reader, member):
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


def write_members(archive: str, directory: str, todo: list[Member]) -> None:
    """Write every member under ``directory`` (its parent directories exist), read-only (0444, or 0555 when
    executable in the archive: the application cannot change its own code): the hot loop of a cold start. Each
    thread writes its own slice of the members (every n-th in archive order, so the reads stay near each other);
    each file is one read at its offset, one inflate, one open and one write."""
    import threading

    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
    ordered = sorted(todo, key=lambda m: m[4])  # in archive order: the reads stay sequential
    failures: list[BaseException] = []
    reader = Reader(archive)

    def work(mine: list[Member]) -> None:
        try:
            for member in mine:
                data = read_member(reader, member)
                name, mode = member[0], member[6]
                out = os.open(os.path.join(directory, name), flags, 0o555 if mode & 0o111 else 0o444)
                try:
                    view = memoryview(data)
                    while view:
                        view = view[os.write(out, view) :]
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
        work(slices[0])
        for worker in workers:
            worker.join()
    finally:
        reader.close()
    if failures:
        raise failures[0]
