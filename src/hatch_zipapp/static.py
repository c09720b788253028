"""Django at build time: the site's runtime entry point, and `collectstatic` into the installed package.

`collectstatic` runs on the build host, in a fresh interpreter that sees only the staged packages (the target's own
when the host can run them, else the same lock selected for the host), with the settings module and only the
build-time variables of `[tool.hatch.build.targets.zipapp.django] environment` (and PATH): nothing of the build
machine's environment. Its output lands where `STATIC_ROOT` resolves inside the
installed project and is embedded in the .pyz; the manifest is rewritten with sorted keys so every build is the same.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import textwrap
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING

from hatch_zipapp.cache import Bundle, write_bundle
from hatch_zipapp.config import DJANGO_SERVERS, DjangoConfig
from hatch_zipapp.errors import DjangoError
from hatch_zipapp.install import SITE_PACKAGES, Staged, StagingTree, files_digest, stage_packages
from hatch_zipapp.pyz.confine import FIX, Declaration, problem
from hatch_zipapp.target import Target

if TYPE_CHECKING:
    from hatch_zipapp.context import BuildContext

__all__ = [
    "DjangoError",
    "add_django_entry_point",
    "check_settings",
    "check_static_root",
    "choose_server",
    "collect_static",
    "read_declared",
    "stage_django",
]

_OWNER = "hatch-zipapp (Django)"
_PASSED_THROUGH = ("PATH", "TMPDIR", "SYSTEMROOT")
_MARKER = "HATCH_ZIPAPP_STATIC_ROOT="
#: The STATIC_ROOT the messages suggest: the settings module's own directory, whatever BASE_DIR is (startproject's
#: is the directory above the package, which in the .pyz is site-packages itself).
_SUGGESTED = "STATIC_ROOT = Path(__file__).resolve().parent / 'staticfiles'"
_FINDINGS = "HATCH_ZIPAPP_SETTINGS_FINDINGS="
_DECLARED = "HATCH_ZIPAPP_SETTINGS_CONFINE="
#: The settings pitfalls, looked at while collectstatic has the settings imported (the same interpreter): paths that
#: resolve against the working directory instead of the package (read: a warning), and places data is written to
#: that lie inside the package, i.e. inside the extraction the next deploy deletes (an error unless allowed).
_CHECKS = f"""\
import importlib, json, pathlib
findings = []
base = getattr(settings, "BASE_DIR", None)
real = os.path.realpath(packages)
here = os.path.dirname(os.path.realpath(importlib.import_module(os.environ["DJANGO_SETTINGS_MODULE"]).__file__))
if isinstance(base, (str, os.PathLike)) and os.path.isabs(os.fspath(base)):
    start = os.path.realpath(os.fspath(base))
    form = "BASE_DIR / {{!r}}" if isinstance(base, pathlib.PurePath) else "os.path.join(BASE_DIR, {{!r}})"
else:
    start, form = here, "os.path.join(os.path.dirname(os.path.abspath(__file__)), {{!r}})"
def absolute(value):
    # The fix in the settings' own terms: BASE_DIR / '...' for a Path, os.path.join(BASE_DIR, '...') for a str, the
    # settings module's directory without one; relative to it when the package ships the path (or a tail of it).
    return shipped(value) or form.format(value)
def shipped(value):
    # A directory the package ships for the path ``value`` (or a tail of it), looked for in site-packages, then in
    # the settings module's directory and each above it up to site-packages, in the settings' terms; else "".
    parts = pathlib.PurePath(value).parts
    tops, top = [real], here
    while os.path.commonpath([top, real]) == real and top != real:
        tops.append(top)
        top = os.path.dirname(top)
    for index in range(len(parts)):
        for top in tops:
            found = os.path.realpath(os.path.join(top, *parts[index:]))
            if os.path.commonpath([found, real]) == real and found != real and os.path.isdir(found):
                return form.format(os.path.relpath(found, start))
    return ""
