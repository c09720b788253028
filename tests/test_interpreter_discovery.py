"""Finding a Python of a target's version to compile bytecode: every `pythonX.Y` on PATH is tried, and a build that
finds none says why each was not one (a pyenv shim exiting 127, another version, ...). `HATCH_ZIPAPP_TARGETS` keeps the
`interpreter` of a configured target it names. The candidates are real scripts on a PATH made in tmp_path."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from hatch_zipapp.builder import ZipappBuilder
from hatch_zipapp.config import ZipappBuilderConfig
from hatch_zipapp.errors import ConfigError
from hatch_zipapp.layout import PyzReader
from tests.helpers import IndexServer, build, make_project, make_wheel, pylock_text

HERE = f"{sys.version_info.major}.{sys.version_info.minor}"
OTHER = "3.14" if HERE != "3.14" else "3.13"  # a version no candidate of these tests is
CACHE_TAG = sys.implementation.cache_tag


def _script(directory: Path, name: str, body: str, *, executable: bool = True) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755 if executable else 0o644)
    return path


def _shim(directory: Path, version: str) -> Path:
    """What pyenv's shim does for a version that is not installed (or not selected)."""
    return _script(
        directory,
        f"python{version}",
        f"echo 'pyenv: python{version}: command not found' >&2\necho >&2\n"
        f'echo "The \\`python{version}\' command exists in these Python versions:" >&2\nexit 127\n',
    )


def _python(directory: Path, name: str, log: Path | None = None) -> Path:
    """This interpreter under another name (and a line in ``log`` each time it runs)."""
    logging = f'echo "$0" >> "{log}"\n' if log else ""
    return _script(directory, name, f'{logging}exec "{sys.executable}" "$@"\n')


@pytest.fixture
def project(tmp_path: Path, wheelhouse: Path, index: IndexServer) -> Path:
    alpha = make_wheel(wheelhouse, "alpha", "1.0")
    project = make_project(tmp_path / "p", dependencies=["alpha"])
    (project / "pylock.toml").write_text(pylock_text([[alpha]], base_url=index.url))
    return project


def _targets(project: Path, *tables: str) -> Path:
    pyproject = project / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + f"targets = [{', '.join(tables)}]\n")
    return project


def _pycs(pyz: Path) -> list[str]:
    with PyzReader(pyz) as archive:
        return [name for name in archive.namelist() if name.endswith(".pyc")]


def _warning(err: str) -> str:
    (line,) = [line for line in err.splitlines() if "to compile bytecode" in line]
    return line


