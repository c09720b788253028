"""`hatch-zipapp deploy` under a real systemd (252, Debian 12, booted by tests/sdbox.py), run as a server runs it:
``python3 -m hatch_zipapp deploy`` with Debian's python3 and this checkout's ``src/`` on ``PYTHONPATH``, nothing
else installed (the wrapper ``/usr/local/bin/hatch-zipapp``). The site is the example one served by gunicorn, its
releases 1.0, 1.1 and 1.2 (network: its packages come from the index) served over HTTP in the box, installed as
docs/deployment.md says (units with ``--prepared-root``, a ``.socket``, ``mysite-manage``, sqlite in the state
directory).

Two boxes' worth of scenarios in one box, each test on a site installed afresh: a first deploy, the same release again
(nothing to do), a wrong digest, a failed check, a second release (the service then runs it), a service that does not
come up in time and a health probe that fails (both rolled back); then a deploy killed at three steps and run again, two
deploys at once, and the retention of the last two releases with their extractions.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import tarfile
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from hatch_zipapp.__main__ import main as cli
from tests import sdbox
from tests.docblocks import compare
from tests.servers import Built

pytestmark = [pytest.mark.network, pytest.mark.systemd]

NAME = "mysite"
PORT = 8000
SITE = f"/srv/{NAME}"
SRC = Path(__file__).parent.parent / "src"
#: The deploy command in the box: Debian's python3 and the checkout's src/, nothing installed.
WRAPPER = """#!/bin/sh
PYTHONPATH=/opt/hatch-zipapp/src exec python3 -m hatch_zipapp "$@"
"""
VERSIONS = ("1.0", "1.1", "1.2")


def _tar(*trees: tuple[Path, str]) -> bytes:
    """The directories ``trees`` (host path, name in the archive) as a tar, without bytecode."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for path, name in trees:
            tar.add(path, name, filter=lambda info: None if "__pycache__" in info.name else info)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sdbox.Box]:
    sdbox.required()
    with sdbox.box("hz-deploy", tmp_path_factory.mktemp("box") / "console.log") as booted:
        trees = [(SRC, "src")]
        booted.run(
            "mkdir -p /opt/hatch-zipapp && tar -x -C /opt/hatch-zipapp && chmod -R a-w /opt/hatch-zipapp",
            input=_tar(*trees),
            check=True,
        )
        booted.write("/usr/local/bin/hatch-zipapp", WRAPPER, mode=0o755)
        # Only Debian's python3: the build side's packages are not there.
        assert booted.run(["python3", "-c", "import hatchling"]).returncode != 0
        yield booted


@pytest.fixture(scope="module")
def releases(server_builds: Built) -> dict[str, Path]:
    return {version: server_builds.release("gunicorn", version) for version in VERSIONS}


def _documented() -> tuple[str, list[str]]:
    """docs/deployment.md's deploy command (for root: `# `) and the output it shows."""
    text = (Path(__file__).parent.parent / "docs" / "deployment.md").read_text()
    match = re.search(r"```console\n# (hatch-zipapp deploy [^\n]*)\n(.*?)```\n", text, re.S)
    assert match is not None, "docs/deployment.md shows no deploy command"
    return match.group(1), match.group(2).rstrip("\n").split("\n")


def _build_id(pyz: Path) -> str:
    with zipfile.ZipFile(pyz) as archive:
        return str(json.loads(archive.read("environment.json"))["build_id"])


