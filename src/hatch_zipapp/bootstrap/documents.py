"""The bottom of the runtime (``_bootstrap/documents.py`` in a .pyz), imported by the build side too: the error a user
can fix, the names of the .pyz's members, the environment variables the runtime reads, and the two documents written
at build time and read at run time, each typed once (a ``TypedDict`` for the type checker, a constant per member name
for the code). Standard library only; nothing here is imported at run time that a start does not need."""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Final, TypedDict

    class Environment(TypedDict, total=False):
        """``environment.json``: shiv's keys (its tools read them) and the runtime's own settings."""

        always_write_cache: bool
        build_id: str  # sha256 of the staged tree: the extraction's name is NAME_BUILDID
        commands: list[str]  # the console scripts `ZIPAPP_LINKS` / `hatch-zipapp links` link by default
        built_at: str
        compile_pyc: bool  # no bytecode in the archive: compile it at extraction
        entry_point: str | None  # "module:function"
        extend_pythonpath: bool
        hashes: dict[str, str]
        inherit_site: bool  # keep the host's site-packages on sys.path
        keep: int  # extractions of this application to keep
        name: str  # the project's normalized name
        no_modify: bool
        preamble: str | None
        prepend_pythonpath: str | None
        reexec: bool  # children started as `sys.executable ...` see the extraction (sitecustomize.py)
        reproducible: bool
        root: str | None
        script: str | None  # a console script under site-packages/bin to run instead of an entry point
        scripts: dict[str, str]  # every console script of the embedded distributions: name -> "module:function"
        shiv_version: str

    class Info(TypedDict, total=False):
        """``hatch-zipapp.json``: the build information (``ZIPAPP_INFO=1 ./app.pyz``, ``hatch-zipapp info``)."""

        build_id: str
        builder: str
        built_at: str
        bytecode: bool
        confine: dict[str, list[str]]  # what the site declared it needs (pyz/confine.py); absent: nothing
        distributions: list[dict[str, Any]]
        entry_point: str | None
        lock: dict[str, str]
        project: str
        source_date_epoch: int
        static_files: int
        target: dict[str, Any]
        version: str

    class PurePython(TypedDict):
        """A distribution's ``pure_python`` member (in ``Info["distributions"]``): the .pyz has its pure-Python wheel
        where the lock has compiled ones (for other platforms or Python versions). What other targets of the same
        build got is in the build's warning only: a .pyz depends on its own target, not on which others were built."""

        lock: list[str]  # the platforms the lock has compiled wheels of it for
        allowed: bool  # named in `pure-python-ok`: the build did not warn


class BootstrapError(Exception):
    """A problem the user can fix: printed as one line (what, where, the fix), without a traceback."""


class Damaged(BootstrapError):
    """The .pyz's bytes are not what was built (a flipped bit, a truncated copy): nothing is extracted or run."""

    def __init__(self, what: str) -> None:
        super().__init__(f"damaged .pyz ({what}), rebuild or download it again")


# -- members of the .pyz ---------------------------------------------------------------------------------------------
BOOTSTRAP_PACKAGE: Final = "_bootstrap"  # the runtime's package in the .pyz: these modules
ENVIRONMENT_JSON: Final = "environment.json"
INFO_JSON: Final = "hatch-zipapp.json"
SITE_PACKAGES: Final = "site-packages"
SITE_PACKAGES_ZIP: Final = (
    "site-packages.zip"  # stored in the .pyz: the zip of site-packages/... (hatch_zipapp/layout.py)
)
RECORD: Final = "hatch-zipapp.sha256"  # ``sha256  member`` lines (hatch_zipapp/pyz/record.py writes it)
RECORD_PREFIX: Final = "(shebang)"  # the record's name for the bytes before the zip

