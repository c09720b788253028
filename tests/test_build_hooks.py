"""hatchling's contract: one build version per target, build hooks around each, their ``build_data`` honoured.

Each build runs `python -m hatchling build -t zipapp` in a subprocess (hatchling's own command line, which `hatch build`
runs in its build environment), with a real custom build hook (`hatch_build.py`) in the project.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hatch_zipapp.builder import ZipappBuilder
from hatch_zipapp.layout import PyzReader
from tests.helpers import IndexServer, make_project, make_wheel, pylock_text, run_pyz, snapshot

HOST = "app-1.0-py3-none-any.pyz"  # the build host's .pyz of pure-Python wheels
EXPLICIT = "app-1.0-cp312-cp312-manylinux_2_28_x86_64.pyz"

HOOK = """\
import json
import os
from pathlib import Path

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class Hook(BuildHookInterface):
    def initialize(self, version, build_data):
        if self.target_name != "zipapp":
            return
        generated = Path(self.root) / "generated"
        generated.mkdir(exist_ok=True)
        (generated / "stamp.py").write_text(f"VALUE = {('generated for ' + version)!r}\\n")
        build_data["force_include"][str(generated / "stamp.py")] = "app/stamp.py"
        for key, value in json.loads(os.environ.get("HOOK_SETS", "{}")).items():
            build_data[key] = value
        if version == os.environ.get("HOOK_FAILS_FOR"):
            raise RuntimeError("the hook fails")

    def finalize(self, version, build_data, artifact_path):
        with open(Path(self.root) / "finalized.jsonl", "a") as log:
            seen = {"target": self.target_name, "version": version, "artifact": artifact_path}
            log.write(json.dumps({**seen, "exists": os.path.isfile(artifact_path)}) + "\\n")
