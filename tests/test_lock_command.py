"""`hatch-zipapp lock`, and uv.lock accepted through uv's export: hermetic, against the index on 127.0.0.1."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from hatch_zipapp.__main__ import main
from hatch_zipapp.lock import find_uv
from tests.helpers import IndexServer, build, make_project, make_wheel, run_pyz


@pytest.fixture
def project(tmp_path: Path, wheelhouse: Path) -> Path:
    make_wheel(wheelhouse, "alpha", "1.0")
    make_wheel(wheelhouse, "alpha", "1.1")
    make_wheel(wheelhouse, "winonly", "1.0")
    return make_project(tmp_path / "p", dependencies=["alpha<1.1", 'winonly; sys_platform == "win32"'])


def test_universal_pylock(project: Path, index: IndexServer, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lock", "--project", os.fspath(project), "--", "--index-url", index.simple]) == 0
    lock = (project / "pylock.toml").read_text()
    assert 'name = "alpha"' in lock and 'version = "1.0"' in lock and "sha256" in lock
    assert "winonly" in lock and "sys_platform == 'win32'" in lock  # universal: the Windows-only dependency too
    assert "wrote" in capsys.readouterr().out
    assert run_pyz(build(project), "alpha").startswith("alpha: alpha 1.0")


def test_requirements(project: Path, index: IndexServer) -> None:
    args = ["lock", "--format", "requirements", "--project", os.fspath(project), "--"]
    assert main([*args, "--index-url", index.simple, "--no-build-isolation"]) == 0
    lock = (project / "requirements.txt").read_text()
    assert "alpha==1.0" in lock and "--hash=sha256:" in lock and "winonly" not in lock
    assert run_pyz(build(project), "alpha").startswith("alpha: alpha 1.0")


def test_no_pyproject(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lock", "--project", os.fspath(tmp_path)]) == 2
    assert "no pyproject.toml" in capsys.readouterr().err


def test_module_entry_point(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "hatch_zipapp", "lock", "--help"], capture_output=True, text=True, check=True, timeout=60
    )
    assert "universal PEP 751 pylock.toml" in result.stdout


def test_uv_lock_is_exported_and_used(project: Path, index: IndexServer) -> None:
    uv = find_uv()
    assert uv is not None, "uv is a test dependency"
    subprocess.run([uv, "lock", "--quiet", "--index-url", index.simple], cwd=project, check=True, timeout=300)
    assert (project / "uv.lock").is_file() and not (project / "pylock.toml").exists()
    assert run_pyz(build(project), "alpha").startswith("alpha: alpha 1.0")
