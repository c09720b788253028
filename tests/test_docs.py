"""The docs are tested: every fenced block of README.md and docs/*.md is a test case (tests/docblocks.py).

- ```console: the commands run against the fixtures and print what the block shows (placeholders: `…`);
- ```toml: parses, and a `[tool.hatch.build.targets.zipapp]` table is accepted by the option validator;
- ```python: parses; a block naming a fixture's file is that file;
- ```sh / ```bash and root (`# `) console blocks: shellcheck; ```yaml: parses, a workflow passes actionlint and its
  `run:` scripts shellcheck;
- ```text and `<!-- illustration -->`: not run, by their own declaration.

Building a fixture (`hatch build -t zipapp`) needs the package index: those cases are `network`, and each fixture
is built once per session (tests/docblocks.py `BuildMemo`).
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]  # PyYAML, from mkdocs

from hatch_zipapp.builder import ZipappBuilder
from hatch_zipapp.config import ZipappBuilderConfig
from tests.docblocks import (
    CHECKOUT_IGNORE,
    ROOT,
    Block,
    BuildMemo,
    Scenario,
    blocks,
    compare,
    console_commands,
    root_commands,
)
from tests.helpers import actionlint

BIN = Path(sys.executable).parent
KNOWN_LANGS = {"console", "text", "toml", "python", "sh", "bash", "yaml"}
_NEEDS_INDEX = re.compile(r"(?<![\w-])(?:uv|uvx|hatch|pipx|pip|curl)(?![\w-])")
ALL = list(blocks())


def _params(lang: str, *, network: bool = False) -> list[Any]:
    return [
        pytest.param(block, id=block.id, marks=[pytest.mark.network] if network and _network(block) else [])
        for block in ALL
        if block.lang == lang
    ]


def _network(block: Block) -> bool:
    if block.marker.fixture != "empty":
        return True
    try:
        return any(_NEEDS_INDEX.search(command.text) for command in console_commands(block))
    except ValueError:  # not a console block of commands: the test says so
        return False


# -- the site ---------------------------------------------------------------------------------------------------


def test_mkdocs_build_strict(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "site" / "deployment" / "index.html").is_file()


def test_every_page_is_in_the_nav() -> None:
    nav = (ROOT / "mkdocs.yml").read_text()
    for page in sorted((ROOT / "docs").glob("*.md")):
        assert f": {page.name}" in nav, page.name


def test_every_block_says_what_it_is() -> None:
    """A block of an unknown kind would be no test case at all: each is one of the kinds this module tests."""
    unknown = [f"{block.id} ```{block.lang}" for block in ALL if block.lang not in KNOWN_LANGS]
    assert not unknown, f"give these blocks one of {sorted(KNOWN_LANGS)}: {unknown}"
    for block in ALL:
        _ = block.marker  # a malformed marker fails here, naming the block


# -- ```console ---------------------------------------------------------------------------------------------------


class TestCompare:
    """The one placeholder, `…`, matches what it stands for and nothing more."""

    def test_literal_lines_must_match(self) -> None:
        assert compare(["Hello, world!"], "Hello, world!\n") is None
        assert compare(["Hello, world!"], "Hello, there!\n") is not None
        assert compare(["Hello, world!"], "Hello, world!\nmore\n") is not None
        assert compare([], "anything\n") is not None
        assert compare([], "") is None

    def test_inside_a_line_it_stays_on_that_line(self) -> None:
        assert compare(["Wheel: …/dist/x.whl"], "Wheel: /tmp/a/b/dist/x.whl\n") is None
        assert compare(["Wheel: …/dist/x.whl"], "Wheel: /tmp\n/dist/x.whl\n") is not None
        assert compare(["CPython 3.… on …: 2 locked"], "CPython 3.11 on linux: 3 locked\n") is not None

    def test_alone_it_matches_any_number_of_lines(self) -> None:
        assert compare(["start", "…", "end"], "start\nend\n") is None
        assert compare(["start", "…", "end"], "start\na\nb\nend\n") is None
        assert compare(["start", "…", "end"], "start\na\nb\n") is not None

    def test_regex_characters_are_literal(self) -> None:
        assert compare(["a.b (c) [d]"], "a.b (c) [d]\n") is None
        assert compare(["a.b (c) [d]"], "axb (c) [d]\n") is not None


@pytest.fixture(scope="session")
def docs_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The environment the docs' commands run in: this checkout's hatch-zipapp offered to hatch's build env.

    A fresh machine's state for everything the commands write (a home, hatch's data, the download cache, the
    extraction root); a checkout in ~/src/hatch-zipapp and a wheel of it offered through find-links, as
    docs/installation.md tells; COLUMNS=80, what hatch uses when its output is not a terminal.
    """
    base = tmp_path_factory.mktemp("docs-env")
    wheels = base / "wheels"
    subprocess.run(
        [sys.executable, "-m", "hatchling", "build", "-t", "wheel", "-d", os.fspath(wheels)],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=120,
    )
    home = base / "home"
    checkout = home / "src" / "hatch-zipapp"  # where docs/installation.md has it
    shutil.copytree(ROOT, checkout, ignore=shutil.ignore_patterns(*CHECKOUT_IGNORE))
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("HATCH_", "SHIV_", "ZIPAPP_", "PYTEST_", "UV_", "PIP_", "VIRTUAL_ENV", "XDG_"))
        and name.lower() not in {"http_proxy", "https_proxy", "all_proxy", "no_proxy", "source_date_epoch"}
        and name not in {"COLUMNS", "LINES", "PYTHONPATH", "DJANGO_SETTINGS_MODULE", "SECRET_KEY", "DATABASE_URL"}
    }
    env.update(
        HOME=os.fspath(home),  # what `uv tool install` writes lands here, not in the machine's home
        PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        COLUMNS="80",
        HATCH_DATA_DIR=os.fspath(base / "hatch"),
        HATCH_CACHE_DIR=os.fspath(base / "hatch-cache"),
        UV_CACHE_DIR=os.fspath(base / "uv-cache"),
        PIP_CACHE_DIR=os.fspath(base / "pip-cache"),
        UV_FIND_LINKS=os.fspath(wheels),
        PIP_FIND_LINKS=os.fspath(wheels),
        HATCH_ZIPAPP_CACHE_DIR=os.fspath(base / "hatch-zipapp-cache"),
        SHIV_ROOT=os.fspath(base / "extracted"),
    )
    return env


