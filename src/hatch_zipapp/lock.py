"""Reading the locked dependency set: PEP 751 `pylock.toml` and pip-compile `--generate-hashes` requirements.

A lock gives, for one :class:`~hatch_zipapp.target.Target`, the list of :class:`Pin` to embed: one exact
version per package with the sha256 of every file it may come from. Nothing outside the lock is ever added.
"""

from __future__ import annotations

import codecs
import functools
import os
import shutil
import stat
import subprocess
import tomllib
from collections.abc import Iterable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Protocol, cast

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version

from hatch_zipapp.errors import LockError, NoMatchingFileError, StaleLockError
from hatch_zipapp.target import Target

if TYPE_CHECKING:
    from packaging.markers import Environment

__all__ = [
    "Lock",
    "LockedFile",
    "Pin",
    "PylockFile",
    "RequirementsFile",
    "Wanted",
    "check_not_stale",
    "find_uv",
    "load_lock",
    "open_regular",
    "python_floor",
    "requires_python",
]


@dataclass(frozen=True)
class LockedFile:
    """One file a lock names: its name, its sha256 and where it may be fetched from."""

    filename: str
    sha256: str
    url: str | None = None
    path: Path | None = None
    #: its size in bytes, when the lock records one (pylock.toml's `size`): no more than this is ever read of it
    size: int | None = None


@dataclass(frozen=True)
class Pin:
    """One locked package selected for a target."""

    name: NormalizedName
    version: Version
    origin: str
    hashes: frozenset[str]
    #: The file the lock itself selects (pylock, direct URLs); empty when it must be found on an index.
    files: tuple[LockedFile, ...] = field(default=())
    #: Every wheel the lock lists for this package, for any platform (pylock: the `wheels` of each of its entries, any
    #: version); empty when the lock lists only hashes (a requirements file: the fetcher finds the files of this
    #: version's). For the pure-Python check.
    wheels: tuple[str, ...] = field(default=())


class Lock(Protocol):
    """What the builder needs of a lock file, whatever its format."""

    path: Path
    refresh_command: str
    index_urls: list[str]
    wheel_dirs: list[Path]

    def select(self, target: Target, project_name: NormalizedName) -> list[Pin]: ...

    def names(self) -> frozenset[NormalizedName]:
        """Every package the lock names, for any target."""
        ...


def load_lock(path: Path, workdir: Path) -> Lock:
    """Read a lock file, choosing the format from its name; a `uv.lock` is exported to pylock.toml in ``workdir``."""
    if path.name == "pylock.toml" or (path.name.startswith("pylock.") and path.suffix == ".toml"):
        return PylockFile(path)
    if path.name == "uv.lock":
        return _from_uv_lock(path, workdir)
    return RequirementsFile(path)


def find_uv() -> str | None:
    """uv from the `uv` package (hatch-zipapp[uv]) or from PATH."""
    try:
        from uv import find_uv_bin

        return str(find_uv_bin())
    except (ImportError, FileNotFoundError):
        return shutil.which("uv")


def python_floor(specifier: str) -> str | None:
    """The lowest Python 3 version ``specifier`` (a `requires-python`) allows, as uv's `--python-version` takes it:
    `3.12` for `>=3.12`, `3.11.2` for `>=3.11.2`; None when it allows no Python 3.0-3.99. ValueError
    (packaging's InvalidSpecifier) when it is not a version specifier.
    """
    from packaging.specifiers import SpecifierSet

    allowed = SpecifierSet(specifier)
    for minor in range(100):
        for patch in range(100):
            version = f"3.{minor}" if patch == 0 else f"3.{minor}.{patch}"
            if allowed.contains(version):
                return version
    return None


def requires_python(pyproject: Path) -> str | None:
    """`[project] requires-python` of ``pyproject`` (a pyproject.toml), or None when it has none or cannot be read."""
    try:
        with pyproject.open("rb") as f:
            value = tomllib.load(f).get("project", {}).get("requires-python")
    except (OSError, tomllib.TOMLDecodeError, AttributeError):
        return None
    return value if isinstance(value, str) else None


def _project_root(lock: Path) -> Path | None:
    """The nearest directory holding ``lock`` with a pyproject.toml: the project the lock belongs to."""
    return next((d for d in lock.resolve().parents if (d / "pyproject.toml").is_file()), None)


