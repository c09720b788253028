"""`hatch-zipapp systemd --confine` hides /run (another service's named Unix socket is reachable otherwise: Landlock
does not filter connecting to one) and binds back what the site needs of it; it asks the runtime for UDP sockets
(``ZIPAPP_CONFINE_UDP=1``, bootstrap/seccomp.py) only where a declared endpoint is a host name, which the resolver
answers over UDP. The units under a real systemd: tests/test_systemd_confine_real.py and tests/test_escape_real.py."""

from __future__ import annotations

import dataclasses

import pytest

from hatch_zipapp.deploy.confine import Confinement, parse_connect
from hatch_zipapp.deploy.systemd import Task, Units, render

UNITS = Units("mysite", "/srv/mysite/current.pyz", ["serve"], "/usr/bin/python3", credentials=("secret_key",))
#: What every confined unit of the site sees of /run, read-only, each optional.
SHOWN = [
    "-/run/systemd/notify",
    "-/run/systemd/journal/socket",
    "-/run/systemd/journal/stdout",
    "-/run/systemd/journal/dev-log",
    "-/run/systemd/resolve",
    "-/run/nscd/socket",
]


def _service(units: Units, name: str = "mysite.service") -> list[str]:
    return render(units)[name].splitlines()


def _values(service: list[str], key: str) -> list[str]:
    return [word for line in service if line.startswith(f"{key}=") for word in line.split("=", 1)[1].split()]


def _confined(*connect: str, networks: tuple[str, ...] = ()) -> Units:
    endpoints = tuple(parse_connect(c, "--connect") for c in connect)
    return dataclasses.replace(UNITS, confine=Confinement(connect=endpoints, networks=networks))


def test_run_is_hidden_and_what_the_site_needs_bound_back() -> None:
    service = _service(_confined("/run/postgresql/.s.PGSQL.5432", "127.0.0.1:6379"))
    assert "/run:ro" in _values(service, "TemporaryFileSystem")
    read_only = _values(service, "BindReadOnlyPaths")
    assert [p for p in read_only if p.startswith(("-/run", "/run"))] == [*SHOWN, "/run/postgresql"]
    assert _values(service, "BindPaths") == ["-/run/mysite"]  # its RuntimeDirectory=, writable
    assert "RuntimeDirectory=mysite" in service and "Type=notify" in service
    assert "LoadCredential=secret_key:/etc/mysite/secret_key" in service  # systemd binds /run/credentials/UNIT itself


def test_the_user_site_is_off() -> None:
    """A dynamic user has no home the service can resolve: Python's user site, `~/.local/...` unexpanded, would be
    relative to WorkingDirectory=, the state directory the site writes (a planted .pth would run at the next start)."""
    assert "Environment=PYTHONNOUSERSITE=1" in _service(_confined("127.0.0.1:5432"))
    assert "Environment=PYTHONNOUSERSITE=1" not in _service(UNITS)  # the plain unit is as it was


def test_each_unit_sees_the_site_runtime_directories() -> None:
    tasks = (Task("worker", ("rqworker",)), Task("clear", ("clearsessions",), calendar="daily"))
    units = dataclasses.replace(_confined(), tasks=tasks)
    runtime = ["-/run/mysite", "-/run/mysite-worker", "-/run/mysite-clear"]
    for name, own in [("mysite.service", "mysite"), ("mysite-worker.service", "mysite-worker")]:
        service = _service(units, name)
        assert _values(service, "BindPaths") == runtime and f"RuntimeDirectory={own}" in service, name
    assert "RuntimeDirectory=mysite-clear" in _service(units, "mysite-clear.service")
    manage = render(units)["mysite-manage"]
    assert "-p 'BindPaths=-/run/mysite -/run/mysite-worker -/run/mysite-clear'" in manage
    assert "RuntimeDirectory" not in manage


def test_a_declared_directory_under_run_is_bound_writable() -> None:
    units = dataclasses.replace(UNITS, confine=Confinement(write=("/run/mysite-uploads",)))
    service = _service(units)
    assert _values(service, "BindPaths") == ["-/run/mysite-uploads", "-/run/mysite"]
    assert not [line for line in service if line.startswith("ReadWritePaths=")]


@pytest.mark.parametrize(
    ("connect", "networks", "udp"),
    [
        ((), (), False),
        (("127.0.0.1:5432",), (), False),
        (("[::1]:5432", "10.0.0.5:6379"), (), False),
        (("/run/postgresql/.s.PGSQL.5432",), (), False),
        (("db.internal:5432",), ("10.0.0.0/8",), True),
        (("10.0.0.5:5432", "smtp.example.com:587"), ("any",), True),
    ],
)
def test_udp_only_for_a_host_name(connect: tuple[str, ...], networks: tuple[str, ...], udp: bool) -> None:
    units = _confined(*connect, networks=networks)
    service = _service(units)
    assert ("Environment=ZIPAPP_CONFINE_UDP=1" in service) is udp
    profile = render(units)["mysite.apparmor"].splitlines()
    assert ("  network inet dgram," in profile, "  network inet6 dgram," in profile) == (udp, udp)
    assert "  network inet stream," in profile and "  deny network raw," in profile
    assert not [line for line in service if "ZIPAPP_CONFINE_UDP=" in line and not line.endswith("=1")]
