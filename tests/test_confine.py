"""``ZIPAPP_CONFINE=1``: the runtime puts the site under Landlock (bootstrap/confine.py) once extracted, before its
code runs. Each rule is tried through a real .pyz run by a real interpreter: a tiny project whose entry point runs the
attempts it is given and prints ``NAME: allowed`` or ``NAME: blocked`` for each; the same attempts run unconfined
show they would succeed (the test runs as root: file modes stop nothing, only Landlock does). The example Django
site is served by gunicorn confined; the absence of Landlock is tried in a real systemd box whose unit filters its
system calls out."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hatch_zipapp.bootstrap import confine
from hatch_zipapp.bootstrap.documents import BootstrapError
from tests.helpers import build, interpreters, make_project, make_wheel, pylock_text
from tests.servers import Built
from tests.test_django import _env, _free_port
from tests.test_django_servers import _check_site, _serve, _stop, _wait_for

#: The entry point of the attempts' .pyz: runs the Python code it is given, with ``attempt`` to report.
ATTEMPTS_CLI = """\
import os
import sys


def attempt(name, function):
    try:
        function()
    except PermissionError:
        print(f"{name}: blocked", flush=True)
    except OSError as e:
        print(f"{name}: error {e}", flush=True)
    else:
        print(f"{name}: allowed", flush=True)


def main():
    print("RAN", flush=True)
    exec(sys.argv[1], {"attempt": attempt, "os": os, "sys": sys, "__name__": "attempts"})
    return 0
"""
PREFIX = "hatch-zipapp: confine: "
PY = f"{sys.version_info[0]}.{sys.version_info[1]}"
TABLE = "[tool.hatch.build.targets.zipapp.confine]"


@pytest.fixture(scope="module")
def pyz(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("confine")
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setenv("HATCH_ZIPAPP_CACHE_DIR", os.fspath(root / "cache"))
        monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
        (root / "wheels").mkdir()
        alpha = make_wheel(root / "wheels", "alpha", "1.0")
        project = make_project(root / "p", dependencies=["alpha"])
        (project / "src" / "app" / "cli.py").write_text(ATTEMPTS_CLI, encoding="utf-8")
        (project / "pylock.toml").write_text(pylock_text([[alpha]], base_url=None))
        return build(project, root / "dist")


class Place:
    """A service's directories under ``tmp``: its state, runtime (two), logs, temporary, a declared writable and a
    declared readable one, an extraction root; and what it must not reach: files beside them."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        for name in ("state", "run1", "run2", "logs", "tmp", "data", "config", "root", "beside", "other-state"):
            (tmp / name).mkdir()
        (tmp / "config" / "settings.ini").write_text("declared\n")
        (tmp / "shadow").write_text("root:secret\n")
        (tmp / "shadow").chmod(0o600)
        (tmp / "other-state" / "db.key").write_text("another service's\n")
        (tmp / "state" / "old").write_text("mine\n")

    def env(self, *, confined: bool = True, extra: dict[str, str] | None = None) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("ZIPAPP_", "SHIV_", "_ZIPAPP"))
            and k not in {"STATE_DIRECTORY", "RUNTIME_DIRECTORY", "LOGS_DIRECTORY", "CREDENTIALS_DIRECTORY"}
            and k not in {"CONFIGURATION_DIRECTORY", "TMPDIR", "TEMP", "TMP", "NOTIFY_SOCKET"}
        }
        t = self.tmp
        env.update(
            ZIPAPP_ROOT=f"{t}/root",
            TMPDIR=f"{t}/tmp",
            STATE_DIRECTORY=f"{t}/state",
            RUNTIME_DIRECTORY=f"{t}/run1:{t}/run2",
            LOGS_DIRECTORY=f"{t}/logs",
            ZIPAPP_CONFINE="1" if confined else "0",
            ZIPAPP_CONFINE_WRITE=f"{t}/data",
            ZIPAPP_CONFINE_READ=f"{t}/config",
        )
        env.update(extra or {})
        return env


@pytest.fixture
def place(tmp_path: Path) -> Place:
    return Place(tmp_path)


