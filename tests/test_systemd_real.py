"""The units `hatch-zipapp systemd` writes, run under a real systemd (252, Debian 12, booted by tests/sdbox.py) for
every server `serve` runs (gunicorn, pyuwsgi, uvicorn, granian), each in the three ways a unit can start it: plain
(the service extracts into its cache directory), with a `.socket` unit (socket activation), and from a prepared
root (the deploy extracts as root, the service only reads).

For each: `systemctl start` returns only once the page answers; the page and a static file answer 200; the state and
cache directories are the dynamic user's; `systemd-analyze security` scores the running unit at most 1.5; a reload
keeps serving (not one failed request under load with the socket unit), a restart likewise with the socket unit; a
`kill -9` is recovered by systemd; a stop is clean within its timeout; with the port taken by another process, a
start fails. Migrations run first through the generated `NAME-manage`, as the service's user, before the service
ever ran. The site is the example one (network: its packages come from the index).
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hatch_zipapp.__main__ import main as cli
from tests import sdbox
from tests.servers import SERVERS, Built

pytestmark = [pytest.mark.network, pytest.mark.systemd]

NAME = "mysite"
PORT = 8000
MODES = ("plain", "socket", "prepared")
PREPARED_ROOT = f"/srv/{NAME}/extracted"
#: A load from inside the box: requests one after another for SECONDS, each with its own connection; prints a JSON
#: line {"ok": N, "failed": N, "errors": [...]}.
LOAD = r"""
import json, sys, time, urllib.request
seconds = float(sys.argv[1])
ok, failed, errors = 0, 0, []
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
end = time.monotonic() + seconds
while time.monotonic() < end:
    try:
        with opener.open("http://127.0.0.1:%d/" % int(sys.argv[2]), timeout=20) as r:
            r.read()
            ok += r.status == 200
            failed += r.status != 200
    except Exception as e:
        failed += 1
        errors.append(repr(e)[:200])
print(json.dumps({"ok": ok, "failed": failed, "errors": errors[:5]}))
"""


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sdbox.Box]:
    sdbox.required()
    with sdbox.box("hz-units", tmp_path_factory.mktemp("box") / "console.log") as booted:
        booted.write("/usr/local/lib/load.py", LOAD)
        yield booted


class Site:
    """The example site installed in the box as docs/deployment.md installs it, with the units the command wrote."""

    def __init__(self, box: sdbox.Box, server: str, pyz: Path, mode: str, units: Path) -> None:
        self.box, self.server, self.pyz, self.mode = box, server, pyz, mode
        self.units = units

    def install(self) -> None:
        box = self.box
        box.run(
            f"systemctl stop {NAME}.socket {NAME}.service; systemctl reset-failed;"
            f" rm -rf /etc/systemd/system/{NAME}.* /usr/local/sbin/{NAME}-manage /srv/{NAME} /etc/{NAME}"
            f" /var/lib/{NAME} /var/lib/private/{NAME} /var/cache/{NAME} /var/cache/private/{NAME}",
        )
        release = f"/srv/{NAME}/releases/{self.pyz.name}"
        box.put(self.pyz, release, mode=0o755)
        box.run(f"ln -sfn {release} /srv/{NAME}/current.pyz", check=True)
        box.write(f"/etc/{NAME}/env", f"DATABASE_URL=sqlite:////var/lib/{NAME}/db.sqlite3\n", mode=0o644)
        box.write(f"/etc/{NAME}/secret_key", "a-secret-for-the-test-" + "x" * 40 + "\n", mode=0o600)
        options = ["--socket", f"127.0.0.1:{PORT}"] if self.mode == "socket" else []
        if self.mode == "prepared":
            options += ["--prepared-root", PREPARED_ROOT]
        arguments = ["systemd", "--name", NAME, "--pyz", f"/srv/{NAME}/current.pyz", "--read", os.fspath(self.pyz)]
        assert cli([*arguments, *options, "-o", os.fspath(self.units)]) == 0
        for unit in self.units.iterdir():
            if unit.name.endswith((".service", ".socket")):
                box.put(unit, f"/etc/systemd/system/{unit.name}")
        box.put(self.units / f"{NAME}-manage", f"/usr/local/sbin/{NAME}-manage", mode=0o755)
        box.run("systemctl daemon-reload", check=True)
        if self.mode == "prepared":
            prepare = f"ZIPAPP_ROOT={PREPARED_ROOT} ZIPAPP_PREPARE=1 /srv/{NAME}/current.pyz"
            box.run(prepare, check=True, timeout=300)

    def get(self, path: str = "/") -> tuple[int, str]:
        """(status, body) of a request from inside the box (0 when nothing answered)."""
        result = self.box.run(
            [
                "curl",
                "-s",
                "-o",
                "/dev/stdout",
                "-w",
                "\n%{http_code}",
                "--max-time",
                "20",
                f"http://127.0.0.1:{PORT}{path}",
            ]
        )
        body, _, status = result.stdout.rpartition("\n")
        return int(status) if status.isdigit() else 0, body

    def main_pid(self) -> int:
        return int(self.box.show(f"{NAME}.service", "MainPID")["MainPID"])

    def check_serves(self) -> None:
        status, body = self.get("/")
        assert status == 200 and "<h1>Notes</h1>" in body, (status, body[-500:], self.box.journal(f"{NAME}.service"))
        css = re.search(r'href="(/static/notes/site\.[0-9a-f]{12}\.css)"', body)
        assert css is not None, body[-500:]
        assert self.get(css.group(1))[0] == 200

    def under_load(self, action: str, seconds: float = 8) -> dict[str, object]:
        """Run ``action`` in the box while a load runs; the load's result."""
        result: dict[str, object] = {}

        def load() -> None:
            out = self.box.run(["python3", "/usr/local/lib/load.py", str(seconds), str(PORT)], timeout=seconds + 60)
            result.update(json.loads(out.stdout or '{"ok": 0, "failed": -1, "errors": ["no output"]}'))

        thread = threading.Thread(target=load)
        thread.start()
        time.sleep(1.5)
        done = self.box.run(action, timeout=120)
        assert done.returncode == 0, (action, done.stdout, done.stderr, self.box.journal(f"{NAME}.service"))
        thread.join(timeout=seconds + 90)
        return result


