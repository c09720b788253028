"""The deploy's first step: a release's .pyz into ``releases/NAME``, bit for bit the published file or nothing.

SOURCE is an http(s) URL or a path. The expected sha256 is pinned (``--sha256``) or read from ``SOURCE.sha256`` (the
build writes it: ``HEX  NAME``); the file is written through a temporary file in ``releases/``, fsynced, and renamed
into place only once its sha256 is that one. When ``releases/`` holds earlier releases and the build's index is
beside SOURCE (``NAME.pyz.index``, :mod:`hatch_zipapp.pyz.index`), only what they lack is fetched: every member and
chunk the index names is taken from an earlier release that has one of the same key, the zip structure from the
index, the rest by HTTP ``Range`` requests on one kept-alive connection (ranges closer than :data:`GAP` joined). A
one-line change of the example site then costs ~0.6% of its .pyz over the network instead of 100%
(docs/performance.md, "Delta deploys"). Whatever goes wrong with the delta — no index, a damaged or lying one, a
server that ignores ``Range`` (its 200 is then the whole download), a result of another sha256 — is one line, and the
whole download; what goes wrong with the transfer itself (no answer within :data:`TIMEOUT`, headers not complete
within twice that, a body slower than :data:`MIN_RATE`, a body cut short, an HTTP error) is one line and an error,
and nothing is left in ``releases/``.

Credentials: the URL's ``user:password@`` or ``~/.netrc`` (``$NETRC``) as Basic, or ``HATCH_ZIPAPP_DEPLOY_TOKEN`` as
a Bearer token; sent to the source's host only (not after a redirect to another), and never printed: every URL shown
has no user information and no query string. Standard library only (a server needs nothing else).
"""

from __future__ import annotations

import base64
import contextlib
import errno
import hashlib
import http.client
import netrc
import os
import re
import socket
import ssl
import struct
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

from hatch_zipapp.bootstrap.documents import BootstrapError
from hatch_zipapp.errors import DeltaIndexError, FetchError, HashMismatchError
from hatch_zipapp.pyz.index import MAX_INDEX, SUFFIX, Index, Piece, describe, read_index

__all__ = ["GAP", "TIMEOUT", "TOKEN", "Fetched", "fetch", "shown"]

#: A token sent as ``Authorization: Bearer TOKEN`` to the source's host.
TOKEN = "HATCH_ZIPAPP_DEPLOY_TOKEN"  # noqa: S105 - the variable's name, not a secret
#: Seconds any socket operation (connect, send, each read) may take (a response's status and headers: twice this).
TIMEOUT = 30.0
#: Bytes a second a body must average over each :data:`TIMEOUT` seconds (a server trickling a byte at a time, each
#: read within TIMEOUT, would otherwise hold the deploy, and its lock, for ever).
MIN_RATE = 1024
MAX_REDIRECTS = 5
#: Ranges to fetch closer than this are fetched as one: a request costs about this much (headers, a round trip).
GAP = 8 << 10
#: When more than this share of the file would come by ranges, it is downloaded whole (one request).
MOST = 0.5
BLOCK = 1 << 20
MAX_SHA256_FILE = 4 << 10
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*\.pyz")
_HEX = re.compile(r"[0-9a-fA-F]{64}")
_REDIRECTS = (301, 302, 303, 307, 308)


@dataclass(frozen=True)
class Fetched:
    """What :func:`fetch` did: the file in ``releases/``, its sha256, the bytes that came over the network (response
    bodies: the checksum, the index, the ranges or the whole file) and the bytes taken from earlier releases, and
    how: ``"already here"``, ``"copied"`` (a path), ``"whole download"`` or ``"delta"``."""

    path: Path
    sha256: str
    transferred: int
    reused: int
    how: str


