"""black from the package index: compiled (mypyc) wheels for x86_64 Linux, macOS and Windows, none for aarch64 Linux,
and a pure-Python wheel. `hatchling build -t zipapp` for both Linux machines warns about the aarch64 one, and its
`.pyz` says so to `hatch-zipapp info`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import make_project

pytestmark = pytest.mark.network

BLACK = "26.10.1"
X86_64 = "cp312-cp312-manylinux_2_28_x86_64"
AARCH64 = "cp312-cp312-manylinux_2_28_aarch64"


def test_black_for_aarch64_is_pure_python_and_the_build_says_so(tmp_path: Path) -> None:
    project = make_project(
        tmp_path / "p",
        dependencies=[f"black=={BLACK}"],
        zipapp="bytecode = false\ntargets = [\n"
        '  { python = "3.12", platform = "manylinux_2_28_aarch64" },\n'
        '  { python = "3.12", platform = "manylinux_2_28_x86_64" },\n'
        "]",
    )
    pyproject = project / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('requires-python = ">=3.8"', 'requires-python = ">=3.10"'))
    subprocess.run(
        [sys.executable, "-m", "hatch_zipapp", "lock", "--project", os.fspath(project)], check=True, timeout=600
    )
    env = {key: value for key, value in os.environ.items() if key != "HATCH_ZIPAPP_TARGETS"}
    result = subprocess.run(
        [sys.executable, "-m", "hatchling", "build", "-t", "zipapp"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    output = result.stdout + result.stderr
    warnings = [line for line in output.splitlines() if "is its pure-Python wheel" in line]
    (line,) = [line for line in warnings if line.startswith("black ")]
    assert line.startswith(
        f"black {BLACK} for CPython 3.12 on manylinux_2_28_aarch64 is its pure-Python wheel "
        f"(black-{BLACK}-py3-none-any.whl), without compiled code, where {X86_64} got black-{BLACK}-cp312-cp312-"
    )
    platforms = line.split(" and the lock has compiled wheels of it for cp310 to cp314 on ")[1].split(".")[0]
    assert "manylinux_2_17_x86_64" in platforms.split(", ") and "aarch64" not in platforms
    assert line.endswith("To silence: add 'black' to `tool.hatch.build.targets.zipapp.pure-python-ok`")
    assert not any(X86_64.replace("cp312-cp312-", "") + " is its" in w for w in warnings)  # x86_64 got compiled ones

    dist = project / "dist"
    info = subprocess.run(
        [sys.executable, "-m", "hatch_zipapp", "info", os.fspath(dist / f"app-1.0-{AARCH64}.pyz")],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    black = next(d for d in json.loads(info.stdout)["distributions"] if d["name"] == "black")
    assert black["file"] == f"black-{BLACK}-py3-none-any.whl"
    assert "manylinux_2_17_x86_64" in black["pure_python"]["lock"]
    assert not any("aarch64" in platform for platform in black["pure_python"]["lock"])
    assert black["pure_python"]["allowed"] is False
    assert f"hatch-zipapp info: black {BLACK} is its pure-Python wheel" in info.stderr
    assert len(info.stderr.splitlines()) == len(warnings)  # one line for each package the build warned about

    other = subprocess.run(
        [sys.executable, "-m", "hatch_zipapp", "info", os.fspath(dist / f"app-1.0-{X86_64}.pyz")],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    black_x86 = next(d for d in json.loads(other.stdout)["distributions"] if d["name"] == "black")
    assert black_x86["file"].startswith(f"black-{BLACK}-cp312-cp312-manylinux") and "pure_python" not in black_x86
