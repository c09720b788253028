"""An embedded CPython (``embed-python``): the interpreter archive, and the executable's launcher.

A target with ``embed-python = true`` gets one executable file instead of a plain .pyz::

    launcher.sh          a POSIX sh script (hatch_zipapp/launcher.sh, filled in here): it unpacks the interpreter
                         once into the runtime's root and runs this very file with it
    python .tar.gz       python-build-standalone's ``install_only`` archive (``python/bin/python3``, ``python/lib/``)
    the .pyz's zip       unchanged: a zip tolerates a prefix, so ``python3 app.pyz`` works where a Python exists

The launcher and the archive are the bytes before the zip: the archive's record binds them as ``(shebang)``, so
``hatch-zipapp verify`` and the runtime's damage check cover the interpreter too.

The archive is chosen from pbs-installer's table (the one PDM uses: release URL and sha256 of every
python-build-standalone archive) or given by ``python-archive = { url = "...", sha256 = "..." }``; either way it goes
through the build's sha256-keyed download cache and is checked against its sha256.
"""

from __future__ import annotations

import gzip
import io
import os
import re
import shutil
import subprocess
import tarfile
import urllib.parse
import warnings
from dataclasses import dataclass
from importlib.metadata import version as distribution_version
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hatch_zipapp.cache import sha256_hex
from hatch_zipapp.errors import ConfigError, FetchError, HashMismatchError, ZipappError

if TYPE_CHECKING:
    from collections.abc import Callable

    from hatch_zipapp.context import BuildContext
    from hatch_zipapp.fetch import Fetcher
    from hatch_zipapp.target import Target

__all__ = [
    "EMBEDDED_PYTHON",
    "ArchiveSource",
    "Interpreter",
    "interpreter_dir",
    "launcher",
    "load",
    "prefix",
    "select",
    "unpack_for_build",
]

#: The key of ``hatch-zipapp.json``'s ``target`` table describing the embedded interpreter.
EMBEDDED_PYTHON = "embedded_python"
#: The archive kind pbs-installer's table is asked for: ``install_only`` (its ``install_only_stripped`` file).
_ARCHIVES = "python-build-standalone install_only"
#: pbs-installer's name of an architecture, from the wheel platform tag's.
_ARCHES = {"x86_64": "x86_64", "aarch64": "aarch64", "i686": "x86"}
#: The oldest glibc python-build-standalone's ``*-unknown-linux-gnu`` builds run on (manylinux2014).
_PBS_GLIBC = (2, 17)
_PATCHLEVEL = re.compile(rb'#define\s+PY_VERSION\s+"(\d+\.\d+\.\d+)[^"]*"')
_OFFSET_DIGITS = 12
#: The directory an interpreter is unpacked into, in the runtime's root (docs/embedded-python.md).
_DIRECTORY = "cpython-{sha256}"


@dataclass(frozen=True)
class ArchiveSource:
    """Where an interpreter archive comes from: a URL (https, http, file) or a local path, and its sha256."""

    url: str
    sha256: str
    #: what chose it, for messages: pbs-installer's table, or the `python-archive` option
    origin: str
    #: the Python version pbs-installer's table gives for it, if it chose it
    version: str | None = None
    #: what `{env:...}` fields put into ``url`` (a token in a mirror's URL): never shown, never written
    secrets: frozenset[str] = frozenset()

    @property
    def shown(self) -> str:
        """``url`` for messages and the build information: credentials and secrets as ``****``."""
        from hatch_zipapp.fetch import redact

        return redact(self.url, self.secrets)


@dataclass(frozen=True)
class Interpreter:
    """An interpreter archive, fetched and checked: its bytes, Python version, and the interpreter inside."""

    source: ArchiveSource
    data: bytes
    #: ``3.12.15``, from the archive's ``python/include/python3.X/patchlevel.h``
    version: str
    #: the interpreter's path inside the archive, ``python/bin/python3.12``
    executable: str

    def describe(self) -> dict[str, Any]:
        """The ``embedded_python`` table of hatch-zipapp.json (and so of `info` and the SBOM)."""
        return {
            "name": "cpython",
            "version": self.version,
            "url": self.source.shown,
            "sha256": self.source.sha256,
            "size": len(self.data),
            "executable": self.executable,
            "directory": interpreter_dir(self.source.sha256),
        }


def interpreter_dir(sha256: str) -> str:
    """The name of the directory, in the root, an archive with this sha256 is unpacked into."""
    return _DIRECTORY.format(sha256=sha256)


def pbs_installer_version() -> str:
    return distribution_version("pbs-installer")


def interpreter_wheel_name(target: Target) -> str:
    """A wheel filename that stands for the embedded interpreter in :meth:`Target.requirement`: that exact CPython
    and python-build-standalone's glibc floor (2.17) on the target's architecture, as an extension module's wheel
    would need them. A build-host target's .pyz is then named and checked by what it needs (`manylinux_2_17`, or a
    wheel's higher glibc), not by the build machine's glibc; an explicit target keeps its own tag."""
    parts = target.platform.split("_")
    arch = "_".join(parts[3:] if target.platform.startswith("manylinux_") else parts[1:])
    floor = f"manylinux_{_PBS_GLIBC[0]}_{_PBS_GLIBC[1]}_{arch}"
    return f"python-0-{target.interpreter_tag}-{target.abi_tag}-{floor}.linux_{arch}.whl"