class TestDiscovery:
    def test_each_rejected_candidate_with_its_reason(
        self, project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        shim = _shim(tmp_path / "shims", OTHER)
        unrunnable = _script(tmp_path / "broken", f"python{OTHER}", "exit 0\n", executable=False)
        wrong = _python(tmp_path / "bin", f"python{OTHER}")
        monkeypatch.setenv("PATH", os.pathsep.join(str(p.parent) for p in (shim, unrunnable, wrong)))
        pyz = build(_targets(project, f'{{ python = "{OTHER}", platform = "manylinux_2_28_x86_64" }}'))
        assert _pycs(pyz) == []
        assert _warning(capsys.readouterr().err) == (
            f"No Python {OTHER} found to compile bytecode for CPython {OTHER} on manylinux_2_28_x86_64: "
            f"{shim} exited with status 127 (pyenv: python{OTHER}: command not found); "
            f"{unrunnable} is not executable; "
            f"{wrong} is CPython {HERE}, not CPython {OTHER}. "
            f"The .pyz compiles it at its first start instead. To fix: give the target an `interpreter` "
            f"(a CPython {OTHER}), or put a working python{OTHER} on PATH; `bytecode = false` silences this"
        )

    def test_none_on_path(
        self, project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        (tmp_path / "empty").mkdir()
        monkeypatch.setenv("PATH", os.fspath(tmp_path / "empty"))
        build(_targets(project, f'{{ python = "{OTHER}", platform = "manylinux_2_28_x86_64" }}'))
        assert f": no python{OTHER} in any directory of PATH. The .pyz compiles" in _warning(capsys.readouterr().err)

    def test_a_shim_first_on_path_does_not_hide_a_python_after_it(
        self, project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        shim = _shim(tmp_path / "shims", HERE)
        log = tmp_path / "ran.log"
        python = _python(tmp_path / "bin", f"python{HERE}", log)
        monkeypatch.setenv("PATH", os.pathsep.join([str(shim.parent), str(python.parent)]))
        pyz = build(_targets(project, f'{{ python = "{HERE}", platform = "musllinux_1_2_aarch64" }}'))
        assert f"site-packages/alpha/__pycache__/__init__.{CACHE_TAG}.pyc" in _pycs(pyz)
        assert "to compile bytecode" not in capsys.readouterr().err
        assert str(python) in log.read_text()

    def test_a_configured_interpreter_that_is_a_shim(self, project: Path, tmp_path: Path) -> None:
        shim = _shim(tmp_path / "shims", HERE)
        spec = f'{{ python = "{HERE}", platform = "musllinux_1_2_aarch64", interpreter = "{shim}" }}'
        expected = (
            f"The `interpreter` of target CPython {HERE} on musllinux_1_2_aarch64 '{shim}' cannot compile bytecode: "
            f"it exited with status 127 (pyenv: python{HERE}: command not found). Point it at a CPython {HERE}, or "
            "set `bytecode = false`"
        )
        with pytest.raises(ConfigError) as info:
            build(_targets(project, spec))
        assert str(info.value) == expected


class TestTargetsVariableKeepsTheConfiguredOptions:
    def test_the_interpreter_of_a_target_it_names_compiles(
        self, project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """No python3.X on PATH: only the configured `interpreter` can compile, and it does."""
        log = tmp_path / "ran.log"
        python = _python(tmp_path / "configured", "python", log)
        (tmp_path / "empty").mkdir()
        monkeypatch.setenv("PATH", os.fspath(tmp_path / "empty"))
        digits = HERE.replace(".", "")
        monkeypatch.setenv("HATCH_ZIPAPP_TARGETS", f"cp{digits}-musllinux_1_2_aarch64")
        _targets(
            project,
            f'{{ python = "{HERE}", platform = "manylinux_2_28_x86_64", interpreter = "{{env:UNSET_PYTHON}}" }}',
            f'{{ python = "{HERE}", platform = "musllinux_1_2_aarch64", interpreter = "{python}" }}',
        )
        artifacts = list(ZipappBuilder(os.fspath(project)).build(directory=os.fspath(project / "dist")))
        assert [Path(a).name for a in artifacts] == [f"app-1.0-cp{digits}-cp{digits}-musllinux_1_2_aarch64.pyz"]
        assert f"site-packages/alpha/__pycache__/__init__.{CACHE_TAG}.pyc" in _pycs(Path(artifacts[0]))
        assert "to compile bytecode" not in capsys.readouterr().err
        assert str(python) in log.read_text()

    def test_its_full_python_version(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        project = make_project(
            tmp_path / "p",
            zipapp='targets = [{ python = "3.12.4", platform = "manylinux_2_28_aarch64", interpreter = "/x/python" }]',
        )
        monkeypatch.setenv("HATCH_ZIPAPP_TARGETS", "cp312-manylinux_2_28_aarch64 cp312-manylinux_2_28_x86_64")
        config = ZipappBuilder(os.fspath(project)).config
        assert isinstance(config, ZipappBuilderConfig)
        configured, other = config.targets
        assert (configured.interpreter, configured.environment["python_full_version"]) == ("/x/python", "3.12.4")
        assert (other.interpreter, other.environment["python_full_version"]) == (None, "3.12.0")
