"""`./site.pyz serve` with each server it runs (gunicorn, uWSGI through pyuwsgi, uvicorn, granian): the example site
(fixtures/mysite, its lock refreshed with the four servers) built once per server, served over HTTP on 127.0.0.1 —
a WSGI page, whitenoise's static files and an async view — with the server's own arguments and variables, systemd
socket activation, readiness (READY=1 on a datagram socket standing in for systemd's NOTIFY_SOCKET), SIGHUP reload
and SIGTERM graceful stop. Real servers from the package index; every server is stopped."""

from __future__ import annotations

import email.utils
import json
import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from hatch_zipapp.errors import DjangoError
from hatch_zipapp.reproducible import DEFAULT_EPOCH
from tests.helpers import build, snapshot
from tests.servers import SERVERS, Built
from tests.test_django import _copy, _env, _free_port, _get, _run

pytestmark = pytest.mark.network
#: What each server logs when SIGHUP makes it reload (its workers, or itself).
RELOADED = {
    "gunicorn": "Handling signal: hup",
    "pyuwsgi": "gracefully (RE)spawned uWSGI master process",
    "uvicorn": "Received SIGHUP, restarting processes",
    "granian": "HUP signal received, gracefully respawning workers",
}
#: How each exits on SIGTERM once its requests are done: uvicorn with one worker re-raises the signal (systemd counts
#: a SIGTERM death clean), its supervisor (--workers 2) exits 0.
STOPPED = {"gunicorn": {0}, "pyuwsgi": {0}, "uvicorn": {0, -signal.SIGTERM}, "granian": {0}}


def _listen(server: str, port: int) -> list[str]:
    """The server's own arguments for 127.0.0.1:port, two workers."""
    return {
        "gunicorn": ["--bind", f"127.0.0.1:{port}", "--workers", "2"],
        "pyuwsgi": [f"--http-socket=127.0.0.1:{port}", "--processes", "2"],
        "uvicorn": ["--host", "127.0.0.1", "--port", str(port), "--workers", "2"],
        "granian": ["--host", "127.0.0.1", "--port", str(port), "--workers", "2"],
    }[server]


def _variables(server: str, port: int) -> dict[str, str]:
    """The server's own environment variables for 127.0.0.1:port."""
    return {
        "gunicorn": {"GUNICORN_CMD_ARGS": f"--bind 127.0.0.1:{port} --workers 1"},
        "pyuwsgi": {"UWSGI_HTTP_SOCKET": f"127.0.0.1:{port}"},
        "uvicorn": {"UVICORN_HOST": "127.0.0.1", "UVICORN_PORT": str(port)},
        "granian": {"GRANIAN_HOST": "127.0.0.1", "GRANIAN_PORT": str(port)},
    }[server]


@pytest.fixture(scope="module")
def built(server_builds: Built) -> Built:
    return server_builds


@pytest.fixture(scope="module")
def cache(server_builds: Built) -> Path:
    return server_builds.cache


@pytest.fixture
def site(request: pytest.FixtureRequest, built: Built, tmp_path: Path) -> tuple[str, Path, dict[str, str]]:
    """(server, its .pyz, an environment with a migrated sqlite database in tmp_path)."""
    server = str(request.param)
    env = _env(tmp_path, SHIV_ROOT=os.fspath(tmp_path.parent / "extracted"))
    env.pop("NOTIFY_SOCKET", None)
    _run(built[server], "migrate", env=env, cwd=tmp_path)
    return server, built[server], env


@contextmanager
def _serve(command: list[str], env: dict[str, str], cwd: Path, **popen: object) -> Iterator[subprocess.Popen[bytes]]:
    """A server process (its own session, output in cwd/server.log), killed with its group if still running."""
    with (cwd / "server.log").open("wb") as log:
        process = subprocess.Popen(  # type: ignore[call-overload]
            command, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, **popen
        )
        try:
            yield process
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)


