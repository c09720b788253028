"""The entry point of a Django site's .pyz (written into it as ``_hatch_zipapp_django.py``).

    ./site.pyz <command> [args]   is manage.py: the settings module is preset (DJANGO_SETTINGS_MODULE overrides it)
    ./site.pyz serve [args]       runs the site's server, in this process: gunicorn, uWSGI (pyuwsgi), uvicorn or
                                  granian (the one chosen at build time); args and environment variables are the
                                  server's own (--bind, --http, --port, GUNICORN_CMD_ARGS, UWSGI_*, UVICORN_*,
                                  GRANIAN_*); systemd socket activation (LISTEN_FDS) where the server supports it
    ./site.pyz pyuwsgi [args]     uWSGI, as django-pyuwsgi's command does (`./site.pyz pyuwsgi --http=:8000`)
    ./site.pyz help [command]     manage.py's help, with serve and pyuwsgi listed (`help serve` says what it runs)

Standard library only at import; Django and the server are imported when a command needs them.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

#: Replaced at build time with `[tool.hatch.build.targets.zipapp.django] settings`.
SETTINGS_MODULE = "__HATCH_ZIPAPP_SETTINGS__"
#: Replaced at build time with the server `serve` runs: `[tool.hatch.build.targets.zipapp.django] server`, else the
#: one the lock carries (the first of SERVERS); "" when the lock carries none.
SERVER = "__HATCH_ZIPAPP_SERVER__"
#: Replaced at build time with `[tool.hatch.build.targets.zipapp.django] allow`: the places inside the package that
#: data may be written to (as the build's settings checks name them).
ALLOWED = ["__HATCH_ZIPAPP_ALLOWED__"]
#: The commands that refuse to start when the settings put data inside the extraction (checked again at run time:
#: the settings may read the environment, which differs from the build's).
_WRITERS = ("serve", "pyuwsgi", "migrate")
#: The servers `serve` can run (their distribution names), in the order one is chosen when the lock carries several.
SERVERS = ("gunicorn", "pyuwsgi", "uvicorn", "granian")
#: Where `serve` listens when given no address at all (gunicorn's own default, for every server).
DEFAULT_ADDRESS = ("127.0.0.1", 8000)
_SD_LISTEN_FDS_START = 3


def main() -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", SETTINGS_MODULE)
    if len(sys.argv) > 1 and sys.argv[1] in _WRITERS:
        try:
            inside = _data_inside_the_extraction()
        except ImportError:  # no Django: the command itself says so
            inside = []
        if inside:
            sys.stderr.write("".join(f"{_program()} {sys.argv[1]}: {line}\n" for line in inside))
            return 2
        _announce_databases()
    if len(sys.argv) > 1 and sys.argv[1] == "serve":
        return serve(sys.argv[2:])
    if len(sys.argv) > 1 and sys.argv[1] == "pyuwsgi":
        return serve(sys.argv[2:], server="pyuwsgi", command="pyuwsgi")
    if len(sys.argv) > 1 and sys.argv[1] == "runserver":
        _restartable_as_a_file()
    if sys.argv[1:2] == ["help"] or sys.argv[1:] in ([], ["--help"], ["-h"]):  # no command: Django's `help` too
        return _help()
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
    return 0


def _restartable_as_a_file() -> None:
    """Let runserver's autoreloader restart `python site.pyz runserver ...`.

    Python runs a zipapp's `__main__.py` with ``__main__.__spec__.name == "__main__"`` and no parent, which Django
    would restart as `python -m __main__` (an error). Without a spec it restarts ``sys.argv``: the .pyz itself.
    """
    main_module = sys.modules.get("__main__")
    spec = getattr(main_module, "__spec__", None)
    if spec is not None and spec.name == "__main__" and not spec.parent:
        main_module.__spec__ = None  # type: ignore[union-attr]


#: The .pyz's own commands (beside Django's), as `help` lists them: name → (arguments, what it does).
_OWN_COMMANDS = {
    "pyuwsgi": (
        "[uWSGI's own options]",
        "uWSGI on settings.WSGI_APPLICATION, in this process, as django-pyuwsgi's command does (the lock must carry "
        "pyuwsgi); its options and UWSGI_* variables are uWSGI's own: `{prog} pyuwsgi --help` lists them. Without "
        "any, it serves HTTP on 127.0.0.1:8000.",
    ),
    "serve": (
        "[the server's own options]",
        "The site's server, in this process: {server}. Its options and environment variables ({variables}) are its "
        "own: `{prog} serve --help` lists them. systemd socket activation (LISTEN_FDS) where the server supports "
        "it, READY=1 for Type=notify, SIGTERM stops it gracefully, SIGHUP reloads it.",
    ),
}
_SERVER_VARIABLES = {
    "gunicorn": "GUNICORN_CMD_ARGS",
    "pyuwsgi": "UWSGI_*",
    "uvicorn": "UVICORN_*",
    "granian": "GRANIAN_*",
}


def _help() -> int:
    """manage.py's `help` (`help`, `help --commands`, `help CMD`, `--help`), with this .pyz's own commands: listed
    beside Django's, and `help serve` / `help pyuwsgi` answered (Django alone says "Unknown command: 'serve'")."""
    from django.core.management import ManagementUtility
    from django.core.management.color import color_style

    class Command:
        def __init__(self, name: str) -> None:
            self.name = name

        def print_help(self, prog_name: str, subcommand: str) -> None:
            arguments, text = _OWN_COMMANDS[self.name]
            server = SERVER if SERVER in _RUNNERS or not SERVER else "gunicorn"
            chosen = f"{server} (chosen at build time)" if server else "none: this .pyz carries no server"
            text = text.format(prog=prog_name, server=chosen, variables=_SERVER_VARIABLES.get(server, "none"))
            sys.stdout.write(f"usage: {prog_name} {subcommand} {arguments}\n\n{text}\n")

    class Utility(ManagementUtility):  # type: ignore[misc]
        def main_help_text(self, commands_only: bool = False) -> str:
            text: str = super().main_help_text(commands_only)
            if commands_only:
                return "\n".join(sorted([*text.split("\n"), *_OWN_COMMANDS]))
            lines = text.split("\n")
            note = [lines.pop()] if self.settings_exception is not None else []
            own = ["", color_style().NOTICE("[hatch-zipapp]"), *(f"    {name}" for name in sorted(_OWN_COMMANDS))]
            return "\n".join([*lines, *own, *note])

        def fetch_command(self, subcommand: str) -> object:
            return Command(subcommand) if subcommand in _OWN_COMMANDS else super().fetch_command(subcommand)

    Utility(sys.argv).execute()
    return 0