def _run(pyz: Path, code: str, env: dict[str, str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, os.fspath(pyz), code],
        env=env,
        cwd=cwd or pyz.parent,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _results(result: subprocess.CompletedProcess[str]) -> dict[str, str]:
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("RAN\n"), result.stdout
    return dict(line.split(": ", 1) for line in result.stdout.splitlines()[1:])


def _said(result: subprocess.CompletedProcess[str]) -> list[str]:
    return [line[len(PREFIX) :] for line in result.stderr.splitlines() if line.startswith(PREFIX)]


def _both(pyz: Path, place: Place, code: str, **extra: str) -> tuple[dict[str, str], subprocess.CompletedProcess[str]]:
    """The attempts confined, then unconfined: each must be allowed then, or the test would prove nothing."""
    confined = _run(pyz, code, place.env(extra=extra))
    results = _results(confined)
    free = _results(_run(pyz, code, place.env(confined=False, extra=extra)))
    assert set(free.values()) == {"allowed"}, free
    return results, confined


def _extraction(place: Place) -> Path:
    (found,) = (place.tmp / "root").glob("app_*")
    return found / "site-packages"


class TestFiles:
    def test_reads_only_its_own(self, pyz: Path, place: Place) -> None:
        t = place.tmp
        code = f"""
attempt("shadow", lambda: open("{t}/shadow").read())
attempt("other state", lambda: open("{t}/other-state/db.key").read())
attempt("list beside", lambda: os.listdir("{t}/beside"))
attempt("pid 1 status", lambda: open("/proc/1/status", "rb").read())
attempt("declared", lambda: open("{t}/config/settings.ini").read())
attempt("state", lambda: open("{t}/state/old").read())
attempt("hosts", lambda: open("/etc/hosts").read())
attempt("own code", lambda: open(__import__("app.cli").cli.__file__).read())
attempt("the pyz", lambda: open("{pyz}", "rb").read(4))
"""
        results, _ = _both(pyz, place, code)
        blocked = {"shadow", "other state", "list beside", "pid 1 status"}
        assert results == {name: "blocked" if name in blocked else "allowed" for name in results}

    def test_writes_only_where_declared(self, pyz: Path, place: Place) -> None:
        t = place.tmp
        _run(pyz, "", place.env(confined=False))  # extracted once, to name its files
        extraction = _extraction(place)
        code = f"""
attempt("state", lambda: open("{t}/state/new", "w").write("x"))
attempt("rename in state", lambda: os.rename("{t}/state/new", "{t}/state/renamed"))
attempt("second runtime directory", lambda: open("{t}/run2/pid", "w").write("x"))
attempt("logs", lambda: open("{t}/logs/site.log", "a").write("x"))
attempt("declared", lambda: open("{t}/data/upload", "wb").write(b"x"))
attempt("tmp", lambda: __import__("tempfile").TemporaryFile().write(b"x"))
attempt("dev null", lambda: open("/dev/null", "w").write("x"))
attempt("beside state", lambda: open("{t}/beside/new", "w").write("x"))
attempt("above state", lambda: open("{t}/new", "w").write("x"))
attempt("other state", lambda: open("{t}/other-state/db.key", "a").write("x"))
attempt("own code", lambda: open("{extraction}/app/cli.py", "a").write("#"))
attempt("new module", lambda: open("{extraction}/app/evil.py", "w").write("x"))
attempt("remove own code", lambda: os.unlink("{extraction}/app/__init__.py"))
attempt("pyz", lambda: open("{pyz}", "ab").write(b""))
attempt("beside pyz", lambda: open("{pyz.parent}/evil.pyz", "wb").write(b"x"))
import sqlite3
def database(path):
    try:
        sqlite3.connect(path).execute("create table if not exists notes (a)").connection.commit()
    except sqlite3.OperationalError as e:
        raise PermissionError(str(e))
attempt("database in state", lambda: database("{t}/state/db.sqlite3"))
attempt("database beside", lambda: database("{t}/beside/db.sqlite3"))
"""
        results, confined = _both(pyz, place, code)
        blocked = {"beside state", "above state", "other state", "own code", "new module", "remove own code"}
        blocked |= {"pyz", "beside pyz", "database beside"}
        assert results == {name: "blocked" if name in blocked else "allowed" for name in results}
        assert _said(confined) == [
            f'writing {t}/beside/new is not declared: add "{t}/beside" to {TABLE} write, or --write to '
            "hatch-zipapp systemd",
            f'writing {t}/new is not declared: add "{t}" to {TABLE} write, or --write to hatch-zipapp systemd',
            f'writing {t}/other-state/db.key is not declared: add "{t}/other-state" to {TABLE} write, or --write to '
            "hatch-zipapp systemd",
            f"writing {extraction}/app/cli.py is refused: it is this site's own code, never written by a confined site",
            f"writing {extraction}/app/evil.py is refused: it is this site's own code, never written by a confined "
            "site",
            f"writing {pyz} is refused: it is this site's own code, never written by a confined site",
            f'writing {pyz.parent}/evil.pyz is not declared: add "{pyz.parent}" to {TABLE} write, or --write to '
            "hatch-zipapp systemd",
            f'writing {t}/beside/db.sqlite3 is not declared: add "{t}/beside" to {TABLE} write, or --write to '
            "hatch-zipapp systemd",
        ]

    def test_children_inherit_it(self, pyz: Path, place: Place) -> None:
        t = place.tmp
        code = f"""
import subprocess
def forked():
    pid = os.fork()
    if pid == 0:
        try:
            open("{t}/shadow").read()
        except PermissionError:
            os._exit(13)
        os._exit(0)
    if os.waitpid(pid, 0)[1] >> 8 == 13:
        raise PermissionError("child")
def started():
    child = subprocess.run([sys.executable, "-c", "open('{t}/shadow').read()"], capture_output=True, text=True)
    if "PermissionError" in child.stderr:
        raise PermissionError("child")
    child.check_returncode()
attempt("forked child", forked)
attempt("interpreter started", started)
attempt("interpreter runs", lambda: subprocess.run([sys.executable, "-c", "pass"], check=True))
def again():
    child = subprocess.run([sys.executable, "{pyz}", "open('{t}/shadow')"], capture_output=True, text=True)
    if "PermissionError" in child.stderr and child.stdout == "RAN\\n":
        raise PermissionError("the .pyz again")
    child.check_returncode()
attempt("the pyz again", again)
"""
        results, _ = _both(pyz, place, code)
        assert results == {
            "forked child": "blocked",
            "interpreter started": "blocked",
            "interpreter runs": "allowed",
            "the pyz again": "blocked",  # it started (its lock taken again, confined again), and could not read
        }


class TestPrograms:
    def test_runs_only_its_interpreter(self, pyz: Path, place: Place) -> None:
        code = """
import subprocess
attempt("sh", lambda: subprocess.run(["/bin/sh", "-c", "true"], check=True))
attempt("env", lambda: subprocess.run(["env", "true"], check=True))
attempt("shell", lambda: subprocess.run("true", shell=True, check=True))
attempt("spawn", lambda: os.waitpid(os.posix_spawn("/usr/bin/true", ["true"], os.environ), 0))
attempt("python", lambda: subprocess.run([sys.executable, "-c", "pass"], check=True))
"""
        results, confined = _both(pyz, place, code)
        assert results == {
            "sh": "blocked",
            "env": "blocked",
            "shell": "blocked",
            "spawn": "blocked",
            "python": "allowed",
        }
        interpreter = os.path.realpath(sys.executable)
        fix = f"a confined site runs no program but its interpreter ({interpreter}, as sys.executable). Do it in Python"
        fix += ", or run the service without ZIPAPP_CONFINE"
        env = next(f"{d}/env" for d in os.environ["PATH"].split(":") if os.path.isfile(f"{d}/env"))
        assert _said(confined) == [
            f"running /bin/sh is refused: {fix}",
            f"running {env} is refused: {fix}",
            f"running /usr/bin/true is refused: {fix}",
        ]


@pytest.fixture
def listeners() -> Iterator[list[int]]:
    """Three TCP listeners on 127.0.0.1 (the first to be declared) and a free port for a bind."""
    sockets = []
    for _ in range(3):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.listen()
        sockets.append(s)
    try:
        yield [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _free_ports(count: int) -> list[int]:
    found: list[int] = []
    while len(found) < count:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            if s.getsockname()[1] not in found:
                found.append(s.getsockname()[1])
    return found


class TestNetwork:
    def test_connects_and_binds_only_declared_ports(self, pyz: Path, place: Place, listeners: list[int]) -> None:
        declared, other, third = listeners
        bind_ok, bind_other, bind_wide = _free_ports(3)
        code = f"""
import socket
def connect(port):
    with socket.create_connection(("127.0.0.1", port), timeout=5):
        pass
def bind(address, port):
    with socket.socket() as s:
        s.bind((address, port))
attempt("declared", lambda: connect({declared}))
attempt("undeclared", lambda: connect({other}))
attempt("another undeclared", lambda: connect({third}))
attempt("bind declared", lambda: bind("127.0.0.1", {bind_ok}))
attempt("bind undeclared", lambda: bind("127.0.0.1", {bind_other}))
attempt("bind any address", lambda: bind("0.0.0.0", {bind_wide}))
"""
        extra = {"ZIPAPP_CONFINE_CONNECT": f"{declared}, 1", "ZIPAPP_CONFINE_BIND": f"{bind_ok}"}
        results, confined = _both(pyz, place, code, **extra)
        assert results == {
            "declared": "allowed",
            "undeclared": "blocked",
            "another undeclared": "blocked",
            "bind declared": "allowed",
            "bind undeclared": "blocked",
            "bind any address": "blocked",
        }
        assert _said(confined) == [
            f'connect to 127.0.0.1:{other} is not declared: add "127.0.0.1:{other}" to {TABLE} connect, or '
            "--connect to hatch-zipapp systemd",
            f'connect to 127.0.0.1:{third} is not declared: add "127.0.0.1:{third}" to {TABLE} connect, or '
            "--connect to hatch-zipapp systemd",
            f'bind to 127.0.0.1:{bind_other} is not declared: add "127.0.0.1:{bind_other}" to {TABLE} bind, or '
            "--bind to hatch-zipapp systemd",
            f'bind to 0.0.0.0:{bind_wide} is not declared: add "0.0.0.0:{bind_wide}" to {TABLE} bind, or --bind to '
            "hatch-zipapp systemd",
        ]

    def test_nothing_declared_is_no_port(self, pyz: Path, place: Place, listeners: list[int]) -> None:
        code = f"""
import socket
attempt("any", lambda: socket.create_connection(("127.0.0.1", {listeners[0]}), timeout=5).close())
"""
        results, _ = _both(pyz, place, code)
        assert results == {"any": "blocked"}


class TestScope:
    def test_signals_stay_inside(self, pyz: Path, place: Place) -> None:
        outside = subprocess.Popen(["sleep", "60"])
        try:
            code = f"""
import signal
def own_child():
    pid = os.fork()
    if pid == 0:
        signal.pause()
        os._exit(0)
    os.kill(pid, signal.SIGTERM)
    os.waitpid(pid, 0)
attempt("outside", lambda: os.kill({outside.pid}, signal.SIGCONT))
attempt("its parent", lambda: os.kill(os.getppid(), 0))
attempt("own child", own_child)
attempt("itself", lambda: os.kill(os.getpid(), 0))
"""
            results, _ = _both(pyz, place, code)
            assert results == {
                "outside": "blocked",
                "its parent": "blocked",
                "own child": "allowed",
                "itself": "allowed",
            }
            assert outside.poll() is None
        finally:
            outside.kill()
            outside.wait(timeout=30)

    def test_abstract_unix_sockets_stay_inside(self, pyz: Path, place: Place) -> None:
        name = f"\0hatch-zipapp-confine-{os.getpid()}"
        stream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        datagram = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)  # a NOTIFY_SOCKET: a path, not abstract
        try:
            stream.bind(name + "-stream")
            stream.listen()
            datagram.bind(name + "-datagram")
            notify.bind(os.fspath(place.tmp / "notify"))
            code = f"""
import socket
def connect():
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.connect({name!r} + "-stream")
def send(address):
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.sendto(b"READY=1", address)
def own():
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as mine:
        mine.bind({name!r} + "-own")
        send({name!r} + "-own")
attempt("stream outside", connect)
attempt("datagram outside", lambda: send({name!r} + "-datagram"))
attempt("own abstract", own)
attempt("notify socket", lambda: send("{place.tmp}/notify"))
"""
            results, _ = _both(pyz, place, code)
            assert results == {
                "stream outside": "blocked",
                "datagram outside": "blocked",
                "own abstract": "allowed",
                "notify socket": "allowed",
            }
        finally:
            for s in (stream, datagram, notify):
                s.close()


class TestBadValues:
    @pytest.mark.parametrize(
        ("variable", "value", "line"),
        [
            ("ZIPAPP_CONFINE_WRITE", "{t}/missing", "ZIPAPP_CONFINE_WRITE='{t}/missing' does not exist: create it"),
            ("ZIPAPP_CONFINE_WRITE", "data", "ZIPAPP_CONFINE_WRITE='data' is not an absolute path: name it from /"),
            ("ZIPAPP_CONFINE_READ", "{t}/data:config", "ZIPAPP_CONFINE_READ='config' is not an absolute path"),
            ("STATE_DIRECTORY", "{t}/gone", "STATE_DIRECTORY='{t}/gone' does not exist"),
            ("ZIPAPP_CONFINE_CONNECT", "5432,http", "ZIPAPP_CONFINE_CONNECT='5432,http': 'http' is not a TCP port"),
            ("ZIPAPP_CONFINE_CONNECT", "65536", "ZIPAPP_CONFINE_CONNECT='65536': '65536' is not a TCP port"),
            ("ZIPAPP_CONFINE_CONNECT", "0", "ZIPAPP_CONFINE_CONNECT='0': '0' is not a TCP port"),
            ("ZIPAPP_CONFINE_BIND", "127.0.0.1:8000", "ZIPAPP_CONFINE_BIND='127.0.0.1:8000': '127.0.0.1:8000' is not"),
            ("ZIPAPP_CONFINE_BIND", "-80", "ZIPAPP_CONFINE_BIND='-80': '-80' is not a TCP port"),
            ("ZIPAPP_CONFINE", "maybe", "ZIPAPP_CONFINE='maybe' is not on or off"),
            ("ZIPAPP_CONFINE_WRITE", "{t}/root", "ZIPAPP_CONFINE_WRITE={t}/root holds this site's own code ({t}/root/"),
            ("TMPDIR", "{t}", "TMPDIR={t} holds this site's own code ({t}/root/app_"),
        ],
    )
    def test_one_line_and_nothing_run(self, pyz: Path, place: Place, variable: str, value: str, line: str) -> None:
        t = place.tmp
        result = _run(pyz, "print('attempted')", place.env(extra={variable: value.format(t=t)}))
        assert result.returncode == 1
        assert result.stdout == ""
        assert result.stderr.startswith(f"{pyz.name}: {line.format(t=t)}"), result.stderr
        assert result.stderr.count("\n") == 1

    def test_the_fixes_in_the_lines(self, pyz: Path, place: Place) -> None:
        t = place.tmp
        result = _run(pyz, "", place.env(extra={"ZIPAPP_CONFINE_CONNECT": "5432,http"}))
        assert result.stderr == (
            f"{pyz.name}: ZIPAPP_CONFINE_CONNECT='5432,http': 'http' is not a TCP port: give ports from 1 to 65535, "
            "separated by commas (5432,6379)\n"
        )
        result = _run(pyz, "", place.env(extra={"ZIPAPP_CONFINE_WRITE": f"{t}/missing"}))
        assert result.stderr == (
            f"{pyz.name}: ZIPAPP_CONFINE_WRITE='{t}/missing' does not exist: create it, writable by the service's user "
            "(a DynamicUser= unit's uid is not fixed: use a directory under its state directory, which systemd makes "
            "the service's), or drop it\n"
        )

    def test_off_is_unconfined_and_silent(self, pyz: Path, place: Place) -> None:
        result = _run(pyz, f"attempt('shadow', lambda: open('{place.tmp}/shadow').read())", place.env(confined=False))
        assert _results(result) == {"shadow": "allowed"} and result.stderr == ""
        result = _run(pyz, "", place.env())
        assert result.stderr == ""  # ABI 7 here: everything confined, nothing to say


@pytest.mark.skipif(os.geteuid() != 0 or not os.path.exists("/usr/bin/setpriv"), reason="needs root and setpriv")
def test_a_declared_directory_the_user_cannot_write_is_said_at_start(pyz: Path) -> None:
    """A declared directory made by root (0755) exists, so the site starts, and every write there fails with EACCES
    that the hook cannot name (the path is declared): the start says so, naming the directory, the uid and the fix.
    One writable by the user (0777, or its own) and one of root's read-only declared to ZIPAPP_CONFINE_READ say
    nothing. Run as nobody with the system's Python (pytest's may live where nobody reads)."""
    top = Path(tempfile.mkdtemp(dir="/tmp"))
    try:
        top.chmod(0o755)
        for name, mode in (("open", 0o777), ("roots", 0o755), ("config", 0o755)):
            (top / name).mkdir()
            (top / name).chmod(mode)
        for name in ("root", "tmp", "own"):
            (top / name).mkdir(mode=0o700)
            os.chown(top / name, 65534, 65534)
        shutil.copy(pyz, top / "app.pyz")
        (top / "app.pyz").chmod(0o644)
        env = {
            "PATH": "/usr/bin:/bin",
            "ZIPAPP_ROOT": f"{top}/root",
            "TMPDIR": f"{top}/tmp",
            "ZIPAPP_CONFINE": "1",
            "ZIPAPP_CONFINE_WRITE": f"{top}/open:{top}/roots:{top}/own",
            "ZIPAPP_CONFINE_READ": f"{top}/config",
        }
        code = f"attempt('roots', lambda: open('{top}/roots/upload', 'w').write('x'))"
        command = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "/usr/bin/python3", f"{top}/app.pyz"]
        result = subprocess.run([*command, code], env=env, cwd=top, capture_output=True, text=True, timeout=120)
        assert _results(result) == {"roots": "blocked"}
        assert _said(result) == [
            f"ZIPAPP_CONFINE_WRITE={top}/roots is not writable by this process (uid 65534): writes there fail. "
            "Make it the service's (a DynamicUser= unit's uid is not fixed: use a directory under its state "
            "directory, which systemd makes the service's and needs no declaring; never one writable by all)"
        ]
    finally:
        shutil.rmtree(top)