def relative(setting, values):
    for value in values or ():
        if isinstance(value, (tuple, list)) and len(value) == 2:  # STATICFILES_DIRS: (prefix, path)
            value = value[1]
        if not isinstance(value, (str, os.PathLike)):
            continue
        value = os.fspath(value)
        if not os.path.isabs(value):
            findings.append(["relative", setting, value, absolute(value)])
            continue
        path = os.path.realpath(value)  # inside the package, not shipped: nothing is there in production either
        if os.path.commonpath([path, real]) == real and not os.path.isdir(path):
            findings.append(["missing", setting, os.path.relpath(path, real), shipped(os.path.relpath(path, real))])
def inside(setting, value, allowance):
    if not isinstance(value, (str, os.PathLike)) or not os.fspath(value):
        return
    path = os.path.realpath(os.fspath(value))
    if os.path.commonpath([path, os.path.realpath(packages)]) == os.path.realpath(packages):
        findings.append(["inside", setting, os.path.relpath(path, os.path.realpath(packages)), allowance])
for index, engine in enumerate(getattr(settings, "TEMPLATES", [])):
    relative(f'TEMPLATES[{{index}}]["DIRS"]', engine.get("DIRS"))
relative("STATICFILES_DIRS", getattr(settings, "STATICFILES_DIRS", []))
relative("LOCALE_PATHS", getattr(settings, "LOCALE_PATHS", []))
relative("FIXTURE_DIRS", getattr(settings, "FIXTURE_DIRS", []))
inside("MEDIA_ROOT", getattr(settings, "MEDIA_ROOT", ""), "media-root")
storage, where = ((getattr(settings, "STORAGES", None) or {{}}).get("staticfiles") or {{}}).get("BACKEND"), "STORAGES"
if not storage:
    storage, where = getattr(settings, "STATICFILES_STORAGE", None), "STATICFILES_STORAGE"
if isinstance(storage, str) and storage.startswith("whitenoise.storage.Compressed"):
    try:  # as whitenoise's compress.py decides whether it writes .br variants
        import brotli
    except ImportError:
        setting = 'STORAGES["staticfiles"]["BACKEND"]' if where == "STORAGES" else where
        findings.append(["no-brotli", setting, storage.rpartition(".")[2], ""])
for alias, database in sorted(getattr(settings, "DATABASES", {{}}).items()):
    name = database.get("NAME")
    if "sqlite" in database.get("ENGINE", "") and name and not str(name).startswith((":memory:", "file:")):
        inside(f'DATABASES["{{alias}}"]["NAME"]', name, "sqlite")
inside("FILE_UPLOAD_TEMP_DIR", getattr(settings, "FILE_UPLOAD_TEMP_DIR", None), "file-upload-temp-dir")
for name, handler in sorted(((getattr(settings, "LOGGING", None) or {{}}).get("handlers") or {{}}).items()):
    if isinstance(handler, dict) and handler.get("filename"):
        inside(f'LOGGING["handlers"]["{{name}}"]["filename"]', handler["filename"], "log-file")
print({_FINDINGS!r} + json.dumps(findings))
"""
#: What the settings say the site writes and connects to (the confinement declaration, pyz/confine.py), read in the
#: same interpreter: ``[kind, setting, value]`` for each, checked by the build (a value it cannot use is a warning).
#: Relative paths (resolved against the server's working directory) and paths inside the build's own directory (the
#: package: the checks above report those) are not recorded; nor a database HOST left empty (the client library's
#: default socket). Django's defaults where the settings do not say: EMAIL_BACKEND smtp, EMAIL_HOST localhost:25.
_DECLARE = """\
import re
declared = []
work = os.path.realpath(os.getcwd())
def write(setting, value, parent=False):
    value = os.fspath(value) if isinstance(value, (str, os.PathLike)) else None
    if not isinstance(value, str) or not os.path.isabs(value):
        return
    path = os.path.normpath(value)
    path = os.path.dirname(path) if parent else path
    if os.path.commonpath([os.path.realpath(path), work]) != work:
        declared.append(["write", setting, path])
