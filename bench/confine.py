"""Benchmark: what confinement (`ZIPAPP_CONFINE=1`: Landlock and the socket filter) costs the example site at start.

One command, from the repository root:

    python bench/confine.py            # or: --runs 51

It builds the example Django site (fixtures/mysite) with hatch-zipapp from this checkout (the bench's own virtualenv,
as bench/build.py makes it), extracts it once, then, in interleaved rounds after one uncounted round:

- the confinement step's own time, read in the process (`bootstrap/confine.py`'s `elapsed`, printed by `shell -c`):
  the checks of the variables, the ruleset, the socket filter and the audit hook; goal: at most 1 ms;
- its floor: a fresh interpreter importing `_ctypes` (the one way to make a system call from the standard library;
  the step cannot cost less), timed in the process the same way;
- a warm `check` (Django's system checks) confined and not, wall time: the ratio is what a user sees;
- an audit event (`id()`, which Django calls ~16 times a request) in a confined process and an unconfined one: what
  the audit hook that names refusals adds to each of the ~25 events a request raises (the best of 5 runs of 100,000).

docs/performance.md records a run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.fspath(Path(__file__).parent))
from build import WORK, build_example, setup

GOAL_MS = 1.0
#: Seconds one start may take before the bench stops it: far above any real start.
START_TIMEOUT = 120
_STEP = "import _bootstrap.confine as c; print('elapsed', c.elapsed)"
_FLOOR = "import time; t = time.perf_counter(); import _ctypes; print('elapsed', time.perf_counter() - t)"
_EVENT = (
    "import time\n"
    "def best():\n"
    "    t = time.perf_counter()\n"
    "    for _ in range(100_000): id(None)\n"
    "    return (time.perf_counter() - t) / 100_000\n"
    "print('elapsed', min(best() for _ in range(5)))"
)


def _elapsed(command: list[str], env: dict[str, str], cwd: Path) -> float:
    result = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, timeout=START_TIMEOUT)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{result.stderr}")
    line = next(line for line in result.stdout.splitlines() if line.startswith("elapsed "))
    return float(line.split()[1])


def _wall(command: list[str], env: dict[str, str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(command, env=env, cwd=cwd, check=True, capture_output=True, timeout=START_TIMEOUT)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=31)
    options = parser.parse_args()
    setup()
    with tempfile.TemporaryDirectory(prefix="hatch-zipapp-confine-") as temp_name:
        temp = Path(temp_name)
        _, pyz = build_example(temp, {**os.environ, "HATCH_ZIPAPP_CACHE_DIR": os.fspath(WORK / "cache")})
        state, extracted, scratch = temp / "state", temp / "extracted", temp / "tmp"
        state.mkdir()
        scratch.mkdir()  # the site's temporary directory (writable when confined): not the one holding its code
        base = {k: v for k, v in os.environ.items() if not k.startswith(("SHIV_", "ZIPAPP_"))}
        base.update(
            {
                "DJANGO_SETTINGS_MODULE": "mysite.settings",
                "SECRET_KEY": "bench",
                "DATABASE_URL": f"sqlite:///{state}/db.sqlite3",
                "ZIPAPP_ROOT": os.fspath(extracted),
                "TMPDIR": os.fspath(scratch),
            }
        )
        confined = {**base, "ZIPAPP_CONFINE": "1", "ZIPAPP_CONFINE_WRITE": os.fspath(state)}
        python = sys.executable
        step = [python, os.fspath(pyz), "shell", "-c", _STEP]
        check = [python, os.fspath(pyz), "check"]
        _wall(check, base, state)  # extracted once, before any clock
        event = [python, os.fspath(pyz), "shell", "-c", _EVENT]
        samples: dict[str, list[float]] = {name: [] for name in ("step", "floor", "check", "check, confined")}
        samples.update({"event": [], "event, confined": []})
        for round_ in range(options.runs + 1):
            measured = {
                "step": _elapsed(step, confined, state),
                "floor": _elapsed([python, "-c", _FLOOR], base, state),
                "check": _wall(check, base, state),
                "check, confined": _wall(check, confined, state),
            }
            if round_ <= 5:  # the events' loops are long: six rounds, the first not counted
                measured.update(
                    {"event": _elapsed(event, base, state), "event, confined": _elapsed(event, confined, state)}
                )
            if round_:  # the first round is not counted
                for name, value in measured.items():
                    samples[name].append(value)
    ms = {name: (min(values) * 1000, statistics.median(values) * 1000) for name, values in samples.items()}
    print(f"{options.runs} rounds, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}, kernel {os.uname().release}")
    for name in ("step", "floor"):
        low, median = ms[name]
        print(f"  {name:<16} min {low:6.2f} ms   median {median:6.2f} ms")
    for name in ("check", "check, confined"):
        low, median = ms[name]
        print(f"  {name:<16} min {low:6.1f} ms   median {median:6.1f} ms")
    step_median, floor_median = ms["step"][1], ms["floor"][1]
    print(f"step: {step_median:.2f} ms median (goal <= {GOAL_MS} ms: {'met' if step_median <= GOAL_MS else 'MISSED'}),")
    print(f"      {step_median / floor_median:.2f}x its floor (importing _ctypes, {floor_median:.2f} ms)")
    print(f"warm check confined / unconfined: {ms['check, confined'][1] / ms['check'][1]:.3f}x (medians)")
    per_event, confined_event = ms["event"][1] * 1e6, ms["event, confined"][1] * 1e6
    print(f"an audit event (id()): {confined_event:.0f} ns confined, {per_event:.0f} ns not (medians of the best of 5)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
