"""`hatch-zipapp` as a user types it: its version, and a missing file named as such."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from hatch_zipapp import __version__


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hatch_zipapp", *args], capture_output=True, text=True, check=False, timeout=60
    )


def test_version() -> None:
    result = _cli("--version")
    assert (result.returncode, result.stdout) == (0, f"hatch-zipapp {__version__}\n")


def test_info_on_a_missing_file_says_so(tmp_path: Path) -> None:
    result = _cli("info", str(tmp_path / "nope.pyz"))
    assert result.returncode == 2
    assert result.stderr == f"hatch-zipapp info: {tmp_path / 'nope.pyz'} does not exist (or is not a file)\n"
