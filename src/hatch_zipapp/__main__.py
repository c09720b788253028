"""`hatch-zipapp` (or `python -m hatch_zipapp`): the commands a build machine needs besides `hatch build`.

hatch-zipapp lock [--format pylock|requirements] [-o FILE] [--project DIR] [-- TOOL ARGS...]
hatch-zipapp info|verify FILE.pyz
hatch-zipapp links FILE.pyz DIR [--script NAME ...]
hatch-zipapp systemd --name NAME --pyz PATH ...
hatch-zipapp deploy SOURCE --dir /srv/NAME ...

Import-light: `deploy` (and `systemd`) run on a server with Debian's python3 alone (`python3 -m hatch_zipapp`,
PYTHONPATH naming a checkout's src): what needs the build side (packaging, hatchling, uv) is imported by the command
that uses it.
"""

from __future__ import annotations

import argparse
import dataclasses
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

__all__ = ["main"]


def _lock(options: argparse.Namespace) -> int:
    from packaging.specifiers import SpecifierSet

    from hatch_zipapp.lock import find_uv, python_floor, requires_python

    project = Path(options.project).resolve()
    pyproject = project / "pyproject.toml"
    if not pyproject.is_file():
        print(f"hatch-zipapp lock: no pyproject.toml in {project}", file=sys.stderr)
        return 2
    extra = [arg for arg in options.tool_args if arg != "--"]
    specifier = requires_python(pyproject)
    try:
        floor = python_floor(specifier) if specifier else None
    except ValueError as e:
        print(f"hatch-zipapp lock: {pyproject}: requires-python = {specifier!r} is not valid: {e}", file=sys.stderr)
        return 2
    if specifier and floor is None:
        print(f"hatch-zipapp lock: {pyproject}: requires-python = {specifier!r} allows no Python 3", file=sys.stderr)
        return 2
    output = options.output or ("pylock.toml" if options.format == "pylock" else "requirements.txt")
    directory = (project / output).parent
    if not directory.is_dir():
        what = (
            "is not a directory: name another"
            if directory.exists()
            else "does not exist: create it first, or name another"
        )
        print(f"hatch-zipapp lock: -o {output}: {directory} {what}", file=sys.stderr)
        return 2
    if options.format == "pylock":
        uv = find_uv()
        if uv is None:
            print(
                f"hatch-zipapp lock: a universal pylock.toml is made by uv, which is not installed: "
                f"{_add_extra('uv')} (or `--format requirements` for a pip-compile lock)",
                file=sys.stderr,
            )
            return 2
        command = [uv, "pip", "compile", "--universal", "--generate-hashes", "--quiet", "-o", output]
        if floor and not any(arg.startswith("--python-version") for arg in extra):
            # The universal lock starts at the project's floor, not at the Python running uv (uv's default).
            command += ["--python-version", floor]
        command += [*extra, "pyproject.toml"]
    else:
        try:  # run below as `python -m piptools`; imported here to say so when it is missing
            import piptools  # noqa: F401
        except ImportError:
            print(
                f"hatch-zipapp lock: --format requirements is made by pip-compile (pip-tools), which is not "
                f"installed: {_add_extra('pip-tools')} (or the default --format pylock, made by uv)",
                file=sys.stderr,
            )
            return 2
        running = ".".join(map(str, sys.version_info[:3]))
        minor = ".".join((floor or "3").split(".")[:2])
        if specifier and not SpecifierSet(specifier).contains(running, prereleases=True):
            print(
                f"hatch-zipapp lock: pip-compile locks for the Python running it ({running}), which the project's "
                f"requires-python = {specifier!r} excludes: run `python{minor} -m hatch_zipapp lock --format "
                f"requirements` with hatch-zipapp installed there, or use the default --format pylock (uv)",
                file=sys.stderr,
            )
            return 2
        command = [sys.executable, "-m", "piptools", "compile", "--generate-hashes", "--quiet", "--output-file", output]
        command += ["--strip-extras", *extra, "pyproject.toml"]
    result = subprocess.run(command, cwd=project, check=False)
    if result.returncode == 0:
        print(f"hatch-zipapp lock: wrote {project / output}")
    return result.returncode


