"""Hermetic halves of `serve`: the `server` and `allow` options, which server a lock gives, the generated unit's
readiness (`Type=notify`, `RuntimeDirectory=`), and the runtime's READY=1 (a datagram socket stands in for systemd's
NOTIFY_SOCKET) sent only once the server's socket accepts. The servers themselves: tests/test_django_servers.py."""

from __future__ import annotations

import importlib.util
import os
import socket
import sys
import time
from pathlib import Path
from types import ModuleType

import pytest

from hatch_zipapp.config import DJANGO_SERVERS
from hatch_zipapp.deploy.systemd import Units, render
from hatch_zipapp.errors import ConfigError, DjangoError
from hatch_zipapp.static import choose_server
from tests.test_config import config_for

DJANGO = '[tool.hatch.build.targets.zipapp.django]\nsettings = "app.settings"\n'


def _wheels(*names: str) -> list[str]:
    return [f"{name}-1.0-py3-none-any.whl" for name in names]


class TestServerOption:
    def test_default(self, tmp_path: Path) -> None:
        django = config_for(tmp_path, DJANGO).django
        assert django is not None and django.server is None and django.allow == frozenset()

    @pytest.mark.parametrize("server", DJANGO_SERVERS)
    def test_each(self, tmp_path: Path, server: str) -> None:
        django = config_for(tmp_path, DJANGO + f'server = "{server}"').django
        assert django is not None and django.server == server

    def test_unknown(self, tmp_path: Path) -> None:
        message = (
            r"Field `tool.hatch.build.targets.zipapp.django.server` must be one of 'granian', 'gunicorn', "
            r"'pyuwsgi', 'uvicorn' \(.*\), got 'uwsgi'"
        )
        with pytest.raises(ConfigError, match=message):
            _ = config_for(tmp_path, DJANGO + 'server = "uwsgi"').django

    def test_allow(self, tmp_path: Path) -> None:
        django = config_for(tmp_path, DJANGO + 'allow = ["media-root", "sqlite"]').django
        assert django is not None and django.allow == {"media-root", "sqlite"}
        with pytest.raises(ConfigError, match=r"django.allow` must be a list of settings checks .* got \['media'\]"):
            _ = config_for(tmp_path, DJANGO + 'allow = ["media"]').django


class TestChooseServer:
    @pytest.mark.parametrize(
        ("wheels", "chosen"),
        [
            (_wheels("django", "gunicorn", "whitenoise"), "gunicorn"),
            (_wheels("django", "pyuwsgi"), "pyuwsgi"),
            (_wheels("django", "uvicorn", "h11"), "uvicorn"),
            (_wheels("django", "granian"), "granian"),
            (_wheels("django", "uvicorn", "gunicorn"), "gunicorn"),  # gunicorn first, as the docs say
            (_wheels("django"), ""),
        ],
    )
    def test_the_one_the_lock_carries(self, tmp_path: Path, wheels: list[str], chosen: str) -> None:
        django = config_for(tmp_path, DJANGO).django
        assert django is not None and choose_server(django, wheels) == chosen

    def test_named_and_carried(self, tmp_path: Path) -> None:
        django = config_for(tmp_path, DJANGO + 'server = "uvicorn"').django
        assert django is not None and choose_server(django, _wheels("gunicorn", "uvicorn")) == "uvicorn"

    def test_named_not_carried(self, tmp_path: Path) -> None:
        django = config_for(tmp_path, DJANGO + 'server = "pyuwsgi"').django
        assert django is not None
        with pytest.raises(DjangoError, match=r"names 'pyuwsgi', which the lock does not carry \(the lock carries "):
            choose_server(django, _wheels("django", "uwsgi"))

    def test_uwsgi_the_sdist_says_pyuwsgi(self, tmp_path: Path) -> None:
        django = config_for(tmp_path, DJANGO).django
        assert django is not None
        with pytest.raises(DjangoError, match=r"The lock carries `uwsgi`, .* replace it with `pyuwsgi`"):
            choose_server(django, [*_wheels("django"), "uwsgi-2.0.30-cp311-cp311-linux_x86_64.whl"])


class TestUnit:
    def test_a_django_server_is_type_notify_with_a_runtime_directory(self) -> None:
        for command in (("serve",), ("serve", "--workers", "4"), ("pyuwsgi", "--http-socket=:8000")):
            service = render(Units("mysite", "/srv/mysite/current.pyz", command=command))["mysite.service"]
            assert "Type=notify" in service.splitlines() and "RuntimeDirectory=mysite" in service.splitlines()

    def test_any_other_entry_point_is_type_exec(self) -> None:
        for command in ((), ("migrate",), ("worker",)):
            service = render(Units("mysite", "/srv/mysite/current.pyz", command=command))["mysite.service"]
            assert "Type=exec" in service.splitlines() and "Type=notify" not in service


def _django_main() -> ModuleType:
    """The runtime's Django entry point as the .pyz carries it (standard library only at import)."""
    path = Path(__file__).parent.parent / "src" / "hatch_zipapp" / "bootstrap" / "django_main.py"
    spec = importlib.util.spec_from_file_location("_hatch_zipapp_django_under_test", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class TestReadiness:
    def test_ready_only_once_the_socket_accepts(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        notify.bind(os.fspath(tmp_path / "notify"))
        monkeypatch.setenv("NOTIFY_SOCKET", os.fspath(tmp_path / "notify"))
        with notify, socket.socket() as server:
            server.bind(("127.0.0.1", 0))  # bound, not listening: not ready
            _django_main()._notify_ready_when_listening(server.getsockname())
            notify.settimeout(1)
            with pytest.raises(TimeoutError):
                notify.recv(4096)
            server.listen(1)
            listening = time.monotonic()
            notify.settimeout(10)
            message = notify.recv(4096).decode().split("\n")
            assert "READY=1" in message and f"MAINPID={os.getpid()}" in message
            assert time.monotonic() - listening < 5

    def test_an_inherited_socket_is_ready_at_once(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        notify.bind(os.fspath(tmp_path / "notify"))
        monkeypatch.setenv("NOTIFY_SOCKET", os.fspath(tmp_path / "notify"))
        with notify:
            _django_main()._notify_ready_when_listening(None)
            notify.settimeout(10)
            assert "READY=1" in notify.recv(4096).decode().split("\n")

    @pytest.mark.skipif(not sys.platform.startswith("linux"), reason="abstract sockets are Linux's")
    def test_an_abstract_notify_socket(self, monkeypatch: pytest.MonkeyPatch) -> None:
        name = f"hatch-zipapp-test-{os.getpid()}"
        notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        notify.bind("\0" + name)
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)  # how systemd passes an abstract socket
        with notify:
            _django_main()._notify_ready_when_listening(None)
            notify.settimeout(10)
            assert "READY=1" in notify.recv(4096).decode().split("\n")

    def test_nothing_without_notify_socket(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
        before = {t.name for t in __import__("threading").enumerate()}
        _django_main()._notify_ready_when_listening(("127.0.0.1", 9))
        assert "sd-notify" not in {t.name for t in __import__("threading").enumerate()} - before
