"""The fleet roll-out of docs/deployment.md: its Ansible playbook, as written, run by ansible-core against two real
systemd boxes (tests/sdbox.py) as the hosts.

The boxes have a private network, so the connection is tests/ansible/connection_plugins/nspawn.py (nsenter into the
box, files through cat): a stand-in for ssh below the playbook, which does not change. In each box `hatch-zipapp` is
this checkout (`python3 -m hatch_zipapp`, its src/ mounted read-only) on Debian's python3 and nothing else.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import sdbox

pytestmark = [pytest.mark.network, pytest.mark.systemd]

ROOT = Path(__file__).parent.parent
PLUGINS = Path(__file__).parent / "ansible" / "connection_plugins"
HOSTS = ("web1", "web2")
#: hatch-zipapp in a box: this checkout's source, on the box's python3.
WRAPPER = '#!/bin/sh\nPYTHONPATH=/opt/hatch-zipapp/src exec python3 -m hatch_zipapp "$@"\n'


@pytest.fixture(scope="module")
def boxes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, sdbox.Box]]:
    reason = sdbox.unavailable()
    if reason is not None:
        if os.environ.get("CI"):
            pytest.fail(f"no systemd box in CI: {reason}")
        pytest.skip(reason)
    logs = tmp_path_factory.mktemp("boxes")
    binds = [(ROOT / "src", "/opt/hatch-zipapp/src")]
    with (
        sdbox.box(f"hz-{HOSTS[0]}", logs / f"{HOSTS[0]}.log", binds) as first,
        sdbox.box(f"hz-{HOSTS[1]}", logs / f"{HOSTS[1]}.log", binds) as second,
    ):
        booted = dict(zip(HOSTS, (first, second), strict=True))
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
        timeout=900,
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
