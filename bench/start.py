"""Benchmark: starting the example Django site from hatch-zipapp's .pyz, a plain virtualenv, shiv and pex.

One command, from the repository root:

    python bench/start.py            # or: --runs 9 --command check
    python bench/start.py --against main --pyz-only --runs 9    # this checkout's .pyz against main's

All four run the same command (`check` by default: Django's system checks, which import the settings, every app
and the URL configuration) with the same installed files and the same interpreter: the virtualenv's, and for the .pyz,
shiv and pex an empty virtualenv's (`python app.pyz`: not through `#!/usr/bin/env python3`, which may find a slower
shim such as pyenv's, and not the bare host interpreter, which runs its own site-packages' .pth files first).
Measured in one run, in interleaved rounds (every row once per round, in a rotated order, so drift hits all rows
alike), as medians after one uncounted round:

- cold start: an extraction root never used before (ZIPAPP_ROOT, SHIV_ROOT, PEX_ROOT), the disk synced before the
  clock starts so that no run pays for an earlier one's writes; roots are deleted only at the end;
- warm start: the same root again, extraction (if any) done, after every row's cold start of the round;
- 32 concurrent cold starts of the .pyz against one empty root, against one cold start, and against 32 concurrent
  starts of the virtualenv (what running 32 processes costs on this many CPUs, extraction or not);
- the floor of a cold start: a fresh interpreter writing the same files with zipfile, nothing else; and the .pyz and
  the floor again with the root on tmpfs (/dev/shm), to show what the disk costs.

``--against REV`` (a commit of this repository: a hash, branch or tag; repeatable) also builds the same site from the
same lock with that commit's builder (its tree written out by ``git archive``, its wheel installed in a virtualenv of
its own, kept in .bench/against/COMMIT) and times its .pyz in the same rounds, on disk and on tmpfs: rows
``hatch-zipapp@REV`` beside ``hatch-zipapp``, and the ratios this checkout / REV, as the ratio of the medians and as
the median of each round's ratio (both starts of a round ran under the same load), for the clock and for the CPU
time the starts used (user and system: a loaded machine moves it far less than the clock, and it leaves out the waits
for the disk, which the clock's cold rows hold). ``--pyz-only`` leaves out the
virtualenv, shiv, pex and the 32 concurrent starts: the .pyz rows and the floors alone, more rounds in the same time
(a regression check). Every row shows the spread of its runs (minimum and maximum) beside its median, and the load
average is printed at the end.

Targets: warm start at most 1.1x the virtualenv's and faster than shiv's; cold start at most 2x the virtualenv's warm
start; 32 concurrent cold starts within 3x a single cold start. docs/performance.md records a run.
"""

from __future__ import annotations

import argparse
import itertools
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.fspath(Path(__file__).parent))
from build import BIN, ROOT, WORK, build_example, checkout_builder, run, setup

ROOT_MARK = "{root}"
#: Seconds one start (or 32 at once) may take before the bench stops it: far above any real start.
START_TIMEOUT = 300

