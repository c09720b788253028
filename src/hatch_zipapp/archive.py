"""Writing the .pyz: a shebang, then a reproducible zip that runs with hatch-zipapp's runtime bootstrap.

Layout (shiv's names and environment.json, so shiv's tools and runtime variables keep working)::

    #!/usr/bin/env python3.12   the target's Python (target.py: Target.shebang), or the `shebang` option
    __main__.py(c)       the archive pinned to the file the start began on (hatch_zipapp/bootstrap/pinned.py), the
                         interpreter check (bootstrap/check.py; both parse on every Python 3.6+), called with what the
                         .pyz needs; the runtime's modules checked against the record (runtime_record); then
                         import _bootstrap; _bootstrap.bootstrap(record)
    _bootstrap/          the runtime: __init__.py (hatch_zipapp/bootstrap/runtime.py: the start) and its modules
                         (RUNTIME_MODULES: documents, locks, roots, zipread, atomic, cleanup, confine, seccomp)
    environment.json     shiv-compatible settings: entry point, build id, build time, compile_pyc
    hatch-zipapp.json    the build information `ZIPAPP_INFO=1 ./app.pyz` and `hatch-zipapp info` print
    sbom.cdx.json        a CycloneDX SBOM of every embedded distribution (also written beside the .pyz)
    hatch-zipapp.sha256  the sha256 of every member the installed RECORDs do not cover, of site-packages.zip as a
                         whole and of the shebang line, as `(shebang)` (`hatch-zipapp verify`)
    site-packages.zip    a zip of site-packages/..., the project and every locked dependency
                         (layout.py: why it is a zip inside the zip); every outer member is stored, not deflated
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, cast

from hatch_zipapp.bootstrap.documents import (
    BOOTSTRAP_PACKAGE,
    BUILD_ID,
    ENVIRONMENT_JSON,
    EXTEND_PYTHONPATH,
    INFO_BUILD_ID,
    INFO_JSON,
    SCRIPT,
)
from hatch_zipapp.cache import sha256_hex
from hatch_zipapp.errors import LayoutError
from hatch_zipapp.install import SITE_PACKAGES, StagedFile, files_digest
from hatch_zipapp.layout import SITE_PACKAGES_ZIP, Content, HashingWriter, close_entries, outer_entries
from hatch_zipapp.pyz.index import SUFFIX, write_index
from hatch_zipapp.pyz.record import PREFIX, RECORD, dist_records, record
from hatch_zipapp.pyz.verify import SBOM, sidecars
from hatch_zipapp.pyz.zipwrite import InnerZip, sorted_entries, write_outer
from hatch_zipapp.reproducible import zip_date_time
from hatch_zipapp.sbom import licenses, sbom
from hatch_zipapp.scratch import beside, discard, write_beside

if TYPE_CHECKING:
    from hatch_zipapp.bootstrap.check import Requirement

__all__ = ["RUNTIME_MODULES", "PyzContents", "bootstrap_files", "build_id", "main_py", "runtime_files", "write_pyz"]

DateTime = tuple[int, int, int, int, int, int]
_TOP_LEVEL = frozenset({"__main__.py", "__main__.pyc", ENVIRONMENT_JSON, INFO_JSON, SBOM, RECORD})
#: The runtime's modules besides the start (hatch_zipapp/bootstrap/NAME.py, embedded as _bootstrap/NAME.py); the
#: start, runtime.py, is the package itself (_bootstrap/__init__.py).
RUNTIME_MODULES = (
    "atomic",
    "cleanup",
    "confine",
    "documents",
    "locks",
    "roots",
    "seccomp",
    "sitecustomize",
    "zipread",
)
_SHIV_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


def build_id(files: Mapping[str, StagedFile]) -> str:
    """A digest of the staged tree: names, contents and modes, in sorted order."""
    return files_digest(files, sorted_entries(files), modes=True)


def bootstrap_files(requirement: Requirement) -> dict[str, bytes]:
    """The runtime bootstrap, standard library only: ``__main__.py`` (the interpreter check, then the runtime) and the
    runtime's package, every module of it."""
    from importlib.resources import files

    package = files("hatch_zipapp.bootstrap")
    runtime = {f"{BOOTSTRAP_PACKAGE}/__init__.py": package.joinpath("runtime.py").read_bytes()}
    runtime.update({f"{BOOTSTRAP_PACKAGE}/{m}.py": package.joinpath(f"{m}.py").read_bytes() for m in RUNTIME_MODULES})
    return {"__main__.py": main_py(requirement), **runtime}


