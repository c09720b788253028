from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import IndexServer, build, make_project, make_wheel, pylock_text
from tests.servers import Built
from tests.shared import Shared, run_directory

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


@pytest.fixture
def demo_script() -> Iterator[Path]:
    """fixtures/demo.sh, for this test alone while it runs: the script works in the checkout (its `.demo/` build
    environment, which it partly removes first, and fixtures/mysite/dist), so two tests running it at once (on two
    pytest-xdist workers) would break each other. An exclusive lock on `.demo/tests.lock` makes them take turns."""
    root = Path(__file__).resolve().parent.parent
    (root / ".demo").mkdir(exist_ok=True)
    with (root / ".demo" / "tests.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield root / "fixtures" / "demo.sh"
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@pytest.fixture(scope="session")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Shared:
    """Files made once per run and shared by every pytest-xdist worker (tests/shared.py)."""
    return Shared(run_directory(tmp_path_factory, "shared"))


@pytest.fixture(scope="session")
def server_builds(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """The example site built once per server it can run (tests/servers.py), shared by every module of the run and,
    under pytest-xdist, by every worker (the first to need a build makes it, under a lock)."""
    return Built(run_directory(tmp_path_factory, "servers"))


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under pytest-xdist (tests/run.sh: `--dist loadfile --no-loadscope-reorder`), the order in which the workers
    take the modules: those that boot a systemd box first (the longest, mostly waiting on the box), then the others,
    most tests first. Every worker sorts alike (the order is the same everywhere, as xdist requires); a serial run
    keeps pytest's order."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return
    modules: dict[str, list[pytest.Item]] = {}
    for item in items:
        modules.setdefault(item.nodeid.split("::", 1)[0], []).append(item)

    def weight(name: str) -> tuple[bool, int, str]:
        tests = modules[name]
        return (not any(item.get_closest_marker("systemd") for item in tests), -len(tests), name)

    items[:] = [item for name in sorted(modules, key=weight) for item in modules[name]]
