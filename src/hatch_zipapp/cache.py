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

The cache directory itself must be one that only the building user could have written, as pip checks its cache: a
bytecode bundle or a built wheel planted by another user would be sealed as well as a real one. A cache directory
owned by another user (root aside), writable by others, or writable by a group other than the user's own is an
error naming it and the fix, before anything is read from it.

A cache directory that cannot be written costs only time: every write is best effort. A write killed half-way leaves
a held temporary file (scratch.py), removed by the next write into that directory.

Nothing is read whole: a file is checked by hashing it a piece at a time through the descriptor it is then used
from (:meth:`Cache.open`, :meth:`Cache.open_entry`), and a bundle (the files of a bytecode run or of collectstatic)
is a stored zip read a member at a time (:meth:`Cache.open_bundle`), written from files on disk
(:func:`write_bundle`).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import re
import shutil
import stat
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, BinaryIO, cast

from hatch_zipapp.errors import CacheError, HashMismatchError, ZipappError
from hatch_zipapp.scratch import atomic_write, beside, discard, rename, sweep

__all__ = ["CACHE_ENV", "Bundle", "Cache", "file_sha256", "sha256_hex", "write_bundle"]

CACHE_ENV = "HATCH_ZIPAPP_CACHE_DIR"
_ENTRY = re.compile(r"(?P<seal>[0-9a-f]{64})-(?P<label>[^/]+)")
_BUNDLE = "bundle.zip"
_NAME = "name"
_CHUNK = 1024 * 1024
#: A bundle's members carry this timestamp (a bundle is never embedded, only its members' bytes are).
_BUNDLE_TIME = (1980, 1, 1, 0, 0, 0)


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


def _open_plain(path: Path) -> BinaryIO | None:
    """A plain file, open for reading; None for anything else (missing, a symlink, a FIFO, which is not waited on)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        f = os.fdopen(fd, "rb")
    except OSError:
        os.close(fd)
        return None
    try:
        if stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            return f
    except OSError:
        pass
    f.close()
    return None


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


def _check_owner(root: Path) -> None:
    """``root`` (or, while it does not exist, the directory it will be made in) could only have been written by the
    running user or root; else :class:`CacheError` (see the module's docstring)."""
    if os.name == "nt":  # pragma: no cover - no owners and modes to check
        return
    path = root
    while not os.path.lexists(path) and path.parent != path:
        path = path.parent
    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode):
        st = os.stat(path)
    mode = stat.S_IMODE(st.st_mode)
    why = None
    if st.st_uid not in {0, os.geteuid()}:
        why = f"it is owned by another user (uid {st.st_uid})"
    elif mode & 0o002 and (path == root or not mode & stat.S_ISVTX):  # a sticky /tmp only above the cache
        why = f"it is writable by others (mode {mode:04o})"
    elif mode & 0o020 and st.st_gid != os.getegid() and not mode & stat.S_ISVTX:
        why = f"it is writable by group {st.st_gid} (mode {mode:04o})"
    if why is not None:
        message = (
            f"Refusing to use the build cache {root}: {path} could have been written by another user ({why}), and "
            f"whatever the cache returns is embedded in the .pyz. Use a directory of your own "
            f"({CACHE_ENV}=DIR, or `chmod go-w {path}`)"
        )
        raise CacheError(message)


class Cache:
    """Downloads by sha256, and sealed entries by key (see the module's docstring)."""

    def __init__(self, root: Path, *, warn: Callable[[str], None] = _warn_on_stderr) -> None:
        self.root = root
        self.warn = warn

    @classmethod
    def default(cls, *, warn: Callable[[str], None] = _warn_on_stderr) -> Cache:
        """``$HATCH_ZIPAPP_CACHE_DIR``, else ``$XDG_CACHE_HOME/hatch-zipapp``, else ``~/.cache/hatch-zipapp``."""
        explicit = os.environ.get(CACHE_ENV)
        if explicit:
            root = Path(explicit).expanduser()
        else:
            base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
            root = Path(base, "hatch-zipapp")
        _check_owner(root)
        return cls(root, warn=warn)

    # Downloads: content-addressed.

    def _file(self, sha256: str) -> Path:
        return self.root / "files" / "sha256" / sha256[:2] / sha256

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
        path = self._file(sha256)
        opened = _open_plain(path)
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
        with contextlib.suppress(OSError):  # a read-only or full cache only costs a download next time
            atomic_write(self._file(sha256), data)

    # Sealed entries.

    def _directory(self, kind: str, key: str) -> Path:
        return self.root / kind / key[:2] / key

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
        directory = self._directory(kind, key)
        try:
            names = sorted(os.listdir(directory))
        except OSError:
            return None
        for name in names:
            match = _ENTRY.fullmatch(name)
            if match is None:
                continue  # a writer's temporary file, or an entry of an older hatch-zipapp: never read
            path = directory / name
            opened = _open_plain(path)
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
                f"Discarded a damaged {kind} cache entry {path} (its content does not match the digest it was "
                f"stored with): building it again"
            )
            with contextlib.suppress(OSError):
                path.unlink()
        return None

    def put(self, kind: str, key: str, label: str, data: bytes) -> None:
        """Store ``data`` (named ``label``) under ``key``, replacing what was there; best effort."""
        self._check_label(label)
        directory = self._directory(kind, key)
        name = f"{_seal(kind, key, label, data)}-{label}"
        with contextlib.suppress(OSError):
            atomic_write(directory / name, data)
            self._drop_others(directory, name)

    def put_file(self, kind: str, key: str, label: str, file: IO[bytes]) -> None:
        """:meth:`put` for the content of ``file`` (from its start), copied a piece at a time; best effort."""
        self._check_label(label)
        directory = self._directory(kind, key)
        with contextlib.suppress(OSError):
            sweep(directory, ".")  # what killed writers left here
            with beside(directory / label) as (out, temporary):
                file.seek(0)
                digest = _sealing(kind, key, label)
                while piece := file.read(_CHUNK):
                    digest.update(piece)
                    out.write(piece)
            name = f"{digest.hexdigest()}-{label}"
            try:
                rename(temporary, directory / name)
            except BaseException:
                discard(temporary)
                raise
            self._drop_others(directory, name)

    @staticmethod
    def _check_label(label: str) -> None:
        if "/" in label or not label:
            message = f"Cache entry label {label!r} must be a plain file name"
            raise ZipappError(message)

    @staticmethod
    def _drop_others(directory: Path, name: str) -> None:
        for other in os.listdir(directory):
            if other != name and _ENTRY.fullmatch(other):
                (directory / other).unlink(missing_ok=True)

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
