"""A newcomer follows docs/installation.md, then docs/quickstart.md, from an empty directory, exactly as written.

The commands and files are taken out of the two pages, in their order, not retyped here: each ```console block's
commands run in one shell session (what they export and where they `cd` carries on) and print what the block shows;
each block that names a file (`# pyproject.toml`, `# src/hello/cli.py`) is written there, as a reader pastes it.

The machine is fresh: an empty home with a checkout of hatch-zipapp in `~/src/hatch-zipapp` (where
installation.md has it), an empty package-installer cache, no hatch and no hatch-zipapp on `PATH` — only Python and
uv, the two prerequisites the quick start does not install — and `~/.local/bin` on `PATH`, where `uv tool install`
puts commands (as `uv tool update-shell` arranges). It needs the package index: `network`.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path

import pytest

from tests.docblocks import CHECKOUT_IGNORE, ROOT, BuildMemo, Scenario, blocks, compare, console_commands, root_commands

pytestmark = [pytest.mark.network, pytest.mark.slow]

PAGES = [ROOT / "docs" / "installation.md", ROOT / "docs" / "quickstart.md"]


def fresh_machine(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    home = tmp_path / "home"
    shutil.copytree(ROOT, home / "src" / "hatch-zipapp", ignore=shutil.ignore_patterns(*CHECKOUT_IGNORE))
    tools = tmp_path / "prerequisites"
    tools.mkdir()
    uv = shutil.which("uv", path=os.fspath(Path(sys.executable).parent)) or shutil.which("uv")
    assert uv is not None, "uv is a prerequisite of the quick start"
    (tools / "uv").symlink_to(uv)
    (tools / "uvx").symlink_to(Path(uv).with_name("uvx"))
    kept = [
        directory
        for directory in os.environ.get("PATH", "").split(os.pathsep)
        if directory
        and Path(directory).resolve() != Path(sys.executable).parent.resolve()
        and not any(Path(directory, name).exists() for name in ("hatch", "hatch-zipapp"))
    ]
    env = {
        "HOME": os.fspath(home),
        "PATH": os.pathsep.join([os.fspath(home / ".local" / "bin"), os.fspath(tools), *kept]),
        "UV_CACHE_DIR": os.fspath(tmp_path / "uv-cache"),  # an empty cache, not the machine's
        "COLUMNS": "80",
        "LANG": os.environ.get("LANG", "C.UTF-8"),
    }
    for name in ("SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "TMPDIR"):
        if name in os.environ:
            env[name] = os.environ[name]
    work = tmp_path / "work"
    work.mkdir()
    return work, env


def test_installation_then_quickstart_from_an_empty_directory(tmp_path: Path) -> None:
    work, env = fresh_machine(tmp_path)
    session = Scenario(tmp_path, env, BuildMemo(tmp_path / "builds"))
    session.cwd = work
    steps = 0
    try:
        for block in blocks(PAGES):
            if block.marker.illustration or block.lang not in {"console", "toml", "python"}:
                continue
            if block.lang != "console":
                if block.file_name is not None:
                    path = session.cwd / block.file_name
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_text(block.text)
                    steps += 1
                continue
            assert root_commands(block) is None, f"{block.id}: the newcomer is not root"
            commands = console_commands(block)
            results = session.run_block(block)
            for index, (command, result) in enumerate(zip(commands, results, strict=True)):
                steps += 1
                expected_status = block.marker.last_exit if index == len(commands) - 1 else 0
                difference = compare(command.expected, result.output)
                assert difference is None, f"{block.id}: `{command.text}` printed something else:\n{difference}"
                assert result.status == expected_status, f"{block.id}: `{command.text}` exited {result.status}"
    finally:
        session.close()
    assert steps >= 10, f"only {steps} steps: the pages lost their commands"
    assert (session.cwd / "src" / "hello" / "cli.py").read_text() == (
        "# src/hello/cli.py\n" + (ROOT / "fixtures" / "hello" / "src" / "hello" / "cli.py").read_text()
    )
    # What the pyproject.toml's comment says of the default shebang is what the build wrote.
    stated = re.search(r'shebang = "([^"]+)"', (session.cwd / "pyproject.toml").read_text())
    assert stated is not None, "the quick start's pyproject.toml no longer states the default shebang"
    (pyz,) = (session.cwd / "dist").glob("hello-1.0-cp3*.pyz")
    first_line = pyz.read_bytes().split(b"\n", 1)[0].decode()
    assert re.fullmatch("#!" + re.escape(stated[1]).replace("X", r"\d+"), first_line), (first_line, stated[1])
