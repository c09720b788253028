"""Each fault of a start gets the advice for *that* fault (issue 22, "messages that blame the wrong thing"): too many
open files is not a full disk, a path too long is not either, a .pyz deleted while it starts is "no such file" (not
damaged), a lock file that is not a regular file is not "another user (uid 0)" said to root, a forced extraction
beside a running process of the same build says at once that the extraction is in use (and by which PID), and no
message ever advises deleting a lock file a live process holds.

Every start is a real .pyz run through its shebang (or by runpy, as Python runs it, to delete it at a chosen read)."""

from __future__ import annotations

import errno
import fcntl
import json
import os
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hatch_zipapp.layout import PyzReader
from tests.helpers import IndexServer, build, make_project, make_wheel, pylock_text


@pytest.fixture
def pyz(tmp_path: Path, wheelhouse: Path, index: IndexServer) -> Path:
    files = {f"bulk/m{i:03d}.py": f"X = {i}\n" for i in range(60)}
    files["bulk/__init__.py"] = 'VALUE = "bulk"\n'
    bulk = make_wheel(wheelhouse, "bulk", "1.0", files=files)
    project = make_project(tmp_path / "p", dependencies=["bulk"], zipapp="bytecode = false")
    (project / "pylock.toml").write_text(pylock_text([[bulk]], base_url=index.url))
    return build(project)


def _env(root: Path, **variables: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"SHIV_ROOT", "CACHE_DIRECTORY"}}
    env.update(ZIPAPP_ROOT=os.fspath(root), **variables)
    return env


def _key(pyz: Path) -> str:
    with PyzReader(pyz) as archive:
        environment = json.loads(archive.read("environment.json"))
    return f"{environment['name']}_{environment['build_id']}"


def _one_line(result: subprocess.CompletedProcess[str], pyz: Path) -> str:
    """The start failed with status 1 and one line, ``NAME: ...``: that line's text."""
    assert result.returncode == 1, result
    assert "Traceback" not in result.stderr and len(result.stderr.splitlines()) == 1, result.stderr
    assert result.stderr.startswith(f"{pyz.name}: "), result.stderr
    return result.stderr.rstrip("\n").removeprefix(f"{pyz.name}: ")


def _start(pyz: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [os.fspath(pyz)], env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False, timeout=120
    )


# -- too many open files, a path too long ----------------------------------------------------------------------------


def _files_limit(limit: int) -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))


def test_too_many_open_files_is_not_a_full_disk(pyz: Path, tmp_path: Path) -> None:
    """An open files limit the start reaches while writing the extraction: the limit is named, not free space."""
    key = _key(pyz)
    seen = []
    for limit in range(4, 40):  # the lowest at which the start gets as far as writing files
        result = subprocess.run(  # the interpreter itself: a shebang through pyenv's shell shim needs more files
            [sys.executable, os.fspath(pyz)],
            env=_env(tmp_path / f"root{limit}"),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
            preexec_fn=lambda limit=limit: _files_limit(limit),  # type: ignore[misc]
        )
        if result.returncode == 0:
            break
        seen.append(result.stderr)
        if f"cannot extract {key} into " in result.stderr:
            message = _one_line(result, pyz)
            assert message.startswith(f"cannot extract {key} into {tmp_path / f'root{limit}'}: Too many open files")
            assert message.endswith("Raise the limit of open files (ulimit -n; LimitNOFILE= in a systemd unit)")
            assert "space" not in message
            assert [p.name for p in (tmp_path / f"root{limit}").iterdir()] == [f".{key}.lock"]  # nothing half-made
            return
    pytest.fail(f"no limit made the extraction itself fail: {seen}")


def test_a_path_too_long_is_not_a_full_disk(pyz: Path, tmp_path: Path) -> None:
    """A root so deep that the extraction's paths pass Linux's 4,096 bytes: a shorter ZIPAPP_ROOT is the fix."""
    root = tmp_path
    while len(os.fsencode(root)) < 4096 - 120:  # the root itself fits; ROOT/.KEY.tmp-PID/site-packages/... does not
        root = root / ("d" * min(200, 4096 - 120 - len(os.fsencode(root))))
    root.mkdir(parents=True, mode=0o700)
    message = _one_line(_start(pyz, _env(root)), pyz)
    assert message.startswith(f"cannot extract {_key(pyz)} into {root}: File name too long ({root}/"), message
    assert message.endswith("Set ZIPAPP_ROOT to a shorter path") and "space" not in message


# -- each errno of a failed write gets its own advice ----------------------------------------------------------------

