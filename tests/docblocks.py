"""The fenced blocks of README.md and docs/*.md, and a runner for the ```console ones.

A ```console block shows commands (`$ ` lines, a trailing `\\` continues one) and what each prints. The test runs it
and compares. An HTML comment on the line before a block says how (it is invisible in the rendered page):

- `<!-- run: hello -->`, `<!-- run: mysite -->`: run in a fresh copy of `fixtures/hello` or `fixtures/mysite`; the
  blocks of one page with the same fixture share that copy, their exported variables and their working directory,
  in the order of the page. `<!-- run: empty -->` (the default, no comment) starts in an empty directory.
- `, built`: the copy starts with the fixture already built (`dist/` as `hatch build -t zipapp` leaves it).
- `, port 8000`: the commands' `8000` becomes a free port (another process on the machine may hold 8000).
- `, exit N`: the block's last command exits with status N; every other command must exit 0.
- `<!-- illustration -->` (or ```text): not run; it illustrates and says so.
- `<!-- fixture: hello -->` before a block whose first line names a file (`# pyproject.toml`): the block is that
  file of the fixture, exactly. Without it, in a page's `empty` scenario, such a block is written there (and one whose
  first line is `# at the end of src/mysite/settings.py` is added at the end of that file) before the next
  ```console block runs, as a reader pastes it.

A ```console block whose lines all start with `# ` is commands for root on a server: shellchecked, not run.

Each command runs in its own `bash -c`, stdout and stderr together, in the directory and with the exported variables
the previous command left; what it leaves running in the background is stopped when it returns (a `--daemon`
server, when the scenario closes). `hatch build -t zipapp` of inputs already built in the session is replayed
(`BuildMemo`).

Placeholders in the shown output, the only ones: `…` inside a line matches any text on that line (a path, a
version, a count that depends on the machine or the day); a line that is only `…` matches any number of lines.
Commands are never rewritten, except for `, port`.
"""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "CHECKOUT_IGNORE",
    "DOC_PAGES",
    "ROOT",
    "Block",
    "Command",
    "Marker",
    "Scenario",
    "blocks",
    "compare",
    "console_commands",
    "root_commands",
]

ROOT = Path(__file__).parent.parent
DOC_PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FIXTURES = ("hello", "mysite", "formatter")
# What a copy of the checkout leaves out: version control, virtualenvs, build and benchmark output, caches.
CHECKOUT_IGNORE = (".git", ".venv", ".demo", ".bench", "dist", "build", "site", "__pycache__", "*_cache")
PLACEHOLDER = "…"

_FENCE = re.compile(r"^(?P<indent> *)```(?P<lang>[\w+-]*)\s*$")
_COMMENT = re.compile(r"^\s*<!--\s*(?P<text>.*?)\s*-->\s*$")


@dataclass(frozen=True)
class Marker:
    """What the comment before a block says about it."""

    illustration: bool = False
    fixture: str = "empty"
    built: bool = False
    port: int | None = None
    last_exit: int = 0

    @classmethod
    def parse(cls, text: str | None, where: str) -> Marker:
        if text is None:
            return cls()
        if text.startswith("illustration"):
            return cls(illustration=True)
        if text.startswith("fixture:"):  # a file block: the fixture's own file
            name = text.removeprefix("fixture:").strip()
            if name not in FIXTURES:
                message = f"{where}: `fixture:` names {name!r}; known: {', '.join(FIXTURES)}"
                raise ValueError(message)
            return cls(fixture=name)
        if not text.startswith("run:"):
            return cls()  # another comment: no instruction to the test
        head, *options = (part.strip() for part in text.removeprefix("run:").split(","))
        if head not in (*FIXTURES, "empty"):
            message = f"{where}: `run:` names {head!r}; known: {', '.join((*FIXTURES, 'empty'))}"
            raise ValueError(message)
        built, port, last_exit = False, None, 0
        for option in options:
            word, _, value = option.partition(" ")
            if word == "built":
                built = True
            elif word == "port" and value.isdigit():
                port = int(value)
            elif word == "exit" and value.isdigit():
                last_exit = int(value)
            else:
                message = f"{where}: unknown option {option!r} in <!-- {text} --> (built, port N, exit N)"
                raise ValueError(message)
        return cls(fixture=head, built=built, port=port, last_exit=last_exit)


