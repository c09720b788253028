"""The embedded launcher's unpack lock is bounded as the runtime's is (issue 22, security item 4): a start stopped or
hung mid-unpack made every other start wait silently forever, and a FIFO at the lock path hung it too. Now a waiting
start says so after 2 seconds (naming the holder), gives up at ``ZIPAPP_LOCK_TIMEOUT`` (the runtime's meaning and
default) in one line naming the lock and the fix, and the lock is checked before it is opened: a FIFO, a symbolic
link, a directory, another user's file is one line at once. Both locks: flock(1), and the lock directory used where
there is no flock (busybox).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from hatch_zipapp.embed import interpreter_dir
from tests.test_embed import _env, _one_line, _sha256, _tools, archive, built_executable, executable

__all__ = ["archive", "built_executable", "executable"]

LOCKS = pytest.mark.parametrize("without", [(), ("flock",)], ids=["flock", "mkdir-lock"])


def _lock(root: Path, archive: Path, without: tuple[str, ...]) -> Path:
    lock = root / f".{interpreter_dir(_sha256(archive))}.lock"
    return lock.with_name(lock.name + ".d") if without else lock


@LOCKS
def test_a_stopped_holder_makes_a_start_wait_then_give_up_in_one_line(
    executable: Path, archive: Path, tmp_path: Path, without: tuple[str, ...]
) -> None:
    """A first start stopped (SIGSTOP) while it unpacks holds the lock: the next start says it waits, after 2 s, and
    ends at ZIPAPP_LOCK_TIMEOUT with one line that names the lock and the holder, exit status 70."""
    marker = tmp_path / "unpacking"
    tools = _tools(tmp_path / "bin", tar_before=f'touch "{marker}"; sleep 60', without=without)
    root = tmp_path / "root"
    env = _env(root, PATH=os.fspath(tools))
    holder = subprocess.Popen([os.fspath(executable)], env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert holder.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        os.killpg(holder.pid, signal.SIGSTOP)
        started = time.monotonic()
        waiting = subprocess.run(
            [os.fspath(executable)],
            env={**env, "ZIPAPP_LOCK_TIMEOUT": "4"},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        elapsed = time.monotonic() - started
    finally:
        os.killpg(holder.pid, signal.SIGKILL)
        os.killpg(holder.pid, signal.SIGCONT)
        holder.wait(timeout=30)
    lock = _lock(root, archive, without)
    assert waiting.returncode == 70, waiting.stderr
    assert waiting.stderr.splitlines() == [
        f"{executable.name}: waiting for another start to unpack Python (held by PID {holder.pid}, lock {lock}), for "
        f"at most 4 s (ZIPAPP_LOCK_TIMEOUT)",
        f"{executable.name}: waited 4 s for another start to unpack Python (lock: {lock}, held by PID {holder.pid}). "
        f"If it is stuck (stopped or hung), end it; never delete the lock while it runs. ZIPAPP_LOCK_TIMEOUT sets how "
        f"long to wait",
    ]
    assert 3.5 < elapsed < 4 + 6, elapsed
    assert waiting.stdout == ""


@pytest.mark.parametrize("kind", ["fifo", "symlink", "directory", "nobody's", "group-writable"])
def test_the_lock_file_is_checked_before_it_is_opened(
    executable: Path, archive: Path, tmp_path: Path, kind: str
) -> None:
    root = tmp_path / "root"
    root.mkdir(mode=0o700)
    lock = _lock(root, archive, ())
    target = tmp_path / "elsewhere"
    if kind == "fifo":
        os.mkfifo(lock, 0o600)
        why = "it is not a regular file (prw-------)"
    elif kind == "symlink":
        os.mkfifo(target, 0o600)  # followed, it would hang the start
        lock.symlink_to(target)
        why = "it is a symbolic link"
    elif kind == "directory":
        lock.mkdir(mode=0o700)
        why = "it is not a regular file (drwx------)"
    elif kind == "nobody's":
        lock.write_text("")
        os.chown(lock, 65534, 65534)
        why = "another user (uid 65534) made it"
    else:
        lock.write_text("")
        lock.chmod(0o620)
        why = "it is writable by group or others (-rw--w----)"
    started = time.monotonic()
    result = subprocess.run(
        [os.fspath(executable)], env=_env(root), capture_output=True, text=True, timeout=60, check=False
    )
    _one_line(result, executable, f"refusing the lock {lock}: {why}. Delete it")
    assert time.monotonic() - started < 10
    assert not (root / interpreter_dir(_sha256(archive))).exists()


def test_a_fifo_in_the_lock_directory_is_not_read(executable: Path, archive: Path, tmp_path: Path) -> None:
    """No flock: the lock directory's `pid` is read only if it is a regular file (a FIFO would hang `cat`); a lock
    directory with no readable PID is stale after a few seconds."""
    root = tmp_path / "root"
    root.mkdir(mode=0o700)
    lock = _lock(root, archive, ("flock",))
    lock.mkdir()
    os.mkfifo(lock / "pid")
    tools = _tools(tmp_path / "bin", without=("flock",))
    result = subprocess.run(
        [os.fspath(executable)], env=_env(root, PATH=os.fspath(tools)), capture_output=True, text=True, timeout=60,
        check=False,
    )  # fmt: skip
    assert result.returncode == 0 and "alpha 1.0" in result.stdout, result.stderr


@pytest.mark.parametrize("value", ["nan", "-1", "five", "1e", "-inf"])
def test_a_lock_timeout_that_is_not_a_number_of_seconds_is_the_runtimes_line(
    executable: Path, tmp_path: Path, value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hatch_zipapp.bootstrap.documents import BootstrapError
    from hatch_zipapp.bootstrap.locks import lock_timeout

    monkeypatch.setenv("ZIPAPP_LOCK_TIMEOUT", value)
    with pytest.raises(BootstrapError) as runtime:
        lock_timeout()
    result = _start_with_timeout(executable, tmp_path, value)
    assert _one_line(result, executable) == str(runtime.value)
    assert not (tmp_path / "root").exists()


def _start_with_timeout(executable: Path, tmp_path: Path, value: str) -> subprocess.CompletedProcess[str]:
    """A start of the embedded-Python executable with ``ZIPAPP_LOCK_TIMEOUT=value`` and a fresh root."""
    return subprocess.run(
        [os.fspath(executable)],
        env=_env(tmp_path / "root", ZIPAPP_LOCK_TIMEOUT=value),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("value", ["0.5", "1e0", "+2", " 1 ", "inf"])
def test_a_lock_timeout_the_runtime_accepts_is_accepted(executable: Path, tmp_path: Path, value: str) -> None:
    result = _start_with_timeout(executable, tmp_path, value)
    assert result.returncode == 0 and "alpha 1.0" in result.stdout, result.stderr
