"""The example Django site (fixtures/mysite) as one .pyz: static files collected at build time, `serve`, per-environment
configuration. Real Django, gunicorn and whitenoise from the package index; real HTTP on 127.0.0.1."""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from hatch_zipapp.layout import PyzReader
from hatch_zipapp.static import DjangoError
from tests.helpers import build, sha256_file, snapshot

pytestmark = pytest.mark.network
FIXTURE = Path(__file__).parent.parent / "fixtures" / "mysite"


def _copy(destination: Path) -> Path:
    shutil.copytree(FIXTURE, destination, ignore=shutil.ignore_patterns("dist", "db.sqlite3"))
    return destination


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("django-cache")


@pytest.fixture
def site(tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The site's .pyz, built with a secret in the build environment that must not end up in it."""
    monkeypatch.setenv("HATCH_ZIPAPP_CACHE_DIR", os.fspath(cache))
    monkeypatch.setenv("SECRET_KEY", "build-secret-123")
    monkeypatch.setenv("DATABASE_URL", "postgres://builder:db-password-456@db.invalid/prod")
    return build(_copy(tmp_path / "mysite"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DATABASE_URL"}}
    env.update({"SECRET_KEY": "runtime-secret", "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}"})
    env.update(extra)
    return env


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as e:
        with e:
            return e.code, dict(e.headers), e.read()


@contextmanager
def _server(command: list[str], env: dict[str, str], url: str, **popen: object) -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen(command, env=env, start_new_session=True, **popen)  # type: ignore[call-overload]
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                _get(url)
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"{command} did not answer on {url} (exit {process.returncode})") from None
                time.sleep(0.2)
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)


def _run(pyz: Path, *args: str, env: dict[str, str], cwd: Path) -> str:
    result = subprocess.run(
        [os.fspath(pyz), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


class TestBuild:
    def test_static_files_collected_into_the_package(self, site: Path) -> None:
        with PyzReader(site) as archive:
            names = set(archive.namelist())
            manifest = archive.read("site-packages/mysite/staticfiles/staticfiles.json").decode()
        css = [n for n in names if re.fullmatch(r"site-packages/mysite/staticfiles/notes/site\.[0-9a-f]{12}\.css", n)]
        assert len(css) == 1
        assert {css[0] + ".gz", css[0] + ".br"} <= names
        assert any(n.startswith("site-packages/mysite/staticfiles/admin/css/base.") for n in names)
        assert '"notes/site.css": "notes/site.' in manifest
        paths = list(json.loads(manifest)["paths"])  # json keeps the file's order
        assert paths == sorted(paths) and len(paths) > 100

    def test_same_bytes_twice_with_a_cold_and_a_warm_cache(
        self, site: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        project = _copy(tmp_path / "elsewhere" / "mysite")
        warm = build(project, tmp_path / "warm")
        monkeypatch.setenv("HATCH_ZIPAPP_CACHE_DIR", os.fspath(tmp_path / "cold-cache"))
        cold = build(project, tmp_path / "cold")
        assert sha256_file(warm) == sha256_file(site) == sha256_file(cold)
        assert list((tmp_path / "cold-cache" / "static").rglob("*.zip"))

    def test_no_build_time_secret_in_the_artifact(self, site: Path) -> None:
        with PyzReader(site) as archive:
            contents = b"".join(archive.read(name) for name in archive.namelist())
        contents += b"".join(gzip.decompress(archive_member) for archive_member in _gz_members(site))
        for secret in (b"build-secret-123", b"db-password-456", b"collectstatic-only"):
            assert secret not in site.read_bytes()
            assert secret not in contents

    def test_settings_that_raise_stop_the_build(
        self, tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("HATCH_ZIPAPP_CACHE_DIR", os.fspath(cache))
        project = _copy(tmp_path / "broken")
        settings = project / "src" / "mysite" / "settings.py"
        settings.write_text(
            settings.read_text() + '\nraise RuntimeError("settings exploded: MEDIA_BUCKET is not set")\n'
        )
        (project / "dist").mkdir()
        (project / "dist" / "old.pyz").write_bytes(b"earlier")
        before = snapshot(project / "dist")
        with pytest.raises(DjangoError, match=r"RuntimeError: settings exploded: MEDIA_BUCKET is not set"):
            build(project)
        assert snapshot(project / "dist") == before


def _gz_members(pyz: Path) -> list[bytes]:
    with PyzReader(pyz) as archive:
        return [archive.read(n) for n in archive.namelist() if n.endswith(".gz")]


class TestRun:
    def test_migrate_createsuperuser_serve_static_admin_and_sigterm(self, site: Path, tmp_path: Path) -> None:
        env = _env(
            tmp_path,
            SHIV_ROOT=os.fspath(tmp_path / "extracted"),
            DJANGO_SUPERUSER_USERNAME="admin",
            DJANGO_SUPERUSER_PASSWORD="correct horse battery staple",
            DJANGO_SUPERUSER_EMAIL="admin@example.invalid",
        )
        assert "Applying notes.0001_initial... OK" in _run(site, "migrate", env=env, cwd=tmp_path)
        _run(site, "createsuperuser", "--noinput", env=env, cwd=tmp_path)
        assert (tmp_path / "db.sqlite3").is_file()
        port = _free_port()
        base = f"http://127.0.0.1:{port}"
        with _server(
            [os.fspath(site), "serve", "--bind", f"127.0.0.1:{port}", "--workers", "2"], env, base, cwd=tmp_path
        ) as server:
            status, _, body = _get(base + "/")
            assert status == 200 and b"<h1>Notes</h1>" in body
            css = re.search(rb'href="(/static/notes/site\.[0-9a-f]{12}\.css)"', body)
            assert css is not None
            status, headers, data = _get(base + css.group(1).decode())
            assert status == 200 and b"font-family" in data
            assert "max-age=315360000" in headers["Cache-Control"]
            status, headers, data = _get(base + css.group(1).decode(), {"Accept-Encoding": "gzip"})
            assert status == 200 and headers.get("Content-Encoding") == "gzip"
            assert b"font-family" in gzip.decompress(data)
            status, _, login = _get(base + "/admin/login/")
            assert status == 200 and b"Django administration" in login
            admin_css = re.search(rb'href="(/static/admin/css/base\.[0-9a-f]{12}\.css)"', login)
            assert admin_css is not None and _get(base + admin_css.group(1).decode())[0] == 200
            started = time.monotonic()
            server.send_signal(signal.SIGTERM)
            assert server.wait(timeout=5) == 0
            assert time.monotonic() - started < 5

    def test_gunicorn_cmd_args(self, site: Path, tmp_path: Path) -> None:
        port = _free_port()
        env = _env(tmp_path, GUNICORN_CMD_ARGS=f"--bind 127.0.0.1:{port} --workers 1")
        _run(site, "migrate", env=env, cwd=tmp_path)
        with _server([os.fspath(site), "serve"], env, f"http://127.0.0.1:{port}/", cwd=tmp_path):
            assert _get(f"http://127.0.0.1:{port}/")[0] == 200

    def test_systemd_socket_activation(self, site: Path, tmp_path: Path) -> None:
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        port = listener.getsockname()[1]
        env = _env(tmp_path, LISTEN_FDS="1")
        _run(site, "migrate", env=env, cwd=tmp_path)
        command = ["/bin/sh", "-c", f'LISTEN_PID=$$ exec "{site}" serve --workers 1']
        try:
            with _server(
                command,
                env,
                f"http://127.0.0.1:{port}/",
                cwd=tmp_path,
                close_fds=False,
                preexec_fn=lambda: os.dup2(listener.fileno(), 3),
            ):
                assert _get(f"http://127.0.0.1:{port}/")[0] == 200
        finally:
            listener.close()

    def test_runserver_with_its_autoreloader(self, site: Path, tmp_path: Path) -> None:
        port = _free_port()
        env = _env(tmp_path, DEBUG="1")
        _run(site, "migrate", env=env, cwd=tmp_path)
        with _server(
            [os.fspath(site), "runserver", f"127.0.0.1:{port}"], env, f"http://127.0.0.1:{port}/", cwd=tmp_path
        ):
            assert _get(f"http://127.0.0.1:{port}/admin/login/")[0] == 200

    def test_help_lists_and_explains_the_pyz_commands(self, site: Path, tmp_path: Path) -> None:
        """`help` (and `--help`, and no command at all) lists serve and pyuwsgi beside Django's commands, and `help
        serve` explains it, as `help runserver` does (Django alone: "Unknown command: 'serve'. Did you mean
        runserver?")."""
        env, program = _env(tmp_path), site.name
        listing = _run(site, "help", env=env, cwd=tmp_path)
        assert "\n[hatch-zipapp]\n    pyuwsgi\n    serve\n" in listing and "\n[staticfiles]\n" in listing
        assert _run(site, "--help", env=env, cwd=tmp_path) == listing
        assert _run(site, env=env, cwd=tmp_path) == listing  # no command at all is `help` (was: Django's own listing)
        commands = _run(site, "help", "--commands", env=env, cwd=tmp_path).split()
        assert commands == sorted(commands) and {"migrate", "pyuwsgi", "runserver", "serve"} <= set(commands)
        serve = _run(site, "help", "serve", env=env, cwd=tmp_path)
        assert serve.startswith(f"usage: {program} serve [the server's own options]\n\n")
        assert "in this process: gunicorn (chosen at build time)" in serve and "(GUNICORN_CMD_ARGS)" in serve
        assert f"`{program} serve --help` lists them" in serve
        pyuwsgi = _run(site, "help", "pyuwsgi", env=env, cwd=tmp_path)
        assert pyuwsgi.startswith(f"usage: {program} pyuwsgi [uWSGI's own options]\n\nuWSGI on settings.WSGI_APP")
        assert _run(site, "help", "runserver", env=env, cwd=tmp_path).startswith(f"usage: {program} runserver")

    def test_settings_module_overridable(self, site: Path, tmp_path: Path) -> None:
        result = subprocess.run(
            [os.fspath(site), "check"],
            env=_env(tmp_path, DJANGO_SETTINGS_MODULE="mysite.nonexistent"),
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )
        assert result.returncode != 0 and "mysite.nonexistent" in result.stderr


def test_readme_first_command(tmp_path: Path, demo_script: Path) -> None:
    """`bash fixtures/demo.sh` (the README's first command) builds the site, migrates it and serves it."""
    env = {**os.environ, "PORT": str(_free_port())}
    result = subprocess.run(
        ["bash", os.fspath(demo_script), "--check"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"GET http://127.0.0.1:{env['PORT']}/ -> 200" in result.stdout
