"""Benchmark: delta deploys — what `hatch_zipapp.deploy.fetch` transfers for a release when the server holds the one
before, against the whole download.

One command, from the repository root (the checkout's .venv: `bash tests/run.sh --co -q` makes it):

    .venv/bin/python bench/delta.py                       # builds the example site's releases (needs the index once)
    .venv/bin/python bench/delta.py --pair OLD.pyz NEW.pyz  # any two releases (with NEW.pyz.index beside NEW)

It builds, into .bench/delta (kept: a second run reuses them), three releases of fixtures/mysite, each with its own
``SOURCE_DATE_EPOCH`` (as CI sets it to the commit time, so every header differs):

- 1.0: the site with one dependency (whitenoise) held one release back (its lock made with `hatch-zipapp lock`);
- 1.1: 1.0 with one line of the project's code changed (notes/views.py) and the version bumped;
- 1.2: 1.1 with that dependency upgraded to the fixture's locked version (the lock as the fixture has it).

Then, for each pair (1.0 → 1.1: a one-line change; 1.1 → 1.2: a dependency upgrade), it serves the new release on
127.0.0.1 with a server that honours ``Range`` and counts the bytes it sends, fetches it into a directory holding
the old release, checks the result is bit for bit the published file, and prints the bytes over the network (the
index, the checksum and the ranges), their share of the artifact, the time, and the whole download's bytes and time
(docs/performance.md records a run).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [os.fspath(ROOT / "src"), os.fspath(ROOT)]

WORK = ROOT / ".bench" / "delta"
FIXTURE = ROOT / "fixtures" / "mysite"
HELD_BACK = "whitenoise"
#: What --large adds to the site: Wagtail, the four servers `serve` runs, and psycopg (tests/servers.py).
LARGE = ["wagtail>=7", "pyuwsgi>=2.0.28", "uvicorn>=0.30", "granian>=2.0", "psycopg[binary]>=3.2"]
EPOCHS = {"1.0": 1_765_000_000, "1.1": 1_765_086_400, "1.2": 1_765_172_800}


def _run(command: list[str], cwd: Path, env: dict[str, str] | None = None) -> None:
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if result.returncode:
        sys.exit(f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}")


def _locked_version(lock: Path, name: str) -> str:
    found = re.search(rf'\nname = "{name}"\nversion = "([^"]+)"', lock.read_text())
    assert found, f"{name} is not in {lock}"
    return found.group(1)


def build_releases(work: Path, extra: list[str]) -> dict[str, Path]:
    """1.0, 1.1 and 1.2 of the example site with ``extra`` dependencies (see the module's docstring), built once
    into ``work``."""
    built: dict[str, Path] = {}
    site = work / "site"
    for version in EPOCHS:
        found = sorted((work / version).glob("*.pyz"))
        if found:
            built[version] = found[0]
    if len(built) == len(EPOCHS):
        return built
    shutil.rmtree(site, ignore_errors=True)
    shutil.copytree(FIXTURE, site, ignore=shutil.ignore_patterns("dist", ".venv"))
    pyproject, lock = site / "pyproject.toml", site / "pylock.toml"
    text = pyproject.read_text()
    marker = "dependencies = [\n"
    assert marker in text
    pyproject.write_text(text.replace(marker, marker + "".join(f'  "{d}",\n' for d in extra)))
    if extra:
        _run([sys.executable, "-m", "hatch_zipapp", "lock"], site)
    upgraded_pyproject, upgraded_lock = pyproject.read_text(), lock.read_text()
    latest = _locked_version(lock, HELD_BACK)
    held = upgraded_pyproject.replace(f'"{HELD_BACK}>=', f'"{HELD_BACK}<{latest}", "{HELD_BACK}>=')
    assert held != upgraded_pyproject
    pyproject.write_text(held)
    _run([sys.executable, "-m", "hatch_zipapp", "lock"], site)
    views = site / "src" / "notes" / "views.py"
    for version in EPOCHS:
        text = pyproject.read_text().replace('\nversion = "1.0"\n', f'\nversion = "{version}"\n')
        if version == "1.1":
            views.write_text(views.read_text() + "\n# release 1.1: one line changed\n")
        if version == "1.2":
            text = upgraded_pyproject.replace('\nversion = "1.0"\n', f'\nversion = "{version}"\n')
            lock.write_text(upgraded_lock)
        pyproject.write_text(text)
        if version not in built:
            output = work / version
            shutil.rmtree(output, ignore_errors=True)
            env = {**os.environ, "SOURCE_DATE_EPOCH": str(EPOCHS[version])}
            _run([sys.executable, "-m", "hatchling", "build", "-t", "zipapp", "-d", os.fspath(output)], site, env)
            built[version] = next(output.glob("*.pyz"))
    print(f"{HELD_BACK}: 1.0 and 1.1 below {latest}, 1.2 at {latest}")
    return built


def measure(old: Path, new: Path, what: str, links: list[tuple[str, float | None, float]]) -> None:
    from tests.rangeserver import RangeServer

    from hatch_zipapp.deploy.fetch import fetch

    index = new.with_name(new.name + ".index")
    assert index.is_file(), f"no {index.name} beside {new}"
    size = new.stat().st_size
    print(f"{what}: {new.name}, {size:,} bytes; its index {index.stat().st_size:,} bytes "
          f"({index.stat().st_size / size:.2%})")  # fmt: skip
    with tempfile.TemporaryDirectory() as scratch:
        published = Path(scratch) / "published"
        published.mkdir()
        for path in (new, index, new.with_name(new.name + ".sha256")):
            shutil.copy(path, published / path.name)
        for link, rate, delay in links:
            with RangeServer(published, rate=rate, delay=delay) as server:
                url = f"{server.url}/{new.name}"
                for how in ("delta", "whole"):
                    releases = Path(scratch) / f"{len(link)}-{rate}-{how}"
                    releases.mkdir()
                    if how == "delta":
                        shutil.copy(old, releases / old.name)
                    server.sent = server.requests = 0
                    start = time.perf_counter()
                    result = fetch(url, releases, sha256=None, say=lambda line: None)
                    elapsed = time.perf_counter() - start
                    assert result.path.read_bytes() == new.read_bytes(), "not the published file"
                    assert result.transferred == server.sent, (result.transferred, server.sent)
                    print(
                        f"  {link:16} {result.how:15} {server.sent:>11,} bytes ({server.sent / size:7.2%}), "
                        f"{server.requests:2} requests, {elapsed:6.2f} s"
                    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pair", nargs=2, type=Path, metavar=("OLD", "NEW"), help="two releases to measure")
    parser.add_argument("--large", action="store_true", help=f"the site with {', '.join(LARGE)} too")
    parser.add_argument("--mbit", type=float, default=100.0, help="the modelled link's rate (default 100 Mbit/s)")
    parser.add_argument("--rtt", type=float, default=20.0, help="its round trip, each request (default 20 ms)")
    options = parser.parse_args()
    links = [
        ("loopback", None, 0.0),
        (f"{options.mbit:g} Mbit/s {options.rtt:g} ms", options.mbit * 1e6 / 8, options.rtt / 1000),
    ]
    if options.pair:
        old, new = options.pair
        measure(old, new, new.name, links)
        return
    extra = LARGE if options.large else []
    releases = build_releases(WORK / ("large" if options.large else "site"), extra)
    measure(releases["1.0"], releases["1.1"], "one-line change 1.0 -> 1.1", links)
    measure(releases["1.1"], releases["1.2"], f"{HELD_BACK} upgrade 1.1 -> 1.2", links)


if __name__ == "__main__":
    main()
