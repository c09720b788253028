"""systemd units for a .pyz: a hardened `.service` (and a `.socket` for socket activation with `serve`), and the
set around it: worker services and timers running other commands of the same .pyz, grouped by a `.target`.

The service runs as a dynamic user with a read-only view of the system. Its writable places are systemd's:
`CacheDirectory=` (the runtime extracts there: `$CACHE_DIRECTORY`) and `StateDirectory=` (the working directory,
e.g. a sqlite database). Configuration comes from `EnvironmentFile=`, secrets from `LoadCredential=`. With a
prepared root (`--prepared-root`: the deploy extracts there as root, `ZIPAPP_PREPARE=1`) the service has no cache
directory: it runs its code from that root, read-only, and can never modify it.
"""

from __future__ import annotations

import ipaddress
import json
import posixpath
import re
import shlex
import string
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from hatch_zipapp.deploy import confine as confinement
from hatch_zipapp.errors import SystemdError

__all__ = [
    "NAME_MAX",
    "RELAXATIONS",
    "PyzDefaults",
    "Task",
    "Units",
    "check",
    "check_calendar",
    "executable",
    "parse_task",
    "read_defaults",
    "render",
]

#: The longest unit name systemd accepts, suffix included (systemd.unit(5); UNIT_NAME_MAX - 1 in systemd's source).
NAME_MAX = 255
#: Characters of a unit name prefix (systemd.unit(5): ASCII letters, digits, ":", "-", "_", "." and the backslash),
#: less the backslash (an escape) and ":" (`CacheDirectory=`/`StateDirectory=` read `a:b` as a directory and a
#: symlink, and `systemd-analyze verify` 252 refuses it): the name is also the directories' name.
_NAME_CHARACTERS = frozenset(string.ascii_letters + string.digits + "-_.")
#: The suffixes of the units written: `--name mysite.service` would make `mysite.service.service`.
_UNIT_SUFFIXES = (".service", ".socket", ".timer", ".target")
#: The characters a path in `ExecStart=` may hold as written; of the others, systemd splits on white space, unquotes,
#: expands `$VARIABLE` and `%` specifiers, and reads `;` as a command separator.
_UNQUOTED_PATH_CHARACTERS = frozenset(string.ascii_letters + string.digits + "/._-+@:,=~")
#: Directories the service does not see as they are (ProtectHome=yes, PrivateTmp=yes).
_HIDDEN = ("/home", "/root", "/run/user", "/tmp", "/var/tmp")  # noqa: S108 - names, to refuse

#: The commands of a Django site's .pyz that send READY=1 to $NOTIFY_SOCKET once the site answers
#: (bootstrap/django_main.py): its unit is `Type=notify`, so `systemctl start` returns when the site is up.
_NOTIFYING_COMMANDS = ("serve", "pyuwsgi")

#: What an application may need relaxed, and the directives each removes.
RELAXATIONS: dict[str, str] = {
    "jit": "MemoryDenyWriteExecute (cffi `ffi.callback()`, ctypes callbacks and JITs need writable+executable memory)",
    "network-namespaces": "RestrictNamespaces (applications that create namespaces)",
    "resources": "the @resources system calls (applications that set priorities, CPU affinity or resource limits)",
}


#: The variable the runtime reads to run one of the .pyz's console scripts (docs/runtime.md: which program runs).
SCRIPT_VARIABLE = "ZIPAPP_SCRIPT"


@dataclass(frozen=True)
class Task:
    """A worker (a long-running command: `NAME-SUFFIX.service`) or, with a calendar, a scheduled command
    (`NAME-SUFFIX.service`, Type=oneshot, started by `NAME-SUFFIX.timer`) of the same .pyz as the web service."""

    suffix: str
    #: The arguments to the .pyz (a Django site's management command: `qcluster`, `clearsessions`), or to ``script``.
    command: Sequence[str]
    #: A console script of the .pyz to run instead of its entry point (`ZIPAPP_SCRIPT=celery`), or None.
    script: str | None = None
    #: `OnCalendar=` of the timer (a timer's command), or None (a worker).
    calendar: str | None = None

    @property
    def option(self) -> str:
        return "--worker" if self.calendar is None else "--timer"


