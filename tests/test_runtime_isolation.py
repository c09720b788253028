"""Isolation from the interpreter that runs the .pyz, where it matters most: a base interpreter (not a virtualenv)
whose site-packages lies *inside* its standard library directory (``lib/python3.X/site-packages``, as in python.org,
pyenv and the Docker ``python`` images). The runtime keeps the standard library on ``sys.path``, so only its
site-packages/dist-packages check keeps that interpreter's packages out.

The interpreter is this one with its own ``PYTHONHOME``: a directory whose ``lib/python3.X`` links to every entry of
the real standard library and holds a real ``site-packages`` (Debian's interpreter: ``dist-packages``) with a module
the .pyz does not carry."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

#: The base interpreter of this one (a virtualenv's own python would bring its pyvenv.cfg).
_INTERPRETER = getattr(sys, "_base_executable", sys.executable)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    library = Path(sysconfig.get_paths()["stdlib"])
    version = f"python{sys.version_info[0]}.{sys.version_info[1]}"
    assert library.name == version, library
    home = tmp_path / "home"
    lib = home / "lib" / version
    lib.mkdir(parents=True)
    for entry in library.iterdir():
        if entry.name not in {"site-packages", "dist-packages"}:
            (lib / entry.name).symlink_to(entry)
    dynload = Path(sysconfig.get_config_var("DESTSHARED") or "")
    if dynload.is_dir() and not (lib / "lib-dynload").exists():  # e.g. Debian keeps it elsewhere
        (lib / "lib-dynload").symlink_to(dynload)
    # Where this interpreter looks for packages under that home (Debian's says dist-packages, others site-packages).
    result = subprocess.run(
        [_INTERPRETER, "-c", "import site; print(*site.getsitepackages(), sep='\\n')"],
        env=_host_env(home),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    inside = [Path(p) for p in result.stdout.splitlines() if Path(p).parent == lib]
    assert inside, f"{_INTERPRETER} has no site directory below its standard library: {result.stdout}"
    inside[0].mkdir()
    (inside[0] / "hostonly.py").write_text("VALUE = 'from the host'\n")
    return home


def _host_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"SHIV_ROOT", "ZIPAPP_ROOT", "PYTHONPATH", "VIRTUAL_ENV"}}
    env.update({"PYTHONHOME": os.fspath(home), "PYTHONNOUSERSITE": "1", **extra})
    return env


def _run(pyz: Path, home: Path, root: Path, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_INTERPRETER, os.fspath(pyz), *args],
        env=_host_env(home, ZIPAPP_ROOT=os.fspath(root), **extra),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_interpreter_sees_the_module(home: Path, tmp_path: Path) -> None:
    """The setup is what the other tests assume: without a .pyz, this interpreter imports ``hostonly`` from a
    site-packages below its standard library."""
    script = "import hostonly, os; print(hostonly.__file__, os.__file__)"
    result = subprocess.run(
        [_INTERPRETER, "-c", script], env=_host_env(home), capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    module, os_module = result.stdout.split()
    library = os.path.dirname(os_module)
    assert os.path.realpath(library) == os.fspath(home / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}")
    assert os.path.dirname(os.path.dirname(module)) == library  # .../lib/python3.X/site-packages/hostonly.py


def test_its_site_packages_are_not_importable(pyz: Path, home: Path, tmp_path: Path) -> None:
    result = _run(pyz, home, tmp_path / "r", "hostonly")
    assert result.returncode != 0 and "No module named 'hostonly'" in result.stderr, result.stdout + result.stderr


def test_opt_back_in(pyz: Path, home: Path, tmp_path: Path) -> None:
    result = _run(pyz, home, tmp_path / "r", "hostonly", ZIPAPP_INHERIT_SITE="1")
    assert result.returncode == 0 and "hostonly: from the host" in result.stdout, result.stderr