def _in_project(path: Path) -> tuple[str, Path | None]:
    """``path`` as a command run in its project's directory names it, and that directory (None if not found)."""
    root = _project_root(path)
    if root is None:
        return str(path.resolve()), None
    return path.resolve().relative_to(root).as_posix(), root


def _refresh_pylock(path: Path) -> str:
    """The commands that remake the pylock.toml at ``path``, as they work in the project's directory: hatch-zipapp's,
    and uv's with the project's `requires-python` floor (without it, uv's floor is the Python running uv)."""
    output, root = _in_project(path)
    specifier = requires_python(root / "pyproject.toml") if root else None
    try:
        floor = python_floor(specifier) if specifier else None
    except ValueError:  # not a specifier: hatchling reports it
        floor = None
    uv = f"uv pip compile --universal --generate-hashes -o {output}"
    if floor:
        uv += f" --python-version {floor}"
    return f"`hatch-zipapp lock -o {output}` (or `{uv} pyproject.toml`)"


#: The largest lock file read: a pylock.toml of a thousand packages, every wheel of each, is a few MiB. A larger one
#: is refused before it is read (tomllib holds about ten times a file's size while it parses it).
LOCK_LIMIT = 64 * 1024 * 1024

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def open_regular(path: Path) -> BinaryIO:
    """``path`` open for reading, when it is a regular file, checked on the open descriptor (no race with a rename).
    A symlink is followed: the paths a lock, a `wheel-dirs` directory or the configuration name are their author's,
    who may link to a file. Anything else is refused unread, as an :class:`OSError` whose ``strerror`` says what it is
    (``a FIFO, not a regular file``): a FIFO (opened without waiting for a writer), a device such as /dev/zero, a
    directory, a socket."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as e:  # a socket cannot be opened (ENXIO): say what it is
        try:
            mode = os.stat(path).st_mode
        except OSError:
            raise e from None
        if stat.S_ISREG(mode):
            raise
        raise _not_regular(mode) from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise _not_regular(mode)
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _not_regular(mode: int) -> OSError:
    kind = next((name for test, name in _KINDS if test(mode)), "not a file")
    return OSError(0, f"{kind}, not a regular file")


_BYTE_ORDER_MARKS = (  # UTF-32 first: its little-endian mark starts with UTF-16's
    (codecs.BOM_UTF32_LE, "UTF-32"),
    (codecs.BOM_UTF32_BE, "UTF-32"),
    (codecs.BOM_UTF16_LE, "UTF-16"),
    (codecs.BOM_UTF16_BE, "UTF-16"),
)


def _read_text(path: Path, refresh_command: str) -> str:
    """The text of a lock file, which must be UTF-8 (a UTF-8 byte-order mark is allowed, as pip allows it): a regular
    file of at most :data:`LOCK_LIMIT` bytes, read through no further."""
    try:
        with open_regular(path) as f:
            data = f.read(LOCK_LIMIT + 1)
    except OSError as e:
        message = f"Lock file {path} cannot be read: {e.strerror or e}"
        raise LockError(message) from None
    if len(data) > LOCK_LIMIT:
        message = (
            f"Lock file {path} is larger than {LOCK_LIMIT // (1024 * 1024)} MiB, more than any lock holds: it was "
            f"not read. Point the `lock` option at the project's lock, or write it again with {refresh_command}"
        )
        raise LockError(message)
    problem = next((f"it is {encoding}" for mark, encoding in _BYTE_ORDER_MARKS if data.startswith(mark)), None)
    if problem is None and b"\0" in data:
        line = data[: data.index(b"\0")].count(b"\n") + 1
        problem = f"it has NUL bytes from line {line} on (UTF-16 without a byte-order mark?)"
    if problem is None:
        try:
            return data.decode("utf-8-sig")
        except UnicodeDecodeError as e:
            line = data[: e.start].count(b"\n") + 1
            problem = f"byte {data[e.start]:#04x} on line {line} is not UTF-8"
    message = (
        f"Lock file {path} is not UTF-8 text: {problem}. Save it as UTF-8, or write it again with "
        f"{refresh_command} (a shell redirection such as PowerShell's `>` writes UTF-16: use `-o FILE`)"
    )
    raise LockError(message)


def _from_uv_lock(path: Path, workdir: Path) -> Lock:
    uv = find_uv()
    if uv is None:
        message = (
            f"Lock file {path} is a uv.lock, which is read by exporting it with uv: install it with "
            f"`pip install 'hatch-zipapp[uv]'` in the build environment ([build-system] requires), or put uv on PATH"
        )
        raise LockError(message)
    exported = workdir / "pylock.toml"
    command = [uv, "export", "--format", "pylock.toml", "--frozen", "--no-emit-project", "--quiet", "-o", str(exported)]
    result = subprocess.run(command, cwd=path.parent, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        message = f"Lock file {path} could not be exported by `{' '.join(command[1:])}`: {result.stderr.strip()}"
        raise LockError(message)
    lock = PylockFile(exported)
    lock.path = path
    lock.refresh_command = "`uv lock`"
    return lock


@dataclass(frozen=True)
class Wanted:
    """Requirements the lock must satisfy: whose they are (``whose`` of ``project``, for the message), and the fix a
    stale lock's message ends with (by default the command that refreshes the lock)."""

    requirements: Iterable[str]
    project: str
    whose: str = "`[project] dependencies`"
    fix: str = ""