@dataclass(frozen=True)
class Units:
    """What to generate: the application's name, where the .pyz lives on the server, and how it is started."""

    name: str
    pyz: str
    command: Sequence[str] = ("serve",)
    python: str = "/usr/bin/python3"  # "": the file runs itself (an embedded Python, docs/embedded-python.md)
    description: str = ""
    socket: str | None = None  # e.g. "127.0.0.1:8000": a .socket unit, and `serve` inherits its socket
    credentials: Sequence[str] = ("secret_key",)
    relax: frozenset[str] = field(default_factory=frozenset)
    #: Where the deploy extracts the .pyz as root (ZIPAPP_ROOT=... ZIPAPP_PREPARE=1): the service only reads it.
    prepared_root: str | None = None
    #: Workers and timers of the same .pyz (`--worker`, `--timer`): with any, a `NAME.target` groups the set.
    tasks: Sequence[Task] = ()
    #: `--confine`: what the site may write, reach and bind (None: the unit asks for no confinement).
    confine: confinement.Confinement | None = None

    @property
    def services(self) -> list[str]:
        """The long-running services of the set, the web one first: what a deploy restarts (a timer's command runs
        the current release at its next start)."""
        return [f"{self.name}.service", *[f"{self.name}-{t.suffix}.service" for t in self.tasks if t.calendar is None]]

    @property
    def prepare_command(self) -> str | None:
        """What the deploy runs, as root, before starting the service: the extraction into the prepared root."""
        if self.prepared_root is None:
            return None
        return " ".join(
            p for p in [f"ZIPAPP_ROOT={self.prepared_root}", "ZIPAPP_PREPARE=1", self.python, self.pyz] if p
        )

    @property
    def notifies(self) -> bool:
        """Whether the service says when it is ready (READY=1, `Type=notify`): a Django site's `serve` or `pyuwsgi`
        does (gunicorn and uWSGI themselves; for uvicorn and granian the runtime, once the socket accepts)."""
        return bool(self.command) and self.command[0] in _NOTIFYING_COMMANDS

    @property
    def exec_start(self) -> str:
        """The service's `ExecStart=` value: the interpreter, the .pyz and its arguments."""
        return " ".join([self.python, self.pyz, *self.command] if self.python else [self.pyz, *self.command])


def _check_name(name: str) -> None:
    where = f"Unit name {name!r} (--name)"
    bad = sorted({c for c in name if c not in _NAME_CHARACTERS})
    if not name:
        message = f"{where} is empty: give the application's name, e.g. --name mysite"
    elif bad:
        suggestion = "".join(c if c in _NAME_CHARACTERS else "-" for c in name).strip("-.") or "mysite"
        message = (
            f"{where} holds {', '.join(map(repr, bad))}: the unit's (and its directories') name has only ASCII "
            f"letters, digits and '-', '_', '.' (systemd.unit(5)), e.g. --name {suggestion}"
        )
    elif not name[0].isalnum():
        message = (
            f"{where} starts with {name[0]!r}: start it with a letter or digit (it is also a directory name and "
            f"an argument to systemctl)"
        )
    elif not name[-1].isalnum() and name[-1] != "_":
        message = f"{where} ends with {name[-1]!r}: end it with a letter, digit or '_' (it is followed by '.service')"
    elif name.endswith(_UNIT_SUFFIXES):
        suffix = name[name.rindex(".") :]
        message = (
            f"{where} ends with {suffix!r}: give the name alone (the command adds '.service' and '.socket', "
            f"and the directories take the name), e.g. --name {name.removesuffix(suffix)}"
        )
    elif len(name) + len(".service") > NAME_MAX:
        message = (
            f"{where} is {len(name)} characters long: with '.service' it must be at most {NAME_MAX} "
            f"(systemd.unit(5)); shorten it"
        )
    else:
        return
    raise SystemdError(message)


def _example(path: str, option: str) -> str:
    """How to find the absolute path of ``path`` (a relative one given to ``option``), for a message: an interpreter
    named by its command name (`python3`) where this machine has it (/usr/bin first, as on a Debian server); else
    how to find it on the server. Never a path made up from the relative one."""
    if option == "--python" and "/" not in path:
        import shutil

        found = f"/usr/bin/{path}" if Path(f"/usr/bin/{path}").is_file() else shutil.which(path)
        if found:
            return f", e.g. {option} {found} (where `{path}` is on this machine; `command -v {path}` on the server)"
        return f" (`command -v {path}` on the server prints it)"
    return " (starting with /)"


