"""Installing wheels into the staging tree with pypa `installer`.

The staging tree is a mapping, path by path, under one root (``site-packages/`` and its ``bin/``): it is what the
archive stage writes, in sorted order. Its bytes are kept in a :class:`~hatch_zipapp.scratch.Spool` (the first MiB in
memory, the rest in one unnamed temporary file); each wheel is read from its file (the download cache's), a member
at a time, in pieces of at most :data:`CHUNK` bytes, so a large wheel or file is never held whole. No wheel can put a
file outside the root: absolute paths and ``..`` are refused before anything is staged, and none whose path a Linux
file system cannot hold once extracted (:data:`NAME_MAX`, :data:`PATH_MAX` less :data:`ROOT_ALLOWANCE`).
"""

from __future__ import annotations

import ast
import functools
import hashlib
import io
import os
import posixpath
import struct
import threading
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, BinaryIO

from installer import install
from installer.destinations import WheelDestination
from installer.exceptions import InvalidWheelSource
from installer.records import Hash, RecordEntry
from installer.scripts import Script
from installer.sources import WheelFile
from installer.utils import SCHEME_NAMES, Scheme, construct_record_file, fix_shebang

from hatch_zipapp.bootstrap.documents import SITE_PACKAGES
from hatch_zipapp.bootstrap.zipread import Refused, inflate
from hatch_zipapp.errors import EntryPointError, UnsafeWheelError, ZipappError
from hatch_zipapp.scratch import Kept, Spool

if TYPE_CHECKING:
    from installer.scripts import ScriptSection
    from packaging.utils import NormalizedName

    from hatch_zipapp.bootstrap.check import Requirement
    from hatch_zipapp.context import BuildContext

__all__ = [
    "CHUNK",
    "NAME_MAX",
    "PATH_MAX",
    "ROOT_ALLOWANCE",
    "SITE_PACKAGES",
    "RawMember",
    "Staged",
    "StagedFile",
    "StagingTree",
    "files_digest",
    "install_wheel",
    "stage_packages",
]

_SCHEMES: dict[str, str] = {
    "purelib": SITE_PACKAGES,
    "platlib": SITE_PACKAGES,
    "data": SITE_PACKAGES,
    "scripts": f"{SITE_PACKAGES}/bin",
    "headers": f"{SITE_PACKAGES}/include",
}
#: The largest piece of a file read at once (a larger file is streamed into the spool in pieces of this size).
CHUNK = 256 * 1024
#: The longest name (a path's component) and the longest path, in bytes, a Linux file system holds (NAME_MAX, and
#: PATH_MAX less its NUL).
NAME_MAX = 255
PATH_MAX = 4095
#: What a staged file's path (``site-packages/...``) leaves of :data:`PATH_MAX` for the directory it is extracted
#: below, ``ROOT/.NAME_BUILDID.tmp-PID/`` (docs/runtime.md): an extraction root of up to about 900 bytes.
ROOT_ALLOWANCE = 1024
#: What a module (``NAME.py``) leaves for its bytecode, ``__pycache__/NAME.cpython-3XY.pyc``, which Python writes
#: through a temporary ``NAME.cpython-3XY.pyc.ID`` (an id of up to 20 digits): 34 bytes of its name, 46 of its path.
PYC_ROOM = (len(".cpython-3XY.pyc.") + 20 - len(".py"), len("__pycache__/.cpython-3XY.pyc.") + 20 - len(".py"))


_seek_lock = threading.Lock()


def _read_at(file: IO[bytes], size: int, offset: int) -> bytes:
    """``size`` bytes of ``file`` at ``offset``, from any thread (``os.pread``; where there is none, Windows, a seek
    and a read under a lock)."""
    pread = getattr(os, "pread", None)
    if pread is not None:
        data: bytes = pread(file.fileno(), size, offset)
        return data
    with _seek_lock:  # pragma: no cover (Windows)
        file.seek(offset)
        return file.read(size)


