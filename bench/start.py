"""Benchmark: starting the example Django site from hatch-zipapp's .pyz, a plain virtualenv, shiv and pex.

One command, from the repository root:

    python bench/start.py            # or: --runs 9 --command check

All four run the same command (`check` by default: Django's system checks, which import the settings, every app
and the URL configuration) with the same installed files. Measured in one run, as medians after one warm-up:

- warm start: extraction (if any) already done;
- cold start: an empty extraction root (ZIPAPP_ROOT, SHIV_ROOT, PEX_ROOT) before every run;
- 32 concurrent cold starts of the .pyz against one empty root, against one cold start.

Targets: warm start at most 1.1x the virtualenv's and faster than shiv's; cold start at most 2x the virtualenv's warm
start; 32 concurrent cold starts within 3x a single cold start. docs/performance.md records a run.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

sys.path.insert(0, os.fspath(Path(__file__).parent))
from build import BIN, ROOT, WORK, run, setup

#: The physical floor of a cold start: a fresh interpreter writing the same files, nothing else.
_EXTRACT = """
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    z.extractall(sys.argv[2], [n for n in z.namelist() if n.startswith("site-packages/")])
"""


def seconds(command: Sequence[str | os.PathLike[str]], env: dict[str, str], cwd: Path) -> float:
    start = time.perf_counter()
    result = subprocess.run([os.fspath(c) for c in command], env=env, cwd=cwd, capture_output=True, check=False)
    elapsed = time.perf_counter() - start
    if result.returncode:
        sys.exit(f"bench: {command} failed:\n{result.stderr.decode()}")
    return elapsed


def median(runs: int, measure: Callable[[], float]) -> float:
    measure()  # warm-up
    return statistics.median(measure() for _ in range(runs))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--command", default="check")
    options = parser.parse_args()
    setup()
    with tempfile.TemporaryDirectory(prefix="hatch-zipapp-start-") as temp_name:
        temp = Path(temp_name)
        project = temp / "mysite"
        shutil.copytree(ROOT / "fixtures" / "mysite", project, ignore=shutil.ignore_patterns("dist"))
        env = {
            **os.environ,
            "HATCH_ZIPAPP_CACHE_DIR": os.fspath(WORK / "cache"),
            "PEX_ROOT": os.fspath(WORK / "pex-root"),
        }
        env.pop("PIP_FIND_LINKS", None)
        run(BIN / "python", "-m", "hatchling", "build", "-t", "zipapp", "-d", temp / "dist", cwd=project, env=env)
        pyz = next((temp / "dist").glob("*.pyz"))
        wheel = next((temp / "dist").glob("*.whl"))
        wheelhouse, pins = temp / "wheelhouse", temp / "pins.txt"
        wheelhouse.mkdir()
        run(BIN / "python", ROOT / "bench" / "wheelhouse.py", project, wheelhouse, pins, env=env)
        shutil.copy(wheel, wheelhouse)

        venv = temp / "venv"
        run(sys.executable, "-m", "venv", venv)
        run(venv / "bin" / "python", "-m", "pip", "install", "-q", "--no-index", "-f", wheelhouse, "-r", pins, wheel)
        entry = "django.core.management:execute_from_command_line"
        shiv_pyz, pex_file = temp / "shiv.pyz", temp / "app.pex"
        shiv = (BIN / "shiv", "-o", shiv_pyz, "-e", entry, "--no-index", "--find-links", wheelhouse)
        run(*shiv, "-r", pins, wheel, env=env)
        run(BIN / "pex", "--no-pypi", "-f", wheelhouse, "-r", pins, wheel, "-e", entry, "-o", pex_file, env=env)

        work = temp / "work"
        work.mkdir()
        base = {k: v for k, v in os.environ.items() if not k.startswith(("SHIV_", "ZIPAPP_", "PEX_"))}
        base.update(
            {"DJANGO_SETTINGS_MODULE": "mysite.settings", "SECRET_KEY": "bench", "DATABASE_URL": "sqlite:///db"}
        )
        roots = {"ours": temp / "root-ours", "shiv": temp / "root-shiv", "pex": temp / "root-pex"}
        runs = {
            "hatch-zipapp": ([pyz, options.command], {**base, "ZIPAPP_ROOT": os.fspath(roots["ours"])}, roots["ours"]),
            "virtualenv": ([venv / "bin" / "python", "-m", "django", options.command], base, None),
            "shiv": (
                [sys.executable, shiv_pyz, options.command],
                {**base, "SHIV_ROOT": os.fspath(roots["shiv"])},
                roots["shiv"],
            ),
            "pex": (
                [sys.executable, pex_file, options.command],
                {**base, "PEX_ROOT": os.fspath(roots["pex"])},
                roots["pex"],
            ),
        }
        floor_root = temp / "root-floor"
        floor = [sys.executable, "-c", _EXTRACT, pyz, floor_root]
        runs["floor (unzip)"] = (floor, base, floor_root)
        shm = Path("/dev/shm")
        if shm.is_dir():  # the same starts with the extraction root in memory: what the disk costs
            memory = Path(tempfile.mkdtemp(prefix="hatch-zipapp-start-", dir=shm))
            runs["hatch-zipapp, tmpfs"] = (
                [pyz, options.command],
                {**base, "ZIPAPP_ROOT": os.fspath(memory / "r")},
                memory / "r",
            )
            runs["floor (unzip), tmpfs"] = ([sys.executable, "-c", _EXTRACT, pyz, memory / "f"], base, memory / "f")
        warm: dict[str, float] = {}
        cold: dict[str, float] = {}
        for name, (command, run_env, root) in runs.items():
            warm[name] = median(options.runs, lambda c=command, e=run_env: seconds(c, e, work))  # type: ignore[misc]
            if root is not None:

                def cold_start(c: list[object] = command, e: dict[str, str] = run_env, r: Path = root) -> float:
                    shutil.rmtree(r, ignore_errors=True)
                    return seconds(c, e, work)  # type: ignore[arg-type]

                cold[name] = median(options.runs, cold_start)

        def concurrent() -> float:
            shutil.rmtree(roots["ours"], ignore_errors=True)
            command, run_env, _ = runs["hatch-zipapp"]
            start = time.perf_counter()
            processes = [
                subprocess.Popen([os.fspath(c) for c in command], env=run_env, cwd=work, stdout=subprocess.DEVNULL)
                for _ in range(32)
            ]
            if any(p.wait() for p in processes):
                sys.exit("bench: a concurrent start failed")
            return time.perf_counter() - start

        concurrent_32 = median(max(3, options.runs // 2), concurrent)
        if shm.is_dir():
            shutil.rmtree(memory, ignore_errors=True)

    python = sys.version.split()[0]
    print(f"`{options.command}` of fixtures/mysite, Python {python}, {os.cpu_count()} CPUs; medians of {options.runs}")
    print(f"{'':<22}{'warm (s)':>10}{'cold (s)':>10}")
    for name in runs:
        shown_warm = f"{warm[name]:>10.3f}" if not name.startswith("floor") else f"{'':>10}"
        print(f"{name:<22}{shown_warm}{cold.get(name, float('nan')):>10.3f}")
    print(f"32 concurrent cold starts of the .pyz: {concurrent_32:.3f} s")
    checks = [
        ("warm / virtualenv warm", warm["hatch-zipapp"] / warm["virtualenv"], 1.1),
        ("warm / shiv warm", warm["hatch-zipapp"] / warm["shiv"], 1.0),
        ("warm / pex warm", warm["hatch-zipapp"] / warm["pex"], None),
        ("cold / virtualenv warm", cold["hatch-zipapp"] / warm["virtualenv"], 2.0),
        ("cold / shiv cold", cold["hatch-zipapp"] / cold["shiv"], None),
        ("cold / pex cold", cold["hatch-zipapp"] / cold["pex"], None),
        ("cold / floor (unzip)", cold["hatch-zipapp"] / cold["floor (unzip)"], None),
        *(
            [("cold, tmpfs / virtualenv warm", cold["hatch-zipapp, tmpfs"] / warm["virtualenv"], 2.0)]
            if "hatch-zipapp, tmpfs" in cold
            else []
        ),
        ("32 concurrent / one cold", concurrent_32 / cold["hatch-zipapp"], 3.0),
    ]
    for label, ratio, target in checks:
        verdict = "" if target is None else f"  target {'<' if target == 1.0 else '<='} {target}: "
        if target is not None:
            verdict += "met" if (ratio < target if target == 1.0 else ratio <= target) else "MISSED"
        print(f"{label:<30}{ratio:>8.3f}{verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