def _program() -> str:
    return os.path.basename(sys.argv[0]) or "site.pyz"


#: Where data is written, as the build's checks name it: (allowance, what is lost).
_PLACES = {
    "media-root": "uploaded files",
    "sqlite": "the database",
    "file-upload-temp-dir": "uploads in progress",
    "log-file": "the log",
}


def _data_inside_the_extraction() -> list[str]:
    """A line for each place the settings write data to inside the extraction (this module's directory), which the
    next deploy deletes, and `allow` does not name."""
    from django.conf import settings

    root = os.path.realpath(os.path.dirname(os.path.abspath(__file__)))
    places: list[tuple[str, object, str]] = [
        ("MEDIA_ROOT", getattr(settings, "MEDIA_ROOT", ""), "media-root"),
        ("FILE_UPLOAD_TEMP_DIR", getattr(settings, "FILE_UPLOAD_TEMP_DIR", None), "file-upload-temp-dir"),
    ]
    for alias, database in sorted(getattr(settings, "DATABASES", {}).items()):
        name = database.get("NAME")
        if "sqlite" in database.get("ENGINE", "") and name and not str(name).startswith((":memory:", "file:")):
            places.append((f'DATABASES["{alias}"]["NAME"]', name, "sqlite"))
    for handler, options in sorted(((getattr(settings, "LOGGING", None) or {}).get("handlers") or {}).items()):
        if isinstance(options, dict) and options.get("filename"):
            places.append((f'LOGGING["handlers"]["{handler}"]["filename"]', options["filename"], "log-file"))
    lines = []
    for setting, value, allowance in places:
        if allowance in ALLOWED or not isinstance(value, (str, os.PathLike)) or not os.fspath(value):
            continue
        path = os.path.realpath(os.fspath(value))
        if os.path.commonpath([path, root]) == root:
            lines.append(
                f"settings {setting} is {path}, inside the extraction ({root}), which the next deploy deletes: "
                f"{_PLACES[allowance]} written there would be lost. Point it outside (e.g. set it from the "
                f'environment), or allow it at build time: `allow = ["{allowance}"]` in '
                f"[tool.hatch.build.targets.zipapp.django]"
            )
    return lines


