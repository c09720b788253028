"""Benchmark: a cold `hatch build -t zipapp` (hatch's build environment created from scratch, caches warm), before
and after a change to hatch-zipapp's own dependencies.

One command, from the repository root:

    python bench/cold_build.py            # or: --before 8570ee6 --fixture fixtures/hello --runs 5

It makes its own virtualenv (.bench/cold/venv) with hatch; builds two wheels of hatch-zipapp, one from the commit
`--before` (extracted with `git archive`) and one from this checkout's working tree; then, for each, times
`hatch build -t zipapp` of a copy of the fixture with a fresh `HATCH_DATA_DIR` each run, so hatch creates its build
environment from scratch and installs `[build-system] requires` into it (`hatch-zipapp` found through find-links,
as fixtures/demo.sh does). The installers' wheel caches (uv's, pip's, in .bench/cold) and hatch-zipapp's download
cache stay warm: one untimed warm-up run of each fills them, and the runs alternate before/after. What is timed is
creating the environment, installing into it, and the build.

It prints, for each, the median and the range, and the distributions in the build environment.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / ".bench" / "cold"
VENV = WORK / "venv"
BIN = VENV / "bin"


def run(*args: str | os.PathLike[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> str:
    command = [os.fspath(a) for a in args]
    result = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, timeout=1800, check=False)
    if result.returncode:
        sys.exit(f"bench: {' '.join(command)} failed:\n{result.stdout}{result.stderr}")
    return result.stdout


def wheel_of(source: Path, destination: Path) -> Path:
    shutil.rmtree(destination, ignore_errors=True)
    run(BIN / "python", "-m", "hatchling", "build", "-t", "wheel", "-d", destination, cwd=source)
    (wheel,) = destination.glob("hatch_zipapp-*.whl")
    return wheel


def checkout(commit: str, destination: Path) -> Path:
    """The tree of ``commit`` (no .git): what a build of that commit sees."""
    shutil.rmtree(destination, ignore_errors=True)
    destination.mkdir(parents=True)
    archive = destination.with_suffix(".tar")
    run("git", "-C", ROOT, "archive", "--format=tar", "-o", archive, commit)
    with tarfile.open(archive) as tar:
        tar.extractall(destination, filter="data")
    archive.unlink()
    return destination


def build_environment(data_dir: Path) -> tuple[list[str], int]:
    """The distributions hatch installed in the build environment under ``data_dir``, and its size in bytes."""
    names = sorted(
        path.name.split("-")[0].lower().replace("_", "-")
        for path in data_dir.rglob("site-packages/*.dist-info")
        if path.is_dir()
    )
    size = sum(path.lstat().st_size for path in data_dir.rglob("*") if path.is_file() and not path.is_symlink())
    return names, size


def cold_build(
    fixture: Path, wheels: Path, temp: Path, *, empty_cache: bool = False
) -> tuple[float, tuple[list[str], int]]:
    run_dir = Path(tempfile.mkdtemp(dir=temp))
    caches = run_dir if empty_cache else WORK
    project = run_dir / "project"
    shutil.copytree(fixture, project, ignore=shutil.ignore_patterns("dist"))
    env = {
        **os.environ,
        "HATCH_DATA_DIR": os.fspath(run_dir / "hatch"),  # no build environment yet
        "HATCH_ZIPAPP_CACHE_DIR": os.fspath(WORK / "zipapp-cache"),
        "UV_CACHE_DIR": os.fspath(caches / "uv-cache"),
        "PIP_CACHE_DIR": os.fspath(caches / "pip-cache"),
        "UV_FIND_LINKS": os.fspath(wheels),
        "PIP_FIND_LINKS": os.fspath(wheels),
    }
    start = time.perf_counter()
    run(BIN / "hatch", "build", "-t", "zipapp", env=env, cwd=project)
    elapsed = time.perf_counter() - start
    assert list((project / "dist").glob("*.pyz")), "no .pyz built"
    installed = build_environment(run_dir / "hatch")
    shutil.rmtree(run_dir)
    return elapsed, installed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default="8570ee6", help="the commit to compare with (default: %(default)s)")
    parser.add_argument("--fixture", default="fixtures/hello", help="the project to build (default: %(default)s)")
    parser.add_argument("--runs", type=int, default=5, help="timed runs of each after one warm-up (default: 5)")
    parser.add_argument(
        "--empty-cache-runs",
        type=int,
        default=3,
        help="then timed runs of each with empty wheel caches too: every wheel downloaded (default: 3)",
    )
    options = parser.parse_args()

    if not (BIN / "hatch").exists():
        WORK.mkdir(parents=True, exist_ok=True)
        run(sys.executable, "-m", "venv", VENV)
        run(BIN / "python", "-m", "pip", "install", "-q", "hatch", "hatchling")
    before_tree = checkout(options.before, WORK / "before-src")
    wheels = {
        f"before ({options.before})": wheel_of(before_tree, WORK / "before-wheels").parent,
        "after (this checkout)": wheel_of(ROOT, WORK / "after-wheels").parent,
    }
    fixture = ROOT / options.fixture
    samples: dict[str, list[float]] = {label: [] for label in wheels}
    empty: dict[str, list[float]] = {label: [] for label in wheels}
    installed: dict[str, tuple[list[str], int]] = {}
    with tempfile.TemporaryDirectory(prefix="hatch-zipapp-cold-") as temp_name:
        temp = Path(temp_name)
        for label, directory in wheels.items():  # warm-up: fills the wheel caches
            installed[label] = cold_build(fixture, directory, temp)[1]
        for _ in range(options.runs):
            for label, directory in wheels.items():
                samples[label].append(cold_build(fixture, directory, temp)[0])
        for _ in range(options.empty_cache_runs):
            for label, directory in wheels.items():
                empty[label].append(cold_build(fixture, directory, temp, empty_cache=True)[0])

    python = sys.version.split()[0]
    print(f"cold `hatch build -t zipapp` of {options.fixture}: a fresh HATCH_DATA_DIR each run (build environment")
    print(f"created from scratch); Python {python}, {os.cpu_count()} CPUs; runs alternate before/after")
    for title, results in (
        (f"wheel caches warm ({options.runs} runs of each after one warm-up)", samples),
        (f"wheel caches empty: every wheel downloaded ({options.empty_cache_runs} runs of each)", empty),
    ):
        if not all(results.values()):
            continue
        print(title)
        for label, times in results.items():
            names, size = installed[label]
            print(
                f"  {label:<24} median {statistics.median(times):6.2f} s  (min {min(times):.2f}, max {max(times):.2f})"
                f"; build environment: {len(names)} distributions, {size / 1e6:.1f} MB"
            )
        before, after = (statistics.median(times) for times in results.values())
        print(f"  after / before: {after / before:.2f}")
    for label, (names, _) in installed.items():
        print(f"{label}: {', '.join(names)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
