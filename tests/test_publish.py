"""What a release of hatch-zipapp ships (issue 27): its changelog, its workflows, its sdist and its wheel.

The sdist and the wheel are built as `python -m build` builds them, with hatchling and without build isolation (the
test environment holds hatchling already: nothing is fetched), once for the module. The sdist is unpacked, its
wheel built from it alone, and a few hermetic test files run from the unpacked tree over that wheel (the whole
suite would double CI's time: ~20 s here).
"""

from __future__ import annotations

import configparser
import email.parser
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]  # PyYAML, from mkdocs
from packaging.requirements import Requirement
from packaging.version import InvalidVersion, Version

from hatch_zipapp import __version__
from hatch_zipapp.archive import RUNTIME_MODULES
from tests.helpers import actionlint

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "hatch_zipapp"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
BIN = Path(sys.executable).parent
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.y*ml"))

#: The package's files that are not modules: the embedded Python's sh launcher (embed.py fills it in) and PEP 561's
#: marker. Everything else the wheel holds is a module (``*.py``; the runtime's are read as data by archive.py).
DATA_FILES = ("launcher.sh", "py.typed")
#: A small hermetic subset run from the unpacked sdist: a build end to end in-process and its .pyz run, the runtime's
#: modules, verify.
SDIST_TESTS = ("tests/test_build.py", "tests/test_bootstrap.py", "tests/test_verify_members.py")
HERMETIC = "not network and not slow and not systemd"
#: What never belongs in the sdist: version control, virtualenvs, build output, caches, merge and editor leftovers.
STRAY_PARTS = {".git", "__pycache__", "dist", "build", "site", ".pytest_cache", ".mypy_cache", ".ruff_cache"}
STRAY_SUFFIXES = (".pyc", ".pyo", ".orig", ".rej", ".swp", "~")


def _stray(name: str) -> bool:
    parts = name.split("/")
    return (
        any(part in STRAY_PARTS or part.startswith(".venv") for part in parts)
        or name.endswith(STRAY_SUFFIXES)
        or name.startswith("/")
        or ".." in parts
    )


