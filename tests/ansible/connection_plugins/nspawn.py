"""An Ansible connection into a tests/sdbox.py box: the tests' stand-in for ssh.

The boxes have a private network (their own loopback only), so Ansible cannot reach them over ssh; this plugin
enters the box's namespaces instead, as tests/sdbox.py does (`nsenter` into every namespace of the box's PID 1, a
clean environment), and moves files through the same door (`cat`). Everything above the connection, the playbook
first, is what runs against real servers over ssh: the modules Ansible sends, the Python in the box running them,
their results.
"""

from __future__ import annotations

import shlex
import subprocess

from ansible.errors import AnsibleConnectionFailure, AnsibleFileNotFound
from ansible.plugins.connection import ConnectionBase

DOCUMENTATION = """
name: nspawn
short_description: run commands in a systemd-nspawn box (tests/sdbox.py) through nsenter, as root
description:
  - Enters every namespace of the box's systemd (PID 1 in the box) with nsenter; files go in and out through cat.
author: hatch-zipapp tests
options:
  box_pid:
    description: the host PID of the box's systemd
    type: int
    required: true
    vars:
      - name: ansible_nspawn_pid
extends_documentation_fragment:
  - connection_pipelining
"""

#: The environment of a command in the box (sdbox.Box.run's): a root login's PATH, nothing of the controller's.
ENVIRONMENT = [
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "LANG=C.UTF-8",
    "HOME=/root",
    "USER=root",
]


class Connection(ConnectionBase):  # type: ignore[misc]  # ansible-core is untyped
    """`nsenter -t PID -a` into the box, as root (the box's root: ssh as root, or with become, on a server)."""

    transport = "nspawn"
    has_pipelining = True

    def _connect(self) -> Connection:
        self._connected = True
        return self

    def _enter(self, command: list[str]) -> list[str]:
        pid = str(self.get_option("box_pid"))
        return ["nsenter", "-t", pid, "-a", "env", "-i", *ENVIRONMENT, *command]

    def exec_command(self, cmd: str, in_data: bytes | None = None, sudoable: bool = True) -> tuple[int, bytes, bytes]:
        super().exec_command(cmd, in_data=in_data, sudoable=sudoable)
        process = subprocess.run(
            self._enter(["/bin/sh", "-c", cmd]),
            input=in_data,
            stdin=None if in_data is not None else subprocess.DEVNULL,
            capture_output=True,
            check=False,
        )
        if process.returncode == 1 and b"nsenter:" in process.stderr[:200]:
            message = (
                f"cannot enter the box (PID {self.get_option('box_pid')}): {process.stderr.decode(errors='replace')}"
            )
            raise AnsibleConnectionFailure(message)
        return process.returncode, process.stdout, process.stderr

    def put_file(self, in_path: str, out_path: str) -> None:
        super().put_file(in_path, out_path)
        try:
            source = open(in_path, "rb")  # noqa: SIM115 - handed to the child as its stdin
        except OSError as e:
            raise AnsibleFileNotFound(f"file or module does not exist: {in_path}: {e}") from e
        with source:
            process = subprocess.run(
                self._enter(["/bin/sh", "-c", f"cat > {shlex.quote(out_path)}"]),
                stdin=source,
                capture_output=True,
                check=False,
            )
        if process.returncode != 0:
            raise AnsibleConnectionFailure(f"could not put {out_path} in the box: {process.stderr!r}")

    def fetch_file(self, in_path: str, out_path: str) -> None:
        super().fetch_file(in_path, out_path)
        with open(out_path, "wb") as target:
            process = subprocess.run(
                self._enter(["cat", in_path]),
                stdin=subprocess.DEVNULL,
                stdout=target,
                stderr=subprocess.PIPE,
                check=False,
            )
        if process.returncode != 0:
            raise AnsibleFileNotFound(f"could not fetch {in_path} from the box: {process.stderr!r}")

    def close(self) -> None:
        self._connected = False

    def reset(self) -> None:
        self.close()
