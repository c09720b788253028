"""The fleet roll-out of docs/deployment.md: its Ansible playbook, as written, run by ansible-core against three real
systemd boxes (tests/sdbox.py) as the hosts.

The boxes have a private network, so the connection is tests/ansible/connection_plugins/nspawn.py (nsenter into the
box, files through cat): a stand-in for ssh below the playbook, which does not change. In each box `hatch-zipapp` is
this checkout (`python3 -m hatch_zipapp`, its src/ mounted read-only) on Debian's python3, nothing else installed.

The scenario: every host on release 1.0 (a second roll-out of it is nothing to do); the roll-out of 1.1, one host at
a time, deploys web1; on web2 alone 1.1 cannot start, its deploy switches back to 1.0 and the play fails there;
web3 is never touched. Each host's current release is checked by name and by the version its site answers with.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml  # type: ignore[import-untyped]  # PyYAML, from ansible-core and mkdocs

from hatch_zipapp.__main__ import main as cli
from tests import sdbox
from tests.servers import Built

pytestmark = [pytest.mark.network, pytest.mark.systemd]

ROOT = Path(__file__).parent.parent
NAME = "mysite"
PLUGINS = Path(__file__).parent / "ansible" / "connection_plugins"
#: Three hosts: the roll-out deploys web1, fails on web2 and must not reach web3.
HOSTS = ("web1", "web2", "web3")
#: hatch-zipapp in a box: this checkout's source, on the box's python3.
WRAPPER = """#!/bin/sh
PYTHONPATH=/opt/hatch-zipapp/src exec python3 -m hatch_zipapp "$@"
"""


@pytest.fixture(scope="module")
def boxes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, sdbox.Box]]:
    sdbox.required()
    logs = tmp_path_factory.mktemp("boxes")
    binds = [(ROOT / "src", "/opt/hatch-zipapp/src")]
    with contextlib.ExitStack() as stack:
        booted = {host: stack.enter_context(sdbox.box(f"hz-{host}", logs / f"{host}.log", binds)) for host in HOSTS}
        for box in booted.values():
            box.write("/usr/local/bin/hatch-zipapp", WRAPPER, mode=0o755)
        yield booted


def playbook(boxes: dict[str, sdbox.Box], play: str, directory: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``ansible-playbook`` of the text ``play`` with the boxes as its inventory (group ``web``), as a user runs it."""
    inventory = directory / "inventory.ini"
    lines = ["[web]"]
    for host, box in boxes.items():
        lines.append(f"{host} ansible_connection=nspawn ansible_nspawn_pid={box.leader()}")
    lines += ["", "[web:vars]", "ansible_python_interpreter=/usr/bin/python3"]
    inventory.write_text("\n".join(lines) + "\n")
    (directory / "play.yml").write_text(play)
    env = {
        **os.environ,
        "ANSIBLE_CONNECTION_PLUGINS": os.fspath(PLUGINS),
        "ANSIBLE_LOCAL_TEMP": os.fspath(directory / "ansible-tmp"),
        "ANSIBLE_HOME": os.fspath(directory / "ansible-home"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
        "ANSIBLE_RETRY_FILES_ENABLED": "0",
        "PYTHONWARNINGS": "ignore",
    }
    command = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", os.fspath(inventory)]
    return subprocess.run(
        [*command, *args, os.fspath(directory / "play.yml")],
        cwd=directory,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


VERSION_PLAY = """\
- name: hatch-zipapp on every host
  hosts: web
  gather_facts: false
  tasks:
    - name: hatch-zipapp --version
      ansible.builtin.command: hatch-zipapp --version
      register: version
      changed_when: false
    - name: say it
      ansible.builtin.debug:
        msg: "{{ inventory_hostname }} runs {{ version.stdout }}"
"""


def test_the_boxes_are_ansible_hosts(boxes: dict[str, sdbox.Box], tmp_path: Path) -> None:
    """The harness: a play runs a command on both boxes through the connection plugin and a module's result comes
    back; a file goes in (copy) and comes out (fetch) byte for byte."""
    from hatch_zipapp import __version__

    ran = playbook(boxes, VERSION_PLAY, tmp_path)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    for host in HOSTS:
        assert f'"msg": "{host} runs hatch-zipapp {__version__}"' in ran.stdout, ran.stdout
    payload = bytes(range(256)) * 64
    (tmp_path / "payload.bin").write_bytes(payload)
    files = """\
- name: files in and out
  hosts: web
  gather_facts: false
  tasks:
    - ansible.builtin.copy: {src: payload.bin, dest: /root/payload.bin, mode: "0600"}
    - ansible.builtin.fetch: {src: /root/payload.bin, dest: fetched/, flat: false}
"""
    moved = playbook(boxes, files, tmp_path)
    assert moved.returncode == 0, moved.stdout + moved.stderr
    for host, box in boxes.items():
        assert (tmp_path / "fetched" / host / "root" / "payload.bin").read_bytes() == payload
        assert box.run("stat -c '%a %u' /root/payload.bin").stdout.split() == ["600", "0"]


def rollout_playbook() -> str:
    """The roll-out playbook of docs/deployment.md, as written there."""
    text = (ROOT / "docs" / "deployment.md").read_text(encoding="utf-8")
    section = text[text.index("## Many servers: a rolling deploy with Ansible") :]
    match = re.search(r"```yaml\n(# deploy/rollout\.yml.*?)```\n", section, re.S)
    assert match is not None, "docs/deployment.md has no deploy/rollout.yml block"
    return match.group(1)


def test_the_playbook_is_the_documented_one() -> None:
    """What the roll-out test runs is the docs' playbook: one server at a time, stopping at the first failure, the
    deploy of the set the docs' units make (web service and worker), health-checked."""
    play = yaml.safe_load(rollout_playbook())
    assert play[0]["serial"] == 1 and play[0]["max_fail_percentage"] == 0 and play[0]["any_errors_fatal"] is True
    argv = play[0]["tasks"][0]["ansible.builtin.command"]["argv"]
    assert argv[:4] == ["hatch-zipapp", "deploy", "{{ release_url }}", "--dir"]
    assert "mysite-tasks.service" in argv and "--health" in argv


#: On web2 alone, release 1.1 cannot start (a drop-in, as a host's own configuration would): its deploy of 1.1 is
#: not healthy, 1.0 is.
WEB2_BREAKS_1_1 = """\
[Service]
ExecStartPre=/bin/sh -c 'readlink /srv/mysite/current.pyz | grep -qv -- -1.1-'
"""


def _install(box: sdbox.Box, units: Path, releases: list[Path]) -> None:
    """The site installed as docs/deployment.md says (units of `hatch-zipapp systemd`, mysite-manage, the
    configuration), and a release store on the box's loopback (its private network's stand-in for HTTPS)."""
    box.run(f"install -d /srv/{NAME}/releases /etc/{NAME} /srv/www", check=True)
    box.write(f"/etc/{NAME}/secret_key", "s" * 50 + "\n", mode=0o600)
    box.write(
        f"/etc/{NAME}/env", f"ALLOWED_HOSTS=localhost,127.0.0.1\nDATABASE_URL=sqlite:////var/lib/{NAME}/db.sqlite3\n"
    )
    for unit in units.iterdir():
        if unit.name == f"{NAME}-manage":
            box.put(unit, f"/usr/local/sbin/{unit.name}", mode=0o755)
        else:
            box.put(unit, f"/etc/systemd/system/{unit.name}")
    box.run(f"systemctl daemon-reload && systemctl enable {NAME}.target", check=True)
    for pyz in releases:
        box.put(pyz, f"/srv/www/{pyz.name}")
        box.put(pyz.with_name(pyz.name + ".sha256"), f"/srv/www/{pyz.name}.sha256")
    www = ["systemd-run", "--unit=www", "python3", "-m", "http.server", "8080", "--bind", "127.0.0.1", "-d", "/srv/www"]
    box.run(www, check=True)


def _version(box: sdbox.Box) -> str:
    """The version the site answers with on the box (its /version page)."""
    out = box.run(["curl", "-sf", "-H", "Host: localhost", "http://127.0.0.1:8000/version"], timeout=60).stdout
    return str(json.loads(out)["version"]) if out else ""


def test_a_rolling_deploy_stops_at_the_first_failed_host(
    boxes: dict[str, sdbox.Box], server_builds: Built, tmp_path: Path
) -> None:
    releases = [server_builds.release("gunicorn", version) for version in ("1.0", "1.1")]
    units = tmp_path / "units"
    arguments = ["systemd", "--name", NAME, "--pyz", f"/srv/{NAME}/current.pyz", "--read", os.fspath(releases[0])]
    options = ["--socket", "127.0.0.1:8000", "--prepared-root", f"/srv/{NAME}/extracted", "--worker", "tasks=heartbeat"]
    assert cli([*arguments, *options, "-o", os.fspath(units)]) == 0
    for box in boxes.values():
        _install(box, units, releases)
    boxes["web2"].write(f"/etc/systemd/system/{NAME}.service.d/web2.conf", WEB2_BREAKS_1_1)
    boxes["web2"].run("systemctl daemon-reload", check=True)
    play = rollout_playbook()

    def roll_out(pyz: Path) -> subprocess.CompletedProcess[str]:
        return playbook(boxes, play, tmp_path, "-e", f"release_url=http://127.0.0.1:8080/{pyz.name}")

    def current(box: sdbox.Box) -> str:
        return box.run(f"readlink /srv/{NAME}/current.pyz").stdout.strip().rpartition("/")[2]

    # Every server on 1.0.
    first = roll_out(releases[0])
    assert first.returncode == 0, first.stdout + first.stderr
    for host, box in boxes.items():
        assert current(box) == releases[0].name and _version(box) == "1.0", (host, first.stdout)
    again = roll_out(releases[0])  # deployed already: nothing to do, nothing changed
    assert again.returncode == 0 and re.search(r"web1\s+: ok=1\s+changed=0", again.stdout), again.stdout
    # 1.1, one server at a time: web1 deploys it; on web2 it does not come up, the deploy switches back to 1.0, and
    # the play fails there: web3 is not touched.
    second = roll_out(releases[1])
    log = second.stdout + second.stderr
    assert second.returncode == 2, log
    assert re.search(r"web1\s+: ok=1\s+changed=1\s+unreachable=0\s+failed=0", second.stdout), log
    assert re.search(r"web2\s+: ok=0\s+changed=0\s+unreachable=0\s+failed=1", second.stdout), log
    assert "web3" not in log, log
    assert f"rolling back to {releases[0].name}" in log, log
    expected = {"web1": "1.1", "web2": "1.0", "web3": "1.0"}
    for host, box in boxes.items():
        name = releases[1].name if expected[host] == "1.1" else releases[0].name
        assert (current(box), _version(box)) == (name, expected[host]), host
        for unit in (f"{NAME}.service", f"{NAME}-tasks.service"):  # both services of the set, up
            assert box.show(unit, "ActiveState")["ActiveState"] == "active", (host, unit, box.journal(unit))
    assert f"{releases[1].name}" not in boxes["web3"].run(f"ls /srv/{NAME}/releases").stdout