def _build(kind: str, source: Path, out: Path) -> Path:
    result = subprocess.run(
        [sys.executable, "-m", "build", f"--{kind}", "--no-isolation", "--outdir", os.fspath(out), os.fspath(source)],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    (artifact,) = out.glob("*.tar.gz" if kind == "sdist" else "*.whl")
    return artifact


def _tracked(under: str = ".") -> set[str] | None:
    """The checkout's tracked files (below ``under``), or None outside a git checkout (an unpacked sdist)."""
    if not (ROOT / ".git").exists() or shutil.which("git") is None:
        return None
    listed = subprocess.run(
        # safe.directory: .ci/run runs as root on a clone another user owns (GitHub's runner)
        ["git", "-c", "safe.directory=*", "-C", os.fspath(ROOT), "ls-files", "-z", "--", under],
        capture_output=True,
        check=True,
        timeout=60,
    ).stdout
    return {name for name in listed.decode().split("\0") if name}


@pytest.fixture(scope="module")
def sdist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _build("sdist", ROOT, tmp_path_factory.mktemp("sdist"))


@pytest.fixture(scope="module")
def unpacked(sdist: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("unpacked")
    with tarfile.open(sdist) as archive:
        archive.extractall(target, filter="data")
    (tree,) = target.iterdir()
    return tree


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel as the release builds it (`hatch build`: from the checkout)."""
    return _build("wheel", ROOT, tmp_path_factory.mktemp("wheel"))


# -- the changelog ----------------------------------------------------------------------------------------------


def _changelog_sections() -> list[str]:
    return re.findall(r"^## (.+)$", (ROOT / "CHANGELOG.md").read_text(encoding="utf-8"), flags=re.MULTILINE)


def test_changelog_top_section_is_this_version_or_unreleased_above_it() -> None:
    """The top section is `Unreleased` (changes not yet in a release) or this `__version__`; the versions below are
    released ones, newest first, none newer than `__version__` (the release workflow refuses a tag whose version is
    not the top section)."""
    sections = _changelog_sections()
    assert sections, "CHANGELOG.md has no '## ' section"
    headings = [re.split(r"\s+[-—]\s+", section, maxsplit=1)[0] for section in sections]
    top, released = (headings[0], headings[1:]) if headings[0] == "Unreleased" else (None, headings)
    assert top == "Unreleased" or released[0] == __version__, (
        f"CHANGELOG.md's top section is {sections[0]!r}: it is 'Unreleased' or this version, {__version__}"
    )
    try:
        versions = [Version(heading) for heading in released]
    except InvalidVersion as error:
        raise AssertionError(f"CHANGELOG.md: a section below 'Unreleased' is not a version: {error}") from error
    assert versions == sorted(versions, reverse=True), f"CHANGELOG.md's sections are not newest first: {released}"
    assert all(version <= Version(__version__) for version in versions), (
        f"CHANGELOG.md names a version newer than __version__ {__version__}: {released}"
    )


def test_changelog_sections_use_the_four_kinds() -> None:
    text = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    kinds = set(re.findall(r"^### (.+)$", text, flags=re.MULTILINE))
    assert kinds and kinds <= {"Added", "Changed", "Fixed", "Security", "Removed", "Deprecated"}, kinds


# -- the workflows ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=[path.name for path in WORKFLOWS])
def test_workflow_passes_actionlint(workflow: Path) -> None:
    result = actionlint(workflow.relative_to(ROOT), cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


def _steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    return [step for step in job.get("steps", []) if isinstance(step, dict)]


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=[path.name for path in WORKFLOWS])
def test_workflow_run_steps_pass_shellcheck_and_called_workflows_exist(workflow: Path, tmp_path: Path) -> None:
    """What the WebAssembly actionlint does not check: each `run:` script as GitHub runs it (bash -e, `${{ ... }}`
    as a plain word) under shellcheck, and each local workflow a job calls (`uses: ./...`) is there."""
    jobs = yaml.safe_load(workflow.read_text(encoding="utf-8"))["jobs"]
    for name, job in jobs.items():
        if job.get("uses", "").startswith("./"):
            assert (ROOT / job["uses"]).is_file(), f"{workflow.name}: job {name} calls a missing {job['uses']}"
        for number, step in enumerate(_steps(job), start=1):
            if "run" not in step:
                continue
            script = tmp_path / f"{name}-{number}.sh"
            script.write_text(re.sub(r"\$\{\{.*?\}\}", "EXPRESSION", step["run"]))
            result = subprocess.run(
                [os.fspath(BIN / "shellcheck"), "--shell=bash", "--format=gcc", os.fspath(script)],
                capture_output=True,
                text=True,
                check=False,
                timeout=60,
            )
            assert result.returncode == 0, f"{workflow.name}: job {name}, step {number}: {result.stdout}"


def test_release_workflow_tests_builds_checks_and_publishes_by_trusted_publishing() -> None:
    assert ROOT / ".github" / "workflows" / "release.yml" in WORKFLOWS
    release = yaml.safe_load((ROOT / ".github" / "workflows" / "release.yml").read_text(encoding="utf-8"))
    trigger = release.get("on", release.get(True))
    assert trigger == {"push": {"tags": ["v*"]}}, trigger
    assert release["permissions"] == {"contents": "read"}
    jobs = release["jobs"]
    assert jobs["tests"]["uses"] == "./.github/workflows/tests.yml"
    tests = yaml.safe_load((ROOT / ".github" / "workflows" / "tests.yml").read_text(encoding="utf-8"))
    assert "workflow_call" in tests.get("on", tests.get(True))
    job = tests["jobs"]["tests"]
    assert job["container"]["image"] == "debian:12" and job["env"] == {"CI": "true"}
    assert [step["run"] for step in _steps(job) if "run" in step][-1] == "bash .ci/run"
    build = jobs["build"]
    assert build["needs"] == "tests"
    runs = "\n".join(step.get("run", "") for step in _steps(build))
    assert "hatch build" in runs and "twine check --strict dist/*" in runs
    publish = jobs["publish"]
    assert publish["needs"] == "build" and publish["permissions"] == {"id-token": "write"}
    (upload,) = [step for step in _steps(publish) if step.get("uses", "").startswith("pypa/gh-action-pypi-publish@")]
    assert upload["uses"] == "pypa/gh-action-pypi-publish@release/v1"
    assert upload.get("with", {}).get("attestations") is True
    assert "password" not in upload.get("with", {}), "trusted publishing: no token"
    for name, job in jobs.items():
        if name != "publish":
            assert "id-token" not in (job.get("permissions") or {}), f"only the publish job gets an OIDC token: {name}"


# -- the sdist --------------------------------------------------------------------------------------------------


def _sdist_names(sdist: Path) -> list[str]:
    with tarfile.open(sdist) as archive:
        members = archive.getmembers()
    top = f"hatch_zipapp-{__version__}/"
    assert all(member.name.startswith(top) for member in members), [m.name for m in members][:5]
    return sorted(member.name.removeprefix(top) for member in members if member.isfile())


def test_sdist_holds_the_tests_fixtures_docs_and_no_stray_file(sdist: Path) -> None:
    names = _sdist_names(sdist)
    for directory in ("src/hatch_zipapp/", "tests/", "fixtures/", "docs/"):
        assert any(name.startswith(directory) for name in names), f"the sdist has no {directory}"
    for file in ("CHANGELOG.md", "LICENSE", "README.md", "pyproject.toml", "PKG-INFO", *SDIST_TESTS):
        assert file in names, f"the sdist has no {file}"
    assert [name for name in names if _stray(name)] == [], "strays in the sdist"
    tracked = _tracked()
    if tracked is None:  # an unpacked sdist: the patterns above are the check
        return
    assert tracked - set(names) == set(), "tracked files missing from the sdist"
    # hatchling ships what .gitignore does not exclude, tracked or not: on CI's fresh clone the sdist is exactly the
    # tracked files (an untracked one there was left by the build or a test, and would ship); in a working copy, the
    # files not committed yet are expected.
    untracked = set(names) - tracked - {"PKG-INFO"}
    if os.environ.get("CI"):
        assert untracked == set(), "untracked files would ship: commit them, or ignore them in .gitignore"


def test_sdist_and_wheel_pass_twine_check(sdist: Path, wheel: Path) -> None:
    """release.yml's `twine check --strict` (metadata PyPI accepts, a README it renders) passes before a tag."""
    result = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", os.fspath(sdist), os.fspath(wheel)],
        capture_output=True,
        text=True,
        env={**os.environ, "NO_COLOR": "1"},
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("PASSED") == 2, result.stdout


def test_sdist_changelog_is_the_checkouts(unpacked: Path) -> None:
    assert (unpacked / "CHANGELOG.md").read_bytes() == (ROOT / "CHANGELOG.md").read_bytes()


@pytest.mark.slow
def test_sdist_builds_the_wheel_and_passes_hermetic_tests_alone(unpacked: Path, wheel: Path, tmp_path: Path) -> None:
    """The wheel built from the unpacked sdist alone is the release's wheel, member for member; SDIST_TESTS run from
    the unpacked tree import hatch-zipapp from that wheel (first on PYTHONPATH), not from this checkout."""
    built = _build("wheel", unpacked, tmp_path / "dist")
    with zipfile.ZipFile(built) as one, zipfile.ZipFile(wheel) as other:
        assert sorted(one.namelist()) == sorted(other.namelist())
        one.extractall(tmp_path / "site")  # noqa: S202  # this project's own wheel, its names checked by the wheel test
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PYTEST_", "COV_"))}
    env["PYTHONPATH"] = os.fspath(tmp_path / "site")
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    where = subprocess.run(
        [sys.executable, "-c", "import hatch_zipapp, tests; print(hatch_zipapp.__file__); print(tests.__file__)"],
        cwd=unpacked,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.split()
    assert where == [
        os.fspath(tmp_path / "site" / "hatch_zipapp" / "__init__.py"),
        os.fspath(unpacked / "tests" / "__init__.py"),
    ]
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:xdist",
            "-m",
            HERMETIC,
            *SDIST_TESTS,
        ],
        cwd=unpacked,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert re.search(r"^\d+ passed", result.stdout.splitlines()[-1]), result.stdout[-2000:]


# -- the wheel --------------------------------------------------------------------------------------------------


def _expected_package() -> set[str]:
    """The package's members by rule: every module under src/hatch_zipapp, and DATA_FILES."""
    modules = {path.relative_to(PACKAGE.parent).as_posix() for path in PACKAGE.rglob("*.py")}
    return modules | {f"hatch_zipapp/{name}" for name in DATA_FILES}


def test_the_rule_covers_the_tracked_package() -> None:
    """A data file committed to the package must be added to DATA_FILES (or the wheel test would call it a stray)."""
    tracked = _tracked("src/hatch_zipapp")
    if tracked is None:
        pytest.skip("not a git checkout: the wheel test checks the unpacked tree against the rule")
    assert {name.removeprefix("src/") for name in tracked} - _expected_package() == set()
    assert {f"src/hatch_zipapp/{name}" for name in DATA_FILES} <= tracked


def test_wheel_holds_the_package_and_nothing_else(wheel: Path) -> None:
    dist_info = f"hatch_zipapp-{__version__}.dist-info"
    metadata = {f"{dist_info}/{name}" for name in ("METADATA", "RECORD", "WHEEL", "entry_points.txt")}
    licenses = {f"{dist_info}/licenses/{name}" for name in PYPROJECT["project"]["license-files"]}
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        record = archive.read(f"{dist_info}/RECORD").decode()
    assert len(names) == len(set(names))
    expected = _expected_package() | metadata | licenses
    assert sorted(set(names) - expected) == [], "strays in the wheel"
    assert sorted(expected - set(names)) == [], "missing from the wheel"
    runtime = {f"hatch_zipapp/bootstrap/{module}.py" for module in ("__init__", *RUNTIME_MODULES)}
    assert runtime <= set(names), "the .pyz runtime's modules are all in the wheel"
    assert {"hatch_zipapp/launcher.sh", "hatch_zipapp/hooks.py", "hatch_zipapp/__main__.py"} <= set(names)
    assert sorted(row.split(",")[0] for row in record.splitlines() if row) == sorted(names)


def test_wheel_entry_points_and_metadata_are_pyprojects(wheel: Path) -> None:
    dist_info = f"hatch_zipapp-{__version__}.dist-info"
    with zipfile.ZipFile(wheel) as archive:
        entry_points = archive.read(f"{dist_info}/entry_points.txt").decode()
        metadata = email.parser.Parser().parsestr(archive.read(f"{dist_info}/METADATA").decode())
    parser = configparser.ConfigParser(delimiters=("=",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(entry_points)
    groups = {section: dict(parser[section]) for section in parser.sections()}
    project = PYPROJECT["project"]
    assert groups == {"console_scripts": project["scripts"], **project["entry-points"]}
    assert groups == {
        "console_scripts": {"hatch-zipapp": "hatch_zipapp.__main__:main"},
        "hatch": {"zipapp": "hatch_zipapp.hooks"},
    }
    assert metadata["Name"] == "hatch-zipapp" and metadata["Version"] == __version__
    assert metadata["Requires-Python"] == project["requires-python"]
    expected = {str(Requirement(dependency)) for dependency in project["dependencies"]}
    for extra, dependencies in project["optional-dependencies"].items():
        expected |= {str(Requirement(f'{dependency}; extra == "{extra}"')) for dependency in dependencies}
    assert sorted(str(Requirement(line)) for line in metadata.get_all("Requires-Dist", [])) == sorted(expected)
    assert sorted(metadata.get_all("Provides-Extra", [])) == sorted(project["optional-dependencies"])
    assert metadata["License-Expression"] == project["license"]