def _wait_for(url: str, process: subprocess.Popen[bytes], log: Path, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            _get(url)
            return
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                message = f"no answer on {url} (exit {process.returncode}):\n{log.read_text(errors='replace')[-3000:]}"
                raise AssertionError(message) from None
            time.sleep(0.2)


def _check_site(base: str) -> None:
    """The WSGI page, a static file from whitenoise (hashed name, far-future cache, gzip), and the async view."""
    status, _, body = _get(base + "/")
    assert status == 200 and b"<h1>Notes</h1>" in body
    css = re.search(rb'href="(/static/notes/site\.[0-9a-f]{12}\.css)"', body)
    assert css is not None
    status, headers, data = _get(base + css.group(1).decode(), {"Accept-Encoding": "gzip"})
    headers = {name.lower(): value for name, value in headers.items()}  # granian sends them in lower case
    assert status == 200 and headers.get("content-encoding") == "gzip"
    assert "max-age=315360000" in headers["cache-control"]
    # The file's time is the build's (SOURCE_DATE_EPOCH), not its extraction's: every server answers alike.
    assert headers["last-modified"] == email.utils.formatdate(DEFAULT_EPOCH, usegmt=True), headers
    status, _, data = _get(base + "/ping")
    assert status == 200 and json.loads(data) == {"notes": 0, "async": True}


def _stop(process: subprocess.Popen[bytes], server: str) -> None:
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) in STOPPED[server]
    assert time.monotonic() - started < 30


@pytest.mark.parametrize("site", ["uvicorn"], indirect=True)
def test_uvicorn_answers_a_connection_made_as_its_shutdown_begins(
    site: tuple[str, Path, dict[str, str]], tmp_path: Path
) -> None:
    """A client that connected before uvicorn's graceful shutdown (SIGTERM; a reload is one) and sends its request
    just after it began is answered, not reset: uvicorn closes at once a connection it has read nothing from, which
    reset one request of 1,163 through a reload under a real systemd (django_main.py gives it UVICORN_GRACE). One
    worker, as the units run it: with several, uvicorn's supervisor spawns fresh interpreters, which the fix does
    not reach."""
    server, pyz, env = site
    port = _free_port()
    log = tmp_path / "server.log"
    one_worker = ["--host", "127.0.0.1", "--port", str(port)]  # a unit's default: reloaded by a stop and an exec
    with _serve([os.fspath(pyz), "serve", *one_worker], env, tmp_path) as process:
        _wait_for(f"http://127.0.0.1:{port}/", process, log)
        with socket.create_connection(("127.0.0.1", port), timeout=30) as idle:
            time.sleep(0.5)  # accepted by uvicorn, nothing sent yet
            process.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + 30
            while "Shutting down" not in log.read_text(errors="replace"):
                assert time.monotonic() < deadline and process.poll() is None, log.read_text(errors="replace")
                time.sleep(0.005)
            response = b""
            try:
                idle.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
                while chunk := idle.recv(65536):
                    response += chunk
            except ConnectionResetError:
                pass
        assert response.startswith(b"HTTP/1.1 200"), (response[:300], log.read_text(errors="replace")[-2000:])
        assert process.wait(timeout=30) in STOPPED[server]