# -- member names of environment.json (Environment) -----------------------------------------------------------------
BUILD_ID: Final = "build_id"
COMMANDS: Final = "commands"
COMPILE_PYC: Final = "compile_pyc"
ENTRY_POINT: Final = "entry_point"
EXTEND_PYTHONPATH: Final = "extend_pythonpath"
INHERIT_SITE: Final = "inherit_site"
KEEP: Final = "keep"
NAME: Final = "name"
REEXEC: Final = "reexec"
SCRIPT: Final = "script"
SCRIPTS: Final = "scripts"

# -- member names of hatch-zipapp.json (Info) -----------------------------------------------------------------------
INFO_BUILD_ID: Final = "build_id"
INFO_BUILDER: Final = "builder"
INFO_BUILT_AT: Final = "built_at"
INFO_BYTECODE: Final = "bytecode"
INFO_CONFINE: Final = "confine"  # absent when nothing is declared (hatch_zipapp/pyz/confine.py)
INFO_DISTRIBUTIONS: Final = "distributions"
INFO_ENTRY_POINT: Final = "entry_point"
INFO_LOCK: Final = "lock"
INFO_PROJECT: Final = "project"
INFO_SOURCE_DATE_EPOCH: Final = "source_date_epoch"
INFO_STATIC_FILES: Final = "static_files"
INFO_TARGET: Final = "target"
INFO_VERSION: Final = "version"
TARGET_TAG: Final = "tag"  # in Info["target"]
TARGET_PYTHON: Final = "python"  # in Info["target"]
CONFINE_WRITE: Final = "write"  # in Info["confine"]: absolute paths the site writes
CONFINE_CONNECT: Final = "connect"  # in Info["confine"]: HOST:PORT, [V6]:PORT or a unix socket's path
CONFINE_BIND: Final = "bind"  # in Info["confine"]: ADDR:PORT
DIST_PURE_PYTHON: Final = "pure_python"  # in each of Info["distributions"], when it applies: a PurePython

# -- environment variables (docs/runtime.md) -------------------------------------------------------------------------
ZIPAPP_ROOT: Final = "ZIPAPP_ROOT"  # where to extract (first choice)
SHIV_ROOT: Final = "SHIV_ROOT"  # shiv's: where to extract (second choice)
CACHE_DIRECTORY: Final = "CACHE_DIRECTORY"  # systemd's CacheDirectory= (its first entry)
XDG_CACHE_HOME: Final = "XDG_CACHE_HOME"
HOME: Final = "HOME"
ZIPAPP_INFO: Final = "ZIPAPP_INFO"  # print hatch-zipapp.json and exit
ZIPAPP_PREPARE: Final = "ZIPAPP_PREPARE"  # extract (readable by all), print where, and exit: a read-only deploy
ZIPAPP_LOCK_TIMEOUT: Final = "ZIPAPP_LOCK_TIMEOUT"  # seconds to wait for another process's extraction
ZIPAPP_FORCE_EXTRACT: Final = "ZIPAPP_FORCE_EXTRACT"
SHIV_FORCE_EXTRACT: Final = "SHIV_FORCE_EXTRACT"
ZIPAPP_KEEP: Final = "ZIPAPP_KEEP"  # extractions to keep (overrides environment.json's keep)
ZIPAPP_VERIFY: Final = "ZIPAPP_VERIFY"  # re-check an existing extraction against the record before running it
ZIPAPP_INHERIT_SITE: Final = "ZIPAPP_INHERIT_SITE"
SHIV_COMPILE_PYC: Final = "SHIV_COMPILE_PYC"
SHIV_COMPILE_WORKERS: Final = "SHIV_COMPILE_WORKERS"
SHIV_PREPEND_PYTHONPATH: Final = "SHIV_PREPEND_PYTHONPATH"
SHIV_EXTEND_PYTHONPATH: Final = "SHIV_EXTEND_PYTHONPATH"
SHIV_ENTRY_POINT: Final = "SHIV_ENTRY_POINT"
SHIV_MODULE: Final = "SHIV_MODULE"
SHIV_CONSOLE_SCRIPT: Final = "SHIV_CONSOLE_SCRIPT"
ZIPAPP_SCRIPT: Final = "ZIPAPP_SCRIPT"  # run this console script (first choice; then SHIV_CONSOLE_SCRIPT, argv[0])
ZIPAPP_LINKS: Final = "ZIPAPP_LINKS"  # make a link per console script in this directory, and exit
ZIPAPP_REEXEC: Final = "ZIPAPP_REEXEC"  # children started as `sys.executable ...` see the extraction
#: Set by the runtime for its children when re-exec is on (read by sitecustomize.py): what a child's interpreter must
#: be to add the extraction (``HEXVERSION<tab>ISOLATED<tab>PREFIX<tab>SITE_PACKAGES<tab>ENTRY``).
ZIPAPP_CHILD: Final = "_ZIPAPP_CHILD"
SHIV_INTERPRETER: Final = "SHIV_INTERPRETER"
ZIPAPP_CONFINE: Final = "ZIPAPP_CONFINE"  # Landlock before the application runs (confine.py)
ZIPAPP_CONFINE_WRITE: Final = "ZIPAPP_CONFINE_WRITE"  # colon-separated directories the confined site may write
ZIPAPP_CONFINE_READ: Final = "ZIPAPP_CONFINE_READ"  # colon-separated paths it may read besides the runtime's own
ZIPAPP_CONFINE_CONNECT: Final = "ZIPAPP_CONFINE_CONNECT"  # comma-separated TCP ports it may connect to
ZIPAPP_CONFINE_BIND: Final = "ZIPAPP_CONFINE_BIND"  # comma-separated TCP ports it may bind
ZIPAPP_CONFINE_UDP: Final = "ZIPAPP_CONFINE_UDP"  # on: the confined site may open UDP sockets (seccomp.py)