#: The engines' default ports (as the build's declaration reads them: hatch_zipapp/static.py).
_DATABASE_PORTS = {"postgresql": 5432, "postgis": 5432, "mysql": 3306, "oracle": 1521}


def _announce_databases() -> None:
    """Each database the settings name by host and port, as the audit event ``hatch_zipapp.database``: a confined
    site's hook (confine.py) says which is not declared. A client written in C (libpq, mysqlclient) connects without
    Python's ``socket.connect`` event, and its own error ("Permission denied ... Is the server running") does not
    say that the connection was not declared. Never in the way: a settings value of another shape is skipped."""
    try:
        from django.conf import settings

        databases = sorted((getattr(settings, "DATABASES", None) or {}).items())
    except Exception:
        return
    for alias, database in databases:
        if not isinstance(database, dict) or not isinstance(database.get("HOST"), str) or not database["HOST"]:
            continue
        family = str(database.get("ENGINE") or "").rsplit(".", 1)[-1]
        hosts = database["HOST"].split(",") if family in ("postgresql", "postgis") else [database["HOST"]]
        ports = str(database.get("PORT") or _DATABASE_PORTS.get(family, "")).split(",")
        for host, port in zip(hosts, ports * len(hosts) if len(ports) == 1 else ports, strict=False):
            if not host.startswith("/") and port.strip().isdigit():
                sys.audit("hatch_zipapp.database", f'DATABASES["{alias}"]', host.strip("[]"), int(port))


class ServeError(Exception):
    """What stops `serve` before the server starts: one line for the user."""


def serve(args: list[str], server: str | None = None, command: str = "serve") -> int:
    """The site's server, in this process, with ``args`` (the server's own arguments)."""
    # The placeholder unreplaced: this file run from its source, not embedded by a build: gunicorn, as before.
    server = server or (SERVER if SERVER in _RUNNERS or not SERVER else "gunicorn")
    try:
        if not server:
            message = (
                f"this .pyz carries no server: add one of {', '.join(SERVERS)} to [project] dependencies, refresh "
                f"the lock (`hatch-zipapp lock`) and build again"
            )
            raise ServeError(message)
        return _RUNNERS[server](args)
    except ServeError as e:
        sys.stderr.write(f"{_program()} {command}: {e}\n")
        return 2


def _import(server: str) -> None:
    try:
        __import__(server)
    except ImportError as e:
        message = (
            f"{server} is not in this .pyz. Add `{server}` to [project] dependencies (or name the server the "
            f"lock carries in `[tool.hatch.build.targets.zipapp.django] server`), refresh the lock "
            f"(`hatch-zipapp lock`) and build again"
        )
        raise ServeError(message) from e


def _application(setting: str) -> tuple[str, str]:
    """`module`, `attribute` of ``settings.<setting>`` (e.g. WSGI_APPLICATION = "mysite.wsgi.application")."""
    from django.conf import settings

    value = getattr(settings, setting, None) or ""
    module, _, attribute = value.rpartition(".")
    if not module:
        raise ServeError(f"settings.{setting} is not set (e.g. 'mysite.wsgi.application')")
    return module, attribute


