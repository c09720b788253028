"""Benchmark: a warm rebuild of the example site with hatch-zipapp, shiv and pex, from the same lock, and the floor.

One command, from the repository root:

    python bench/build.py            # or: python bench/build.py --fixture fixtures/hello --runs 7

It makes its own virtualenv (.bench/venv) with hatch-zipapp from this checkout, shiv and pex; fills a wheelhouse
with exactly the files the lock selects for this machine (so shiv and pex install the same bytes, offline); then
times, after one warm-up run each:

- hatch-zipapp: `python -m hatchling build -t zipapp` (what `hatch build -t zipapp` runs in its build env);
- shiv:  `shiv --reproducible --no-index --find-links WHEELHOUSE -r pins.txt PROJECT`;
- pex:   `pex --no-pypi -f WHEELHOUSE -r pins.txt PROJECT` (warm pex cache);
- deflate floor: zipping the same staged files (the .pyz's site-packages, extracted) with zipfile, deflate level 6;
- raw-copy floor: the same files written into a zip without compressing (zipfile, stored): what writing the bytes
  costs, with no compression at all.

It prints medians, sizes, each tool's peak memory (the largest process's maximum resident set size, measured on the
warm-up run) and the ratios the targets are stated in (docs/performance.md records a run). With `--memory`, it builds
the fixture with hatch-zipapp alone (any fixture, `fixtures/stack` with its four targets too) and prints the peak
memory against the goal: at most 1.5x the largest .pyz plus the interpreter's baseline (the same build process for a
project with nothing to embed: its imports, hatchling, the project's wheel).
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / ".bench"
VENV = WORK / "venv"
BIN = VENV / "bin"

PEAK = """
import resource, subprocess, sys
code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
sys.exit(code)
"""

FLOOR = """
import os, sys, zipfile
src, out, method = sys.argv[1], sys.argv[2], getattr(zipfile, sys.argv[3])
with zipfile.ZipFile(out, "w", method, compresslevel=6) as z:
    for root, dirs, files in os.walk(src):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(root, name)
            z.write(path, os.path.relpath(path, src))
"""


def run(*args: str | os.PathLike[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> None:
    command = [os.fspath(a) for a in args]
    result = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, check=False, timeout=1800)
    if result.returncode:
        sys.exit(f"bench: {' '.join(command)} failed:\n{result.stdout}{result.stderr}")


PEAKS: dict[tuple[str, ...], int] = {}


def peak_rss(*args: str | os.PathLike[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> int:
    """Run a command under a small parent that reports ``getrusage(RUSAGE_CHILDREN).ru_maxrss``: the maximum resident
    set size of the largest process among the command and its children, in bytes (Linux reports KiB)."""
    command = [sys.executable, "-c", PEAK, *(os.fspath(a) for a in args)]
    result = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    if result.returncode:
        sys.exit(f"bench: {' '.join(command[3:])} failed")
    return int(result.stdout.split()[-1]) * 1024


def timed(
    runs: int,
    *args: str | os.PathLike[str],
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    before: object = None,
) -> float:
    """The median time of ``runs`` runs after one warm-up run, which also measures the peak memory (in PEAKS)."""
    samples = []
    for i in range(runs + 1):
        if callable(before):
            before()
        if not i:  # the first run warms the caches, and is measured for memory (not for time: the parent costs)
            PEAKS[tuple(os.fspath(a) for a in args)] = peak_rss(*args, env=env, cwd=cwd)
            continue
        start = time.perf_counter()
        run(*args, env=env, cwd=cwd)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def _peak(*args: str | os.PathLike[str]) -> int:
    return PEAKS[tuple(os.fspath(a) for a in args)]


def setup() -> None:
    if not (BIN / "python").exists():
        WORK.mkdir(exist_ok=True)
        run(sys.executable, "-m", "venv", VENV)
    wheels = WORK / "checkout"
    shutil.rmtree(wheels, ignore_errors=True)
    run(BIN / "python", "-m", "pip", "install", "-q", "hatchling", "shiv", "pex")
    run(BIN / "python", "-m", "hatchling", "build", "-t", "wheel", "-d", wheels, cwd=ROOT)
    run(BIN / "python", "-m", "pip", "install", "-q", "--force-reinstall", "--no-deps", *wheels.glob("*.whl"))
    run(BIN / "python", "-m", "pip", "install", "-q", *wheels.glob("*.whl"))


def build_example(temp: Path, env: dict[str, str], bin_dir: Path = BIN, label: str = "") -> tuple[Path, Path]:
    """The example site (fixtures/mysite of this checkout) copied into ``temp`` and built with the hatch-zipapp of
    ``bin_dir``'s virtualenv (the bench's, or :func:`checkout_builder`'s) into ``temp/dist`` (``temp/dist@LABEL``
    for another checkout's builder): (the project, its .pyz); its wheel lies beside the .pyz."""
    suffix = f"@{label}" if label else ""
    project, dist = temp / f"mysite{suffix}", temp / f"dist{suffix}"
    shutil.copytree(ROOT / "fixtures" / "mysite", project, ignore=shutil.ignore_patterns("dist"))
    run(bin_dir / "python", "-m", "hatchling", "build", "-t", "zipapp", "-d", dist, cwd=project, env=env)
    return project, next(dist.glob("*.pyz"))