def _check_path(path: str, option: str, what: str) -> None:
    where = f"{option} {path!r}"
    bad = sorted({c for c in path if c not in _UNQUOTED_PATH_CHARACTERS})
    if not path.startswith("/"):
        message = (
            f"{where} is not an absolute path: systemd starts the service elsewhere (its working directory is "
            f"the state directory), so give {what}'s full path on the server{_example(path, option)}"
        )
    elif bad:
        message = (
            f"{where} holds {', '.join(map(repr, bad))}, which systemd would split, unquote or expand in "
            f"ExecStart=: use a path of letters, digits and / . _ - + @ : , = ~ only"
        )
    elif posixpath.normpath(path) != path:
        message = f"{where} is not a normal path: write it as {posixpath.normpath(path)!r}"
    else:
        return
    raise SystemdError(message)


def _check_socket(socket: str) -> None:
    """What `ListenStream=` accepts of the forms `serve` can use: a port, IPv4:port, [IPv6]:port, a socket path."""
    host, colon, port = socket.rpartition(":")
    if socket.startswith("/"):
        # `ListenStream=` expands `%` specifiers (systemd.socket(5)): `/run/%n.sock` is not the path written.
        if posixpath.normpath(socket) == socket and not any(c.isspace() or c == "%" for c in socket):
            return
    elif port.isdigit() and 1 <= int(port) <= 65535 and str(int(port)) == port:
        if not colon:
            return
        try:
            if host.startswith("[") and host.endswith("]"):
                ipaddress.IPv6Address(host[1:-1])
                return
            ipaddress.IPv4Address(host)
            return
        except ValueError:
            pass
    message = (
        f"--socket {socket!r} is not a stream socket systemd can listen on: give a port (8000), an address and "
        f"a port (127.0.0.1:8000, [::1]:8000; no host names) or an absolute socket path (/run/NAME/NAME.sock)"
    )
    raise SystemdError(message)


#: systemd's calendar shorthands (systemd.time(7); any case).
_CALENDAR_SHORTHANDS = frozenset(
    ["minutely", "hourly", "daily", "weekly", "monthly", "yearly", "annually", "quarterly", "semiannually"]
)
_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_WEEKDAY_NAMES = {
    **{day: i for i, day in enumerate(_WEEKDAYS)},
    **{day: i for i, day in enumerate(["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"])},
}
#: A calendar component: `*`, a value, a range `A..B`, a repetition `A/N`, or a list of these.
_COMPONENT = re.compile(r"\*|(\d+)(?:\.\.(\d+))?(?:/(\d+))?")


def _component_ok(text: str, low: int, high: int) -> bool:
    """Whether systemd reads ``text`` as a calendar component within ``low..high`` (a repetition must fall in it)."""
    for part in text.split(","):
        match = _COMPONENT.fullmatch(part)
        if match is None:
            return False
        if part == "*":
            continue
        start = int(match.group(1))
        end = int(match.group(2)) if match.group(2) is not None else start
        repeat = int(match.group(3)) if match.group(3) is not None else None
        if not low <= start <= end <= high or (repeat is not None and (repeat < 1 or start + repeat > high)):
            return False
    return True


def _weekdays_ok(text: str) -> bool:
    for part in text.split(","):
        first, dots, last = part.partition("..") if ".." in part else part.partition("-")
        days = [_WEEKDAY_NAMES.get(first.lower()), _WEEKDAY_NAMES.get(last.lower()) if dots else -1]
        if days[0] is None or days[1] is None or (dots and days[1] < days[0]):
            return False
    return True


def _calendar_ok(calendar: str) -> bool:
    """The forms of systemd.time(7) this command accepts (a subset: no `~`, no fractional seconds, no time zone but
    UTC): a shorthand, or `[WEEKDAYS] [[YEAR-]MONTH-DAY] [HOUR:MINUTE[:SECOND]] [UTC]`."""
    if calendar.lower() in _CALENDAR_SHORTHANDS:
        return True
    words = calendar.split(" ")
    if len(words) > 1 and words[-1].lower() == "utc":  # a time zone after something, not alone
        words.pop()
    if words and words[0][:1].isalpha() and not _weekdays_ok(words.pop(0)):
        return False
    if words and "-" in words[0]:
        date = words.pop(0).split("-")
        limits = [(1970, 2199), (1, 12), (1, 31)][-len(date) :] if len(date) in (2, 3) else []
        if not limits or not all(_component_ok(c, *limit) for c, limit in zip(date, limits, strict=True)):
            return False
    if words and ":" in words[0]:
        time = words.pop(0).split(":")
        limits = [(0, 23), (0, 59), (0, 59)][: len(time)] if len(time) in (2, 3) else []
        if not limits or not all(_component_ok(c, *limit) for c, limit in zip(time, limits, strict=True)):
            return False
    return not words and calendar.strip() == calendar and bool(calendar)


