"""Every file the build reads from a lock (its `path`, its `file://` or `https://` URL) or a `wheel-dirs` directory is
bounded by what the lock declares: a regular file, no more read of it than the lock's `size` (and one byte), and a
local file that is not the locked one never has its sha256 shown. The lock file itself: a regular file of at most
64 MiB, nested no deeper than TOML's reader goes.

A build that would hang (a FIFO) or read forever (/dev/zero) runs in a child process with a time and memory limit,
so that the bug put back fails the test instead of hanging the suite."""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from hatch_zipapp.errors import FetchError, HashMismatchError, LockError
from hatch_zipapp.lock import LOCK_LIMIT, PylockFile
from tests.helpers import (
    IndexServer,
    Wheel,
    build,
    build_fails,
    make_project,
    make_wheel,
    requirements_text,
    run_pyz,
    snapshot,
)

_ROOT = Path(__file__).resolve().parent.parent

#: Builds the project given as argv[1] in this process's image, with at most 2 GiB of address space; prints the
#: error's class and message (one line) and exits 1, or prints "built".
_CHILD = """
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))
from pathlib import Path
from tests.helpers import build
try:
    build(Path(sys.argv[1]))
except Exception as e:
    print(type(e).__name__ + ": " + str(e))
    sys.exit(1)
print("built")
"""


def _build_in_child(project: Path, timeout: float = 60) -> str:
    """The one line a build of ``project`` ends with, run in a child (killed after ``timeout`` seconds: a build that
    waits on a FIFO or reads /dev/zero is an assertion error, not a hung suite); dist/ unchanged."""
    dist = project / "dist"
    dist.mkdir(exist_ok=True)
    (dist / "previous.pyz").write_bytes(b"an earlier build")
    before = snapshot(dist)
    try:
        result = subprocess.run(
            [sys.executable, "-c", _CHILD, os.fspath(project)],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=_ROOT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"the build still runs after {timeout} s (waiting on a FIFO, or reading without end)")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    assert snapshot(dist) == before
    lines = result.stdout.splitlines()
    assert len(lines) == 1, result.stdout
    return lines[0]


def _pylock(project: Path, wheel: Wheel, where: str, *, size: int | None = None, sha256: str | None = None) -> None:
    """A pylock.toml locking ``wheel`` (its sha256, or ``sha256``), fetched from ``where`` (a TOML `path = ...` or
    `url = ...`), with ``size`` when given."""
    sized = f", size = {size}" if size is not None else ""
    text = (
        'lock-version = "1.0"\ncreated-by = "tests"\n\n[[packages]]\nname = "alpha"\nversion = "1.0"\nwheels = [\n'
        f'  {{ name = "{wheel.filename}", {where}{sized}, hashes = {{ sha256 = "{sha256 or wheel.sha256}" }} }},\n]\n'
    )
    (project / "pylock.toml").write_text(text)


def _where(source: str, path: Path) -> str:
    return f"path = {json.dumps(os.fspath(path))}" if source == "path" else f'url = "file://{path}"'


def _not_regular(kind: str, path: Path) -> Path:
    """``path`` made into a ``kind`` of file that is not a regular one (or a link to one)."""
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "dev-zero":
        path.symlink_to("/dev/zero")
    elif kind == "directory":
        path.mkdir()
    elif kind == "socket":
        server = socket.socket(socket.AF_UNIX)
        server.bind(os.fspath(path))  # the file stays once the socket is closed
        server.close()
    return path


_KINDS = {
    "fifo": "a FIFO, not a regular file",
    "dev-zero": "a character device, not a regular file",
    "directory": "a directory, not a regular file",
    "socket": "a socket, not a regular file",
}


