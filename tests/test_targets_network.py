"""A real universal pylock.toml (Django, psycopg[binary], Pillow, gunicorn) built for four targets in one build:
each .pyz holds exactly the files `uv pip install --python-platform ... --python-version ...` installs from the
same lock, and the x86_64 CPython 3.11 one runs here."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from email.parser import Parser
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name

from hatch_zipapp.builder import ZipappBuilder
from hatch_zipapp.layout import PyzReader
from hatch_zipapp.lock import find_uv, load_lock
from hatch_zipapp.target import Target
from tests.helpers import run_pyz

pytestmark = pytest.mark.network
FIXTURE = Path(__file__).parent.parent / "fixtures" / "stack"

# (our target, its .pyz tag, uv's --python-platform, --python-version, extra environment)
TARGETS = [
    ("cp311-cp311-manylinux_2_28_x86_64", "x86_64-manylinux_2_28", "3.11", {}),
    ("cp312-cp312-manylinux_2_28_aarch64", "aarch64-manylinux_2_28", "3.12", {}),
    ("cp312-cp312-musllinux_1_2_x86_64", "x86_64-unknown-linux-musl", "3.12", {}),
    ("cp313-cp313-macosx_14_0_arm64", "aarch64-apple-darwin", "3.13", {"MACOSX_DEPLOYMENT_TARGET": "14.0"}),
]

Installed = dict[str, tuple[str, frozenset[str]]]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The four .pyz files, from one `zipapp` build of a copy of fixtures/stack."""
    root = tmp_path_factory.mktemp("stack")
    project = root / "stack"
    shutil.copytree(FIXTURE, project, ignore=shutil.ignore_patterns("dist"))
    environment = {"HATCH_ZIPAPP_CACHE_DIR": os.fspath(root / "cache"), "HATCH_ZIPAPP_TARGETS": ""}
    saved = {key: os.environ.get(key) for key in environment}
    os.environ.update(environment)
    try:
        artifacts = list(ZipappBuilder(os.fspath(project)).build(directory=os.fspath(root / "dist")))
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    assert sorted(Path(a).name for a in artifacts) == sorted(f"stack-1.0-{tag}.pyz" for tag, *_ in TARGETS)
    return root / "dist"


def _from_pyz(pyz: Path) -> Installed:
    found: Installed = {}
    with PyzReader(pyz) as archive:
        for name in archive.namelist():
            if name.endswith(".dist-info/WHEEL"):
                base = name.removesuffix("WHEEL")
                metadata = Parser().parsestr(archive.read(base + "METADATA").decode())
                wheel = Parser().parsestr(archive.read(name).decode())
                found[canonicalize_name(metadata["Name"])] = (
                    metadata["Version"],
                    frozenset(wheel.get_all("Tag") or []),
                )
    found.pop("stack")
    return found


def _from_uv(platform: str, python: str, extra: dict[str, str], target: Path) -> Installed:
    uv = find_uv()
    assert uv is not None
    env = {**os.environ, **extra}
    command = [uv, "pip", "install", "--quiet", "-r", os.fspath(FIXTURE / "pylock.toml"), "--target", os.fspath(target)]
    subprocess.run(
        [*command, "--python-platform", platform, "--python-version", python], env=env, check=True, timeout=600
    )
    found: Installed = {}
    for wheel_file in target.glob("*.dist-info/WHEEL"):
        metadata = Parser().parsestr((wheel_file.parent / "METADATA").read_text())
        wheel = Parser().parsestr(wheel_file.read_text())
        found[canonicalize_name(metadata["Name"])] = (metadata["Version"], frozenset(wheel.get_all("Tag") or []))
    return found


@pytest.mark.parametrize(("tag", "platform", "python", "extra"), TARGETS, ids=[t[0] for t in TARGETS])
def test_same_files_as_uv(
    built: Path, tmp_path: Path, tag: str, platform: str, python: str, extra: dict[str, str]
) -> None:
    ours = _from_pyz(built / f"stack-1.0-{tag}.pyz")
    theirs = _from_uv(platform, python, extra, tmp_path / "uv")
    assert ours == theirs
    assert "psycopg-binary" in ours and "pillow" in ours
    assert "tzdata" not in ours  # Django needs tzdata on Windows only


def test_windows_selection_matches_uv(tmp_path: Path) -> None:
    """Windows targets are refused at build (docs/targets.md), but the lock's selection for them stays uv's."""
    lock = load_lock(FIXTURE / "pylock.toml", tmp_path)
    pins = lock.select(Target.from_tag("cp313-win_amd64"), canonicalize_name("stack"))
    theirs = _from_uv("x86_64-pc-windows-msvc", "3.13", {}, tmp_path / "uv")
    assert {pin.name: str(pin.version) for pin in pins} == {name: version for name, (version, _) in theirs.items()}
    assert "tzdata" in theirs


def test_the_linux_x86_64_python_311_pyz_runs_here(built: Path) -> None:
    if not (sys.platform == "linux" and os.uname().machine == "x86_64" and sys.version_info[:2] == (3, 11)):
        pytest.skip("runs on an x86_64 Linux machine with CPython 3.11")
    out = run_pyz(built / "stack-1.0-cp311-cp311-manylinux_2_28_x86_64.pyz")
    assert "pillow" in out and "(255, 0, 0)" in out
    assert "psycopg" in out and " binary libpq " in out
    assert "python 3.11" in out