def check_not_stale(wanted: Wanted, pins: Sequence[Pin], target: Target, lock: Lock) -> None:
    """Every one of ``wanted`` that applies to the target is satisfied by a pin."""
    pinned = {pin.name: pin for pin in pins}
    environment = {**target.environment, "extra": ""}
    for text in wanted.requirements:
        requirement = Requirement(text)
        if requirement.marker is not None and not requirement.marker.evaluate(environment):
            continue
        name = canonicalize_name(requirement.name)
        pin = pinned.get(name)
        if pin is None:
            problem = f"the lock has no {name!r} for {target.describe()}"
        elif requirement.specifier and not requirement.specifier.contains(pin.version, prereleases=True):
            problem = f"the lock pins {name} {pin.version} ({pin.origin})"
        else:
            continue
        message = (
            f"Lock file {lock.path.name} is stale: {wanted.whose} of {wanted.project} asks for "
            f"{text!r} but {problem}. {wanted.fix or f'Refresh the lock: {lock.refresh_command}'}"
        )
        raise StaleLockError(message)


def _sha256_of(hashes: object, where: str, path: Path, fix: str) -> str:
    if isinstance(hashes, dict):
        value = hashes.get("sha256")
        if isinstance(value, str) and len(value) == 64:
            return value.lower()
    message = f"Lock file {path.name}: {where} has no sha256 hash; every locked file needs one. {fix}"
    raise LockError(message)