class Site:
    """The example site installed in the box as docs/deployment.md says, its releases served at http://127.0.0.1:8080
    (a server that honours Range, tests/rangeserver.py) and at http://127.0.0.1:8081 (Python's http.server: none)."""

    made = 0

    def __init__(self, box: sdbox.Box, releases: dict[str, Path], units: Path) -> None:
        self.box, self.releases = box, releases
        box.run(
            f"systemctl stop {NAME}.socket {NAME}.service 'www-*.service'; systemctl reset-failed;"
            f" rm -rf /etc/systemd/system/{NAME}.* /etc/systemd/system/{NAME}.service.d /usr/local/sbin/{NAME}-manage"
            f" /srv /etc/{NAME} /var/lib/{NAME} /var/lib/private/{NAME} /var/cache/private/{NAME}"
        )
        for pyz in releases.values():
            box.put(pyz, f"/srv/www/{pyz.name}")
            for suffix in (".sha256", ".index"):
                box.put(pyz.with_name(pyz.name + suffix), f"/srv/www/{pyz.name}{suffix}")
        box.put(Path(__file__).with_name("rangeserver.py"), "/opt/rangeserver.py")
        www = ["python3", "/opt/rangeserver.py", "/srv/www", "8080"]
        # Each site's servers are units of their own names: a unit of the last site's may still be loaded (a unit
        # stopped and collected is not gone at once), and systemd-run refuses a name that is.
        Site.made += 1
        box.run(["systemd-run", f"--unit=www-{Site.made}", "--collect", *www], check=True)
        plain = ["python3", "-m", "http.server", "8081", "--bind", "127.0.0.1", "-d", "/srv/www"]
        box.run(["systemd-run", f"--unit=www-plain-{Site.made}", "--collect", *plain], check=True)
        # A server that closes the connection 1000 bytes into any answer for release 1.1: a transfer cut off.
        cut = ["python3", "/opt/rangeserver.py", "/srv/www", "8082", f"/{releases['1.1'].name}=1000"]
        box.run(["systemd-run", f"--unit=www-cut-{Site.made}", "--collect", *cut], check=True)
        arguments = ["systemd", "--name", NAME, "--pyz", f"{SITE}/current.pyz", "--read", os.fspath(releases["1.0"])]
        options = ["--socket", f"127.0.0.1:{PORT}", "--prepared-root", f"{SITE}/extracted", "-o", os.fspath(units)]
        assert cli([*arguments, *options]) == 0
        box.run(f"install -d {SITE}/releases /etc/{NAME}", check=True)
        box.write(f"/etc/{NAME}/secret_key", "s" * 50 + "\n", mode=0o600)
        box.write(
            f"/etc/{NAME}/env",
            f"ALLOWED_HOSTS=localhost,127.0.0.1\nDATABASE_URL=sqlite:////var/lib/{NAME}/db.sqlite3\n",
        )
        box.put(units / f"{NAME}.service", f"/etc/systemd/system/{NAME}.service")
        box.put(units / f"{NAME}.socket", f"/etc/systemd/system/{NAME}.socket")
        box.put(units / f"{NAME}-manage", f"/usr/local/sbin/{NAME}-manage", mode=0o755)
        box.run(f"systemctl daemon-reload && systemctl enable --now {NAME}.socket", check=True)
        for port in (8080, 8081, 8082):  # the artifact servers listen
            for _ in range(100):
                sha256 = f"http://127.0.0.1:{port}/{releases['1.0'].name}.sha256"
                if box.run(["curl", "-sf", "-o", "/dev/null", sha256]).returncode == 0:
                    break
                time.sleep(0.1)

    def url(self, version: str, port: int = 8080) -> str:
        return f"http://127.0.0.1:{port}/{self.releases[version].name}"

    def deploy(
        self, version: str, *options: str, timeout: float = 600, port: int = 8080
    ) -> subprocess.CompletedProcess[str]:
        command = ["hatch-zipapp", "deploy", self.url(version, port), "--dir", SITE, *options]
        return self.box.run(command, timeout=timeout)

    def current(self) -> str:
        return self.box.run(f"readlink {SITE}/current.pyz").stdout.strip()

    def running(self) -> str:
        """The release file the service's main process runs (the runtime pins it: a descriptor on it)."""
        pid = self.box.show(f"{NAME}.service", "MainPID")["MainPID"]
        links = self.box.run(f"for fd in /proc/{pid}/fd/*; do readlink $fd; done").stdout.split()
        found = sorted({link for link in links if link.startswith(f"{SITE}/releases/")})
        assert len(found) == 1, (pid, links)
        return found[0]

    def release(self, version: str) -> str:
        return f"{SITE}/releases/{self.releases[version].name}"

    def serves(self, version: str) -> None:
        """The page answers, from release ``version``."""
        page = self.box.run(["curl", "-s", "-w", "\n%{http_code}", "--max-time", "20", f"http://127.0.0.1:{PORT}/"])
        assert page.stdout.endswith("\n200") and "<h1>Notes</h1>" in page.stdout, page.stdout[-300:]
        assert self.running() == self.release(version)

    def state(self) -> dict[str, object]:
        return dict(json.loads(self.box.run(f"cat {SITE}/deploy.json", check=True).stdout))

    def started(self, version: str, *options: str) -> subprocess.Popen[str]:
        """A deploy running in the box, its output read line by line; its PID (in the box) is its first line."""
        leader = self.box.leader()
        assert leader is not None
        command = f"echo $$; exec hatch-zipapp deploy {self.url(version)} --dir {SITE} {' '.join(options)} 2>&1"
        variables = [f"PATH={sdbox.PATH_IN}", "LANG=C.UTF-8"]
        return subprocess.Popen(
            ["nsenter", "-t", str(leader), "-a", "env", "-i", *variables, "sh", "-c", command],
            stdout=subprocess.PIPE,
            text=True,
        )

    def killed_at(self, version: str, step: str, *options: str) -> str:
        """A deploy of ``version`` killed (SIGKILL) as soon as a line starting with ``step`` appears; its output."""
        process = self.started(version, *options)
        assert process.stdout is not None
        pid = process.stdout.readline().strip()
        seen = []
        for line in process.stdout:
            seen.append(line)
            if line.startswith(f"hatch-zipapp deploy: {step}"):
                self.box.run(["kill", "-KILL", pid], check=True)
                break
        else:
            pytest.fail(f"no line {step!r}: {''.join(seen)}")
        seen.append(process.stdout.read())
        process.stdout.close()
        assert process.wait(timeout=120) != 0
        return "".join(seen)


