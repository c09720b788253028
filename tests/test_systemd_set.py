"""The set of units one `hatch-zipapp systemd` writes for one .pyz, under a real systemd (tests/sdbox.py): the web
service with its socket, a worker (the example site's `heartbeat` management command) and a timer (`clearsessions`),
grouped by `mysite.target`.

One box: `systemctl enable --now mysite.target` starts them all; the page answers; the worker runs as the web
service's user and writes to the state directory the site's database is in; the timer is waiting for its next
elapse and its command, started, exits 0 as that user too; every running service scores at most 1.5; restarting the
target restarts the web service and the worker (new processes), stopping it stops them all. The site is the example
one (network: its packages come from the index).
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hatch_zipapp.__main__ import main as cli
from tests import sdbox
from tests.servers import Built

pytestmark = [pytest.mark.network, pytest.mark.systemd]

NAME = "mysite"
PORT = 8000


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sdbox.Box]:
    sdbox.required()
    with sdbox.box("hz-set", tmp_path_factory.mktemp("box") / "console.log") as booted:
        yield booted


def _uid(box: sdbox.Box, unit: str) -> str:
    pid = box.show(unit, "MainPID")["MainPID"]
    status = box.run(["cat", f"/proc/{pid}/status"]).stdout
    match = re.search(r"^Uid:\s+(\d+)", status, re.M)
    assert match is not None and pid != "0", (unit, pid, box.journal(unit))
    return match.group(1)


def test_the_set_runs(box: sdbox.Box, server_builds: Built, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pyz = server_builds.release("gunicorn", "1.0")
    release = f"/srv/{NAME}/releases/{pyz.name}"
    box.put(pyz, release, mode=0o755)
    box.run(f"ln -sfn {release} /srv/{NAME}/current.pyz", check=True)
    box.write(f"/etc/{NAME}/env", f"DATABASE_URL=sqlite:////var/lib/{NAME}/db.sqlite3\n")
    box.write(f"/etc/{NAME}/secret_key", "a-secret-for-the-test-" + "x" * 40 + "\n", mode=0o600)
    units = tmp_path / "units"
    arguments = ["systemd", "--name", NAME, "--pyz", f"/srv/{NAME}/current.pyz", "--read", os.fspath(pyz)]
    tasks = ["--worker", "heartbeat=heartbeat --every 1", "--timer", "clearsessions@minutely=clearsessions"]
    assert cli([*arguments, "--socket", f"127.0.0.1:{PORT}", *tasks, "-o", os.fspath(units)]) == 0
    out = capsys.readouterr().out
    deploy = f"--dir /srv/{NAME} --service {NAME}.service --service {NAME}-heartbeat.service"
    assert f"hatch-zipapp systemd: deploy: hatch-zipapp deploy RELEASE.pyz {deploy}\n" in out
    written = sorted(p.name for p in units.iterdir())
    for unit in written:
        if unit != f"{NAME}-manage":
            box.put(units / unit, f"/etc/systemd/system/{unit}")
    box.put(units / f"{NAME}-manage", f"/usr/local/sbin/{NAME}-manage", mode=0o755)
    box.run([f"{NAME}-manage", "migrate", "--noinput"], check=True, timeout=300)
    # Installed as the command says: one enable starts the set.
    enabled = box.run(f"systemctl daemon-reload && systemctl enable --now {NAME}.target", timeout=180)
    assert enabled.returncode == 0, enabled.stderr + box.journal(f"{NAME}.service")
    page = box.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", f"http://127.0.0.1:{PORT}/"], timeout=60)
    assert page.stdout == "200", (page.stdout, box.journal(f"{NAME}.service"))
    web, worker = f"{NAME}.service", f"{NAME}-heartbeat.service"
    for unit in (web, worker, f"{NAME}.socket", f"{NAME}-clearsessions.timer", f"{NAME}.target"):
        assert box.show(unit, "ActiveState")["ActiveState"] == "active", (unit, box.journal(unit))
    # The worker: the web service's user, writing the state directory (where the database is).
    uid = _uid(box, web)
    assert uid != "0" and _uid(box, worker) == uid
    beat = ""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not beat.startswith(f"uid={uid} beats=2"):
        beat = box.run(f"cat /var/lib/private/{NAME}/heartbeat.txt").stdout
        time.sleep(0.5)
    assert beat.startswith(f"uid={uid} beats="), (beat, box.journal(worker))
    owners = box.run(f"stat -c '%u %n' /var/lib/private/{NAME}/heartbeat.txt /var/lib/private/{NAME}/db.sqlite3")
    assert owners.stdout.split() == [
        uid,
        f"/var/lib/private/{NAME}/heartbeat.txt",
        uid,
        f"/var/lib/private/{NAME}/db.sqlite3",
    ]
    # The worker stopped alone leaves the web service its runtime directory (each unit has its own).
    box.run(f"systemctl stop {worker}", check=True, timeout=60)
    assert box.run(f"test -d /run/{NAME}").returncode == 0, "the worker's stop removed the web service's /run/NAME"
    box.run(f"systemctl start {worker}", check=True, timeout=60)
    # The timer waits for its next elapse; its command, started now, runs as the same user and exits 0.
    timer = box.show(f"{NAME}-clearsessions.timer", "NextElapseUSecRealtime", "Unit")
    assert timer["Unit"] == f"{NAME}-clearsessions.service" and timer["NextElapseUSecRealtime"] not in {"", "0"}
    ran = box.run(f"systemctl start {NAME}-clearsessions.service", timeout=180)
    oneshot = box.show(f"{NAME}-clearsessions.service", "Result", "ExecMainStatus", "ActiveState", "User")
    assert ran.returncode == 0 and oneshot["Result"] == "success" and oneshot["ExecMainStatus"] == "0", (
        oneshot,
        box.journal(f"{NAME}-clearsessions.service"),
    )
    assert oneshot["ActiveState"] == "inactive" and oneshot["User"] == NAME
    # The running services' exposure.
    for unit in (web, worker, f"{NAME}-clearsessions.service"):
        security = box.run(["systemd-analyze", "security", unit, "--no-pager"]).stdout
        score = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", security)
        assert score is not None and float(score.group(1)) <= 1.5, (unit, security[-2000:])
    # Restarting the target restarts the web service and the worker; stopping it stops them all.
    before = {unit: box.show(unit, "MainPID")["MainPID"] for unit in (web, worker)}
    box.run(f"systemctl restart {NAME}.target", check=True, timeout=180)
    after = {unit: box.show(unit, "MainPID", "ActiveState") for unit in (web, worker)}
    for unit in (web, worker):
        assert after[unit]["ActiveState"] == "active" and after[unit]["MainPID"] not in {"0", before[unit]}, after
    box.run(f"systemctl stop {NAME}.target", check=True, timeout=120)
    for unit in (web, worker, f"{NAME}-clearsessions.timer"):  # stops propagated by PartOf=, waited for here
        deadline = time.monotonic() + 30
        while box.show(unit, "ActiveState")["ActiveState"] != "inactive" and time.monotonic() < deadline:
            time.sleep(0.2)
        assert box.show(unit, "ActiveState")["ActiveState"] == "inactive", (unit, box.journal(unit))
    assert box.show(worker, "Result")["Result"] == "success", box.journal(worker)
    assert "heartbeat: stopped after" in box.journal(worker)