def connect(setting, host, port=None):
    host = str(host)
    if host.startswith("/"):
        declared.append(["connect", setting, host])
        return
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    host = f"[{host}]" if ":" in host else host
    declared.append(["connect", setting, host if port is None else f"{host}:{port}"])
def hostport(setting, text, default):
    if text.startswith("[") and text.endswith("]") or text.count(":") == 0:
        connect(setting, text, default)
    else:
        declared.append(["connect", setting, text])
write("MEDIA_ROOT", getattr(settings, "MEDIA_ROOT", ""))
write("FILE_UPLOAD_TEMP_DIR", getattr(settings, "FILE_UPLOAD_TEMP_DIR", None))
for name, handler in sorted(((getattr(settings, "LOGGING", None) or {}).get("handlers") or {}).items()):
    if isinstance(handler, dict) and handler.get("filename"):
        write(f'LOGGING["handlers"]["{name}"]["filename"]', handler["filename"], parent=True)
PORTS = {"postgresql": 5432, "postgis": 5432, "mysql": 3306, "oracle": 1521}
for alias, database in sorted((getattr(settings, "DATABASES", None) or {}).items()):
    if not isinstance(database, dict):
        continue
    engine, host, port = str(database.get("ENGINE") or ""), database.get("HOST") or "", database.get("PORT") or ""
    family = engine.rsplit(".", 1)[-1]
    if "sqlite" in engine:
        name = database.get("NAME")
        if name and not str(name).startswith((":memory:", "file:")):
            write(f'DATABASES["{alias}"]["NAME"]', name, parent=True)
        continue
    if not isinstance(host, str) or not host:
        continue
    setting = f'DATABASES["{alias}"]["HOST"]'
    hosts = host.split(",") if family in ("postgresql", "postgis") else [host]
    ports = str(port or PORTS.get(family, "")).split(",")
    ports = ports * len(hosts) if len(ports) == 1 else ports
    for one, number in zip(hosts, ports):
        if family in ("postgresql", "postgis") and one.startswith("/"):
            connect(setting, f"{one.rstrip('/')}/.s.PGSQL.{number}")
        else:
            connect(setting, one, number or None)
for alias, cache in sorted((getattr(settings, "CACHES", None) or {}).items()):
    if not isinstance(cache, dict):
        continue
    backend, location = str(cache.get("BACKEND") or ""), cache.get("LOCATION") or ""
    setting = f'CACHES["{alias}"]["LOCATION"]'
    if backend.endswith("FileBasedCache"):
        write(setting, location)
        continue
    if isinstance(location, str):
        location = re.split("[;,]", location)
    for one in location if isinstance(location, (list, tuple)) else ():
        one = str(one).strip()
        if one.startswith(("redis://", "rediss://", "valkey://", "valkeys://")):
            hostport(setting, one.split("://", 1)[1].split("/", 1)[0].rpartition("@")[2], 6379)
        elif one.startswith("unix:"):
            connect(setting, "/" + one[len("unix:"):].split("?", 1)[0].rpartition("@")[2].lstrip("/"))
        elif one.startswith("/"):
            connect(setting, one)
        elif one and ("memcached" in backend.lower() or backend.endswith(("PyMemcacheCache", "PyLibMCCache"))):
            hostport(setting, one, 11211)
smtp = "django.core.mail.backends.smtp.EmailBackend"
if getattr(settings, "EMAIL_BACKEND", smtp) == smtp and getattr(settings, "EMAIL_HOST", "localhost"):
    connect("EMAIL_HOST", getattr(settings, "EMAIL_HOST", "localhost"), getattr(settings, "EMAIL_PORT", 25))