def select(target: Target) -> ArchiveSource:
    """The python-build-standalone ``install_only`` archive for ``target``, from pbs-installer's table; one clear error
    for a target that has none (Windows and macOS have no launcher yet; musl and old glibc have no such archive)."""
    with warnings.catch_warnings():  # pbs-installer reads its table with importlib.resources' deprecated open_text
        warnings.simplefilter("ignore", DeprecationWarning)
        import pbs_installer

    platform = target.platform
    what = f"Target {target.describe()} has `embed-python = true`, but"
    if not platform.startswith(("manylinux", "linux_")):
        message = (
            f"{what} an embedded Python runs only on Linux with glibc (manylinux_2_17 or newer) for now: the "
            f"launcher is a POSIX sh script, and python-build-standalone's musl builds cannot load native wheels. "
            f"Remove `embed-python` for {platform}"
        )
        raise ConfigError(message)
    parts = platform.split("_")
    if platform.startswith("manylinux_"):
        glibc, arch = (int(parts[1]), int(parts[2])), "_".join(parts[3:])
        if glibc < _PBS_GLIBC:
            message = (
                f"{what} python-build-standalone needs glibc 2.17 or newer and the target names {platform}: target "
                f"manylinux_2_17 or newer"
            )
            raise ConfigError(message)
    elif platform.startswith("manylinux") and platform[len("manylinux") :].split("_")[0].isdigit():
        arch = "_".join(parts[1:])
        if parts[0] != "manylinux2014":
            message = f"{what} python-build-standalone needs glibc 2.17 or newer (manylinux2014): {platform} is older"
            raise ConfigError(message)
    else:  # linux_x86_64: the build host's own tag
        arch = platform.removeprefix("linux_")
    if arch not in _ARCHES:
        message = f"{what} pbs-installer's table has no archive for the architecture {arch!r} ({', '.join(_ARCHES)})"
        raise ConfigError(message)
    # `python = "3.12.4"` asks for that release; "3.12" (and the build host) for the newest 3.12 in the table
    full = target.environment.get("python_full_version", "")
    request = full if target.explicit and not full.endswith(".0") else target.python_version
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            found, (url, sha256) = pbs_installer.get_download_link(
                request, arch=_ARCHES[arch], platform="linux", implementation="cpython"
            )
    except ValueError:
        found = None
    if found is None or sha256 is None or not url.endswith(".tar.gz"):
        message = (
            f"{what} pbs-installer {pbs_installer_version()} has no {_ARCHES[arch]} Linux {_ARCHIVES} archive with "
            f"a sha256 for Python {request}: pick another Python version, upgrade pbs-installer, or "
            f'give the archive with `python-archive = {{ url = "...", sha256 = "..." }}`'
        )
        raise ConfigError(message)
    origin = f"pbs-installer {pbs_installer_version()}"
    return ArchiveSource(url, sha256, origin, f"{found.major}.{found.minor}.{found.micro}")


def load(context: BuildContext, source: ArchiveSource) -> Interpreter:
    """The archive of ``source``: from the download cache, else downloaded (or read) and checked, then cached."""
    cache = context.fetcher.cache
    data = cache.read(source.sha256)
    if data is None:
        data = _download(context.fetcher, source, context.config.root_path)
        actual = sha256_hex(data)
        if actual != source.sha256:
            message = (
                f"The Python archive {source.shown} (from {source.origin}) has sha256 {actual}, not the "
                f"{source.sha256} expected: a damaged or changed download. Check the URL and the sha256 in "
                f"`python-archive`"
            )
            raise HashMismatchError(message)
        cache.write(source.sha256, data)
        if urllib.parse.urlsplit(source.url).scheme in {"http", "https"}:
            context.fetcher.downloaded += 1
        else:  # a path or a file: URL: read, not downloaded
            context.fetcher.read_locally += 1
    version, executable = _inspect(data, source)
    wanted = context.target.python_version
    if version != wanted and not version.startswith(f"{wanted}."):
        message = (
            f"The Python archive {source.shown} (from {source.origin}) holds CPython {version}, but target "
            f"{context.target.describe()} is for Python {wanted}: give an archive of Python {wanted}, or change the "
            f"target's `python`"
        )
        raise ConfigError(message)
    return Interpreter(source, data, version, executable)