def check_calendar(calendar: str, where: str) -> None:
    """Refuse a calendar systemd would refuse (or that this command does not know to be one systemd accepts)."""
    if not _calendar_ok(calendar):
        message = (
            f"{where}: calendar {calendar!r} is not one systemd accepts (systemd.time(7)): give a shorthand (hourly, "
            f"daily, weekly ...) or [WEEKDAYS] [[YEAR-]MONTH-DAY] HOUR:MINUTE[:SECOND] [UTC], e.g. 'Mon..Fri 03:00', "
            f"'*-*-* 04:30 UTC', '*:0/15'; check it with `systemd-analyze calendar`"
        )
        raise SystemdError(message)


def parse_task(text: str, timer: bool) -> Task:
    """``SUFFIX=COMMAND`` (``--worker``) or ``SUFFIX@CALENDAR=COMMAND`` (``--timer``) as a :class:`Task`; COMMAND is
    the arguments to the .pyz, or ``ZIPAPP_SCRIPT=SCRIPT ARG...`` to run one of its console scripts."""
    option = "--timer" if timer else "--worker"
    form = "SUFFIX@CALENDAR=COMMAND, e.g. 'clearsessions@daily=clearsessions'" if timer else "SUFFIX=COMMAND, e.g. "
    form += "" if timer else "'worker=qcluster' or 'celery=ZIPAPP_SCRIPT=celery -A mysite worker'"
    head, equals, command_text = text.partition("=")
    suffix, at, calendar = head.partition("@")
    if not equals or (timer and not at):
        raise SystemdError(f"{option} {text!r} is not {form}")
    if not timer and at:
        message = f"{option} {text!r}: a worker has no calendar ('@'): give a scheduled command with --timer {text!r}"
        raise SystemdError(message)
    try:
        words = shlex.split(command_text)
    except ValueError as e:
        raise SystemdError(f"{option} {text!r}: its command cannot be split into arguments: {e}") from e
    script = None
    if words and words[0].startswith(SCRIPT_VARIABLE + "="):
        script = words.pop(0).partition("=")[2]
        if not script:
            raise SystemdError(f"{option} {text!r}: {SCRIPT_VARIABLE}= names no console script, e.g. celery")
    if not words and script is None:
        raise SystemdError(f"{option} {text!r} gives no command: {form}")
    return Task(suffix, words, script, calendar if timer else None)


def _check_task(units: Units, task: Task, seen: set[str]) -> None:
    name = f"{units.name}-{task.suffix}"
    where = f"{task.option} suffix {task.suffix!r}"
    bad = sorted({c for c in task.suffix if c not in _NAME_CHARACTERS})
    if not task.suffix:
        message = f"{where} is empty: name the unit, e.g. {task.option} worker=... (it makes {units.name}-worker)"
    elif bad:
        message = f"{where} holds {', '.join(map(repr, bad))}: use ASCII letters, digits and '-', '_', '.' only"
    elif not task.suffix[0].isalnum() or not (task.suffix[-1].isalnum() or task.suffix[-1] == "_"):
        message = f"{where}: start it with a letter or digit and end it with a letter, digit or '_'"
    elif len(name) + len(".service") > NAME_MAX:
        message = f"{where}: {name}.service would be longer than {NAME_MAX} characters (systemd.unit(5)); shorten it"
    elif task.suffix in seen:
        message = f"{where} is given twice: {name}.service can be only one unit; give each worker and timer its own"
    else:
        seen.add(task.suffix)
        if task.calendar is not None:
            check_calendar(task.calendar, f"--timer {task.suffix!r}")
        if task.script is not None and not all(c in _NAME_CHARACTERS for c in task.script):
            message = f"{task.option} {task.suffix!r}: {SCRIPT_VARIABLE}={task.script!r} is not a console script's name"
            raise SystemdError(message)
        _check_arguments(units, task.command, f"{task.option} {task.suffix!r} argument")
        return
    raise SystemdError(message)