#: The on/off variables (:func:`flag`): each is checked at every start, so a typo is one line even when unused.
ON_OFF: Final = (
    ZIPAPP_INFO,
    ZIPAPP_PREPARE,
    ZIPAPP_FORCE_EXTRACT,
    SHIV_FORCE_EXTRACT,
    ZIPAPP_INHERIT_SITE,
    ZIPAPP_VERIFY,
    SHIV_COMPILE_PYC,
    SHIV_EXTEND_PYTHONPATH,
    ZIPAPP_REEXEC,
    ZIPAPP_CONFINE,
    ZIPAPP_CONFINE_UDP,
)

DEFAULT_LOCK_TIMEOUT = 300.0
#: The entry point of a Django site's .pyz (django_main.py, embedded under this name): the build writes it, the
#: deploy side reads it to know a Django site.
DJANGO_ENTRY_POINT = "_hatch_zipapp_django:main"
DEFAULT_KEEP = 2
#: The directory under $XDG_CACHE_HOME or ~/.cache.
CACHE_NAME = "hatch-zipapp"


def flag(name: str, default: bool = False) -> bool:
    """An on/off variable: ``1``, ``true``, ``yes``, ``on`` (any case) are on, ``0``, ``false``, ``no``, ``off`` and
    empty are off; unset is ``default``. Any other value is one line, not a silent off."""
    value = os.environ.get(name)
    if value is None:
        return default
    word = value.strip().lower()
    if word in {"1", "true", "yes", "on"}:
        return True
    if word in {"", "0", "false", "no", "off"}:
        return False
    raise BootstrapError(f"{name}={value!r} is not on or off: set it to 1 (on) or 0 (off), or unset it")


def count(name: str, default: int, minimum: int) -> int:
    """A whole-number variable, at least ``minimum``; unset (or empty) is ``default``. Any other value is one line."""
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        number = int(value)
    except ValueError:
        number = minimum - 1
    if number < minimum:
        raise BootstrapError(f"{name}={value!r} is not a whole number of at least {minimum}: set one, or unset it")
    return number


