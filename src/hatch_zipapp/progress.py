"""Progress of a build's long work (downloads, bytecode, collectstatic, the archive), as uv and pip show it.

Through hatchling's ``app``: nothing under ``-q`` (a verbosity below 0). On a terminal, one line redrawn in place at
most :data:`REFRESH` times a second (``Downloading 12/69 files, 34.5 MB, 8.2 MB/s``), replaced by the step's summary
line when it ends. Elsewhere (a CI log, a pipe) plain lines only: the summary line of each step
(``Downloading: 69 files, 98.1 MB in 11.9 s (8.2 MB/s)``), and for a step still running after :data:`HEARTBEAT`
seconds a line of where it is, then one every :data:`HEARTBEAT` seconds, so that a log is never silent for long.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Protocol, TextIO

__all__ = ["HEARTBEAT", "REFRESH", "Progress", "Step"]

#: Most redraws a second of the live line on a terminal.
REFRESH = 4
#: Seconds between two plain lines of a step still running, where there is no terminal.
HEARTBEAT = 10.0
_CLEAR = "\r\x1b[2K"


class App(Protocol):
    """What is used of hatchling's ``Application``."""

    @property
    def verbosity(self) -> int: ...

    def display_info(self, message: str = "", **kwargs: object) -> None: ...


def _size(count: int) -> str:
    return f"{count / 1_000_000:.1f} MB"


class Step:
    """One step's counters (``advance`` may be called from several threads), and how they read."""

    def __init__(self, progress: Progress, label: str, total: int | None, unit: str, bytes_note: str) -> None:
        self.label = label
        self.total = total
        self.unit = unit
        self.bytes_note = bytes_note
        self.done = 0
        self.bytes = 0
        self._progress = progress
        self._lock = threading.Lock()
        self.started = progress.clock()

    def advance(self, items: int = 1) -> None:
        with self._lock:
            self.done += items
        self._progress.update(self)

    def add_bytes(self, count: int) -> None:
        with self._lock:
            self.bytes += count
        self._progress.update(self)

    def _bytes(self) -> str:
        return f"{_size(self.bytes)} {self.bytes_note}".rstrip()

    def _rate(self, elapsed: float) -> str:
        return f"{_size(int(self.bytes / elapsed))}/s" if self.bytes and elapsed > 0 else ""

    def running(self) -> str:
        """``Downloading 12/69 files, 34.5 MB, 8.2 MB/s`` (``Collecting static files, 12 s`` when nothing counts)."""
        elapsed = self._progress.clock() - self.started
        parts = [f"{self.label} {self.done}/{self.total} {self.unit}" if self.total else self.label]
        if self.bytes:
            parts += [self._bytes(), self._rate(elapsed)]
        if not self.total:
            parts.append(f"{elapsed:.0f} s")
        return ", ".join(part for part in parts if part)

    def summary(self) -> str:
        """``Downloading: 69 files, 98.1 MB in 11.9 s (8.2 MB/s)``."""
        elapsed = self._progress.clock() - self.started
        counted = [f"{self.done} {self.unit}"] if self.done else []
        counted += [self._bytes()] if self.bytes else []
        rate = self._rate(elapsed)
        return f"{self.label}: {', '.join(counted) + ' ' if counted else ''}in {elapsed:.1f} s" + (
            f" ({rate})" if rate else ""
        )


class Progress:
    """Shows the steps of a build; see the module's docstring."""

    def __init__(self, app: App, stream: TextIO | None = None, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.app = app
        self.stream = stream if stream is not None else sys.stderr
        self.clock = clock
        self.quiet = app.verbosity < 0
        self.live = not self.quiet and self.stream.isatty()
        self._shown = float("-inf")  # when the live line was last drawn, or the last plain line printed
        self._drawn = ""  # the live line on the terminal now
        self._lock = threading.Lock()

    @contextmanager
    def step(self, label: str, total: int | None = None, unit: str = "files", bytes_note: str = "") -> Iterator[Step]:
        """A step: its summary line is shown when the block ends without an error (nothing when it fails: the
        error says why); ``advance``/``add_bytes`` move it on."""
        step = Step(self, label, total, unit, bytes_note)
        self._shown = step.started if not self.live else float("-inf")
        self.update(step)
        stop = threading.Event()
        ticker = threading.Thread(target=self._tick, args=(step, stop), name="hatch-zipapp-progress", daemon=True)
        if not self.quiet:
            ticker.start()  # so that a step with nothing to count (one subprocess) still shows its time
        try:
            yield step
        finally:
            stop.set()
            if ticker.is_alive():
                ticker.join()
            self._clear()
        if not self.quiet:
            self.app.display_info(step.summary())

    def update(self, step: Step) -> None:
        if self.quiet:
            return
        now = self.clock()
        with self._lock:
            if self.live:
                if now - self._shown < 1 / REFRESH:
                    return
                self._shown = now
                text = step.running()
                if self._drawn != text:  # the same text again (the ticker, between two counts) is not redrawn
                    self.stream.write(_CLEAR + text)
                    self.stream.flush()
                    self._drawn = text
                return
            if now - self._shown < HEARTBEAT:
                return
            self._shown = now
        self.app.display_info(step.running())

    def _tick(self, step: Step, stop: threading.Event) -> None:
        while not stop.wait(1 / REFRESH):
            self.update(step)

    def _clear(self) -> None:
        with self._lock:
            if self._drawn:
                self.stream.write(_CLEAR)
                self.stream.flush()
                self._drawn = ""
