"""End to end: `hatch build -t zipapp` in a subprocess, with hatch-zipapp installed from this checkout.

hatch creates its build environment from `[build-system] requires`, so these tests install hatchling (and
hatch-zipapp's own dependencies) from the real package index: they carry the `network` marker.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import IndexServer, copy_tree, make_project, make_wheel, pylock_text, run_pyz, sha256_file, snapshot

ROOT = Path(__file__).parent.parent
pytestmark = [pytest.mark.network, pytest.mark.slow]


@pytest.fixture(scope="session")
def checkout_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel of this checkout, in a directory that hatch's build environment installs from."""
    directory = tmp_path_factory.mktemp("find-links")
    subprocess.run(
        [sys.executable, "-m", "hatchling", "build", "-t", "wheel", "-d", os.fspath(directory)],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=300,
    )
    return directory


@pytest.fixture(scope="session")
def installer_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One package-installer cache for the session: a stale hatch-zipapp wheel from an earlier run is never reused."""
    return tmp_path_factory.mktemp("uv-cache")


def hatch_build(
    project: Path, checkout_wheel: Path, cache: Path, data_dir: Path, umask: int = 0o022
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "HATCH_DATA_DIR": os.fspath(data_dir),  # the build virtualenv lives below this
        "HATCH_CACHE_DIR": os.fspath(data_dir / "cache"),
        "UV_CACHE_DIR": os.fspath(cache),
        "PIP_CACHE_DIR": os.fspath(cache / "pip"),
        "UV_FIND_LINKS": os.fspath(checkout_wheel),
        "PIP_FIND_LINKS": os.fspath(checkout_wheel),
    }
    return subprocess.run(
        [sys.executable, "-m", "hatch", "build", "-t", "zipapp"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        preexec_fn=lambda: os.umask(umask),
    )


@pytest.fixture
def project(tmp_path: Path, wheelhouse: Path, index: IndexServer) -> Iterator[Path]:
    alpha = make_wheel(wheelhouse, "alpha", "1.0")
    beta = make_wheel(wheelhouse, "beta", "2.0")
    project = make_project(
        tmp_path / "one" / "project", dependencies=["alpha", "beta>=2"], build_requires='"hatchling", "hatch-zipapp"'
    )
    (project / "pylock.toml").write_text(pylock_text([[alpha], [beta]], base_url=index.url))
    yield project


def test_hatch_build_zipapp_then_run(
    project: Path, checkout_wheel: Path, installer_cache: Path, tmp_path: Path
) -> None:
    result = hatch_build(project, checkout_wheel, installer_cache, tmp_path / "hatch-data")
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (project / "dist").iterdir()) == [
        "app-1.0-py3-none-any.pyz",
        "app-1.0-py3-none-any.pyz.cdx.json",
        "app-1.0-py3-none-any.pyz.index",
        "app-1.0-py3-none-any.pyz.sha256",
        "app-1.0-py3-none-any.whl",
    ]
    assert "dist/app-1.0-py3-none-any.pyz" in result.stdout + result.stderr
    out = run_pyz(project / "dist" / "app-1.0-py3-none-any.pyz", "alpha", "beta")
    assert out.splitlines() == ["alpha: alpha 1.0 from site-packages", "beta: beta 2.0 from site-packages", "app ok"]


def test_same_bytes_from_another_directory_umask_time_and_build_virtualenv(
    project: Path, checkout_wheel: Path, installer_cache: Path, tmp_path: Path
) -> None:
    first = hatch_build(project, checkout_wheel, installer_cache, tmp_path / "data-a", umask=0o022)
    assert first.returncode == 0, first.stderr
    time.sleep(1.1)
    other = copy_tree(project, tmp_path / "two" / "somewhere-else" / "project")
    second = hatch_build(other, checkout_wheel, installer_cache, tmp_path / "data-b-with-a-longer-path", umask=0o077)
    assert second.returncode == 0, second.stderr
    envs = [sorted((tmp_path / d / "env").rglob("hatch-build")) for d in ("data-a", "data-b-with-a-longer-path")]
    assert envs[0] and envs[1] and envs[0] != envs[1]  # two different build virtualenv paths were used
    name = "app-1.0-py3-none-any.pyz"
    assert sha256_file(project / "dist" / name) == sha256_file(other / "dist" / name)


def test_bad_input_is_a_message_not_a_traceback(
    project: Path, checkout_wheel: Path, installer_cache: Path, tmp_path: Path
) -> None:
    text = (project / "pyproject.toml").read_text().replace('"beta>=2"', '"beta>=3"')
    (project / "pyproject.toml").write_text(text)
    (project / "dist").mkdir()
    (project / "dist" / "keep.whl").write_bytes(b"earlier")
    before = snapshot(project / "dist")
    result = hatch_build(project, checkout_wheel, installer_cache, tmp_path / "hatch-data")
    assert result.returncode != 0
    assert "hatch-zipapp: Lock file pylock.toml is stale" in result.stderr
    assert "'beta>=3'" in result.stderr and "uv pip compile" in result.stderr
    assert "Traceback" not in result.stderr
    assert snapshot(project / "dist") == before