def _add_extra(extra: str) -> str:
    """The command that adds the packages of hatch-zipapp's ``extra`` to the environment this command runs from, the
    way it was installed (docs/installation.md): a uv tool (`uv tool install <checkout>`: its `uv-receipt.toml`),
    pipx (`pipx_metadata.json`), else this interpreter's pip. The extra itself (`hatch-zipapp[uv]`) needs
    hatch-zipapp on the package index."""
    import importlib.metadata
    import json
    import shlex
    import urllib.parse

    from packaging.requirements import Requirement

    try:
        requirements = importlib.metadata.requires("hatch-zipapp") or []
        origin = json.loads(importlib.metadata.distribution("hatch-zipapp").read_text("direct_url.json") or "{}")
    except (importlib.metadata.PackageNotFoundError, ValueError):
        requirements, origin = [], {}
    packages = []
    for text in requirements:
        requirement = Requirement(text)
        marker, requirement.marker = requirement.marker, None
        if marker is not None and marker.evaluate({"extra": extra}) and not marker.evaluate({"extra": ""}):
            packages.append(str(requirement))
    named = " ".join(shlex.quote(package) for package in packages or [extra])
    prefix = Path(sys.prefix)
    if (prefix / "uv-receipt.toml").is_file():
        url = urllib.parse.urlsplit(str(origin.get("url", "")) if isinstance(origin, dict) else "")
        source = urllib.parse.unquote(url.path) if url.scheme == "file" else "hatch-zipapp"
        withs = " ".join(f"--with {package}" for package in named.split(" "))
        return f"`uv tool install {withs} {shlex.quote(source)}`"
    if (prefix / "pipx_metadata.json").is_file():
        return f"`pipx inject hatch-zipapp {named}`"
    return f"`{shlex.quote(sys.executable)} -m pip install {named}`"


def _not_a_file(path: Path) -> str:
    """Why ``path`` cannot be read as a .pyz ("" when it is a file): it does not exist, it is a directory (with the
    .pyz files in it named), or not a regular file."""
    if path.is_file():
        return ""
    if not path.exists():
        return f"{path} does not exist"
    if not path.is_dir():
        return f"{path} is not a regular file: name the .pyz itself"
    try:
        inside = sorted(p.name for p in path.iterdir() if p.suffix == ".pyz" and p.is_file())
    except OSError:
        inside = []
    held = f" (it holds {', '.join(inside[:3])}{', ...' if len(inside) > 3 else ''})" if inside else ""
    return f"{path} is a directory, not a .pyz: name the .pyz file in it{held}"


def _info(options: argparse.Namespace) -> int:
    import zipfile

    from hatch_zipapp.bootstrap.documents import INFO_JSON

    if problem := _not_a_file(Path(options.file)):
        print(f"hatch-zipapp info: {problem}", file=sys.stderr)
        return 2
    try:
        with zipfile.ZipFile(options.file) as archive:
            text = archive.read(INFO_JSON).decode("utf-8")
    except (OSError, zipfile.BadZipFile, KeyError, UnicodeDecodeError) as e:
        print(f"hatch-zipapp info: {options.file} is not a .pyz built by hatch-zipapp ({e})", file=sys.stderr)
        return 2
    sys.stdout.write(text)
    for line in _pure_python_notes(text):
        print(f"hatch-zipapp info: {line}", file=sys.stderr)
    return 0


def _pure_python_notes(text: str) -> list[str]:
    """One line for each embedded distribution whose pure-Python wheel the .pyz has where the lock has compiled ones
    (``pure_python`` in its record): stdout stays the JSON document alone."""
    import json

    from hatch_zipapp.bootstrap.documents import DIST_PURE_PYTHON, INFO_DISTRIBUTIONS

    try:
        distributions = json.loads(text).get(INFO_DISTRIBUTIONS) or []
    except (ValueError, AttributeError):
        return []
    notes = []
    for dist in distributions:
        fallback = dist.get(DIST_PURE_PYTHON) if isinstance(dist, dict) else None
        if not isinstance(fallback, dict):
            continue
        platforms = ", ".join(fallback.get("lock") or [])
        allowed = " (allowed by `pure-python-ok`)" if fallback.get("allowed") else ""
        notes.append(
            f"{dist.get('name')} {dist.get('version')} is its pure-Python wheel "
            f"({dist.get('built_wheel') or dist.get('file')}), without compiled code, where the lock has compiled "
            f"wheels of it for {platforms}{allowed}"
        )
    return notes