"""


@pytest.fixture
def project(tmp_path: Path, wheelhouse: Path, index: IndexServer) -> Path:
    """Version from `src/app/__init__.py` (hatchling's `regex` version source), a zipapp-only custom hook."""
    alpha = make_wheel(wheelhouse, "alpha", "1.0")
    project = make_project(tmp_path / "project", dependencies=["alpha"], zipapp="bytecode = false")
    text = (project / "pyproject.toml").read_text()
    text = text.replace('version = "1.0"', 'dynamic = ["version"]')
    text += '\n[tool.hatch.version]\npath = "src/app/__init__.py"\n\n[tool.hatch.build.targets.zipapp.hooks.custom]\n'
    (project / "pyproject.toml").write_text(text)
    (project / "src" / "app" / "__init__.py").write_text('__version__ = "1.0"\n')
    (project / "hatch_build.py").write_text(HOOK)
    (project / "pylock.toml").write_text(pylock_text([[alpha]], base_url=index.url))
    return project


def hatchling_build(project: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hatchling", "build", *args],
        cwd=project,
        env={**os.environ, "HATCH_ZIPAPP_TARGETS": "host cp312-manylinux_2_28_x86_64", **env},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def finalized(project: Path) -> list[dict[str, object]]:
    log = project / "finalized.jsonl"
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


class TestOneVersionPerTarget:
    def test_every_pyz_is_an_artifact_finalize_sees_and_force_include_reaches_each(self, project: Path) -> None:
        result = hatchling_build(project, "-t", "zipapp")
        assert result.returncode == 0, result.stderr
        dist = project / "dist"
        assert finalized(project) == [
            {"target": "zipapp", "version": "host", "artifact": os.fspath(dist / HOST), "exists": True},
            {"target": "zipapp", "version": "cp312-cp312-manylinux_2_28_x86_64", "artifact": os.fspath(dist / EXPLICIT),
             "exists": True},
        ]  # fmt: skip
        # hatchling prints every artifact it was given, each .pyz among them
        assert f"dist/{HOST}" in result.stdout + result.stderr
        assert f"dist/{EXPLICIT}" in result.stdout + result.stderr
        for name, version in [(HOST, "host"), (EXPLICIT, "cp312-cp312-manylinux_2_28_x86_64")]:
            with PyzReader(dist / name) as archive:
                stamp = archive.read("site-packages/app/stamp.py").decode()
            assert stamp == f"VALUE = 'generated for {version}'\n", name
        assert run_pyz(dist / HOST, "app.stamp").startswith("app.stamp: generated for host from site-packages")

    def test_the_version_source_names_the_pyz(self, project: Path) -> None:
        (project / "src" / "app" / "__init__.py").write_text('__version__ = "2.5"\n')
        result = hatchling_build(project, "-t", "zipapp", HATCH_ZIPAPP_TARGETS="host")
        assert result.returncode == 0, result.stderr
        pyz = project / "dist" / "app-2.5-py3-none-any.pyz"
        with PyzReader(pyz) as archive:
            assert json.loads(archive.read("hatch-zipapp.json"))["version"] == "2.5"
        assert (project / "dist" / "app-2.5-py3-none-any.whl").is_file()

    def test_one_target_by_its_version(self, project: Path) -> None:
        result = hatchling_build(project, "-t", "zipapp:cp312-cp312-manylinux_2_28_x86_64")
        assert result.returncode == 0, result.stderr
        assert sorted(p.name for p in (project / "dist").glob("*.pyz")) == [EXPLICIT]
        assert [entry["version"] for entry in finalized(project)] == ["cp312-cp312-manylinux_2_28_x86_64"]

    def test_a_later_target_failing_puts_back_what_the_earlier_one_replaced(
        self, project: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        dist = project / "dist"
        dist.mkdir()
        (dist / HOST).write_bytes(b"the previous build")
        (dist / "app-1.0-py3-none-any.whl").write_bytes(b"the previous wheel")
        before = snapshot(dist)
        # the host's .pyz is built and put in place (its finalize sees it), then the second target's hook fails
        monkeypatch.setenv("HATCH_ZIPAPP_TARGETS", "host cp312-manylinux_2_28_x86_64")
        monkeypatch.setenv("HOOK_FAILS_FOR", "cp312-cp312-manylinux_2_28_x86_64")
        with pytest.raises(RuntimeError, match="the hook fails"):
            list(ZipappBuilder(os.fspath(project)).build(directory=os.fspath(dist)))
        assert [entry["version"] for entry in finalized(project)] == ["host"]
        assert snapshot(dist) == before


class TestBuildData:
    def test_a_key_a_pyz_cannot_honour_is_an_error_naming_it(self, project: Path) -> None:
        (project / "dist").mkdir()
        before = snapshot(project / "dist")
        result = hatchling_build(project, "-t", "zipapp", HOOK_SETS='{"artifacts": ["*.so"]}')
        assert result.returncode == 1
        assert result.stderr.strip().splitlines()[-1] == (
            "hatch-zipapp: build_data['artifacts'] = ['*.so'], set by a build hook of the zipapp target (`custom`), "
            "cannot apply to a .pyz: it embeds the project's wheel as hatchling's wheel target builds it. Give the "
            "wheel target that hook (`[tool.hatch.build.hooks.NAME]` runs for both), or set 'artifacts' only when "
            '`self.target_name == "wheel"`'
        )
        assert "Traceback" not in result.stderr
        assert snapshot(project / "dist") == before

    def test_a_hook_the_wheel_runs_too_applied_its_keys_there(self, project: Path) -> None:
        text = (project / "pyproject.toml").read_text()
        (project / "pyproject.toml").write_text(
            text.replace("[tool.hatch.build.targets.zipapp.hooks.custom]", "[tool.hatch.build.hooks.custom]")
        )
        result = hatchling_build(project, "-t", "zipapp", HOOK_SETS='{"pure_python": true, "artifacts": ["*.so"]}')
        assert result.returncode == 0, result.stderr
        assert [entry["target"] for entry in finalized(project)] == ["wheel", "zipapp", "zipapp"]

    def test_a_key_is_blamed_on_the_hook_that_set_it(self, project: Path) -> None:
        """hatchling's `version` hook appends to `artifacts`: run for the wheel too, it applied there, whatever the
        zipapp target's own hook does; run for the zipapp target alone, it is the one named."""
        pyproject = project / "pyproject.toml"
        text = pyproject.read_text()
        pyproject.write_text(text + '\n[tool.hatch.build.hooks.version]\npath = "src/app/_version.py"\n')
        result = hatchling_build(project, "-t", "zipapp", HATCH_ZIPAPP_TARGETS="host")
        assert result.returncode == 0, result.stderr
        with PyzReader(project / "dist" / HOST) as archive:
            assert b"1.0" in archive.read("site-packages/app/_version.py")

        pyproject.write_text(text + '\n[tool.hatch.build.targets.zipapp.hooks.version]\npath = "src/app/_version.py"\n')
        result = hatchling_build(project, "-t", "zipapp", HATCH_ZIPAPP_TARGETS="host")
        assert result.returncode == 1
        last = result.stderr.strip().splitlines()[-1]
        assert last.startswith(
            "hatch-zipapp: build_data['artifacts'] = ['/src/app/_version.py'], set by a build hook of the zipapp "
            "target (`version`), cannot apply to a .pyz"
        ), last

    def test_dependencies_must_be_locked(self, project: Path) -> None:
        result = hatchling_build(project, "-t", "zipapp", HOOK_SETS='{"dependencies": ["alpha>=1", "beta>=2"]}')
        assert result.returncode == 1
        last = result.stderr.strip().splitlines()[-1]
        assert last.startswith(
            "hatch-zipapp: Lock file pylock.toml is stale: build_data['dependencies'] of a build hook of app asks "
            "for 'beta>=2' but the lock has no 'beta' for CPython 3."
        ), last
        assert last.endswith(
            "A lock made from `[project] dependencies` alone lacks what a hook adds: lock both together"
        ), last

    def test_force_include_outside_site_packages(self, project: Path) -> None:
        (project / "dist").mkdir()
        before = snapshot(project / "dist")
        result = hatchling_build(project, "-t", "zipapp", HOOK_SETS='{"force_include": {"hatch_build.py": "../x.py"}}')
        assert result.returncode == 1
        last = result.stderr.strip().splitlines()[-1]
        assert "build_data['force_include'] of a build hook puts" in last and "outside site-packages" in last, last
        assert snapshot(project / "dist") == before