@pytest.fixture
def site(request: pytest.FixtureRequest, box: sdbox.Box, server_builds: Built, tmp_path: Path) -> Site:
    server, mode = request.param
    installed = Site(box, server, server_builds[server], mode, tmp_path / "units")
    installed.install()
    return installed


def _cases() -> list[tuple[str, str]]:
    return [(server, mode) for server in SERVERS for mode in MODES if (server, mode) != ("granian", "socket")]


@pytest.mark.parametrize("site", _cases(), indirect=True, ids=lambda case: "-".join(case))
def test_the_units_run(site: Site) -> None:
    box = site.box
    service = f"{NAME}.service"
    # Migrations first, as the service's user, before the service ever ran (no state directory yet).
    migrated = box.run([f"{NAME}-manage", "migrate", "--noinput"], timeout=300)
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    # Start: returns once the page answers.
    if site.mode == "socket":
        box.run(f"systemctl start {NAME}.socket", check=True)
    started = box.run(f"systemctl start {service}", timeout=120)
    assert started.returncode == 0, started.stderr + box.journal(service)
    site.check_serves()
    # The state (and cache) directories and the database are the dynamic user's.
    pid = site.main_pid()
    uid = re.search(r"^Uid:\s+(\d+)", box.run(["cat", f"/proc/{pid}/status"]).stdout, re.M)
    assert uid is not None and int(uid.group(1)) != 0
    owners = box.run(f"stat -c '%u %n' /var/lib/private/{NAME} /var/lib/private/{NAME}/db.sqlite3").stdout
    assert owners.split() == [
        uid.group(1),
        f"/var/lib/private/{NAME}",
        uid.group(1),
        f"/var/lib/private/{NAME}/db.sqlite3",
    ]
    if site.mode != "prepared":
        cache = box.run(f"stat -c %u /var/cache/private/{NAME}").stdout.strip()
        assert cache == uid.group(1)
    # A one-off command while it runs, from a release's directory by a relative --pyz: the command runs that file,
    # and leaves the service's runtime directory (its gunicorn control socket) alone.
    release = f"/srv/{NAME}/releases/{site.pyz.name}"
    one_off = box.run(f"cd /srv/{NAME}/releases && {NAME}-manage --pyz {site.pyz.name} check", timeout=300)
    assert one_off.returncode == 0 and "no issues" in one_off.stdout, one_off.stdout + one_off.stderr
    assert box.run(f"{NAME}-manage --pyz nowhere.pyz check", timeout=120).returncode != 0
    assert box.run(f"test -d /run/{NAME} && test -e {release}").returncode == 0, "the runtime directory went"
    # The running unit's exposure.
    security = box.run(["systemd-analyze", "security", service, "--no-pager"]).stdout
    score = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", security)
    assert score is not None and float(score.group(1)) <= 1.5, security[-2000:]
    # A reload keeps serving (no failed request with the socket unit), and the unit stays up on the same process.
    load = site.under_load(f"systemctl reload {service}")
    time.sleep(2)
    shown = box.show(service, "ActiveState", "NRestarts", "MainPID")
    assert shown["ActiveState"] == "active" and shown["NRestarts"] == "0", (shown, box.journal(service))
    if site.mode == "socket":
        assert load["failed"] == 0 and int(str(load["ok"])) > 0, ("reload", load, box.journal(service))
    site.check_serves()
    # A restart: serving as soon as it returns; with the socket unit, not one failed request (uWSGI: at most the one
    # a worker had accepted as it was told to stop, which it closes unanswered — docs/deployment.md says so).
    load = site.under_load(f"systemctl restart {service}")
    if site.mode == "socket":
        lost = 1 if site.server == "pyuwsgi" else 0
        assert int(str(load["failed"])) <= lost and int(str(load["ok"])) > 0, ("restart", load, box.journal(service))
    site.check_serves()
    # kill -9: systemd starts it again (Restart=on-failure, RestartSec=2s).
    pid = site.main_pid()
    box.run(f"kill -9 {pid}", check=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        shown = box.show(service, "ActiveState", "MainPID")
        if shown["ActiveState"] == "active" and shown["MainPID"] not in {"0", str(pid)}:
            break
        time.sleep(0.5)
    assert shown["ActiveState"] == "active", box.journal(service)
    site.check_serves()
    # A clean stop, well within TimeoutStopSec=30s.
    began = time.monotonic()
    units = f"{service} {NAME}.socket" if site.mode == "socket" else service
    box.run(f"systemctl stop {units}", check=True, timeout=60)
    assert time.monotonic() - began < 25
    assert box.show(service, "Result")["Result"] == "success", box.journal(service)


@pytest.mark.parametrize("site", [(s, "plain") for s in SERVERS], indirect=True, ids=lambda case: case[0])
def test_a_start_fails_when_the_port_is_taken(site: Site) -> None:
    box = site.box
    service = f"{NAME}.service"
    box.run([f"{NAME}-manage", "migrate", "--noinput"], check=True, timeout=300)
    squatter = (
        "import socket, time; s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); "
        f"s.bind(('127.0.0.1', {PORT})); s.listen(); time.sleep(600)"
    )
    box.run(["systemd-run", "--unit=squatter", "--collect", "python3", "-c", squatter], check=True)
    try:
        time.sleep(1)
        started = box.run(f"systemctl start {service}", timeout=180)
        assert started.returncode != 0, box.journal(service)
        assert box.show(service, "ActiveState")["ActiveState"] != "active"
    finally:
        box.run("systemctl stop squatter.service")
        box.run(f"systemctl stop {service}; systemctl reset-failed")


def _deploy_script() -> str:
    """docs/deployment.md's deploy script, as written."""
    text = (Path(__file__).parent.parent / "docs" / "deployment.md").read_text()
    match = re.search(r"```sh\n(#!/bin/sh\n# deploy\.sh URL.*?)```\n", text, re.S)
    assert match is not None, "docs/deployment.md has no deploy.sh block"
    return match.group(1)


#: A database for the site: (DATABASE_URL, the commands that make it, as root in the box).
DATABASES = {
    "sqlite": (f"sqlite:////var/lib/{NAME}/db.sqlite3", ""),
    "postgresql": (
        f"postgres://{NAME}:a-password@127.0.0.1:5432/{NAME}",
        "systemctl start postgresql@15-main && "
        f"runuser -u postgres -- psql -q -c \"CREATE ROLE {NAME} LOGIN PASSWORD 'a-password'\" && "
        f"runuser -u postgres -- createdb -O {NAME} {NAME}",
    ),
}


@pytest.mark.parametrize("database", sorted(DATABASES))
def test_the_documented_deploy_script(box: sdbox.Box, server_builds: Built, tmp_path: Path, database: str) -> None:
    """Installed as docs/deployment.md says, deployed twice by its script as written (releases 1.0 then 1.1, served
    over HTTP in the box), the service then writes its database (an admin login saves a session)."""
    url, make_database = DATABASES[database]
    releases = [server_builds.release("gunicorn", version) for version in ("1.0", "1.1")]
    box.run(
        f"systemctl stop {NAME}.socket {NAME}.service www.service postgresql@15-main; systemctl reset-failed;"
        f" rm -rf /etc/systemd/system/{NAME}.* /usr/local/sbin/{NAME}-manage /srv /etc/{NAME}"
        f" /var/lib/{NAME} /var/lib/private/{NAME} /var/cache/{NAME} /var/cache/private/{NAME};"
        f" runuser -u postgres -- dropdb --if-exists {NAME}; runuser -u postgres -- dropuser --if-exists {NAME}"
    )
    if make_database:
        box.run(make_database, check=True, timeout=120)
    for pyz in releases:  # the artifact server: the .pyz and its .sha256
        box.put(pyz, f"/srv/www/{pyz.name}")
        box.put(pyz.with_name(pyz.name + ".sha256"), f"/srv/www/{pyz.name}.sha256")
    box.run(
        ["systemd-run", "--unit=www", "python3", "-m", "http.server", "8080", "--bind", "127.0.0.1", "-d", "/srv/www"],
        check=True,
    )
    # Install once, as the docs say (the units with --prepared-root, as the script's header says).
    units = tmp_path / "deploy"
    arguments = ["systemd", "--name", NAME, "--pyz", f"/srv/{NAME}/current.pyz", "--read", os.fspath(releases[0])]
    options = ["--socket", f"127.0.0.1:{PORT}", "--prepared-root", f"/srv/{NAME}/extracted", "-o", os.fspath(units)]
    assert cli([*arguments, *options]) == 0
    box.run(f"install -d /srv/{NAME}/releases /etc/{NAME}", check=True)
    box.write(f"/etc/{NAME}/secret_key", "s" * 50 + "\n", mode=0o600)
    box.write(f"/etc/{NAME}/env", f"ALLOWED_HOSTS=localhost,127.0.0.1\nDATABASE_URL={url}\n")
    box.put(units / f"{NAME}.service", f"/etc/systemd/system/{NAME}.service")
    box.put(units / f"{NAME}.socket", f"/etc/systemd/system/{NAME}.socket")
    box.put(units / f"{NAME}-manage", f"/usr/local/sbin/{NAME}-manage", mode=0o755)
    box.run(f"systemctl daemon-reload && systemctl enable --now {NAME}.socket", check=True)
    box.write("/usr/local/sbin/deploy.sh", _deploy_script(), mode=0o755)
    for pyz in releases:
        deployed = box.run(["deploy.sh", f"http://127.0.0.1:8080/{pyz.name}"], timeout=600)
        assert deployed.returncode == 0, deployed.stdout + deployed.stderr + box.journal(f"{NAME}.service")
        assert f"release {pyz.name} is live" in deployed.stdout
        assert box.run(f"readlink /srv/{NAME}/current.pyz").stdout.strip() == f"/srv/{NAME}/releases/{pyz.name}"
    # Nothing the deploys left is root's: the service writes its database (an admin login saves a session).
    if database == "sqlite":
        owners = box.run(f"find /var/lib/private/{NAME} -uid 0").stdout.strip()
        assert owners == "", f"owned by root: {owners}"
    create = "from django.contrib.auth.models import User; User.objects.create_superuser('admin', 'a@b.c', 'pw-123456')"
    box.run([f"{NAME}-manage", "shell", "-c", create], check=True, timeout=120)
    token = 's/.*name="csrfmiddlewaretoken" value="\\([^"]*\\)".*/\\1/p'
    login = (
        "set -e; j=$(mktemp); base=http://127.0.0.1:8000/admin/login/;"
        f' token=$(curl -sf -c "$j" -b "$j" "$base" | sed -n \'{token}\');'
        ' curl -s -o /dev/null -w "%{http_code} %{redirect_url}" -c "$j" -b "$j" -e "$base"'
        ' --data-urlencode "csrfmiddlewaretoken=$token" --data-urlencode username=admin'
        ' --data-urlencode password=pw-123456 --data-urlencode next=/admin/ "$base"'
    )
    answered = box.run(login, timeout=60)
    assert answered.stdout.strip() == "302 http://127.0.0.1:8000/admin/", (
        answered.stdout + answered.stderr + box.journal(f"{NAME}.service")
    )
    sessions = "from django.contrib.sessions.models import Session; print(Session.objects.count())"
    printed = box.run([f"{NAME}-manage", "shell", "-c", sessions], check=True).stdout
    assert printed.splitlines()[-1] == "1", printed
    box.run(f"systemctl stop {NAME}.socket {NAME}.service www.service postgresql@15-main")


@pytest.mark.parametrize("site", [("granian", "socket")], indirect=True, ids=["granian-socket"])
def test_granian_refuses_a_socket_in_one_line(site: Site) -> None:
    """granian cannot take a socket systemd passes: the start fails, and the journal says why and what to do."""
    box = site.box
    service = f"{NAME}.service"
    box.run([f"{NAME}-manage", "migrate", "--noinput"], check=True, timeout=300)
    box.run(f"systemctl start {NAME}.socket", check=True)
    try:
        assert box.run(f"systemctl start {service}", timeout=180).returncode != 0
        journal = box.journal(service)
        assert "granian cannot serve a socket systemd passes (LISTEN_FDS): drop the .socket unit" in journal, journal
    finally:
        box.run(f"systemctl stop {NAME}.socket {service}; systemctl reset-failed")