def _verify(options: argparse.Namespace) -> int:
    from hatch_zipapp.pyz.verify import verify

    pyz = Path(options.file)
    if problem := _not_a_file(pyz):
        print(f"hatch-zipapp verify: {problem}", file=sys.stderr)
        return 2
    checksum = Path(options.sha256) if options.sha256 else None
    if checksum is not None and not checksum.is_file():
        print(
            f"hatch-zipapp verify: --sha256 {checksum}: no such file (name the .sha256 published with the .pyz)",
            file=sys.stderr,
        )
        return 2
    beside = pyz.with_name(pyz.name + ".sha256")
    if checksum is None and not beside.is_file():
        print(
            f"hatch-zipapp verify: no {beside.name} beside {pyz}: checking it against its own record only "
            "(download the .sha256 published with it, or name it with --sha256)"
        )
    problems = verify(pyz, checksum)
    for problem in problems:
        print(f"hatch-zipapp verify: {problem}", file=sys.stderr)
    if problems:
        count = f"{len(problems)} problem{'s' if len(problems) > 1 else ''}"
        print(f"hatch-zipapp verify: {pyz} is NOT the file that was built ({count})", file=sys.stderr)
        return 1
    print(f"hatch-zipapp verify: {pyz}: every member matches its record")
    return 0


def _links(options: argparse.Namespace) -> int:
    """A link per console script of the .pyz in DIR (the runtime's ``ZIPAPP_LINKS=DIR`` does the same on a server)."""
    import zipfile

    from hatch_zipapp.bootstrap.documents import ENVIRONMENT_JSON, BootstrapError, environment
    from hatch_zipapp.bootstrap.runtime import links, say

    def fail(message: str) -> int:
        print(f"hatch-zipapp links: {message}", file=sys.stderr)  # stderr escapes what it cannot encode
        return 2

    if problem := _not_a_file(Path(options.file)):
        return fail(problem)
    try:
        with zipfile.ZipFile(options.file) as archive:
            settings = environment(archive.read(ENVIRONMENT_JSON))
        done = links(options.file, settings, options.directory, options.script or None)
    except (OSError, zipfile.BadZipFile, KeyError) as e:
        return fail(f"{options.file} is not a .pyz built by hatch-zipapp ({e})")
    except BootstrapError as e:
        return fail(str(e))
    for line in done:
        say(f"hatch-zipapp links: {line}\n")
    return 0


def _systemd(options: argparse.Namespace) -> int:
    import shlex

    from hatch_zipapp.deploy import confine
    from hatch_zipapp.deploy.systemd import Units, check, check_python, executable, parse_task, read_defaults, render

    def fail(message: str) -> int:
        print(f"hatch-zipapp systemd: {message}", file=sys.stderr)
        return 2

    try:
        tasks = [parse_task(t, timer=False) for t in options.worker] + [
            parse_task(t, timer=True) for t in options.timer
        ]
    except ValueError as e:
        return fail(str(e))
    units = Units(
        name=options.name,
        pyz=options.pyz,
        python=options.python or "/usr/bin/python3",
        socket=options.socket,
        relax=frozenset(options.relax),
        prepared_root=options.prepared_root,
        tasks=tasks,
    )
    try:
        command = shlex.split(options.pyz_command) if options.pyz_command is not None else None
    except ValueError as e:
        return fail(f"--command {options.pyz_command!r} cannot be split into arguments: {e}")
    notes: list[tuple[str, bool]] = []  # (line, to stderr): printed once everything is known to be valid
    given = [(option, value) for option in _CONFINE_OPTIONS for value in getattr(options, option[2:].replace("-", "_"))]
    if given and not options.confine:
        option, value = given[0]
        return fail(f"{option} {value!r} says what a confined site may do: add --confine (docs/security.md)")
    try:
        asked = confine.Confinement(
            tuple(sorted({confine.check_write(v, f"--write {v!r}") for v in options.write})),
            tuple(sorted({confine.parse_connect(v, f"--connect {v!r}") for v in options.connect}, key=str)),
            tuple(sorted({confine.parse_bind(v, f"--bind {v!r}") for v in options.bind}, key=str)),
            tuple(sorted({confine.parse_network(v, f"--allow-network {v!r}") for v in options.allow_network})),
        )
        check(units)  # before reading a .pyz: a bad name or path is the first thing to fix
        local = options.read or (options.pyz if Path(options.pyz).is_file() else None)
        if local is not None:
            defaults = read_defaults(Path(local))
            if options.python is not None:
                check_python(options.python, defaults, str(local))
            if command is None:
                command = defaults.command
            if options.python is None and defaults.embedded is not None:  # it runs itself
                units = dataclasses.replace(units, python="")
            elif options.python is None and defaults.python_version is not None:
                units = dataclasses.replace(units, python=f"/usr/bin/python{defaults.python_version}")
            units = dataclasses.replace(units, command=command)
            notes.append((f"{local} is {defaults.reason}: ExecStart={units.exec_start}", False))
            if options.confine:
                declared = defaults.declared(str(local))
                confine.check_declared(declared, asked.networks, str(local))
                asked = declared.merged(asked)
        else:
            assumed = []
            if command is None:
                command = ["serve"]
                assumed.append("a Django site (`serve`)")
            if options.python is None:
                assumed.append("any Python 3 (/usr/bin/python3)")
            if assumed:
                line = (
                    f"{options.pyz} is not on this machine to read: assuming {' for '.join(assumed)} "
                    f"(name a local copy with --read FILE.pyz, or give --command / --python)"
                )
                notes.append((line, True))
        units = dataclasses.replace(units, command=command, confine=asked if options.confine else None)
        files = render(units)
    except ValueError as e:
        return fail(str(e))
    if units.confine is not None:
        notes += [(line, False) for line in confine.notes(units, units.confine)]
    if units.prepare_command is not None:
        notes.append((f"before each start, as root: {units.prepare_command}", False))
    for line, to_stderr in notes:
        print(f"hatch-zipapp systemd: {line}", file=sys.stderr if to_stderr else sys.stdout)
    output = Path(options.output)
    try:
        output.mkdir(parents=True, exist_ok=True)
        for name, text in files.items():
            (output / name).write_text(text, encoding="utf-8")
            if executable(name):
                (output / name).chmod(0o755)
            print(f"hatch-zipapp systemd: wrote {output / name}")
    except OSError as e:
        return fail(f"cannot write to {output}: {e}; choose another directory with -o")
    if units.tasks:
        services = " ".join(f"--service {s}" for s in units.services)
        directory, _, file = units.pyz.rpartition("/")
        directory = directory if file == "current.pyz" else "DIR"  # the deploy's directory holds current.pyz
        print(f"hatch-zipapp systemd: deploy: hatch-zipapp deploy RELEASE.pyz --dir {directory} {services}")
        # Before a first release the services cannot start; the deploy restarts services, not the timers.
        print(f"hatch-zipapp systemd: after the first deploy, once: systemctl enable --now {units.name}.target")
    return 0