def runtime_files(requirement: Requirement) -> dict[str, StagedFile]:
    """:func:`bootstrap_files`, staged: what the bytecode stage compiles and the archive embeds beside site-packages."""
    return {name: StagedFile(data, False, "the .pyz runtime") for name, data in bootstrap_files(requirement).items()}


def main_py(requirement: Requirement) -> bytes:
    """The .pyz's ``__main__.py``: first the archive pinned to the file this start began on (``bootstrap/pinned.py``:
    a deploy may switch its name meanwhile), the interpreter check (``bootstrap/check.py``) called with what this .pyz
    needs (a literal: no member to read, no JSON to parse), the runtime's modules checked against the record
    (zipimport checks no CRC: a damaged module would run), then the runtime. It parses on every Python from 3.6 up,
    so a wrong one gets the check's message; it is one module, compiled with the runtime, so that the right one loads
    it from ``__main__.pyc`` (one module less to find and read than separate modules: ~0.2 ms a start each)."""
    from importlib.resources import files

    package = files("hatch_zipapp.bootstrap")
    check = package.joinpath("check.py").read_text(encoding="utf-8")
    pinned = package.joinpath("pinned.py").read_text(encoding="utf-8")
    literal = "{\n" + "".join(f"    {key!r}: {value!r},\n" for key, value in sorted(requirement.items())) + "}"
    modules = ["__init__", *RUNTIME_MODULES]
    text = f"# -*- coding: utf-8 -*-\n{check}\n\n{pinned}\n\npin()\ncheck({literal})\n"
    text += f"record = runtime_record({BOOTSTRAP_PACKAGE!r}, {modules!r})\nimport {BOOTSTRAP_PACKAGE}\n"
    return (text + f"{BOOTSTRAP_PACKAGE}.bootstrap(record)\n").encode("utf-8")


#: The shiv release whose `environment.json` layout this archive follows (its keys and their meaning; `shiv-info`
#: of that release reads it, tests/test_shiv_compat.py runs it). shiv itself is not needed to build.
SHIV_LAYOUT_VERSION = "1.0.8"


def _environment_json(settings: Mapping[str, object], *, identifier: str, epoch: int) -> bytes:
    """shiv's `environment.json` keys (its tools read them), and the runtime's own settings."""
    shiv_version = SHIV_LAYOUT_VERSION
    environment = {
        "always_write_cache": False,
        BUILD_ID: identifier,
        "built_at": time.strftime(_SHIV_TIME_FORMAT, time.gmtime(epoch)),
        EXTEND_PYTHONPATH: False,
        "hashes": {},
        "no_modify": False,
        "preamble": None,
        "prepend_pythonpath": None,
        "reproducible": True,
        "root": None,
        SCRIPT: None,
        "shiv_version": shiv_version,
        **settings,
    }
    return json.dumps(environment, sort_keys=True, indent=1).encode()


@dataclass(frozen=True)
class PyzContents:
    """What a .pyz holds besides what the archive derives (the build id, the SBOM, the record)."""

    #: the staged tree (site-packages and its bin/)
    files: Mapping[str, StagedFile]
    #: the bootstrap (``bootstrap_files()``: ``__main__.py`` and the runtime, and their bytecode when compiled for the
    #: target)
    runtime: Mapping[str, StagedFile]
    #: the interpreter of the first line, without ``#!``
    shebang: str
    #: the build's timestamp (``SOURCE_DATE_EPOCH``)
    epoch: int
    #: environment.json's settings for the runtime (entry point, name, compile_pyc, keep, inherit_site)
    settings: Mapping[str, object]
    #: the build information (hatch-zipapp.json)
    info: Mapping[str, Any]
    #: what comes before the zip, when not the shebang line: an embedded Python's launcher and archive (embed.py):
    #: bytes, or (the launcher holds the file's size) a function of the whole file's size giving bytes of the same
    #: length whatever the size
    prefix: bytes | Callable[[int], bytes] | None = None


