"""Links are made only in a directory no other user could replace (issue 22, security item 3): ``ZIPAPP_LINKS=DIR``
and ``hatch-zipapp links APP DIR`` check DIR *and every directory above it* with the extraction roots' rule
(bootstrap/roots.py ``check_above``). A root-owned DIR inside a directory another user owns was accepted: that user
renames DIR, puts their own program at DIR/tool, and root runs it.

The other user is a real one (``nobody``, uid 65534) owning the directory, one or two levels up; a world-writable,
non-sticky directory above is refused too; a sticky one (``/tmp``'s mode) is accepted, as it is for roots.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.test_applications import built, locked, run

__all__ = ["locked"]  # the fixture, imported to be used here

NOBODY = 65534

pytestmark = pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="chowns to nobody: root")


def _layout(tmp_path: Path, levels: int, owner: int, mode: int) -> tuple[Path, Path]:
    """``tmp_path/top/…/bin`` where the directory ``levels`` above ``bin`` is owned by ``owner`` with ``mode``; every
    other directory is root's, 0755. (bin, the odd directory)."""
    top = tmp_path / "top"
    bin_ = top / "a" / "b" / "bin"
    bin_.mkdir(parents=True)
    for directory in (top, top / "a", top / "a" / "b", bin_):
        directory.chmod(0o755)
    odd = bin_.parents[levels - 1]
    os.chown(odd, owner, owner)
    odd.chmod(mode)
    return bin_, odd


@pytest.mark.parametrize(
    ("levels", "owner", "mode", "why"),
    [
        (1, NOBODY, 0o755, f"it is owned by another user (uid {NOBODY})"),
        (2, NOBODY, 0o755, f"it is owned by another user (uid {NOBODY})"),
        (3, NOBODY, 0o700, f"it is owned by another user (uid {NOBODY})"),
        (2, 0, 0o777, "it is writable by group or others (mode 0777)"),
        (1, 0, 0o775, "it is writable by group or others (mode 0775)"),
    ],
    ids=["parent-nobody", "grandparent-nobody", "three-up-nobody", "grandparent-0777", "parent-0775"],
)
def test_a_directory_above_that_another_user_could_change_is_refused(
    tmp_path: Path, locked: str, levels: int, owner: int, mode: int, why: str
) -> None:
    pyz = built(tmp_path, locked)
    bin_, odd = _layout(tmp_path, levels, owner, mode)
    message = (
        f"refusing to link into {bin_}: {odd} is unsafe: {why}, so another user could replace {bin_}. "
        f"Use another directory"
    )
    code, out, err = run([os.fspath(pyz)], env={"ZIPAPP_LINKS": os.fspath(bin_)})
    assert (code, out, err) == (1, "", f"{pyz.name}: {message}\n")
    code, out, err = run([sys.executable, "-m", "hatch_zipapp", "links", os.fspath(pyz), os.fspath(bin_)])
    assert (code, out, err) == (2, "", f"hatch-zipapp links: {message}\n")
    assert list(bin_.iterdir()) == []


def test_the_attack_the_check_stops(tmp_path: Path, locked: str) -> None:
    """What the parent's owner could do once root has linked into a root-owned DIR of theirs: rename DIR and put their
    own program there. The links are refused, so root's `DIR/tool` never exists to be swapped."""
    pyz = built(tmp_path, locked)
    base = Path(tempfile.mkdtemp(prefix="hatch-zipapp-links-", dir="/tmp"))  # the other user can reach it
    try:
        base.chmod(0o755)
        bin_, odd = _layout(base, 1, NOBODY, 0o755)
        marker = base / "pwned"
        code, _, err = run([os.fspath(pyz)], env={"ZIPAPP_LINKS": os.fspath(bin_)})
        assert code == 1 and "refusing to link into" in err
        swap = (
            f'mv "{bin_}" "{odd}/old" && mkdir "{bin_}" && printf "#!/bin/sh\\ntouch {marker}\\n" > "{bin_}/tool" '
            f'&& chmod 755 "{bin_}/tool"'
        )
        attacker = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "sh", "-c", swap]
        assert subprocess.run(attacker, timeout=60, check=False).returncode == 0  # they can: it is their directory
        assert list((odd / "old").iterdir()) == []  # root made no link there for them to take over
    finally:
        shutil.rmtree(base)


@pytest.mark.parametrize("levels", [1, 2])
def test_a_sticky_world_writable_directory_above_is_accepted(tmp_path: Path, locked: str, levels: int) -> None:
    """As for extraction roots: in a sticky directory (/tmp) no other user can rename or remove root's directory."""
    pyz = built(tmp_path, locked)
    bin_, _ = _layout(tmp_path, levels + 1, 0, 0o1777)
    code, out, err = run([os.fspath(pyz)], env={"ZIPAPP_LINKS": os.fspath(bin_)})
    assert code == 0, err
    assert sorted(p.name for p in bin_.iterdir()) == ["tool", "tool-extra", "tool-run"]
    code, out, err = run([sys.executable, "-m", "hatch_zipapp", "links", os.fspath(pyz), os.fspath(bin_)])
    assert code == 0 and out.splitlines()[0] == f"hatch-zipapp links: {bin_}/tool -> {pyz} (already there)", err
