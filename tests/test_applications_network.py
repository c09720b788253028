"""Real command-line applications from the package index as .pyz files of wrapper projects (no code of their own,
`bypass-selection`), locked by `hatch-zipapp lock` (uv):

- black with blackd (`black[d]`): one .pyz, both programs, through every route: its own name, a symbolic link, a
  hard link, `cd` into the links' directory, `ZIPAPP_SCRIPT`, `SHIV_CONSOLE_SCRIPT`; links made by `hatch-zipapp links`;
- pre-commit (a tool that re-runs its interpreter) with `reexec = true`: a `sys.executable -m pip --version` child
  uses the .pyz's pip; `pre-commit run` creates a hook environment (`sys.executable -mvirtualenv`, then pip installs
  the hook's `additional_dependencies`) that sees its own packages and not the .pyz's; a git hook that calls the link
  (not `sys.executable`) runs on `git commit`.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import build

pytestmark = pytest.mark.network

BLACK = "26.10.1"
PRE_COMMIT = "4.7.0"
PIP = "26.3"
SIX = "1.17.0"


def _wrapper(root: Path, name: str, dependencies: list[str], zipapp: str, cache: Path) -> Path:
    """A wrapper project locked with `hatch-zipapp lock` and built: its .pyz."""
    project = root / name
    project.mkdir(parents=True)
    deps = ", ".join(f'"{d}"' for d in dependencies)
    (project / "pyproject.toml").write_text(
        f"""\
[build-system]
requires = ["hatchling", "hatch-zipapp"]
build-backend = "hatchling.build"

[project]
name = "{name}"
version = "1.0"
requires-python = ">=3.11"
dependencies = [{deps}]

[tool.hatch.build.targets.wheel]
bypass-selection = true