def _check_arguments(units: Units, arguments: Sequence[str], what: str) -> None:
    for argument in arguments:
        bad = sorted({c for c in argument if c.isspace() or c in "\"'$%;\\"})
        if bad:
            message = (
                f"{what} {argument!r} holds {', '.join(map(repr, bad))}, which systemd would split, "
                f"unquote or expand in ExecStart=: put such settings in /etc/{units.name}/env instead"
            )
            raise SystemdError(message)


def check(units: Units) -> None:
    """Refuse what systemd would refuse, or would read differently from what was meant: one message, the first."""
    _check_name(units.name)
    _check_path(units.pyz, "--pyz", "the .pyz")
    if units.python:
        _check_path(units.python, "--python", "the interpreter")
    if units.socket is not None:
        _check_socket(units.socket)
    if units.prepared_root is not None:
        _check_path(units.prepared_root, "--prepared-root", "the prepared root")
        hidden = [p for p in _HIDDEN if units.prepared_root == p or units.prepared_root.startswith(p + "/")]
        if hidden:
            message = (
                f"--prepared-root {units.prepared_root!r} is under {hidden[0]}, which the service does not see "
                f"(ProtectHome=yes, PrivateTmp=yes): use a directory such as /srv/{units.name}/extracted"
            )
            raise SystemdError(message)
    _check_arguments(units, units.command, "--command argument")
    seen: set[str] = set()
    for task in units.tasks:
        _check_task(units, task, seen)
    unknown = sorted(units.relax - RELAXATIONS.keys())
    if unknown:
        message = f"Unknown relaxation(s) {', '.join(unknown)}: choose from {', '.join(sorted(RELAXATIONS))}"
        raise SystemdError(message)
    if units.confine is not None:
        confinement.check(units, units.confine)


@dataclass(frozen=True)
class PyzDefaults:
    """What a service of a .pyz needs, read from the .pyz: its arguments and the Python it was built for."""

    command: list[str]
    #: `X.Y` for a .pyz tied to one Python version (its tag names one, e.g. cp312); None for `py3-none-any`.
    python_version: str | None
    #: What was read, for the user: "a Django site (entry point ...) built for Python 3.12".
    reason: str
    #: The CPython version the file embeds (`embed-python`): it runs itself, no interpreter is named.
    embedded: str | None = None
    #: hatch-zipapp.json as read: its declaration (`"confine"`) is checked only when a unit asks for confinement.
    info: object = None
    #: The .pyz's tag, as hatch-zipapp.json's target names it (`cp312-cp312-manylinux_2_28_x86_64`).
    tag: str = ""

    def declared(self, pyz: str) -> confinement.Confinement:
        """What the .pyz says its site writes, reaches and binds (hatch-zipapp.json's `"confine"`)."""
        return confinement.declared(self.info, pyz)