def shown(url: str) -> str:
    """``url`` as it may be printed: no ``user:password@``, no query string, no fragment."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


def _size(count: float) -> str:
    return f"{count / 1e6:.1f} MB" if count >= 1e6 else f"{count / 1e3:.1f} kB"


def fetch(source: str, releases: Path, *, sha256: str | None, say: Callable[[str], None]) -> Fetched:
    """The release SOURCE (URL or path) as ``releases/NAME``, its sha256 checked (``sha256``, or ``SOURCE.sha256``);
    a delta from the earlier releases in ``releases/`` where the index allows. Each step is one line through ``say``;
    a failure is :class:`~hatch_zipapp.errors.FetchError` or :class:`~hatch_zipapp.errors.HashMismatchError`, with
    nothing left in ``releases/``."""
    remote = urlsplit(source).scheme.lower() in ("http", "https")
    name = _name(source, remote)
    releases.mkdir(parents=True, exist_ok=True)
    try:
        return _fetch(source, remote, name, releases, sha256, say)
    except FetchError:
        raise
    except OSError as e:  # (reads and the network are FetchError: this is writing in releases/)
        full = e.errno in (errno.ENOSPC, errno.EDQUOT)
        fix = f"free space on its file system (df -h {releases})" if full else "check it and its file system"
        message = f"{releases}: cannot write {name} there ({e.strerror}): {fix}, then deploy again (nothing was kept)"
        raise FetchError(message) from None


def _fetch(
    source: str, remote: bool, name: str, releases: Path, sha256: str | None, say: Callable[[str], None]
) -> Fetched:
    with _Session(source if remote else None) as session:
        expected = _expected(sha256, source, name, remote, session, say)
        target = releases / name
        if target.is_file() and not target.is_symlink() and _digest_of(target) == expected:
            say(f"fetched {name}: already here (sha256 {expected[:12]}…)")
            return Fetched(target, expected, session.transferred, 0, "already here")
        if not remote:
            with _temporary(releases, name) as (fd, temporary):
                _copy(source, fd)
                return _finish(fd, temporary, target, expected, source, session, say, "copied", 0)
        return _remote(session, source, name, releases, expected, say)


def _copy(source: str, fd: int) -> None:
    """The file ``source`` into ``fd`` (what cannot be read is :class:`FetchError`; what cannot be written, OSError)."""
    try:
        f = open(source, "rb")  # noqa: SIM115 - closed below; its reads' errors are told from the writes'
    except OSError as e:
        message = f"{source}: cannot be read ({e.strerror}): give the path of the .pyz the build wrote"
        raise FetchError(message) from None
    with f:
        while True:
            try:
                block = f.read(BLOCK)
            except OSError as e:
                message = f"{source}: cannot be read ({e.strerror}): give the path of the .pyz the build wrote"
                raise FetchError(message) from None
            if not block:
                return
            _write_all(fd, block)


def _name(source: str, remote: bool) -> str:
    name = unquote(urlsplit(source).path.rsplit("/", 1)[-1]) if remote else os.path.basename(source)
    if not _NAME.fullmatch(name):
        where = shown(source) if remote else source
        message = (
            f"{where}: {name!r} is not a plain .pyz file name (letters, digits, '.', '_', '+' and '-', ending in "
            f"'.pyz'): give the URL or path of the .pyz the build wrote"
        )
        raise FetchError(message)
    return name


def _expected(
    sha256: str | None, source: str, name: str, remote: bool, session: _Session, say: Callable[[str], None]
) -> str:
    """The sha256 the file must have: pinned, or the first word of ``SOURCE.sha256``."""
    if sha256 is not None:
        if not _HEX.fullmatch(sha256):
            message = f"--sha256 {sha256!r} is not a sha256 (64 hexadecimal digits, as `sha256sum` prints)"
            raise FetchError(message)
        return sha256.lower()
    if remote:
        parts = urlsplit(source)
        url = parts._replace(path=parts.path + ".sha256").geturl()
        where = shown(url)
        text = session.small(url, MAX_SHA256_FILE, f"publish {name}.sha256 beside it or pass --sha256")
    else:
        where = source + ".sha256"
        try:
            with open(where, "rb") as f:
                text = f.read(MAX_SHA256_FILE + 1)
        except FileNotFoundError:
            message = f"{where}: no such file: publish {name}.sha256 beside {name} or pass --sha256"
            raise FetchError(message) from None
        except OSError as e:
            message = f"{where}: cannot be read ({e.strerror})"
            raise FetchError(message) from None
    words = text.split(b"\n", 1)[0].split()
    listed = words[1].decode("utf-8", "replace").lstrip("*") if len(words) > 1 else name
    if len(text) > MAX_SHA256_FILE or not words or not _HEX.fullmatch(words[0].decode("ascii", "replace")):
        message = f"{where}: not a sha256 line (`HEX  {name}`, as `sha256sum` writes it): publish the build's"
        raise FetchError(message)
    if listed != name:
        message = f"{where}: lists {listed!r}, not {name!r}: publish the .sha256 the build wrote beside {name}"
        raise FetchError(message)
    expected = words[0].decode("ascii").lower()
    say(f"sha256 of {name}: {expected} (from {where})")
    return expected


# -- delta -----------------------------------------------------------------------------------------------------------
def _remote(
    session: _Session, url: str, name: str, releases: Path, expected: str, say: Callable[[str], None]
) -> Fetched:
    earlier = sorted(
        (p for p in releases.glob("*.pyz") if _NAME.fullmatch(p.name) and p.is_file() and not p.is_symlink()),
        key=lambda p: (p.name == name, -p.stat().st_mtime, p.name),  # the newest first; one of this name is damaged
    )
    if not earlier:
        return _whole(session, url, name, releases, expected, say, None, "no earlier release here")
    index = _index(session, url, name, expected, say)
    if index is None:
        return _whole(session, url, name, releases, expected, say, None, None)
    where: dict[bytes, tuple[Path, int]] = {}
    for path in earlier:
        try:
            for piece in describe(path):
                if piece.literal is None:
                    where.setdefault(piece.key, (path, piece.offset))
        except (BootstrapError, DeltaIndexError, OSError, struct.error, ValueError) as e:
            say(f"{path.name}: not used for the delta ({e})")
    remote = [p for p in index.pieces if p.literal is None and p.key not in where]
    missing = sum(p.size for p in remote)
    free = _free(releases)
    if index.size > free:  # (a lying index's pieces can repeat what is here: terabytes from a few kB)
        why = f"its index describes {_size(index.size)}, more than the {_size(free)} free in {releases}"
        return _whole(session, url, name, releases, expected, say, None, why)
    if missing > MOST * index.size:
        why = f"{_size(missing)} of its {_size(index.size)} are in no earlier release"
        return _whole(session, url, name, releases, expected, say, None, why)
    with _temporary(releases, name) as (fd, temporary):
        reused, sources = _assemble(fd, index, where)
        url, answer = _ranges(fd, session, url, _merged(remote))
        if isinstance(answer, http.client.HTTPResponse):  # the server ignored Range: its 200 is the whole file
            say(f"{shown(url)}: the server answered a Range request with the whole file (no Range support)")
            os.ftruncate(fd, 0)
            _body(session, answer, url, _Capped(fd, releases, name))
            return _finish(fd, temporary, releases / name, expected, url, session, say, "whole download", 0)
        if answer is not None:
            say(f"{shown(url)}: {answer}: downloading {name} whole")
        elif (found := _digest_fd(fd)) != expected:
            say(f"{name}: the delta made a file of sha256 {found}, not {expected}: downloading it whole")
        else:
            earlier_count = f"{len(sources)} earlier release{'s' if len(sources) != 1 else ''}"
            say(
                f"fetched {name}: delta, {_size(session.transferred)} of {_size(index.size)} over the network "
                f"({session.transferred / index.size:.1%}), the rest from {earlier_count}"
            )
            return _finish(fd, temporary, releases / name, expected, url, session, None, "delta", reused)
    return _whole(session, url, name, releases, expected, say, None, None)


def _index(session: _Session, url: str, name: str, expected: str, say: Callable[[str], None]) -> Index | None:
    """The index beside ``url``, or None (said why)."""
    parts = urlsplit(url)
    index_url = parts._replace(path=parts.path + SUFFIX).geturl()
    try:
        data = session.small(index_url, MAX_INDEX, None)
    except FetchError as e:
        if e.status is None:  # the network, not the index: the whole download would fail the same way
            raise
        if e.status == 404:
            say(
                f"{shown(index_url)}: not found (publish the .index the build writes beside the .pyz, and a deploy "
                f"fetches only what changed): downloading {name} whole"
            )
        else:
            say(f"{e}: downloading {name} whole")
        return None
    try:
        index = read_index(data)
    except DeltaIndexError as e:
        say(f"{shown(index_url)}: damaged ({e}): downloading {name} whole")
        return None
    if index.sha256 != expected:
        say(f"{shown(index_url)}: describes a file of sha256 {index.sha256}, not {expected}: downloading {name} whole")
        return None
    return index


def _assemble(fd: int, index: Index, where: dict[bytes, tuple[Path, int]]) -> tuple[int, set[Path]]:
    """Write every piece the index gives or an earlier release has; the bytes reused, and the releases used."""
    os.ftruncate(fd, index.size)
    reused, used = 0, set()
    with contextlib.ExitStack() as stack:
        opened: dict[Path, int] = {}
        for piece in index.pieces:
            if piece.literal is not None:
                os.pwrite(fd, piece.literal, piece.offset)
                continue
            found = where.get(piece.key)
            if found is None:
                continue
            path, offset = found
            if path not in opened:
                opened[path] = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
                stack.callback(os.close, opened[path])
            done = 0
            while done < piece.size:
                block = os.pread(opened[path], min(BLOCK, piece.size - done), offset + done)
                if not block:
                    break  # (an earlier release cut short: the sha256 tells)
                os.pwrite(fd, block, piece.offset + done)
                done += len(block)
            reused += piece.size
            used.add(path)
    return reused, used


def _free(directory: Path) -> int:
    """The bytes free on ``directory``'s file system, less its reserve (root, the deploy, could use that too)."""
    found = os.statvfs(directory)
    return found.f_bavail * found.f_frsize