[tool.hatch.build.targets.zipapp]
{zipapp}
""",
        encoding="utf-8",
    )
    subprocess.run(
        [sys.executable, "-m", "hatch_zipapp", "lock"], cwd=project, check=True, capture_output=True, timeout=600
    )
    saved = os.environ.get("HATCH_ZIPAPP_CACHE_DIR")
    os.environ["HATCH_ZIPAPP_CACHE_DIR"] = os.fspath(cache)
    try:
        return build(project)
    finally:
        if saved is None:
            os.environ.pop("HATCH_ZIPAPP_CACHE_DIR", None)
        else:
            os.environ["HATCH_ZIPAPP_CACHE_DIR"] = saved


def run(
    command: list[str], *, env: dict[str, str] | None = None, cwd: Path | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command,
        capture_output=True,
        text=True,
        input=stdin,
        env={**os.environ, **(env or {})},
        cwd=cwd,
        timeout=600,
        check=False,
    )


# -- black and blackd ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def black(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("black")
    return _wrapper(root, "formatter", [f"black[d]=={BLACK}"], 'entry-point = "black"', root / "cache")


def test_black_does_its_work(black: Path) -> None:
    result = run([os.fspath(black), "-q", "-"], stdin="x=[1,2 ,3]\n")
    assert (result.returncode, result.stdout) == (0, "x = [1, 2, 3]\n"), result.stderr
    version = run([os.fspath(black), "--version"])
    assert version.stdout.startswith(f"{black.name}, {BLACK} (compiled: "), version


def test_every_route_to_blackd(black: Path, tmp_path: Path) -> None:
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    made = run([sys.executable, "-m", "hatch_zipapp", "links", os.fspath(black), os.fspath(bin_)])
    assert made.returncode == 0, made.stderr
    assert sorted(p.name for p in bin_.iterdir()) == ["black", "blackd"]  # black's scripts, not aiohttp's or click's
    blackd = f"blackd, version {BLACK}\n"
    assert run([os.fspath(bin_ / "blackd"), "--version"]).stdout == blackd
    assert run(["./blackd", "--version"], cwd=bin_).stdout == blackd
    path = {"PATH": f"{bin_}{os.pathsep}{os.environ['PATH']}"}
    assert run(["blackd", "--version"], env=path).stdout == blackd
    formatted = run(["black", "-q", "-"], env=path, stdin="print( 'x' )\n")
    assert formatted.stdout == 'print("x")\n', formatted.stderr
    os.link(black, tmp_path / "blackd")  # a hard link runs by its own name too
    assert run([os.fspath(tmp_path / "blackd"), "--version"]).stdout == blackd
    # chosen by a variable, the program is named as the .pyz was invoked (as shiv's SHIV_CONSOLE_SCRIPT does)
    for variable in ("ZIPAPP_SCRIPT", "SHIV_CONSOLE_SCRIPT"):
        chosen = run([os.fspath(black), "--version"], env={variable: "blackd"})
        assert chosen.stdout == f"{black.name}, version {BLACK}\n", chosen.stderr
    unknown = run([os.fspath(black)], env={"ZIPAPP_SCRIPT": "blak"})
    assert unknown.returncode == 1 and len(unknown.stderr.splitlines()) == 1
    assert unknown.stderr.startswith(f"{black.name}: $ZIPAPP_SCRIPT='blak' is not a console script of this .pyz; ")
    assert "; it has: black, blackd" in unknown.stderr  # and the dependencies' (idna)


# -- pre-commit: a tool that re-runs its interpreter ---------------------------------------------------------------


@pytest.fixture(scope="module")
def pre_commit(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("pre-commit")
    deps = [f"pre-commit=={PRE_COMMIT}", f"pip=={PIP}"]
    return _wrapper(root, "hooks", deps, 'entry-point = "pre-commit"\nreexec = true', root / "cache")


@pytest.fixture
def repository(tmp_path: Path) -> Iterator[tuple[Path, dict[str, str]]]:
    """A git repository with one local `language: python` hook that has `additional_dependencies`."""
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "check.py").write_text(
        "import importlib.util, sys\nimport six\n"
        "print('six', six.__version__, 'pre_commit importable:', importlib.util.find_spec('pre_commit') is not None,"
        " 'in a virtualenv:', sys.prefix != sys.base_prefix)\n"
    )
    (repo / ".pre-commit-config.yaml").write_text(
        "repos:\n- repo: local\n  hooks:\n  - id: check\n    name: check\n    entry: python check.py\n"
        f"    language: python\n    additional_dependencies: ['six=={SIX}']\n    always_run: true\n"
        "    pass_filenames: false\n    verbose: true\n"
    )
    env = {
        "PRE_COMMIT_HOME": os.fspath(tmp_path / "pre-commit-home"),
        "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org",
        "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.org",
        "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1",
    }  # fmt: skip
    for command in (["git", "init", "-q"], ["git", "add", "-A"]):
        subprocess.run(command, cwd=repo, check=True, env={**os.environ, **env}, timeout=60)
    yield repo, env


def test_a_pip_child_uses_the_pyz_s_pip(pre_commit: Path, tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text("import subprocess, sys\nsubprocess.run([sys.executable, '-m', 'pip', '--version'], timeout=60)\n")
    root = os.environ["SHIV_ROOT"]
    child = run([os.fspath(pre_commit), os.fspath(probe)], env={"SHIV_INTERPRETER": "1"})
    assert child.stdout.startswith(f"pip {PIP} from {root}/hooks_"), child.stderr
    alone = run([os.fspath(pre_commit), os.fspath(probe)], env={"SHIV_INTERPRETER": "1", "ZIPAPP_REEXEC": "0"})
    assert root not in alone.stdout + alone.stderr  # without re-exec, the child has only what the host Python has


def test_pre_commit_makes_a_hook_environment(pre_commit: Path, repository: tuple[Path, dict[str, str]]) -> None:
    repo, env = repository
    result = run([os.fspath(pre_commit), "run", "--all-files"], env=env, cwd=repo)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"six {SIX} pre_commit importable: False in a virtualenv: True" in result.stdout, result.stdout


def test_a_git_hook_calls_the_link(pre_commit: Path, repository: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    """`pre-commit install` records sys.executable, the server's Python, which cannot import pre_commit: the hook
    calls the link instead (docs/applications.md)."""
    repo, env = repository
    installed = run([os.fspath(pre_commit), "install"], env=env, cwd=repo)
    assert installed.returncode == 0, installed.stderr
    recorded = run(["git", "commit", "-q", "-m", "recorded"], env=env, cwd=repo)
    assert recorded.returncode != 0 and "No module named pre_commit" in recorded.stderr, recorded
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    assert run([sys.executable, "-m", "hatch_zipapp", "links", os.fspath(pre_commit), os.fspath(bin_)]).returncode == 0
    hook = repo / ".git" / "hooks" / "pre-commit"
    hook.write_text(
        "#!/bin/sh\n"
        f'exec {bin_}/pre-commit hook-impl --config=.pre-commit-config.yaml --hook-type=pre-commit --hook-dir "$(cd '
        '"$(dirname "$0")" && pwd)" -- "$@"\n'
    )
    committed = run(["git", "commit", "-m", "through the link"], env=env, cwd=repo)
    assert committed.returncode == 0, committed.stdout + committed.stderr
    assert f"six {SIX} pre_commit importable: False" in committed.stdout + committed.stderr