#: The options that say what a confined site may do (each repeatable, each needs --confine).
_CONFINE_OPTIONS = ("--write", "--connect", "--bind", "--allow-network")


def _deploy(options: argparse.Namespace) -> int:
    from hatch_zipapp.deploy.release import Request, deploy
    from hatch_zipapp.errors import DeployError, ZipappError

    def say(line: str) -> None:
        print(f"hatch-zipapp deploy: {line}", flush=True)

    def number(text: str, option: str, kind: type[float] | type[int]) -> float | int:
        try:
            return kind(text)
        except ValueError:
            example = {"--timeout": "60", "--settle": "5"}.get(option, "3")
            raise DeployError(f"{option} {text!r} is not a number: e.g. {option} {example}", status=2) from None

    try:
        request = Request(
            source=options.source,
            directory=Path(options.dir),
            name=options.name or "",
            services=tuple(options.service),
            sha256=options.sha256,
            checks=() if options.no_check else (tuple(options.check) if options.check else None),
            health=options.health,
            health_host=options.health_host,
            timeout=float(number(options.timeout, "--timeout", float)),
            settle=float(number(options.settle, "--settle", float)),
            keep=int(number(options.keep, "--keep", int)),
            manage=options.manage,
            python=options.python,
        )
        deploy(request, say)
    except DeployError as e:
        print(f"hatch-zipapp deploy: {e}", file=sys.stderr, flush=True)
        return e.status
    except (ZipappError, OSError) as e:  # a step's own error (a file that cannot be written, a full disk)
        print(f"hatch-zipapp deploy: {e}", file=sys.stderr, flush=True)
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    from hatch_zipapp import __version__

    parser = argparse.ArgumentParser(prog="hatch-zipapp", description="Tools for hatch-zipapp builds.")
    parser.add_argument("--version", action="version", version=f"hatch-zipapp {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    lock = commands.add_parser(
        "lock",
        help="write a hashed lock of the project's dependencies",
        description=(
            "Write a lock of [project] dependencies with the sha256 of every file: a universal PEP 751 pylock.toml "
            "(every platform and Python version the project supports; made by uv), or a pip-compile requirements "
            "file (for the interpreter running it). Arguments after `--` go to the tool (uv pip compile / pip-compile)."
        ),
    )
    lock.add_argument(
        "--format",
        choices=["pylock", "requirements"],
        default="pylock",
        help="pylock: a universal pylock.toml, made by uv (the default); requirements: a requirements.txt for the "
        "Python running this command, made by pip-compile",
    )
    lock.add_argument("-o", "--output", help="the file to write (default: pylock.toml or requirements.txt)")
    lock.add_argument("--project", default=".", help="the project directory (default: the current one)")
    lock.add_argument("tool_args", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    info = commands.add_parser(
        "info",
        help="print a .pyz's build information as JSON",
        description="Print what a .pyz carries (project, target, lock digest, distributions and their hashes), "
        "as `ZIPAPP_INFO=1 ./app.pyz` does on a server; and on stderr, one line for each package whose pure-Python "
        "wheel it has where the lock has compiled ones.",
    )
    info.add_argument("file", help="the .pyz")
    verify = commands.add_parser(
        "verify",
        help="check a .pyz against its checksum and its embedded record",
        description="Check FILE.pyz against FILE.pyz.sha256 and FILE.pyz.cdx.json (when present; it says when "
        "there is no .sha256) and every byte against the record made at build time: the shebang line, every member, "
        "the zip headers; name every member that differs. Exit status 1 when anything does, 2 when FILE or the "
        "--sha256 file does not exist.",
    )
    verify.add_argument("file", help="the .pyz")
    verify.add_argument("--sha256", help="the checksum file (default: FILE.pyz.sha256 beside it)")
    links = commands.add_parser(
        "links",
        help="link a .pyz's console scripts into a directory (busybox style)",
        description="Make a symbolic link to FILE.pyz in DIR for each console script of its application (the "
        "scripts of the distribution its entry point comes from), or for each --script: a link runs the script it "
        "is named after. A link already there to the same path is kept; anything else in the way is an error, and "
        "nothing is linked. On a server without hatch-zipapp, `ZIPAPP_LINKS=DIR FILE.pyz` does the same.",
    )
    links.add_argument("file", metavar="FILE.pyz", help="the .pyz (linked by its absolute path, symbolic links kept)")

    links.add_argument("directory", metavar="DIR", help="where to make the links, e.g. /usr/local/bin")
    links.add_argument(
        "--script", action="append", default=[], help="a console script to link (repeat; default: the application's)"
    )
    systemd = commands.add_parser(
        "systemd",
        help="write hardened systemd units for a .pyz",
        description="Write NAME.service (and NAME.socket with --socket) running the .pyz as a dynamic user with "
        "CacheDirectory=, StateDirectory=, EnvironmentFile=/etc/NAME/env and LoadCredential=; with --worker and "
        "--timer, the other services of the same .pyz, hardened alike, as the same user, and NAME.target for the set.",
    )
    systemd.add_argument("--name", required=True, help="the unit (and directories') name")
    systemd.add_argument("--pyz", required=True, help="the .pyz's path on the server, e.g. /srv/NAME/current.pyz")
    systemd.add_argument(
        "--read",
        metavar="FILE.pyz",
        help="a local copy of the .pyz, read for its entry point (default: --pyz, when it exists here)",
    )
    systemd.add_argument(
        "--command",
        dest="pyz_command",
        help="arguments to the .pyz, e.g. 'serve --workers 4' (default: from the .pyz's entry point: `serve` for a "
        "Django site, none otherwise; `serve` when the .pyz cannot be read)",
    )
    systemd.add_argument(
        "--python",
        help="the server's interpreter (default: /usr/bin/pythonX.Y for a .pyz built for Python X.Y, else "
        "/usr/bin/python3)",
    )
    systemd.add_argument("--socket", help="ListenStream= for a .socket unit, e.g. 127.0.0.1:8000")
    systemd.add_argument("--relax", action="append", default=[], help="jit, network-namespaces or resources")
    systemd.add_argument(
        "--prepared-root",
        help="a directory the deploy extracts the .pyz into as root (ZIPAPP_PREPARE=1); the service only reads it",
    )
    systemd.add_argument(
        "--worker",
        action="append",
        default=[],
        metavar="SUFFIX=COMMAND",
        help="a long-running command of the same .pyz as NAME-SUFFIX.service (repeat), e.g. 'worker=qcluster', or a "
        "console script of it: 'celery=ZIPAPP_SCRIPT=celery -A mysite worker'",
    )
    systemd.add_argument(
        "--timer",
        action="append",
        default=[],
        metavar="SUFFIX@CALENDAR=COMMAND",
        help="a scheduled command as NAME-SUFFIX.service started by NAME-SUFFIX.timer (OnCalendar=CALENDAR; "
        "repeat), e.g. 'clearsessions@daily=clearsessions'",
    )
    systemd.add_argument(
        "--confine",
        action="store_true",
        help='confine the site to what it declares (the .pyz\'s hatch-zipapp.json "confine", and --write, --connect, '
        "--bind): Landlock by the runtime, systemd's allow-lists, and an AppArmor profile NAME.apparmor "
        "(docs/security.md)",
    )
    systemd.add_argument(
        "--write", action="append", default=[], metavar="PATH", help="a directory the site writes (repeat; --confine)"
    )
    systemd.add_argument(
        "--connect",
        action="append",
        default=[],
        metavar="HOST:PORT",
        help="an endpoint the site connects to: HOST:PORT, [V6]:PORT or a Unix socket's path (repeat; --confine)",
    )
    systemd.add_argument(
        "--bind",
        action="append",
        default=[],
        metavar="ADDR:PORT",
        help="an address the site listens on itself (repeat; --confine; default for `serve` without --socket: "
        "127.0.0.1:8000, with --socket none)",
    )
    systemd.add_argument(
        "--allow-network",
        action="append",
        default=[],
        metavar="CIDR",
        help="a network the site may reach by IP besides the endpoints' addresses: where its host names and the "
        "resolver live (repeat; --confine; `any` leaves outgoing IP unfiltered)",
    )
    systemd.add_argument(
        "-o", "--output", default=".", help="the directory to write the units to (default: the current one)"
    )
    deploy = commands.add_parser(
        "deploy",
        help="deploy a release onto this server (as root): fetch, verify, prepare, check, switch, restart, roll back",
        description="Deploy SOURCE (a .pyz's URL or path) into DIR, laid out as docs/deployment.md says "
        "(DIR/releases/, DIR/current.pyz, DIR/extracted/): fetch it and check its sha256, verify it, prepare its "
        "extraction, run the checks as the service's user (NAME-manage), switch DIR/current.pyz, restart the services "
        "and wait until they are healthy (else switch back, exit status 1), keep the last --keep releases. One "
        "deploy at a time (DIR/.deploy.lock); the release already current and healthy is nothing to do; a deploy "
        "cut short finishes when run again.",
    )
    deploy.add_argument("source", metavar="SOURCE", help="the release: an http(s) URL or a path to a .pyz")
    deploy.add_argument("--dir", required=True, help="the site's directory, e.g. /srv/mysite")
    deploy.add_argument("--name", help="the units' name (default: DIR's name)")
    deploy.add_argument(
        "--service", action="append", default=[], help="a unit to restart (repeat; default: NAME.service)"
    )
    deploy.add_argument("--sha256", metavar="HEX", help="the release's sha256 (default: the one in SOURCE.sha256)")
    checks = deploy.add_mutually_exclusive_group()
    checks.add_argument(
        "--check",
        action="append",
        metavar="CMD",
        help="a command run as `NAME-manage --pyz RELEASE CMD` before the switch (repeat; default for a Django site: "
        "'check --deploy --fail-level ERROR' and 'migrate --noinput', none otherwise)",
    )
    checks.add_argument("--no-check", action="store_true", help="run no checks")
    deploy.add_argument("--health", metavar="URL", help="a URL that must answer below 400 once restarted")
    deploy.add_argument(
        "--health-host", metavar="HOST", help="the probe's Host (default: the first ALLOWED_HOSTS in /etc/NAME/env)"
    )
    deploy.add_argument("--timeout", default="60", metavar="SECONDS", help="how long to wait for health (60)")
    deploy.add_argument(
        "--settle",
        default="5",
        metavar="SECONDS",
        help="how long each service must then stay up, as the same process, to count as healthy (5)",
    )
    deploy.add_argument("--keep", default="3", metavar="K", help="releases to keep (3)")
    deploy.add_argument("--manage", metavar="PATH", help="NAME-manage (default: found on PATH)")
    deploy.add_argument("--python", help="the interpreter to prepare with (default: the one `systemd` would write)")
    options = parser.parse_args(argv)
    handlers = {
        "info": _info,
        "verify": _verify,
        "systemd": _systemd,
        "lock": _lock,
        "links": _links,
        "deploy": _deploy,
    }
    return handlers[options.command](options)


if __name__ == "__main__":
    sys.exit(main())
