"""shiv's own tools read a hatch-zipapp .pyz: `shiv-info` and `shiv-info --json` of shiv 1.0.8 (the test group's).

hatch-zipapp does not depend on shiv: it writes shiv's `environment.json` layout from a constant naming the shiv
release it follows (archive.SHIV_LAYOUT_VERSION); this proves that release's tools read what is written.
"""

from __future__ import annotations

import inspect
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from hatch_zipapp.archive import SHIV_LAYOUT_VERSION
from tests.helpers import build, make_project, make_wheel, pylock_text


@pytest.fixture(scope="module")
def pyz(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("shiv-compat")
    alpha = make_wheel(root / "wheels", "alpha")
    project = make_project(root / "app", dependencies=["alpha"])
    (project / "pylock.toml").write_text(pylock_text([[alpha]], base_url=None))
    return build(project)


def _shiv_info(*args: str) -> str:
    found = shutil.which("shiv-info", path=os.path.dirname(sys.executable))
    assert found is not None, "shiv-info is missing: shiv is in the test dependency group"
    result = subprocess.run([found, *args], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_the_layout_version_is_the_installed_shiv() -> None:
    from shiv import __version__

    assert __version__ == SHIV_LAYOUT_VERSION  # the test group pins the shiv whose layout archive.py follows


def test_shiv_info_json(pyz: Path) -> None:
    printed = json.loads(_shiv_info("--json", os.fspath(pyz)))
    with zipfile.ZipFile(pyz) as archive:
        assert printed == json.loads(archive.read("environment.json"))
    assert printed["shiv_version"] == SHIV_LAYOUT_VERSION
    assert printed["entry_point"] == "app.cli:main"
    # Every key shiv's runtime Environment requires (no default) is there, with the type it expects.
    from shiv.bootstrap.environment import Environment

    required = [
        name
        for name, parameter in inspect.signature(Environment.__init__).parameters.items()
        if name != "self" and parameter.default is inspect.Parameter.empty
    ]
    assert required == ["built_at", "shiv_version"]
    assert all(isinstance(printed[name], str) for name in required)


def test_shiv_info(pyz: Path) -> None:
    out = _shiv_info(os.fspath(pyz))
    assert f"pyz file: {pyz}" in out
    assert f"shiv_version: {SHIV_LAYOUT_VERSION}" in out and "entry_point: app.cli:main" in out