class TestLocalFiles:
    @pytest.mark.parametrize("source", ["path", "file-url"])
    @pytest.mark.parametrize("kind", sorted(_KINDS))
    def test_a_file_that_is_not_regular_is_refused_unread(self, tmp_path: Path, kind: str, source: str) -> None:
        """/dev/zero was read for ever, a FIFO waited on for ever (before: `open()` then hash to the end)."""
        project = make_project(tmp_path / "p", dependencies=["alpha"])
        wheel = make_wheel(tmp_path / "wheels", "alpha", "1.0")
        target = _not_regular(kind, tmp_path / "wheels" / "not-a-wheel.whl")
        _pylock(project, wheel, _where(source, target), size=wheel.path.stat().st_size)
        line = _build_in_child(project)
        assert line == (
            f"FetchError: Could not read {wheel.filename} for alpha (pylock.toml packages[0]) from {target}: "
            f"{_KINDS[kind]}. A lock names wheel and sdist files: correct its path or URL"
        )

    @pytest.mark.parametrize("source", ["path", "file-url"])
    def test_larger_than_the_locks_size_is_refused_unread(self, tmp_path: Path, source: str) -> None:
        """A 64 GiB file (sparse) where the lock says 1 KiB-ish: refused at once (before: hashed to its end)."""
        project = make_project(tmp_path / "p", dependencies=["alpha"])
        wheel = make_wheel(tmp_path / "wheels", "alpha", "1.0")
        size = wheel.path.stat().st_size
        big = tmp_path / "wheels" / "big.whl"
        with big.open("wb") as f:
            f.write(wheel.path.read_bytes())
            f.truncate(64 << 30)
        _pylock(project, wheel, _where(source, big), size=size)
        line = _build_in_child(project, timeout=30)
        assert line == (
            f"HashMismatchError: {wheel.filename} (alpha 1.0, pylock.toml packages[0]) at {big} is larger than the "
            f"{size} bytes the lock records for it: it was not read further, nor used. If the lock is right, {big} "
            f"is not the file that was locked; if the package was legitimately rebuilt, refresh the lock"
        )

    @pytest.mark.parametrize("source", ["path", "file-url"])
    @pytest.mark.parametrize("sized", [True, False])
    def test_a_mismatch_never_shows_the_files_sha256(self, tmp_path: Path, source: str, sized: bool) -> None:
        """The lock may name a file that is not yours (`/etc/shadow`): its digest is not printed (it was)."""
        project = make_project(tmp_path / "p", dependencies=["alpha"])
        wheel = make_wheel(tmp_path / "wheels", "alpha", "1.0")
        foreign = tmp_path / "secret"
        foreign.write_bytes(b"not for the lock's author to know\n")
        size = foreign.stat().st_size if sized else None
        _pylock(project, wheel, _where(source, foreign), size=size)
        message = build_fails(project, HashMismatchError)
        secret = hashlib.sha256(foreign.read_bytes()).hexdigest()
        assert secret not in message
        assert message == (
            f"Hash mismatch for {wheel.filename} (alpha 1.0, pylock.toml packages[0]) at {foreign}: its sha256 is "
            f"not the {wheel.sha256} the lock records (its own is not shown: it may not be your file). The file was "
            f"not used. If the lock is right, {foreign} is not the file that was locked; if the package was "
            f"legitimately rebuilt, refresh the lock"
        )

    def test_a_file_url_on_another_host_is_refused(self, tmp_path: Path) -> None:
        project = make_project(tmp_path / "p", dependencies=["alpha"])
        wheel = make_wheel(tmp_path / "wheels", "alpha", "1.0")
        _pylock(project, wheel, f'url = "file://fileserver{wheel.path}"')
        message = build_fails(project, FetchError)
        assert message == (
            f"Could not read {wheel.filename} (alpha 1.0) from file://fileserver{wheel.path}: a file:// URL names a "
            f"file on this machine, not on 'fileserver'; write it file:///path"
        )

    @pytest.mark.parametrize("kind", ["fifo", "dev-zero"])
    def test_a_wheel_directory_entry_that_is_not_regular(self, tmp_path: Path, wheelhouse: Path, kind: str) -> None:
        """`wheel-dirs` (or `--find-links`) holding a FIFO or a link to /dev/zero under a wheel's name: hashed to
        find the locked file, it hung the build."""
        wheel = make_wheel(tmp_path / "elsewhere", "alpha", "1.0")
        project = make_project(tmp_path / "p", dependencies=["alpha"], zipapp='wheel-dirs = ["../wheelhouse"]')
        (project / "requirements.txt").write_text(requirements_text([[wheel]]))
        _not_regular(kind, wheelhouse / wheel.filename)
        line = _build_in_child(project)
        assert line == (
            f"FetchError: Could not read {wheel.filename} in the wheel directory {project / '../wheelhouse'}: "
            f"{_KINDS[kind]}. A wheel directory holds wheel and sdist files: remove it from there"
        )


class _Endless(http.server.BaseHTTPRequestHandler):
    """Answers every GET with zeros, up to 256 MiB (the bug put back ends), counting what it could send; with a
    Content-Length of a TiB when the path says ``/declared/``."""

    protocol_version = "HTTP/1.0"
    sent = 0

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        if self.path.startswith("/declared/"):
            self.send_header("Content-Length", str(1 << 40))
        self.end_headers()
        piece = bytes(64 * 1024)
        try:
            for _ in range(4096):
                self.wfile.write(piece)
                type(self).sent += len(piece)
        except OSError:
            pass  # the client stopped reading


@pytest.fixture
def endless() -> Iterator[http.server.ThreadingHTTPServer]:
    _Endless.sent = 0
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Endless)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