def _merged(pieces: list[Piece]) -> list[tuple[int, int]]:
    """The (start, end) byte ranges to fetch: the pieces', joined where less than :data:`GAP` apart."""
    ranges: list[tuple[int, int]] = []
    for piece in sorted(pieces, key=lambda p: p.offset):
        start, end = piece.offset, piece.offset + piece.size
        if ranges and start - ranges[-1][1] < GAP:
            ranges[-1] = (ranges[-1][0], max(end, ranges[-1][1]))
        else:
            ranges.append((start, end))
    return ranges


def _ranges(
    fd: int, session: _Session, url: str, ranges: list[tuple[int, int]]
) -> tuple[str, http.client.HTTPResponse | str | None]:
    """Fetch each range into ``fd`` at its offset: the URL the file is at (after redirects), and None, or a response
    that is the whole file (200: the server ignores Range) to read instead, or why a range was not sent (then the
    whole file is downloaded)."""
    for start, end in ranges:
        response, url = session.open(url, {"Range": f"bytes={start}-{end - 1}"})
        if response.status == 200:
            return url, response
        if response.status != 206:
            _discard(session, response, url)
            return url, f"HTTP {response.status} {response.reason} to a Range request"
        answered = re.fullmatch(r"bytes (\d+)-(\d+)/(\d+|\*)", response.getheader("Content-Range", ""))
        if not answered or (int(answered[1]), int(answered[2])) != (start, end - 1):
            _discard(session, response, url)
            return url, f"bytes {response.getheader('Content-Range')!r} sent for bytes {start}-{end - 1}"
        sink = _RangeSink(fd, url, start, end)
        _body(session, response, url, sink)
        if sink.position != end:
            message = f"{shown(url)}: transfer cut off: {sink.position - start} of the {end - start} bytes of a range"
            raise FetchError(message)
    return url, None


