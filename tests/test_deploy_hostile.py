"""`hatch-zipapp deploy` (as root) and `hatch-zipapp systemd` against a hostile server: arguments that would inject
unit lines."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.parametrize(
    ("option", "value", "where", "argument"),
    [
        # a word ending in a backslash continues ExecStart= on the next line (Restart=on-failure became an argument)
        ("--worker", "w=run x\\\\", "--worker 'w' argument", "x\\"),
        ("--timer", "t@daily=run 'a\\'", "--timer 't' argument", "a\\"),
        # a C escape systemd unquotes in ExecStart=: the command would get a newline, not these four characters
        ("--worker", "w=run a\\\\x0aExecStartPre=/bin/sh", "--worker 'w' argument", "a\\x0aExecStartPre=/bin/sh"),
    ],
)
def test_a_backslash_in_a_unit_command_is_refused(
    tmp_path: Path, option: str, value: str, where: str, argument: str
) -> None:
    out = tmp_path / "units"
    command = [sys.executable, "-m", "hatch_zipapp", "systemd", "--pyz", "/srv/app/current.pyz", "--name", "app"]
    done = subprocess.run([*command, option, value, "-o", os.fspath(out)], capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout) == (2, ""), done.stderr
    assert done.stderr.splitlines() == [
        f"hatch-zipapp systemd: {where} {argument!r} holds '\\\\', which systemd would split, unquote or expand in "
        "ExecStart=: put such settings in /etc/app/env instead"
    ]
    assert not out.exists()