@pytest.fixture
def site(box: sdbox.Box, releases: dict[str, Path], tmp_path: Path) -> Site:
    return Site(box, releases, tmp_path / "units")


def _lines(output: str) -> list[str]:
    return [
        line.split(": ", 1)[1].split(" ", 1)[0]
        for line in output.splitlines()
        if line.startswith("hatch-zipapp deploy: ")
    ]


def test_deploy_switches_checks_and_rolls_back(site: Site, tmp_path: Path) -> None:
    box = site.box
    health = ["--health", f"http://127.0.0.1:{PORT}/"]
    name = {v: pyz.name for v, pyz in site.releases.items()}
    # A first deploy: every step, one line each.
    first = site.deploy("1.0", *health)
    assert first.returncode == 0, first.stdout + first.stderr
    assert _lines(first.stdout) == [
        "locked", "sha256", f"{name['1.0']}:", "fetched", "verified", "prepared", "check", "check", "switched",
        "restarted", "mysite.service", "kept",
    ], first.stdout  # fmt: skip
    assert f"{name['1.0']}: no earlier release here: downloading it whole" in first.stdout
    assert f"check passed: {NAME}-manage --pyz {site.release('1.0')} check --deploy --fail-level ERROR" in first.stdout
    assert f"check passed: {NAME}-manage --pyz {site.release('1.0')} migrate --noinput" in first.stdout
    assert f"switched {SITE}/current.pyz to releases/{name['1.0']} (was none)" in first.stdout
    assert f"{NAME}.service active; http://127.0.0.1:{PORT}/ answered 200" in first.stdout
    assert first.stderr == ""
    assert site.current() == site.release("1.0")
    site.serves("1.0")
    assert site.state() == {"release": name["1.0"], "previous": None, "state": "healthy", "releases": [name["1.0"]]}
    # The same release again: nothing to do.
    again = site.deploy("1.0", *health)
    assert again.returncode == 0, again.stderr
    assert (
        again.stdout.splitlines()[-1]
        == f"hatch-zipapp deploy: {name['1.0']} is current and was deployed healthy: nothing to do"
    )
    # A wrong digest: nothing kept, nothing switched.
    wrong = site.deploy("1.1", "--sha256", "0" * 64)
    assert wrong.returncode == 1
    assert re.fullmatch(
        rf"hatch-zipapp deploy: fetch: {re.escape(site.url('1.1'))}: sha256 [0-9a-f]{{64}}, not the expected 0{{64}}: "
        r"a damaged or different file \(publish it again, or check the pinned --sha256\)\n",
        wrong.stderr,
    ), wrong.stderr
    assert box.run(f"ls -A {SITE}/releases").stdout.split() == [name["1.0"], f"{name['1.0']}.sha256"]
    assert site.current() == site.release("1.0")
    # A transfer cut off (the delta's ranges, then the whole download): one line, nothing kept, nothing switched.
    cut = site.deploy("1.1", port=8082)
    assert cut.returncode == 1, cut.stdout + cut.stderr
    assert len(cut.stderr.splitlines()) == 1 and "cut off" in cut.stderr, cut.stderr
    assert cut.stderr.startswith(f"hatch-zipapp deploy: fetch: {site.url('1.1', 8082)}"), cut.stderr
    assert box.run(f"ls -A {SITE}/releases").stdout.split() == [name["1.0"], f"{name['1.0']}.sha256"]
    assert site.current() == site.release("1.0")
    # The second release, by docs/deployment.md's command as written (its artifact server here): switched, and the
    # service runs it.
    command, shown = _documented()
    assert command.startswith(f"hatch-zipapp deploy https://ci.example.com/{name['1.1']} --dir {SITE} ")
    second = box.run(command.replace("https://ci.example.com/", "http://127.0.0.1:8080/"), timeout=600)
    assert second.returncode == 0, second.stdout + second.stderr
    assert compare(shown, second.stdout) is None, compare(shown, second.stdout)
    assert f"switched {SITE}/current.pyz to releases/{name['1.1']} (was {name['1.0']})" in second.stdout
    assert f"hatch-zipapp deploy: fetched {name['1.1']}: delta, " in second.stdout, second.stdout
    site.serves("1.1")
    # A check that fails (Django's warnings, made errors): its output shown, current untouched, the service on 1.1.
    # (Fetched from the server without Range support: the whole file, said so.)
    strict = site.deploy("1.2", "--check", "check --deploy --fail-level WARNING", port=8081)
    assert strict.returncode == 1
    assert (
        f"hatch-zipapp deploy: {site.url('1.2', 8081)}: the server answered a Range request with the whole file "
        "(no Range support)\n" in strict.stdout
    ), strict.stdout
    assert f"hatch-zipapp deploy: fetched {name['1.2']}: whole download, " in strict.stdout, strict.stdout
    assert "security.W0" in strict.stderr, strict.stderr
    assert strict.stderr.splitlines()[-1] == (
        f"hatch-zipapp deploy: check failed (exit status 1, its output above): {NAME}-manage --pyz "
        f"{site.release('1.2')} check --deploy --fail-level WARNING; current.pyz stays on {name['1.1']}. Fix the "
        f"release or its configuration (/etc/{NAME}/env, /etc/{NAME}/secret_key), or choose the checks with "
        "--check CMD (or --no-check)"
    )
    assert "switched" not in strict.stdout
    assert site.current() == site.release("1.1")
    site.serves("1.1")
    # A release whose service does not come up (a drop-in fails its start while current.pyz is 1.2): not active
    # within --timeout, switched back to 1.1, which serves again.
    box.write(
        f"/etc/systemd/system/{NAME}.service.d/broken.conf",
        f"[Service]\nExecStartPre=/bin/sh -c '! readlink {SITE}/current.pyz | grep -q -- -1.2-'\n",
    )
    box.run("systemctl daemon-reload", check=True)
    began = time.monotonic()
    broken = site.deploy("1.2", *health, "--timeout", "12")
    took = time.monotonic() - began
    assert broken.returncode == 1, broken.stdout + broken.stderr
    last = broken.stderr.splitlines()[-1]
    assert re.fullmatch(
        rf"hatch-zipapp deploy: {re.escape(name['1.2'])} failed: {NAME}\.service is "
        r"(activating, not active, 12 s|failed, not active,) after its restart "
        rf"\(the journal of {NAME}\.service above\); rolled back to {re.escape(name['1.1'])}, "
        r"which is live\. Fix the release and deploy again",
        last,
    ), broken.stderr
    assert "Control process exited" in broken.stderr, broken.stderr  # the journal of the unit
    assert f"switched {SITE}/current.pyz to releases/{name['1.1']} (was {name['1.2']})" in broken.stdout
    assert took < 12 + 60, took
    assert site.current() == site.release("1.1")
    site.serves("1.1")
    assert site.state()["release"] == name["1.1"] and site.state()["state"] == "healthy"
    box.run(f"rm -r /etc/systemd/system/{NAME}.service.d && systemctl daemon-reload", check=True)
    # A health probe that fails (a Host the site does not serve: 400): rolled back, the probe named.
    probe = site.deploy(
        "1.2", "--health", f"http://127.0.0.1:{PORT}/", "--health-host", "elsewhere.example", "--timeout", "5"
    )
    assert probe.returncode == 1, probe.stdout + probe.stderr
    assert (
        f"{name['1.2']} failed: http://127.0.0.1:{PORT}/ (Host: elsewhere.example) answered 400 within 5 s: "
        f"rolling back to {name['1.1']}"
    ) in probe.stdout, probe.stdout
    assert site.current() == site.release("1.1")
    site.serves("1.1")
    # A worker that dies a few seconds after it started (here systemd ends it after 6 s, RuntimeMaxSec=): a Type=exec
    # unit is "active" as soon as it is started, and systemd restarts it; the deploy waits --settle seconds and
    # sees it replaced (without waiting, the worker is active when the web service is, and the deploy "succeeds").
    worker = tmp_path / "worker"
    arguments = ["systemd", "--name", NAME, "--pyz", f"{SITE}/current.pyz", "--read", os.fspath(site.releases["1.0"])]
    options = ["--prepared-root", f"{SITE}/extracted", "--worker", "tasks=heartbeat", "-o", os.fspath(worker)]
    assert cli([*arguments, *options]) == 0
    box.put(worker / f"{NAME}-tasks.service", f"/etc/systemd/system/{NAME}-tasks.service")
    box.write(f"/etc/systemd/system/{NAME}-tasks.service.d/dies.conf", "[Service]\nRuntimeMaxSec=6\n")
    box.run("systemctl daemon-reload", check=True)
    services = ["--service", f"{NAME}.service", "--service", f"{NAME}-tasks.service"]
    crashing = site.deploy("1.2", *services, "--timeout", "30", "--settle", "10")
    assert crashing.returncode == 1, crashing.stdout + crashing.stderr
    assert re.search(
        rf"{re.escape(name['1.2'])} failed: {NAME}-tasks\.service (did not stay up: its process \d+ was replaced by "
        r"\d+ \(restarted 1 time by systemd\) within 10 s of its start|is activating, not active, 10 s after it "
        rf"started): rolling back to {re.escape(name['1.1'])}\n",
        crashing.stdout,
    ), crashing.stdout
    assert site.current() == site.release("1.1")
    box.run(f"systemctl stop {NAME}-tasks.service; rm -r /etc/systemd/system/{NAME}-tasks.service*", check=True)
    box.run("systemctl daemon-reload; systemctl reset-failed", check=True)