#: Runs the .pyz as Python does (runpy over its zip), failing the first file the extraction opens to write with the
#: errno ``sys.argv[2]``, as the system would (a full disk, a quota, a read-only file system...).
FAIL_WRITE = """\
import os, runpy, sys
pyz, number = sys.argv[1], int(sys.argv[2])
def hook(event, args):
    if event == "open" and isinstance(args[0], str) and ".tmp-" in args[0] and "/site-packages/" in args[0]:
        if isinstance(args[2], int) and args[2] & (os.O_WRONLY | os.O_RDWR):
            raise OSError(number, os.strerror(number), args[0])
sys.addaudithook(hook)
sys.argv = [pyz]
runpy.run_path(pyz, run_name="__main__")
"""
_SPACE = "Free the space, or set ZIPAPP_ROOT to a directory on a file system with room"
_FILES = "Raise the limit of open files (ulimit -n; LimitNOFILE= in a systemd unit)"
_WRITE = "Set ZIPAPP_ROOT to a directory this user can write"


#: Each errno the runtime tells apart (and two others): its fix, and whether the line names the file.
_ERRNOS = [
    ("ENOSPC", _SPACE, False),
    ("EDQUOT", _SPACE, False),  # a disk quota: the same fix as a full disk
    ("EMFILE", _FILES, False),
    ("ENFILE", _FILES, False),
    ("ENAMETOOLONG", "Set ZIPAPP_ROOT to a shorter path", True),
    ("EROFS", _WRITE, False),
    ("EACCES", _WRITE, False),
    ("EPERM", _WRITE, False),
    ("EIO", "Set ZIPAPP_ROOT to another directory if it persists", True),  # any other
    ("EFBIG", "Set ZIPAPP_ROOT to another directory if it persists", True),
]