"""
#: What is lost when data is written there, per allowance.
_LOST = {
    "media-root": "uploaded files",
    "sqlite": "the database",
    "file-upload-temp-dir": "uploads in progress",
    "log-file": "the log",
}
_COLLECT = f"""\
import os, site, sys
packages = sys.argv[1]
site.addsitedir(packages)
sys.path.remove(packages)
sys.path.insert(0, packages)
import django
from django.conf import settings
django.setup()
from django.core.management import call_command
if not settings.STATIC_ROOT:
    sys.exit("settings.STATIC_ROOT is not set: set it inside the package, e.g. " + {_SUGGESTED!r})
call_command("collectstatic", interactive=False, verbosity=0)
print({_MARKER!r} + os.path.realpath(str(settings.STATIC_ROOT)))
{_CHECKS}
try:  # a setting Django does not use at build (CACHES) can be of any shape: it is said once, not a failed build
{textwrap.indent(_DECLARE, "    ")}
except Exception as e:
    declared = [["unread", "", f"{{type(e).__name__}}: {{e}}"]]
print({_DECLARED!r} + json.dumps(declared))
"""


def stage_django(context: BuildContext, staged: Staged) -> tuple[int, Declaration]:
    """The Django stage (when the project is a Django site): the runtime entry point, and collectstatic's output; the
    number of static files collected, and what the settings say the site writes and connects to (empty with
    `confine.settings = false`). collectstatic runs on the build host: over the target's own packages when the
    host can run them (same Python version, every wheel installable here), else over the same lock staged for the
    host."""
    django = context.config.django
    if django is None:
        return 0, Declaration()
    add_django_entry_point(staged.tree, django.settings, choose_server(django, staged.wheels), django.allow)
    if not django.collectstatic:
        return 0, Declaration()
    host = Target.host()
    python, salt = sys.executable, sys.version
    with contextlib.ExitStack() as stack:
        if context.target.python_version == host.python_version and all(
            host.rank(w) is not None for w in staged.wheels
        ):
            runnable = staged.tree
        elif (embedded := _embedded_python(context, staged.wheels)) is not None:
            runnable, (python, salt) = staged.tree, embedded  # the target's own packages, by the Python it embeds
        else:  # the same lock, for the build host: collectstatic runs here
            runnable = stack.enter_context(contextlib.closing(stage_packages(context.for_target(host)))).tree
        with context.progress.step("Collecting static files") as step:
            collected, declared = collect_static(context, staged.tree, runnable, python=python, salt=salt)
            step.advance(collected)
    return collected, declared


def _embedded_python(context: BuildContext, wheels: list[str]) -> tuple[str, str] | None:
    """The target's embedded Python, unpacked for this build (builder.py: it runs on this machine), and what names it
    in the cache key (its archive's sha256), when every wheel of the target runs on this machine's platform too."""
    from packaging.tags import sys_tags
    from packaging.utils import parse_wheel_filename

    target, source = context.target, context.config.embedded.get(context.target.name)
    if source is None or target.interpreter is None or not Path(target.interpreter).is_relative_to(context.staging):
        return None
    platforms = {tag.platform for tag in sys_tags()} | {"any"}
    if not all(any(tag.platform in platforms for tag in parse_wheel_filename(w)[3]) for w in wheels):
        return None
    return target.interpreter, f"embedded CPython {source.sha256}"


def choose_server(django: DjangoConfig, wheels: list[str]) -> str:
    """The server `serve` runs: the one `server` names, which the lock must carry, else the first of
    DJANGO_SERVERS the lock carries; "" for none (`serve` then says what to add)."""
    from packaging.utils import parse_wheel_filename

    locked = {parse_wheel_filename(wheel)[0] for wheel in wheels}
    if django.server is None:
        chosen = next((server for server in DJANGO_SERVERS if server in locked), "")
        if not chosen and "uwsgi" in locked:
            message = (
                "The lock carries `uwsgi`, an sdist that builds a program, not a module `serve` can run: replace "
                "it with `pyuwsgi` (the same uWSGI, as manylinux wheels) in [project] dependencies and refresh the "
                "lock (`hatch-zipapp lock`); then `./site.pyz serve` or `./site.pyz pyuwsgi --http=:8000` runs it"
            )
            raise DjangoError(message)
        return chosen
    if django.server not in locked:
        carried = [server for server in DJANGO_SERVERS if server in locked]
        hint = f"the lock carries {', '.join(carried)}" if carried else "the lock carries no server"
        if django.server == "pyuwsgi" and "uwsgi" in locked:
            hint += " (and `uwsgi`, an sdist with a program, not a module: lock `pyuwsgi`, the same uWSGI as wheels)"
        message = (
            f"Field `tool.hatch.build.targets.zipapp.django.server` names {django.server!r}, which the lock does not "
            f"carry ({hint}): add `{django.server}` to [project] dependencies and refresh the lock "
            f"(`hatch-zipapp lock`), or name the server the lock carries"
        )
        raise DjangoError(message)
    return django.server


def add_django_entry_point(
    tree: StagingTree, settings: str, server: str = "", allow: frozenset[str] = frozenset()
) -> None:
    """Embed the Django runtime entry point (`_hatch_zipapp_django.py`) with the settings module, the server and the
    allowed places preset."""
    source = files("hatch_zipapp.bootstrap").joinpath("django_main.py").read_text(encoding="utf-8")
    for placeholder, value in (
        ('"__HATCH_ZIPAPP_SETTINGS__"', json.dumps(settings)),
        ('"__HATCH_ZIPAPP_SERVER__"', json.dumps(server)),
        ('["__HATCH_ZIPAPP_ALLOWED__"]', json.dumps(sorted(allow))),
    ):
        assert placeholder in source
        source = source.replace(placeholder, value, 1)
    tree.add(f"{SITE_PACKAGES}/_hatch_zipapp_django.py", source.encode(), executable=False, owner=_OWNER)


def collect_static(
    context: BuildContext,
    tree: StagingTree,
    runnable: StagingTree,
    *,
    python: str = sys.executable,
    salt: str = sys.version,
) -> tuple[int, Declaration]:
    """Run collectstatic with ``python`` over ``runnable`` (packages it runs) and embed its output in ``tree``; file
    count, and what the settings declare (:func:`read_declared`). ``salt`` names ``python`` in the cache key (default:
    the running Python's version).

    The output is cached by a digest of everything it depends on (the staged files, the settings module, the build
    variables, the Python version), so a rebuild of unchanged sources does not run Django again.
    """
    django, epoch, cache = context.config.django, context.epoch, context.fetcher.cache
    assert django is not None
    key = _digest(runnable, django, epoch, salt)
    bundle = cache.open_bundle("static", key)
    if bundle is None:
        workdir = Path(tempfile.mkdtemp(prefix="static-", dir=context.staging))
        prefix, collected, findings, declared = _collect(runnable, django, workdir, epoch, python)
        written = write_bundle(collected, note=json.dumps([prefix, findings, declared]))
        try:
            cache.store_bundle_file("static", key, written)
        except BaseException:
            written.close()
            raise
        bundle = Bundle(written)
    with bundle:  # staged a file at a time (a site's static files and their variants: megabytes)
        prefix, findings, declared = json.loads(bundle.note)
        check_static_root(django, prefix, tree)
        check_settings(context, django, findings)
        for path in [p for p in tree.files if p.startswith(prefix)]:
            del tree.files[path]
        count = 0
        for name, stream in bundle.members():
            tree.add_stream(prefix + name, stream, executable=False, owner=_OWNER)
            count += 1
    return count, read_declared(context, django, declared)


def read_declared(context: BuildContext, django: DjangoConfig, declared: list[list[str]]) -> Declaration:
    """What the settings say the site writes and connects to (``[kind, setting, value]`` from the settings), each entry
    checked as the pyproject table's are: one the declaration cannot hold is a warning naming the setting and where to
    declare it instead. Nothing with `confine.settings = false`."""
    if not context.config.confine.settings:
        return Declaration()
    if declared and declared[0][0] == "unread":
        message = (
            f"settings {django.settings!r} could not be read for the .pyz's confinement declaration "
            f"({declared[0][2]}): nothing of them is recorded. Declare what the site writes and connects to in "
            f"[tool.hatch.build.targets.zipapp.confine] (write, connect), or set `settings = false` there"
        )
        context.display.display_warning(message)
        return Declaration()
    entries = []
    for kind, setting, value in declared:
        reason = problem(kind, value)
        if reason is None:
            entries.append((kind, value))
            continue
        message = (
            f"settings {setting} of {django.settings!r} gives {value!r}, which {reason}: not recorded in the .pyz's "
            f"confinement declaration. If the site needs it, declare it in "
            f"[tool.hatch.build.targets.zipapp.confine] {kind} ({FIX[kind]})"
        )
        context.display.display_warning(message)
    return Declaration.of(entries)


def check_static_root(django: DjangoConfig, prefix: str, tree: StagingTree) -> None:
    """STATIC_ROOT (the archive prefix ``prefix`` collectstatic wrote below) must lie inside a package the .pyz
    ships: site-packages itself, or a directory of its own beside the packages (startproject's ``BASE_DIR /
    'staticfiles'``), would scatter the collected files among the installed distributions."""
    top = prefix.removeprefix(f"{SITE_PACKAGES}/").split("/", 1)[0]
    if top not in ("", ".") and any(path.startswith(f"{SITE_PACKAGES}/{top}/") for path in tree.files):
        return
    shown = os.path.normpath(prefix.rstrip("/"))
    message = (
        f"settings.STATIC_ROOT of {django.settings!r} is {shown!r}, beside the installed packages, not inside one "
        f"(startproject's BASE_DIR is the directory above the package): point it inside the package, e.g. "
        f"{_SUGGESTED}"
    )
    raise DjangoError(message)


def check_settings(context: BuildContext, django: DjangoConfig, findings: list[list[str]]) -> None:
    """Stop the build for relative paths the settings read (they resolve against the server's working directory,
    never the extraction: templates there are every page a 500), with the absolute form in the settings' own terms
    (warn of absolute ones inside the packages that the .pyz does not ship: the same 500, or an unused entry),
    and for places data is written inside the package, unless `allow` names them; say when whitenoise is asked for
    .br variants it cannot write (no brotli in the lock)."""
    errors = []
    for kind, setting, value, detail in findings:
        where = f"settings {setting} of {django.settings!r}"
        if kind == "relative":  # detail: the absolute form
            errors.append(
                f"{where} holds the relative path {value!r}, which resolves against the server's working directory, "
                f"not the package: Django will not find what is there. Make it absolute: {detail}"
            )
            continue
        if kind == "missing":  # value: the path in site-packages; detail: a shipped directory of that name, if any
            context.display.display_warning(
                f"{where} names {value!r} in the installed packages, which the .pyz does not ship: what is meant to "
                f"be there is not found in production (Django says nothing of a missing directory). If it is meant "
                f"to hold files, "
                + (f"point it at the directory the package ships: {detail}" if detail else "ship them there")
            )
            continue
        if kind == "no-brotli":
            context.display.display_warning(
                f"{where} is whitenoise's {value}, which writes .br variants only where it can import brotli, and "
                f"the lock has none: the .pyz gets .gz variants alone. For .br too, add brotli to the project's "
                f"dependencies and lock again (hatch-zipapp lock)"
            )
            continue
        allowance = detail
        lost = _LOST[allowance]
        message = (
            f"{where} is {value!r} inside the installed package, which the .pyz extracts and the next deploy "
            f"deletes: {lost} written there would be lost. Point it outside the package (a path from the "
            f"environment, or the working directory: under systemd the StateDirectory), or, if nothing is ever "
            f'written there, allow it: `allow = ["{allowance}"]` in [tool.hatch.build.targets.zipapp.django]'
        )
        if allowance in django.allow:
            context.display.display_warning(f"{message} (allowed)")
        else:
            errors.append(message)
    if errors:
        raise DjangoError("\n".join(errors))


def _digest(runnable: StagingTree, django: DjangoConfig, epoch: int, python: str) -> str:
    inputs = ["settings-checks-4", python, django.settings, sorted(django.environment.items()), epoch]
    salt = json.dumps(inputs).encode()
    return files_digest(runnable.files, sorted(runnable.files), salt=salt)


def _collect(
    runnable: StagingTree, django: DjangoConfig, workdir: Path, epoch: int, python: str
) -> tuple[str, list[tuple[str, Path]], list[list[str]], list[list[str]]]:
    """collectstatic in a fresh interpreter: the archive prefix of STATIC_ROOT, the files below it (name, path), what
    the settings checks found, and what the settings declare (``[kind, setting, value]``)."""
    packages = workdir / SITE_PACKAGES
    runnable.write_to(workdir, [path for path in runnable.files if path.startswith(SITE_PACKAGES + "/")])
    # Only what the configuration says: the build machine's own variables (a DATABASE_URL, a SECRET_KEY) stay out,
    # so collectstatic gives the same files on every machine and no build-time secret can reach the artifact.
    env = {key: os.environ[key] for key in _PASSED_THROUGH if key in os.environ}
    env.update(
        {"LC_ALL": "C.UTF-8", "PYTHONHASHSEED": "0", "SOURCE_DATE_EPOCH": str(epoch), "HOME": os.fspath(workdir)}
    )
    env.update(django.environment)
    env["DJANGO_SETTINGS_MODULE"] = django.settings
    result = subprocess.run(
        [python, "-I", "-S", "-c", _COLLECT, os.fspath(packages)],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=1800,
    )
    lines = result.stdout.splitlines()
    findings: list[list[str]] = []
    declared: list[list[str]] = []
    if result.returncode == 0 and len(lines) >= 3 and lines[-1].startswith(_DECLARED):
        declared = json.loads(lines.pop().removeprefix(_DECLARED))
    if result.returncode == 0 and len(lines) >= 2 and lines[-1].startswith(_FINDINGS):
        findings = json.loads(lines.pop().removeprefix(_FINDINGS))
    if result.returncode != 0 or not lines or not lines[-1].startswith(_MARKER):
        error = (result.stderr.strip() or result.stdout.strip() or f"exit status {result.returncode}").splitlines()
        message = (
            f"collectstatic failed with settings {django.settings!r}: {error[-1]}\n"
            + "\n".join(f"  {line}" for line in error[-20:-1])
            + "\nFix the settings (or give collectstatic what it needs in "
            "`[tool.hatch.build.targets.zipapp.django] environment`), or set `collectstatic = false`"
        )
        raise DjangoError(message)
    static_root = Path(lines[-1].removeprefix(_MARKER))
    real_packages = packages.resolve()
    if not static_root.is_relative_to(real_packages):
        message = (
            f"settings.STATIC_ROOT of {django.settings!r} is {static_root}, outside the installed project, so it "
            f"cannot ship in the .pyz: point it inside the package, e.g. {_SUGGESTED}"
        )
        raise DjangoError(message)
    prefix = f"{SITE_PACKAGES}/{static_root.relative_to(real_packages).as_posix()}/"
    collected = []
    for file in sorted(static_root.rglob("*")):
        if file.is_file():
            if file.name == "staticfiles.json" and file.parent == static_root:
                # Django writes it in file-system order
                file.write_bytes(json.dumps(json.loads(file.read_bytes()), sort_keys=True).encode())
            collected.append((file.relative_to(static_root).as_posix(), file))
    return prefix, collected, findings, declared
