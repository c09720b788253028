"""What the Django tests (``network``) guard, without the package index: the collected manifest is rewritten with
sorted keys, and ``serve`` hands gunicorn the socket systemd passed (``LISTEN_FDS``) in the same process.

A stand-in ``django`` and ``gunicorn``, made as tiny wheels here, do what the build and the runtime rely on: Django's
``collectstatic`` writes ``staticfiles.json`` with its keys in file-system (here: reverse) order; gunicorn's
``WSGIApplication`` reads its arguments from ``sys.argv`` and, under socket activation, takes fd 3 when ``LISTEN_PID``
is its own PID."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import urllib.request
from pathlib import Path

import pytest

from hatch_zipapp.layout import PyzReader
from tests.helpers import IndexServer, build, make_project, make_wheel, pylock_text

DJANGO = {
    "django/__init__.py": "def setup():\n    pass\n",
    "django/conf.py": """\
import importlib, os


class _Settings:
    def __getattr__(self, name):
        return getattr(importlib.import_module(os.environ["DJANGO_SETTINGS_MODULE"]), name)


settings = _Settings()
""",
    "django/core/__init__.py": "",
    "django/core/management/__init__.py": """\
import json, os, sys
from django.conf import settings

NAMES = ["zeta/z.css", "alpha/a.css", "mid/m.js", "beta/b.png"]


def call_command(name, **options):
    assert name == "collectstatic", name
    root = str(settings.STATIC_ROOT)
    paths = {}
    for path in NAMES:
        hashed = path.replace(".", ".0123456789ab.")
        os.makedirs(os.path.join(root, os.path.dirname(path)), exist_ok=True)
        for written in (path, hashed):
            with open(os.path.join(root, written), "w") as f:
                f.write(path)
        paths[path] = hashed
    manifest = {"version": "1.1", "paths": paths, "hash": "fixed"}  # Django's order: not sorted
    with open(os.path.join(root, "staticfiles.json"), "w") as f:
        json.dump(manifest, f)


def execute_from_command_line(argv):
    print("manage:", " ".join(argv[1:]))
""",
}

GUNICORN = {
    "gunicorn/__init__.py": "",
    "gunicorn/app/__init__.py": "",
    "gunicorn/config.py": "KNOWN_SETTINGS = []  # gunicorn < 25.1: no control socket\n",
    "gunicorn/app/wsgiapp.py": """\
import importlib, os, socket, sys


class WSGIApplication:
    def __init__(self, usage):
        self.load_config()

    def load_config(self):  # gunicorn's reads sys.argv, at start and again on SIGHUP
        self.args = sys.argv[1:]

    def run(self):
        module, _, attribute = self.args[-1].partition(":")
        application = getattr(importlib.import_module(module), attribute)
        if os.environ.get("LISTEN_PID") != str(os.getpid()) or os.environ.get("LISTEN_FDS") != "1":
            sys.exit(f"not socket-activated: LISTEN_PID={os.environ.get('LISTEN_PID')} pid={os.getpid()}")
        listener = socket.socket(fileno=3)
        connection, _ = listener.accept()
        with connection:
            connection.recv(65536)
            status = []
            environ = {"REQUEST_METHOD": "GET", "gunicorn.args": self.args}
            body = b"".join(application(environ, lambda s, h: status.append(s)))
            head = f"HTTP/1.0 {status[0]}\\r\\nContent-Length: {len(body)}\\r\\n\\r\\n".encode()
            connection.sendall(head + body)
""",
}

SETTINGS = """\
import json, os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent
DATABASES = json.loads(os.environ.get("SITE_DATABASES", "{}"))
STATIC_ROOT = BASE_DIR / "staticfiles"
WSGI_APPLICATION = "app.wsgi.application"
"""

WSGI = """\
import sys