@dataclass(frozen=True)
class Block:
    page: str  # relative to the repository root
    line: int  # of the opening fence, 1-based
    lang: str
    text: str
    comment: str | None

    @property
    def id(self) -> str:
        return f"{self.page}:{self.line}"

    @property
    def marker(self) -> Marker:
        return Marker.parse(self.comment, self.id)

    @property
    def file_name(self) -> str | None:
        """The file a block is, when its first line says so: `# pyproject.toml`, `# src/hello/cli.py`."""
        first = self.text.split("\n", 1)[0]
        match = re.fullmatch(r"# ([\w./-]+\.(?:toml|py|cfg|txt))", first)
        return match[1] if match else None

    @property
    def appended_to(self) -> str | None:
        """The file whose end a block goes at, when its first line says so: `# at the end of src/x/settings.py`."""
        first = self.text.split("\n", 1)[0]
        match = re.fullmatch(r"# at the end of ([\w./-]+\.(?:toml|py|cfg|txt))", first)
        return match[1] if match else None


def blocks(pages: list[Path] | None = None) -> Iterator[Block]:
    for page in pages or DOC_PAGES:
        lines = page.read_text(encoding="utf-8").splitlines()
        index = 0
        while index < len(lines):
            opening = _FENCE.match(lines[index])
            if opening is None:
                index += 1
                continue
            indent = opening["indent"]
            body = []
            end = index + 1
            while end < len(lines) and lines[end].rstrip() != f"{indent}```":
                body.append(lines[end].removeprefix(indent))
                end += 1
            previous = next((line for line in reversed(lines[:index]) if line.strip()), "")
            comment = _COMMENT.match(previous)
            yield Block(
                page=page.relative_to(ROOT).as_posix(),
                line=index + 1,
                lang=opening["lang"],
                text="\n".join(body) + "\n",
                comment=comment["text"] if comment else None,
            )
            index = end + 1


@dataclass
class Command:
    text: str
    expected: list[str] = field(default_factory=list)


def console_commands(block: Block) -> list[Command]:
    commands: list[Command] = []
    continuing = False
    for line in block.text.rstrip("\n").split("\n"):
        if continuing:
            commands[-1].text += "\n" + line
            continuing = line.endswith("\\")
        elif line.startswith("$ "):
            commands.append(Command(line[2:]))
            continuing = line.endswith("\\")
        elif commands:
            commands[-1].expected.append(line.rstrip())
        elif line.strip():
            message = f"{block.id}: output before the first `$ ` command: {line!r}"
            raise ValueError(message)
    return commands


def root_commands(block: Block) -> list[str] | None:
    """The commands of a block for root (every line `# ...`), else None."""
    lines = [line for line in block.text.split("\n") if line.strip()]
    if lines and all(line.startswith("# ") for line in lines):
        return [line[2:] for line in lines]
    return None


def pattern(expected: list[str]) -> re.Pattern[str]:
    parts = []
    for line in expected:
        if line.strip() == PLACEHOLDER:
            parts.append(r"(?:[^\n]*\n)*?")
        else:
            parts.append("[^\n]*?".join(re.escape(piece) for piece in line.split(PLACEHOLDER)) + r"\n")
    return re.compile("".join(parts))


def compare(expected: list[str], actual: str) -> str | None:
    """None when `actual` is what `expected` shows, else a diff to read."""
    lines = [line.rstrip() for line in actual.rstrip("\n").split("\n")] if actual.strip() else []
    text = "".join(f"{line}\n" for line in lines)
    if pattern(expected).fullmatch(text):
        return None
    return "\n".join(difflib.unified_diff(expected, lines, "shown", "printed", lineterm=""))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def inputs_digest(project: Path) -> str:
    """What a build reads: every file outside dist/ (TOML compared as data: a comment changes nothing)."""
    digest = hashlib.sha256()
    for path in sorted(project.rglob("*")):
        relative = path.relative_to(project)
        if not path.is_file() or relative.parts[0] in {"dist", ".venv"} or "__pycache__" in relative.parts:
            continue
        data = path.read_bytes()
        if path.suffix == ".toml":
            data = repr(sorted(tomllib.loads(data.decode()).items())).encode()
        digest.update(f"{relative.as_posix()}\0{len(data)}\0".encode() + data)
    return digest.hexdigest()


@dataclass
class Result:
    command: str
    output: str
    status: int


