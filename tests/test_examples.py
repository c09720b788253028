"""fixtures/hello, the quick start's example, builds from its own lock and runs (wheels from the package index)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.helpers import build, run_pyz

pytestmark = pytest.mark.network


def test_hello(tmp_path: Path) -> None:
    project = tmp_path / "hello"
    shutil.copytree(Path(__file__).parent.parent / "fixtures" / "hello", project, ignore=shutil.ignore_patterns("dist"))
    pyz = build(project)
    assert pyz.name.startswith("hello-1.0-cp3") and "manylinux" in pyz.name  # markupsafe is a native wheel
    out = run_pyz(pyz, "--name", "<newcomer>", "--where")
    assert out.startswith("Hello, &lt;newcomer&gt;!\n")
    assert "click 8." in out and "markupsafe 3." in out and "site-packages" in out
