"""The build cache: downloads, the file names indexes gave for them, built wheels, bytecode and collectstatic output.

Nothing read from the cache is trusted without a check, because whatever it returns is embedded in the .pyz:

- **Downloads** are content-addressed: ``files/sha256/ab/<sha256>`` holds the file whose sha256 is its name (the one
  the lock records). A file that does not hash to its name is an error naming it (the lock says what it must be).
- **Everything else** is an *entry*, found by a key (a digest of what it was made from: an sdist's sha256, the
  sources and interpreter of a bytecode run, ...) and sealed by a digest of what it holds: the entry of ``key`` is
  ``<kind>/<key[:2]>/<key>/<seal>-<label>``, where ``seal`` is the sha256 of the kind, the key, the label and the bytes.
  Each entry is one file written atomically, so it is never seen half-written, and it is checked on every read: a
  damaged, truncated or edited entry (or one copied from another key) is discarded with a one-line warning, and the
  caller builds it again, so the build's result is the same as with an empty cache.

The cache is trusted as OpenSSH's StrictModes and pip trust theirs, because a bytecode bundle or a built wheel planted
by another user would be sealed as well as a real one (the seal is a public sha256, the key a digest of public
sources): every directory from ``/`` down to an entry, and the entry, must be owned by the building user or root and
writable by no one else. Group write is allowed only for the user's own (effective) group, the user-private group of a
umask-002 system; a sticky directory (``/tmp``) only above the cache, where it lets no one else rename the cache. This
is checked where each is opened, never by path first and opened after: each directory is opened (``O_NOFOLLOW``,
``O_DIRECTORY``) relative to the one above it, already open and checked, and checked by ``fstat`` of that descriptor;
an entry is opened (``O_NOFOLLOW``) relative to its checked directory and checked likewise. So a directory renamed or
swapped for a link after a check is never used, nor a link anywhere below ``/`` after the cache's real path (the
cache directory itself may be named through links: its real path is what is checked). Anything else is a
:class:`CacheError` naming the exact directory or file and a fix for the whole cache (remove it: it holds only what a
build makes again). Directories are made 0700 and files 0600 whatever the umask, each file written under a temporary
name in its checked directory and renamed there.

A cache directory that cannot be written costs only time: every write is best effort. A write killed half-way leaves
a held temporary file (scratch.py), removed by the next write into that directory.

Nothing is read whole: a file is checked by hashing it a piece at a time through the descriptor it is then used
from (:meth:`Cache.open`, :meth:`Cache.open_entry`), and a bundle (the files of a bytecode run or of collectstatic)
is a stored zip read a member at a time (:meth:`Cache.open_bundle`), written from files on disk
(:func:`write_bundle`).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import os
import re
import shlex
import shutil
import stat
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, BinaryIO, cast

from hatch_zipapp.errors import CacheError, HashMismatchError, ZipappError
from hatch_zipapp.scratch import create_in, sweep

__all__ = ["CACHE_ENV", "Bundle", "Cache", "file_sha256", "sha256_hex", "write_bundle"]

CACHE_ENV = "HATCH_ZIPAPP_CACHE_DIR"
_ENTRY = re.compile(r"(?P<seal>[0-9a-f]{64})-(?P<label>[^/]+)")
_BUNDLE = "bundle.zip"
_NAME = "name"
_CHUNK = 1024 * 1024
#: A bundle's members carry this timestamp (a bundle is never embedded, only its members' bytes are).
_BUNDLE_TIME = (1980, 1, 1, 0, 0, 0)
#: How the cache opens: a directory above the cache, only searched (O_PATH: one the user may not read); a directory
#: of the cache, listed; an entry, read (O_NONBLOCK: a FIFO is not waited on). None follows a link.
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
_SEARCH = getattr(os, "O_PATH", os.O_RDONLY) | getattr(os, "O_DIRECTORY", 0) | _NOFOLLOW
_LIST = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | _NOFOLLOW
_READ = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | _NOFOLLOW


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_sha256(file: IO[bytes], digest: hashlib._Hash | None = None) -> str:
    """The hex digest of the rest of ``file`` (fed to ``digest``, a new sha256 by default), read a piece at a
    time."""
    digest = hashlib.sha256() if digest is None else digest
    while piece := file.read(_CHUNK):
        digest.update(piece)
    return digest.hexdigest()


def _warn_on_stderr(message: str) -> None:
    print(f"Warning: {message}", file=sys.stderr)


def _sealing(kind: str, key: str, label: str) -> hashlib._Hash:
    return hashlib.sha256(f"hatch-zipapp cache entry\0{kind}\0{key}\0{label}\0".encode())


def _seal(kind: str, key: str, label: str, data: bytes) -> str:
    digest = _sealing(kind, key, label)
    digest.update(data)
    return digest.hexdigest()


def write_bundle(files: Iterable[tuple[str, Path]], note: str = "") -> BinaryIO:
    """A bundle (a zip, members stored) in an unnamed temporary file: each (name, file on disk), copied a piece at a
    time, in sorted order of the names; ``note`` is its comment. The caller closes it."""
    out = cast(BinaryIO, tempfile.TemporaryFile(buffering=_CHUNK))  # noqa: SIM115 (the caller's to close)
    try:
        with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive:
            archive.comment = note.encode()
            for name, path in sorted(files):
                info = zipfile.ZipInfo(name, date_time=_BUNDLE_TIME)
                info.file_size = path.stat().st_size
                with path.open("rb") as source, archive.open(info, "w") as member:
                    shutil.copyfileobj(source, member, _CHUNK)
    except BaseException:
        out.close()
        raise
    return out


class Bundle:
    """A bundle, open: its members by name (``archive``), read a member at a time, and its note. Close it."""

    def __init__(self, file: BinaryIO) -> None:
        self._file = file
        try:
            file.seek(0)
            self.archive = zipfile.ZipFile(file)
            self.note = self.archive.comment.decode()
        except BaseException:
            file.close()
            raise

    def members(self) -> Iterator[tuple[str, IO[bytes]]]:
        """Each member's name and its stream, in the bundle's (sorted) order."""
        for info in self.archive.infolist():
            with self.archive.open(info) as stream:
                yield info.filename, stream

    def read(self) -> dict[str, bytes]:
        return {name: stream.read() for name, stream in self.members()}

    def close(self) -> None:
        self.archive.close()
        self._file.close()

    def __enter__(self) -> Bundle:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _untrusted(st: os.stat_result, *, above: bool) -> str | None:
    """Why a directory or file of the cache (or, ``above``, a directory above it) with this status could have been
    written by another user, or None (see the module's docstring)."""
    mode = stat.S_IMODE(st.st_mode)
    shared = above and mode & stat.S_ISVTX  # /tmp: no one renames or removes what is not theirs
    if st.st_uid not in {0, os.geteuid()}:
        return f"it is owned by another user (uid {st.st_uid})"
    if mode & 0o002 and not shared:
        return f"it is writable by others (mode {mode:04o})"
    if mode & 0o020 and st.st_gid != os.getegid() and not shared:
        return f"it is writable by group {st.st_gid} (mode {mode:04o})"
    return None


def _is_link(directory: int, name: str) -> bool:
    try:
        return stat.S_ISLNK(os.stat(name, dir_fd=directory, follow_symlinks=False).st_mode)
    except OSError:
        return False


class _Untrusted(Exception):
    def __init__(self, why: str, st: os.stat_result | None) -> None:
        self.why, self.st = why, st


class Cache:
    """Downloads by sha256, and sealed entries by key (see the module's docstring)."""

    def __init__(self, root: Path, *, warn: Callable[[str], None] = _warn_on_stderr) -> None:
        self.root = root
        self.warn = warn

    @classmethod
    def default(cls, *, warn: Callable[[str], None] = _warn_on_stderr) -> Cache:
        """``$HATCH_ZIPAPP_CACHE_DIR``, else ``$XDG_CACHE_HOME/hatch-zipapp``, else ``~/.cache/hatch-zipapp``; the
        directories down to it checked (if it exists) before anything is built."""
        explicit = os.environ.get(CACHE_ENV)
        if explicit:
            root = Path(explicit).expanduser()
        else:
            base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
            root = Path(base, "hatch-zipapp")
        cache = cls(root, warn=warn)
        directory = cache._open_directory((), create=False)
        if directory is not None:
            os.close(directory)
        return cache

    # Trust: every directory from / down, opened relative to the one above it, checked through its descriptor.

    def _refusal(self, path: Path, why: str, st: os.stat_result | None, *, above: bool = False) -> CacheError:
        """A :class:`CacheError` naming ``path`` (with status ``st``), ``why``, and the fix: for a directory above
        the cache, ``chmod go-w`` it (the user's own) or use another; for the cache or anything in it, remove the
        cache (unless the cache is someone else's or shared: /tmp)."""
        own = st is not None and st.st_uid in {0, os.geteuid()}
        if above:
            whose = f"{path} could have been written by another user ({why}), who could then replace the cache"
            advice = f"Use a directory of your own ({CACHE_ENV}=DIR)"
            if own:
                advice = (
                    f"Run `chmod go-w {shlex.quote(os.fspath(path))}`, or use a directory of your own ({CACHE_ENV}=DIR)"
                )
        else:
            whose = f"{path} could have been written by another user ({why})"
            if path == self.root and (not own or st is None or st.st_mode & stat.S_ISVTX):
                advice = f"Use a directory of your own ({CACHE_ENV}=DIR)"
            else:
                advice = (
                    f"Remove the cache, as another user may have put files anywhere in it (`rm -rf "
                    f"{shlex.quote(os.fspath(self.root))}`: it holds only what a build makes again), or use a "
                    f"directory of your own ({CACHE_ENV}=DIR)"
                )
        message = (
            f"Refusing to use the build cache {self.root}: {whose}, and whatever the cache returns is embedded in "
            f"the .pyz. {advice}"
        )
        return CacheError(message)

    @functools.cached_property
    def _real(self) -> list[str]:
        """The names from ``/`` down to the cache directory, the links naming it resolved (once): below ``/`` none
        is followed, so a link put in their place later is refused, never followed."""
        return [name for name in os.path.realpath(self.root).split(os.sep) if name]

    def _open_directory(self, parts: tuple[str, ...], *, create: bool) -> int | None:
        """The directory ``ROOT/parts``, open (for listing), with every directory from ``/`` down to it checked; made
        (0700) where missing when ``create``, else None; None too where it cannot be opened or made (a read-only or
        unreadable cache costs only time)."""
        names = [*self._real, *parts]
        cache = len(self._real) - 1  # the cache directory's index in names (-1: the cache is /)
        fd = os.open("/", _SEARCH if cache >= 0 else _LIST)
        try:
            checked = self._check(fd, above=cache >= 0)
            if checked is not None:  # pragma: no cover - a system whose / others can write
                raise self._refusal(Path("/") if cache >= 0 else self.root, *checked, above=cache >= 0) from None
            for i, name in enumerate(names):
                above = i < cache
                try:
                    child = self._open_child(fd, name, above=above, create=create)
                except _Untrusted as e:
                    path = Path("/", *names[: i + 1]) if above else self.root.joinpath(*parts[: i - cache])
                    raise self._refusal(path, e.why, e.st, above=above) from None
                if child is None:
                    return None
                os.close(fd)
                fd = child
            opened, fd = fd, -1
            return opened
        finally:
            if fd >= 0:
                os.close(fd)

    @staticmethod
    def _check(fd: int, *, above: bool) -> tuple[str, os.stat_result] | None:
        st = os.fstat(fd)
        why = _untrusted(st, above=above)
        return None if why is None else (why, st)

    def _open_child(self, parent: int, name: str, *, above: bool, create: bool) -> int | None:
        """The directory ``name`` in ``parent`` (open and checked), open and checked (else :class:`_Untrusted`);
        None where it is missing (and not ``create``) or cannot be opened."""
        made = False
        try:
            try:
                fd = os.open(name, _SEARCH if above else _LIST, dir_fd=parent)
            except FileNotFoundError:
                if not create:
                    return None
                try:
                    os.mkdir(name, 0o700, dir_fd=parent)
                    made = True
                except FileExistsError:  # made by a concurrent build meanwhile: checked as any other
                    pass
                fd = os.open(name, _LIST, dir_fd=parent)
        except OSError:
            if _is_link(parent, name):
                raise _Untrusted("it is a symbolic link", None) from None
            return None  # not a directory, or not ours to read or make: nothing cached there
        try:
            if made:
                os.fchmod(fd, 0o700)  # whatever the umask
            checked = self._check(fd, above=above)
            if checked is not None:
                raise _Untrusted(*checked)
        except BaseException:
            os.close(fd)
            raise
        return fd

    def _open_file(self, directory: int, name: str, path: Path) -> BinaryIO | None:
        """The plain file ``name`` in ``directory`` (open and checked), open for reading and checked; None if it is
        missing or not a plain file (a FIFO, which is not waited on)."""
        try:
            fd = os.open(name, _READ, dir_fd=directory)
        except OSError:
            if _is_link(directory, name):
                raise self._refusal(path, "it is a symbolic link", None) from None
            return None
        try:
            opened = os.fdopen(fd, "rb")
        except BaseException:
            os.close(fd)
            raise
        try:
            st = os.fstat(opened.fileno())
            if not stat.S_ISREG(st.st_mode):
                opened.close()
                return None
            why = _untrusted(st, above=False)
            if why is not None:
                raise self._refusal(path, why, st) from None
        except BaseException:
            opened.close()
            raise
        return opened

    def _write(self, parts: tuple[str, ...], stem: str, pieces: Iterable[bytes], name: Callable[[], str]) -> None:
        """Write ``pieces`` to a new file (0600) in ``ROOT/parts`` (its directories made 0700 and checked), then
        rename it to ``name()`` (asked once every piece is written) in that same directory, and drop the other
        entries there; best effort, but a directory another user could have written is a :class:`CacheError`."""
        try:
            directory = self._open_directory(parts, create=True)
        except CacheError:
            raise
        except OSError:  # a read-only or full cache only costs the work again next time
            return
        if directory is None:
            return
        try:
            sweep(directory, ".")  # what killed writers left here
            fd, temporary = create_in(directory, stem)
            try:
                with os.fdopen(os.dup(fd), "wb", buffering=_CHUNK) as out:
                    for piece in pieces:
                        out.write(piece)
                final = name()
                os.replace(temporary, final, src_dir_fd=directory, dst_dir_fd=directory)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(temporary, dir_fd=directory)
                raise
            finally:
                os.close(fd)  # lets go of the temporary file's lock
            if parts[0] != "files":
                for other in os.listdir(directory):
                    if other != final and _ENTRY.fullmatch(other):
                        os.unlink(other, dir_fd=directory)
        except CacheError:
            raise
        except OSError:
            pass
        finally:
            os.close(directory)

    # Downloads: content-addressed.

    @staticmethod
    def _files(sha256: str) -> tuple[str, ...]:
        return ("files", "sha256", sha256[:2])

    def read(self, sha256: str) -> bytes | None:
        """The downloaded file with this sha256, checked, or None."""
        opened = self.open(sha256)
        if opened is None:
            return None
        with opened:
            return opened.read()

    def open(self, sha256: str) -> BinaryIO | None:
        """The downloaded file with this sha256, checked (hashed through the descriptor returned, positioned at its
        start), or None. The caller closes it."""
        parts = self._files(sha256)
        path = self.root.joinpath(*parts, sha256)
        directory = self._open_directory(parts, create=False)
        if directory is None:
            return None
        try:
            opened = self._open_file(directory, sha256, path)
        finally:
            os.close(directory)
        if opened is None:
            return None
        try:
            actual = file_sha256(opened)
            opened.seek(0)
        except OSError:
            opened.close()
            return None
        if actual != sha256:
            opened.close()
            message = (
                f"Cached file {path} has sha256 {actual}, not the {sha256} it is stored under: the download cache "
                f"was changed behind hatch-zipapp's back. Delete that file (or the whole cache, {self.root}) and "
                f"build again"
            )
            raise HashMismatchError(message)
        return opened

    def write(self, sha256: str, data: bytes) -> None:
        self._write(self._files(sha256), sha256, [data], lambda: sha256)

    # Sealed entries.

    @staticmethod
    def _directory(kind: str, key: str) -> tuple[str, ...]:
        return (kind, key[:2], key)

    def get(self, kind: str, key: str) -> tuple[str, bytes] | None:
        """The label and bytes stored under ``key``, checked; None if there is none (or only a damaged one, which is
        removed with a warning)."""
        entry = self.open_entry(kind, key)
        if entry is None:
            return None
        label, opened = entry
        with opened:
            return label, opened.read()

    def open_entry(self, kind: str, key: str) -> tuple[str, BinaryIO] | None:
        """The label and open file stored under ``key``, checked (hashed through the descriptor returned, positioned
        at its start); None as for :meth:`get`. The caller closes it."""
        parts = self._directory(kind, key)
        directory = self._open_directory(parts, create=False)
        if directory is None:
            return None
        try:
            return self._sealed_entry(kind, key, directory, self.root.joinpath(*parts))
        finally:
            os.close(directory)

    def _sealed_entry(self, kind: str, key: str, directory: int, path: Path) -> tuple[str, BinaryIO] | None:
        try:
            names = sorted(os.listdir(directory))
        except OSError:
            return None
        for name in names:
            match = _ENTRY.fullmatch(name)
            if match is None:
                continue  # a writer's temporary file, or an entry of an older hatch-zipapp: never read
            opened = self._open_file(directory, name, path / name)
            if opened is None:
                continue  # removed by a concurrent build replacing it, or not a plain file
            label = match["label"]
            try:
                sealed = file_sha256(opened, _sealing(kind, key, label)) == match["seal"]
                opened.seek(0)
            except OSError:
                opened.close()
                continue
            if sealed:
                return label, opened
            opened.close()
            self.warn(
                f"Discarded a damaged {kind} cache entry {path / name} (its content does not match the digest it was "
                f"stored with): building it again"
            )
            with contextlib.suppress(OSError):
                os.unlink(name, dir_fd=directory)
        return None

    def put(self, kind: str, key: str, label: str, data: bytes) -> None:
        """Store ``data`` (named ``label``) under ``key``, replacing what was there; best effort."""
        self._check_label(label)
        name = f"{_seal(kind, key, label, data)}-{label}"
        self._write(self._directory(kind, key), label, [data], lambda: name)

    def put_file(self, kind: str, key: str, label: str, file: IO[bytes]) -> None:
        """:meth:`put` for the content of ``file`` (from its start), copied a piece at a time; best effort."""
        self._check_label(label)
        digest = _sealing(kind, key, label)

        def pieces() -> Iterator[bytes]:
            file.seek(0)
            while piece := file.read(_CHUNK):
                digest.update(piece)
                yield piece

        self._write(self._directory(kind, key), label, pieces(), lambda: f"{digest.hexdigest()}-{label}")

    @staticmethod
    def _check_label(label: str) -> None:
        if "/" in label or not label:
            message = f"Cache entry label {label!r} must be a plain file name"
            raise ZipappError(message)

    # What the build stages store.

    def open_bundle(self, kind: str, key: str) -> Bundle | None:
        """The files (and note) a build step stored under ``key``, open (:class:`Bundle`), or None: bytecode and
        collectstatic output."""
        entry = self.open_entry(kind, key)
        if entry is None:
            return None
        label, opened = entry
        if label != _BUNDLE:
            opened.close()
            return None
        try:
            return Bundle(opened)
        except (zipfile.BadZipFile, UnicodeDecodeError):
            return None

    def store_bundle_file(self, kind: str, key: str, bundle: IO[bytes]) -> None:
        """Store a bundle made by :func:`write_bundle` under ``key``; best effort."""
        self.put_file(kind, key, _BUNDLE, bundle)

    def read_bundle(self, kind: str, key: str) -> tuple[dict[str, bytes], str] | None:
        """:meth:`open_bundle`, read whole (for small bundles and tests)."""
        bundle = self.open_bundle(kind, key)
        if bundle is None:
            return None
        with bundle:
            try:
                return bundle.read(), bundle.note
            except zipfile.BadZipFile:
                return None

    def store_bundle(self, kind: str, key: str, files: dict[str, bytes], note: str = "") -> None:
        """Store ``files`` (name → bytes) and ``note`` as a bundle under ``key``; best effort."""
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
            archive.comment = note.encode()
            for name in sorted(files):
                archive.writestr(zipfile.ZipInfo(name, date_time=_BUNDLE_TIME), files[name])
        self.put(kind, key, _BUNDLE, buffer.getvalue())

    def built_wheel(self, sdist_sha256: str) -> tuple[str, bytes] | None:
        """The wheel built from the sdist with this sha256 (its file name and bytes), if one was built before."""
        entry = self.get("built", sdist_sha256)
        return entry if entry is not None and entry[0].endswith(".whl") else None

    def store_built_wheel(self, sdist_sha256: str, filename: str, data: bytes) -> None:
        self.put("built", sdist_sha256, filename, data)

    def filename(self, sha256: str) -> str | None:
        """The file name an index gave for the file with this sha256 (so warm builds need no index)."""
        entry = self.get("names", sha256)
        if entry is None or entry[0] != _NAME:
            return None
        try:
            return entry[1].decode("utf-8").strip() or None
        except UnicodeDecodeError:
            return None

    def remember_filename(self, sha256: str, filename: str) -> None:
        if self.filename(sha256) != filename:
            self.put("names", sha256, _NAME, filename.encode())