#: The physical floor of a cold start: a fresh interpreter writing the same files, nothing else.
_EXTRACT = """
import io, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as outer:
    zipfile.ZipFile(io.BytesIO(outer.read("site-packages.zip"))).extractall(sys.argv[2])
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--command", default="check")
    parser.add_argument(
        "--against", metavar="REV", action="append", default=[], help="also time the .pyz this commit's builder makes"
    )
    parser.add_argument("--pyz-only", action="store_true", help="only the .pyz rows and the floors")
    options = parser.parse_args()
    setup()
    against = {revision: checkout_builder(revision) for revision in options.against}  # REV: (commit, its bin/)
    with tempfile.TemporaryDirectory(prefix="hatch-zipapp-start-") as temp_name:
        temp = Path(temp_name)
        env = {
            **os.environ,
            "HATCH_ZIPAPP_CACHE_DIR": os.fspath(WORK / "cache"),
            "PEX_ROOT": os.fspath(WORK / "pex-root"),
        }
        env.pop("PIP_FIND_LINKS", None)
        project, pyz = build_example(temp, env)
        wheel = next((temp / "dist").glob("*.whl"))
        others: dict[str, Path] = {}  # row: its .pyz
        for revision, (commit, bin_dir) in against.items():  # the same project and lock, a cache of its own
            against_env = {**env, "HATCH_ZIPAPP_CACHE_DIR": os.fspath(bin_dir.parent.parent / "cache")}
            others[f"hatch-zipapp@{revision}"] = build_example(temp, against_env, bin_dir, commit)[1]
        wheelhouse, pins = temp / "wheelhouse", temp / "pins.txt"
        wheelhouse.mkdir()
        run(BIN / "python", ROOT / "bench" / "wheelhouse.py", project, wheelhouse, pins, env=env)
        shutil.copy(wheel, wheelhouse)

        venv, clean = temp / "venv", temp / "clean"
        # The .pyz, shiv and pex rows run an empty virtualenv's python: the virtualenv row's interpreter, site and
        # all, without the packages. Started directly, the host interpreter would also run its own site-packages'
        # .pth files first (one on this machine imports certifi: 20 ms), which no virtualenv does.
        run(sys.executable, "-m", "venv", "--without-pip", clean)
        python = clean / "bin" / "python"
        shiv_pyz, pex_file = temp / "shiv.pyz", temp / "app.pex"
        if not options.pyz_only:
            run(sys.executable, "-m", "venv", venv)
            pip = (venv / "bin" / "python", "-m", "pip", "install", "-q", "--no-index", "-f", wheelhouse)
            run(*pip, "-r", pins, wheel)
            entry = "django.core.management:execute_from_command_line"
            shiv = (BIN / "shiv", "-o", shiv_pyz, "-e", entry, "--no-index", "--find-links", wheelhouse)
            run(*shiv, "-r", pins, wheel, env=env)
            run(BIN / "pex", "--no-pypi", "-f", wheelhouse, "-r", pins, wheel, "-e", entry, "-o", pex_file, env=env)

        work = temp / "work"
        work.mkdir()
        base = {k: v for k, v in os.environ.items() if not k.startswith(("SHIV_", "ZIPAPP_", "PEX_"))}
        base.update(
            {"DJANGO_SETTINGS_MODULE": "mysite.settings", "SECRET_KEY": "bench", "DATABASE_URL": "sqlite:///db"}
        )
        # Every row's command and environment, with ROOT standing for the extraction root of the round. Each cold
        # start gets a root never used before, and nothing is deleted until the end: on a disk mounted with
        # `discard`, deleting the last round's files slows the next round's writes by seconds, which is the
        # benchmark's cost, not the cold start's (a server extracts once per deploy).
        runs: dict[str, tuple[list[str | os.PathLike[str]], dict[str, str], Path | None]] = {
            "hatch-zipapp": ([python, pyz, options.command], {**base, "ZIPAPP_ROOT": ROOT_MARK}, temp),
            "virtualenv": ([venv / "bin" / "python", "-m", "django", options.command], base, None),
            "shiv": ([python, shiv_pyz, options.command], {**base, "SHIV_ROOT": ROOT_MARK}, temp),
            "pex": ([python, pex_file, options.command], {**base, "PEX_ROOT": ROOT_MARK}, temp),
            "floor (unzip)": ([python, "-c", _EXTRACT, pyz, ROOT_MARK], base, temp),
        }
        for other, other_pyz in others.items():  # shown right below this checkout's row
            runs[other] = ([python, other_pyz, options.command], runs["hatch-zipapp"][1], temp)
        runs = {name: runs[name] for name in ["hatch-zipapp", *others, *runs]}
        if options.pyz_only:
            for name in ("virtualenv", "shiv", "pex"):
                del runs[name]
        shm = Path("/dev/shm")
        memory = Path(tempfile.mkdtemp(prefix="hatch-zipapp-start-", dir=shm)) if shm.is_dir() else None
        if memory is not None:  # the same starts with the extraction root in memory: what the disk costs
            runs["hatch-zipapp, tmpfs"] = (runs["hatch-zipapp"][0], runs["hatch-zipapp"][1], memory)
            runs["floor (unzip), tmpfs"] = (runs["floor (unzip)"][0], base, memory)
        for other in others if memory is not None else ():
            runs[f"{other}, tmpfs"] = (runs[other][0], runs[other][1], memory)
        fresh = itertools.count()

        def start(name: str, root: Path | None, processes: int = 1) -> float:
            """Seconds for ``processes`` copies of a row's command, started at once against ``root``."""
            command, run_env, _ = runs[name]
            mark = os.fspath(root) if root else ""
            argv = [os.fspath(c).replace(ROOT_MARK, mark) for c in command]
            run_env = {k: v.replace(ROOT_MARK, mark) for k, v in run_env.items()}
            os.sync()  # the writes of earlier runs are on disk before the clock starts
            used = resource.getrusage(resource.RUSAGE_CHILDREN)
            began = time.perf_counter()
            children = [
                subprocess.Popen(argv, env=run_env, cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                for _ in range(processes)
            ]
            for child in children:
                try:
                    _, stderr = child.communicate(timeout=START_TIMEOUT)
                except subprocess.TimeoutExpired:
                    for sibling in children:
                        sibling.kill()
                        sibling.communicate()
                    sys.exit(f"bench: {argv} took more than {START_TIMEOUT} s: stopped")
                if child.returncode:
                    sys.exit(f"bench: {argv} failed:\n{stderr.decode()}")
            elapsed = time.perf_counter() - began
            now = resource.getrusage(resource.RUSAGE_CHILDREN)  # what the started processes computed, not waited
            cpu[-1] = now.ru_utime + now.ru_stime - used.ru_utime - used.ru_stime
            return elapsed

        cpu = [0.0]  # the CPU seconds (user and system) of the last start
        warm_runs: dict[str, list[float]] = {name: [] for name in runs}
        warm_cpu: dict[str, list[float]] = {name: [] for name in runs}
        cold_cpu: dict[str, list[float]] = {name: [] for name in runs}
        cold_runs: dict[str, list[float]] = {name: [] for name, (_, _, where) in runs.items() if where is not None}
        names = list(runs)
        for round_ in range(options.runs + 1):  # round 0 warms the page cache and is not counted
            # Every row once per round, cold starts first, then warm starts, each phase in an order rotated every
            # round: a start right after another row's cold start (the kernel still writing its files back) is
            # slower, and rotation spreads that over every row instead of always charging the same one.
            order = names[round_ % len(names) :] + names[: round_ % len(names)]
            roots: dict[str, Path | None] = {}
            for name in order:
                where = runs[name][2]
                roots[name] = where / "roots" / str(next(fresh)) if where is not None else None
                if where is not None:
                    elapsed = start(name, roots[name])
                    if round_:
                        cold_runs[name].append(elapsed)
                        cold_cpu[name].append(cpu[-1])
            for name in order:
                elapsed = start(name, roots[name])
                if round_:
                    warm_runs[name].append(elapsed)
                    warm_cpu[name].append(cpu[-1])
        concurrent_runs = max(3, options.runs // 2)
        if not options.pyz_only:
            concurrent_32 = statistics.median(
                start("hatch-zipapp", temp / "roots" / str(next(fresh)), 32) for _ in range(concurrent_runs)
            )
            concurrent_venv = statistics.median(start("virtualenv", None, 32) for _ in range(concurrent_runs))
        if memory is not None:
            shutil.rmtree(memory, ignore_errors=True)

    version = sys.version.split()[0]
    load = " ".join(f"{x:.1f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "unknown"
    print(f"`{options.command}` of fixtures/mysite, Python {version}, {os.cpu_count()} CPUs; medians of {options.runs}")
    for revision, (commit, _) in against.items():
        print(f"against: {revision} = {commit} (its builder, the same project and lock)")
    print(f"load average at the end: {load}")
    print(f"{'':<34}{'warm (s)':>10}{'(min-max)':>14}{'cold (s)':>10}{'(min-max)':>14}")
    warm = {name: statistics.median(times) for name, times in warm_runs.items()}
    cold = {name: statistics.median(times) for name, times in cold_runs.items()}

    def spread(times: list[float]) -> str:
        return f"{min(times):.3f}-{max(times):.3f}"

    for name in runs:
        shown_warm = f"{warm[name]:>10.3f}{spread(warm_runs[name]):>14}" if not name.startswith("floor") else " " * 24
        shown_cold = f"{cold[name]:>10.3f}{spread(cold_runs[name]):>14}" if name in cold else ""
        print(f"{name:<34}{shown_warm}{shown_cold}")
    if not options.pyz_only:
        print(f"32 concurrent cold starts of the .pyz: {concurrent_32:.3f} s")
        cpus = os.cpu_count()
        print(f"32 concurrent starts of the virtualenv (32 processes on {cpus} CPUs): {concurrent_venv:.3f} s")
    checks: list[tuple[str, float, float | None]] = []
    if not options.pyz_only:
        checks += [
            ("warm / virtualenv warm", warm["hatch-zipapp"] / warm["virtualenv"], 1.1),
            ("warm / shiv warm", warm["hatch-zipapp"] / warm["shiv"], 1.0),
            ("warm / pex warm", warm["hatch-zipapp"] / warm["pex"], None),
            ("cold / virtualenv warm", cold["hatch-zipapp"] / warm["virtualenv"], 2.0),
            ("cold / shiv cold", cold["hatch-zipapp"] / cold["shiv"], None),
            ("cold / pex cold", cold["hatch-zipapp"] / cold["pex"], None),
        ]
    checks.append(("cold / floor (unzip)", cold["hatch-zipapp"] / cold["floor (unzip)"], None))
    if "hatch-zipapp, tmpfs" in cold and not options.pyz_only:
        checks.append(("cold, tmpfs / virtualenv warm", cold["hatch-zipapp, tmpfs"] / warm["virtualenv"], 2.0))
    if not options.pyz_only:
        checks += [
            ("32 concurrent / one cold", concurrent_32 / cold["hatch-zipapp"], 3.0),
            ("32 concurrent / (one cold + 32 venv)", concurrent_32 / (cold["hatch-zipapp"] + concurrent_venv), None),
        ]
    for label, ratio, target in checks:
        verdict = "" if target is None else f"  target {'<' if target == 1.0 else '<='} {target}: "
        if target is not None:
            verdict += "met" if (ratio < target if target == 1.0 else ratio <= target) else "MISSED"
        print(f"{label:<38}{ratio:>8.3f}{verdict}")
    for revision in against:  # this checkout against REV: the ratio of the medians, and the median of each round's
        other = f"hatch-zipapp@{revision}"
        print(f"{f'this checkout / {revision}':<38}{'medians':>8}{'per round: median (min-max)':>34}")
        pairs = [("warm", warm_runs, "hatch-zipapp", other), ("cold", cold_runs, "hatch-zipapp", other)]
        if f"{other}, tmpfs" in cold_runs:
            pairs.append(("cold, tmpfs", cold_runs, "hatch-zipapp, tmpfs", f"{other}, tmpfs"))
        # CPU seconds (user and system) of the same starts: what a loaded machine moves far less than the clock
        pairs += [(f"{label}, CPU", warm_cpu if times is warm_runs else cold_cpu, a, b) for label, times, a, b in pairs]
        for label, times, ours, theirs in pairs:
            rounds = [a / b for a, b in zip(times[ours], times[theirs], strict=True)]
            overall = statistics.median(times[ours]) / statistics.median(times[theirs])
            per_round = f"{statistics.median(rounds):.3f} ({min(rounds):.3f}-{max(rounds):.3f})"
            print(f"{label:<38}{overall:>8.3f}{per_round:>34}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
