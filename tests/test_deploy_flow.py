"""`hatch-zipapp deploy`'s steps after the fetch, fast and hermetic: the real command (tests/test_deploy.py's ``run``)
on a directory here, with a fake ``systemctl`` and ``journalctl`` first on PATH (they record their calls; whether a
unit is active and its MainPID follow what ``current.pyz`` links to, so one release can be made to fail) and a fake
``NAME-manage``; the releases are copies of one small real .pyz under other names. Retention, a deploy cut short and
run again, the rollback, the health probe (status and Host) and the Django checks. The same flow under a real systemd
is tests/test_deploy_real.py (minutes)."""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hatch_zipapp.bootstrap.documents import DJANGO_ENTRY_POINT
from tests.helpers import build, make_project, make_wheel, pylock_text, small_pyz
from tests.test_deploy import RUN, run

FAKE_SYSTEMCTL = """#!{python}
import os, sys, time
HERE, SITE = {here!r}, {site!r}
args = sys.argv[1:]
with open(os.path.join(HERE, "calls"), "a") as f:
    f.write(" ".join(args) + "\\n")
def listed(name):
    try:
        current = os.path.basename(os.readlink(os.path.join(SITE, "current.pyz")))
        return current in open(os.path.join(HERE, name)).read().split()
    except OSError:
        return False
if args[0] == "reset-failed":  # held while the file "hold" is there (a deploy to kill right after its switch)
    if os.path.exists(os.path.join(HERE, "hold")):
        with open(os.path.join(HERE, "held"), "w") as f:
            f.write(str(os.getpid()))
    for _ in range(600):
        if not os.path.exists(os.path.join(HERE, "hold")):
            break
        time.sleep(0.05)
elif args[0] == "is-active":
    state = "failed" if listed("failing") else "active"
    print(state)
    sys.exit(0 if state == "active" else 3)
elif args[0] == "show":
    counter = os.path.join(HERE, "shown")
    count = int(open(counter).read()) if os.path.exists(counter) else 0
    with open(counter, "w") as f:
        f.write(str(count + 1))
    unstable = listed("unstable")  # systemd restarts it each time it is asked: another PID
    print(f"MainPID={{4000 + count if unstable else 4000}}\\nNRestarts={{count if unstable else 0}}")
"""
FAKE_JOURNALCTL = "#!/bin/sh\necho 'the journal of the unit'\n"
FAKE_MANAGE = """#!/bin/sh
echo "$*" >> {calls}
[ ! -e {fail} ]
"""


