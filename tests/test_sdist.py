"""A locked package with only a source distribution: built into a wheel, accepted only when it fits the target."""

from __future__ import annotations

from pathlib import Path

import pytest

from hatch_zipapp.errors import HashMismatchError, NoMatchingFileError
from tests.helpers import (
    IndexServer,
    build,
    make_project,
    make_sdist,
    make_wheel,
    pylock_text,
    requirements_text,
    run_pyz,
    sha256_file,
    snapshot,
)


def _project(tmp_path: Path, wheelhouse: Path, index: IndexServer, *, native: bool, zipapp: str = "") -> Path:
    legacy = make_sdist(wheelhouse, "legacy", "0.3", native=native)
    alpha = make_wheel(wheelhouse, "alpha", "1.0")
    project = make_project(tmp_path / "p", dependencies=["alpha", "legacy"], zipapp=zipapp)
    (project / "pylock.toml").write_text(pylock_text([[alpha], [legacy]], base_url=index.url))
    return project


class TestSdist:
    def test_pure_sdist_is_built_and_embedded(self, tmp_path: Path, wheelhouse: Path, index: IndexServer) -> None:
        project = _project(tmp_path, wheelhouse, index, native=False)
        out = run_pyz(build(project), "legacy")
        assert out.startswith("legacy: legacy 0.3 built from source from site-packages")

    def test_pure_sdist_fits_a_foreign_target(self, tmp_path: Path, wheelhouse: Path, index: IndexServer) -> None:
        zipapp = 'bytecode = false\ntargets = [{ python = "3.12", platform = "musllinux_1_2_aarch64" }]'
        project = _project(tmp_path, wheelhouse, index, native=False, zipapp=zipapp)
        assert build(project).name == "app-1.0-cp312-cp312-musllinux_1_2_aarch64.pyz"

    def test_native_sdist_is_accepted_for_the_host(self, tmp_path: Path, wheelhouse: Path, index: IndexServer) -> None:
        project = _project(tmp_path, wheelhouse, index, native=True)
        pyz = build(project)
        assert "linux" in pyz.name and "legacy: legacy 0.3 built from source" in run_pyz(pyz, "legacy")

    def test_native_sdist_for_a_foreign_target_is_refused(
        self, tmp_path: Path, wheelhouse: Path, index: IndexServer
    ) -> None:
        zipapp = 'bytecode = false\ntargets = [{ python = "3.12", platform = "musllinux_1_2_aarch64" }]'
        project = _project(tmp_path, wheelhouse, index, native=True, zipapp=zipapp)
        (project / "dist").mkdir()
        before = snapshot(project / "dist")
        with pytest.raises(NoMatchingFileError) as info:
            build(project)
        message = str(info.value)
        assert "legacy 0.3" in message and "CPython 3.12 on musllinux_1_2_aarch64" in message
        assert "legacy-0.3.tar.gz builds a native wheel" in message and "runner of the target's platform" in message
        assert snapshot(project / "dist") == before

    def test_built_wheel_is_cached(self, tmp_path: Path, wheelhouse: Path, index: IndexServer) -> None:
        project = _project(tmp_path, wheelhouse, index, native=False)
        first = build(project, tmp_path / "one")
        built = list((tmp_path / "cache" / "built").rglob("*.whl"))
        assert len(built) == 1
        stamp = built[0].stat().st_mtime_ns
        second = build(project, tmp_path / "two")
        assert built[0].stat().st_mtime_ns == stamp
        assert sha256_file(first) == sha256_file(second)

    def test_requirements_lock_with_only_an_sdist_on_the_index(
        self, tmp_path: Path, wheelhouse: Path, index: IndexServer
    ) -> None:
        legacy = make_sdist(wheelhouse, "legacy", "0.3")
        project = make_project(tmp_path / "p", dependencies=["legacy"])
        (project / "requirements.txt").write_text(requirements_text([[legacy]], index_url=index.simple))
        assert "built from source" in run_pyz(build(project), "legacy")

    def test_tampered_sdist_is_refused_before_building(
        self, tmp_path: Path, wheelhouse: Path, index: IndexServer
    ) -> None:
        project = _project(tmp_path, wheelhouse, index, native=False)
        index.state.tampered["legacy-0.3.tar.gz"] = b"not the locked sdist"
        with pytest.raises(HashMismatchError, match=r"Hash mismatch for legacy-0.3.tar.gz"):
            build(project)
        assert not (tmp_path / "cache" / "built").exists()


def test_built_with_pip_when_uv_is_absent(
    tmp_path: Path, wheelhouse: Path, index: IndexServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    import hatch_zipapp.sdist

    monkeypatch.setattr(hatch_zipapp.sdist, "find_uv", lambda: None)
    project = _project(tmp_path, wheelhouse, index, native=False)
    assert "built from source" in run_pyz(build(project), "legacy")
