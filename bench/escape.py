"""Benchmark: the escape battery (fixtures/escape, issue 25), side by side in one run, attempt by attempt.

One command, from the repository root, as root, with the checkout's virtualenv (`bash tests/run.sh` makes it):

    .venv/bin/python bench/escape.py          # or: --no-box, --no-podman, --json results.json

- (a) under the unit `hatch-zipapp systemd` writes, (b) under `hatch-zipapp systemd --confine` with the site's
  declaration (one endpoint, one write path): both in one systemd box (tests/sdbox.py), beside another service, as
  tests/test_escape_real.py sets it up (its ``escape_box``);
- (c) in podman's default container of the same .pyz (run as the image's root, `python3 /srv/escape/escape.pyz`), and
  (d) the same with ``--network none``. The image is made here: ``podman import`` of the box's Debian 12 root (no
  registry is reachable), the .pyz and the declared directory added by ``podman build``. podman runs with ``--runtime
  runc --ulimit nofile=20000:20000 --ulimit nproc=4096:4096`` (crun fails here on ``setrlimit RLIMIT_NOFILE`` and
  on the host's hybrid cgroups). The other service is on the host, for the containers: its files (under
  ``hz-escape-other`` names, removed at the end), its listeners on 127.0.0.1 and on the podman bridge's gateway
  (the address out there, and the declared endpoint), its Unix sockets, held by a process of ``nobody``.

Prints the table (markdown: docs/security.md records a run), the count blocked per column, the date and the versions
(podman, kernel, the box's systemd).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, os.fspath(ROOT))

from tests import sdbox  # noqa: E402
from tests import test_escape_real as scenario  # noqa: E402
from tests.helpers import build  # noqa: E402

IMAGE = "localhost/hatch-zipapp-escape"
PODMAN = ["podman", "run", "--rm", "--runtime", "runc", "--ulimit", "nofile=20000:20000", "--ulimit", "nproc=4096:4096"]
GATEWAY = "10.88.0.1"  # podman's default bridge network (podman network inspect podman)
COLUMNS = {
    "a": "plain unit",
    "b": "confined unit",
    "c": "podman default",
    "d": "podman --network none",
}
#: The other service on the host: files, listeners (127.0.0.1; the bridge's gateway bound before the bridge exists,
#: IP_FREEBIND), Unix sockets, then it drops to nobody and waits; prints "ready".
HOST_OTHER = r"""
import os, socket, sys, threading, time
gateway = sys.argv[1]
for path, text in [("/var/lib/hz-escape-other/data", "state"), ("/etc/hz-escape-other/config", "config"),
                   ("/srv/hz-escape-other/notes", "notes"), ("/home/hz-escape-alice/notes", "alice"),
                   ("/dev/shm/hz-escape-other", "shm")]:
    os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o644)
os.makedirs("/var/lib/hz-escape-other/inbox", exist_ok=True); os.chmod("/var/lib/hz-escape-other/inbox", 0o777)
os.makedirs("/run/hz-escape-other", exist_ok=True)
def serve(s):
    while True:
        c, _ = s.accept(); c.close()
def echo(s):
    while True:
        data, peer = s.recvfrom(64); s.sendto(data, peer)
listeners = []
for host, port in [("127.0.0.1", 5433), ("127.0.0.1", 22), (gateway, 8099), (gateway, 5432)]:
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.setsockopt(0, 15, 1)
    try:
        s.bind((host, port))
    except OSError as e:
        print(f"note: {host}:{port}: {e} (something else listens there)", file=sys.stderr); continue
    s.listen(8); listeners.append(s)
for address in ["\0hz-escape-other", "/run/hz-escape-other/other.sock"]:
    s = socket.socket(socket.AF_UNIX); s.bind(address); s.listen(8); listeners.append(s)
os.chmod("/run/hz-escape-other/other.sock", 0o666)
for address in [(gateway, 8099), ("127.0.0.1", 5433)]:
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.setsockopt(0, 15, 1); u.bind(address)
    threading.Thread(target=echo, args=(u,), daemon=True).start()
for s in listeners:
    threading.Thread(target=serve, args=(s,), daemon=True).start()