class RawMember:
    """A member of a locked wheel as the wheel's file holds it: its compressed bytes (at ``offset`` in ``file``) and
    ``member``, its (method, CRC-32, compressed size, size), for the archive to copy instead of compressing again;
    ``name``, its name in the wheel."""

    __slots__ = ("file", "member", "name", "offset")

    def __init__(self, file: IO[bytes], offset: int, member: tuple[int, int, int, int], name: str = "") -> None:
        self.file, self.offset, self.member, self.name = file, offset, member, name

    def inflated(self) -> Iterator[bytes]:
        """The member's content, a piece at a time, read exactly as the runtime reads the copy in the .pyz
        (:func:`hatch_zipapp.bootstrap.zipread.inflate`: a deflate stream that ends early or late, a size or CRC-32
        that does not match, is :class:`~hatch_zipapp.bootstrap.zipread.Refused`)."""
        return inflate(self.chunks(), self.name, self.member)

    def chunks(self) -> Iterator[bytes]:
        """The compressed bytes, a piece at a time."""
        end = self.offset + self.member[2]
        for start in range(self.offset, end, CHUNK):
            piece = _read_at(self.file, min(CHUNK, end - start), start)
            if not piece:
                message = f"{self.file.name}: ends before its member at {self.offset} does"
                raise ZipappError(message)
            yield piece


class StagedFile:
    """A staged file: its bytes, whether it is executable, and the wheel (or build step) it comes from. Its bytes are
    kept in memory or in its tree's :class:`Spool`; or, when it is a locked wheel's member installed unchanged, they
    are that member (``raw``), read from the wheel again when asked for (by a cold bytecode or collectstatic run):
    never copied out."""

    __slots__ = ("_kept", "executable", "owner", "raw", "sha256", "size")

    def __init__(self, data: bytes, executable: bool, owner: str, *, spool: Spool | None = None) -> None:
        self.executable = executable
        self.owner = owner
        #: the digest of the bytes, computed once (the build id, the record, the bytecode and static caches use it)
        self.sha256 = hashlib.sha256(data).digest()
        self.size = len(data)
        self._kept: Kept | None = Kept(data, spool)
        self.raw: RawMember | None = None

    @classmethod
    def of_member(cls, raw: RawMember, executable: bool, owner: str) -> StagedFile:
        """A locked wheel's member, read through once from the wheel (its content: for the digest and size) exactly
        as the runtime will read its copy in the .pyz, then kept as ``raw``. One the runtime would refuse, or read
        otherwise than zipfile (a deflate stream longer than the member's declared size: zipfile stops there, the
        runtime refuses it), is refused here: the build fails rather than a .pyz that fails at every start."""
        digest, size = hashlib.sha256(), 0
        try:
            for piece in raw.inflated():
                digest.update(piece)
                size += len(piece)
        except Refused as e:
            message = (
                f"Wheel {owner} has a member {raw.name!r} that the .pyz's runtime would refuse ({e.why}): refusing "
                "to install it. Lock a release of that package whose wheel is intact, or rebuild the wheel"
            )
            raise UnsafeWheelError(message) from None
        staged = cls.__new__(cls)
        staged.executable, staged.owner, staged.raw, staged._kept = executable, owner, raw, None
        staged.sha256, staged.size = digest.digest(), size
        return staged

    @classmethod
    def read_from(cls, stream: IO[bytes], executable: bool, owner: str, *, spool: Spool | None = None) -> StagedFile:
        """The rest of ``stream``, staged: a file of up to :data:`CHUNK` bytes as :class:`StagedFile` does, a larger
        one appended to ``spool`` a piece at a time (never whole in memory), and digested on the way."""
        first = stream.read(CHUNK)
        if len(first) < CHUNK or spool is None:
            rest = b"" if len(first) < CHUNK else stream.read()
            return cls(first + rest if rest else first, executable, owner, spool=spool)
        staged = cls.__new__(cls)
        staged.executable, staged.owner, staged.raw = executable, owner, None
        digest, offset, size = hashlib.sha256(), spool.append(first), 0
        piece = first
        while piece:
            digest.update(piece)
            size += len(piece)
            piece = stream.read(CHUNK)
            if piece:
                spool.append(piece)
        staged.sha256, staged.size = digest.digest(), size
        staged._kept = Kept.spooled(spool, offset, size)
        return staged

    @property
    def data(self) -> bytes:
        return b"".join(self.chunks()) if self._kept is None else self._kept.data

    def chunks(self) -> Iterator[bytes]:
        if self._kept is not None:
            return self._kept.chunks()
        assert self.raw is not None
        return self.raw.inflated()

    def __repr__(self) -> str:
        return f"StagedFile(<{self.size} bytes>, {self.executable!r}, {self.owner!r})"