def checkout_builder(revision: str) -> tuple[str, Path]:
    """Another checkout's builder: the commit ``revision`` names in this repository (a hash, a branch, a tag,
    ``main~3``), its tree written out with ``git archive`` (no worktree is registered), its wheel built and installed
    with hatchling into a virtualenv of its own, ``.bench/against/COMMIT/venv`` (kept for the next run: a commit's
    builder never changes). (the commit's 12-digit hash, that virtualenv's bin directory)."""
    resolved = subprocess.run(
        ["git", "-C", os.fspath(ROOT), "rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    if resolved.returncode:
        sys.exit(f"bench: --against {revision}: no such commit in {ROOT}")
    commit = resolved.stdout.strip()
    home = WORK / "against" / commit
    bin_dir, ready = home / "venv" / "bin", home / "ready"
    if ready.exists():
        return commit[:12], bin_dir
    shutil.rmtree(home, ignore_errors=True)
    tree, wheels = home / "tree", home / "wheels"
    tree.mkdir(parents=True)
    run("git", "-C", ROOT, "archive", "--format=tar", "-o", home / "tree.tar", commit)
    run("tar", "-xf", home / "tree.tar", "-C", tree)
    run(BIN / "python", "-m", "hatchling", "build", "-t", "wheel", "-d", wheels, cwd=tree)
    run(sys.executable, "-m", "venv", home / "venv")
    run(bin_dir / "python", "-m", "pip", "install", "-q", "hatchling", *wheels.glob("*.whl"))
    ready.touch()
    return commit[:12], bin_dir


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fixture", default="fixtures/mysite", help="the project to build (default: %(default)s)")
    parser.add_argument("--runs", type=int, default=5, help="timed runs after one warm-up (default: %(default)s)")
    parser.add_argument("--memory", action="store_true", help="hatch-zipapp alone: peak memory against the goal")
    options = parser.parse_args()

    setup()
    if options.memory:
        return memory(options.fixture, options.runs)
    with tempfile.TemporaryDirectory(prefix="hatch-zipapp-bench-") as temp_name:
        temp = Path(temp_name)
        project = temp / "project"
        shutil.copytree(ROOT / options.fixture, project, ignore=shutil.ignore_patterns("dist"))
        env = {
            **os.environ,
            "HATCH_ZIPAPP_CACHE_DIR": os.fspath(WORK / "cache"),
            "PEX_ROOT": os.fspath(WORK / "pex-root"),
        }
        env.pop("PIP_FIND_LINKS", None)

        # Like for like: what shiv and pex put in an app (no bytecode, no collected static files).
        like = temp / "like-for-like"
        shutil.copytree(project, like)
        _without_extras(like / "pyproject.toml")

        # The files the lock selects for this machine, for shiv and pex to install offline.
        ours, ours_full = temp / "ours", temp / "ours-full"
        run(BIN / "python", "-m", "hatchling", "build", "-t", "zipapp", "-d", ours, cwd=like, env=env)
        run(BIN / "python", "-m", "hatchling", "build", "-t", "zipapp", "-d", ours_full, cwd=project, env=env)
        pyz, pyz_full = next(ours.glob("*.pyz")), next(ours_full.glob("*.pyz"))
        wheelhouse, pins = temp / "wheelhouse", temp / "pins.txt"
        wheelhouse.mkdir()
        run(BIN / "python", ROOT / "bench" / "wheelhouse.py", project, wheelhouse, pins, env=env)
        run(
            BIN / "python",
            "-m",
            "pip",
            "download",
            "-q",
            "-d",
            wheelhouse,
            "hatchling",
            "wheel==0.37.1",
            "setuptools<71",
            env=env,
        )  # pex pip 20.3 needs these
        for wheel in (WORK / "checkout").glob("*.whl"):  # the fixture's build backend needs hatch-zipapp too
            shutil.copy(wheel, wheelhouse)
        for wheel in (WORK / "checkout").glob("*.whl"):
            run(BIN / "python", "-m", "pip", "download", "-q", "-d", wheelhouse, wheel, env=env)

        entry = _entry_point(project)
        results: dict[str, float] = {}
        sizes: dict[str, int] = {}
        build = (BIN / "python", "-m", "hatchling", "build", "-t", "zipapp", "-d")
        peaks: dict[str, int] = {}
        results["hatch-zipapp"] = timed(options.runs, *build, ours, cwd=like, env=env)
        sizes["hatch-zipapp"], peaks["hatch-zipapp"] = pyz.stat().st_size, _peak(*build, ours)
        results["hatch-zipapp, full"] = timed(options.runs, *build, ours_full, cwd=project, env=env)
        sizes["hatch-zipapp, full"], peaks["hatch-zipapp, full"] = pyz_full.stat().st_size, _peak(*build, ours_full)

        shiv_out = temp / "shiv.pyz"
        shiv: tuple[str | Path, ...] = (BIN / "shiv", "--reproducible", "-o", shiv_out, "-e", entry, "--no-index")
        shiv = (*shiv, "--find-links", wheelhouse, "-r", pins, project)
        results["shiv"] = timed(options.runs, *shiv, env=env)
        sizes["shiv"], peaks["shiv"] = shiv_out.stat().st_size, _peak(*shiv)

        pex_out = temp / "app.pex"
        pex = (BIN / "pex", "--no-pypi", "-f", wheelhouse, "-r", pins, project, "-e", entry, "-o", pex_out)
        results["pex"] = timed(options.runs, *pex, env=env)
        sizes["pex"], peaks["pex"] = pex_out.stat().st_size, _peak(*pex)

        staged = temp / "staged"
        with zipfile.ZipFile(pyz) as outer, zipfile.ZipFile(io.BytesIO(outer.read("site-packages.zip"))) as inner:
            inner.extractall(staged)  # the .pyz's site-packages (kept in its stored site-packages.zip)
            files = len(outer.namelist()) - 1 + len(inner.namelist())
        for label, method in (("floor (deflate)", "ZIP_DEFLATED"), ("floor (raw copy)", "ZIP_STORED")):
            floor_out = temp / f"{method}.zip"
            floor = (BIN / "python", "-c", FLOOR, staged, floor_out, method)
            results[label] = timed(options.runs, *floor)
            sizes[label], peaks[label] = floor_out.stat().st_size, _peak(*floor)

    python = sys.version.split()[0]
    print(f"fixture: {options.fixture} ({files} files in the .pyz), Python {python}, {os.cpu_count()} CPUs")
    print(f"warm rebuild, median of {options.runs} after one warm-up")
    print("(hatch-zipapp: like for like with shiv and pex; 'full' adds its .pyc files and, for a Django site,")
    print(" the collected static files with their .gz/.br variants; ratios use the like-for-like build)")
    print(f"{'tool':<18}{'time (s)':>10}{'size (bytes)':>16}{'peak RSS (MB)':>15}")
    for tool, seconds in results.items():
        print(f"{tool:<18}{seconds:>10.3f}{sizes[tool]:>16,}{peaks[tool] / 1e6:>15.1f}")
    ours_t, ours_s = results["hatch-zipapp"], sizes["hatch-zipapp"]
    ratios = {
        "time / shiv": (ours_t / results["shiv"], 0.3),
        "time / pex": (ours_t / results["pex"], None),
        "time / deflate": (ours_t / results["floor (deflate)"], 0.8),
        "time / raw copy": (ours_t / results["floor (raw copy)"], None),
        "size / shiv": (ours_s / sizes["shiv"], 1.02),
        "size / pex": (ours_s / sizes["pex"], None),
    }
    for label, (ratio, target) in ratios.items():
        verdict = "" if target is None else f"  target <= {target}: {'met' if ratio <= target else 'MISSED'}"
        print(f"{label:<18}{ratio:>10.3f}{verdict}")
    return 0


def memory(fixture: str, runs: int) -> int:
    """Build ``fixture`` with hatch-zipapp alone (warm caches): time, the largest .pyz, and the peak memory against
    1.5x that .pyz plus the baseline, a build of a project with nothing to embed (its lock is empty)."""
    with tempfile.TemporaryDirectory(prefix="hatch-zipapp-bench-") as temp_name:
        temp = Path(temp_name)
        project, empty = temp / "project", temp / "empty"
        shutil.copytree(ROOT / fixture, project, ignore=shutil.ignore_patterns("dist"))
        shutil.copytree(ROOT / "fixtures" / "hello", empty, ignore=shutil.ignore_patterns("dist"))
        pyproject = empty / "pyproject.toml"
        pyproject.write_text(pyproject.read_text().replace('dependencies = ["', 'dependencies = [] # ["'))
        (empty / "pylock.toml").write_text('lock-version = "1.0"\ncreated-by = "bench"\npackages = []\n')
        env = {**os.environ, "HATCH_ZIPAPP_CACHE_DIR": os.fspath(WORK / "cache")}
        build = (BIN / "python", "-m", "hatchling", "build", "-t", "zipapp", "-d")
        seconds = timed(runs, *build, temp / "out", cwd=project, env=env)
        peak = _peak(*build, temp / "out")
        largest = max(path.stat().st_size for path in (temp / "out").glob("*.pyz"))
        timed(1, *build, temp / "empty-out", cwd=empty, env=env)
        baseline = _peak(*build, temp / "empty-out")
    goal = 1.5 * largest + baseline
    print(f"fixture: {fixture}, Python {sys.version.split()[0]}, {os.cpu_count()} CPUs; warm build, median of {runs}")
    print(f"time {seconds:.3f} s; largest .pyz {largest:,} bytes")
    print(f"peak RSS {peak / 1e6:.1f} MB; baseline (nothing to embed) {baseline / 1e6:.1f} MB")
    verdict = "met" if peak <= goal else "MISSED"
    print(f"goal: peak <= 1.5 x largest .pyz + baseline = {goal / 1e6:.1f} MB: {verdict} ({peak / goal:.2f}x)")
    return 0


def _without_extras(pyproject: Path) -> None:
    """`bytecode = false` and, for a Django site, `collectstatic = false`: only what shiv and pex embed."""
    text = pyproject.read_text()
    table = "[tool.hatch.build.targets.zipapp]"
    text = (
        text.replace(table, f"{table}\nbytecode = false") if table in text else f"{text}\n{table}\nbytecode = false\n"
    )
    django = "[tool.hatch.build.targets.zipapp.django]"
    text = text.replace(django, f"{django}\ncollectstatic = false")
    pyproject.write_text(text)


def _entry_point(project: Path) -> str:
    """The entry point for shiv and pex: the zipapp target's, a Django site's manage.py, or the only script."""
    import tomllib

    data = tomllib.loads((project / "pyproject.toml").read_text())
    zipapp = data.get("tool", {}).get("hatch", {}).get("build", {}).get("targets", {}).get("zipapp", {})
    scripts = data["project"].get("scripts", {})
    configured = zipapp.get("entry-point")
    if configured:
        return str(configured if ":" in configured else scripts[configured])
    if "django" in zipapp:
        return "django.core.management:execute_from_command_line"
    return str(next(iter(scripts.values())))


if __name__ == "__main__":
    sys.exit(main())
