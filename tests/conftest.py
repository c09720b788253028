from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import IndexServer, build, make_project, make_wheel, pylock_text
from tests.servers import Built

_PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test gets its own download cache and extraction root, and no proxy from the machine."""
    monkeypatch.setenv("HATCH_ZIPAPP_CACHE_DIR", os.fspath(tmp_path / "cache"))
    monkeypatch.setenv("SHIV_ROOT", os.fspath(tmp_path / "shiv-root"))
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    for name in _PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)


@pytest.fixture
def wheelhouse(tmp_path: Path) -> Path:
    path = tmp_path / "wheelhouse"
    path.mkdir()
    return path


@pytest.fixture
def index(wheelhouse: Path) -> Iterator[IndexServer]:
    server = IndexServer(wheelhouse)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def pyz(tmp_path: Path, wheelhouse: Path, index: IndexServer) -> Path:
    """A built .pyz of a project that depends on one tiny locked wheel (`alpha`), served from 127.0.0.1."""
    alpha = make_wheel(wheelhouse, "alpha", "1.0")
    project = make_project(tmp_path / "p", dependencies=["alpha"])
    (project / "pylock.toml").write_text(pylock_text([[alpha]], base_url=index.url))
    return build(project)


@pytest.fixture(scope="session")
def server_builds(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """The example site built once per server it can run (tests/servers.py), shared by every module of the run."""
    return Built(tmp_path_factory.mktemp("servers"))
