"""Hash-based .pyc files (PEP 552) compiled into the archive by a Python of the target's version."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest

from hatch_zipapp.errors import ConfigError, ZipappError
from hatch_zipapp.layout import PyzReader
from tests.helpers import IndexServer, build, interpreters, make_project, make_wheel, pylock_text, run_pyz, sha256_file

TAG = sys.implementation.cache_tag  # cpython-311


@pytest.fixture
def project(tmp_path: Path, wheelhouse: Path, index: IndexServer) -> Path:
    alpha = make_wheel(
        wheelhouse, "alpha", "1.0", files={"alpha/__init__.py": "VALUE = 'alpha'\n", "alpha/py2.py": "print 'old'\n"}
    )
    project = make_project(tmp_path / "p", dependencies=["alpha"])
    (project / "pylock.toml").write_text(pylock_text([[alpha]], base_url=index.url))
    return project


def _with_targets(project: Path, zipapp: str) -> Path:
    text = (project / "pyproject.toml").read_text()
    (project / "pyproject.toml").write_text(text + zipapp + "\n")
    return project


class TestBytecode:
    def test_host_build_carries_checked_hash_pycs(self, project: Path, tmp_path: Path) -> None:
        pyz = build(project)
        with PyzReader(pyz) as archive:
            pyc = archive.read(f"site-packages/alpha/__pycache__/__init__.{TAG}.pyc")
            names = archive.namelist()
            environment = json.loads(archive.read("environment.json"))
        assert int.from_bytes(pyc[4:8], "little") == 0b11  # hash-based, checked
        assert f"site-packages/app/__pycache__/cli.{TAG}.pyc" in names
        assert f"site-packages/alpha/__pycache__/py2.{TAG}.pyc" not in names  # not valid Python 3: left alone
        assert environment["compile_pyc"] is False
        run_pyz(pyz, "alpha")
        extracted = next((tmp_path / "shiv-root").glob("*/site-packages/alpha/__pycache__"))
        assert (extracted / f"__init__.{TAG}.pyc").read_bytes() == pyc  # used as shipped, not recompiled

    def test_same_bytes_with_a_cold_and_a_warm_bytecode_cache(self, project: Path, tmp_path: Path) -> None:
        first = build(project, tmp_path / "one")
        shutil.rmtree(tmp_path / "cache" / "bytecode")
        second = build(project, tmp_path / "two")
        third = build(project, tmp_path / "three")
        assert sha256_file(first) == sha256_file(second) == sha256_file(third)

    def test_foreign_platform_compiled_by_an_interpreter_of_its_version(self, project: Path) -> None:
        version = f"{sys.version_info.major}.{sys.version_info.minor}"
        spec = f'python = "{version}", platform = "musllinux_1_2_aarch64", interpreter = "{sys.executable}"'
        target = f"targets = [{{ {spec} }}]"
        pyz = build(_with_targets(project, target))
        with PyzReader(pyz) as archive:
            assert f"site-packages/alpha/__pycache__/__init__.{TAG}.pyc" in archive.namelist()

    def test_without_an_interpreter_the_pyz_compiles_at_first_start(
        self, project: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        target = 'targets = [{ python = "3.14", platform = "manylinux_2_28_x86_64" }]'
        pyz = build(_with_targets(project, target))
        with PyzReader(pyz) as archive:
            assert not any(name.endswith(".pyc") for name in archive.namelist())
            assert json.loads(archive.read("environment.json"))["compile_pyc"] is True
        assert capsys.readouterr().err.count("No Python 3.14 found to compile bytecode") == 1

    def test_configured_interpreter_that_does_not_work(self, project: Path) -> None:
        spec = 'python = "3.12", platform = "musllinux_1_2_x86_64", interpreter = "/nonexistent/python3.12"'
        target = f"targets = [{{ {spec} }}]"
        with pytest.raises(
            ConfigError, match=r"interpreter` of target CPython 3.12 on musllinux_1_2_x86_64 '/nonexistent/python3.12'"
        ):
            build(_with_targets(project, target))

    def test_bytecode_false(self, project: Path) -> None:
        pyz = build(_with_targets(project, "bytecode = false"))
        with PyzReader(pyz) as archive:
            assert not any(name.endswith(".pyc") for name in archive.namelist())
            assert json.loads(archive.read("environment.json"))["compile_pyc"] is False

    def test_what_it_costs_in_size_is_documented(self, project: Path, tmp_path: Path) -> None:
        """The default makes a pure-Python .pyz larger than shiv's (the .pyc beside each source):
        docs/configuration.md's `bytecode` row says so, what it buys, and how to turn it off."""
        with_bytecode = shutil.copy2(build(project), tmp_path / "with.pyz")
        without = build(_with_targets(project, "bytecode = false"))
        assert os.path.getsize(with_bytecode) > os.path.getsize(without)
        docs = Path(__file__).parent.parent / "docs" / "configuration.md"
        row = next(line for line in docs.read_text(encoding="utf-8").splitlines() if line.startswith("| `bytecode` |"))
        for said in ("a first start that only extracts", "1.1\N{EN DASH}3.1x shiv's", "12.4 MB", "`bytecode = false`"):
            assert said in row, said

    def test_other_python_version(self, project: Path) -> None:
        """Compiled by an interpreter of another version, found on this machine (pyenv's, or python3.X on PATH).
        None found is a skip on a developer's machine, a failure in CI (``CI=true``), where it would hide the test."""
        found = _other_interpreter()
        if found is None:
            message = "no CPython 3.8 or later of another version than this one (pyenv, or python3.X on PATH)"
            if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
                pytest.fail(f"{message}: CI must run this test")
            pytest.skip(message)
        version, executable = found
        spec = f'python = "{version}", platform = "manylinux_2_28_x86_64", interpreter = "{executable}"'
        pyz = build(_with_targets(project, f"targets = [{{ {spec} }}]"))
        with PyzReader(pyz) as archive:
            pyc = archive.read(f"site-packages/alpha/__pycache__/__init__.cpython-{version.replace('.', '')}.pyc")
        assert int.from_bytes(pyc[4:8], "little") == 0b11


def _other_interpreter() -> tuple[str, str] | None:
    """A CPython 3.8+ whose version is not this one's: ("3.X", its path), the newest first."""
    here = f"{sys.version_info[0]}.{sys.version_info[1]}"
    others = [v for v in interpreters() if v != here and tuple(map(int, v.split("."))) >= (3, 8)]
    newest = max(others, key=lambda v: tuple(map(int, v.split("."))), default=None)
    return None if newest is None else (newest, interpreters()[newest])


def test_an_interpreter_that_crashes_while_compiling(project: Path, tmp_path: Path) -> None:
    """It answers the version probe, then fails: a clear error, not a CalledProcessError traceback."""
    fake = tmp_path / "python-fake"
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    fake.write_text(
        "#!/bin/sh\n"
        f'case "$*" in *MAGIC_NUMBER*) exec {sys.executable} "$@" ;; esac\n'
        "echo 'Fatal Python error: out of memory' >&2; exit 134\n"
    )
    fake.chmod(0o755)
    spec = f'python = "{version}", platform = "musllinux_1_2_aarch64", interpreter = "{fake}"'
    with pytest.raises(ZipappError, match=r"failed compiling the bytecode of .*: Fatal Python error: out of memory"):
        build(_with_targets(project, f"targets = [{{ {spec} }}]"))
