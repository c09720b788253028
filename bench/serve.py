"""Benchmark: requests per second and p99 latency of the example site through each server, from the .pyz against
the same server in a virtualenv.

One command, from the repository root, with the checkout's virtualenv (hatch-zipapp, hatchling and uv):

    .venv/bin/python bench/serve.py              # or: --seconds 20 --concurrency 8 --servers gunicorn,uvicorn

It copies fixtures/mysite, adds the four servers to its dependencies, locks it (`hatch-zipapp lock`) and builds one
.pyz per server (`server = "…"`); the virtualenv gets the same lock and the project's wheel (uv), and its own
collectstatic. Both sides run with this interpreter, one worker, on 127.0.0.1, over the same sqlite database; the
.pyz is extracted before the clock starts (a warm start, as a service's every start but the first). The load is
`--concurrency` client threads in this process, each on a keep-alive connection, asking for the site's front page
(a template and a query) for `--seconds` after one uncounted second. The servers are run one at a time, in
`--rounds` interleaved rounds (each round every server's .pyz and virtualenv, alternating which goes first, so drift
on a shared machine hits both sides alike); the figures are the medians over the rounds. One run, bounded in time:
each lock or build may take TIMEOUT seconds, each server START_TIMEOUT to answer, each request REQUEST_TIMEOUT (a
request that takes longer is an error: a server that stops answering is reported as failed, with its log, and the
run goes on without it), each stop STOP_TIMEOUT; the bound of the measuring part is printed before it starts.

Goal: the .pyz within 2% of the virtualenv's requests per second for every server. docs/performance.md records a run.

With ``--confine`` the two sides are the .pyz confined (``ZIPAPP_CONFINE=1``: Landlock, its port the only one it binds,
the database in the state directory it may write) and the same .pyz unconfined, with the same environment otherwise;
no virtualenv is made. Goal: the confined side within 2% too.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SERVERS = ("gunicorn", "pyuwsgi", "uvicorn", "granian")
#: Added to the example site's dependencies, after gunicorn.
EXTRA = '  "pyuwsgi>=2.0.28",\n  "uvicorn>=0.30",\n  "granian>=2.0",\n'
#: Seconds a build or a lock may take before the bench gives up.
TIMEOUT = 600
#: Seconds a server may take to answer its first request; a request, to be answered; a server, to stop on SIGTERM.
START_TIMEOUT, REQUEST_TIMEOUT, STOP_TIMEOUT = 60, 5, 15
GOAL = 0.98


def _listen(server: str, port: int) -> list[str]:
    """The server's own arguments: 127.0.0.1:port, one worker (the same on both sides)."""
    return {
        "gunicorn": ["--bind", f"127.0.0.1:{port}", "--workers", "1"],
        # uWSGI's http-socket closes the connection after each response without saying so: the header makes the
        # client open a new one instead of failing on the closed one (its keep-alive http11-socket would hold the
        # only worker for one connection)
        "pyuwsgi": [
            f"--http-socket=127.0.0.1:{port}",
            "--processes",
            "1",
            "--disable-logging",
            "--add-header",
            "Connection: close",
        ],
        "uvicorn": ["--host", "127.0.0.1", "--port", str(port), "--workers", "1", "--no-access-log"],
        "granian": ["--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
    }[server]


def _venv_command(python: Path, server: str, port: int) -> list[str]:
    """The same server, as its own documentation runs it, on the same application as `serve` gives it."""
    if server == "gunicorn":
        return [os.fspath(python), "-m", "gunicorn", *_listen(server, port), "mysite.wsgi:application"]
    if server == "pyuwsgi":
        options = ["--master", "--strict", "--need-app", "--enable-threads", "--module", "mysite.wsgi:application"]
        options += ["--hook-master-start", "unix_signal:15 gracefully_kill_them_all"]
        runner = "import sys, pyuwsgi; pyuwsgi.run(*sys.argv[1:])"
        return [os.fspath(python), "-c", runner, *options, *_listen(server, port)]
    if server == "uvicorn":
        return [os.fspath(python), "-m", "uvicorn", *_listen(server, port), "mysite.asgi:application"]
    return [
        os.fspath(python),
        "-m",
        "granian",
        "--interface",
        "asgi",
        *_listen(server, port),
        "mysite.asgi:application",
    ]


def _run(*args: str | os.PathLike[str], cwd: Path | None = None, env: dict[str, str] | None = None) -> None:
    result = subprocess.run(
        [os.fspath(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT, check=False
    )
    if result.returncode != 0:
        sys.exit(f"{' '.join(map(str, args))} failed:\n{result.stdout[-3000:]}{result.stderr[-3000:]}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def prepare(work: Path, servers: list[str], venv_too: bool = True) -> tuple[dict[str, Path], Path, dict[str, str]]:
    """The .pyz per server, the virtualenv's python, and the environment both run with (migrated database)."""
    project = work / "mysite"
    shutil.copytree(ROOT / "fixtures" / "mysite", project, ignore=shutil.ignore_patterns("dist", "db.sqlite3"))
    pyproject = project / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('  "gunicorn>=23",\n', '  "gunicorn>=23",\n' + EXTRA))
    print("locking the example site with the four servers", flush=True)
    _run(sys.executable, "-m", "hatch_zipapp", "lock", cwd=project)
    original = pyproject.read_text()
    pyzs = {}
    for server in servers:
        print(f"building the .pyz for {server}", flush=True)
        pyproject.write_text(original + f'server = "{server}"\n')
        _run(sys.executable, "-m", "hatchling", "build", "-t", "zipapp", "-d", work / f"dist-{server}", cwd=project)
        (pyzs[server],) = (work / f"dist-{server}").glob("*.pyz")
    pyproject.write_text(original)
    if not venv_too:  # --confine: the .pyz against itself, the database in a state directory it may write
        return pyzs, Path(sys.executable), _confined_environment(work, servers, pyzs)
    print("making the virtualenv (the same lock, the project's wheel)", flush=True)
    _run(sys.executable, "-m", "hatchling", "build", "-t", "wheel", "-d", work / "wheel", cwd=project)
    venv = work / "venv"
    uv = shutil.which("uv", path=os.path.dirname(sys.executable)) or "uv"
    _run(uv, "venv", "-q", "-p", sys.executable, venv)
    venv_env = {**os.environ, "VIRTUAL_ENV": os.fspath(venv)}
    _run(uv, "pip", "install", "-q", "-r", project / "pylock.toml", env=venv_env)
    _run(uv, "pip", "install", "-q", "--no-deps", *(work / "wheel").glob("*.whl"), env=venv_env)
    env = {key: value for key, value in os.environ.items() if not key.startswith(("GUNICORN_", "UWSGI_", "UVICORN_"))}
    env.update(
        {
            "SECRET_KEY": "bench-" + "x" * 50,
            "DATABASE_URL": f"sqlite:///{work / 'db.sqlite3'}",
            "DJANGO_SETTINGS_MODULE": "mysite.settings",
            "ZIPAPP_ROOT": os.fspath(work / "extracted"),
            "LOG_LEVEL": "WARNING",
            # every server's .pyz keeps its extraction: with the default (2), each start of a third .pyz would set
            # one aside and extract itself again, and the starts measured would not be warm ones
            "ZIPAPP_KEEP": str(len(servers) + 1),
        }
    )
    python = venv / "bin" / "python"
    _run(python, "-m", "django", "collectstatic", "--noinput", "-v0", env=env, cwd=work)
    _run(python, "-m", "django", "migrate", "-v0", env=env, cwd=work)
    for pyz in pyzs.values():  # extracted once, before any clock: every start measured is a warm one
        _run(sys.executable, pyz, "check", env=env, cwd=work)
    return pyzs, python, env


def _confined_environment(work: Path, servers: list[str], pyzs: dict[str, Path]) -> dict[str, str]:
    """--confine: the environment of both sides (the confined one adds ZIPAPP_CONFINE=1 and its port): the database in
    ``work/state`` ($STATE_DIRECTORY), the temporary directory ``work/tmp`` (not /tmp, which holds the extraction)."""
    for name in ("state", "tmp"):
        (work / name).mkdir()
    env = {key: value for key, value in os.environ.items() if not key.startswith(("GUNICORN_", "UWSGI_", "UVICORN_"))}
    env = {key: value for key, value in env.items() if not key.startswith("ZIPAPP_CONFINE")}
    env.update(
        {
            "SECRET_KEY": "bench-" + "x" * 50,
            "DATABASE_URL": f"sqlite:///{work / 'state' / 'db.sqlite3'}",
            "STATE_DIRECTORY": os.fspath(work / "state"),
            "TMPDIR": os.fspath(work / "tmp"),
            "ZIPAPP_ROOT": os.fspath(work / "extracted"),
            "LOG_LEVEL": "WARNING",
            "ZIPAPP_KEEP": str(len(servers) + 1),
        }
    )
    for pyz in pyzs.values():  # extracted and migrated once, before any clock: every start measured is a warm one
        _run(sys.executable, pyz, "migrate", "-v0", env=env, cwd=work / "state")
    return env


class Load:
    """``concurrency`` threads asking for ``path`` on keep-alive connections: requests, errors, latencies."""

    def __init__(self, port: int, path: str, concurrency: int) -> None:
        self.port, self.path, self.concurrency = port, path, concurrency
        self.latencies: list[float] = []
        self.errors = self.stuck = 0
        self._lock = threading.Lock()

    def run(self, seconds: float, counted: bool) -> float:
        """Load for ``seconds``; the time it took (each client ends its last request within REQUEST_TIMEOUT)."""
        deadline = time.perf_counter() + seconds
        threads = [
            threading.Thread(target=self._client, args=(deadline, counted), daemon=True)
            for _ in range(self.concurrency)
        ]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=max(0.0, deadline - time.perf_counter()) + 2 * REQUEST_TIMEOUT)
        self.stuck = sum(thread.is_alive() for thread in threads)  # cannot happen: each socket has a timeout
        return time.perf_counter() - started

    def _client(self, deadline: float, counted: bool) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=REQUEST_TIMEOUT)
        mine: list[float] = []
        errors = 0
        while (now := time.perf_counter()) < deadline:
            try:
                connection.request("GET", self.path, headers={"Host": "127.0.0.1"})
                response = connection.getresponse()
                response.read()
                if response.status != 200:
                    errors += 1
                    continue
                mine.append(time.perf_counter() - now)
            except (OSError, http.client.HTTPException):
                errors += 1
                connection.close()
        connection.close()
        if counted:
            with self._lock:
                self.latencies += mine
                self.errors += errors


def _answers(port: int, path: str) -> bool:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("GET", path, headers={"Host": "127.0.0.1"})
        return connection.getresponse().status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        connection.close()


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-3000:]