class _RangeSink:
    """Writes a range's body at its offsets, no byte past its end."""

    def __init__(self, fd: int, url: str, start: int, end: int) -> None:
        self.fd, self.url, self.start, self.end, self.position = fd, url, start, end, start

    def __call__(self, block: bytes) -> None:
        if self.position + len(block) > self.end:
            message = f"{shown(self.url)}: sent more than the {self.end - self.start} bytes of a range"
            raise FetchError(message)
        os.pwrite(self.fd, block, self.position)
        self.position += len(block)


# -- the whole file -----------------------------------------------------------------------------------------------
def _whole(
    session: _Session,
    url: str,
    name: str,
    releases: Path,
    expected: str,
    say: Callable[[str], None],
    response: http.client.HTTPResponse | None,
    why: str | None,
) -> Fetched:
    if why:
        say(f"{name}: {why}: downloading it whole")
    response, url = session.open(url, {}) if response is None else (response, url)
    if response.status != 200:
        _discard(session, response, url)
        raise _status(url, response)
    with _temporary(releases, name) as (fd, temporary):
        _body(session, response, url, _Capped(fd, releases, name))
        return _finish(fd, temporary, releases / name, expected, url, session, say, "whole download", 0)


class _Capped:
    """Writes a download's body, no more than :func:`_free` allowed when it began: a server's endless body stops
    there, the file system's reserve (root's, which the deploy could use) left to the system."""

    def __init__(self, fd: int, releases: Path, name: str) -> None:
        self.fd, self.releases, self.name, self.room, self.written = fd, releases, name, _free(releases), 0

    def __call__(self, block: bytes) -> None:
        self.written += len(block)
        if self.written > self.room:
            message = (
                f"{self.releases}: {self.name} is more than the {_size(self.room)} free there (its file system's "
                f"reserve is left to the system): free space (df -h {self.releases}), then deploy again (nothing was "
                f"kept)"
            )
            raise FetchError(message)
        _write_all(self.fd, block)


