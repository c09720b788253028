"""Getting every locked file, verified, through the download cache (cache.py), keyed by sha256.

Where a file comes from, in order: the cache; a local wheel directory; the URL the lock or an index gives.
Every byte is checked against the lock's sha256 before it is used or cached: a file is hashed a piece at a time
through the descriptor it is then read from (a wheel is installed from its open file, never read whole). No more is
read of a file than the lock's `size` says it holds (and one byte, to see it is larger), and a local file (a lock's
`path` or `file://` URL, a `wheel-dirs` file) only when it is a regular file: never a FIFO, a device or a directory,
nor is the sha256 of a local file that is not the locked one shown (the lock may name a file that is not yours).
Credentials in URLs are sent as HTTP basic auth to their own host and never appear in a message, nor does any value
an `{env:...}` field put into an index URL (the configuration's secrets).
"""

from __future__ import annotations

import base64
import difflib
import hashlib
import json
import os
import posixpath
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from html.parser import HTMLParser
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, BinaryIO, Protocol, cast

from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    NormalizedName,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from hatch_zipapp import __version__
from hatch_zipapp.bootstrap.documents import DIST_PURE_PYTHON
from hatch_zipapp.cache import CACHE_ENV, Cache, sha256_hex
from hatch_zipapp.errors import ConfigError, FetchError, HashMismatchError, NoMatchingFileError, ZipappError
from hatch_zipapp.lock import LockedFile, Pin, open_regular
from hatch_zipapp.sdist import wheel_from_sdist
from hatch_zipapp.target import Target, is_pure_python, wheel_platform

if TYPE_CHECKING:
    from hatch_zipapp.bootstrap.documents import PurePython
    from hatch_zipapp.context import BuildContext

__all__ = [
    "Fetcher",
    "Http",
    "IndexSource",
    "LocalDirectory",
    "WheelSource",
    "fetch_wheels",
    "pure_python_fallbacks",
    "redact",
    "scrub",
]

_TIMEOUT = 60
_RETRIES = 2
_PART = 256 * 1024
_ACCEPT = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.1"


def redact(url: str, secrets: Iterable[str] = ()) -> str:
    """``https://user:secret@host/x`` → ``https://user:****@host/x`` (a lone token becomes ``****``), and every one of
    ``secrets`` wherever it appears → ``****``."""
    parts = urllib.parse.urlsplit(url)
    if "@" in parts.netloc:
        userinfo, _, host = parts.netloc.rpartition("@")
        user, sep, _ = userinfo.partition(":")
        shown = f"{user}:****" if sep else "****"
        url = urllib.parse.urlunsplit(parts._replace(netloc=f"{shown}@{host}"))
    return scrub(url, secrets)


