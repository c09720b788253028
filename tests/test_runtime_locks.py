"""The runtime's two locks, each shown to matter: the shared lock of the fast path (a warm start keeps its extraction
from a newer build's cleanup) and the exclusive lock of extraction (no second extraction while one holds it).

Each start here is a real .pyz run through its shebang, with a timeout: a lock regression fails in seconds."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import stat
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from hatch_zipapp.layout import PyzReader
from tests.helpers import IndexServer, build, make_project, make_wheel, pylock_text, run_pyz


def _env(root: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"SHIV_ROOT", "ZIPAPP_ROOT", "CACHE_DIRECTORY"}}
    env["ZIPAPP_ROOT"] = os.fspath(root)
    env.update(extra)
    return env


def _extractions(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir() if not p.name.startswith("."))


@pytest.fixture
def project(tmp_path: Path, wheelhouse: Path, index: IndexServer) -> Path:
    alpha = make_wheel(wheelhouse, "alpha", "1.0")
    project = make_project(tmp_path / "p", dependencies=["alpha"], zipapp="bytecode = false\nkeep-extractions = 1")
    (project / "pylock.toml").write_text(pylock_text([[alpha]], base_url=index.url))
    return project


def test_a_warm_start_keeps_its_extraction_from_a_newer_builds_cleanup(project: Path, tmp_path: Path) -> None:
    """The process that extracted has exited; a second start takes the fast path (no extraction) and keeps running
    while three newer builds start with ``keep-extractions = 1``: its extraction stays, because it holds it shared."""
    root = tmp_path / "root"
    first = build(project, tmp_path / "first")
    run_pyz(first, env=_env(root))  # extracts, then exits: no process holds the extraction now
    (extracted,) = _extractions(root)
    inode = (root / extracted).stat().st_ino
    ready = tmp_path / "ready"
    (tmp_path / "wait.py").write_text(
        f"import pathlib, time\npathlib.Path({os.fspath(ready)!r}).write_text('x')\ntime.sleep(60)\n"
    )
    warm = subprocess.Popen(
        [os.fspath(first), os.fspath(tmp_path / "wait.py")],
        env=_env(root, SHIV_INTERPRETER="1"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while not ready.exists():
            assert warm.poll() is None and time.monotonic() < deadline, "the warm start did not come up"
            time.sleep(0.05)
        assert (root / extracted).stat().st_ino == inode  # it took the fast path: the same tree, not a new one
        for version in range(3):
            (project / "src" / "app" / "version.py").write_text(f"N = {version}\n")
            run_pyz(build(project, tmp_path / f"b{version}"), env=_env(root))
        names = _extractions(root)
        assert extracted in names, f"the extraction in use by a warm start was deleted: {names}"
        assert len(names) == 2  # the one in use, and the newest (keep-extractions = 1)
    finally:
        warm.kill()
        warm.wait(timeout=30)


def test_no_extraction_while_another_process_holds_the_exclusive_lock(project: Path, tmp_path: Path) -> None:
    """While the build's lock is held exclusively, a start waits (``ZIPAPP_LOCK_TIMEOUT``) and extracts nothing. A
    runtime that extracted without the lock would write a tree here (and then block on the lock): a failure within
    seconds either way, never a hung test."""
    pyz = build(project)
    with PyzReader(pyz) as archive:
        environment = json.loads(archive.read("environment.json"))
    root = tmp_path / "root"
    root.mkdir()
    lock = root / f".app_{environment['build_id']}.lock"
    with lock.open("w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        process = subprocess.Popen(
            [os.fspath(pyz)],
            env=_env(root, ZIPAPP_LOCK_TIMEOUT="3"),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            deadline = time.monotonic() + 30
            while process.poll() is None:
                entries = sorted(os.listdir(root))
                assert entries == [lock.name], f"something was extracted while the lock was held: {entries}"
                assert time.monotonic() < deadline, "the start neither waited nor gave up within 30 s"
                time.sleep(0.02)
            _, stderr = process.communicate(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate(timeout=30)
        entries = sorted(os.listdir(root))
    assert entries == [lock.name], f"something was extracted while the lock was held: {entries}"
    assert process.returncode == 1 and "waited 3 s for another process extracting app_" in stderr
    # Never silent: one line once it has waited 2 s, naming the lock and who holds it, then the verdict.
    lines = stderr.splitlines()
    assert len(lines) == 2 and lines[0].startswith(f"{pyz.name}: waiting for another process extracting app_"), lines
    assert f"lock: {lock}, held by" in lines[0] and f"{os.getpid()}" in lines[0], lines[0]
    assert lines[0].endswith("for at most 3 s (ZIPAPP_LOCK_TIMEOUT)"), lines[0]


#: Another user's attempt to hold a lock file: open it read-only (all 0644 lets others do) and ``flock`` it shared.
_HOLD = """
import fcntl, os, sys
try:
    fd = os.open(sys.argv[1], os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
except OSError as e:
    print("refused:", e.strerror)
else:
    print("held")
"""


def _as_nobody(lock: Path) -> str:
    command = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "/usr/bin/python3", "-c", _HOLD]
    result = subprocess.run([*command, os.fspath(lock)], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"), reason="runs as another user: needs root")
def test_a_lock_file_left_open_to_others_is_made_owner_only_again(project: Path) -> None:
    """A lock file an earlier hatch-zipapp left 0644 (or 0666), in a root others can enter (``ZIPAPP_PREPARE=1``
    makes it 0755): another user can open and hold it, so every start waits on them. The next start makes it 0600
    again, and then they cannot (unseen round 3, #36: the repair was never asserted)."""
    pyz = build(project)
    top = Path(tempfile.mkdtemp(prefix="hatch-zipapp-lock-mode-", dir="/tmp"))  # tmp_path's parents are 0700
    try:
        top.chmod(0o755)
        root = top / "root"
        run_pyz(pyz, env=_env(root, ZIPAPP_PREPARE="1"))
        assert stat.S_IMODE(root.stat().st_mode) == 0o755
        (lock,) = (p for p in root.iterdir() if p.name.endswith(".lock"))
        assert stat.S_IMODE(lock.stat().st_mode) == 0o600
        assert _as_nobody(lock) == "refused: Permission denied\n"
        for old in (0o644, 0o666):
            lock.chmod(old)
            assert _as_nobody(lock) == "held\n", oct(old)  # what the repair is for
            run_pyz(pyz, env=_env(root))  # the fast path: the extraction is there
            assert stat.S_IMODE(lock.stat().st_mode) == 0o600, oct(old)
            assert _as_nobody(lock) == "refused: Permission denied\n", oct(old)
    finally:
        shutil.rmtree(top)