@pytest.fixture(scope="session")
def memo(tmp_path_factory: pytest.TempPathFactory) -> BuildMemo:
    return BuildMemo(tmp_path_factory.mktemp("builds"))


@pytest.fixture(scope="session")
def scenarios(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[dict[tuple[str, str], Scenario]]:
    made: dict[tuple[str, str], Scenario] = {}
    yield made
    for scenario in made.values():
        scenario.close()


def scenario_key(block: Block) -> tuple[str, str]:
    """The blocks of a page that start from the same fixture share one directory."""
    marker = block.marker
    return (block.page, marker.fixture if not marker.built else f"{marker.fixture}+built")


def scenario_for(
    block: Block, scenarios: dict[tuple[str, str], Scenario], env: dict[str, str], memo: BuildMemo, base: Path
) -> Scenario:
    marker = block.marker
    key = scenario_key(block)
    if key in scenarios:
        return scenarios[key]
    directory = base / re.sub(r"\W", "-", f"{block.page}-{key[1]}")
    if marker.fixture == "empty":
        (directory / "work").mkdir(parents=True)
        start = directory / "work"
    else:
        start = directory / marker.fixture
        shutil.copytree(ROOT / "fixtures" / marker.fixture, start, ignore=shutil.ignore_patterns("dist", ".venv"))
    # Each fixture's pages share one download cache: what a page shows (`Downloaded 2 files`) does not depend on
    # which other project's pages ran before it (the formatter and the hello app both lock click).
    cache = Path(env["HATCH_ZIPAPP_CACHE_DIR"]) / marker.fixture
    scenario = Scenario(directory, {**env, "HATCH_ZIPAPP_CACHE_DIR": os.fspath(cache)}, memo)
    scenario.cwd = start
    if marker.built:
        built = scenario.run(BuildMemo.COMMAND)
        assert built.status == 0, built.output
    scenarios[key] = scenario
    return scenario


@pytest.fixture(scope="session")
def scenario_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("scenarios")


CONSOLE = [
    param
    for param in _params("console", network=True)
    if not param.values[0].marker.illustration and root_commands(param.values[0]) is None
]


@pytest.mark.parametrize("block", CONSOLE)
def test_console_block(
    block: Block,
    scenarios: dict[tuple[str, str], Scenario],
    docs_env: dict[str, str],
    memo: BuildMemo,
    scenario_base: Path,
) -> None:
    """Each command runs and prints what the block shows; the blocks of a page run in order, in one directory."""
    scenario = scenario_for(block, scenarios, docs_env, memo, scenario_base)
    page_blocks = [b for b in ALL if b.page == block.page and b.line < block.line]
    for earlier in page_blocks:  # this block's state is what the earlier blocks of its scenario left
        if scenario_key(earlier) != scenario_key(block) or earlier.marker.illustration:
            continue
        if earlier.lang == "console" and not root_commands(earlier):
            scenario.run_block(earlier)
        elif earlier.lang != "console" and (earlier.file_name or earlier.appended_to) and earlier.comment is None:
            scenario.paste(earlier)  # a file of the reader's own project, in the empty scenario
    commands = console_commands(block)
    assert commands, f"{block.id}: a console block with no `$ ` command; make it ```text"
    results = scenario.run_block(block)
    for index, (command, result) in enumerate(zip(commands, results, strict=True)):
        expected_status = block.marker.last_exit if index == len(commands) - 1 else 0
        difference = compare(command.expected, result.output)
        assert difference is None, f"{block.id}: `{command.text}` printed something else:\n{difference}"
        assert result.status == expected_status, (
            f"{block.id}: `{command.text}` exited {result.status}, not {expected_status}:\n{result.output}"
        )


# -- shell ------------------------------------------------------------------------------------------------------


def shellcheck(script: str, shell: str, tmp_path: Path) -> None:
    path = tmp_path / "script.sh"
    path.write_text(script)
    result = subprocess.run(
        # SC1091: a file sourced on the server (/etc/mysite/env) is not there for the checker to read.
        [os.fspath(BIN / "shellcheck"), f"--shell={shell}", "--exclude=SC1091", "--format=gcc", os.fspath(path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("block", _params("sh") + _params("bash"))
def test_shell_block_passes_shellcheck(block: Block, tmp_path: Path) -> None:
    shellcheck(block.text, block.lang, tmp_path)


ROOT_BLOCKS = [pytest.param(block, id=block.id) for block in ALL if block.lang == "console" and root_commands(block)]


@pytest.mark.parametrize("block", ROOT_BLOCKS)
def test_root_console_block_passes_shellcheck(block: Block, tmp_path: Path) -> None:
    """Commands for root on a server are not run here; they are checked as the bash script they are."""
    shellcheck("\n".join(root_commands(block) or []) + "\n", "bash", tmp_path)


# -- yaml -------------------------------------------------------------------------------------------------------


def _is_workflow(block: Block) -> bool:
    document = yaml.safe_load(block.text)
    return isinstance(document, dict) and "jobs" in document and ("on" in document or True in document)


@pytest.mark.parametrize("block", _params("yaml"))
def test_yaml_block_parses(block: Block) -> None:
    assert isinstance(yaml.safe_load(block.text), dict | list)


@pytest.mark.parametrize("block", [p for p in _params("yaml") if _is_workflow(p.values[0])])
def test_workflow_passes_actionlint(block: Block, tmp_path: Path) -> None:
    workflow = tmp_path / ".github" / "workflows" / "build.yml"
    workflow.parent.mkdir(parents=True)
    workflow.write_text(block.text)
    result = actionlint(workflow, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("block", _params("yaml"))
def test_workflow_run_steps_pass_shellcheck(block: Block, tmp_path: Path) -> None:
    """Every `run:` script as GitHub runs it (bash -e), with `${{ ... }}` expressions as a plain word."""
    document = yaml.safe_load(block.text)
    steps = (
        document
        if isinstance(document, list)
        else [step for job in (document.get("jobs") or {}).values() for step in job.get("steps", [])]
    )
    scripts = [step["run"] for step in steps if isinstance(step, dict) and "run" in step]
    for script in scripts:
        shellcheck(re.sub(r"\$\{\{.*?\}\}", "EXPRESSION", script), "bash", tmp_path)


# -- toml -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("block", _params("toml"))
def test_toml_block(block: Block, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The block parses; its zipapp table passes the option validator in a project completed around it."""
    data = tomllib.loads(block.text)
    zipapp = data.get("tool", {}).get("hatch", {}).get("build", {}).get("targets", {}).get("zipapp")
    if block.file_name == "pyproject.toml" and block.marker.fixture != "empty":
        fixture = ROOT / "fixtures" / block.marker.fixture / "pyproject.toml"
        assert block.text == "# pyproject.toml\n" + fixture.read_text(), f"{block.id} is not {fixture}"
    if zipapp is None:
        return
    project = tmp_path / "project"
    project.mkdir()
    pyproject = block.text
    needs_script = "entry-point" not in zipapp and "django" not in zipapp
    if "project" not in data:
        script = 'scripts = {example = "example:main"}\n' if needs_script else ""
        pyproject = f'[project]\nname = "example"\nversion = "1.0"\n{script}' + pyproject
    elif needs_script and "scripts" not in data["project"]:
        pyproject += '\n[project.scripts]\nexample = "example:main"\n'
    (project / "pyproject.toml").write_text(pyproject)
    (project / str(zipapp.get("lock", "pylock.toml"))).write_text("")
    for directory in zipapp.get("wheel-dirs", []):
        (project / directory).mkdir(parents=True, exist_ok=True)
    for name in re.findall(r"\{env:(\w+)", block.text):
        monkeypatch.setenv(name, "value-from-the-test")
    config = ZipappBuilder(os.fspath(project)).config
    assert isinstance(config, ZipappBuilderConfig)
    config.validate_keys()
    _ = (config.lock, config.entry_point, config.shebang, config.index_url, config.extra_index_urls, config.wheel_dirs)
    _ = (config.targets, config.django, config.isolated, config.keep_extractions, config.bytecode)


# -- python -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("block", _params("python"))
def test_python_block(block: Block) -> None:
    ast.parse(block.text, filename=block.id)
    if block.file_name is not None and block.marker.fixture != "empty":
        fixture = ROOT / "fixtures" / block.marker.fixture / block.file_name
        assert block.text == f"# {block.file_name}\n" + fixture.read_text(), f"{block.id} is not {fixture}"