def read_defaults(pyz: Path) -> PyzDefaults:
    """The defaults for the .pyz at ``pyz`` (a local file), from its environment.json and hatch-zipapp.json.

    A Django site's .pyz (entry point `_hatch_zipapp_django:main`) is started with `serve` (gunicorn); any other
    entry point with no arguments. A .pyz whose tag is `py3-none-any` runs on any Python 3; any other was built for
    the Python version hatch-zipapp.json's target names.
    """
    from hatch_zipapp.bootstrap.documents import (
        DJANGO_ENTRY_POINT,
        ENTRY_POINT,
        ENVIRONMENT_JSON,
        INFO_JSON,
        INFO_TARGET,
        TARGET_PYTHON,
        TARGET_TAG,
    )

    if not pyz.exists() or pyz.is_dir():
        what = "does not exist"
        if pyz.is_dir():
            try:
                inside = sorted(p.name for p in pyz.iterdir() if p.suffix == ".pyz" and p.is_file())
            except OSError:
                inside = []
            held = f" (it holds {', '.join(inside[:3])}{', ...' if len(inside) > 3 else ''})" if inside else ""
            what = f"is a directory, not a .pyz{held}"
        raise SystemdError(f"{pyz} {what}: name the .pyz with --read, or give --command")
    try:
        with zipfile.ZipFile(pyz) as archive:
            environment = json.loads(archive.read(ENVIRONMENT_JSON))
            info = json.loads(archive.read(INFO_JSON))
    except (OSError, zipfile.BadZipFile, KeyError, ValueError) as e:
        message = f"{pyz} is not a .pyz built by hatch-zipapp ({e}): name one with --read, or give --command"
        raise SystemdError(message) from e
    entry_point = environment.get(ENTRY_POINT) if isinstance(environment, dict) else None
    target = info.get(INFO_TARGET) if isinstance(info, dict) else None
    tag = target.get(TARGET_TAG) if isinstance(target, dict) else None
    version = target.get(TARGET_PYTHON) if isinstance(target, dict) else None
    if not isinstance(entry_point, str) or not isinstance(tag, str) or not isinstance(version, str):
        message = (
            f"{pyz} does not name its entry point and target (environment.json, hatch-zipapp.json): give --command"
        )
        raise SystemdError(message)
    python_version = None if tag == "py3-none-any" else ".".join(version.split(".")[:2])
    runs_on = "any Python 3" if python_version is None else f"Python {python_version} ({tag})"
    embedded = target.get("embedded_python") if isinstance(target, dict) else None  # embed.EMBEDDED_PYTHON
    embedded_version = str(embedded.get("version")) if isinstance(embedded, dict) else None
    if embedded_version is not None:
        runs_on = f"its embedded CPython {embedded_version} (an executable: no Python on the server)"
    if entry_point == DJANGO_ENTRY_POINT:
        reason = f"a Django site (entry point {entry_point}) for {runs_on}"
        return PyzDefaults(["serve"], python_version, reason, embedded_version, info, tag)
    reason = f"entry point {entry_point} (no arguments) for {runs_on}"
    return PyzDefaults([], python_version, reason, embedded_version, info, tag)


def check_python(python: str, defaults: PyzDefaults, pyz: str) -> None:
    """Refuse a ``--python`` whose name says a version (`python3.12`) other than the one the .pyz is built for: the
    runtime would refuse every start. A name without a version (`python3`) is the user's to know."""

    named = re.fullmatch(r"python(\d+\.\d+)", posixpath.basename(python))
    if defaults.python_version is None or defaults.embedded is not None or named is None:
        return
    if named.group(1) != defaults.python_version:
        version = defaults.python_version
        message = (
            f"--python {python!r} is Python {named.group(1)}, but {pyz} is built for Python {version} "
            f"({defaults.tag}), which its runtime refuses to start on: give --python /usr/bin/python{version} (the "
            f"path of Python {version} on the server), or leave --python out"
        )
        raise SystemdError(message)


def _where(units: Units) -> list[str]:
    """Where the service's code is: extracted by the service into its cache directory, or prepared by the deploy."""
    if units.prepared_root is None:
        return [
            "# Writable places: the .pyz extracts to $CACHE_DIRECTORY; the working directory is the state directory.",
            f"CacheDirectory={units.name}",
        ]
    return [
        "# The code: extracted by the deploy (as root), read-only here: the service can never change it.",
        f"# Deploy: {units.prepare_command}",
        f"Environment=ZIPAPP_ROOT={units.prepared_root}",
        f"ReadOnlyPaths={units.prepared_root}",
        "# Writable place: the working directory is the state directory.",
    ]