class TestOlderKernels:
    """What is said where the kernel offers less (this machine's has ABI 7; the ruleset's parts are per ABI)."""

    @pytest.mark.parametrize(
        ("abi", "line"),
        [
            (
                3,
                "Landlock ABI 3 (kernel 6.2): files confined, network not (needs ABI 4, Linux 6.7), device ioctls not "
                "(needs ABI 5, Linux 6.10), abstract Unix sockets and signals not (needs ABI 6, Linux 6.12)",
            ),
            (
                1,
                "Landlock ABI 1 (kernel 5.15): files confined, renames and links into another directory refused "
                "(allowed from ABI 2, Linux 5.19), truncation not (needs ABI 3, Linux 6.2), network not (needs ABI 4, "
                "Linux 6.7), device ioctls not (needs ABI 5, Linux 6.10), abstract Unix sockets and signals not "
                "(needs ABI 6, Linux 6.12)",
            ),
            (
                5,
                "Landlock ABI 5 (kernel 6.10): files and network confined, abstract Unix sockets and signals not "
                "(needs ABI 6, Linux 6.12)",
            ),
            (6, None),
            (7, None),
        ],
    )
    def test_said_once(self, abi: int, line: str | None) -> None:
        kernel = {1: "5.15", 3: "6.2", 5: "6.10", 6: "6.12", 7: "6.18"}[abi]
        assert confine.degraded(abi, f"kernel {kernel}") == line


