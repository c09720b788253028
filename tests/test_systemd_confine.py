"""`hatch-zipapp systemd --confine`: the runtime's Landlock request, systemd's allow-lists and the AppArmor profile
written from the .pyz's declaration (hatch-zipapp.json's "confine") and `--write/--connect/--bind/--allow-network`;
each bad value is one line, exit 2, nothing written; every variant of the profile is compiled by `apparmor_parser`
(skip-kernel-load: this machine's kernel has no AppArmor). The units under a real systemd:
tests/test_systemd_confine_real.py.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from hatch_zipapp.__main__ import main as cli
from hatch_zipapp.bootstrap.documents import DJANGO_ENTRY_POINT
from hatch_zipapp.deploy.confine import REFUSED_CALLS, Confinement, parse_bind, parse_connect
from hatch_zipapp.deploy.systemd import Task, Units, executable, render

PYZ = "/srv/mysite/current.pyz"
DECLARED = {
    "write": ["/srv/mysite/media"],
    "connect": ["10.0.0.5:5432", "[2001:db8::25]:587", "/run/postgresql/.s.PGSQL.5432"],
    "bind": [],
}


def _pyz(path: Path, confine: object = DECLARED) -> Path:
    """A .pyz of a Django site as far as `--read` looks: environment.json and hatch-zipapp.json, with ``confine``."""
    info: dict[str, object] = {"target": {"tag": "py3-none-any", "python": "3.11.2"}}
    if confine is not None:
        info["confine"] = confine
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("environment.json", json.dumps({"entry_point": DJANGO_ENTRY_POINT}))
        archive.writestr("hatch-zipapp.json", json.dumps(info))
    return path


def _run(tmp_path: Path, capsys: pytest.CaptureFixture[str], *arguments: str) -> tuple[int, dict[str, str], str, str]:
    """(exit status, file name → text written, stdout, stderr) of `hatch-zipapp systemd ARGUMENTS`."""
    output = tmp_path / "units"
    shutil.rmtree(output, ignore_errors=True)
    capsys.readouterr()
    status = cli(["systemd", "--name", "mysite", "--pyz", PYZ, *arguments, "-o", os.fspath(output)])
    captured = capsys.readouterr()
    files = {p.name: p.read_text() for p in output.iterdir()} if output.is_dir() else {}
    return status, files, captured.out, captured.err


def _lines(text: str) -> list[str]:
    return text.splitlines()


def test_the_declaration_and_the_options_make_the_unit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pyz = _pyz(tmp_path / "site.pyz")
    status, files, out, err = _run(
        tmp_path,
        capsys,
        "--read",
        os.fspath(pyz),
        "--confine",
        "--socket",
        "127.0.0.1:8000",
        "--write",
        "/var/spool/mysite",
        "--connect",
        "127.0.0.1:6379",
        "--connect",
        "smtp.example.com:587",
        "--allow-network",
        "192.0.2.0/24",
    )
    assert status == 0, err
    assert sorted(files) == ["mysite-manage", "mysite.apparmor", "mysite.service", "mysite.socket"]
    assert "hatch-zipapp systemd: wrote " + os.fspath(tmp_path / "units" / "mysite.apparmor") in out.splitlines()
    assert (
        "hatch-zipapp systemd: IPAddressAllow= lists --allow-network 192.0.2.0/24 for smtp.example.com:587: host names "
        "are not resolved here (the unit is written away from the server)"
    ) in out.splitlines()
    service = _lines(files["mysite.service"])
    for line in [
        "Environment=ZIPAPP_CONFINE=1",
        "Environment=ZIPAPP_CONFINE_WRITE=/srv/mysite/media:/var/spool/mysite",
        "Environment=ZIPAPP_CONFINE_CONNECT=587,5432,6379",
        "Environment=ZIPAPP_CONFINE_BIND=",  # socket activation: the socket is inherited, nothing to bind
        "TemporaryFileSystem=/etc:ro /mnt:ro /media:ro /opt:ro /srv:ro /var/cache:ro /var/lib:ro /var/log:ro /run:ro",
        "BindPaths=-/srv/mysite/media -/run/mysite",  # under a hidden tree: bound back, writable
        "ReadWritePaths=-/var/spool/mysite",  # elsewhere: made writable in the read-only system
        "TemporaryFileSystem=/dev/shm:mode=1777,nosuid,nodev,noexec",
        "PrivateIPC=yes",
        "IPAddressDeny=any",
        "IPAddressAllow=10.0.0.5 127.0.0.1 192.0.2.0/24 2001:db8::25",
        "SocketBindDeny=any",
        f"SystemCallFilter=~{' '.join(REFUSED_CALLS)}",
        # systemd 252's @system-service refuses Landlock's calls: the runtime could not confine without these.
        "SystemCallFilter=landlock_create_ruleset landlock_add_rule landlock_restrict_self",
        "AppArmorProfile=hatch-zipapp-mysite",
        "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6",
    ]:
        assert line in service, line
    assert not [line for line in service if line.startswith("SocketBindAllow=")]
    (binds,) = [line for line in service if line.startswith("BindReadOnlyPaths=")]
    read_only = binds.removeprefix("BindReadOnlyPaths=").split()
    for path in ["-/etc/ld.so.cache", "-/etc/resolv.conf", "-/etc/ssl", "-/etc/passwd", "-/etc/mysite", "/srv/mysite"]:
        assert path in read_only, path
    assert read_only[-1] == "/run/postgresql"  # the declared socket's directory, in the hidden /run
    for call in ["io_uring_setup", "io_uring_enter", "io_uring_register", "userfaultfd", "perf_event_open", "bpf"]:
        assert call in REFUSED_CALLS
    profile = files["mysite.apparmor"]
    assert "profile hatch-zipapp-mysite flags=(attach_disconnected,mediate_deleted) {" in profile
    for rule in [
        "  /usr/bin/python3 mrix,",
        "  /usr/bin/python3.[0-9]* mrix,",  # where /usr/bin/python3 leads
        "  /srv/mysite/current.pyz r,",
        "  /srv/mysite/media/** rwlk,",
        "  /var/spool/mysite/** rwlk,",
        "  /run/postgresql/.s.PGSQL.5432 rw,",
        "  /var/lib/{,private/}mysite/** rwlk,",
        "  /var/cache/{,private/}mysite/** mrwlk,",
        "  deny network raw,",
        "  deny network packet,",
        "  deny network netlink,",
        "  deny capability,",
        "  signal (send, receive) peer=hatch-zipapp-mysite,",
    ]:
        assert rule in profile.splitlines(), rule
    # NAME-manage runs with the same confinement.
    manage = files["mysite-manage"]
    for line in ["Environment=ZIPAPP_CONFINE=1", "IPAddressDeny=any", "AppArmorProfile=hatch-zipapp-mysite"]:
        assert f"-p {line} " in manage or f"-p '{line}" in manage, line


def test_a_serve_unit_binds_its_default_address_unless_socket_activated() -> None:
    confined = Units("mysite", PYZ, confine=Confinement())
    service = _lines(render(confined)["mysite.service"])
    assert "Environment=ZIPAPP_CONFINE_BIND=8000" in service
    assert "SocketBindAllow=tcp:8000" in service
    assert "IPAddressAllow=127.0.0.1" in service  # its clients: a proxy on the same machine
    assert "Environment=ZIPAPP_CONFINE_CONNECT=" in service
    bound = Confinement(bind=(parse_bind("[::1]:9000", "--bind"),))
    service = _lines(render(Units("mysite", PYZ, confine=bound))["mysite.service"])
    assert "SocketBindAllow=tcp:9000" in service and "SocketBindAllow=tcp:8000" not in service
    assert "IPAddressAllow=::1" in service
    socket = _lines(render(Units("mysite", PYZ, socket="127.0.0.1:8000", confine=Confinement()))["mysite.service"])
    assert "Environment=ZIPAPP_CONFINE_BIND=" in socket and "IPAddressDeny=any" in socket
    assert not [line for line in socket if line.startswith(("IPAddressAllow=", "SocketBindAllow="))]
    # Another command than a server binds nothing.
    worker = _lines(render(Units("mysite", PYZ, command=("qcluster",), confine=Confinement()))["mysite.service"])
    assert "Environment=ZIPAPP_CONFINE_BIND=" in worker


def test_clients_from_anywhere_leave_out_the_ip_firewall(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, files, out, err = _run(tmp_path, capsys, "--command", "serve", "--confine", "--bind", "0.0.0.0:8000")
    assert status == 0, err
    service = _lines(files["mysite.service"])
    assert not [line for line in service if line.startswith(("IPAddressDeny=", "IPAddressAllow="))]
    assert "SocketBindAllow=tcp:8000" in service
    assert (
        "hatch-zipapp systemd: no IPAddressDeny=: the service listens on 0.0.0.0:8000 itself and takes clients from "
        "any address (give --socket to have systemd listen and filter the site's own traffic); Landlock's port rules "
        "still hold"
    ) in out.splitlines()
    status, files, out, err = _run(tmp_path, capsys, "--command", "serve", "--confine", "--allow-network", "any")
    assert status == 0 and "IPAddressDeny=any" not in files["mysite.service"], err


def test_without_confine_nothing_changes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pyz = _pyz(tmp_path / "site.pyz", confine={"write": "not a list"})  # not read without --confine
    status, files, _, err = _run(tmp_path, capsys, "--read", os.fspath(pyz))
    assert status == 0, err
    assert sorted(files) == ["mysite-manage", "mysite.service"]
    assert "ZIPAPP_CONFINE" not in files["mysite.service"] and "AppArmor" not in files["mysite.service"]
    assert executable("mysite-manage") and not executable("mysite.apparmor")


def test_workers_timers_and_manage_take_the_services_lines() -> None:
    tasks = (Task("worker", ("qcluster",)), Task("clear", ("clearsessions",), calendar="daily"))
    files = render(Units("mysite", PYZ, tasks=tasks, confine=Confinement(write=("/srv/mysite/media",))))
    web = [line for line in _lines(files["mysite.service"]) if line.startswith(("Environment=ZIPAPP_CONFINE", "Temp"))]
    web += [line for line in _lines(files["mysite.service"]) if line.startswith(("IPAddress", "AppArmor", "Bind"))]
    assert len(web) >= 8
    for unit in ["mysite-worker.service", "mysite-clear.service"]:
        lines = _lines(files[unit])
        assert [line for line in web if line not in lines] == [], unit
    profile = files["mysite.apparmor"].splitlines()
    for runtime in ["/run/mysite/** rwlk,", "/run/mysite-worker/** rwlk,", "/run/mysite-clear/** rwlk,"]:
        assert f"  {runtime}" in profile
    assert "  /run/credentials/mysite-manage-[0-9]*.service/** r," in profile


def test_the_declaration_of_the_pyz_is_checked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for confine, fragment in [
        ({"write": "/srv/x"}, "hatch-zipapp.json's 'confine'['write'] is not a list of strings"),
        ({"writes": []}, "unknown key(s) 'writes'"),
        ({"write": ["media"]}, "[write] 'media' is not an absolute path"),
        ({"connect": ["db:0"]}, "[connect] 'db:0': port '0' is not a TCP port (1 to 65535)"),
        ({"bind": ["localhost:8000"]}, "[bind] 'localhost:8000': 'localhost' is not an IP address"),
    ]:
        pyz = _pyz(tmp_path / "site.pyz", confine=confine)
        status, files, out, err = _run(tmp_path, capsys, "--read", os.fspath(pyz), "--confine")
        assert (status, files, out) == (2, {}, ""), (confine, err)
        assert err.count("\n") == 1 and err.startswith(f"hatch-zipapp systemd: {pyz}: "), err
        assert fragment in err, (fragment, err)


#: option, value → a fragment of the one line that refuses it.
BAD_VALUES = {
    ("--write", "media"): "--write 'media' is not an absolute path: give the full path on the server",
    ("--write", "/home/site/media"): "--write '/home/site/media' is under /home, which the service does not see",
    ("--write", "/root/media"): "--write '/root/media' is under /root",
    ("--write", "/tmp/media"): "--write '/tmp/media' is under /tmp",
    ("--write", "/srv/a:b"): "--write '/srv/a:b' holds ':'",
    ("--write", "/srv/x/../y"): "--write '/srv/x/../y' is not a normal path: write it as '/srv/y'",
    ("--write", "/usr/lib/x"): "--write '/usr/lib/x' is under /usr: the system is never the site's to write",
    ("--write", "/"): "--write '/' is the root",
    ("--write", "/srv/mysite"): "--write (or the .pyz's declaration) '/srv/mysite' holds the .pyz (/srv/mysite/current",
    ("--write", "/srv"): "'/srv' holds the .pyz (/srv/mysite/current.pyz): the site could rewrite its own code",
    ("--connect", "db.internal"): "--connect 'db.internal' has no port",
    ("--connect", "db.internal:"): "--connect 'db.internal:' has no port",
    ("--connect", "10.0.0.5:0"): "--connect '10.0.0.5:0': port '0' is not a TCP port (1 to 65535)",
    ("--connect", "10.0.0.5:65536"): "--connect '10.0.0.5:65536': port '65536' is not a TCP port",
    ("--connect", "10.0.0.5:05432"): "port '05432' is not a TCP port",
    ("--connect", "300.1.1.1:5432"): "'300.1.1.1' is neither an IPv4 address nor a host name",
    ("--connect", "db_x:5432"): "'db_x' is neither an IPv4 address nor a host name",
    ("--connect", "::1:5432"): "an IPv6 address goes in brackets with its port after them, e.g. [::1]:5432",
    ("--connect", "[::g]:5432"): "'[::g]' is not an IPv6 address in brackets",
    ("--connect", "/tmp/pg.sock"): "--connect '/tmp/pg.sock' is under /tmp",
    ("--connect", "db.internal:5432"): "--connect db.internal:5432 names a host: systemd's IPAddressAllow= takes",
    ("--bind", "127.0.0.1"): "--bind '127.0.0.1' has no port",
    ("--bind", "127.0.0.1:0"): "port '0' is not a TCP port",
    ("--bind", "127.0.0.1:70000"): "port '70000' is not a TCP port",
    ("--bind", "localhost:8000"): "--bind 'localhost:8000': 'localhost' is not an IP address",
    ("--bind", "::1:8000"): "'::1' is not an IP address",
    ("--allow-network", "10.0.0.1/8"): "--allow-network '10.0.0.1/8' is not an address or a network",
    ("--allow-network", "example.com"): "--allow-network 'example.com' is not an address or a network",
}


@pytest.mark.parametrize(("option", "value"), list(BAD_VALUES), ids=lambda x: x)
def test_each_bad_value_is_one_line_exit_2_nothing_written(
    option: str, value: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "units"
    arguments = ["systemd", "--name", "mysite", "--pyz", PYZ, "--command", "serve", "--confine", f"{option}={value}"]
    assert cli([*arguments, "-o", os.fspath(output)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("hatch-zipapp systemd: "), captured.err
    assert BAD_VALUES[option, value] in lines[0], lines[0]
    assert not output.exists()


@pytest.mark.parametrize("option", ["--write=/srv/mysite/media", "--connect=10.0.0.5:5432", "--bind=127.0.0.1:9000"])
def test_the_options_need_confine(option: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    output = tmp_path / "units"
    assert cli(["systemd", "--name", "mysite", "--pyz", PYZ, "--command", "serve", option, "-o", str(output)]) == 2
    name, _, value = option.partition("=")
    assert capsys.readouterr().err == (
        f"hatch-zipapp systemd: {name} {value!r} says what a confined site may do: add --confine (docs/security.md)\n"
    )
    assert not output.exists()


def test_endpoints_read_as_written() -> None:
    assert parse_connect("[2001:db8::5]:5432", "--connect").host == "2001:db8::5"
    assert parse_connect("db.internal:5432", "--connect").address is None
    assert parse_connect("/run/postgresql/.s.PGSQL.5432", "--connect").socket == "/run/postgresql/.s.PGSQL.5432"
    assert parse_bind("0.0.0.0:65535", "--bind").port == 65535


def _systemd_analyze(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    analyze = shutil.which("systemd-analyze")
    assert analyze is not None, "systemd-analyze is missing: apt-get install systemd (as .ci/run does)"
    return subprocess.run([analyze, *args], cwd=cwd, capture_output=True, text=True, check=False, timeout=120)


def test_the_confined_unit_verifies_and_scores_lower(tmp_path: Path) -> None:
    confine = Confinement(write=("/srv/mysite/media",), connect=(parse_connect("127.0.0.1:5432", "--connect"),))
    files = render(Units("mysite", PYZ, socket="127.0.0.1:8000", confine=confine))
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    result = _systemd_analyze("verify", "mysite.service", "mysite.socket", cwd=tmp_path)
    assert result.returncode == 0 and result.stdout + result.stderr == ""
    security = _systemd_analyze("security", "--offline=true", "mysite.service", cwd=tmp_path).stdout
    score = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", security)
    assert score is not None and float(score.group(1)) <= 0.9, security[-1500:]  # 1.2 without --confine
    assert "✗ PrivateMounts=" not in security


def _apparmor_parser() -> str:
    """apparmor_parser, or skip (fail under CI=true, where .ci/run installs Debian's `apparmor`)."""
    found = shutil.which("apparmor_parser") or next(
        (p for p in ("/usr/sbin/apparmor_parser", "/sbin/apparmor_parser") if os.access(p, os.X_OK)), None
    )
    if found is None or not Path("/etc/apparmor.d/abstractions/base").is_file():
        reason = "apparmor_parser (and /etc/apparmor.d) is missing: apt-get install apparmor"
        if os.environ.get("CI"):
            pytest.fail(f"in CI: {reason} (as .ci/run does)")
        pytest.skip(reason)
    return found


#: Every kind of unit the profile is written for.
VARIANTS: dict[str, Units] = {
    "plain": Units("mysite", PYZ, confine=Confinement()),
    "declared": Units(
        "mysite",
        PYZ,
        confine=Confinement(
            write=("/srv/mysite/media", "/var/spool/mysite"),
            connect=tuple(
                parse_connect(t, "--connect")
                for t in ("/run/postgresql/.s.PGSQL.5432", "10.0.0.5:5432", "[::1]:6379", "smtp.example.com:587")
            ),
            networks=("192.0.2.0/24",),
        ),
    ),
    "workers": Units(
        "mysite",
        PYZ,
        tasks=(Task("worker", ("qcluster",)), Task("clear", ("clearsessions",), calendar="daily")),
        confine=Confinement(),
    ),
    "prepared": Units("mysite", PYZ, prepared_root="/srv/mysite/extracted", confine=Confinement()),
    "socket": Units("mysite", PYZ, socket="127.0.0.1:8000", confine=Confinement()),
    "embedded": Units("mysite", PYZ, python="", confine=Confinement()),
    "other-python": Units("app", "/opt/app/app.pyz", python="/opt/python/bin/python3.12", confine=Confinement()),
}


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_apparmor_parser_compiles_every_variant(variant: str, tmp_path: Path) -> None:
    parser = _apparmor_parser()
    units = VARIANTS[variant]
    profile = tmp_path / f"{units.name}.apparmor"
    profile.write_text(render(units)[profile.name])
    # -Q: compile without loading (no AppArmor in this kernel); -K: no cache. A parse error exits non-zero.
    result = subprocess.run(
        [parser, "-Q", "-K", os.fspath(profile)], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    names = subprocess.run([parser, "-N", os.fspath(profile)], capture_output=True, text=True, timeout=120, check=False)
    assert names.stdout.split() == [f"hatch-zipapp-{units.name}"], names.stdout + names.stderr


def test_apparmor_parser_refuses_a_broken_profile(tmp_path: Path) -> None:
    """The check above can fail: a profile with a rule the parser does not know is refused."""
    parser = _apparmor_parser()
    text = render(VARIANTS["plain"])["mysite.apparmor"].replace("deny capability,", "deny capabilty,")
    (tmp_path / "broken").write_text(text)
    result = subprocess.run(
        [parser, "-Q", "-K", os.fspath(tmp_path / "broken")], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode != 0


@pytest.mark.parametrize("write", ["/srv/mysite/extracted", "/srv/mysite/extracted/static", "/srv/mysite"])
def test_a_writable_directory_never_holds_the_code(write: str) -> None:
    units = Units("mysite", "/opt/mysite/current.pyz", prepared_root="/srv/mysite/extracted")
    with pytest.raises(ValueError, match=r"holds the prepared root \(/srv/mysite/extracted\): the site could rewrite"):
        render(dataclasses.replace(units, confine=Confinement(write=(write,))))
    assert render(dataclasses.replace(units, confine=Confinement(write=("/srv/mysite/media",))))


def test_what_the_service_runs_is_bound_back_into_the_hidden_trees() -> None:
    units = Units("app", "/opt/app/app.pyz", python="/opt/python/bin/python3.12", confine=Confinement())
    service = _lines(render(units)["app.service"])
    (hidden,) = [line for line in service if line.startswith("TemporaryFileSystem=/etc")]
    assert "/opt:ro" in hidden.split("=", 1)[1].split()
    (binds,) = [line for line in service if line.startswith("BindReadOnlyPaths=")]
    assert binds.split()[-2:] == ["/opt/app", "/opt/python"]  # the .pyz's directory, the interpreter's prefix
    # A .pyz right in a hidden tree: that tree stays as it is.
    service = _lines(render(Units("app", "/opt/app.pyz", confine=Confinement()))["app.service"])
    (hidden,) = [line for line in service if line.startswith("TemporaryFileSystem=/etc")]
    assert "/opt:ro" not in hidden and "/srv:ro" in hidden


#: verify checks that ExecStart='s program exists here: these run /usr/bin/python3.
RUN_HERE = [name for name, units in VARIANTS.items() if units.python == "/usr/bin/python3"]


@pytest.mark.parametrize("variant", RUN_HERE)
def test_every_variant_verifies(variant: str, tmp_path: Path) -> None:
    files = render(VARIANTS[variant])
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    units = [name for name in files if name.endswith((".service", ".socket", ".timer", ".target"))]
    result = _systemd_analyze("verify", *units, cwd=tmp_path)
    assert result.returncode == 0 and result.stdout + result.stderr == "", result.stdout + result.stderr


@pytest.mark.parametrize("host", ["localhost", "LocalHost", "localhost."])
def test_localhost_is_the_loopback_addresses_not_a_host_name(
    host: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Django's default EMAIL_HOST (`localhost:25`, what a site that configures no email declares) is /etc/hosts'
    loopback addresses: no `--allow-network` needed, both loopback addresses let through, port 25 in Landlock's list."""
    pyz = _pyz(tmp_path / "site.pyz", {"write": [], "connect": [f"{host}:25"], "bind": []})
    status, files, _, err = _run(tmp_path, capsys, "--read", os.fspath(pyz), "--confine")
    assert (status, err) == (0, "")
    service = _lines(files["mysite.service"])
    assert "IPAddressAllow=127.0.0.1 ::1" in service
    assert "Environment=ZIPAPP_CONFINE_CONNECT=25" in service
    assert not [line for line in service if "ZIPAPP_CONFINE_UDP" in line]  # /etc/hosts: no DNS, no UDP


@pytest.mark.parametrize("host", ["mail.localhost", "localhost.example.com", "localhostx"])
def test_only_localhost_itself_stands_for_the_loopback(
    host: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, files, _, err = _run(tmp_path, capsys, "--confine", "--connect", f"{host}:25")
    assert (status, files) == (2, {})
    assert err.startswith(f"hatch-zipapp systemd: --connect {host}:25 names a host:"), err


def test_the_profiles_header_loads_it_as_docs_security_md_does(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The commands in NAME.apparmor's header are the ones docs/security.md gives (from the units' directory),
    `-W` (write the compiled cache) among them."""
    status, files, _, _ = _run(tmp_path, capsys, "--read", os.fspath(_pyz(tmp_path / "site.pyz")), "--confine")
    assert status == 0
    header = [line.removeprefix("#   ") for line in files["mysite.apparmor"].splitlines() if line.startswith("#   ")]
    docs = (Path(__file__).parent.parent / "docs" / "security.md").read_text()
    shown = [line.removeprefix("# ") for line in docs.splitlines() if line.startswith(("# install", "# apparmor_"))]
    assert [line.replace("deploy/", "") for line in shown] == header


def test_a_declared_host_name_is_said_to_come_from_the_pyz(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A host name the build recorded (DATABASES' HOST, or the pyproject table) is refused as one typed with --connect
    is, but the line names where it comes from: the user typed no --connect. With --allow-network it is accepted."""
    pyz = _pyz(tmp_path / "site.pyz", {"write": [], "connect": ["db.internal:5432"], "bind": []})
    status, files, _, err = _run(tmp_path, capsys, "--read", os.fspath(pyz), "--confine")
    assert (status, files) == (2, {})
    assert err.startswith(
        f"hatch-zipapp systemd: {pyz}'s declaration (hatch-zipapp.json's 'confine': the build's Django settings or "
        "[tool.hatch.build.targets.zipapp.confine]) connects to db.internal:5432, which names a host: systemd's "
        "IPAddressAllow= takes addresses"
    ), err
    assert "--allow-network 10.0.0.0/8" in err and err.count("\n") == 1
    status, files, _, err = _run(
        tmp_path, capsys, "--read", os.fspath(pyz), "--confine", "--connect", "cache.internal:6379"
    )
    assert err.startswith(f"hatch-zipapp systemd: {pyz}'s declaration"), err
    status, files, _, _ = _run(tmp_path, capsys, "--read", os.fspath(pyz), "--confine", "--allow-network", "10.0.0.0/8")
    assert status == 0 and "IPAddressAllow=10.0.0.0/8" in files["mysite.service"]


@pytest.mark.parametrize(
    ("command", "port", "address"),
    [
        (("serve", "--bind", "127.0.0.1:9000"), "9000", "127.0.0.1"),
        (("serve", "--workers", "2", "-b", "[::1]:9001"), "9001", "::1"),
        (("serve", "--bind=127.0.0.1:9002", "--bind", "127.0.0.1:9003"), "9002,9003", "127.0.0.1"),
        (("serve", "--workers", "2"), "8000", "127.0.0.1"),  # gunicorn's default address
        (("serve", "--bind", "localhost:9004"), "8000", "127.0.0.1"),  # a name: not read, the default
    ],
)
def test_a_serve_unit_binds_the_address_its_command_names(command: tuple[str, ...], port: str, address: str) -> None:
    """`--command 'serve --bind ADDR:PORT'` (gunicorn's -b/--bind, repeatable) without --socket or --bind: the unit
    allows what the server binds (was: the default 127.0.0.1:8000, and the server failed to start, refused)."""
    service = _lines(render(Units("mysite", PYZ, command=command, confine=Confinement()))["mysite.service"])
    assert f"Environment=ZIPAPP_CONFINE_BIND={port}" in service
    assert [f"SocketBindAllow=tcp:{p}" for p in port.split(",")] == [
        line for line in service if line.startswith("SocketBindAllow=")
    ]
    assert f"IPAddressAllow={address}" in service