def files_digest(
    files: Mapping[str, StagedFile], paths: Iterable[str], *, salt: bytes = b"", modes: bool = False
) -> str:
    """The digest of staged files: ``salt``, then each of ``paths`` in that order, with its mode (``modes``), and its
    content's sha256. It names a tree (the build id) and keys what is made from one (bytecode, collectstatic)."""
    digest = hashlib.sha256(salt)
    for path in paths:
        staged = files[path]
        digest.update(path.encode() + b"\0" + ((b"x" if staged.executable else b"-") + b"\0" if modes else b""))
        digest.update(staged.sha256)
    return digest.hexdigest()


@dataclass
class StagingTree:
    """Files by their POSIX path below the staging root (their bytes past a threshold in ``spool``)."""

    files: dict[str, StagedFile] = field(default_factory=dict)
    spool: Spool | None = None

    def add(self, path: str, data: bytes, *, executable: bool, owner: str) -> StagedFile:
        return self.put(path, StagedFile(data, executable, owner, spool=self.spool))

    def add_stream(self, path: str, stream: IO[bytes], *, executable: bool, owner: str) -> StagedFile:
        """Stage the rest of ``stream`` (a piece at a time, see :meth:`StagedFile.read_from`)."""
        return self.put(path, StagedFile.read_from(stream, executable, owner, spool=self.spool))

    def put(self, path: str, staged: StagedFile) -> StagedFile:
        existing = self.files.get(path)
        if existing is not None and (existing.size != staged.size or existing.sha256 != staged.sha256):
            if existing.owner == staged.owner:  # (a wheel's two members: StagingDestination names them)
                message = f"{staged.owner} installs {path} twice, with different contents: only one can be embedded"
                raise ZipappError(message)
            message = (
                f"{existing.owner} and {staged.owner} both install {path} with different contents; "
                f"only one of them can be embedded: remove one from the lock"
            )
            raise ZipappError(message)
        self.files[path] = staged
        return staged

    def close(self) -> None:
        """Let go of the spool's temporary file: the staged files can no longer be read."""
        if self.spool is not None:
            self.spool.close()

    def check_paths(self) -> None:
        """No staged file is also a directory of another (``x`` and ``x/y.py``), nor has a name longer than
        :data:`NAME_MAX` bytes or a path longer than :data:`PATH_MAX` less :data:`ROOT_ALLOWANCE`: a zip holds them,
        but no file system does, so the .pyz could never be extracted. The error names the wheel of each."""
        for path in sorted(self.files):
            _check_length(path, self.files[path].owner)
            parent, _, _ = path.rpartition("/")
            while parent:
                blocking = self.files.get(parent)
                if blocking is not None:
                    owner = self.files[path].owner
                    if owner == blocking.owner:
                        who = f"{owner} installs both a file {parent} and {path} below it"
                        fix = "leave it out of the lock (or lock another version of it)"
                    else:
                        who = f"{blocking.owner} installs a file {parent}, and {owner} installs {path} below it"
                        fix = "remove one of them from the lock"
                    message = (
                        f"{who}: no file system holds a file and a directory of the same name, so the .pyz could "
                        f"never be extracted. To fix: {fix}"
                    )
                    raise ZipappError(message)
                parent = parent.rpartition("/")[0]

    def write_to(self, directory: Path, paths: Iterable[str] | None = None) -> None:
        """Write staged files (all of them, or ``paths``) below ``directory``, for a step that needs real files."""
        for path in self.files if paths is None else paths:
            target = directory.joinpath(*path.split("/"))
            target.parent.mkdir(parents=True, exist_ok=True)
            with target.open("wb") as f:
                f.writelines(self.files[path].chunks())

    def check_entry_point(self, entry_point: str) -> None:
        """The module exists in the staged packages and (for Python source) defines the function."""
        module, _, function = entry_point.partition(":")
        base = f"{SITE_PACKAGES}/{module.replace('.', '/')}"
        source = self.files.get(f"{base}.py") or self.files.get(f"{base}/__init__.py")
        if source is None:
            prefix = f"{SITE_PACKAGES}/{module.replace('.', '/')}."
            extension = any(path.startswith(prefix) and path.endswith((".so", ".pyd")) for path in self.files)
            if extension:
                return
            message = (
                f"Entry point {entry_point!r}: module {module!r} is not in the project or any locked package "
                f"(no {base.removeprefix(SITE_PACKAGES + '/')}.py). Check `entry-point` / `[project.scripts]`, "
                f"and that the wheel target packages the module"
            )
            raise EntryPointError(message)
        first = function.split(".", 1)[0]
        if not _defines(source.data, first):
            message = (
                f"Entry point {entry_point!r}: module {module!r} (from {source.owner}) defines no {first!r}. "
                f"Check `entry-point` / `[project.scripts]`"
            )
            raise EntryPointError(message)