os.setgid(65534); os.setuid(65534)
print("ready", flush=True)
time.sleep(3600)
"""
HOST_FILES = (
    "/var/lib/hz-escape-other",
    "/etc/hz-escape-other",
    "/srv/hz-escape-other",
    "/home/hz-escape-alice",
    "/dev/shm/hz-escape-other",
    "/run/hz-escape-other",
)
CONTAINER_TARGETS = {
    "ESCAPE_OTHER_FILE": "/var/lib/hz-escape-other/data",
    "ESCAPE_OTHER_INBOX": "/var/lib/hz-escape-other/inbox",
    "ESCAPE_OTHER_CONFIG": "/etc/hz-escape-other/config",
    "ESCAPE_OTHER_USER_FILE": "/srv/hz-escape-other/notes",
    "ESCAPE_HOME_FILE": "/home/hz-escape-alice/notes",
    "ESCAPE_SHM_FILE": "/dev/shm/hz-escape-other",
    "ESCAPE_OTHER_SOCKET": "/run/hz-escape-other/other.sock",
    "ESCAPE_ABSTRACT": "hz-escape-other",
    "ESCAPE_OUT": f"{GATEWAY}:8099",
    "ESCAPE_UDP": f"{GATEWAY}:8099",
    "ESCAPE_DECLARED_CONNECT": f"{GATEWAY}:5432",
    "ESCAPE_DECLARED_WRITE": "/srv/escape-media",
    "ESCAPE_PYZ": "/srv/escape/escape.pyz",
}

Lines = dict[str, dict[str, str]]


def _run(*argv: str, timeout: float = 600, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False, **kwargs)  # type: ignore[call-overload, no-any-return]


def boxed(pyz: Path, work: Path, versions: dict[str, str]) -> dict[str, Lines | str]:
    """(a) and (b) in one box; a column's value is the battery's lines, or why there are none."""
    reason = sdbox.unavailable()
    if reason is not None:
        return {"a": f"no box: {reason}", "b": f"no box: {reason}"}
    results: dict[str, Lines | str] = {}
    with scenario.escape_box(pyz, work / "box.log") as box:
        versions["systemd (box)"] = box.run(["systemctl", "--version"]).stdout.splitlines()[0]
        results["a"] = scenario.run_battery(box, pyz, work / "a" / "units")
        try:
            results["b"] = scenario.run_battery(box, pyz, work / "b" / "units", *scenario.CONFINE_OPTIONS)
        except (AssertionError, SystemExit) as e:
            results["b"] = f"not run: `hatch-zipapp systemd {' '.join(scenario.CONFINE_OPTIONS)}` failed ({e!r:.200})"
    return results


@contextlib.contextmanager
def host_other() -> Iterator[int]:
    """The other service on the host, for the containers; its PID (a process of nobody)."""
    process = subprocess.Popen(
        [sys.executable, "-c", HOST_OTHER, GATEWAY], stdout=subprocess.PIPE, stderr=sys.stderr, text=True
    )
    try:
        assert process.stdout is not None
        if process.stdout.readline().strip() != "ready":
            raise RuntimeError("the host's other service did not start")
        yield process.pid
    finally:
        process.kill()
        process.wait(timeout=30)
        for path in HOST_FILES:
            if os.path.isdir(path):
                shutil.rmtree(path, ignore_errors=True)
            else:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)


def image(pyz: Path, work: Path) -> str:
    """The container image: the box's Debian 12 root imported once (by the root's key), the .pyz added."""
    root = sdbox.rootfs()
    base = f"{IMAGE}-base:{root.name.removeprefix('rootfs-')}"
    if _run("podman", "image", "exists", base, timeout=60).returncode != 0:
        tar = subprocess.Popen(["tar", "-C", os.fspath(root), "-c", "."], stdout=subprocess.PIPE)
        imported = subprocess.run(
            ["podman", "import", "-", base], stdin=tar.stdout, capture_output=True, text=True, timeout=900, check=False
        )
        tar.wait(timeout=60)
        if imported.returncode != 0:
            raise RuntimeError(f"podman import failed: {imported.stderr[-2000:]}")
    context = work / "image"
    (context / "media").mkdir(parents=True)
    shutil.copyfile(pyz, context / "escape.pyz")
    (context / "Containerfile").write_text(
        f"FROM {base}\nCOPY escape.pyz /srv/escape/escape.pyz\nCOPY media /srv/escape-media\n"
    )
    built = _run("podman", "build", "-q", "-t", f"{IMAGE}:latest", os.fspath(context), timeout=600)
    if built.returncode != 0:
        raise RuntimeError(f"podman build failed: {built.stderr[-2000:]}")
    return f"{IMAGE}:latest"


def contained(pyz: Path, work: Path, versions: dict[str, str]) -> dict[str, Lines | str]:
    """(c) and (d): the battery in podman's default container, and with --network none."""
    if shutil.which("podman") is None:
        return {"c": "no podman (apt-get install -y podman runc)", "d": "no podman"}
    versions["podman"] = _run("podman", "--version", timeout=60).stdout.strip()
    tag = image(pyz, work)
    results: dict[str, Lines | str] = {}
    with contextlib.ExitStack() as stack:
        stack.callback(_run, "podman", "rmi", "-f", tag, timeout=120)  # the base image stays, for the next run
        other = stack.enter_context(host_other())
        environment = [f"--env={k}={v}" for k, v in {**CONTAINER_TARGETS, "ESCAPE_OTHER_PID": str(other)}.items()]
        for column, network in (("c", []), ("d", ["--network", "none"])):
            done = _run(*PODMAN, *network, *environment, tag, "python3", "/srv/escape/escape.pyz", timeout=600)
            lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith('{"attempt"')]
            if done.returncode != 0 or not lines:
                results[column] = f"failed (exit {done.returncode}): {done.stderr[-500:]}"
            else:
                results[column] = {line["attempt"]: line for line in lines}
    return results