@pytest.mark.parametrize("site", SERVERS, indirect=True)
class TestServe:
    def test_ready_then_site_static_async_view_reload_and_sigterm(
        self, site: tuple[str, Path, dict[str, str]], tmp_path: Path
    ) -> None:
        """READY=1 arrives on NOTIFY_SOCKET and the site answers at once (no retry); SIGHUP reloads it; SIGTERM
        stops it gracefully."""
        server, pyz, env = site
        port = _free_port()
        base = f"http://127.0.0.1:{port}"
        notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        notify.bind(os.fspath(tmp_path / "notify"))
        notify.settimeout(90)
        env = {**env, "NOTIFY_SOCKET": os.fspath(tmp_path / "notify")}
        with notify, _serve([os.fspath(pyz), "serve", *_listen(server, port)], env, tmp_path) as process:
            messages = notify.recv(4096).decode()
            while "READY=1" not in messages.split("\n"):
                messages += "\n" + notify.recv(4096).decode()
            _check_site(base)  # ready means ready: no waiting
            process.send_signal(signal.SIGHUP)
            deadline = time.monotonic() + 60
            while RELOADED[server] not in (tmp_path / "server.log").read_text(errors="replace"):
                assert time.monotonic() < deadline and process.poll() is None, (tmp_path / "server.log").read_text()
                time.sleep(0.2)
            _wait_for(base + "/", process, tmp_path / "server.log")
            _check_site(base)
            assert process.poll() is None
            _stop(process, server)

    def test_the_servers_own_variables(self, site: tuple[str, Path, dict[str, str]], tmp_path: Path) -> None:
        server, pyz, env = site
        port = _free_port()
        with _serve([os.fspath(pyz), "serve"], {**env, **_variables(server, port)}, tmp_path) as process:
            _wait_for(f"http://127.0.0.1:{port}/", process, tmp_path / "server.log")
            assert _get(f"http://127.0.0.1:{port}/ping")[0] == 200
            _stop(process, server)

    def test_systemd_socket_activation(self, site: tuple[str, Path, dict[str, str]], tmp_path: Path) -> None:
        """The socket systemd passes (fd 3, LISTEN_FDS=1, LISTEN_PID the server's): served, or (granian, which
        cannot take one) a one-line refusal."""
        server, pyz, env = site
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        port = listener.getsockname()[1]
        command = ["/bin/sh", "-c", f'LISTEN_PID=$$ exec "{pyz}" serve']
        with (
            listener,
            _serve(
                command,
                {**env, "LISTEN_FDS": "1"},
                tmp_path,
                close_fds=False,
                preexec_fn=lambda: os.dup2(listener.fileno(), 3),
            ) as process,
        ):
            if server == "granian":
                assert process.wait(timeout=120) == 2
                log = (tmp_path / "server.log").read_text()
                assert "serve: granian cannot serve a socket systemd passes (LISTEN_FDS)" in log
                assert "Traceback" not in log
                return
            _wait_for(f"http://127.0.0.1:{port}/", process, tmp_path / "server.log")
            _check_site(f"http://127.0.0.1:{port}")
            _stop(process, server)