def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [f"gunicorn {' '.join(environ['gunicorn.args'])}; sys.argv {' '.join(sys.argv)}".encode()]
"""


@pytest.fixture
def site(tmp_path: Path, wheelhouse: Path, index: IndexServer) -> Path:
    django = make_wheel(wheelhouse, "django", "5.2", files=DJANGO)
    gunicorn = make_wheel(wheelhouse, "gunicorn", "23.0", files=GUNICORN)
    project = make_project(
        tmp_path / "site",
        dependencies=["django", "gunicorn"],
        zipapp='[tool.hatch.build.targets.zipapp.django]\nsettings = "app.settings"',
    )
    (project / "src" / "app" / "settings.py").write_text(SETTINGS)
    (project / "src" / "app" / "wsgi.py").write_text(WSGI)
    (project / "pylock.toml").write_text(pylock_text([[django], [gunicorn]], base_url=index.url))
    return build(project)


def test_the_manifest_is_written_with_sorted_keys(site: Path) -> None:
    with PyzReader(site) as archive:
        names = set(archive.namelist())
        manifest = archive.read("site-packages/app/staticfiles/staticfiles.json").decode()
    assert "site-packages/app/staticfiles/zeta/z.0123456789ab.css" in names
    document = json.loads(manifest)
    assert list(document) == ["hash", "paths", "version"]
    assert list(document["paths"]) == ["alpha/a.css", "beta/b.png", "mid/m.js", "zeta/z.css"]
    assert manifest == json.dumps(document, sort_keys=True)


def test_serve_takes_the_socket_systemd_passes(site: Path, tmp_path: Path) -> None:
    """As systemd starts it: fd 3 a listening socket, LISTEN_FDS=1 and LISTEN_PID the started process's own PID
    (set by the shell that then execs the .pyz): the request is answered through the site's WSGI application."""
    env = {k: v for k, v in os.environ.items() if k not in {"SHIV_ROOT", "ZIPAPP_ROOT", "DJANGO_SETTINGS_MODULE"}}
    env.update({"ZIPAPP_ROOT": os.fspath(tmp_path / "root"), "LISTEN_FDS": "1"})
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)
        port = listener.getsockname()[1]
        process = subprocess.Popen(
            ["/bin/sh", "-c", f'LISTEN_PID=$$ exec "{site}" serve --workers 1'],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            close_fds=False,
            preexec_fn=lambda: os.dup2(listener.fileno(), 3),
        )
        try:
            opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
            with opener.open(f"http://127.0.0.1:{port}/", timeout=30) as response:
                body = response.read().decode()
            _, stderr = process.communicate(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    # gunicorn got the arguments and the application; sys.argv is the original again (gunicorn's USR2 re-exec)
    assert body == f"gunicorn --workers 1 app.wsgi:application; sys.argv {site} serve --workers 1"


def test_a_confined_site_names_its_undeclared_database(site: Path, tmp_path: Path) -> None:
    """A database client written in C (libpq, mysqlclient) connects without Python's ``socket.connect`` event, and
    under Landlock fails with the driver's "Permission denied ... Is the server running": `migrate` and `serve`
    say first which database HOST:PORT is not declared (the engine's default port where PORT is empty); a declared
    port, a socket directory or an empty HOST (not Landlock's: a path) say nothing, and unconfined nothing is said."""
    databases = {
        "default": {"ENGINE": "django.db.backends.postgresql", "HOST": "127.0.0.1", "PORT": "5433"},
        "replica": {"ENGINE": "django.db.backends.postgresql", "HOST": "::1", "PORT": ""},
        "bracketed": {"ENGINE": "django.db.backends.postgresql", "HOST": "[2001:db8::7]", "PORT": "5433"},
        "legacy": {"ENGINE": "django.db.backends.mysql", "HOST": "db.internal"},
        "declared": {"ENGINE": "django.db.backends.postgresql", "HOST": "10.0.0.5", "PORT": 6432},
        "socket": {"ENGINE": "django.db.backends.postgresql", "HOST": "/run/postgresql"},
        "local": {"ENGINE": "django.db.backends.postgresql", "HOST": ""},
        "sqlite": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"},
    }
    env = {k: v for k, v in os.environ.items() if k not in {"SHIV_ROOT", "ZIPAPP_ROOT", "DJANGO_SETTINGS_MODULE"}}
    env.update(ZIPAPP_ROOT=os.fspath(tmp_path / "root"), SITE_DATABASES=json.dumps(databases))
    table = "[tool.hatch.build.targets.zipapp.confine]"
    expected = [
        f'hatch-zipapp: confine: connect to {where} (DATABASES["{alias}"]) is not declared: add "{where}" to {table} '
        "connect, or --connect to hatch-zipapp systemd"
        for alias, where in (
            ("bracketed", "[2001:db8::7]:5433"),  # not "[[2001:db8::7]]:5433": what to add must be addable
            ("default", "127.0.0.1:5433"),
            ("legacy", "db.internal:3306"),
            ("replica", "[::1]:5432"),
        )
    ]
    confined = {**env, "ZIPAPP_CONFINE": "1", "ZIPAPP_CONFINE_CONNECT": "6432", "TMPDIR": os.fspath(tmp_path / "tmp")}
    (tmp_path / "tmp").mkdir()
    for command in ("migrate", "serve"):
        result = subprocess.run(
            [os.fspath(site), command, "--check"], env=confined, capture_output=True, text=True, timeout=120
        )
        said = [line for line in result.stderr.splitlines() if line.startswith("hatch-zipapp: confine:")]
        assert said == expected, result.stderr
    unconfined = subprocess.run([os.fspath(site), "migrate"], env=env, capture_output=True, text=True, timeout=120)
    assert unconfined.returncode == 0 and "hatch-zipapp" not in unconfined.stderr, unconfined.stderr
    assert unconfined.stdout == "manage: migrate\n"