def table(results: dict[str, Lines | str]) -> str:
    columns = [c for c in COLUMNS if c in results]
    rows = [
        "| attempt | " + " | ".join(f"({c}) {COLUMNS[c]}" for c in columns) + " |",
        "|---|" + "---|" * len(columns),
    ]
    for attempt in scenario.ALL:
        cells = []
        for column in columns:
            found = results[column]
            if isinstance(found, str):
                cells.append("n/a")
                continue
            line = found.get(attempt)
            if line is None:
                cells.append("missing")
            elif line["result"] == "blocked":
                cells.append(f"blocked ({re.split('[: ]', line['detail'])[0]})")
            else:
                cells.append("**allowed**")
        rows.append(f"| `{attempt}` | " + " | ".join(cells) + " |")
    totals = []
    for column in columns:
        found = results[column]
        if isinstance(found, str):
            totals.append("n/a")
        else:
            blocked = sum(line["result"] == "blocked" for line in found.values())
            totals.append(f"**{blocked} of {len(found)}**")
    rows.append("| blocked | " + " | ".join(totals) + " |")
    return "\n".join(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-box", action="store_true", help="skip (a) and (b), the systemd box")
    parser.add_argument("--no-podman", action="store_true", help="skip (c) and (d), the containers")
    parser.add_argument("--json", type=Path, help="also write every line of every column here")
    options = parser.parse_args()
    if os.geteuid() != 0:
        print("bench/escape.py: run as root (a systemd box, podman's default containers)", file=sys.stderr)
        return 2
    versions = {"kernel": platform.release(), "python (host)": platform.python_version()}
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="hatch-zipapp-escape-") as name:
        work = Path(name)
        project = work / "escape"
        shutil.copytree(ROOT / "fixtures" / "escape", project, ignore=shutil.ignore_patterns("dist"))
        pyz = build(project)
        results: dict[str, Lines | str] = {}
        if not options.no_box:
            results.update(boxed(pyz, work, versions))
        if not options.no_podman:
            results.update(contained(pyz, work, versions))
    print(table(results))
    print()
    for column, found in results.items():
        if isinstance(found, str):
            print(f"({column}) {COLUMNS[column]}: {found}")
    today = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d")
    print(
        f"Measured {today} in {time.monotonic() - started:.0f} s; "
        + "; ".join(f"{k}: {v}" for k, v in versions.items())
    )
    if options.json:
        options.json.write_text(json.dumps({"versions": versions, "date": today, "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