def _asgi_target() -> tuple[str, bool]:
    """The ASGI application as `module:attribute`, and whether it is a factory: `settings.ASGI_APPLICATION`, else
    `asgi.py` beside the WSGI application's module (what startproject writes), else Django's own."""
    import importlib.util

    from django.conf import settings

    if getattr(settings, "ASGI_APPLICATION", None):
        module, attribute = _application("ASGI_APPLICATION")
        return f"{module}:{attribute}", False
    module, _ = _application("WSGI_APPLICATION")
    package, _, _ = module.rpartition(".")
    sibling = f"{package}.asgi" if package else "asgi"
    if importlib.util.find_spec(sibling) is not None:
        return f"{sibling}:application", False
    return "django.core.asgi:get_asgi_application", True


def _given(args: list[str], *options: str) -> str | None:
    """The value of the last of ``options`` in ``args`` (`--opt value` or `--opt=value`; "" for a flag)."""
    found = None
    for index, argument in enumerate(args):
        name, equals, value = argument.partition("=")
        if name in options:
            found = value if equals else (args[index + 1] if index + 1 < len(args) else "")
    return found


def _inherited_sockets() -> int:
    """How many sockets systemd passed this process (socket activation: LISTEN_FDS, for LISTEN_PID)."""
    if os.environ.get("LISTEN_PID", str(os.getpid())) != str(os.getpid()):
        return 0
    count = os.environ.get("LISTEN_FDS", "")
    return int(count) if count.isdigit() else 0


def _notify_ready_when_listening(address: tuple[str, int] | str | None) -> None:
    """For a server that does not tell systemd itself: send READY=1 to $NOTIFY_SOCKET (Type=notify) once ``address``
    accepts connections (None: an inherited socket, listening already). A daemon thread; nothing without
    NOTIFY_SOCKET."""
    target = os.environ.get("NOTIFY_SOCKET")
    if not target:
        return

    def wait_and_notify() -> None:
        while address is not None and not _listening_here(address):
            time.sleep(0.05)
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as notify:
            notify.connect("\0" + target[1:] if target.startswith("@") else target)
            notify.sendall(b"READY=1\nSTATUS=listening\nMAINPID=%d" % os.getpid())

    threading.Thread(target=wait_and_notify, name="sd-notify", daemon=True).start()


def _listening_here(address: tuple[str, int] | str) -> bool:
    """Whether this process (or one it started: a server's workers) listens on ``address``: a socket of its own in
    the kernel's table of listening sockets (/proc/net), so another process holding the port is not taken for this
    server being ready. Without /proc (not Linux): whether the address accepts a connection at all."""
    try:
        mine = _own_sockets()
    except OSError:
        mine = None
    listening = (
        None if mine is None else _unix_listeners(address) if isinstance(address, str) else _tcp_listeners(address[1])
    )
    if mine is None or listening is None:
        return _accepts(address)
    return any(inode in mine for inode in listening)


def _own_sockets() -> set[str] | None:
    """The socket inodes this process and its descendants hold (``socket:[N]`` links in /proc/PID/fd), or None
    without /proc."""
    if not os.path.isdir("/proc/self/fd"):
        return None
    found: set[str] = set()
    pending, seen = [os.getpid()], set()
    while pending:
        pid = pending.pop()
        if pid in seen:
            continue
        seen.add(pid)
        try:
            names = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for name in names:
            try:
                target = os.readlink(f"/proc/{pid}/fd/{name}")
            except OSError:
                continue
            if target.startswith("socket:["):
                found.add(target[8:-1])
        try:
            for task in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{task}/children") as f:
                    pending += [int(child) for child in f.read().split()]
        except OSError:
            pass
    return found