class PylockFile:
    """A PEP 751 lock, selected per target through :meth:`packaging.pylock.Pylock.select`."""

    def __init__(self, path: Path) -> None:
        from packaging.pylock import Pylock, PylockValidationError

        self.path = path
        self.refresh_command = _refresh_pylock(path)
        self.index_urls: list[str] = []
        self.wheel_dirs: list[Path] = []
        text = _read_text(path, self.refresh_command)
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            message = f"Lock file {path} cannot be read: {e}"
            raise LockError(message) from e
        except RecursionError:  # arrays or inline tables nested a thousand deep: no lock is
            message = (
                f"Lock file {path} cannot be read: its arrays or tables are nested deeper than Python's TOML reader "
                f"goes (no lock nests more than a few levels). Write it again with {self.refresh_command}"
            )
            raise LockError(message) from None
        try:
            self._lock = Pylock.from_dict(data)
        except PylockValidationError as e:
            text = str(e)
            fix = f"Regenerate it with hashes: {self.refresh_command}" if "hashes" in text else ""
            message = f"Lock file {path} is not a valid PEP 751 lock: {text}. {fix}".rstrip(". ") + "."
            raise LockError(message) from e

    def select(self, target: Target, project_name: NormalizedName) -> list[Pin]:
        from packaging.pylock import (
            PackageArchive,
            PackageDirectory,
            PackageSdist,
            PackageVcs,
            PackageWheel,
            PylockSelectError,
        )

        try:
            environment = cast("Environment", dict(target.environment))
            selected = list(self._lock.select(environment=environment, tags=list(target.tags)))
        except PylockSelectError as e:
            self._explain_no_match(target)
            message = f"Lock file {self.path.name} cannot be used for {target.describe()}: {e}"
            raise LockError(message) from e

        fix = f"Regenerate it with hashes: {self.refresh_command}"
        pins = []
        for package, dist in selected:
            index = self._lock.packages.index(package)
            origin = f"{self.path.name} packages[{index}]"
            if package.name == project_name:
                continue  # the project itself is built from source, not taken from the lock
            if isinstance(dist, PackageVcs | PackageDirectory):
                kind = "a VCS checkout" if isinstance(dist, PackageVcs) else "a local directory"
                message = (
                    f"Package {package.name!r} at {origin} is locked as {kind}, which has no hash to verify: "
                    f"lock a released version, or build a wheel of it and lock that file"
                )
                raise LockError(message)
            if package.version is None:
                message = f"Package {package.name!r} at {origin} has no version; {fix}"
                raise LockError(message)
            if isinstance(dist, PackageArchive):
                filename = Path(dist.path or dist.url or "").name
            elif isinstance(dist, PackageSdist):
                filename = dist.filename  # built into a wheel by the sdist stage, if it fits the target
            else:
                assert isinstance(dist, PackageWheel)
                filename = dist.filename
            sha256 = _sha256_of(dist.hashes, f"{origin} ({filename})", self.path, fix)
            local = Path(self.path.parent, dist.path) if dist.path else None
            if dist.size is not None and dist.size < 0:  # (packaging checks that it is an integer)
                message = f"Lock file {self.path.name}: {origin} ({filename}) has size {dist.size}, less than 0; {fix}"
                raise LockError(message)
            locked = LockedFile(filename=filename, sha256=sha256, url=dist.url, path=local, size=dist.size)
            wheels = self._wheels.get(canonicalize_name(package.name), ())
            pins.append(Pin(package.name, package.version, origin, frozenset({sha256}), (locked,), wheels))
        return pins

    def names(self) -> frozenset[NormalizedName]:
        return frozenset(self._wheels)

    @functools.cached_property
    def _wheels(self) -> dict[NormalizedName, tuple[str, ...]]:
        """Each package's name → the names of the wheels of every entry of it, whatever its version or marker."""
        wheels: dict[NormalizedName, tuple[str, ...]] = {}
        for package in self._lock.packages:
            name = canonicalize_name(package.name)
            wheels[name] = wheels.get(name, ()) + tuple(wheel.filename for wheel in package.wheels or ())
        return wheels

    def _explain_no_match(self, target: Target) -> None:
        """Turn packaging's 'No wheel found' into an error naming the package, the target and the files offered."""
        environment: dict[str, str | AbstractSet[str]] = {
            **target.environment,
            "extras": frozenset(),
            "dependency_groups": frozenset(self._lock.default_groups or ()),
        }
        for index, package in enumerate(self._lock.packages):
            if package.marker is not None and not package.marker.evaluate(environment, context="lock_file"):
                continue
            if not package.wheels or package.sdist is not None:
                continue
            if any(target.rank(wheel.filename) is not None for wheel in package.wheels):
                continue
            offered = ", ".join(wheel.filename for wheel in package.wheels)
            tried = ", ".join(str(tag) for tag in target.tags[:3])
            message = (
                f"Package {package.name} {package.version} (at {self.path.name} packages[{index}]) has no file "
                f"that fits {target.describe()}. Best tags tried: {tried}, ... ({len(target.tags)} in all). "
                f"The lock offers: {offered}. Lock a version with a wheel for this platform, or build on a "
                f"machine of the platform the lock was made for"
            )
            raise NoMatchingFileError(message)