def test_deploy_killed_twice_at_once_and_retention(site: Site) -> None:
    box = site.box
    name = {v: pyz.name for v, pyz in site.releases.items()}
    ids = {v: _build_id(pyz) for v, pyz in site.releases.items()}
    # A first deploy that is not healthy in time: no release to go back to, so no current.pyz and the service stopped.
    unhealthy = site.deploy(
        "1.0", "--health", f"http://127.0.0.1:{PORT}/", "--health-host", "elsewhere.example", "--timeout", "5"
    )
    assert unhealthy.returncode == 1, unhealthy.stdout + unhealthy.stderr
    assert unhealthy.stderr.splitlines()[-1] == (
        f"hatch-zipapp deploy: {name['1.0']} failed (http://127.0.0.1:{PORT}/ (Host: elsewhere.example) answered 400 "
        f"within 5 s; the journal of {NAME}.service above) and there is no release before it: {SITE}/current.pyz "
        f"removed and {NAME}.service stopped; fix the release and deploy again"
    )
    assert box.run(f"test -e {SITE}/current.pyz || test -L {SITE}/current.pyz").returncode != 0
    assert box.show(f"{NAME}.service", "ActiveState")["ActiveState"] == "inactive"
    assert site.state() == {"release": None, "previous": None, "state": "failed", "releases": [name["1.0"]]}
    # Killed at three steps, each run again: it finishes the job.
    output = site.killed_at("1.0", "prepared")
    assert box.run(f"test -e {SITE}/current.pyz").returncode != 0, output
    done = site.deploy("1.0", "--keep", "2")
    assert done.returncode == 0, done.stdout + done.stderr
    site.serves("1.0")
    output = site.killed_at("1.1", "switched", "--keep", "2")
    assert site.current() == site.release("1.1"), output
    assert site.state()["state"] == "switching"
    done = site.deploy("1.1", "--keep", "2")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"switched {SITE}/current.pyz to releases/{name['1.1']} (was {name['1.0']})" in done.stdout
    site.serves("1.1")
    assert site.state() == {
        "release": name["1.1"], "previous": name["1.0"], "state": "healthy", "releases": [name["1.0"], name["1.1"]]
    }  # fmt: skip
    # Killed once its checks passed: before it records the switch, or just after (a kill is not instant); either way
    # not done.
    output = site.killed_at("1.2", f"check passed: {NAME}-manage --pyz {site.release('1.2')} migrate", "--keep", "2")
    assert site.state()["state"] != "healthy" or site.state()["release"] != name["1.2"], output
    done = site.deploy("1.2", "--keep", "2")
    assert done.returncode == 0, done.stdout + done.stderr
    site.serves("1.2")
    # Retention: the last two releases, by name, with their extractions; 1.0's gone.
    kept = [name["1.1"], f"{name['1.1']}.sha256", name["1.2"], f"{name['1.2']}.sha256"]
    assert box.run(f"ls -A {SITE}/releases").stdout.split() == sorted(kept)
    assert f"kept {name['1.1']}, {name['1.2']}; removed {name['1.0']} and {NAME}_{ids['1.0']}" in done.stdout
    extracted = box.run(f"ls -A {SITE}/extracted").stdout.split()
    assert [e for e in extracted if not e.startswith(".")] == sorted(f"{NAME}_{ids[v]}" for v in ("1.1", "1.2"))
    assert f".{NAME}_{ids['1.0']}.lock" not in extracted
    # Two deploys at once: one waits for the other, then finds nothing to do; both succeed.
    one = site.started("1.1", "--keep", "2")
    assert one.stdout is not None
    first_pid = one.stdout.readline().strip()
    assert one.stdout.readline().startswith("hatch-zipapp deploy: locked"), "the first deploy did not lock"
    other = site.started("1.1", "--keep", "2")
    first_out, _ = one.communicate(timeout=600)
    second_out, _ = other.communicate(timeout=600)
    assert one.returncode == 0 and other.returncode == 0, first_out + second_out
    waiting = [line for line in second_out.splitlines() if "waiting" in line]
    assert len(waiting) == 1 and re.fullmatch(
        rf"hatch-zipapp deploy: waiting for another deploy to finish \(PID {first_pid} holds {SITE}/\.deploy\.lock\)",
        waiting[0],
    ), second_out
    assert second_out.splitlines()[-1] == (
        f"hatch-zipapp deploy: {name['1.1']} is current and was deployed healthy: nothing to do"
    ), second_out
    site.serves("1.1")
    # 1.2, deployed before 1.1, is now the previous release and stays.
    assert box.run(f"ls -A {SITE}/releases").stdout.split() == sorted(kept)