def _tcp_listeners(port: int) -> list[str] | None:
    """Inodes of the TCP sockets listening on ``port`` (any address), IPv4 and IPv6, in this process's network
    namespace (/proc/self/net: systemd's `ProcSubset=pid` hides /proc/net); None when neither table can be read."""
    inodes, read = [], False
    for table in ("/proc/self/net/tcp", "/proc/self/net/tcp6"):
        try:
            with open(table) as f:
                lines = f.read().splitlines()[1:]
        except OSError:
            continue
        read = True
        for line in lines:
            fields = line.split()
            if len(fields) > 9 and fields[3] == "0A" and int(fields[1].rpartition(":")[2], 16) == port:
                inodes.append(fields[9])
    return inodes if read else None


def _unix_listeners(path: str) -> list[str] | None:
    """Inodes of the Unix stream sockets listening at ``path``; None when the table cannot be read."""
    try:
        with open("/proc/self/net/unix") as f:
            lines = f.read().splitlines()[1:]
    except OSError:
        return None
    return [f[6] for f in (line.split() for line in lines) if len(f) > 7 and f[3] == "00010000" and f[7] == path]


def _accepts(address: tuple[str, int] | str) -> bool:
    family = socket.AF_UNIX if isinstance(address, str) else socket.AF_INET
    if not isinstance(address, str) and ":" in address[0]:
        family = socket.AF_INET6
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.settimeout(1)
        try:
            probe.connect(address)
        except OSError:
            return False
    return True


def _probe_address(host: str | None, port: str | None, default_port: int = DEFAULT_ADDRESS[1]) -> tuple[str, int]:
    """Where to check that a server bound to ``host``:``port`` listens (the loopback address for a wildcard)."""
    host = (host or DEFAULT_ADDRESS[0]).strip("[]")
    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)  # noqa: S104 - a name, mapped
    return host, int(port) if port and port.isdigit() else default_port