class RequirementsFile:
    """A pip-compile `--generate-hashes` output: `name==version` lines with markers and `--hash` options."""

    def __init__(self, path: Path) -> None:
        self.path = path
        output, _ = _in_project(path)
        self.refresh_command = (
            f"`hatch-zipapp lock --format requirements -o {output}` (or `pip-compile --generate-hashes "
            f"--output-file={output} pyproject.toml`)"
        )
        self.index_urls: list[str] = []
        self.wheel_dirs: list[Path] = []
        self._entries: list[tuple[int, Requirement, frozenset[str]]] = []
        text = _read_text(path, self.refresh_command)
        for number, line in _logical_lines(text):
            self._parse_line(number, line)

    def _where(self, number: int) -> str:
        return f"{self.path.name} line {number}"

    def _parse_line(self, number: int, line: str) -> None:
        words = line.split()
        if words[0].startswith("-"):
            self._parse_option(number, words)
            return
        # The requirement (markers keep their quotes) runs up to the first option, as pip reads it.
        first_option = next((i for i, word in enumerate(words) if word.startswith("-")), len(words))
        text = " ".join(words[:first_option])
        hashes: set[str] = set()
        options = iter(words[first_option:])
        for word in options:
            if word.startswith("--hash"):
                value = word.partition("=")[2] if "=" in word else next(options, "")
                algorithm, _, digest = value.partition(":")
                if algorithm == "sha256" and len(digest) == 64:
                    hashes.add(digest.lower())
        try:
            requirement = Requirement(text)
        except InvalidRequirement as e:
            message = f"Lock file {self._where(number)}: {text!r} is not a valid requirement: {e}"
            raise LockError(message) from e
        fix = f"Regenerate it with {self.refresh_command}"
        if requirement.url is None:
            specifiers = list(requirement.specifier)
            if len(specifiers) != 1 or specifiers[0].operator not in {"==", "==="} or "*" in specifiers[0].version:
                message = (
                    f"Lock file {self._where(number)}: {text!r} is not pinned to one version "
                    f"(a lock pins `name==version`). {fix}"
                )
                raise LockError(message)
        if not hashes:
            message = (
                f"Lock file {self._where(number)}: {requirement.name} has no `--hash=sha256:...`; "
                f"every locked package needs the hashes of its files. {fix}"
            )
            raise LockError(message)
        self._entries.append((number, requirement, frozenset(hashes)))

    def _parse_option(self, number: int, words: list[str]) -> None:
        option, _, value = words[0].partition("=")
        if not value and len(words) > 1:
            value = words[1]
        if option in {"-i", "--index-url"}:
            self.index_urls.insert(0, value)
        elif option == "--extra-index-url":
            self.index_urls.append(value)
        elif option in {"-f", "--find-links"}:
            if "://" not in value or value.startswith("file://"):
                self.wheel_dirs.append(Path(self.path.parent, value.removeprefix("file://")))
        elif option in {"-e", "--editable"}:
            return  # `-e .`: the project itself, which is built from source
        elif option in {"-r", "--requirement", "-c", "--constraint"}:
            message = (
                f"Lock file {self._where(number)}: {' '.join(words)!r} includes another file; "
                f"give hatch-zipapp one complete, compiled lock"
            )
            raise LockError(message)
        # Other options (--trusted-host, --no-binary, --pre, ...) do not change which files are locked.

    def select(self, target: Target, project_name: NormalizedName) -> list[Pin]:
        environment = {**target.environment, "extra": ""}
        pins: dict[NormalizedName, Pin] = {}
        for number, requirement, hashes in self._entries:
            if requirement.marker is not None and not requirement.marker.evaluate(environment):
                continue
            name = canonicalize_name(requirement.name)
            if name == project_name:
                continue
            if name in pins:
                message = (
                    f"Lock file {self._where(number)} pins {name} again (also at {pins[name].origin}) "
                    f"for {target.describe()}; a lock pins each package once"
                )
                raise LockError(message)
            files: tuple[LockedFile, ...] = ()
            if requirement.url is not None:
                filename = requirement.url.rsplit("/", 1)[-1].split("#", 1)[0]
                version = _version_from_filename(filename, self._where(number))
                files = tuple(LockedFile(filename, sha, url=requirement.url) for sha in sorted(hashes))
            else:
                version = Version(next(iter(requirement.specifier)).version)
            pins[name] = Pin(name, version, self._where(number), hashes, files)
        return list(pins.values())

    def names(self) -> frozenset[NormalizedName]:
        return frozenset(canonicalize_name(requirement.name) for _, requirement, _ in self._entries)


def _version_from_filename(filename: str, where: str) -> Version:
    from packaging.utils import InvalidWheelFilename, parse_wheel_filename

    try:
        return parse_wheel_filename(filename)[1]
    except (InvalidWheelFilename, InvalidVersion) as e:
        message = f"Lock file {where}: direct URL {filename!r} is not a wheel; lock a wheel file"
        raise LockError(message) from e


def _logical_lines(text: str) -> Iterable[tuple[int, str]]:
    """Lines with `\\` continuations joined and comments removed, each with its first physical line number."""
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw
        if line.lstrip().startswith("#"):
            line = ""
        elif " #" in line:
            line = line.split(" #", 1)[0]
        if not pending:
            start = number
        if line.rstrip().endswith("\\"):
            pending.append(line.rstrip()[:-1])
            continue
        pending.append(line)
        joined = " ".join(part.strip() for part in pending).strip()
        pending = []
        if joined:
            yield start, joined
    if pending:
        joined = " ".join(part.strip() for part in pending).strip()
        if joined:
            yield start, joined
