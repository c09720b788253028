"""Writing the .pyz: a shebang, then a reproducible zip that runs with shiv's bootstrap.

Layout (the same as a shiv app, so shiv's runtime environment variables keep working)::

    #!/usr/bin/env python3
    __main__.py          import _bootstrap; _bootstrap.bootstrap()
    _bootstrap/*.py      shiv's runtime, copied from the installed shiv
    environment.json     shiv's settings: entry point, build id, build time
    site-packages/...    the project and every locked dependency
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
import zipfile
from collections.abc import Mapping
from pathlib import Path

from hatch_zipapp.install import SITE_PACKAGES, StagedFile
from hatch_zipapp.reproducible import COMPRESS_LEVEL, COMPRESSION, sorted_entries, zip_date_time, zip_info

__all__ = ["bootstrap_files", "build_id", "write_pyz"]

_MAIN = b"# -*- coding: utf-8 -*-\nimport _bootstrap\n_bootstrap.bootstrap()\n"
_SHIV_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


def build_id(files: Mapping[str, StagedFile]) -> str:
    """A digest of the staged tree: names, contents and modes, in sorted order."""
    digest = hashlib.sha256()
    for path in sorted_entries(files):
        staged = files[path]
        digest.update(path.encode() + b"\0" + (b"x" if staged.executable else b"-") + b"\0")
        digest.update(hashlib.sha256(staged.data).digest())
    return digest.hexdigest()


def bootstrap_files() -> dict[str, bytes]:
    """shiv's runtime bootstrap, as shipped by the shiv in this build environment."""
    from importlib.resources import files

    package = files("shiv.bootstrap")
    found = {}
    for resource in package.iterdir():
        if resource.is_file() and resource.name.endswith(".py"):
            found[f"_bootstrap/{resource.name}"] = resource.read_bytes()
    return found


def _environment_json(*, entry_point: str, identifier: str, epoch: int, compile_pyc: bool) -> bytes:
    from shiv import __version__ as shiv_version
    from shiv.bootstrap.environment import Environment

    environment = Environment(
        built_at=time.strftime(_SHIV_TIME_FORMAT, time.gmtime(epoch)),
        shiv_version=shiv_version,
        build_id=identifier,
        entry_point=entry_point,
        compile_pyc=compile_pyc,
        reproducible=True,
    )
    return str(environment.to_json()).encode()


def write_pyz(
    destination: Path,
    files: Mapping[str, StagedFile],
    *,
    shebang: str,
    entry_point: str,
    epoch: int,
    compile_pyc: bool,
) -> Path:
    """Write the .pyz to a temporary file beside ``destination`` and return it: the caller renames it into place.

    ``compile_pyc`` asks shiv's bootstrap to compile at first start (when the archive carries no bytecode).
    """
    date_time = zip_date_time(epoch)
    identifier = build_id(files)
    entries: dict[str, tuple[bytes, bool]] = {path: (f.data, f.executable) for path, f in files.items()}
    entries.update({name: (data, False) for name, data in bootstrap_files().items()})
    environment = _environment_json(
        entry_point=entry_point, identifier=identifier, epoch=epoch, compile_pyc=compile_pyc
    )
    entries["environment.json"] = (environment, False)
    entries["__main__.py"] = (_MAIN, False)
    for name in entries:
        if not (name.startswith((SITE_PACKAGES + "/", "_bootstrap/")) or name in {"environment.json", "__main__.py"}):
            message = f"Refusing to write {name!r}: outside the archive's layout"
            raise ValueError(message)

    destination.parent.mkdir(parents=True, exist_ok=True)
    fd, temp_name = tempfile.mkstemp(dir=destination.parent, prefix=f".{destination.name}.", suffix=".tmp")
    temp = Path(temp_name)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(b"#!" + shebang.encode() + b"\n")
            with zipfile.ZipFile(f, "w", compression=COMPRESSION, compresslevel=COMPRESS_LEVEL) as archive:
                for name in sorted_entries(entries):
                    data, executable = entries[name]
                    archive.writestr(zip_info(name, date_time, executable=executable), data)
        temp.chmod(0o755)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return temp