def _gunicorn(args: list[str]) -> int:
    """gunicorn on ``settings.WSGI_APPLICATION``: it sends READY=1 itself, serves LISTEN_FDS, reloads on SIGHUP.

    Its control socket (gunicorn >= 25.1) defaults to $XDG_RUNTIME_DIR, else $HOME/.gunicorn, which a systemd service
    with DynamicUser cannot write (HOME=/): under systemd it goes to $RUNTIME_DIRECTORY (`RuntimeDirectory=`), and
    with neither it is off, unless the arguments or GUNICORN_CMD_ARGS name one.
    """
    _import("gunicorn")
    from gunicorn.app.wsgiapp import WSGIApplication
    from gunicorn.config import KNOWN_SETTINGS

    module, attribute = _application("WSGI_APPLICATION")
    command_line = [*args, *os.environ.get("GUNICORN_CMD_ARGS", "").split()]
    extra = []
    if any(s.name == "control_socket" for s in KNOWN_SETTINGS) and not any(
        a.startswith(("--control-socket", "--no-control-socket")) for a in command_line
    ):
        runtime = os.environ.get("RUNTIME_DIRECTORY", "").split(":")[0]
        xdg = os.environ.get("XDG_RUNTIME_DIR", "")
        if runtime:
            extra = ["--control-socket", os.path.join(runtime, "gunicorn.ctl")]
        elif not (xdg and os.path.isdir(xdg)):
            extra = ["--no-control-socket"]
    argv = [f"{_program()} serve", *extra, *args, f"{module}:{attribute}"]

    class Application(WSGIApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            """gunicorn parses sys.argv at start and again on SIGHUP (reload); it re-executes itself (USR2) from
            sys.argv as it is: the original, `site.pyz serve ...`. So sys.argv is its arguments only meanwhile."""
            original = sys.argv[:]
            sys.argv = argv
            try:
                super().load_config()
            finally:
                sys.argv = original

    Application("%(prog)s [OPTIONS]").run()
    return 0


#: What uWSGI sets itself when it re-executes on a reload (SIGHUP): not the user's configuration, so the default
#: address is still added (without it, the reloaded uWSGI has no socket and exits).
_UWSGI_OWN = frozenset({"UWSGI_RELOADS", "UWSGI_ORIGINAL_PROC_NAME"})


def _pyuwsgi(args: list[str]) -> int:
    """uWSGI (the pyuwsgi wheel) on ``settings.WSGI_APPLICATION``, with a master process.

    uWSGI reads its own options and UWSGI_* variables, sends READY=1 itself, and serves systemd's sockets (here as
    HTTP). SIGTERM stops it gracefully (uWSGI 2.0 would otherwise reload: `--hook-master-start` makes it stop), SIGHUP
    reloads it. With no arguments, no UWSGI_* variable and no inherited socket it serves HTTP on 127.0.0.1:8000.
    """
    _import("pyuwsgi")
    import pyuwsgi

    module, attribute = _application("WSGI_APPLICATION")
    options = [
        "--master",
        "--strict",
        "--need-app",
        "--enable-threads",
        "--hook-master-start",
        "unix_signal:15 gracefully_kill_them_all",
        "--module",
        f"{module}:{attribute}",
    ]
    if _inherited_sockets():
        options += ["--protocol", "http"]  # uWSGI takes systemd's sockets itself; they speak HTTP here
    elif not args and not any(name.startswith("UWSGI_") and name not in _UWSGI_OWN for name in os.environ):
        options += ["--http-socket", "{}:{}".format(*DEFAULT_ADDRESS)]
    pyuwsgi.run(*options, *args)  # does not return
    return 0


def _uvicorn(args: list[str]) -> int:
    """uvicorn on the ASGI application (`settings.ASGI_APPLICATION`, else `asgi.py` beside the WSGI module).

    uvicorn reads its own options and UVICORN_* variables; an inherited systemd socket is passed as `--fd 3`; the
    runtime sends READY=1 once its own socket listens. SIGTERM stops it gracefully; SIGHUP restarts the workers
    with `--workers 2` or more; with one (which SIGHUP would stop for good: systemd counts that exit clean and never
    restarts it) the server stops gracefully and this command starts again in this process."""
    _import("uvicorn")
    from uvicorn.main import main as uvicorn_main

    _idle_connections_get_a_moment()
    target, factory = _asgi_target()
    extra = ["--factory"] if factory else []
    if _inherited_sockets() and _given(args, "--fd", "--uds", "--host", "--port") is None:
        extra += ["--fd", str(_SD_LISTEN_FDS_START)]
    fd, uds = _given([*args, *extra], "--fd"), _given(args, "--uds") or os.environ.get("UVICORN_UDS")
    if fd is not None:
        _notify_ready_when_listening(None)
    else:
        host = _given(args, "--host") or os.environ.get("UVICORN_HOST")
        port = _given(args, "--port") or os.environ.get("UVICORN_PORT")
        _notify_ready_when_listening(uds or _probe_address(host, port))
    workers = _given(args, "--workers") or os.environ.get("UVICORN_WORKERS") or os.environ.get("WEB_CONCURRENCY")
    if workers is not None and workers.isdigit() and int(workers) > 1:
        return _click(uvicorn_main, [*extra, *args, target], "UVICORN")  # its supervisor restarts them on SIGHUP
    with _restart_on_hangup() as hangup:
        status = _click(uvicorn_main, [*extra, *args, target], "UVICORN")
    if hangup:
        _restart()
    return status


#: Seconds a connection uvicorn accepted before its graceful shutdown began, and has read nothing from, gets to send
#: its request (then answered, and closed).
UVICORN_GRACE = 0.25


def _idle_connections_get_a_moment() -> None:
    """uvicorn's graceful shutdown (SIGTERM, and so a reload, :func:`_restart_on_hangup`) closes at once a connection
    it has accepted but not read a request from yet: a client that connected as the shutdown began has its request
    reset (one of 1,163 through a reload under a real systemd). Such a connection gets :data:`UVICORN_GRACE` seconds
    for its request, answered as any in flight; one still idle then is closed as before. Left as it is where
    uvicorn's protocol classes are not as this expects (another version)."""
    import importlib

    for module, name in (
        ("uvicorn.protocols.http.h11_impl", "H11Protocol"),
        ("uvicorn.protocols.http.httptools_impl", "HttpToolsProtocol"),
    ):
        try:
            protocol = getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError):  # httptools not installed, or another uvicorn
            continue
        original = protocol.shutdown
        if getattr(original, "hatch_zipapp", False):
            continue

        def shutdown(self: Any, original: Any = original) -> None:
            if getattr(self, "cycle", False) is None and not getattr(self, "_hatch_zipapp_waited", False):
                self._hatch_zipapp_waited = True  # nothing read yet: a moment for its request, then again
                self.loop.call_later(UVICORN_GRACE, shutdown, self)
                return
            original(self)

        shutdown.hatch_zipapp = True  # type: ignore[attr-defined]
        protocol.shutdown = shutdown