_LOADED = (
    "m = sys.modules['_bootstrap.confine']; s = sys.modules['_bootstrap.seccomp']\n"
    "here = os.path.join(os.path.dirname(sys.modules['_bootstrap'].__file__), 'confine.py')\n"
    "print('spec:', m.__spec__ is None, s.__spec__ is None, m.__file__ == here)\n"
    "import linecache; print('source:', bool(linecache.getline(m.__file__, 1, m.__dict__)))\n"
    "attempt('write beside', lambda: open(os.path.join(os.path.dirname(os.environ['TMPDIR']), 'beside', 'x'), 'w'))"
)


def test_a_confined_start_reads_its_modules_bytecode_once(pyz: Path, place: Place) -> None:
    """The runtime loads confine.py and seccomp.py from their bytecode in the .pyz itself (runtime.py
    ``_runtime_module``: zipimport would read and unmarshal each twice, 0.3 ms): no import spec, the .pyz's file names,
    their source lines for a traceback, and confinement in force."""
    result = _run(pyz, _LOADED, place.env(extra={"PYZ": os.fspath(pyz)}))
    results = _results(result)
    assert results["write beside"] == "blocked"
    assert results["spec"] == "True True True"
    assert results["source"] == "True"


def test_another_python_imports_the_modules_from_source(pyz: Path, place: Place) -> None:
    """A .pyz of pure Python run by another minor version: its bytecode is not for it, so the runtime imports the
    two modules as Python does (their source) and confines as well."""

    def number(version: str) -> tuple[int, ...]:
        return tuple(int(n) for n in version.split("."))

    others = {v: path for v, path in interpreters().items() if v != PY and number(v) >= (3, 8)}
    if not others:
        pytest.skip(f"no Python 3.8 or newer but {PY} on this machine")
    version, python = max(others.items(), key=lambda item: number(item[0]))
    result = subprocess.run(
        [python, os.fspath(pyz), _LOADED],
        env=place.env(extra={"PYZ": os.fspath(pyz)}),
        cwd=pyz.parent,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    results = _results(result)
    assert results["write beside"] == "blocked", version
    assert results["spec"] == "False False True", version


def test_the_confinement_step_is_cheap(pyz: Path, place: Place) -> None:
    """The step costs about a millisecond (docs/performance.md): measured in the process, its median of 5 starts."""
    code = "print('timing', __import__('_bootstrap.confine').confine.elapsed)"
    times = []
    for _ in range(5):
        result = _run(pyz, code, place.env())
        assert result.returncode == 0, result.stderr
        times.append(float(result.stdout.split()[-1]))
    assert 0 < sorted(times)[2] < 0.01, times  # generous on a shared machine: the figure is in docs/performance.md


@pytest.mark.network
def test_the_example_site_served_by_gunicorn_confined(server_builds: Built, tmp_path: Path) -> None:
    """The example site migrates and is served confined (its state directory the only place it writes, its port the
    only one it binds): READY=1 reaches NOTIFY_SOCKET, pages and whitenoise's static files are served by the workers,
    SIGHUP makes the arbiter replace its workers (signals within the domain), SIGTERM stops it; nothing refused."""
    pyz = server_builds["gunicorn"]
    state, temporary = tmp_path / "state", tmp_path / "tmp"
    state.mkdir()
    temporary.mkdir()
    port = _free_port()
    env = _env(state, SHIV_ROOT=os.fspath(tmp_path / "extracted"), TMPDIR=os.fspath(temporary))
    env.update(ZIPAPP_CONFINE="1", STATE_DIRECTORY=os.fspath(state), ZIPAPP_CONFINE_BIND=str(port))
    env.update(NOTIFY_SOCKET=os.fspath(tmp_path / "notify"))
    for variable in ("RUNTIME_DIRECTORY", "LOGS_DIRECTORY", "ZIPAPP_CONFINE_WRITE", "ZIPAPP_CONFINE_CONNECT"):
        env.pop(variable, None)
    migrated = subprocess.run(
        [os.fspath(pyz), "migrate"], env=env, cwd=state, capture_output=True, text=True, timeout=300, check=False
    )
    assert migrated.returncode == 0 and PREFIX not in migrated.stderr, migrated.stderr
    base = f"http://127.0.0.1:{port}"
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(env["NOTIFY_SOCKET"])
    notify.settimeout(90)
    command = [os.fspath(pyz), "serve", "--bind", f"127.0.0.1:{port}", "--workers", "2"]
    with notify, _serve(command, env, state) as process:
        messages = notify.recv(4096).decode()
        while "READY=1" not in messages.split("\n"):
            messages += "\n" + notify.recv(4096).decode()
        _check_site(base)
        log = state / "server.log"
        process.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 60
        while log.read_text(errors="replace").count("Booting worker") < 4:
            assert time.monotonic() < deadline and process.poll() is None, log.read_text()
            time.sleep(0.2)
        _wait_for(base + "/", process, log)
        _check_site(base)
        _stop(process, "gunicorn")
    text = log.read_text(errors="replace")
    assert "Handling signal: hup" in text and PREFIX not in text and "Traceback" not in text, text


#: A unit running the attempts' .pyz once: {extra} is the unit's own lines.
UNIT = """\
[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/srv/attempts.pyz "attempt('shadow', lambda: open('/etc/shadow').read()); \\
attempt('state', lambda: open('/var/lib/{name}/x', 'w').write('x'))"
Environment=ZIPAPP_CONFINE=1
StateDirectory={name}
CacheDirectory={name}
{extra}
"""


@pytest.mark.network
@pytest.mark.systemd
def test_under_systemd_confined_or_one_journal_line(pyz: Path, tmp_path: Path) -> None:
    """Under a real systemd: a unit asking for confinement is confined (its state directory writable, /etc/shadow
    not readable) and says nothing; the same unit with a seccomp filter refusing Landlock's system calls (as a kernel
    without them does: ENOSYS) starts and runs unconfined, with one line in its journal."""
    from tests import sdbox

    sdbox.required()
    filtered = "SystemCallFilter=~landlock_create_ruleset landlock_add_rule landlock_restrict_self\n"
    filtered += "SystemCallErrorNumber=ENOSYS"
    with sdbox.box("hz-confine", tmp_path / "console.log") as box:
        box.put(pyz, "/srv/attempts.pyz", mode=0o755)
        for name, extra in (("unconfinable", filtered), ("confined", "")):
            box.write(f"/etc/systemd/system/{name}.service", UNIT.format(name=name, extra=extra))
        box.run("systemctl daemon-reload", check=True)
        started = box.run("systemctl start unconfinable.service confined.service", timeout=120)
        assert started.returncode == 0, (started.stderr, box.journal("unconfinable.service"))
        kernel = os.uname().release.split("-")[0]
        line = f"{PREFIX}nothing confined: no Landlock system calls (kernel {kernel}: before Linux 5.13, or a seccomp "
        line += "filter refuses them)"
        for name, shadow, said in (("unconfinable", "allowed", [line]), ("confined", "blocked", [])):
            assert box.show(f"{name}.service", "ActiveState")["ActiveState"] == "active"
            journal = box.journal(f"{name}.service").splitlines()
            assert f"shadow: {shadow}" in journal and "state: allowed" in journal, journal
            assert [line for line in journal if line.startswith(PREFIX)] == said, journal


def test_each_ruleset_looks_at_the_paths_as_they_are_then(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """confine.py resolves each path once while it makes a ruleset (``_real``'s answers are kept for that start only):
    a second ruleset in the same process sees the declared directory as it is now, replaced by a link in the
    directory the site writes, and refuses it."""
    state, other, extraction = tmp_path / "state", tmp_path / "other-state", tmp_path / "root" / "app_1"
    for directory in (state / "media", other, extraction, tmp_path / "tmp"):
        directory.mkdir(parents=True)
    archive = tmp_path / "app.pyz"
    archive.write_bytes(b"")
    for variable in ("RUNTIME_DIRECTORY", "LOGS_DIRECTORY", "ZIPAPP_CONFINE_READ", "ZIPAPP_ROOT", "SHIV_ROOT"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("STATE_DIRECTORY", os.fspath(state))
    monkeypatch.setenv("TMPDIR", os.fspath(tmp_path / "tmp"))
    monkeypatch.setenv("ZIPAPP_CONFINE_WRITE", f"{state}/media")
    rules = confine.Rules(os.fspath(archive), os.fspath(extraction), [])
    assert (f"{state}/media", f"ZIPAPP_CONFINE_WRITE={state}/media") in rules.write
    (state / "media").rmdir()
    (state / "media").symlink_to(other)
    with pytest.raises(BootstrapError, match=f"goes through the link {state}/media in a directory the site"):
        confine.Rules(os.fspath(archive), os.fspath(extraction), [])