def render(units: Units) -> dict[str, str]:
    """File name → contents of the unit files; ValueError (one line) for anything :func:`check` refuses."""
    check(units)
    name = units.name
    description = units.description or f"{name} ({units.pyz}, hatch-zipapp)"
    unit = [
        "[Unit]",
        f"Description={description}",
        "After=network-online.target",
        "Wants=network-online.target",
    ]
    if units.socket:
        unit += [f"Requires={name}.socket", f"After={name}.socket"]
    if units.tasks:
        unit.append(f"PartOf={name}.target")  # `systemctl restart/stop NAME.target` restarts/stops it too
    service = [
        "",
        "[Service]",
        # notify: `systemctl start` returns once the server is listening (READY=1); exec: once it has started.
        f"Type={'notify' if units.notifies else 'exec'}",
        f"ExecStart={units.exec_start}",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "Restart=on-failure",
        "RestartSec=2s",
        "TimeoutStopSec=30s",
        "",
        "# Configuration per environment: variables in a file, secrets as credentials ($CREDENTIALS_DIRECTORY).",
        f"EnvironmentFile=-/etc/{name}/env",
        *[f"LoadCredential={c}:/etc/{name}/{c}" for c in units.credentials],
        "",
        *_where(units),
        f"StateDirectory={name}",
        f"WorkingDirectory=%S/{name}",
        "# Sockets and pid files ($RUNTIME_DIRECTORY: gunicorn's control socket), removed when the service stops.",
        f"RuntimeDirectory={name}",
        "",
        "# Hardening.",
        "DynamicUser=yes",
        "UMask=0077",
        "NoNewPrivileges=yes",
        "CapabilityBoundingSet=",
        "AmbientCapabilities=",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "PrivateDevices=yes",
        "PrivateUsers=yes",
        "DevicePolicy=closed",
        "ProtectKernelTunables=yes",
        "ProtectKernelModules=yes",
        "ProtectKernelLogs=yes",
        "ProtectControlGroups=yes",
        "ProtectClock=yes",
        "ProtectHostname=yes",
        "ProtectProc=invisible",
        "ProcSubset=pid",
        "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6",
        "RestrictRealtime=yes",
        "RestrictSUIDSGID=yes",
        "LockPersonality=yes",
        "RemoveIPC=yes",
        "KeyringMode=private",
        "SystemCallArchitectures=native",
        "SystemCallFilter=@system-service",
        "SystemCallFilter=~@privileged" + ("" if "resources" in units.relax else " @resources"),
        "SystemCallErrorNumber=EPERM",
    ]
    if "network-namespaces" not in units.relax:
        service.append("RestrictNamespaces=yes")
    if "jit" not in units.relax:
        service.append("MemoryDenyWriteExecute=yes")
    if units.confine is not None:
        service += confinement.directives(units, units.confine)
    install = ["", "[Install]", "WantedBy=multi-user.target", ""]
    files = {f"{name}.service": "\n".join([*unit, *service, *install])}
    if units.socket:
        files[f"{name}.socket"] = "\n".join(
            [
                "[Unit]",
                f"Description={name} listening socket",
                "",
                "[Socket]",
                f"ListenStream={units.socket}",
                "NoDelay=yes",
                f"Service={name}.service",
                "",
                "[Install]",
                "WantedBy=sockets.target",
                "",
            ]
        )
    for task in units.tasks:
        files.update(_task_units(units, task, service))
    if units.tasks:
        wanted = [f"{name}.socket"] if units.socket else []
        wanted += [f"{name}.service"]
        wanted += [f"{name}-{t.suffix}.{'service' if t.calendar is None else 'timer'}" for t in units.tasks]
        files[f"{name}.target"] = "\n".join(
            [
                "[Unit]",
                f"Description={name}: the web service, its workers and timers (hatch-zipapp)",
                f"# `systemctl enable --now {name}.target` starts them all (and at boot); `systemctl restart"
                f" {name}.target` restarts them all (PartOf=).",
                f"Wants={' '.join(wanted)}",
                "",
                "[Install]",
                "WantedBy=multi-user.target",
                "",
            ]
        )
    files[f"{name}-manage"] = _manage_script(units, service)
    if units.confine is not None:
        files[f"{name}.apparmor"] = confinement.apparmor(units, units.confine)
    return files


#: Lines of the web service a worker or a timer's command does not take as they are: how the web one runs.
_WEB_ONLY = ("Type=", "ExecStart=", "ExecReload=", "Restart=", "RestartSec=", "RuntimeDirectory=")