def measure(
    command: list[str], env: dict[str, str], cwd: Path, options: argparse.Namespace, port: int
) -> dict[str, Any]:
    """Start the server, wait for it, load it (one uncounted second, then ``--seconds``), stop it: its figures, or
    ``{"failed": why}`` (no answer in time, a request that failed or took over REQUEST_TIMEOUT)."""
    with (cwd / "server.log").open("ab") as log:
        process = subprocess.Popen(
            command, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            deadline = time.monotonic() + START_TIMEOUT
            while not _answers(port, options.path):  # an HTTP answer, not only a bound socket
                if process.poll() is not None or time.monotonic() > deadline:
                    exited = process.poll()
                    why = f"no answer in {START_TIMEOUT} s" if exited is None else f"exited {exited} before answering"
                    return {"failed": f"{why}:\n{_tail(cwd / 'server.log')}"}
                time.sleep(0.1)
            load = Load(port, options.path, options.concurrency)
            load.run(1.0, counted=False)
            cpu_before = _group_cpu(process.pid)
            elapsed = load.run(options.seconds, counted=True)
            cpu = _group_cpu(process.pid) - cpu_before
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=STOP_TIMEOUT)
            # what is left of its group (workers of a master that died first), and a server that did not stop
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=STOP_TIMEOUT)
    latencies = sorted(load.latencies)
    if not latencies or load.errors or load.stuck:
        failed = f"{len(latencies)} requests answered, {load.errors} failed or took over {REQUEST_TIMEOUT} s"
        return {"failed": f"{failed}:\n{_tail(cwd / 'server.log')}"}
    return {
        "requests_per_second": len(latencies) / elapsed,
        "p50_ms": 1000 * statistics.median(latencies),
        "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))],
        "requests": len(latencies),
        "errors": load.errors,
        "cpu_ms_per_request": 1000 * cpu / len(latencies),
    }