def write_pyz(destination: Path, contents: PyzContents) -> list[tuple[Path, Path]]:
    """Write the .pyz of ``contents``, its SBOM and its checksum to temporary files beside ``destination``.

    Returns (temporary, final) pairs: the caller renames them into place once every target is built.
    """
    files, runtime, epoch, info = contents.files, contents.runtime, contents.epoch, contents.info
    settings, shebang, prefix = contents.settings, contents.shebang, contents.prefix
    date_time = zip_date_time(epoch)
    identifier = build_id(files)
    entries: dict[str, tuple[Content, bool]] = {path: (f, f.executable) for path, f in files.items()}
    entries.update({name: (staged.data, False) for name, staged in runtime.items()})
    entries[ENVIRONMENT_JSON] = (_environment_json(settings, identifier=identifier, epoch=epoch), False)
    info_json = json.dumps({**info, INFO_BUILD_ID: identifier}, sort_keys=True, indent=2) + "\n"
    entries[INFO_JSON] = (info_json.encode(), False)
    bom = json.dumps(sbom(info, licenses(files), identifier), sort_keys=True, indent=2).encode() + b"\n"
    entries[SBOM] = (bom, False)
    digests = {name: staged.sha256.hex() for name, staged in files.items()}
    digests.update({name: sha256_hex(data) for name, (data, _) in entries.items() if isinstance(data, bytes)})
    covered = dist_records({name: staged.data for name, staged in files.items() if name.endswith("/RECORD")})
    if prefix is None:  # an embedded Python's launcher and archive (embed.py) replace the shebang line
        prefix = b"#!" + shebang.encode() + b"\n"
    for name in entries:
        if not (name.startswith((SITE_PACKAGES + "/", BOOTSTRAP_PACKAGE + "/")) or name in _TOP_LEVEL):
            message = f"Refusing to write {name!r}: outside the archive's layout"
            raise LayoutError(message)
    outer = outer_entries(entries, date_time)
    try:
        inner = outer[SITE_PACKAGES_ZIP][0]
        assert isinstance(inner, InnerZip)
        digests[SITE_PACKAGES_ZIP] = inner.sha256  # its zip structure, not only its members
        sized = None
        if callable(prefix):  # measured with a stand-in of the same length: stored members, so the same zip size
            sized, prefix = prefix, prefix(0)
        digests[PREFIX] = sha256_hex(prefix)
        outer[RECORD] = (record({name: d for name, d in digests.items() if covered.get(name) != d}), False)
        if sized is not None:
            measure = _Measure()
            write_outer(cast("BinaryIO", measure), outer, date_time)
            prefix = sized(len(prefix) + measure.size)
            digests[PREFIX] = sha256_hex(prefix)
            outer[RECORD] = (record({name: d for name, d in digests.items() if covered.get(name) != d}), False)
        return _write(destination, prefix, outer, date_time, bom)
    finally:
        close_entries(outer)


class _Measure:
    """A seekable file that keeps nothing: the size of what is written through it."""

    def __init__(self) -> None:
        self.position = self.size = 0

    def write(self, data: bytes) -> int:
        self.position += len(data)
        self.size = max(self.size, self.position)
        return len(data)

    def tell(self) -> int:
        return self.position

    def seek(self, offset: int, whence: int = 0) -> int:
        self.position = offset if whence == 0 else (self.position + offset if whence == 1 else self.size + offset)
        return self.position

    def flush(self) -> None:
        """Nothing to flush."""


def _write(
    destination: Path, prefix: bytes, outer: dict[str, tuple[Content, bool]], date_time: DateTime, bom: bytes
) -> list[tuple[Path, Path]]:
    """The .pyz (written and hashed in one pass) and its sidecars, in temporary files: (temporary, final) pairs. The
    index (``NAME.pyz.index``: pyz/index.py) is read from the .pyz as written, for a deploy to fetch only what an
    earlier release lacks."""
    pending: list[tuple[Path, Path]] = []
    try:
        with beside(destination, 0o755) as (f, temp):
            pending.append((temp, destination))
            out = HashingWriter(f)
            out.write(prefix)
            write_outer(out, outer, date_time)
        beside_it = sidecars(destination.name, out.hexdigest(), bom)
        beside_it[destination.name + SUFFIX] = write_index(temp)
        for name, data in beside_it.items():
            sidecar = destination.parent / name
            pending.append((write_beside(sidecar, data, 0o644), sidecar))
    except BaseException:
        for written, _ in pending:
            discard(written)
        raise
    return pending