def _task_units(units: Units, task: Task, service: Sequence[str]) -> dict[str, str]:
    """``NAME-SUFFIX.service`` (and ``NAME-SUFFIX.timer`` for a timer): every line of the web service but how it
    runs, as its dynamic user (``User=NAME``: the same uid, so the same state and cache directories and files)."""
    name = f"{units.name}-{task.suffix}"
    timer = task.calendar is not None
    command = Units(units.name, units.pyz, task.command, units.python)
    kind = "oneshot" if timer else "notify" if command.notifies and task.script is None else "exec"
    how = [
        f"Type={kind}",
        f"ExecStart={command.exec_start}",
        *([] if timer else ["Restart=on-failure", "RestartSec=2s"]),
    ]
    if task.script is not None:
        how.append(f"Environment={SCRIPT_VARIABLE}={task.script}")
    shown = " ".join([*([f"{SCRIPT_VARIABLE}={task.script}"] if task.script else []), units.pyz, *task.command])
    lines = ["[Unit]", f"Description={name} ({shown}, hatch-zipapp)"]
    lines += ["After=network-online.target", "Wants=network-online.target"]
    lines += [] if timer else [f"PartOf={units.name}.target"]
    for line in service:
        if line.startswith("[Service]"):
            lines += [line, *how]
        elif line.startswith("DynamicUser="):
            lines += [line, f"User={units.name}"]  # the web service's dynamic user (its User= is its unit's name)
        elif line.startswith("RuntimeDirectory="):  # its own: systemd removes a unit's when that unit stops
            lines.append(f"RuntimeDirectory={name}")
        elif not line.startswith(_WEB_ONLY):
            lines.append(line)
    if not timer:
        lines += ["", "[Install]", f"WantedBy={units.name}.target"]
    files = {f"{name}.service": "\n".join([*lines, ""])}
    if timer:
        files[f"{name}.timer"] = "\n".join(
            [
                "[Unit]",
                f"Description={name} at {task.calendar}",
                f"PartOf={units.name}.target",
                "",
                "[Timer]",
                f"OnCalendar={task.calendar}",
                "# A start missed while the machine was off runs at the next boot.",
                "Persistent=true",
                "",
                "[Install]",
                f"WantedBy={units.name}.target",
                "",
            ]
        )
    return files


#: Lines of the service that describe how it runs as a server, not what it may do: a one-off command has none.
#: `RuntimeDirectory=` too: systemd removes it when a unit that has it stops, under the running service's feet.
_SERVER_ONLY = ("Type=", "ExecStart=", "ExecReload=", "Restart=", "RestartSec=", "TimeoutStopSec=", "RuntimeDirectory=")


def executable(file_name: str) -> bool:
    """Whether the file :func:`render` names ``file_name`` is a program (mode 0755), not a unit or a profile."""
    return not file_name.endswith((*_UNIT_SUFFIXES, ".apparmor"))


def _manage_script(units: Units, service: Sequence[str]) -> str:
    """``NAME-manage``: ``NAME-manage migrate`` runs ``current.pyz migrate`` as the service runs: its dynamic user
    (``User=NAME``, the same user and so the same files), its state, cache and runtime directories (made on first
    use: the first deploy can migrate before the service ever ran), configuration, credentials and sandbox. Every
    property is the service's own line, so the two cannot drift apart."""
    properties = []
    for line in service:
        if not line or line.startswith(("#", "[")) or line.startswith(_SERVER_ONLY):
            continue
        key, _, value = line.partition("=")
        if key == "WorkingDirectory":  # a transient unit expands no specifiers: %S is /var/lib
            value = value.replace("%S", "/var/lib")
        properties.append(f"{key}={value}")
    properties.append(f"User={units.name}")  # the service's dynamic user (User= defaults to the unit's name)
    quoted = " \\\n  ".join(f"-p {_sh_quote(p)}" for p in properties)
    python = f"{_sh_quote(units.python)} " if units.python else ""
    return "\n".join(
        [
            "#!/bin/sh",
            f"# {units.name}-manage [--pyz FILE] COMMAND [ARG...]: `{units.pyz} COMMAND ...` (or FILE's) as the",
            f"# service {units.name} runs it: its dynamic user, its directories (created on first use), its",
            "# configuration, credentials and sandbox. Written by `hatch-zipapp systemd`; install it as root, e.g. in",
            "# /usr/local/sbin. Run it as root.",
            "set -eu",
            f"pyz={_sh_quote(units.pyz)}",
            'if [ "${1:-}" = --pyz ]; then',
            f'  [ $# -ge 2 ] || {{ echo "{units.name}-manage: --pyz needs a file" >&2; exit 2; }}',
            "  case $2 in /*) pyz=$2 ;; *) pyz=$(pwd)/$2 ;; esac",
            "  shift 2",
            "fi",
            "if [ -t 0 ] && [ -t 1 ]; then io=--pty; else io=--pipe; fi",
            f'exec systemd-run --quiet --wait --collect "$io" --service-type=exec --unit="{units.name}-manage-$$" \\',
            f"  {quoted} \\",
            f'  -- {python}"$pyz" "$@"',
            "",
        ]
    )


def _sh_quote(text: str) -> str:
    """``text`` as one word of a POSIX sh command (single quotes where it needs any)."""
    if text and all(c in _UNQUOTED_PATH_CHARACTERS for c in text):
        return text
    return "'" + text.replace("'", "'\\''") + "'"
