"""Progress of long work: a live line on a terminal (a few redraws a second), plain lines in a pipe, nothing under -q.

The units drive :class:`Progress` with a fake clock; the end-to-end tests run `python -m hatchling build -t zipapp`
with its output on a pseudo-terminal and on a pipe.
"""

from __future__ import annotations

import io
import os
import pty
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from hatch_zipapp.progress import HEARTBEAT, REFRESH, Progress
from tests.helpers import IndexServer, make_project, make_wheel, pylock_text

LIVE = "\r\x1b[2K"


class FakeApp:
    def __init__(self, verbosity: int = 0) -> None:
        self.verbosity = verbosity
        self.lines: list[str] = []

    def display_info(self, message: str = "", **kwargs: object) -> None:
        self.lines.append(message)


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.now

    def tick(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds


class TestTerminal:
    def test_one_line_redrawn_a_few_times_a_second_then_the_summary(self) -> None:
        app, stream, clock = FakeApp(), Terminal(), Clock()
        progress = Progress(app, stream, clock=clock)
        with progress.step("Downloading", total=200, bytes_note="downloaded") as step:
            for _ in range(200):  # 200 files and 2 MB over 2 seconds
                clock.tick(0.01)
                step.advance()
                step.add_bytes(10_000)
        drawn = stream.getvalue().split(LIVE)
        assert drawn[0] == "" and drawn[-1] == ""  # every draw starts on a cleared line, and the last is cleared
        redraws = [text for text in drawn if text]
        assert 2 * REFRESH - 1 <= len(redraws) <= 2 * REFRESH + 2, redraws
        assert redraws[0] == "Downloading 0/200 files"
        assert re.fullmatch(r"Downloading \d+/200 files, [\d.]+ MB downloaded, [\d.]+ MB/s", redraws[-1]), redraws
        assert app.lines == ["Downloading: 200 files, 2.0 MB downloaded in 2.0 s (1.0 MB/s)"]

    def test_a_step_without_counts_shows_its_time(self) -> None:
        app, stream, clock = FakeApp(), Terminal(), Clock()
        with Progress(app, stream, clock=clock).step("Collecting static files") as step:
            clock.tick(3)
            step.advance(0)
            step.advance(180)
        assert stream.getvalue().split(LIVE)[1:-1] == ["Collecting static files, 0 s", "Collecting static files, 3 s"]
        assert app.lines == ["Collecting static files: 180 files in 3.0 s"]

    def test_the_same_text_is_not_redrawn(self) -> None:
        app, stream, clock = FakeApp(), Terminal(), Clock()
        with Progress(app, stream, clock=clock).step("Writing app.pyz") as step:
            for _ in range(3):  # 0.3, 0.6 and 0.9 s: each past the redraw interval, but "1 s" twice
                clock.tick(0.3)
                step.advance(0)
        assert stream.getvalue().split(LIVE)[1:-1] == ["Writing app.pyz, 0 s", "Writing app.pyz, 1 s"]

    def test_a_failed_step_clears_its_line_and_says_nothing(self) -> None:
        app, stream, clock = FakeApp(), Terminal(), Clock()
        with pytest.raises(RuntimeError), Progress(app, stream, clock=clock).step("Compiling bytecode", total=3):
            raise RuntimeError
        assert stream.getvalue() == LIVE + "Compiling bytecode 0/3 files" + LIVE
        assert app.lines == []


class TestPipe:
    def test_plain_lines_only_a_heartbeat_for_a_long_step(self) -> None:
        app, stream, clock = FakeApp(), io.StringIO(), Clock()
        with Progress(app, stream, clock=clock).step("Compiling bytecode", total=4000) as step:
            for _ in range(4000):  # 25 seconds
                clock.tick(25 / 4000)
                step.advance()
        assert stream.getvalue() == ""  # nothing drawn: lines go through hatchling's app
        assert len(app.lines) == 3, app.lines
        first, second, summary = app.lines
        assert re.fullmatch(r"Compiling bytecode 16\d\d/4000 files", first), first  # after HEARTBEAT seconds
        assert re.fullmatch(r"Compiling bytecode 32\d\d/4000 files", second), second
        assert summary == "Compiling bytecode: 4000 files in 25.0 s"
        assert HEARTBEAT == 10

    def test_quiet_shows_nothing(self) -> None:
        for stream in (io.StringIO(), Terminal()):
            app, clock = FakeApp(verbosity=-1), Clock()
            with Progress(app, stream, clock=clock).step("Downloading", total=2) as step:
                clock.tick(60)
                step.advance(2)
            assert (stream.getvalue(), app.lines) == ("", [])


@pytest.fixture
def project(tmp_path: Path, wheelhouse: Path, index: IndexServer) -> Path:
    wheels = [make_wheel(wheelhouse, name, "1.0") for name in ("alpha", "beta", "gamma")]
    project = make_project(tmp_path / "p", dependencies=["alpha", "beta", "gamma"])
    (project / "pylock.toml").write_text(pylock_text([[wheel] for wheel in wheels], base_url=index.url))
    return project


def _build_on_a_terminal(project: Path, **env: str) -> str:
    """`python -m hatchling build -t zipapp`, stdout and stderr on a pseudo-terminal: what the terminal got."""
    parent, child = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "hatchling", "build", "-t", "zipapp"],
        cwd=project,
        env={**os.environ, **env},
        stdin=subprocess.DEVNULL,
        stdout=child,
        stderr=child,
    )
    os.close(child)
    received = b""
    try:
        while True:
            try:
                part = os.read(parent, 65536)
            except OSError:  # EIO: the child side is closed
                break
            if not part:
                break
            received += part
        assert process.wait(timeout=120) == 0, received.decode()
    finally:
        os.close(parent)
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
    return received.decode().replace("\r\n", "\n")


STEPS = [
    r"Fetching: 3 files, [\d.]+ MB downloaded in [\d.]+ s \([\d.]+ MB/s\)",
    r"Compiling bytecode: \d+ files in [\d.]+ s",
    r"CPython 3\.\d+ on .* \(the build host\): 3 locked packages, \d+ \.pyc files",
    r"Writing app-1\.0-py3-none-any\.pyz: [\d.]+ MB in [\d.]+ s \([\d.]+ MB/s\)",
    r"Downloaded 3 files into .*",
    r"Wheel: .*app-1\.0-py3-none-any\.whl",
    r"dist/app-1\.0-py3-none-any\.pyz",
]


def _matches(lines: list[str]) -> None:
    assert len(lines) == len(STEPS), lines
    for pattern, line in zip(STEPS, lines, strict=True):
        assert re.fullmatch(pattern, line), (pattern, line)


class TestEndToEnd:
    def test_terminal(self, project: Path) -> None:
        out = _build_on_a_terminal(project)
        assert LIVE + "Fetching 0/3 files" in out
        assert LIVE + "Compiling bytecode 0/" in out
        assert LIVE + "Writing app-1.0-py3-none-any.pyz, 0 s" in out
        shown = [line.rpartition(LIVE)[2] for line in out.split("\n")]  # what stays on the terminal
        _matches([line for line in shown if line])

    def test_pipe(self, project: Path) -> None:
        result = subprocess.run(
            [sys.executable, "-m", "hatchling", "build", "-t", "zipapp"],
            cwd=project,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        assert "\r" not in result.stderr and "\x1b" not in result.stderr
        _matches(result.stderr.splitlines())

    def test_quiet(self, project: Path) -> None:
        out = _build_on_a_terminal(project, HATCH_QUIET="1")
        assert out == ""