class BuildMemo:
    """`hatch build -t zipapp` of the same inputs runs once per session: its output and dist/ are replayed.

    The first build of a fixture starts with an empty download cache, so what it prints is what a first build
    prints; a replay substitutes the project directory in the output and copies the artifacts into `dist/`.
    """

    COMMAND = "hatch build -t zipapp"

    def __init__(self, store: Path) -> None:
        self.store = store
        self.results: dict[str, tuple[str, int, Path]] = {}

    def get(self, project: Path) -> Result | None:
        hit = self.results.get(inputs_digest(project))
        if hit is None:
            return None
        output, status, dist = hit
        if (project / "dist").exists():
            shutil.rmtree(project / "dist")
        shutil.copytree(dist, project / "dist", symlinks=True)
        return Result(self.COMMAND, output.replace("\0PROJECT\0", os.fspath(project)), status)

    def put(self, project: Path, digest: str, result: Result) -> None:
        dist = self.store / digest
        if project.joinpath("dist").is_dir():
            shutil.copytree(project / "dist", dist, symlinks=True)
        else:
            dist.mkdir(parents=True)
        self.results[digest] = (result.output.replace(os.fspath(project), "\0PROJECT\0"), result.status, dist)


_STATE = "\x1e"


class Scenario:
    """A working directory, its exported variables, and the blocks run in it, in order."""

    def __init__(self, directory: Path, env: Mapping[str, str], memo: BuildMemo, *, timeout: float = 300) -> None:
        self.directory = directory
        self.cwd = directory
        self.env = dict(env)
        self.memo = memo
        self.timeout = timeout
        self.done: dict[str, list[Result]] = {}
        self.port: int | None = None

    def close(self) -> None:
        """Stop what the blocks left running from this directory (a server started with `--daemon`)."""
        mine = []
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            try:
                cwd = (proc / "cwd").readlink()
            except OSError:
                continue
            if cwd == self.directory or self.directory in cwd.parents:
                mine.append(int(proc.name))
        for pid in mine:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    def paste(self, block: Block) -> None:
        """A block that is a file (`# pyproject.toml`) or lines for the end of one (`# at the end of ...`), written
        in the working directory once, as a reader pastes it."""
        if block.id in self.done:
            return
        name = block.file_name or block.appended_to
        assert name is not None, f"{block.id} names no file"
        path = self.cwd / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if block.file_name:
            path.write_text(block.text)
        else:
            with path.open("a") as end:
                end.write("\n\n" + block.text)
        self.done[block.id] = []

    def run_block(self, block: Block) -> list[Result]:
        if block.id in self.done:
            return self.done[block.id]
        marker = block.marker
        results = []
        for command in console_commands(block):
            text = command.text
            if marker.port is not None:
                self.port = self.port or free_port()
                text = text.replace(str(marker.port), str(self.port))
            results.append(self.run(text))
        self.done[block.id] = results
        return results

    def run(self, command: str) -> Result:
        if command.split("#", 1)[0].strip() == BuildMemo.COMMAND:
            replay = self.memo.get(self.cwd)
            if replay is not None:
                return replay
            digest = inputs_digest(self.cwd)
            result = self._shell(command)
            self.memo.put(self.cwd, digest, result)
            return result
        return self._shell(command)

    def _shell(self, command: str) -> Result:
        """One command in bash, in the scenario's directory and environment; what it exports and `cd`s is kept."""
        with tempfile.TemporaryDirectory(prefix="docblock-") as scratch_name:
            scratch = Path(scratch_name)
            state = scratch / "state"
            script = (
                f"{command}\n__status=$?\n{{ pwd; printf '{_STATE}'; env -0; }} > {_quote(state)}\nexit $__status\n"
            )
            with (scratch / "output").open("w+b") as output:
                process = subprocess.Popen(
                    ["bash", "-c", script],
                    cwd=self.cwd,
                    env=self.env,
                    stdin=subprocess.DEVNULL,
                    stdout=output,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
                try:
                    status = process.wait(timeout=self.timeout)
                finally:
                    _stop_session(process)
                output.seek(0)
                text = output.read().decode("utf-8", "replace")
            if state.is_file():
                cwd, _, env = state.read_bytes().decode().partition(_STATE)
                self.cwd = Path(cwd.strip())
                self.env = dict(item.split("=", 1) for item in env.split("\0") if "=" in item)
        return Result(command, text, status)


def _quote(path: Path) -> str:
    return "'" + os.fspath(path).replace("'", "'\\''") + "'"


def _stop_session(process: subprocess.Popen[bytes]) -> None:
    """The command's session ends with it: anything it left running in the background is stopped."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