def _group_cpu(group: int) -> float:
    """CPU seconds (user and system) used so far by the live processes of process group ``group`` (the server, its
    master and workers): what each request costs the server, whatever else the machine does meanwhile."""
    ticks = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                fields = f.read().rpartition(b")")[2].split()
        except OSError:  # gone meanwhile
            continue
        if int(fields[2]) == group:  # after the name: state, ppid, pgrp, ..., utime (12th), stime (13th)
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0, help="measured seconds per server, side and round")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (medians are reported)")
    parser.add_argument("--concurrency", type=int, default=4, help="client threads (keep-alive connections)")
    parser.add_argument("--path", default="/", help="the page asked for (default: the front page)")
    parser.add_argument("--servers", default=",".join(SERVERS), help="comma-separated, from: " + ", ".join(SERVERS))
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument(
        "--confine", action="store_true", help="the .pyz confined (ZIPAPP_CONFINE=1) against itself unconfined"
    )
    options = parser.parse_args()
    servers = [s for s in options.servers.split(",") if s]
    unknown = sorted(set(servers) - set(SERVERS))
    if unknown:
        parser.error(f"unknown server(s) {', '.join(unknown)}: choose from {', '.join(SERVERS)}")
    with tempfile.TemporaryDirectory(prefix="hatch-zipapp-serve-") as temp_name:
        work = Path(temp_name)
        pyzs, python, env = prepare(work, servers, venv_too=not options.confine)
        venv_env = {**env, "PATH": f"{python.parent}{os.pathsep}{env.get('PATH', '')}"}
        runs = options.rounds * len(servers) * 2
        typical = runs * (options.seconds + 4)
        # a start, the uncounted second and the measured seconds, each load's last request (twice its timeout at
        # most), a stop (SIGTERM, then SIGKILL)
        bound = runs * (START_TIMEOUT + 1 + options.seconds + 4 * REQUEST_TIMEOUT + 2 * STOP_TIMEOUT)
        print(f"measuring: {runs} runs, about {typical:.0f} s, at most {bound:.0f} s", flush=True)
        rounds: dict[str, dict[str, list[dict[str, Any]]]] = {s: {"pyz": [], "virtualenv": []} for s in servers}
        for round_number in range(options.rounds):
            for index, server in enumerate(servers):
                first = (index + round_number) % 2 == 0
                failed = any("failed" in run for side_runs in rounds[server].values() for run in side_runs)
                for side in [] if failed else ["pyz", "virtualenv"] if first else ["virtualenv", "pyz"]:
                    port = _free_port()
                    if options.confine:  # "pyz": confined; "virtualenv": the same .pyz unconfined
                        command = [sys.executable, os.fspath(pyzs[server]), "serve", *_listen(server, port)]
                        confined = {"ZIPAPP_CONFINE": "1", "ZIPAPP_CONFINE_BIND": str(port)} if side == "pyz" else {}
                        figures = measure(command, {**env, **confined}, work / "state", options, port)
                    elif side == "pyz":
                        command = [sys.executable, os.fspath(pyzs[server]), "serve", *_listen(server, port)]
                        figures = measure(command, env, work, options, port)
                    else:
                        figures = measure(_venv_command(python, server, port), venv_env, work, options, port)
                    rounds[server][side].append(figures)
                    label = {"pyz": "confined", "virtualenv": "unconfined"}[side] if options.confine else side
                    if "failed" in figures:
                        print(
                            f"round {round_number + 1}: {server:9} {label:10} FAILED: {figures['failed']}", flush=True
                        )
                        continue
                    print(
                        f"round {round_number + 1}: {server:9} {label:10} {figures['requests_per_second']:8.1f} req/s"
                        f"  p50 {figures['p50_ms']:6.2f} ms  p99 {figures['p99_ms']:6.2f} ms  "
                        f"CPU {figures['cpu_ms_per_request']:5.2f} ms/request ({int(figures['requests'])} requests)",
                        flush=True,
                    )
    print()
    side, other = ("confined", "unconfined") if options.confine else (".pyz", "virtualenv")
    print(
        f"| server | {side} req/s | {other} req/s | ratio (rounds) | {side} p99 ms | {other} p99 ms "
        f"| CPU ms/request {side} / {other} | goal (≥ 0.98) |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    met = True
    results: dict[str, dict[str, dict[str, float]]] = {}
    for server, sides in rounds.items():
        if any("failed" in run for side in sides.values() for run in side):
            met = False
            print(f"| {server} | failed | | | | | | missed |")
            continue
        results[server] = {
            side: {key: statistics.median(run[key] for run in side_runs) for key in side_runs[0]}
            for side, side_runs in sides.items()
        }
        # each round's .pyz against the virtualenv run next to it: drift between rounds cancels out
        pairs = zip(sides["pyz"], sides["virtualenv"], strict=True)
        paired = sorted(p["requests_per_second"] / v["requests_per_second"] for p, v in pairs)
        ratio = statistics.median(paired)
        results[server]["ratio"] = {"median": ratio, "lowest": paired[0], "highest": paired[-1]}
        pyz, venv = results[server]["pyz"], results[server]["virtualenv"]
        met = met and ratio >= GOAL
        print(
            f"| {server} | {pyz['requests_per_second']:.1f} | {venv['requests_per_second']:.1f} "
            f"| {ratio:.3f} ({paired[0]:.3f} to {paired[-1]:.3f}) | {pyz['p99_ms']:.2f} | {venv['p99_ms']:.2f} "
            f"| {pyz['cpu_ms_per_request']:.2f} / {venv['cpu_ms_per_request']:.2f} "
            f"| {'met' if ratio >= GOAL else 'missed'} |"
        )
    if options.json:
        options.json.write_text(json.dumps({"medians": results, "rounds": rounds}, indent=2, sort_keys=True) + "\n")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
