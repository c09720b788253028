"""Benchmark: the `embed-python` executable against the same app as a .pyz run by the host's Python, and a virtualenv.

One command, from the repository root (the test virtualenv: `bash tests/run.sh --version` makes it):

    .venv/bin/python bench/embedded.py            # or: --runs 15

The app is the tests' tiny app (tests/helpers.py: one package, one locked wheel), so the figures are the start-up
machinery's own cost, not an application's imports. The interpreter is a CPython of the running Python's version from
this machine, packed in python-build-standalone's layout (tests/pbs_archive.py; real archives cannot be downloaded
here). All three use that same CPython: the executable its unpacked copy, the .pyz an empty virtualenv of the original
(`venv/bin/python app.pyz`, as bench/start.py runs it), the virtualenv the original.
Measured in one run, in interleaved rounds (each row once per round, in a rotated order), as medians after one
uncounted round:

- size of the executable, the .pyz and the interpreter archive;
- first start: a root never used before (ZIPAPP_ROOT), the disk synced before the clock starts; for the executable
  it unpacks the interpreter and extracts site-packages, for the .pyz it extracts site-packages;
- warm start: the same root again;
- two floors, measured in the same rounds: unpacking the interpreter archive and nothing else (`gzip -dc | tar -x`
  into a directory never used before, the disk synced first), which every first start of an executable holding a
  compressed interpreter pays; and `sh` exec'ing the unpacked interpreter on the executable (`sh -c 'exec PYTHON -I
  FILE'`), which every start of a launcher that needs only POSIX `sh` pays.

Goals (issue 15): warm start within 1.05x the .pyz's, first start within 2x the .pyz's cold start. The floors say
how far those goals can be met at all with a tiny app: the first start cannot be faster than the .pyz's cold start
plus the unpack floor, the warm start than the sh floor.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, os.fspath(Path(__file__).parent.parent))
from tests.helpers import IndexServer, build, interpreters, make_project, make_wheel, pylock_text
from tests.pbs_archive import make_archive

TIMEOUT = 300


def _build(work: Path, archive: Path | None) -> Path:
    """The tiny app, as a .pyz or (with ``archive``) an executable embedding it."""
    wheelhouse = work / "wheelhouse"
    wheelhouse.mkdir(exist_ok=True)
    alpha = make_wheel(wheelhouse, "alpha", "1.0")
    name = "embedded" if archive else "plain"
    zipapp = ""
    if archive is not None:
        digest = hashlib.sha256(archive.read_bytes()).hexdigest()
        zipapp = f'embed-python = true\npython-archive = {{ url = "{archive.as_uri()}", sha256 = "{digest}" }}\n'
    project = make_project(work / name, dependencies=["alpha"], zipapp=zipapp)
    server = IndexServer(wheelhouse)
    try:
        (project / "pylock.toml").write_text(pylock_text([[alpha]], base_url=server.url))
        return build(project)
    finally:
        server.stop()


def _virtualenv(work: Path, python: str, pyz_project: Path) -> Path:
    """A virtualenv of ``python`` with the app and its wheel installed; its console script."""
    venv = work / "venv"
    subprocess.run([python, "-m", "venv", "--without-pip", os.fspath(venv)], check=True, timeout=TIMEOUT)
    wheels = [*sorted((pyz_project / "dist").glob("*.whl")), *sorted((work / "wheelhouse").glob("*.whl"))]
    site = next((venv / "lib").glob("python3.*")) / "site-packages"
    code = "import sys; from installer import install; from installer.destinations import SchemeDictionaryDestination"
    code += "; from installer.sources import WheelFile; import sysconfig\n"
    code += "scheme = sysconfig.get_paths(vars={'base': sys.argv[1], 'platbase': sys.argv[1]})\n"
    code += "dest = SchemeDictionaryDestination(scheme, interpreter=sys.argv[2], script_kind='posix')\n"
    code += "for w in sys.argv[3:]:\n    with WheelFile.open(w) as s: install(s, dest, {})\n"
    subprocess.run(
        [sys.executable, "-c", code, os.fspath(venv), os.fspath(venv / "bin" / "python"), *map(os.fspath, wheels)],
        check=True,
        timeout=TIMEOUT,
    )
    assert site.is_dir()
    return venv / "bin" / "app"


def _time(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    result = subprocess.run(command, env=env, capture_output=True, timeout=TIMEOUT, check=False)
    elapsed = time.perf_counter() - started
    if result.returncode != 0 or b"app ok" not in result.stdout:
        raise SystemExit(f"{command} failed: {result.stderr.decode(errors='replace')}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    options = parser.parse_args()
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    python = interpreters()[version]
    with tempfile.TemporaryDirectory(prefix="hatch-zipapp-embedded-") as temp:
        work = Path(temp)
        archive = make_archive(python, work / f"cpython-{version}-install_only.tar.gz", level=9)
        executable = _build(work, archive)
        pyz = _build(work, None)
        script = _virtualenv(work, python, work / "plain")
        # The .pyz runs with an empty virtualenv's interpreter (as bench/start.py does): the bare host interpreter would
        # first run its own site-packages' .pth files, which are not the .pyz's cost.
        empty = work / "empty-venv"
        subprocess.run([python, "-m", "venv", "--without-pip", os.fspath(empty)], check=True, timeout=TIMEOUT)
        host = os.fspath(empty / "bin" / "python")
        base = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "ZIPAPP", "SHIV", "VIRTUAL_ENV"))}
        counter = itertools.count()

        def cold(command: list[str]) -> Callable[[], float]:
            def run() -> float:
                root = work / "roots" / f"cold-{next(counter)}"
                os.sync()
                return _time(command, {**base, "ZIPAPP_ROOT": os.fspath(root)})

            return run

        def warm(command: list[str], root: Path) -> Callable[[], float]:
            return lambda: _time(command, {**base, "ZIPAPP_ROOT": os.fspath(root)})

        warm_root = work / "roots" / "warm"

        def unpack() -> float:
            target = work / "roots" / f"unpack-{next(counter)}"
            target.mkdir(parents=True)
            os.sync()
            started = time.perf_counter()
            subprocess.run(
                ["sh", "-c", 'gzip -dc "$0" | tar -x -f - -C "$1"', os.fspath(archive), os.fspath(target)],
                check=True, timeout=TIMEOUT,
            )  # fmt: skip
            return time.perf_counter() - started

        def sh_exec() -> float:
            found = sorted(warm_root.rglob("cpython-*/python/bin/python3"))
            if not found:  # the executable's warm row has not run yet in the uncounted round
                _time([os.fspath(executable)], {**base, "ZIPAPP_ROOT": os.fspath(warm_root)})
                found = sorted(warm_root.rglob("cpython-*/python/bin/python3"))
            command = ["sh", "-c", 'exec "$0" -I "$1"', os.fspath(found[0]), os.fspath(executable)]
            return _time(command, {**base, "ZIPAPP_ROOT": os.fspath(warm_root)})

        rows: dict[str, Callable[[], float]] = {
            "floor: unpack the interpreter (gzip|tar)": unpack,
            "floor: sh exec python -I FILE (warm)": sh_exec,
            "executable, first start": cold([os.fspath(executable)]),
            "executable, warm start": warm([os.fspath(executable)], warm_root),
            ".pyz (python3 app.pyz), cold start": cold([host, os.fspath(pyz)]),
            ".pyz (python3 app.pyz), warm start": warm([host, os.fspath(pyz)], warm_root),
            "virtualenv (venv/bin/app)": warm([os.fspath(script)], warm_root),
        }
        times: dict[str, list[float]] = {name: [] for name in rows}
        names = list(rows)
        for round_number in range(options.runs + 1):
            shift = round_number % len(names)
            for name in names[shift:] + names[:shift]:
                elapsed = rows[name]()
                if round_number:  # the first round warms the page cache and the warm root
                    times[name].append(elapsed)
        medians = {name: statistics.median(values) * 1000 for name, values in times.items()}
        print(f"CPython {version} ({python}), {options.runs} rounds, medians")
        print(f"size: executable {executable.stat().st_size / 1e6:.1f} MB, .pyz {pyz.stat().st_size / 1e3:.1f} kB, ")
        print(f"      interpreter archive {archive.stat().st_size / 1e6:.1f} MB (gzip -9)")
        unpacked = sum(f.stat().st_size for f in (warm_root).rglob("*") if f.is_file() and "cpython-" in str(f))
        print(f"      unpacked interpreter {unpacked / 1e6:.1f} MB")
        for name, value in medians.items():
            print(f"{name:40} {value:8.1f} ms")
        warm_ratio = medians["executable, warm start"] / medians[".pyz (python3 app.pyz), warm start"]
        cold_ratio = medians["executable, first start"] / medians[".pyz (python3 app.pyz), cold start"]
        first_floor = (
            medians[".pyz (python3 app.pyz), cold start"] + medians["floor: unpack the interpreter (gzip|tar)"]
        )
        print(
            f"warm start: {warm_ratio:.2f}x the .pyz's (goal 1.05x); "
            f"{medians['executable, warm start'] / medians['floor: sh exec python -I FILE (warm)']:.2f}x the sh floor"
        )
        print(
            f"first start: {cold_ratio:.2f}x the .pyz's cold start (goal 2x); "
            f"{medians['executable, first start'] / first_floor:.2f}x the floor (.pyz cold start + unpack)"
        )
        pyz_cold, pyz_warm = (
            medians[".pyz (python3 app.pyz), cold start"],
            medians[".pyz (python3 app.pyz), warm start"],
        )
        sh_floor = medians["floor: sh exec python -I FILE (warm)"]
        print(
            f"floor of the first start / .pyz cold start: {first_floor / pyz_cold:.2f}x; "
            f"floor of the warm start / .pyz warm start: {sh_floor / pyz_warm:.2f}x"
        )
        shutil.rmtree(work / "roots", ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