@pytest.mark.parametrize(("name", "fix", "named"), _ERRNOS, ids=[name for name, _, _ in _ERRNOS])
def test_each_errno_of_a_failed_write_gets_its_advice(
    pyz: Path, tmp_path: Path, name: str, fix: str, named: bool
) -> None:
    """A write of the extraction failing with each errno the runtime tells apart (and two others): one line, what
    the system said, the file for the faults the file explains, the fix for that errno; nothing half-made left."""
    number = getattr(errno, name)
    root, key = tmp_path / "root", _key(pyz)
    result = subprocess.run(
        [sys.executable, "-c", FAIL_WRITE, os.fspath(pyz), str(number)],
        env=_env(root),
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    message = _one_line(result, pyz)
    start, end = f"cannot extract {key} into {root}: {os.strerror(number)}", f". {fix}"
    assert message.startswith(start) and message.endswith(end), message
    where = message.removeprefix(start).removesuffix(end)
    if named:  # the file it failed on, in the extraction's work directory
        assert re.fullmatch(rf" \({re.escape(os.fspath(root))}/\.{key}\.tmp-\d+/site-packages/[^)]+\)", where), where
    else:
        assert where == "", message
    assert [p.name for p in root.iterdir()] == [f".{key}.lock"]  # nothing half-made


# -- a .pyz deleted while it starts ----------------------------------------------------------------------------------

#: Runs the .pyz as Python does (runpy over its zip), deleting it at WHERE: "pin", just before the start's first act
#: opens it to read the one file it began on (bootstrap/pinned.py); "pinned", at its first read through that file.
DELETE_AT = """\
import os, runpy, sys
pyz, where = sys.argv[1], sys.argv[2]
def hook(event, args):
    if event != "open" or not args or not isinstance(args[0], str) or not os.path.exists(pyz):
        return
    if where == "pinned" and args[0].startswith("/proc/self/fd/"):
        os.unlink(pyz)
    frame = sys._getframe(1)
    while where == "pin" and args[0] == pyz and frame is not None:
        if frame.f_code.co_name == "pin":
            os.unlink(pyz)
            break
        frame = frame.f_back
sys.addaudithook(hook)
sys.argv = [pyz]
runpy.run_path(pyz, run_name="__main__")
"""


def _deleted_at(pyz: Path, tmp_path: Path, where: str) -> subprocess.CompletedProcess[str]:
    copy = tmp_path / "release-1.pyz"
    copy.write_bytes(pyz.read_bytes())
    result = subprocess.run(
        [sys.executable, "-c", DELETE_AT, os.fspath(copy), where],
        env=_env(tmp_path / "root"),
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert not copy.exists()  # the hook did delete it
    return result


def test_a_pyz_deleted_before_it_could_be_held_is_no_such_file(pyz: Path, tmp_path: Path) -> None:
    """Deleted between the interpreter's first read and the start's own open: nothing to run, one line."""
    result = _deleted_at(pyz, tmp_path, "pin")
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    copy = tmp_path / "release-1.pyz"
    assert result.stderr == (
        f"release-1.pyz: cannot read {copy}: no such file (moved or deleted while it started). Start it from where "
        f"it is\n"
    )


def test_a_pyz_deleted_once_held_starts_whole(pyz: Path, tmp_path: Path) -> None:
    """Deleted once the start holds it (a deploy removing an old release): the start reads the file it holds, to the
    end, and runs."""
    result = _deleted_at(pyz, tmp_path, "pinned")
    assert (result.returncode, result.stderr) == (0, ""), result.stderr
    assert result.stdout.endswith("app ok\n"), result.stdout


# -- the lock file ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["fifo", "nobody's file"])
def test_a_lock_file_that_is_not_yours_says_what_it_is(pyz: Path, tmp_path: Path, kind: str) -> None:
    """Root starting with a FIFO of root's at the lock path was told "another user (uid 0) made it"; a FIFO is
    opened read-write (no hang) and named for what it is; another user's file names that user and you."""
    root = tmp_path / "root"
    root.mkdir(mode=0o700)
    lock = root / f".{_key(pyz)}.lock"
    if kind == "fifo":
        os.mkfifo(lock, 0o600)
        why = "it is not a regular file"
    else:
        lock.write_text("")
        os.chown(lock, 65534, 65534)
        why = f"another user (uid 65534) made it, not you (uid {os.geteuid()})"
    message = _one_line(_start(pyz, _env(root)), pyz)
    assert message == f"refusing the lock file {lock}: {why}. Delete it"
    assert "another user (uid 0)" not in message


# -- waiting for a lock a live process holds -------------------------------------------------------------------------


def _running(pyz: Path, root: Path, tmp_path: Path) -> subprocess.Popen[bytes]:
    """A process of ``pyz`` that has started (fast path or extraction) and keeps running: it holds the shared lock."""
    ready = tmp_path / "ready"
    script = tmp_path / "wait.py"
    script.write_text(f"import pathlib, time\npathlib.Path({os.fspath(ready)!r}).write_text('x')\ntime.sleep(60)\n")
    process = subprocess.Popen(
        [os.fspath(pyz), os.fspath(script)],
        env=_env(root, SHIV_INTERPRETER="1"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while not ready.exists():
        assert process.poll() is None and time.monotonic() < deadline, "the running process did not come up"
        time.sleep(0.05)
    return process


@pytest.mark.parametrize("force", ["ZIPAPP_FORCE_EXTRACT", "SHIV_FORCE_EXTRACT"])
def test_force_extract_beside_a_running_process_says_so_at_once(pyz: Path, tmp_path: Path, force: str) -> None:
    root = tmp_path / "root"
    key = _key(pyz)
    running = _running(pyz, root, tmp_path)
    try:
        started = time.monotonic()
        result = _start(pyz, _env(root, ZIPAPP_LOCK_TIMEOUT="20", **{force: "1"}))
        elapsed = time.monotonic() - started
        assert running.poll() is None  # untouched
    finally:
        running.kill()
        running.wait(timeout=30)
    message = _one_line(result, pyz)
    assert message == (
        f"cannot force a new extraction of {key}: it is in use by PID {running.pid} (a running process of this build "
        f"holds {root / f'.{key}.lock'}), and a forced extraction cannot replace an extraction in use. Stop it first, "
        f"or start without {force}"
    )
    assert elapsed < 10, elapsed  # not the whole ZIPAPP_LOCK_TIMEOUT
    assert "delete" not in message.lower()


def test_the_timeout_names_the_holder_and_never_advises_deleting_its_lock(pyz: Path, tmp_path: Path) -> None:
    """A lock held exclusively by a live process (here: this test, as a start stopped mid-extraction would): the end
    of the wait names its PID and asks to end it if stuck; deleting the lock file would let two extractions run."""
    root = tmp_path / "root"
    root.mkdir(mode=0o700)
    lock = root / f".{_key(pyz)}.lock"
    with lock.open("w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        message = _one_line(_start(pyz, _env(root, ZIPAPP_LOCK_TIMEOUT="1")), pyz)
    assert message == (
        f"waited 1 s for another process extracting {_key(pyz)} (lock: {lock}, held by PID {os.getpid()}). If it is "
        f"stuck (stopped or hung), end it; never delete the lock file while it runs. ZIPAPP_LOCK_TIMEOUT sets how "
        f"long to wait"
    )