class TestDownloads:
    @pytest.mark.parametrize("declared", [False, True])
    def test_no_more_than_the_locks_size_is_read(
        self, tmp_path: Path, endless: http.server.ThreadingHTTPServer, declared: bool
    ) -> None:
        """A server that sends without end (with no Content-Length, or one of a TiB): the build stops reading past
        the lock's size (before: read it all, then found the hash wrong)."""
        project = make_project(tmp_path / "p", dependencies=["alpha"])
        wheel = make_wheel(tmp_path / "wheels", "alpha", "1.0")
        url = f"http://127.0.0.1:{endless.server_address[1]}/{'declared' if declared else 'files'}/{wheel.filename}"
        _pylock(project, wheel, f'url = "{url}"', size=1000)
        message = build_fails(project, FetchError)
        assert message == (
            f"Could not fetch {wheel.filename} (alpha 1.0) from {url}: it is larger than the 1000 bytes the lock "
            f"records for it, and was not read further. If the lock is right, the source serves a different file "
            f"than was locked (possible tampering); if the package was legitimately re-published, refresh the lock"
        )
        assert _Endless.sent < 32 << 20  # what the sockets' buffers took before the client hung up, not 256 MiB
        assert not (tmp_path / "cache" / "files").exists()  # nothing was cached

    def test_a_content_length_of_the_locks_size_is_read(
        self, tmp_path: Path, wheelhouse: Path, index: IndexServer
    ) -> None:
        """A server declaring (Content-Length) exactly the lock's size: the wheel is downloaded and built (the bound
        is the size itself, not a byte less)."""
        wheel = make_wheel(wheelhouse, "alpha", "1.0")
        project = make_project(tmp_path / "p", dependencies=["alpha"])
        url = f"{index.url}/files/{wheel.filename}"
        _pylock(project, wheel, f'url = "{url}"', size=wheel.path.stat().st_size)
        assert run_pyz(build(project), "alpha").startswith("alpha: alpha 1.0")
        assert index.requests == [f"/files/{wheel.filename}"]

    @pytest.mark.parametrize("how", ["the lock's size a byte short", "a byte more served"])
    def test_a_content_length_one_byte_over_the_locks_size_is_refused(
        self, tmp_path: Path, wheelhouse: Path, index: IndexServer, how: str
    ) -> None:
        """A Content-Length one byte more than the lock's size (the lock a byte short, or a byte more served): refused,
        nothing cached."""
        wheel = make_wheel(wheelhouse, "alpha", "1.0")
        project = make_project(tmp_path / "p", dependencies=["alpha"])
        url = f"{index.url}/files/{wheel.filename}"
        size = wheel.path.stat().st_size
        if how == "a byte more served":
            index.state.tampered[wheel.filename] = wheel.path.read_bytes() + b"\0"
        else:
            size -= 1
        _pylock(project, wheel, f'url = "{url}"', size=size)
        message = build_fails(project, FetchError)
        assert message == (
            f"Could not fetch {wheel.filename} (alpha 1.0) from {url}: it is larger than the {size} bytes the lock "
            f"records for it, and was not read further. If the lock is right, the source serves a different file "
            f"than was locked (possible tampering); if the package was legitimately re-published, refresh the lock"
        )
        assert not (tmp_path / "cache" / "files").exists()  # nothing was cached


class TestLockFile:
    @pytest.mark.parametrize("nested", ["[", "{ a = "])
    def test_nested_without_end_is_one_lock_error(self, tmp_path: Path, nested: str) -> None:
        """tomllib recurses once a level: 100,000 levels were a RecursionError traceback."""
        closing = "]" if nested == "[" else "}"
        path = tmp_path / "pylock.toml"
        path.write_text('lock-version = "1.0"\nx = ' + nested * 100_000 + "1" + closing * 100_000 + "\n")
        with pytest.raises(LockError) as info:
            PylockFile(path)
        assert str(info.value).startswith(
            f"Lock file {path} cannot be read: its arrays or tables are nested deeper than Python's TOML reader goes "
            f"(no lock nests more than a few levels). Write it again with `hatch-zipapp lock -o "
        )

    def test_nested_without_end_fails_the_build(self, tmp_path: Path) -> None:
        project = make_project(tmp_path / "p", dependencies=["alpha"])
        (project / "pylock.toml").write_text('lock-version = "1.0"\nx = ' + "[" * 100_000 + "]" * 100_000 + "\n")
        build_fails(project, LockError, f"Lock file {project / 'pylock.toml'} cannot be read: its arrays or tables")

    def test_larger_than_any_lock_is_refused_unread(self, tmp_path: Path) -> None:
        """A lock of 64 MiB and a byte (sparse: zeros) is refused by its size (it was read whole, then found to
        hold NUL bytes)."""
        path = tmp_path / "requirements.txt"
        with path.open("wb") as f:
            f.truncate(LOCK_LIMIT + 1)
        project = make_project(tmp_path / "p", dependencies=["alpha"], zipapp=f'lock = "{path}"')
        message = build_fails(project, LockError)
        assert message.startswith(f"Lock file {path} is larger than 64 MiB, more than any lock holds: it was not read.")
        with path.open("r+b") as f:
            f.truncate(LOCK_LIMIT)  # the largest read: its NUL bytes are what is wrong with it
        build_fails(project, LockError, "it has NUL bytes from line 1 on")

    @pytest.mark.parametrize("kind", ["fifo", "dev-zero", "directory"])
    def test_a_lock_that_is_not_a_regular_file(self, tmp_path: Path, kind: str) -> None:
        """It said the lock did not exist; a FIFO that appears after the check hung the build."""
        project = make_project(tmp_path / "p", dependencies=["alpha"], zipapp='lock = "pylock.toml"')
        lock = _not_regular(kind, project / "pylock.toml")
        line = _build_in_child(project)
        assert line == (
            f"LockError: Lock file 'pylock.toml' from field `tool.hatch.build.targets.zipapp.lock` is "
            f"{_KINDS[kind]} (at {lock}): point it at the lock file"
        )