class TestChoice:
    def test_pyuwsgi_command_as_in_the_talk(self, built: Built, tmp_path: Path) -> None:
        """`./site.pyz pyuwsgi --http=…` runs uWSGI whatever `serve` runs (here: a gunicorn build)."""
        env = _env(tmp_path)
        _run(built["gunicorn"], "migrate", env=env, cwd=tmp_path)
        port = _free_port()
        command = [os.fspath(built["gunicorn"]), "pyuwsgi", f"--http=127.0.0.1:{port}"]
        with _serve(command, env, tmp_path) as process:
            _wait_for(f"http://127.0.0.1:{port}/", process, tmp_path / "server.log")
            _check_site(f"http://127.0.0.1:{port}")
            assert "uWSGI http bound on 127.0.0.1:" in (tmp_path / "server.log").read_text()
            _stop(process, "pyuwsgi")

    def test_a_server_the_lock_does_not_carry(
        self, cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("HATCH_ZIPAPP_CACHE_DIR", os.fspath(cache))
        project = _copy(tmp_path / "mysite")
        pyproject = project / "pyproject.toml"
        pyproject.write_text(pyproject.read_text() + 'server = "granian"\n')
        (project / "dist").mkdir()
        before = snapshot(project / "dist")
        message = (
            r"names 'granian', which the lock does not carry \(the lock carries gunicorn\): add `granian` to "
            r"\[project\] dependencies and refresh the lock \(`hatch-zipapp lock`\)"
        )
        with pytest.raises(DjangoError, match=message):
            build(project)
        assert snapshot(project / "dist") == before


class TestGunicornControlSocket:
    """gunicorn >= 25.1 opens a control socket in $HOME/.gunicorn, which a DynamicUser service (HOME=/) cannot
    write ("Control server error: [Errno 13]"): `serve` puts it in $RUNTIME_DIRECTORY, or turns it off."""

    @pytest.mark.parametrize("site", ["gunicorn"], indirect=True)
    def test_runtime_directory_or_off(self, site: tuple[str, Path, dict[str, str]], tmp_path: Path) -> None:
        _, pyz, env = site
        home, runtime = tmp_path / "home", tmp_path / "run"
        home.mkdir()
        runtime.mkdir()
        env = {k: v for k, v in env.items() if k != "XDG_RUNTIME_DIR"}
        for extra in ({"RUNTIME_DIRECTORY": os.fspath(runtime)}, {}):
            port = _free_port()
            command = [os.fspath(pyz), "serve", "--bind", f"127.0.0.1:{port}", "--workers", "1"]
            with _serve(command, {**env, "HOME": os.fspath(home), **extra}, tmp_path) as process:
                _wait_for(f"http://127.0.0.1:{port}/", process, tmp_path / "server.log")
                if extra:
                    deadline = time.monotonic() + 30
                    while not (runtime / "gunicorn.ctl").is_socket():
                        assert time.monotonic() < deadline, (tmp_path / "server.log").read_text()
                        time.sleep(0.1)
                _stop(process, "gunicorn")
            assert not (home / ".gunicorn").exists()
            assert "Control server error" not in (tmp_path / "server.log").read_text()


@pytest.mark.parametrize("workers", [None, "1"], ids=["default", "--workers-1"])
def test_uvicorn_with_one_worker_restarts_in_place_on_sighup(built: Built, tmp_path: Path, workers: str | None) -> None:
    """uvicorn with one worker (its default, or `--workers 1` given) would stop for good on SIGHUP (systemd counts
    that exit clean and never restarts it): `serve` stops it gracefully and starts the command again in the same
    process, which answers again."""
    env = _env(tmp_path, SHIV_ROOT=os.fspath(tmp_path / "extracted"))
    env.pop("NOTIFY_SOCKET", None)
    _run(built["uvicorn"], "migrate", env=env, cwd=tmp_path)
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    options = ["--host", "127.0.0.1", "--port", str(port), *(["--workers", workers] if workers else [])]
    with _serve([os.fspath(built["uvicorn"]), "serve", *options], env, tmp_path) as process:
        _wait_for(base + "/", process, tmp_path / "server.log")
        log = tmp_path / "server.log"
        started = log.read_text(errors="replace").count("Application startup complete")
        process.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 60
        while log.read_text(errors="replace").count("Application startup complete") <= started:
            assert time.monotonic() < deadline and process.poll() is None, log.read_text()
            time.sleep(0.2)
        _wait_for(base + "/", process, log)
        _check_site(base)
        assert process.poll() is None  # the same process (systemd's MAINPID), serving again
        _stop(process, "uvicorn")


class TestDeploy:
    def test_uwsgi_answers_while_the_old_extraction_is_deleted(self, built: Built, tmp_path: Path) -> None:
        """A deploy's first start sets the previous build's extraction aside and deletes it while the site starts.
        uWSGI forks its workers from C: a deleting thread in the master that held the GIL at that moment left a
        worker waiting for it forever (every request hung; seen in bench/serve.py). Three deploys, each answering."""
        env = _env(tmp_path, SHIV_ROOT=os.fspath(tmp_path / "extracted"), ZIPAPP_KEEP="1")
        env.pop("NOTIFY_SOCKET", None)
        for deploy in range(3):
            _run(built["gunicorn"], "migrate", env=env, cwd=tmp_path)  # the previous build, extracted
            port = _free_port()
            # one worker: with two, the one that does not hang answers every request
            command = [os.fspath(built["pyuwsgi"]), "serve", f"--http-socket=127.0.0.1:{port}", "--processes", "1"]
            with _serve(command, env, tmp_path) as process:
                _wait_for(f"http://127.0.0.1:{port}/", process, tmp_path / "server.log", seconds=60)
                _check_site(f"http://127.0.0.1:{port}")
                _stop(process, "pyuwsgi")
            names = [n for n in os.listdir(tmp_path / "extracted") if n.startswith("mysite_")]
            assert len(names) == 1, (deploy, names)  # the old one deleted before the server's exit