@contextlib.contextmanager
def _restart_on_hangup() -> Iterator[list[int]]:
    """SIGHUP (`systemctl reload`) for a server that would otherwise exit on it (uvicorn with one worker): the server
    stops gracefully (SIGTERM, its own shutdown), then :func:`_restart` starts this command again in this process.
    The list it gives is not empty once SIGHUP came."""
    import signal

    hangup: list[int] = []

    def on_hangup(signum: int, frame: object) -> None:
        hangup.append(signum)
        os.kill(os.getpid(), signal.SIGTERM)

    def on_terminate(signum: int, frame: object) -> None:
        # The server re-raises the SIGTERM it handled once it has stopped: for a reload, go on to the restart.
        if not hangup:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)

    previous = signal.signal(signal.SIGHUP, on_hangup), signal.signal(signal.SIGTERM, on_terminate)
    try:
        yield hangup
    finally:
        signal.signal(signal.SIGHUP, previous[0])
        signal.signal(signal.SIGTERM, previous[1])


def _restart() -> None:
    """This command again, in this process (its PID, so systemd's MAINPID, stays; an inherited socket stays open
    and keeps the connections that arrive meanwhile): the file named on the command line, as it is now (after a
    deploy, the new release)."""
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, *sys.orig_argv[1:]])  # noqa: S606 - this command again


def _granian(args: list[str]) -> int:
    """granian on the ASGI application (as uvicorn), with its own options and GRANIAN_* variables.

    granian cannot take a systemd socket (LISTEN_FDS): it binds its own. The runtime sends READY=1 once its own
    socket listens. SIGTERM stops it gracefully; SIGHUP respawns its workers.
    """
    _import("granian")
    from granian.cli import cli

    if _inherited_sockets():
        message = (
            "granian cannot serve a socket systemd passes (LISTEN_FDS): drop the .socket unit and give "
            "--host/--port, or serve with gunicorn, pyuwsgi or uvicorn"
        )
        raise ServeError(message)
    target, factory = _asgi_target()
    extra = ["--interface", "asgi"] if _given(args, "--interface") is None else []
    extra += ["--factory"] if factory else []
    uds = _given(args, "--uds") or os.environ.get("GRANIAN_UDS")
    host = _given(args, "--host") or os.environ.get("GRANIAN_HOST")
    port = _given(args, "--port") or os.environ.get("GRANIAN_PORT")
    _notify_ready_when_listening(uds or _probe_address(host, port))
    return _click(cli, [*extra, *args, target], "GRANIAN")


def _click(command: Callable[..., object], args: list[str], prefix: str) -> int:
    """Run a click command (uvicorn's, granian's) as its own console script would, reading ``prefix``_* variables."""
    try:
        command(args=args, prog_name=f"{_program()} serve", auto_envvar_prefix=prefix)  # exits
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    return 0


_RUNNERS: dict[str, Callable[[list[str]], int]] = {
    "gunicorn": _gunicorn,
    "pyuwsgi": _pyuwsgi,
    "uvicorn": _uvicorn,
    "granian": _granian,
}


if __name__ == "__main__":
    sys.exit(main())