def _finish(
    fd: int,
    temporary: Path,
    target: Path,
    expected: str,
    source: str,
    session: _Session,
    say: Callable[[str], None] | None,
    how: str,
    reused: int,
) -> Fetched:
    """Put the temporary file in place once its sha256 is ``expected`` (else raise: the caller removes it)."""
    found = _digest_fd(fd)
    where = shown(source) if "://" in source else source
    if found != expected:
        message = (
            f"{where}: sha256 {found}, not the expected {expected}: a damaged or different file (publish it again, "
            f"or check the pinned --sha256)"
        )
        raise HashMismatchError(message)
    os.fchmod(fd, 0o644)
    os.fsync(fd)
    _write_checksum(target, expected)
    os.replace(temporary, target)
    directory = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
    if say is not None:
        size = os.fstat(fd).st_size
        moved = f", {_size(session.transferred)} over the network" if session.transferred else ""
        say(f"fetched {target.name}: {how}, {_size(size)}{moved}")
    return Fetched(target, found, session.transferred, reused, how)


def _write_checksum(target: Path, sha256: str) -> None:
    """``releases/NAME.sha256`` (as `sha256sum` writes it) beside the release, before the release takes its name: a
    later `hatch-zipapp verify` on the server checks the file against the digest it was fetched by."""
    checksum = target.with_name(target.name + ".sha256")
    with _temporary(target.parent, checksum.name) as (fd, temporary):
        _write_all(fd, f"{sha256}  {target.name}\n".encode("ascii"))
        os.fchmod(fd, 0o644)
        os.fsync(fd)
        os.replace(temporary, checksum)


@contextlib.contextmanager
def _temporary(releases: Path, name: str) -> Iterator[tuple[int, Path]]:
    """A new file in ``releases/`` (a dot file: no release), removed unless renamed into place."""
    fd, path = tempfile.mkstemp(prefix=f".{name}.", suffix=".part", dir=releases)
    try:
        yield fd, Path(path)
    finally:
        os.close(fd)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _digest_fd(fd: int) -> str:
    digest, offset = hashlib.sha256(), 0
    while block := os.pread(fd, BLOCK, offset):
        digest.update(block)
        offset += len(block)
    return digest.hexdigest()


