"""``hatch-zipapp deploy``: one release of a ``.pyz`` onto a server, as docs/deployment.md lays it out.

``DIR/releases/*.pyz`` (the releases, with their ``.sha256``), ``DIR/current.pyz`` (a symbolic link to one of them:
what the units run) and ``DIR/extracted/`` (the prepared root the units read: ``hatch-zipapp systemd --pyz
DIR/current.pyz --prepared-root DIR/extracted``). The steps, in order, each one line of output: lock → fetch and
sha256 → verify → prepare → checks (as the service's user, through ``NAME-manage``) → switch ``current.pyz`` →
restart and wait until healthy (else switch back) → remove the releases beyond the last K.

``DIR/deploy.json`` records the release being deployed, the one it replaces and how far it got, written (atomically)
before ``current.pyz`` changes: a deploy killed at any step and run again finishes the job, and the release already
current and recorded healthy is "nothing to do". Runs on a server with the standard library alone (Debian's
``python3``, ``PYTHONPATH`` naming a checkout's ``src``): no import of the build side.
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import json
import math
import os
import posixpath
import shlex
import shutil
import signal
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from hatch_zipapp.bootstrap.documents import (
    BUILD_ID,
    DJANGO_ENTRY_POINT,
    ENTRY_POINT,
    ENVIRONMENT_JSON,
    NAME,
    ZIPAPP_KEEP,
    ZIPAPP_PREPARE,
    ZIPAPP_ROOT,
    BootstrapError,
    environment,
)
from hatch_zipapp.errors import DeployError, SystemdError, ZipappError
from hatch_zipapp.pyz.verify import verify

if TYPE_CHECKING:
    from hatch_zipapp.bootstrap.documents import Environment

__all__ = ["DJANGO_CHECKS", "STATE_FILE", "Request", "State", "check_request", "deploy"]

#: The checks of a Django site when none are given: Django's deployment checks (errors only: a warning such as an
#: unset HSTS does not stop a release), then its migrations, both as the service's user before the switch.
DJANGO_CHECKS = ("check --deploy --fail-level ERROR", "migrate --noinput")
STATE_FILE = "deploy.json"
LOCK_FILE = ".deploy.lock"
#: The states a deploy records: before the switch, once healthy, while switching back.
SWITCHING, HEALTHY, ROLLING_BACK, FAILED = "switching", "healthy", "rolling-back", "failed"
#: Releases kept besides the one deployed, the one before it and any older ones up to ``--keep``: the runtime keeps
#: this many extractions when preparing, so the ones the retention step keeps are still there.
_SIDECARS = (".sha256", ".cdx.json")
#: A check's or the preparation's longest run (a migration of a large table can take minutes).
_STEP_TIMEOUT = 1800.0


@dataclass(frozen=True)
class Request:
    """What to deploy, where, and how to know it works (the command's arguments)."""

    source: str
    directory: Path
    name: str = ""  # default: DIR's name
    services: tuple[str, ...] = ()  # default: NAME.service
    sha256: str | None = None
    checks: tuple[str, ...] | None = None  # None: a Django site's DJANGO_CHECKS, none for any other application
    health: str | None = None
    health_host: str | None = None
    timeout: float = 60.0
    settle: float = 5.0  # seconds each service must stay up, the same process, once active and healthy
    keep: int = 3
    manage: str | None = None  # default: NAME-manage on PATH
    python: str | None = None  # default: the one `hatch-zipapp systemd` chooses for the release

    @property
    def app(self) -> str:
        return self.name or self.directory.name

    @property
    def units(self) -> tuple[str, ...]:
        named = self.services or (self.app,)
        return tuple(s if "." in s else f"{s}.service" for s in named)


@dataclass
class State:
    """``DIR/deploy.json``: the release deployed (or being deployed), the one before it, how far it got, and every
    release in the order they were deployed (the retention's order)."""

    release: str | None = None
    previous: str | None = None
    state: str = ""
    releases: list[str] = field(default_factory=list)

    @classmethod
    def read(cls, path: Path) -> State:
        try:
            value = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return cls()
        except (OSError, ValueError) as e:
            message = f"{path} cannot be read ({e}): remove it (the next deploy records afresh)"
            raise DeployError(message) from None
        ok = isinstance(value, dict) and all(
            isinstance(value.get(k), (str, type(None))) for k in ("release", "previous")
        )
        releases = value.get("releases") if isinstance(value, dict) else None
        if not ok or not isinstance(value.get("state"), str) or not isinstance(releases, list):
            raise DeployError(f"{path} is not a deploy record: remove it (the next deploy records afresh)")
        from hatch_zipapp.deploy.fetch import _NAME

        for name in [value["release"], value["previous"], *releases]:  # current.pyz is switched to one of them
            if name is not None and not (isinstance(name, str) and _NAME.fullmatch(name)):
                message = (
                    f"{path} names {name!r}, not a release in releases/: remove it (the next deploy records afresh)"
                )
                raise DeployError(message)
        return cls(value["release"], value["previous"], value["state"], list(releases))

    def write(self, path: Path) -> None:
        data = {"release": self.release, "previous": self.previous, "state": self.state, "releases": self.releases}
        _write_atomically(path, (json.dumps(data, indent=1) + "\n").encode())


def _write_atomically(path: Path, data: bytes) -> None:
    temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    temporary.unlink(missing_ok=True)  # (a deploy killed here before: never written through)
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    try:
        view = memoryview(data)
        while view:  # os.write may write less than asked (a disk nearly full): never rename a short file into place
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        temporary.unlink(missing_ok=True)
        raise
    os.close(fd)
    os.replace(temporary, path)
    _sync_directory(path.parent)


def _sync_directory(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _usage(message: str) -> DeployError:
    return DeployError(message, status=2)


def check_request(request: Request) -> None:
    """Refuse arguments that cannot work, before anything is touched: one line (exit status 2)."""
    from hatch_zipapp.deploy.systemd import _check_name

    scheme = urllib.parse.urlsplit(request.source).scheme.lower() if "://" in request.source else ""
    if scheme and scheme not in {"http", "https"}:
        raise _usage(
            f"{request.source!r} is a {scheme}:// URL: give an http(s) URL or a local path of the .pyz the build wrote"
        )
    directory = os.fspath(request.directory)
    if not directory.startswith("/") or posixpath.normpath(directory) != directory or directory == "/":
        raise _usage(
            f"--dir {directory!r} is not an absolute, normal path: give the site's directory, e.g. /srv/mysite"
        )
    try:
        _check_name(request.app)
    except SystemdError as e:
        hint = "" if request.name else f" (--name defaults to the name of --dir {directory})"
        raise _usage(f"{e}{hint}") from None
    for unit in request.services:
        if not unit or unit.startswith("-") or "/" in unit or any(c.isspace() for c in unit):
            raise _usage(f"--service {unit!r} is not a unit name: give one such as {request.app}.service")
    if request.sha256 is not None and (len(request.sha256) != 64 or request.sha256.lower().strip("0123456789abcdef")):
        raise _usage(f"--sha256 {request.sha256!r} is not a sha256 (64 hexadecimal digits): copy it from the .sha256")
    if not (math.isfinite(request.timeout) and request.timeout > 0):
        raise _usage(f"--timeout {request.timeout!r} is not a number of seconds above 0: e.g. --timeout 60")
    if not (math.isfinite(request.settle) and 0 <= request.settle <= request.timeout):
        raise _usage(
            f"--settle {request.settle!r} is not a number of seconds from 0 to --timeout ({request.timeout:g}): "
            "e.g. --settle 5"
        )
    if request.keep < 2:
        raise _usage(f"--keep {request.keep} keeps fewer than 2 releases: the previous one is kept for a rollback")
    source = urllib.parse.urlsplit(request.source)
    if source.scheme.lower() == "http" and request.sha256 is None and not _loopback(source.hostname or ""):
        from hatch_zipapp.deploy.fetch import shown

        message = (
            f"SOURCE {shown(request.source)} is plain http and no --sha256 pins it: anyone on the way could serve "
            f"another release and its .sha256 (deploy runs the release as root to prepare it): use https, or pass "
            f"--sha256 HEX (the build's .sha256)"
        )
        raise _usage(message)
    if request.health is not None:
        url = urllib.parse.urlsplit(request.health)
        if url.scheme not in {"http", "https"} or not url.hostname:
            raise _usage(f"--health {request.health!r} is not an http(s) URL: e.g. --health http://127.0.0.1:8000/")
    for check in request.checks or ():
        try:
            words = shlex.split(check)
        except ValueError as e:
            raise _usage(f"--check {check!r} cannot be split into arguments: {e}") from None
        if not words:
            raise _usage("--check '' names no command: e.g. --check 'migrate --noinput', or --no-check for none")
    if request.python is not None and not request.python.startswith("/"):
        raise _usage(f"--python {request.python!r} is not an absolute path: e.g. --python /usr/bin/python3")


def _loopback(host: str) -> bool:
    """Whether ``host`` is this machine (no one on the way to it)."""
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def deploy(request: Request, say: Callable[[str], None]) -> None:
    """Deploy ``request.source`` into ``request.directory``; each step says one line; :class:`DeployError` (one line,
    with the fix) for anything that stops it, ``current.pyz`` then on a release that passed its checks."""
    check_request(request)
    site = Site(request, say)
    site.preconditions()
    with site.locked():
        site.run()


class Site:
    """One deploy's work on ``DIR``: the steps, in order (:meth:`run`)."""

    def __init__(self, request: Request, say: Callable[[str], None]) -> None:
        self.request, self.say = request, say
        self.directory = request.directory
        self.releases = self.directory / "releases"
        self.extracted = self.directory / "extracted"
        self.current = self.directory / "current.pyz"
        self.state_path = self.directory / STATE_FILE

    # -- before the lock ---------------------------------------------------------------------------------------------

    def preconditions(self) -> None:
        if not self.directory.is_dir():
            message = (
                f"--dir {self.directory} is not a directory: create it first (install -d {self.releases}), with "
                f"the units written by `hatch-zipapp systemd --pyz {self.current} --prepared-root {self.extracted}`"
            )
            raise DeployError(message, status=2)
        if os.geteuid() != 0:
            raise DeployError("deploy runs as root (it prepares the release and restarts services): run it with sudo")
        if shutil.which("systemctl") is None:
            raise DeployError("no systemctl on PATH: deploy restarts the services through systemd (a systemd host)")
        self.trusted(self.directory, os.stat(self.directory))
        from hatch_zipapp.bootstrap.roots import check_above

        try:
            check_above(os.fspath(self.directory))  # (a directory above, another user's, could swap DIR for theirs)
        except BootstrapError as e:
            raise DeployError(str(e)) from None

    def trusted(self, directory: Path, st: os.stat_result) -> None:
        """Refuse a directory another user could write in (root follows links and truncates files there)."""
        from hatch_zipapp.bootstrap.roots import untrusted

        why = untrusted(st)
        if why is not None:
            message = (
                f"{directory} is unsafe: {why}, so another user could plant links where deploy writes as root: "
                f"chown root:root {directory} && chmod go-w {directory}"
            )
            raise DeployError(message)

    def directories(self) -> None:
        """``releases/`` and ``extracted/``: real directories (not links out of DIR), mode 0755 whatever the umask
        (the service's user reads the release through ``current.pyz``)."""
        for directory in (self.releases, self.extracted):
            with contextlib.suppress(FileExistsError):
                os.mkdir(directory, 0o755)
                os.chmod(directory, 0o755)  # noqa: S103 - the service's user reads the releases
            st = os.lstat(directory)
            if not stat.S_ISDIR(st.st_mode):
                link = stat.S_ISLNK(st.st_mode)
                what = f"a symbolic link (to {os.readlink(directory)})" if link else "not a directory"
                message = f"{directory} is {what}: deploy writes only inside --dir: move it aside (deploy makes it)"
                raise DeployError(message)
            self.trusted(directory, st)
        # What a deploy killed mid-step left (under the lock: no other deploy is writing them).
        for pattern in (f"{self.releases.name}/.*.part", f".{STATE_FILE}.tmp-*", f".{self.current.name}.tmp-*"):
            for leftover in self.directory.glob(pattern):
                leftover.unlink(missing_ok=True)

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """``DIR/.deploy.lock``: one deploy at a time; a second one waits (saying so once), then runs."""
        from hatch_zipapp.bootstrap.locks import held_by

        path = self.directory / LOCK_FILE
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        except OSError as e:
            message = f"{path} cannot be opened ({e.strerror}): remove it (deploy makes it, a regular file)"
            raise DeployError(message) from None
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise DeployError(f"{path} is not a regular file: remove it (deploy makes it)")
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = held_by(os.fspath(path))
                if not holder.startswith("PID"):  # /proc/locks cannot tell (an overlay file system): as it wrote
                    written = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
                    holder = f"PID {written}" if written.isdigit() else holder
                self.say(f"waiting for another deploy to finish ({holder} holds {path})")
                fcntl.flock(fd, fcntl.LOCK_EX)
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
            self.say(f"locked {path}")
            yield
        finally:
            os.close(fd)

    # -- the steps ---------------------------------------------------------------------------------------------------

    def run(self) -> None:
        request = self.request
        self.directories()
        state = State.read(self.state_path)
        path = self.fetch()
        name = path.name
        current = self.current_release()
        if current == name and state.release == name and state.state == HEALTHY:
            self.say(f"{name} is current and was deployed healthy: nothing to do")
            return
        self.verify(path)
        env = read_environment(path)
        self.prepare(path, env)
        self.checks(path, env, current)
        if state.release == name and state.state != HEALTHY:  # a deploy of it cut short: what it replaced
            previous = state.previous
        else:
            previous = current if current != name else None
        releases = [r for r in state.releases if r != name] + [name]
        state = State(name, previous, SWITCHING, releases)
        state.write(self.state_path)
        self.switch(name, previous)
        failure = self.restart(request.timeout)
        if failure is not None:
            self.roll_back(state, failure)
        state.state = HEALTHY
        state.write(self.state_path)
        self.retain(state)

    def fetch(self) -> Path:
        from hatch_zipapp.deploy.fetch import fetch

        request = self.request
        try:
            fetched = fetch(request.source, self.releases, sha256=request.sha256, say=self.say)
        except (ZipappError, OSError) as e:
            raise DeployError(f"fetch: {e}") from None
        return fetched.path

    def verify(self, path: Path) -> None:
        problems = verify(path)
        if problems:
            for line in [*_sidecars(path), path]:
                line.unlink(missing_ok=True)
            count = f"{len(problems)} problem{'s' if len(problems) > 1 else ''}"
            message = (
                f"verify: {path} is NOT the file that was built ({count}; the first: {problems[0]}): removed, "
                f"current.pyz unchanged; run `hatch-zipapp verify` on the published file"
            )
            raise DeployError(message)
        self.say(f"verified {path.name}: every member matches its record")

    def interpreter(self, path: Path) -> list[str]:
        """How the release is run as root: the interpreter `hatch-zipapp systemd` writes in its unit, and the file."""
        from hatch_zipapp.deploy.systemd import read_defaults

        if self.request.python is not None:
            return [self.request.python, os.fspath(path)]
        try:
            defaults = read_defaults(path)
        except SystemdError as e:
            raise DeployError(f"prepare: {e}") from None
        if defaults.embedded is not None:
            return [os.fspath(path)]
        python = f"/usr/bin/python{defaults.python_version or '3'}"
        if not os.path.exists(python):
            message = (
                f"prepare: {path.name} is for {defaults.reason.rpartition(' for ')[2]}, and {python} is not "
                f"installed: install it (apt-get install python{defaults.python_version or '3'}) or name one with "
                f"--python"
            )
            raise DeployError(message)
        return [python, os.fspath(path)]

    def prepare(self, path: Path, env: Environment) -> None:
        command = self.interpreter(path)
        variables = {
            **os.environ,
            ZIPAPP_ROOT: os.fspath(self.extracted),
            ZIPAPP_PREPARE: "1",
            ZIPAPP_KEEP: str(self.request.keep + 2),  # the retention step removes what it does not keep
        }
        result = _run(command, env=variables)
        if result.returncode != 0:
            last = _last_line(result.stdout) or f"exit status {result.returncode}"
            message = f"prepare: {' '.join(command)} failed: {last}; current.pyz unchanged"
            raise DeployError(message)
        self.say(f"prepared {self.extracted / _key(env)}")

    def checks(self, path: Path, env: Environment, current: str | None) -> None:
        request = self.request
        if request.checks is not None:
            checks = request.checks
        else:
            checks = DJANGO_CHECKS if env.get(ENTRY_POINT) == DJANGO_ENTRY_POINT else ()
        if not checks:
            self.say(f"no checks to run for {path.name} (--check CMD names one)")
            return
        manage = request.manage or shutil.which(
            f"{request.app}-manage", path=os.pathsep.join([os.environ.get("PATH", ""), "/usr/local/sbin"])
        )
        if manage is None or not os.access(manage, os.X_OK):
            where = f"--manage {request.manage} is not an executable file" if request.manage else (
                f"no {request.app}-manage on PATH"
            )  # fmt: skip
            message = (
                f"checks: {where}: write it with `hatch-zipapp systemd --name {request.app} --pyz {self.current} "
                f"--prepared-root {self.extracted} -o deploy/` and install it (install -m 0755 "
                f"deploy/{request.app}-manage /usr/local/sbin/), or deploy with --no-check"
            )
            raise DeployError(message)
        for check in checks:
            shown = f"{os.path.basename(manage)} --pyz {path} {check}"
            result = _run([manage, "--pyz", os.fspath(path), *shlex.split(check)])
            if result.returncode != 0:
                sys.stderr.write(
                    result.stdout if result.stdout.endswith("\n") or not result.stdout else result.stdout + "\n"
                )
                stays = f"{self.current.name} stays on {current}" if current else f"{self.current.name} not made"
                configuration = f"/etc/{request.app}/env, /etc/{request.app}/secret_key"
                message = (
                    f"check failed (exit status {result.returncode}, its output above): {shown}; {stays}. Fix the "
                    f"release or its configuration ({configuration}), or choose the checks with --check CMD (or "
                    f"--no-check)"
                )
                raise DeployError(message)
            self.say(f"check passed: {shown}")

    def current_release(self) -> str | None:
        """The release ``current.pyz`` links to (its file name in ``releases/``), or None."""
        try:
            target = os.readlink(self.current)
        except FileNotFoundError:
            return None
        except OSError as e:
            message = f"{self.current} is not a symbolic link ({e.strerror}): move it aside; deploy makes the link"
            raise DeployError(message) from None
        return os.path.basename(target)

    def switch(self, name: str | None, previous: str | None) -> None:
        """``current.pyz`` → ``releases/NAME`` in one rename (a start reads one release or the other, whole)."""
        if name is None:
            self.current.unlink(missing_ok=True)
            _sync_directory(self.directory)
            return
        temporary = self.directory / f".current.pyz.tmp-{os.getpid()}"
        temporary.unlink(missing_ok=True)
        os.symlink(self.releases / name, temporary)
        os.replace(temporary, self.current)
        _sync_directory(self.directory)
        self.say(f"switched {self.current} to releases/{name} (was {previous or 'none'})")

    def restart(self, timeout: float) -> tuple[str, str] | None:
        """Restart the services and wait until each is active (and the health URL answers), for at most ``timeout``
        seconds: None, or (the unit to look at, what failed)."""
        units = self.request.units
        deadline = time.monotonic() + timeout
        # A deploy restarts on purpose: systemd's start limit (5 starts in 10 s by default), reached by deploys and
        # rollbacks in a row, would refuse the start ('start-limit-hit'); reset-failed clears it.
        _run(["systemctl", "reset-failed", *units], timeout=30)
        result = _run(["systemctl", "restart", *units], timeout=timeout + 30)
        if result.returncode == 0:
            self.say(f"restarted {', '.join(units)}")
        return self.wait(deadline)

    def wait(self, deadline: float) -> tuple[str, str] | None:
        request = self.request
        started: dict[str, tuple[str, str]] = {}  # unit -> (MainPID, NRestarts) when it became active
        for unit in request.units:
            while True:
                state = _run(["systemctl", "is-active", unit], timeout=30).stdout.strip() or "unknown"
                if state == "active":
                    started[unit] = _process(unit)
                    break
                if state in {"failed", "inactive"}:  # it stopped trying
                    return unit, f"{unit} is {state}, not active, after its restart"
                if time.monotonic() >= deadline:
                    return unit, f"{unit} is {state}, not active, {request.timeout:g} s after its restart"
                time.sleep(0.5)
        settled = time.monotonic() + request.settle
        answered = ""
        if request.health is not None:
            host = request.health_host or self.allowed_host()
            while True:
                answered = _probe(request.health, host, max(1.0, min(10.0, deadline - time.monotonic())))
                if answered.startswith(("1", "2", "3")):
                    break
                if time.monotonic() >= deadline:
                    where = f"{request.health} (Host: {host})" if host else request.health
                    return request.units[0], f"{where} {answered} within {request.timeout:g} s"
                time.sleep(0.5)
            answered = f"; {request.health} answered {answered}"
        # Still up, as the same process (a Type=exec worker is "active" the moment it is started, and one that dies
        # at once is restarted by systemd: active again, another PID, NRestarts one more).
        time.sleep(max(0.0, settled - time.monotonic()))
        for unit in request.units:
            state = _run(["systemctl", "is-active", unit], timeout=30).stdout.strip()
            if state != "active":
                return unit, f"{unit} is {state}, not active, {request.settle:g} s after it started"
            now = _process(unit)
            if now != started[unit]:
                (pid, restarts), (pid_now, restarts_now) = started[unit], now
                return unit, (
                    f"{unit} did not stay up: its process {pid} was replaced by {pid_now} (restarted "
                    f"{_count(restarts_now, restarts)}) within {request.settle:g} s of its start"
                )
        self.say(f"{', '.join(request.units)} active{answered}")
        return None

    def allowed_host(self) -> str | None:
        """The first of ``ALLOWED_HOSTS`` in ``/etc/NAME/env`` (Django answers 400 to any other Host)."""
        try:
            text = Path("/etc", self.request.app, "env").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return None
        for line in text.splitlines():
            key, _, value = line.strip().partition("=")
            if key.strip() == "ALLOWED_HOSTS":
                first = value.strip().strip("'\"").split(",")[0].strip()
                return first.lstrip(".") or None if first != "*" else None
        return None

    def roll_back(self, state: State, failure: tuple[str, str]) -> None:
        """Switch back to the release before, restart, wait; always a :class:`DeployError` naming what failed."""
        unit, reason = failure
        name, previous = state.release, state.previous
        journal = _run(["journalctl", "-u", unit, "-n", "20", "--no-pager"], timeout=30).stdout
        if journal:
            sys.stderr.write(journal if journal.endswith("\n") else journal + "\n")
        self.say(f"{name} failed: {reason}: rolling back to {previous or 'nothing'}")
        state.state = ROLLING_BACK
        state.write(self.state_path)
        if previous is None:
            self.switch(None, name)
            _run(["systemctl", "stop", *self.request.units], timeout=120)
            state.release, state.state = None, FAILED
            state.write(self.state_path)
            message = (
                f"{name} failed ({reason}; the journal of {unit} above) and there is no release before it: "
                f"{self.current} removed and {', '.join(self.request.units)} stopped; fix the release and deploy again"
            )
            raise DeployError(message)
        self.switch(previous, name)
        again = self.restart(self.request.timeout)
        if again is not None:
            message = (
                f"{name} failed ({reason}), and {previous}, switched back to, fails too ({again[1]}): see "
                f"`journalctl -u {again[0]}`"
            )
            raise DeployError(message)
        state.release, state.previous, state.state = previous, None, HEALTHY
        state.write(self.state_path)
        message = (
            f"{name} failed: {reason} (the journal of {unit} above); rolled back to {previous}, which is live. Fix "
            f"the release and deploy again"
        )
        raise DeployError(message)

    def retain(self, state: State) -> None:
        """Keep the last ``--keep`` releases (by deploy order; the one deployed and the one before it always), remove
        the others with their ``.sha256``/``.cdx.json`` and their extractions."""
        present = {p.name: p for p in self.releases.glob("*.pyz") if p.is_file() and not p.is_symlink()}
        unrecorded = sorted((p.stat().st_mtime, n) for n, p in present.items() if n not in state.releases)
        order = [n for _, n in unrecorded] + [n for n in state.releases if n in present]
        kept = set(order[-self.request.keep :]) | {n for n in (state.release, state.previous) if n}
        doomed = [n for n in order if n not in kept]
        if not doomed:
            self.say(f"kept {', '.join(n for n in order if n in kept)}: nothing to remove")
            return
        in_use = {_key(e) for e in map(_environment_or_none, (present[n] for n in kept if n in present)) if e}
        removed_extractions = []
        for name in doomed:
            env = _environment_or_none(present[name])
            if env is not None and _key(env) not in in_use:
                key = _key(env)
                if _remove_extraction(self.extracted, key):
                    removed_extractions.append(key)
            for path in [*_sidecars(present[name]), present[name]]:
                path.unlink(missing_ok=True)
        state.releases = [n for n in state.releases if n not in doomed]
        state.write(self.state_path)
        extractions = f" and {', '.join(removed_extractions)} from {self.extracted}" if removed_extractions else ""
        self.say(f"kept {', '.join(n for n in order if n in kept)}; removed {', '.join(doomed)}{extractions}")


def read_environment(path: Path) -> Environment:
    """The release's ``environment.json``, read from the zip as the runtime reads it (never by running the file)."""
    from hatch_zipapp.bootstrap.zipread import Reader, directory, read_member

    try:
        with Reader(os.fspath(path)) as reader:
            members = directory(reader, 0, reader.size(), path.name, prefix=True)[1]
            found = [m for m in members if m[0] == ENVIRONMENT_JSON]
            if not found:
                raise DeployError(f"{path} has no {ENVIRONMENT_JSON}: it is not a .pyz built by hatch-zipapp")
            return environment(read_member(reader, found[0]))
    except (BootstrapError, OSError) as e:
        raise DeployError(f"{path} cannot be read as a .pyz built by hatch-zipapp ({e})") from None


def _environment_or_none(path: Path) -> Environment | None:
    try:
        return read_environment(path)
    except DeployError:
        return None


def _key(env: Environment) -> str:
    """The extraction's name in a root: ``NAME_BUILDID`` (bootstrap/runtime.py)."""
    return f"{env[NAME]}_{env[BUILD_ID]}"


def _remove_extraction(root: Path, key: str) -> bool:
    """Set ``root/key`` aside (one rename: no start sees it half-deleted) and delete it, and its lock file."""
    from hatch_zipapp.bootstrap.atomic import remove_tree, set_aside

    if not (root / key).is_dir():
        return False
    aside = set_aside(os.fspath(root), key)
    if aside is None:
        return False
    remove_tree(aside)
    (root / f".{key}.lock").unlink(missing_ok=True)
    return True


def _sidecars(path: Path) -> list[Path]:
    return [path.with_name(path.name + suffix) for suffix in _SIDECARS]


def _run(command: Sequence[str], *, env: dict[str, str] | None = None, timeout: float = _STEP_TIMEOUT) -> _Result:
    """``command``'s exit status and output (stderr with stdout); a command not found or too slow is a failure. It
    runs in a process group of its own, stopped whole when too slow (or when the deploy is interrupted): nothing it
    started (a prepare's or a check's children, which hold its output open) is left running as root."""
    try:
        process = subprocess.Popen(
            list(command),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    except OSError as e:
        return _Result(127, f"{command[0]}: {e.strerror}\n")
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _stop_group(process)
        output, _ = process.communicate()
        return _Result(
            124, output.decode(errors="replace") + f"{command[0]}: still running after {timeout:g} s, stopped\n"
        )
    except BaseException:  # (an interrupted deploy: its Ctrl-C no longer reaches the group)
        _stop_group(process)
        process.communicate()
        raise
    finally:
        _stop_group(process)  # (the command exited; what it left in its group has not)
    return _Result(process.returncode, output.decode(errors="replace"))


def _stop_group(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


@dataclass(frozen=True)
class _Result:
    returncode: int
    stdout: str


def _process(unit: str) -> tuple[str, str]:
    """The unit's main process and how many times systemd restarted it: ``(MainPID, NRestarts)``."""
    shown = _run(["systemctl", "show", "-p", "MainPID", "-p", "NRestarts", unit], timeout=30).stdout
    values = dict(line.partition("=")[::2] for line in shown.splitlines())
    return values.get("MainPID", "").strip(), values.get("NRestarts", "").strip()


def _count(now: str, before: str) -> str:
    try:
        times = int(now) - int(before)
    except ValueError:
        return "by systemd"
    return f"{times} time{'s' if times != 1 else ''} by systemd" if times > 0 else "by systemd"


def _last_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None  # a 3xx is an answer: the site is up


def _probe(url: str, host: str | None, timeout: float) -> str:
    """``"200"`` (the status, as text), or what went wrong (``"answered 502"``, ``"did not answer (...)"``)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect())
    request = urllib.request.Request(url, headers={"Host": host} if host else {})  # noqa: S310 - http(s), checked
    try:
        with opener.open(request, timeout=timeout) as response:
            return str(response.status)
    except urllib.error.HTTPError as e:
        return str(e.code) if e.code < 400 else f"answered {e.code}"
    except (urllib.error.URLError, OSError, ValueError) as e:
        reason = getattr(e, "reason", e)
        return f"did not answer ({reason})"
