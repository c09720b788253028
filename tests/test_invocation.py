"""Every way of starting a .pyz works, cold and warm, with ``ZIPAPP_INFO=1`` too: through its shebang from its own
directory, by an interpreter, through ``..``, ``.`` and ``//`` in the path, by absolute path, through a relative and
an absolute symlink (``current.pyz -> releases/…``), found on ``PATH``, under a path with spaces and non-ASCII
characters, and from a read-only directory. One build per kind (a plain app, the Django site), many runs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers import IndexServer, build, make_project, make_wheel, pylock_text, snapshot

FIXTURE = Path(__file__).parent.parent / "fixtures" / "mysite"


@dataclass(frozen=True)
class Way:
    """One way of starting the .pyz: the command, from where, with what on PATH."""

    name: str
    argv: list[str]
    cwd: Path
    path: str | None = None  # a directory to put first on PATH


def _ways(pyz: Path, base: Path) -> list[Way]:
    """Copies and links of ``pyz`` under ``base`` and the commands that start them."""
    name = pyz.name
    releases = base / "releases"
    releases.mkdir()
    shutil.copy2(pyz, releases / name)
    (base / "elsewhere").mkdir()
    (base / "current.pyz").symlink_to(f"releases/{name}")  # the deploy pattern
    (base / "absolute.pyz").symlink_to(releases / name)
    odd = base / "with space" / "ünïcødé ü"
    odd.mkdir(parents=True)
    shutil.copy2(pyz, odd / name)
    read_only = base / "read-only"
    read_only.mkdir()
    shutil.copy2(pyz, read_only / name)
    read_only.chmod(0o555)
    return [
        Way("./x.pyz", [f"./{name}"], releases),
        Way("python ./x.pyz", [sys.executable, f"./{name}"], releases),
        Way("../d/x.pyz", [f"../releases/{name}"], base / "elsewhere"),
        Way("d/./x.pyz", [f"releases/./{name}"], base),
        Way("d//x.pyz", [f"releases//{name}"], base),
        Way("/abs//d/../d/x.pyz", [f"{base}//releases/../releases/{name}"], base / "elsewhere"),
        Way("absolute path", [os.fspath(releases / name)], base / "elsewhere"),
        Way("relative symlink", ["./current.pyz"], base),
        Way("absolute symlink", [os.fspath(base / "absolute.pyz")], base / "elsewhere"),
        Way("relative symlink by an interpreter", [sys.executable, "current.pyz"], base),
        Way("on PATH", [name], base / "elsewhere", path=os.fspath(releases)),
        Way("spaces and non-ASCII", [f"./{name}"], odd),
        Way("read-only directory", [f"./{name}"], read_only),
    ]


def _run(way: Way, root: Path, args: list[str], **extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in {"SHIV_ROOT", "ZIPAPP_ROOT", "ZIPAPP_INFO"}}
    env.update({"ZIPAPP_ROOT": os.fspath(root), **extra})
    if way.path:
        env["PATH"] = way.path + os.pathsep + env.get("PATH", "")
    return subprocess.run(
        [*way.argv, *args], cwd=way.cwd, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def _matrix(pyz: Path, base: Path, args: list[str], expected: str) -> None:
    """Each way: ZIPAPP_INFO=1 (before any extraction: it creates none), cold (it extracts), warm (it reuses)."""
    ways = _ways(pyz, base)
    read_only = snapshot(base / "read-only")
    failures = []
    for number, way in enumerate(ways):
        root = base / "roots" / str(number)
        info = _run(way, root, [], ZIPAPP_INFO="1")
        if info.returncode != 0 or json.loads(info.stdout or "{}").get("project") is None or root.exists():
            failures.append(f"{way.name} with ZIPAPP_INFO=1: exit {info.returncode}, {info.stderr.strip()[-300:]}")
            continue
        for state in ("cold", "warm"):
            before = sorted(p.name for p in root.iterdir()) if root.exists() else []
            result = _run(way, root, args)
            if result.returncode != 0 or expected not in result.stdout + result.stderr:
                failures.append(f"{way.name} ({state}): exit {result.returncode}, {result.stderr.strip()[-300:]}")
                break
            extracted = [p for p in sorted(root.iterdir()) if not p.name.startswith(".")]
            if len(extracted) != 1 or (state == "warm" and sorted(p.name for p in root.iterdir()) != before):
                failures.append(f"{way.name} ({state}): extractions {extracted}")
    assert not failures, "\n".join(failures)
    assert snapshot(base / "read-only") == read_only  # nothing written beside the .pyz


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A plain app with one dependency, built once for the module (hermetic: a local index)."""
    tmp = tmp_path_factory.mktemp("plain")
    wheelhouse = tmp / "wheelhouse"
    alpha = make_wheel(wheelhouse, "alpha", "1.0")
    server = IndexServer(wheelhouse)
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("HATCH_ZIPAPP_CACHE_DIR", os.fspath(tmp / "cache"))
            project = make_project(tmp / "p", dependencies=["alpha"])
            (project / "pylock.toml").write_text(pylock_text([[alpha]], base_url=server.url))
            pyz = build(project)
    finally:
        server.stop()
    return pyz


@pytest.fixture
def base(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "where"
    (tmp_path / "where" / "read-only").chmod(0o755)  # so that pytest can remove it


def test_every_way_of_starting_a_plain_app(plain: Path, base: Path) -> None:
    base.mkdir()
    _matrix(plain, base, ["alpha"], "alpha: alpha 1.0 from site-packages\napp ok")


@pytest.fixture(scope="module")
def django_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("mysite")
    project = shutil.copytree(FIXTURE, tmp / "mysite", ignore=shutil.ignore_patterns("dist", "db.sqlite3"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HATCH_ZIPAPP_CACHE_DIR", os.fspath(tmp / "cache"))
        patch.setenv("SECRET_KEY", "build-only")
        return build(project)


@pytest.mark.network
def test_every_way_of_starting_the_django_site(django_site: Path, base: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    base.mkdir()
    monkeypatch.setenv("SECRET_KEY", "runtime-secret")
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{base / 'db.sqlite3'}")
    _matrix(django_site, base, ["check"], "System check identified no issues")