def _digest_of(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


# -- HTTP ------------------------------------------------------------------------------------------------------------
def _status(url: str, response: http.client.HTTPResponse) -> FetchError:
    fix = ""
    if response.status in (401, 403):
        host = urlsplit(url).hostname
        fix = f": give credentials ({TOKEN}, a ~/.netrc entry for {host}, or user:password@ in the URL)"
    message = f"{shown(url)}: HTTP {response.status} {response.reason}{fix}"
    return FetchError(message, status=response.status)


def _discard(session: _Session, response: http.client.HTTPResponse, url: str) -> None:
    with contextlib.suppress(FetchError):
        _body(session, response, url, lambda block: None, limit=1 << 16)


def _body(
    session: _Session,
    response: http.client.HTTPResponse,
    url: str,
    sink: Callable[[bytes], None],
    limit: int | None = None,
) -> None:
    """Read a response's body into ``sink``, all of it (its Content-Length, when it has one), counted."""
    length = response.getheader("Content-Length")
    expected = int(length) if length is not None and length.isdigit() else None
    got = 0
    mark, marked = time.monotonic(), 0  # (the window the rate is measured over)
    while True:
        try:
            block = response.read1(BLOCK)
        except (OSError, http.client.HTTPException) as e:
            response.close()
            session.drop()
            of = f" of {expected}" if expected is not None else ""
            message = f"{shown(url)}: transfer cut off after {got}{of} bytes ({_why(e)}): run the deploy again"
            raise FetchError(message) from None
        if not block:
            response.close()  # (read1 leaves it open at the end: the connection's next request needs it closed)
            break
        got += len(block)
        session.transferred += len(block)
        if limit is not None and got > limit:
            response.close()
            session.drop()  # (its connection holds the rest of the body)
            message = f"{shown(url)}: more than {limit} bytes"
            raise FetchError(message, status=413)
        sink(block)  # (writing: its OSError is not the transfer's)
        if (now := time.monotonic()) - mark >= TIMEOUT:
            if got - marked < MIN_RATE * (now - mark):
                response.close()
                session.drop()
                rate = f"{(got - marked) / (now - mark):.0f} bytes/s over {now - mark:.0f} s"
                message = f"{shown(url)}: too slow ({rate}, under {MIN_RATE}) after {got} bytes: run the deploy again"
                raise FetchError(message)
            mark, marked = now, got
    if expected is not None and got != expected:
        message = f"{shown(url)}: transfer cut off after {got} of {expected} bytes: run the deploy again"
        raise FetchError(message)


def _why(error: BaseException) -> str:
    if isinstance(error, TimeoutError):
        return f"no answer within {TIMEOUT:g} s"
    if isinstance(error, http.client.HTTPException):
        return type(error).__name__
    return getattr(error, "strerror", None) or type(error).__name__


class _Session:
    """HTTP GETs on kept-alive connections (one per host), redirects followed, credentials sent to the source's
    host only, every body counted in ``transferred``."""

    def __init__(self, url: str | None) -> None:
        self.transferred = 0
        self.connections: dict[tuple[str, str, int], http.client.HTTPConnection] = {}
        self.origin: tuple[str, str, int] | None = None
        self.authorization: str | None = None
        if url is not None:
            self.origin = _origin(url)
            self.authorization = _credentials(url)

    def __enter__(self) -> _Session:
        return self

    def __exit__(self, *exc_info: object) -> None:
        for connection in self.connections.values():
            connection.close()

    def drop(self) -> None:
        """Close every connection (one may hold an unread body): the next request opens a new one."""
        for connection in self.connections.values():
            connection.close()
        self.connections.clear()

    def open(self, url: str, headers: dict[str, str]) -> tuple[http.client.HTTPResponse, str]:
        """The response to GET ``url`` (redirects followed), and the URL that answered."""
        first = url
        for _ in range(MAX_REDIRECTS + 1):
            response = self._get(url, headers)
            if response.status not in _REDIRECTS:
                return response, url
            location = response.getheader("Location")
            _discard(self, response, url)
            if not location:
                message = f"{shown(url)}: HTTP {response.status} without a Location"
                raise FetchError(message)
            was, url = urlsplit(url).scheme.lower(), urljoin(url, location)
            if urlsplit(url).scheme.lower() not in ("http", "https"):
                message = f"{shown(first)}: redirected to a URL that is not http(s)"
                raise FetchError(message)
            if was == "https" and urlsplit(url).scheme.lower() == "http":  # (what came by https is no longer checked)
                message = f"{shown(first)}: redirected from https to plain http ({shown(url)}): publish it on https"
                raise FetchError(message)
        message = f"{shown(first)}: more than {MAX_REDIRECTS} redirects"
        raise FetchError(message)

    def small(self, url: str, limit: int, fix: str | None) -> bytes:
        """The body of ``url`` (at most ``limit`` bytes); a 404 is :class:`FetchError` with ``status`` 404 (its
        message ends with ``fix``)."""
        response, url = self.open(url, {})
        if response.status != 200:
            _discard(self, response, url)
            error = _status(url, response)
            if response.status == 404 and fix:
                error = FetchError(f"{error}: {fix}", status=404)
            raise error
        chunks: list[bytes] = []
        _body(self, response, url, chunks.append, limit=limit)
        return b"".join(chunks)

    def _get(self, url: str, headers: dict[str, str]) -> http.client.HTTPResponse:
        parts = urlsplit(url)
        origin = _origin(url)
        sent = {"User-Agent": "hatch-zipapp-deploy", **headers}
        if self.authorization is not None and origin == self.origin:
            sent["Authorization"] = self.authorization
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        for attempt in (1, 2):
            reused = origin in self.connections
            connection = self._connection(origin)
            watchdog = _Watchdog(connection)
            try:
                connection.request("GET", target, headers=sent)
                with watchdog:
                    response = connection.getresponse()
                if watchdog.fired:  # (its socket shut down: what came is cut short, whatever it looks like)
                    response.close()
                    raise TimeoutError
                return response
            except (OSError, http.client.HTTPException) as e:
                connection.close()
                del self.connections[origin]
                if watchdog.fired:  # (a trickle of headers, each byte within TIMEOUT)
                    message = f"{shown(url)}: no complete answer (its status and headers) within {2 * TIMEOUT:g} s"
                    raise FetchError(message) from None
                closed = isinstance(e, (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError))
                if attempt == 2 or not reused or not closed:  # a kept-alive connection the server closed: once more
                    message = f"{shown(url)}: {_why(e)}"
                    raise FetchError(message) from None
        raise AssertionError  # (unreachable)

    def _connection(self, origin: tuple[str, str, int]) -> http.client.HTTPConnection:
        connection = self.connections.get(origin)
        if connection is None:
            scheme, host, port = origin
            if scheme == "https":
                context = ssl.create_default_context()
                connection = http.client.HTTPSConnection(host, port, timeout=TIMEOUT, context=context)
            else:
                connection = http.client.HTTPConnection(host, port, timeout=TIMEOUT)
            self.connections[origin] = connection
        return connection


class _Watchdog:
    """``with _Watchdog(connection):`` shuts the connection's socket down once twice :data:`TIMEOUT` has passed
    (the reads then end; ``fired`` says why): a silent server is the socket's timeout, this is a trickling one."""

    def __init__(self, connection: http.client.HTTPConnection) -> None:
        self.connection, self.fired = connection, False
        self.timer = threading.Timer(2 * TIMEOUT, self.fire)
        self.timer.daemon = True

    def fire(self) -> None:
        self.fired = True
        if self.connection.sock is not None:
            with contextlib.suppress(OSError):
                self.connection.sock.shutdown(socket.SHUT_RDWR)

    def __enter__(self) -> None:
        self.timer.start()

    def __exit__(self, *exc_info: object) -> None:
        self.timer.cancel()
        self.timer.join()


def _origin(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError:
        message = f"{shown(url.split('@')[-1])}: not a valid port"
        raise FetchError(message) from None
    return scheme, parts.hostname or "", port


def _credentials(url: str) -> str | None:
    """The ``Authorization`` header for the source's host: the URL's user information, the token, or netrc."""
    parts = urlsplit(url)
    if parts.username is not None:
        pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        return "Basic " + base64.b64encode(pair.encode()).decode()
    token = os.environ.get(TOKEN)
    if token:
        return f"Bearer {token}"
    path = os.environ.get("NETRC") or os.path.join(os.path.expanduser("~"), ".netrc")
    if not os.path.isfile(path):
        return None
    try:
        found = netrc.netrc(path).authenticators(parts.hostname or "")
    except (netrc.NetrcParseError, OSError) as e:
        line = f" (line {e.lineno})" if isinstance(e, netrc.NetrcParseError) else ""
        message = f"{path}: cannot be read as a netrc file{line}: fix it, or set NETRC to another"
        raise FetchError(message) from None
    if found is None:
        return None
    login, _, password = found
    return "Basic " + base64.b64encode(f"{login}:{password}".encode()).decode()