def _shown(text: str, keep: int = 60) -> str:
    """``text`` for a message: a long one as its start and its end."""
    return text if len(text) <= 2 * keep + 3 else f"{text[:keep]}...{text[-keep:]}"


def _check_length(path: str, owner: str) -> None:
    """``path`` (a staged file's, ``site-packages/...``) is one a Linux file system holds, once extracted."""
    fix = "To fix: leave it out of the lock (or lock another version of it), or out of the build hook that adds it"
    module = path.endswith(".py")
    name_room, path_room = PYC_ROOM if module else (0, 0)
    why = f" (a module's name {name_room} less, for its bytecode's)" if module else ""
    parts = path.split("/")
    for index, part in enumerate(parts):
        size = len(part.encode("utf-8", "surrogateescape"))
        if size > NAME_MAX - (name_room if index == len(parts) - 1 else 0):
            message = (
                f"{owner} installs {_shown(path)!r}, whose name {_shown(part, 30)!r} is {size} bytes long: a Linux "
                f"file system holds names of at most {NAME_MAX} bytes{why}, so the .pyz could never be extracted. "
                f"{fix}"
            )
            raise ZipappError(message)
    size = len(path.encode("utf-8", "surrogateescape"))
    if size > PATH_MAX - ROOT_ALLOWANCE - path_room:
        why = f" and the {path_room} a module's bytecode adds" if module else ""
        message = (
            f"{owner} installs {_shown(path)!r}, a path of {size} bytes: with the {ROOT_ALLOWANCE} bytes kept for "
            f"the directory it is extracted below{why}, longer than the {PATH_MAX} bytes a Linux path holds, so the "
            f".pyz could never be extracted. {fix}"
        )
        raise ZipappError(message)