def scrub(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every one of ``secrets`` replaced by ``****``."""
    for secret in sorted(secrets, key=len, reverse=True):
        if secret:
            text = text.replace(secret, "****")
    return text


class WheelSource(Protocol):
    """Somewhere that lists the files of a package version, each with its sha256."""

    def files(self, name: NormalizedName, version: Version) -> list[LockedFile]: ...


class Http:
    """urllib with proxies from the environment, retries, and basic auth for the hosts whose URLs carried it."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._opener = urllib.request.build_opener()  # ProxyHandler reads http(s)_proxy / no_proxy
        self._auth: dict[str, str] = {}
        self._users: dict[str, str] = {}
        self._secrets = frozenset(secrets)

    def register(self, url: str) -> str:
        """Remember the credentials in ``url`` for its host; return the URL without them."""
        parts = urllib.parse.urlsplit(url)
        if "@" not in parts.netloc:
            return url
        userinfo, _, host = parts.netloc.rpartition("@")
        user, _, password = userinfo.partition(":")
        token = f"{urllib.parse.unquote(user)}:{urllib.parse.unquote(password)}"
        self._auth[host] = "Basic " + base64.b64encode(token.encode()).decode("ascii")
        self._users[host] = f"{user}:****" if password else "****"
        return urllib.parse.urlunsplit(parts._replace(netloc=host))

    def shown(self, url: str) -> str:
        """``url`` for messages: credentials and secrets redacted, and marked where this host is sent some."""
        parts = urllib.parse.urlsplit(redact(url))
        if "@" not in parts.netloc and parts.netloc in self._users:
            parts = parts._replace(netloc=f"{self._users[parts.netloc]}@{parts.netloc}")
        return redact(urllib.parse.urlunsplit(parts), self._secrets)

    def get(
        self,
        url: str,
        *,
        accept: str | None = None,
        what: str,
        received: Callable[[int], None] | None = None,
        limit: int | None = None,
    ) -> tuple[bytes, str, str]:
        """Body, content type and final URL of ``url``; a :class:`FetchError` naming ``what`` otherwise.
        ``received`` is told the size of each part of the body as it arrives (for progress). A body larger than
        ``limit`` bytes (the lock's size of the file) is refused: at most one byte more is read."""
        clean = self.register(url)
        parts = urllib.parse.urlsplit(clean)
        if parts.scheme == "file":
            return self._get_file(clean, what, self.shown(url))
        request = urllib.request.Request(clean, headers={"User-Agent": f"hatch-zipapp/{__version__}"})  # noqa: S310
        if accept:
            request.add_header("Accept", accept)
        if parts.netloc in self._auth:
            request.add_unredirected_header("Authorization", self._auth[parts.netloc])
        last: Exception | None = None
        for attempt in range(_RETRIES + 1):
            try:
                with self._opener.open(request, timeout=_TIMEOUT) as response:
                    body = _read(response, received, limit)
                    return body, response.headers.get("Content-Type", ""), response.geturl()
            except _TooLarge:
                message = (
                    f"Could not fetch {what} from {self.shown(url)}: it is larger than the {limit} bytes the lock "
                    f"records for it, and was not read further. If the lock is right, the source serves a different "
                    f"file than was locked (possible tampering); if the package was legitimately re-published, "
                    f"refresh the lock"
                )
                raise FetchError(message) from None
            except urllib.error.HTTPError as e:
                e.close()
                last = e
                if e.code < 500:
                    break
            except (urllib.error.URLError, OSError) as e:
                last = e
            if attempt < _RETRIES:
                time.sleep(0.5 * (attempt + 1))
        raise self._failure(last, what, url) from None

    def _failure(self, last: Exception | None, what: str, url: str) -> FetchError:
        """The error for a fetch whose last attempt failed with ``last``: what failed, and the fix."""
        status = last.code if isinstance(last, urllib.error.HTTPError) else None
        if status is not None:
            reason = f"HTTP {status} {getattr(last, 'reason', '')}".rstrip()
        else:
            reason = str(getattr(last, "reason", None) or last)
        if status in {401, 403}:
            fix = "Check the credentials in the index URL (`https://user:{env:TOKEN}@host/simple/`, TOKEN set)"
        else:
            fix = (
                f"Check the URL and your network or proxy (https_proxy), or fill the download cache "
                f"(${CACHE_ENV}) on a machine that can reach it"
            )
        message = scrub(f"Could not fetch {what} from {self.shown(url)}: {reason}. {fix}", self._secrets)
        return FetchError(message, status=status)

    @staticmethod
    def _get_file(url: str, what: str, shown: str) -> tuple[bytes, str, str]:
        """An index page at a ``file://`` URL (a directory's ``index.html``): a regular file, read whole."""
        try:
            path = file_url_path(url, what)
            if path.is_dir():
                path = path / "index.html"
            with open_regular(path) as f:
                return f.read(), "text/html", url
        except OSError as e:
            message = f"Could not read {what} from {shown}: {e.strerror or e}"
            raise FetchError(message) from None


def file_url_path(url: str, what: str) -> Path:
    """The local path a ``file://`` URL names; a :class:`FetchError` naming ``what`` when it names another host."""
    parts = urllib.parse.urlsplit(url)
    if parts.netloc not in {"", "localhost"}:
        message = (
            f"Could not read {what} from {redact(url)}: a file:// URL names a file on this machine, not on "
            f"{parts.netloc!r}; write it file:///path"
        )
        raise FetchError(message)
    return Path(urllib.request.url2pathname(parts.path))


class _TooLarge(Exception):
    """A body, or a local file, holds more bytes than the lock says."""


class _Anchors(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[tuple[str, str]] = []
        self._href: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._href = dict(attrs).get("href")
            self._text = []

    def handle_data(self, data: str) -> None:
        if self._href is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._href is not None:
            self.links.append((self._href, "".join(self._text).strip()))
            self._href = None


def _read(response: BinaryIO, received: Callable[[int], None] | None, limit: int | None) -> bytes:
    """A response's body, in parts of at most :data:`_PART` bytes (``received`` told of each); :class:`_TooLarge`
    once it holds more than ``limit`` bytes (read no further), or before anything is read when its Content-Length
    says so."""
    declared = getattr(response, "headers", {}).get("Content-Length", "")
    if limit is not None and declared.strip().isdigit() and int(declared) > limit:
        raise _TooLarge
    parts, count = [], 0
    while part := response.read(_PART if limit is None else min(_PART, limit + 1 - count)):
        parts.append(part)
        count += len(part)
        if received is not None:
            received(len(part))
        if limit is not None and count > limit:
            raise _TooLarge
    return b"".join(parts)


def _sha256_within(opened: IO[bytes], limit: int) -> str:
    """The sha256 of the rest of ``opened``, read a piece at a time; :class:`_TooLarge` once more than ``limit``
    bytes were read (no more is read)."""
    digest, count = hashlib.sha256(), 0
    while piece := opened.read(min(_PART, limit + 1 - count)):
        count += len(piece)
        if count > limit:
            raise _TooLarge
        digest.update(piece)
    return digest.hexdigest()


def _version_of(filename: str) -> tuple[NormalizedName, Version] | None:
    try:
        if filename.endswith(".whl"):
            name, version, _, _ = parse_wheel_filename(filename)
            return name, version
        return parse_sdist_filename(filename)
    except (InvalidWheelFilename, InvalidSdistFilename, InvalidVersion):
        return None


def _is_sdist(filename: str) -> bool:
    return filename.endswith((".tar.gz", ".zip")) and _version_of(filename) is not None


class IndexSource:
    """A PEP 503 / PEP 691 simple index."""

    def __init__(self, url: str, http: Http) -> None:
        self.url = url if url.endswith("/") else url + "/"
        self._http = http
        self._pages: dict[NormalizedName, list[LockedFile]] = {}

    def files(self, name: NormalizedName, version: Version) -> list[LockedFile]:
        if name not in self._pages:
            self._pages[name] = self._read_page(name)
        found = []
        for locked in self._pages[name]:
            parsed = _version_of(locked.filename)
            if parsed is not None and parsed[0] == name and parsed[1] == version:
                found.append(locked)
        return found

    def _read_page(self, name: NormalizedName) -> list[LockedFile]:
        page_url = urllib.parse.urljoin(self.url, f"{name}/")
        try:
            body, content_type, final_url = self._http.get(page_url, accept=_ACCEPT, what=f"the index page of {name}")
        except FetchError as e:
            if e.status == 404:
                return []  # this index does not have the project; another may
            raise
        files = []
        if "json" in content_type:
            for entry in json.loads(body).get("files", []):
                sha = (entry.get("hashes") or {}).get("sha256")
                if sha:
                    url = urllib.parse.urljoin(final_url, entry["url"])
                    files.append(LockedFile(entry["filename"], sha.lower(), url=url))
            return files
        parser = _Anchors()
        parser.feed(body.decode("utf-8", "replace"))
        for href, text in parser.links:
            url = urllib.parse.urljoin(final_url, href)
            parts = urllib.parse.urlsplit(url)
            fragment = urllib.parse.parse_qs(parts.fragment)
            sha = (fragment.get("sha256") or [""])[0]
            filename = text or urllib.parse.unquote(posixpath.basename(parts.path))
            if len(sha) == 64:
                files.append(
                    LockedFile(filename, sha.lower(), url=urllib.parse.urlunsplit(parts._replace(fragment="")))
                )
        return files


class LocalDirectory:
    """A directory of wheels (``wheel-dirs``, ``--find-links``): files are hashed when first asked for."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._listing: list[str] | None = None
        self._hashes: dict[str, str] = {}

    def _names(self) -> list[str]:
        if self._listing is None:
            try:
                self._listing = sorted(os.listdir(self.path))
            except OSError:
                self._listing = []
        return self._listing

    def files(self, name: NormalizedName, version: Version) -> list[LockedFile]:
        found = []
        for filename in self._names():
            parsed = _version_of(filename)
            if parsed is None or parsed != (name, version):
                continue
            found.append(self._locked(filename))
        return found

    def by_filename(self, filename: str) -> LockedFile | None:
        return self._locked(filename) if filename in self._names() else None

    def _locked(self, filename: str) -> LockedFile:
        path = self.path / filename
        if filename not in self._hashes:
            try:
                with open_regular(path) as f:
                    self._hashes[filename] = _sha256_within(f, os.fstat(f.fileno()).st_size)
            except (OSError, _TooLarge) as e:
                reason = e.strerror if isinstance(e, OSError) else "it grew while it was read"
                message = (
                    f"Could not read {filename} in the wheel directory {self.path}: {reason or e}. A wheel directory "
                    f"holds wheel and sdist files: remove it from there"
                )
                raise FetchError(message) from None
        return LockedFile(filename, self._hashes[filename], path=path)


class Fetcher:
    """Chooses the file of each pin for a target, and fetches it, verified."""

    def __init__(
        self, cache: Cache, *, index_urls: Sequence[str], wheel_dirs: Iterable[Path], secrets: Iterable[str] = ()
    ) -> None:
        self.cache = cache
        self.http = Http(secrets)
        self.index_urls = [self.http.register(url) for url in index_urls]
        self.shown_index_urls = [self.http.shown(url) for url in index_urls]
        self.indexes: list[WheelSource] = [IndexSource(url, self.http) for url in self.index_urls]
        self.directories = [LocalDirectory(path) for path in wheel_dirs]
        self.downloaded = 0
        #: Files read from this machine into the cache (a `python-archive` path), counted apart from downloads.
        self.read_locally = 0
        #: sha256 → the file, open, so several targets read and hash each file once; on disk, not in memory
        self._verified: dict[str, BinaryIO] = {}

    def choose(self, pin: Pin, target: Target) -> LockedFile:
        """The best file for ``target`` among those whose sha256 the lock records."""
        candidates = self._locked(pin)
        wheels = [c for c in candidates.values() if c.filename.endswith(".whl")]
        ranked = sorted(
            (
                (rank, locked.filename, locked)
                for locked in wheels
                if (rank := target.rank(locked.filename)) is not None
            ),
            key=lambda item: (item[0], item[1]),
        )
        if ranked:
            return ranked[0][2]
        sdists = sorted((c for c in candidates.values() if _is_sdist(c.filename)), key=lambda c: c.filename)
        if sdists:
            return sdists[0]  # the sdist stage builds it, and checks that the wheel fits
        offered = ", ".join(sorted(c.filename for c in candidates.values())) or "no file at all"
        tried = ", ".join(str(tag) for tag in target.tags[:3])
        where = ", ".join(self.shown_index_urls + [str(d.path) for d in self.directories])
        message = (
            f"Package {pin.name} {pin.version} ({pin.origin}) has no wheel that fits {target.describe()}. "
            f"Best tags tried: {tried}, ... ({len(target.tags)} in all). Files with a locked hash "
            f"(looked in {where or 'the lock'}): {offered}. Lock a version with a wheel for this platform, or build "
            f"one (`pip wheel --no-deps {pin.name}=={pin.version}`) and add its directory to `wheel-dirs`"
        )
        raise NoMatchingFileError(message)

    def locked_wheels(self, pin: Pin) -> list[str]:
        """The names of every wheel the lock has for ``pin``'s package, for any platform: those a pylock lists (of
        any version), else those of the version whose sha256 a requirements file records (found as :meth:`choose`
        finds them). A name that is not a valid wheel name is left out."""
        names = pin.wheels or [locked.filename for locked in self._locked(pin).values()]
        return sorted(name for name in names if name.endswith(".whl") and _version_of(name) is not None)

    def _locked(self, pin: Pin) -> dict[str, LockedFile]:
        """The files whose sha256 the lock records for ``pin``, by sha256."""
        if pin.files:
            return {locked.sha256: locked for locked in pin.files if locked.sha256 in pin.hashes}
        return self._candidates(pin)

    def _candidates(self, pin: Pin) -> dict[str, LockedFile]:
        """The files of ``pin`` whose sha256 the lock records, by sha256: the names the cache remembers, then the
        wheel directories, then the indexes (asked only while some locked file is still unknown)."""
        known: dict[str, LockedFile] = {}
        for sha in pin.hashes:
            filename = self.cache.filename(sha)
            if filename is not None:
                known[sha] = LockedFile(filename, sha)
        for directory in self.directories:
            known.update((f.sha256, f) for f in directory.files(pin.name, pin.version) if f.sha256 in pin.hashes)
        for index in self.indexes:
            if known.keys() >= pin.hashes:
                break
            for locked in index.files(pin.name, pin.version):
                if locked.sha256 in pin.hashes:
                    self.cache.remember_filename(locked.sha256, locked.filename)
                    if locked.sha256 not in known or known[locked.sha256].path is None:
                        known[locked.sha256] = locked
        return known

    def fetch(self, locked: LockedFile, pin: Pin, *, received: Callable[[int], None] | None = None) -> bytes:
        """The bytes of ``locked`` (:meth:`open`, read whole: for an sdist, which is built from its bytes)."""
        opened = self.open(locked, pin, received=received)
        opened.seek(0)
        return opened.read()

    def open(self, locked: LockedFile, pin: Pin, *, received: Callable[[int], None] | None = None) -> BinaryIO:
        """``locked``'s file, open, its sha256 checked against the lock (once per build, through this descriptor,
        which stays open until :meth:`close`); ``received`` is told the size of each part of a download as it
        arrives. Not to be closed by the caller."""
        opened = self._verified.get(locked.sha256)
        if opened is None:
            opened = self._verified[locked.sha256] = self._open(locked, pin, received)
        return opened

    def close(self) -> None:
        """Let go of the files fetched so far."""
        for opened in self._verified.values():
            opened.close()
        self._verified.clear()

    def _open(self, locked: LockedFile, pin: Pin, received: Callable[[int], None] | None) -> BinaryIO:
        cached = self.cache.open(locked.sha256)
        if cached is not None:
            return cached
        local = locked.path
        if local is None:
            for directory in self.directories:
                found = directory.by_filename(locked.filename)
                if found is not None and found.sha256 == locked.sha256:
                    local = found.path
                    break
        what = f"{locked.filename} ({pin.name} {pin.version})"
        if local is None and locked.url and urllib.parse.urlsplit(locked.url).scheme == "file":
            local = file_url_path(locked.url, what)
        if local is not None:
            return self._open_local(local, locked, pin)
        url = locked.url or self._url_from_indexes(locked, pin)
        data, _, _ = self.http.get(url, what=what, received=received, limit=locked.size)
        self._check(sha256_hex(data), locked, pin, self.http.shown(url))
        self.downloaded += 1
        self.cache.write(locked.sha256, data)
        self.cache.remember_filename(locked.sha256, locked.filename)
        kept = self.cache.open(locked.sha256)  # the cached file, checked again: the bytes need not stay in memory
        if kept is None:  # a cache that cannot be written
            kept = cast(BinaryIO, tempfile.TemporaryFile())  # noqa: SIM115 (closed by close())
            kept.write(data)
            kept.seek(0)
        return kept

    def _url_from_indexes(self, locked: LockedFile, pin: Pin) -> str:
        for index in self.indexes:
            for candidate in index.files(pin.name, pin.version):
                if candidate.sha256 == locked.sha256 and candidate.url:
                    return candidate.url
        message = (
            f"File {locked.filename} of {pin.name} {pin.version} ({pin.origin}) is not in the download cache and no "
            f"index lists it (looked in {', '.join(self.shown_index_urls) or 'no index'}); add the index that serves "
            f"it with `index-url` / `extra-index-urls`, or its directory with `wheel-dirs`"
        )
        raise FetchError(message)

    @staticmethod
    def _open_local(local: Path, locked: LockedFile, pin: Pin) -> BinaryIO:
        """``local`` (a lock's `path` or `file://` URL, or a `wheel-dirs` file), open, at its start: a regular file,
        no larger than the lock's size of it (no more is read), whose sha256 is the locked one. A mismatch does not
        show the file's sha256: the lock (perhaps another's) may name a file that is not yours."""
        try:
            opened = open_regular(local)
        except OSError as e:
            message = (
                f"Could not read {locked.filename} for {pin.name} ({pin.origin}) from {local}: {e.strerror or e}. "
                f"A lock names wheel and sdist files: correct its path or URL"
            )
            raise FetchError(message) from None
        try:
            size = os.fstat(opened.fileno()).st_size
            limit = size if locked.size is None else min(size, locked.size)
            try:
                digest = None if size > limit else _sha256_within(opened, limit)
            except _TooLarge:
                digest = None
            fix = (
                f"If the lock is right, {local} is not the file that was locked; if the package was legitimately "
                f"rebuilt, refresh the lock"
            )
            if digest is None:
                if locked.size is not None and size > locked.size:
                    problem = f"is larger than the {locked.size} bytes the lock records for it"
                else:
                    problem = "grew while it was read"
                message = (
                    f"{locked.filename} ({pin.name} {pin.version}, {pin.origin}) at {local} {problem}: it was not "
                    f"read further, nor used. {fix}"
                )
                raise HashMismatchError(message)
            if digest != locked.sha256:
                message = (
                    f"Hash mismatch for {locked.filename} ({pin.name} {pin.version}, {pin.origin}) at {local}: its "
                    f"sha256 is not the {locked.sha256} the lock records (its own is not shown: it may not be your "
                    f"file). The file was not used. {fix}"
                )
                raise HashMismatchError(message)
            opened.seek(0)
        except BaseException:
            opened.close()
            raise
        return opened

    @staticmethod
    def _check(actual: str, locked: LockedFile, pin: Pin, where: str) -> None:
        if actual != locked.sha256:
            message = (
                f"Hash mismatch for {locked.filename} ({pin.name} {pin.version}, {pin.origin}) from {where}: "
                f"got sha256 {actual}, the lock records {locked.sha256}. The file was not used. If the lock is "
                f"right, the source serves a different file than was locked (possible tampering); if the package "
                f"was legitimately re-published, refresh the lock"
            )
            raise HashMismatchError(message)


def fetch_wheels(
    context: BuildContext,
    pins: list[Pin],
    installer_for: Callable[[list[str]], Callable[[str, bytes | IO[bytes]], None]],
) -> list[dict[str, Any]]:
    """The fetch stage: each pin's file for the context's target, checked against the lock, handed to the installer
    one at a time as an open file (read a member at a time: no wheel is held in memory). ``installer_for`` is given
    the file name of every wheel first (the .pyz's tag, and so the scripts' shebang, depends on them all), and
    returns what installs one. An sdist is built into a wheel before any is installed, since its wheel's name is
    known only then. Returns the record of what was embedded, in the pins' order, for the build information (with
    what :func:`pure_python_fallbacks` found)."""
    fetcher, target = context.fetcher, context.target
    _check_pure_python_ok(context)
    embedded: list[dict[str, Any]] = []
    built: dict[int, tuple[str, bytes]] = {}
    with context.progress.step("Fetching", total=len(pins), bytes_note="downloaded") as step:
        chosen = [(pin, fetcher.choose(pin, target)) for pin in pins]
        for index, (pin, locked) in enumerate(chosen):
            record = {
                "name": str(pin.name),
                "version": str(pin.version),
                "file": locked.filename,
                "sha256": locked.sha256,
            }
            if not locked.filename.endswith(".whl"):
                data = fetcher.fetch(locked, pin, received=step.add_bytes)
                built[index] = wheel_from_sdist(context, pin, locked, data)
                record["built_wheel"] = built[index][0]
                step.advance()
            embedded.append(record)
        wheels = [built[i][0] if i in built else locked.filename for i, (_, locked) in enumerate(chosen)]
        for index, fallback in pure_python_fallbacks(context, [pin for pin, _ in chosen], wheels).items():
            embedded[index][DIST_PURE_PYTHON] = fallback
        install_one = installer_for(wheels)
        for index, (pin, locked) in enumerate(chosen):
            if index in built:
                install_one(*built.pop(index))
                continue
            install_one(locked.filename, fetcher.open(locked, pin, received=step.add_bytes))
            step.advance()
    return embedded


def _check_pure_python_ok(context: BuildContext) -> None:
    """Every package `pure-python-ok` names is one the lock has: a misspelt name would silence nothing."""
    known = context.lock.names()
    unknown = sorted(context.config.pure_python_ok - known)
    if not unknown:
        return
    named = []
    for name in unknown:
        close = difflib.get_close_matches(name, sorted(known), n=1)
        named.append(f"{name!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    message = (
        f"Field `{_PURE_PYTHON_OK}` names {', '.join(named)}, which {context.lock.path.name} does not lock: "
        f"correct the name, or remove it"
    )
    raise ConfigError(message)


def pure_python_fallbacks(context: BuildContext, pins: list[Pin], wheels: list[str]) -> dict[int, PurePython]:
    """Each of ``pins`` whose wheel for the context's target (in ``wheels``, in the same order) is pure Python where
    the lock has compiled ones (for other platforms or Python versions), by its index: the platforms they are for, and
    whether `pure-python-ok` names it. A warning (one line) for each it does not, with what the other targets of the
    build got. What is recorded depends on the lock and this target alone, not on the other targets built with it."""
    found: dict[int, PurePython] = {}
    for index, (pin, wheel) in enumerate(zip(pins, wheels, strict=True)):
        if not (wheel.endswith(".whl") and is_pure_python(wheel)):
            continue
        compiled = [name for name in context.fetcher.locked_wheels(pin) if not is_pure_python(name)]
        if compiled:
            platforms = sorted({wheel_platform(name)[1] for name in compiled})
            found[index] = {"lock": platforms, "allowed": pin.name in context.config.pure_python_ok}
    warned = [index for index, record in found.items() if not record["allowed"]]
    others = _compiled_elsewhere(context, {pins[index].name for index in warned}) if warned else {}
    target = context.target
    for index in warned:
        pin = pins[index]
        compiled = [name for name in context.fetcher.locked_wheels(pin) if not is_pure_python(name)]
        said = [f"{tag} got {name}" for tag, name in sorted(others.get(pin.name, {}).items())]
        said.append(f"the lock has compiled wheels of it for {_pythons(compiled)} on {', '.join(found[index]['lock'])}")
        message = (
            f"{pin.name} {pin.version} for {target.describe()} is its pure-Python wheel ({wheels[index]}), without "
            f"compiled code, where {' and '.join(said)}. To fix: lock a {pin.name} wheel that fits {target.describe()} "
            f"(a version that has one, or a wheel built from its sdist on such a machine: its hash in the lock, its "
            f"directory in `wheel-dirs`). To silence: add {str(pin.name)!r} to `{_PURE_PYTHON_OK}`"
        )
        context.display.display_warning(message)
    return found


_PURE_PYTHON_OK = "tool.hatch.build.targets.zipapp.pure-python-ok"


def _compiled_elsewhere(context: BuildContext, names: set[NormalizedName]) -> dict[NormalizedName, dict[str, str]]:
    """For each of ``names``, the compiled wheel each other target of the build gets (its tag → the wheel's name)."""
    found: dict[NormalizedName, dict[str, str]] = {}
    project = canonicalize_name(context.project.name)
    for other in context.config.targets:
        if other.name == context.target.name:
            continue
        try:
            for pin in context.lock.select(other, project):
                if pin.name in names:
                    filename = context.fetcher.choose(pin, other).filename
                    if filename.endswith(".whl") and not is_pure_python(filename):
                        found.setdefault(pin.name, {})[other.name] = filename
        except ZipappError:
            continue  # nothing fits that target: its own build stops, saying why
    return found


def _pythons(wheels: list[str]) -> str:
    """The interpreters ``wheels`` are for: ``cp312``, or ``cp39 to cp312``."""
    interpreters = sorted(
        {wheel_platform(name)[0] for name in wheels},
        key=lambda tag: (int(tag[2:]) if tag[2:].isdigit() else 0, tag),
    )
    return interpreters[0] if len(interpreters) == 1 else f"{interpreters[0]} to {interpreters[-1]}"
