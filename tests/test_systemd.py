"""Generated systemd units: `systemd-analyze verify` is silent and the service's exposure score is at most 1.5.

Needs Debian's `systemd` package for `systemd-analyze` (installed by .ci/run); no running systemd is needed.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from hatch_zipapp.__main__ import main as cli
from hatch_zipapp.systemd import Units, render


def _analyze(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    analyze = shutil.which("systemd-analyze")
    assert analyze is not None, "systemd-analyze is missing: apt-get install systemd (as .ci/run does)"
    return subprocess.run([analyze, *args], cwd=cwd, capture_output=True, text=True, check=False, timeout=120)


def _score(service: Path) -> float:
    result = _analyze("security", "--offline=true", service.name, cwd=service.parent)
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", result.stdout + result.stderr)
    assert match is not None, result.stdout + result.stderr
    return float(match.group(1))


@pytest.mark.parametrize("socket", [None, "127.0.0.1:8000"])
def test_verify_is_silent_and_the_score_is_at_most_1_5(tmp_path: Path, socket: str | None) -> None:
    files = render(Units("mysite", "/srv/mysite/current.pyz", socket=socket))
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    result = _analyze("verify", *files, cwd=tmp_path)
    assert result.returncode == 0 and result.stdout + result.stderr == ""
    assert _score(tmp_path / "mysite.service") <= 1.5


def test_the_service_is_wired_to_the_runtime(tmp_path: Path) -> None:
    service = render(Units("mysite", "/srv/mysite/current.pyz", socket="127.0.0.1:8000"))["mysite.service"]
    for line in [
        "ExecStart=/usr/bin/python3 /srv/mysite/current.pyz serve",
        "CacheDirectory=mysite",  # $CACHE_DIRECTORY: where the .pyz extracts
        "StateDirectory=mysite",
        "EnvironmentFile=-/etc/mysite/env",
        "LoadCredential=secret_key:/etc/mysite/secret_key",
        "DynamicUser=yes",
        "ProtectSystem=strict",
        "MemoryDenyWriteExecute=yes",
        "Requires=mysite.socket",
    ]:
        assert line in service.splitlines(), line


def test_relaxing_for_cffi_callbacks(tmp_path: Path) -> None:
    files = render(Units("jitty", "/srv/jitty/current.pyz", relax=frozenset({"jit"})))
    assert "MemoryDenyWriteExecute=yes" not in files["jitty.service"]
    (tmp_path / "jitty.service").write_text(files["jitty.service"])
    assert _analyze("verify", "jitty.service", cwd=tmp_path).stdout == ""
    assert _score(tmp_path / "jitty.service") <= 1.5
    with pytest.raises(ValueError, match="Unknown relaxation"):
        render(Units("x", "/srv/x.pyz", relax=frozenset({"everything"})))


def test_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = [
        "systemd",
        "--name",
        "mysite",
        "--pyz",
        "/srv/mysite/current.pyz",
        "--socket",
        "8000",
        "-o",
        os.fspath(tmp_path),
    ]
    assert cli(args) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mysite.service", "mysite.socket"]
    assert "ListenStream=8000" in (tmp_path / "mysite.socket").read_text()
    assert cli(["systemd", "--name", "x", "--pyz", "/x.pyz", "--relax", "nope", "-o", os.fspath(tmp_path)]) == 2
    assert "Unknown relaxation" in capsys.readouterr().err