def _defines(source: bytes, name: str) -> bool:
    """Whether a module's top level binds ``name`` (or may, through ``*`` imports or a module ``__getattr__``)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return True  # not ours to judge here; importing it will tell
    return _binds(tree.body, name)


def _binds(statements: list[ast.stmt], name: str) -> bool:
    for node in statements:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            if node.name in {name, "__getattr__"}:
                return True
        elif isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(n, ast.Name) and n.id == name for target in targets for n in ast.walk(target)):
                return True
        elif isinstance(node, ast.Import | ast.ImportFrom):
            if any(alias.name == "*" or (alias.asname or alias.name.split(".")[0]) == name for alias in node.names):
                return True
        elif isinstance(
            node, ast.If | ast.Try | ast.With
        ):  # `if sys.platform ...: def main()`, `try: from x import main`
            blocks = [node.body, getattr(node, "orelse", []), getattr(node, "finalbody", [])]
            blocks += [handler.body for handler in getattr(node, "handlers", [])]
            if any(_binds(block, name) for block in blocks):
                return True
    return False


class StagingDestination(WheelDestination):
    """An installer destination that writes into a :class:`StagingTree`; with ``archive`` (a locked wheel, open on
    a file that stays open until the archive is written), each file installed unchanged keeps its compressed bytes
    there (:class:`RawMember`)."""

    def __init__(
        self, tree: StagingTree, *, interpreter: str, wheel: str, archive: zipfile.ZipFile | None = None
    ) -> None:
        self.tree = tree
        self.interpreter = interpreter
        self.wheel = wheel
        self.archive = archive
        self._members: dict[str, str] = {}  # staged path → the member of this wheel it came from
        #: Names the wheel's zip lists more than once: by name, only the last of them can be found (its compressed
        #: bytes are not copied; each is read from its own stream, so that two contents are seen as two).
        names = archive.namelist() if archive is not None else []
        self._twice = {name for name in names if names.count(name) > 1} if len(set(names)) != len(names) else set()

    def _target(self, scheme: Scheme, path: str) -> str:
        raw = str(path)
        parts = raw.replace("\\", "/").split("/")
        if raw.startswith(("/", "\\")) or (len(raw) > 1 and raw[1] == ":") or ".." in parts:
            message = f"Wheel {self.wheel} tries to write {raw!r} outside the staging root; refusing to install it"
            raise UnsafeWheelError(message)
        root = _SCHEMES[scheme]
        target = posixpath.normpath(posixpath.join(root, *parts))
        if not (target == root or target.startswith(root + "/")):
            message = f"Wheel {self.wheel} tries to write {raw!r} outside the staging root; refusing to install it"
            raise UnsafeWheelError(message)
        return target

    def _write(
        self, scheme: Scheme, path: str, stream: IO[bytes], executable: bool, member: str | None = None
    ) -> RecordEntry:
        target = self._target(scheme, path)
        staged = StagedFile.read_from(stream, executable, self.wheel, spool=self.tree.spool)
        self._put(target, staged, member or path)
        return RecordEntry(path, Hash("sha256", _record_hash(staged.sha256)), staged.size)

    def _put(self, target: str, staged: StagedFile, member: str) -> None:
        """Stage ``target``, from the wheel's ``member``: a second member of this wheel there, with other contents,
        is refused naming both."""
        existing, first = self.tree.files.get(target), self._members.get(target)
        if existing is not None and first is not None and existing.sha256 != staged.sha256:
            twice = f"holds {first} twice" if first == member else f"has both {first} and {member}"
            message = (
                f"Wheel {self.wheel} {twice}, with different contents, both installed as {target}: the wheel is "
                f"broken. Lock another version of it"
            )
            raise ZipappError(message)
        self._members.setdefault(target, member)
        self.tree.put(target, staged)

    def write_file(
        self, scheme: Scheme, path: str | os.PathLike[str], stream: BinaryIO, is_executable: bool
    ) -> RecordEntry:
        path = os.fspath(path)
        member = _member_name(stream, path)
        if scheme == "scripts":  # as pip does: every script is executable, `#!python` becomes the shebang
            with fix_shebang(stream, self.interpreter) as fixed:
                return self._write(scheme, path, fixed, True, member)
        raw = self._raw(stream)
        if raw is None:
            return self._write(scheme, path, stream, is_executable, member)
        staged = StagedFile.of_member(raw, is_executable, self.wheel)
        self._put(self._target(scheme, path), staged, member)
        return RecordEntry(path, Hash("sha256", _record_hash(staged.sha256)), staged.size)

    def _raw(self, stream: BinaryIO) -> RawMember | None:
        """Where the compressed bytes of ``stream`` (a member of :attr:`archive` being installed unchanged) are, when
        they can be copied as they are: deflated or stored, not encrypted, under 4 GiB."""
        if self.archive is None or not isinstance(stream, zipfile.ZipExtFile):
            return None
        if stream.name in self._twice:
            return None
        info = self.archive.NameToInfo.get(stream.name)
        file = self.archive.fp
        if info is None or file is None or info.flag_bits & 0x1 or max(info.compress_size, info.file_size) >> 32:
            return None
        if info.compress_type not in {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED}:
            return None
        header = _read_at(file, 30, info.header_offset)
        if len(header) != 30 or header[:4] != b"PK\x03\x04":
            return None
        name_length, extra_length = struct.unpack("<HH", header[26:30])
        offset = info.header_offset + 30 + name_length + extra_length
        return RawMember(
            file, offset, (info.compress_type, info.CRC, info.compress_size, info.file_size), info.filename
        )

    def write_script(self, name: str, module: str, attr: str, section: ScriptSection) -> RecordEntry:
        script_name, data = Script(name, module, attr, section).generate(self.interpreter, "posix")
        return self._write(Scheme("scripts"), script_name, io.BytesIO(data), True)

    def finalize_installation(
        self, scheme: Scheme, record_file_path: str, records: Iterable[tuple[Scheme, RecordEntry]]
    ) -> None:
        root = _SCHEMES[scheme]

        def prefix_for_scheme(file_scheme: str) -> str | None:
            other = _SCHEMES[file_scheme]
            return None if other == root else posixpath.relpath(other, root) + "/"

        with construct_record_file(list(records), prefix_for_scheme) as record_stream:
            self._write(scheme, record_file_path, record_stream, False)


def _member_name(stream: IO[bytes], path: str) -> str:
    """The wheel's member ``stream`` reads (a ZipExtFile's name), else ``path``: for messages."""
    name = getattr(stream, "name", None)
    return name if isinstance(name, str) else path


def _record_hash(digest: bytes) -> str:
    import base64

    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def install_wheel(
    tree: StagingTree, filename: str, wheel: bytes | IO[bytes], *, interpreter: str, locked: bool = False
) -> None:
    """Install one wheel (already verified: its bytes, or its open file, read a member at a time) into ``tree``.
    ``locked``: the wheel is the open file of a locked wheel (its bytes pinned by the lock's sha256, open until the
    archive is written), whose unchanged members keep their compressed bytes; a wheel built here never does."""
    with zipfile.ZipFile(io.BytesIO(wheel) if isinstance(wheel, bytes) else wheel) as archive:
        archive.filename = filename
        for info in archive.infolist():
            name = info.filename
            parts = name.split("/")
            if name.startswith("/") or ".." in parts or "\\" in name:
                message = (
                    f"Wheel {filename} has a member {name!r} that escapes the staging root; refusing to install it"
                )
                raise UnsafeWheelError(message)
            if not name.isascii() and not info.flag_bits & 0x800:  # (Info-ZIP's zip writes UTF-8 names so)
                raw = name.encode("cp437").decode("utf-8", "replace")
                message = (
                    f"Wheel {filename} has a member {raw!r} whose name is not ASCII and not flagged UTF-8 (zipfile "
                    f"reads it as {name!r}, unzip as its bytes): refusing to install it. Rebuild the wheel with a "
                    f"writer that flags UTF-8 names, or lock another version of it"
                )
                raise UnsafeWheelError(message)
        source = WheelFile(archive)
        _check_data_schemes(filename, source.data_dir, archive.namelist())
        reused = archive if locked and not isinstance(wheel, bytes) else None
        destination = StagingDestination(tree, interpreter=interpreter, wheel=filename, archive=reused)
        try:
            install(source, destination, additional_metadata={})
        except (UnsafeWheelError, ZipappError):
            raise
        except InvalidWheelSource as e:  # (its source, a message): the source's repr says nothing
            message = f"Wheel {filename} cannot be installed: {e.args[-1]}"
            raise ZipappError(message) from e
        except Exception as e:
            message = f"Wheel {filename} cannot be installed: {e}"
            raise ZipappError(message) from e


def _check_data_schemes(filename: str, data_dir: str, names: Iterable[str]) -> None:
    """Every member of the wheel's ``.data`` directory is in one of the schemes an installer knows. A directory entry
    (a name ending in "/", as `zip -r` writes) is no member: installer skips it, and so does this."""
    for name in names:
        if name.endswith("/"):
            continue
        scheme, separator, rest = name.removeprefix(data_dir + "/").partition("/")
        if not name.startswith(data_dir + "/") or (scheme in SCHEME_NAMES and separator and rest):
            continue
        where = f"in {data_dir}/{scheme}/, a scheme" if separator else f"directly in {data_dir}/, in no scheme"
        schemes = ", ".join(sorted(SCHEME_NAMES))
        message = (
            f"Wheel {filename} has {name!r} {where} no installer knows (the schemes are {schemes}): the wheel is "
            f"broken. Lock another version of it"
        )
        raise ZipappError(message)


@dataclass
class Staged:
    """A target's staged packages: the tree, the wheels installed into it (file names, the project's last), what was
    embedded (for the build information), and what the .pyz needs of the interpreter that runs it. Close it (its
    tree's spool) when done."""

    tree: StagingTree
    wheels: list[str]
    embedded: list[dict[str, Any]]
    requirement: Requirement

    def close(self) -> None:
        self.tree.close()


def stage_packages(context: BuildContext) -> Staged:
    """The install stage: the target's locked packages (fetched), the project's wheel and the build hooks' files,
    installed into a new staging tree."""
    from packaging.utils import canonicalize_name

    from hatch_zipapp.embed import interpreter_wheel_name
    from hatch_zipapp.fetch import fetch_wheels
    from hatch_zipapp.lock import Wanted, check_not_stale

    project, target, lock = context.project, context.target, context.lock
    project_name = canonicalize_name(project.name)
    pins = lock.select(target, project_name)
    check_not_stale(Wanted(project.dependencies, project.name), pins, target, lock)
    hooks = Wanted(
        context.hook_dependencies,
        project.name,
        whose="build_data['dependencies'] of a build hook",
        fix="A lock made from `[project] dependencies` alone lacks what a hook adds: lock both together",
    )
    check_not_stale(hooks, pins, target, lock)
    tree = StagingTree(spool=Spool())
    chosen: list[str] = []
    requirements: list[Requirement] = []

    # An embedded interpreter is needed like an extension module's wheel: the .pyz is named and checked by it too.
    interpreter = [] if context.config.embedded.get(target.name) is None else [interpreter_wheel_name(target)]

    def installer_for(wheels: list[str]) -> Callable[[str, bytes | IO[bytes]], None]:
        chosen.extend([*wheels, context.wheel.name])
        requirements.append(target.requirement([*chosen, *interpreter]))
        # The default shebang names the Python the .pyz needs (target.py); the scripts in bin/ get the same.
        shebang = context.config.shebang or target.shebang(requirements[0])
        return functools.partial(install_wheel, tree, interpreter=shebang, locked=True)

    try:
        embedded = fetch_wheels(context, pins, installer_for)
        (requirement,) = requirements  # fetch_wheels asked for the installer once
        shebang = context.config.shebang or target.shebang(requirement)
        with context.wheel.open("rb") as wheel:
            install_wheel(tree, context.wheel.name, wheel, interpreter=shebang)
            record_sha256 = _record_sha256(wheel)
        # Not the wheel's own sha256: its compressed bytes are this machine's zlib's; its RECORD (every file's
        # sha256) is the same on every machine.
        record = {"name": str(project_name), "version": project.version, "file": context.wheel.name}
        embedded.append({**record, "record_sha256": record_sha256})
        tree.files.update(context.hook_files)  # as in hatchling's wheel: a forced file wins over one already there
        tree.check_paths()
        requirement["requires_python"] = _requires_python(tree, project.requires_python, project_name)
    except BaseException:
        tree.close()
        raise
    return Staged(tree, chosen, embedded, requirement)


def _record_sha256(wheel: IO[bytes]) -> str:
    """The sha256 of a wheel's ``*.dist-info/RECORD``: its files' names and digests, whatever compressed them."""
    with zipfile.ZipFile(wheel) as archive:
        names = [name for name in archive.namelist() if name.count("/") == 1 and name.endswith(".dist-info/RECORD")]
        return hashlib.sha256(archive.read(names[0]) if names else b"").hexdigest()


def _requires_python(tree: StagingTree, project: str, project_name: NormalizedName) -> list[list[str]]:
    """[specifier set, whose] for the project's ``requires-python`` and each embedded distribution's
    ``Requires-Python``, for the .pyz to check at start (``hatch_zipapp/bootstrap/check.py``)."""
    from email.parser import BytesHeaderParser

    from packaging.specifiers import InvalidSpecifier, SpecifierSet
    from packaging.utils import canonicalize_name

    found = [[project, "the project's requires-python"]] if project.strip() else []
    for path in sorted(tree.files):
        if not path.endswith(".dist-info/METADATA") or path.count("/") != 2:
            continue
        headers = BytesHeaderParser().parsebytes(tree.files[path].data)
        specifiers = headers.get("Requires-Python", "").strip()
        name = canonicalize_name(headers.get("Name", ""))
        if not specifiers or name == project_name:
            continue
        try:
            SpecifierSet(specifiers)
        except InvalidSpecifier:
            continue  # pip would refuse it too; nothing the server can check
        found.append([specifiers, f"Requires-Python of {name} {headers.get('Version', '')}".strip()])
    return found