#: The type each member of environment.json must have when present (a damaged one is refused, never half-used).
_ENVIRONMENT_TYPES: dict[str, tuple[type, ...]] = {
    BUILD_ID: (str,),
    COMMANDS: (list,),
    COMPILE_PYC: (bool,),
    ENTRY_POINT: (str, type(None)),
    EXTEND_PYTHONPATH: (bool,),
    INHERIT_SITE: (bool,),
    KEEP: (int,),
    NAME: (str,),
    REEXEC: (bool,),
    SCRIPT: (str, type(None)),
    SCRIPTS: (dict,),
}


def environment(raw: bytes) -> Environment:
    """``environment.json`` parsed and checked: an object, with a hex ``build_id``, a ``name`` and every member the
    runtime reads of its type. Anything else is :class:`Damaged` (the build always writes it so)."""
    import json

    try:
        value = json.loads(raw.decode("utf-8"))
    except ValueError as e:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise Damaged(f"{ENVIRONMENT_JSON} is not JSON: {e}") from None
    if not isinstance(value, dict):
        raise Damaged(f"{ENVIRONMENT_JSON} is not an object")
    for member, types in _ENVIRONMENT_TYPES.items():
        present = member in value
        if present and (
            not isinstance(value[member], types) or (isinstance(value[member], bool) and bool not in types)
        ):
            raise Damaged(f"{ENVIRONMENT_JSON}'s {member} is {value[member]!r}")
    build_id, name = value.get(BUILD_ID), value.get(NAME)
    if not build_id or not isinstance(build_id, str) or build_id.strip("0123456789abcdef"):
        raise Damaged(f"{ENVIRONMENT_JSON}'s {BUILD_ID} is {build_id!r}")
    if not name or "/" in name or "\\" in name or name.startswith("."):
        raise Damaged(f"{ENVIRONMENT_JSON}'s {NAME} is {name!r}")
    scripts, commands = value.get(SCRIPTS, {}), value.get(COMMANDS, [])
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in scripts.items()):
        raise Damaged(f"{ENVIRONMENT_JSON}'s {SCRIPTS} is {scripts!r}")
    if not all(isinstance(c, str) and c in scripts for c in commands):
        raise Damaged(f"{ENVIRONMENT_JSON}'s {COMMANDS} is {commands!r}")
    return value  # type: ignore[return-value]


def parse_record(raw: bytes) -> dict[str, str]:
    """The record's ``member -> sha256 hex``; a line not ``<64 hex>  <member>`` is :class:`Damaged`."""
    listed = {}
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise Damaged(f"{RECORD} is not UTF-8") from None
    for number, line in enumerate(text.split("\n")[:-1], 1):
        digest, separator, member = line[:64], line[64:66], line[66:]
        if separator != "  " or not member or len(digest) != 64 or digest.strip("0123456789abcdef"):
            raise Damaged(f"{RECORD} line {number}")
        listed[member] = digest
    if not text.endswith("\n"):
        raise Damaged(f"{RECORD} is cut short")
    return listed


def record_digest(raw: bytes, member: str) -> str:
    """The sha256 the record ``raw`` gives ``member``, found without parsing the rest (a record can hold a thousand
    lines: the warm start looks up one); none, or a damaged line, is :class:`Damaged`."""
    needle = f"  {member}\n".encode()
    end = raw.find(needle)
    while end != -1 and end >= 64 and not (end == 64 or raw[end - 65 : end - 64] == b"\n"):
        end = raw.find(needle, end + 1)  # "  x.json" at the end of a longer name: look on
    digest = raw[end - 64 : end].decode("ascii", "replace") if end >= 64 else ""
    if len(digest) != 64 or digest.strip("0123456789abcdef"):
        raise Damaged(f"{RECORD} has no sha256 of {member}")
    return digest
