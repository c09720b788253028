"""Paths that do not exist yet: a check that runs only on a directory already there is no check. An extraction root,
the build cache and `systemd -o` named where nothing exists yet, one to three levels deep: made (with their modes),
or refused for an unsafe directory above them, exactly as when they exist."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from hatch_zipapp.__main__ import main as cli
from hatch_zipapp.cache import Cache
from hatch_zipapp.errors import CacheError
from tests.helpers import small_pyz, umask

#: A group the building user is not in.
OTHER_GID = 4242


@pytest.fixture(scope="module")
def pyz(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    with small_pyz(tmp_path_factory.mktemp("not-yet")) as built:
        yield built


def _run(pyz: Path, root: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in {"SHIV_ROOT", "ZIPAPP_ROOT", "CACHE_DIRECTORY"}}
    return subprocess.run(
        [os.fspath(pyz), "alpha"], env={**env, "ZIPAPP_ROOT": os.fspath(root)}, capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip


def _levels(base: Path, depth: int) -> list[Path]:
    return [base.joinpath(*[f"l{i}" for i in range(n + 1)]) for n in range(depth)]


class TestExtractionRoot:
    def test_a_root_three_levels_deep_is_made_private_and_used(self, pyz: Path, tmp_path: Path) -> None:
        levels = _levels(tmp_path / "new", 3)
        with umask(0):
            result = _run(pyz, levels[-1])
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith("alpha: alpha 1.0 from site-packages")
        assert [oct(level.stat().st_mode & 0o7777) for level in levels] == [oct(0o700)] * 3
        (extraction,) = [p.name for p in levels[-1].iterdir() if not p.name.startswith(".")]
        assert extraction.startswith("app_")

    @pytest.mark.parametrize("depth", [1, 3])
    def test_below_an_unsafe_directory_it_is_one_line_and_nothing_runs(
        self, pyz: Path, tmp_path: Path, depth: int
    ) -> None:
        unsafe = tmp_path / "unsafe"
        unsafe.mkdir()
        unsafe.chmod(0o777)
        root = _levels(unsafe, depth)[-1]
        result = _run(pyz, root)
        assert result.returncode == 1 and result.stdout == ""
        assert result.stderr == (
            f"{pyz.name}: {unsafe} is unsafe: it is writable by group or others (mode 0777), so another user could "
            f"replace {root}. Use another directory\n"
        )
        assert not root.exists() or not any(root.iterdir())  # (its missing levels are made before the check)


class TestBuildCache:
    """The cache is checked from / down before anything is built, when it is missing too: down to the last
    directory that exists."""

    @pytest.mark.parametrize("depth", [1, 2, 3])
    @pytest.mark.parametrize("kind", ["others", "group"])
    def test_a_missing_cache_below_an_unsafe_directory_is_refused(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, depth: int, kind: str
    ) -> None:
        unsafe = tmp_path / "unsafe"
        unsafe.mkdir()
        if kind == "others":
            unsafe.chmod(0o757)
            why = "it is writable by others (mode 0757)"
        else:
            if os.geteuid() != 0:
                pytest.skip("a directory of another group takes root (as in CI)")
            os.chown(unsafe, -1, OTHER_GID)
            unsafe.chmod(0o775)
            why = f"it is writable by group {OTHER_GID} (mode 0775)"
        cache = _levels(unsafe, depth)[-1]
        monkeypatch.setenv("HATCH_ZIPAPP_CACHE_DIR", os.fspath(cache))
        with pytest.raises(CacheError) as info:
            Cache.default()
        assert str(info.value) == (
            f"Refusing to use the build cache {cache}: {unsafe} could have been written by another user ({why}), "
            "who could then replace the cache, and whatever the cache returns is embedded in the .pyz. Run "
            f"`chmod go-w {unsafe}`, or use a directory of your own (HATCH_ZIPAPP_CACHE_DIR=DIR)"
        )
        assert not unsafe.joinpath("l0").exists()

    def test_a_missing_cache_below_safe_directories_is_fine(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        group = tmp_path / "group"
        group.mkdir()
        group.chmod(0o775)  # writable by the user's own group: allowed
        monkeypatch.setenv("HATCH_ZIPAPP_CACHE_DIR", os.fspath(_levels(group, 3)[-1]))
        assert Cache.default().root == _levels(group, 3)[-1]
        assert not group.joinpath("l0").exists()  # checking makes nothing


class TestUnitsOutput:
    def test_systemd_writes_into_a_directory_three_levels_deep(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        output = _levels(tmp_path / "units", 3)[-1]
        assert cli(["systemd", "--name", "site", "--pyz", "/srv/site/current.pyz", "-o", os.fspath(output)]) == 0
        assert (output / "site.service").is_file()
        assert f"hatch-zipapp systemd: wrote {output / 'site.service'}" in capsys.readouterr().out