@pytest.fixture(scope="module")
def pyz(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    with small_pyz(tmp_path_factory.mktemp("built")) as built:
        yield built


@pytest.fixture(scope="module")
def django_pyz(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A .pyz whose entry point is a Django site's (a stand-in module: no Django needed; tests/test_systemd.py)."""
    root = tmp_path_factory.mktemp("django")
    shim = make_wheel(root / "wheels", "shim", files={f"{DJANGO_ENTRY_POINT.partition(':')[0]}.py": "def main():\n"
                                                      "    return 0\n"})  # fmt: skip
    zipapp = f'entry-point = "{DJANGO_ENTRY_POINT}"\nbytecode = false'
    project = make_project(root / "site", dependencies=["shim"], zipapp=zipapp)
    (project / "pylock.toml").write_text(pylock_text([[shim]], base_url=None))
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setenv("HATCH_ZIPAPP_CACHE_DIR", os.fspath(root / "cache"))
        return build(project)


class Site:
    """DIR (``tmp/app``), the fakes' directory and the published releases (``app-1.N.pyz`` with their .sha256)."""

    def __init__(self, tmp_path: Path, pyz: Path, name: str = "app") -> None:
        self.dir = tmp_path / name
        self.dir.mkdir()
        self.fake = tmp_path / "fake"
        self.bin = self.fake / "bin"
        self.bin.mkdir(parents=True)
        self.published = tmp_path / "published"
        self.published.mkdir()
        self.pyz = pyz
        systemctl = FAKE_SYSTEMCTL.format(python=sys.executable, here=os.fspath(self.fake), site=os.fspath(self.dir))
        manage = FAKE_MANAGE.format(calls=self.fake / "manage-calls", fail=self.fake / "manage-fails")
        for name, text in (("systemctl", systemctl), ("journalctl", FAKE_JOURNALCTL), ("manage", manage)):
            (self.bin / name).write_text(text)
            (self.bin / name).chmod(0o755)
        self.env = {"PATH": f"{self.bin}{os.pathsep}{os.environ['PATH']}"}

    def release(self, version: str, pyz: Path | None = None) -> Path:
        path = self.published / f"app-{version}.pyz"
        if not path.exists():
            shutil.copy(pyz or self.pyz, path)
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            Path(f"{path}.sha256").write_text(f"{digest}  {path.name}\n")
        return path

    def arguments(self, version: str, *extra: str) -> list[str]:
        arguments = [os.fspath(self.release(version)), "--dir", os.fspath(self.dir), "--python", sys.executable]
        if "--check" not in extra and "--no-check" not in extra and "--manage" not in extra:
            arguments.append("--no-check")
        if "--settle" not in extra:
            arguments += ["--settle", "0"]
        return [*arguments, *extra]

    def deploy(self, version: str, *extra: str) -> tuple[int, list[str], list[str]]:
        """(exit status, stdout's lines without the prefix, stderr's lines)."""
        status, out, err = run(*self.arguments(version, *extra), env=self.env)
        return status, [line.removeprefix("hatch-zipapp deploy: ") for line in out.splitlines()], err

    def ok(self, version: str, *extra: str) -> list[str]:
        status, out, err = self.deploy(version, *extra)
        assert (status, err) == (0, []), (out, err)
        return out

    def mark(self, what: str, *versions: str) -> None:
        (self.fake / what).write_text("".join(f"app-{v}.pyz\n" for v in versions))

    def calls(self) -> list[str]:
        path = self.fake / "calls"
        lines = path.read_text().splitlines() if path.exists() else []
        path.unlink(missing_ok=True)
        return lines

    def current(self) -> str:
        return os.readlink(self.dir / "current.pyz")

    def releases(self) -> list[str]:
        return sorted(p.name for p in (self.dir / "releases").glob("*.pyz"))

    def state(self) -> dict[str, object]:
        value = json.loads((self.dir / "deploy.json").read_text())
        assert isinstance(value, dict)
        return value


def _names(*versions: str) -> list[str]:
    return [f"app-{v}.pyz" for v in versions]


@pytest.fixture
def site(tmp_path: Path, pyz: Path) -> Site:
    return Site(tmp_path, pyz)


UNIT = "app.service"
SHOW = f"show -p MainPID -p NRestarts {UNIT}"
#: A restart's calls: the start limit reset, the restart, then active and its process, and again after --settle.
RESTART = [f"reset-failed {UNIT}", f"restart {UNIT}", f"is-active {UNIT}", SHOW, f"is-active {UNIT}", SHOW]


def test_retention_keeps_the_last_three_by_default(site: Site) -> None:
    out = site.ok("1.0")
    assert out[-1] == "kept app-1.0.pyz: nothing to remove"
    assert site.calls() == RESTART
    for version in ("1.1", "1.2"):
        site.ok(version)
    out = site.ok("1.3")
    assert out[-1] == "kept app-1.1.pyz, app-1.2.pyz, app-1.3.pyz; removed app-1.0.pyz"
    assert site.releases() == _names("1.1", "1.2", "1.3")
    assert sorted(os.listdir(site.dir / "releases")) == sorted(
        [*_names("1.1", "1.2", "1.3"), *(f"{n}.sha256" for n in _names("1.1", "1.2", "1.3"))]
    )
    assert site.state() == {"release": "app-1.3.pyz", "previous": "app-1.2.pyz", "state": "healthy",
                            "releases": _names("1.1", "1.2", "1.3")}  # fmt: skip
    out = site.ok("1.4")
    assert out[-1] == "kept app-1.2.pyz, app-1.3.pyz, app-1.4.pyz; removed app-1.1.pyz"
    assert site.current() == f"{site.dir}/releases/app-1.4.pyz"


def test_retention_keeps_the_last_two_with_keep_2(site: Site) -> None:
    for version in ("1.0", "1.1", "1.2"):
        out = site.ok(version, "--keep", "2")
    assert out[-1] == "kept app-1.1.pyz, app-1.2.pyz; removed app-1.0.pyz"
    out = site.ok("1.3", "--keep", "2")
    assert out[-1] == "kept app-1.2.pyz, app-1.3.pyz; removed app-1.1.pyz"
    assert site.releases() == _names("1.2", "1.3")


def test_after_a_rollback_the_release_live_before_the_next_deploy_is_kept(site: Site) -> None:
    """1.0, 1.1, then 1.2 fails (rolled back to 1.1); 1.3 with --keep 2: the last two are 1.2 and 1.3, and 1.1, the
    one 1.3 replaced, stays too (the rollback's release)."""
    site.ok("1.0", "--keep", "2")
    site.ok("1.1", "--keep", "2")
    site.mark("failing", "1.2")
    status, _, err = site.deploy("1.2", "--keep", "2")
    assert status == 1 and err[-1].endswith("rolled back to app-1.1.pyz, which is live. Fix the release and deploy "
                                            "again"), err  # fmt: skip
    assert site.state() == {"release": "app-1.1.pyz", "previous": None, "state": "healthy",
                            "releases": _names("1.0", "1.1", "1.2")}  # fmt: skip
    out = site.ok("1.3", "--keep", "2")
    assert out[-1] == "kept app-1.1.pyz, app-1.2.pyz, app-1.3.pyz; removed app-1.0.pyz"
    assert site.releases() == _names("1.1", "1.2", "1.3")


def test_a_failed_release_is_switched_back_and_restarted(site: Site) -> None:
    site.ok("1.0")
    site.calls()
    site.mark("failing", "1.1")
    status, out, err = site.deploy("1.1")
    assert status == 1
    assert f"switched {site.dir}/current.pyz to releases/app-1.1.pyz (was app-1.0.pyz)" in out
    assert out[-4:] == [
        f"app-1.1.pyz failed: {UNIT} is failed, not active, after its restart: rolling back to app-1.0.pyz",
        f"switched {site.dir}/current.pyz to releases/app-1.0.pyz (was app-1.1.pyz)",
        f"restarted {UNIT}",
        f"{UNIT} active",
    ]
    assert err == ["the journal of the unit", f"hatch-zipapp deploy: app-1.1.pyz failed: {UNIT} is failed, not "
                   f"active, after its restart (the journal of {UNIT} above); rolled back to app-1.0.pyz, which is "
                   "live. Fix the release and deploy again"]  # fmt: skip
    assert site.current() == f"{site.dir}/releases/app-1.0.pyz"
    assert site.calls() == [f"reset-failed {UNIT}", f"restart {UNIT}", f"is-active {UNIT}", RESTART[0], RESTART[1],
                            *RESTART[2:]]  # fmt: skip
    assert site.state()["release"] == "app-1.0.pyz" and site.state()["state"] == "healthy"


def test_a_process_replaced_within_settle_is_rolled_back(site: Site) -> None:
    site.ok("1.0")
    site.mark("unstable", "1.1")
    status, _, err = site.deploy("1.1", "--settle", "0.2")
    assert status == 1
    assert err[-1] == (
        f"hatch-zipapp deploy: app-1.1.pyz failed: {UNIT} did not stay up: its process 4002 was replaced by 4003 "
        f"(restarted 1 time by systemd) within 0.2 s of its start (the journal of {UNIT} above); rolled back to "
        "app-1.0.pyz, which is live. Fix the release and deploy again"
    )
    assert site.current() == f"{site.dir}/releases/app-1.0.pyz"


def test_a_deploy_killed_after_its_switch_recorded_it_and_finishes_when_run_again(site: Site) -> None:
    site.ok("1.0")
    site.ok("1.1")
    (site.fake / "hold").touch()  # the restart waits: the deploy is killed between its switch and its restart
    try:
        process = subprocess.Popen(
            [sys.executable, "-I", "-S", "-c", RUN, "deploy", *site.arguments("1.2")],  # (as run() starts it)
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=site.env, start_new_session=True,
        )  # fmt: skip
        assert process.stdout is not None
        for line in process.stdout:
            if line.startswith("hatch-zipapp deploy: switched "):
                break
        held = site.fake / "held"
        for _ in range(600):  # the deploy is in its restart (its steps run in process groups of their own)
            if held.exists() and held.read_text():
                break
            time.sleep(0.05)
        os.killpg(process.pid, signal.SIGKILL)
        os.kill(int(held.read_text()), signal.SIGKILL)
        process.communicate(timeout=30)
    finally:
        (site.fake / "hold").unlink()
    assert site.current() == f"{site.dir}/releases/app-1.2.pyz"
    assert site.state() == {"release": "app-1.2.pyz", "previous": "app-1.1.pyz", "state": "switching",
                            "releases": _names("1.0", "1.1", "1.2")}  # fmt: skip
    site.calls()
    out = site.ok("1.2", "--keep", "2")
    assert out[-3:] == [f"restarted {UNIT}", f"{UNIT} active", "kept app-1.1.pyz, app-1.2.pyz; removed app-1.0.pyz"]
    assert site.calls() == RESTART
    assert site.state() == {"release": "app-1.2.pyz", "previous": "app-1.1.pyz", "state": "healthy",
                            "releases": _names("1.1", "1.2")}  # fmt: skip
    out = site.ok("1.2")
    assert out[-1] == "app-1.2.pyz is current and was deployed healthy: nothing to do"
    assert site.calls() == []


class Health:
    """An HTTP server on 127.0.0.1 answering ``status``, or ``bad`` while current.pyz is app-1.1.pyz; it records
    each request's Host."""

    def __init__(self, site: Site, status: int, bad: int) -> None:
        self.hosts: list[str] = []
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                """Quiet."""

            def do_GET(self) -> None:
                owner.hosts.append(self.headers.get("Host", ""))
                release = os.path.basename(os.readlink(site.dir / "current.pyz"))
                code = bad if release == "app-1.1.pyz" else status
                self.send_response(code)
                self.send_header("Content-Length", "0")
                if 300 <= code < 400:
                    self.send_header("Location", "/elsewhere")
                self.end_headers()

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.mark.parametrize("bad", [400, 404, 503])
def test_a_health_answer_of_400_or_more_fails_the_release(site: Site, bad: int) -> None:
    health = Health(site, 302, bad)  # a redirect is an answer: the site is up
    try:
        out = site.ok("1.0", "--health", health.url)
        assert out[-2] == f"{UNIT} active; {health.url} answered 302"
        status, out, _ = site.deploy("1.1", "--health", health.url, "--timeout", "1")
    finally:
        health.stop()
    assert status == 1
    assert f"app-1.1.pyz failed: {health.url} answered {bad} within 1 s: rolling back to app-1.0.pyz" in out
    assert site.current() == f"{site.dir}/releases/app-1.0.pyz"


def test_the_health_probe_s_host_is_the_first_allowed_host(tmp_path: Path, pyz: Path) -> None:
    name = f"hzflow-{secrets.token_hex(4)}"
    site = Site(tmp_path, pyz, name)
    env = Path("/etc", name, "env")
    env.parent.mkdir()  # (a new name: never an existing site's)
    health = Health(site, 200, 200)
    try:
        env.write_text("DEBUG=0\nALLOWED_HOSTS='first.example.org,second.example.org'\n")
        site.ok("1.0", "--health", health.url)
    finally:
        health.stop()
        shutil.rmtree(env.parent, ignore_errors=True)
    assert set(health.hosts) == {"first.example.org"}


def test_a_django_site_runs_its_two_checks_in_order_and_no_check_none(site: Site, django_pyz: Path) -> None:
    for version in ("1.0", "1.1", "1.2"):
        site.release(version, django_pyz)
    manage, calls = os.fspath(site.bin / "manage"), site.fake / "manage-calls"

    def checked() -> list[str]:
        lines = calls.read_text().splitlines() if calls.exists() else []
        calls.unlink(missing_ok=True)
        return lines

    out = site.ok("1.0", "--manage", manage)
    path = f"{site.dir}/releases/app-1.0.pyz"
    assert checked() == [f"--pyz {path} check --deploy --fail-level ERROR", f"--pyz {path} migrate --noinput"]
    assert f"check passed: manage --pyz {path} migrate --noinput" in out
    out = site.ok("1.1", "--manage", manage, "--no-check")
    assert checked() == []
    assert "no checks to run for app-1.1.pyz (--check CMD names one)" in out
    (site.fake / "manage-fails").touch()
    status, out, err = site.deploy("1.2", "--manage", manage)
    path = f"{site.dir}/releases/app-1.2.pyz"
    assert checked() == [f"--pyz {path} check --deploy --fail-level ERROR"]  # the first failed: not the migrations
    assert (status, err) == (1, [
        f"hatch-zipapp deploy: check failed (exit status 1, its output above): manage --pyz {path} check --deploy "
        "--fail-level ERROR; current.pyz stays on app-1.1.pyz. Fix the release or its configuration (/etc/app/env, "
        "/etc/app/secret_key), or choose the checks with --check CMD (or --no-check)"
    ])  # fmt: skip
    assert site.current() == f"{site.dir}/releases/app-1.1.pyz"


def test_a_roll_back_by_hand_deploys_the_kept_release_from_releases(site: Site) -> None:
    """docs/deployment.md's roll back by hand: `hatch-zipapp deploy /srv/NAME/releases/OLD.pyz --dir /srv/NAME`, the
    source being the very file the deploy keeps (and its .sha256 the one the deploy wrote beside it)."""
    site.ok("1.0")
    site.ok("1.1")
    kept = site.dir / "releases" / "app-1.0.pyz"
    before = kept.read_bytes()
    arguments = [os.fspath(kept), "--dir", os.fspath(site.dir), "--python", sys.executable, "--no-check"]
    status, out, err = run(*arguments, "--settle", "0", env=site.env)
    assert (status, err) == (0, []), (out, err)
    assert (
        f"hatch-zipapp deploy: fetched app-1.0.pyz: already here (sha256 {hashlib.sha256(before).hexdigest()[:12]}…)"
        in out
    )
    assert f"hatch-zipapp deploy: switched {site.dir}/current.pyz to releases/app-1.0.pyz (was app-1.1.pyz)" in out
    assert site.current() == os.fspath(kept) and kept.read_bytes() == before
    assert site.state()["release"] == "app-1.0.pyz" and site.state()["state"] == "healthy"