def _download(fetcher: Fetcher, source: ArchiveSource, root: Path) -> bytes:
    url = source.url
    if urllib.parse.urlsplit(url).scheme in {"http", "https", "file"}:
        try:
            data, _, _ = fetcher.http.get(url, what=f"the Python archive (from {source.origin})")
        except FetchError as e:
            from hatch_zipapp.fetch import scrub

            raise FetchError(scrub(str(e), source.secrets), status=e.status) from None
        return data
    path = root / url
    try:
        return path.read_bytes()
    except OSError as e:
        message = (
            f"Could not read the Python archive {url!r} (from {source.origin}, looked at {path}): {e.strerror or e}"
        )
        raise ConfigError(message) from None


def _inspect(data: bytes, source: ArchiveSource) -> tuple[str, str]:
    """The CPython version an ``install_only`` archive holds, and its interpreter's path; an error if it is not one."""
    where = f"The Python archive {source.shown} (from {source.origin})"
    if data[:2] != b"\x1f\x8b":
        message = f"{where} is not a .tar.gz: give python-build-standalone's `install_only` archive (a .tar.gz)"
        raise ConfigError(message)
    version = None
    names = set()
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
            for member in archive:
                names.add(member.name)
                if re.fullmatch(r"python/include/python3\.\d+t?/patchlevel\.h", member.name) and member.isfile():
                    extracted = archive.extractfile(member)
                    match = _PATCHLEVEL.search(extracted.read() if extracted else b"")
                    version = match[1].decode() if match else None
    except (tarfile.TarError, OSError, EOFError, gzip.BadGzipFile) as e:
        message = f"{where} is not a readable .tar.gz ({type(e).__name__}: {e})"
        raise ConfigError(message) from None
    bad = sorted(name for name in names if name != "python" and not name.startswith("python/"))
    if bad or version is None:
        problem = f"it has {bad[0]!r} outside python/" if bad else "it has no python/include/python3.X/patchlevel.h"
        message = (
            f"{where} is not in python-build-standalone's install_only layout (python/bin/python3, python/lib/...): "
            f"{problem}"
        )
        raise ConfigError(message)
    major_minor = ".".join(version.split(".")[:2])
    executable = f"python/bin/python{major_minor}"
    if executable not in names:
        message = f"{where} has no {executable}: it is not in python-build-standalone's install_only layout"
        raise ConfigError(message)
    return version, executable


def unpack_for_build(interpreter: Interpreter, staging: Path) -> str | None:
    """The embedded interpreter, unpacked into ``staging`` (once a build), if it runs on this machine: its path, for
    the bytecode stage; else None (another platform's interpreter)."""
    directory = staging / interpreter_dir(interpreter.source.sha256)
    python = directory / interpreter.executable
    if not directory.is_dir():
        work = staging / f".{directory.name}.tmp"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir()
        with tarfile.open(fileobj=io.BytesIO(interpreter.data), mode="r:gz") as archive:
            archive.extractall(work, filter="data")
        work.rename(directory)
    try:
        result = subprocess.run(
            [os.fspath(python), "-I", "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except OSError:  # another CPU's or OS's binary
        return None
    major_minor = ".".join(interpreter.version.split(".")[:2])
    return os.fspath(python) if result.returncode == 0 and result.stdout.strip() == major_minor else None


def launcher(interpreter: Interpreter, name: str, total: int = 0) -> bytes:
    """The launcher script for ``interpreter``'s archive, placed right after it (the archive starts where it ends), in
    a file of ``total`` bytes (the launcher refuses a file of another size: a download cut off)."""
    from importlib.resources import files

    template = files("hatch_zipapp").joinpath("launcher.sh").read_text(encoding="utf-8")
    values = {
        "NAME": name,
        "VERSION": interpreter.version,
        "SIZE": str(len(interpreter.data)),
        "SHA256": interpreter.source.sha256,
        "PYTHON": interpreter.executable,
        "OFFSET": "0" * _OFFSET_DIGITS,
    }
    for key, value in values.items():
        if not re.fullmatch(r"[A-Za-z0-9._/+-]+", value):
            message = f"Cannot write {value!r} into the launcher (as {key}): only letters, digits and ._/+- fit"
            raise ZipappError(message)
        template = template.replace(f"@{key}@", value)
    offset = len(template.encode())
    placeholder = "hz_offset=" + "0" * _OFFSET_DIGITS
    # zero-padded, as the placeholder (the launcher strips the zeros: sh reads a leading 0 as octal): a flipped byte
    # there cannot become a space that ends the assignment and runs the rest as a command
    text = template.replace(placeholder, f"hz_offset={offset:0{_OFFSET_DIGITS}d}", 1)
    placeholder = "hz_total=" + "0" * _OFFSET_DIGITS
    text = text.replace(placeholder, f"hz_total={total:0{_OFFSET_DIGITS}d}", 1)
    assert len(text.encode()) == offset and len(str(total)) <= _OFFSET_DIGITS
    return text.encode()


def prefix(interpreter: Interpreter, name: str) -> Callable[[int], bytes]:
    """What comes before the zip, as a function of the whole file's size: the launcher, then the interpreter archive.
    Its length does not depend on the size (archive.py measures the zip with it)."""
    return lambda total: launcher(interpreter, name, total) + interpreter.data
