"""`[tool.hatch.build.targets.zipapp]`: one validated property per option.

Every error names the full key, the bad value and what would fix it. Paths and URLs go through hatchling's context
formatting, as `[project] dependencies` do (`{env:NAME}`, `{env:NAME:default}`, `{root}`, `{root:uri}`, `{home}`,
`{/}`, `{;}`); what an `{env:...}` field puts into an index URL is a secret, kept out of every message.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import re
import urllib.parse
from collections.abc import Callable, Iterable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from hatchling.builders.config import BuilderConfig
from hatchling.utils.context import ContextFormatter, DefaultContextFormatter
from packaging.utils import InvalidName, NormalizedName, canonicalize_name

from hatch_zipapp.bootstrap.documents import DJANGO_ENTRY_POINT
from hatch_zipapp.embed import ArchiveSource
from hatch_zipapp.errors import ConfigError, LockError
from hatch_zipapp.fetch import redact, scrub
from hatch_zipapp.pyz.confine import FIX, KINDS, Declaration, problem
from hatch_zipapp.target import Target, TargetError

__all__ = [
    "DJANGO_ALLOWANCES",
    "DJANGO_ENTRY_POINT",
    "DJANGO_SERVERS",
    "OPTIONS",
    "TARGETS_ENV",
    "ConfineConfig",
    "DjangoConfig",
    "ZipappBuilderConfig",
]

#: The options of this target, with their defaults as the docs show them (docs/configuration.md is checked against it).
OPTIONS: dict[str, str] = {
    "lock": "`pylock.toml`, else `requirements.txt`, else `uv.lock`",
    "entry-point": "the project's only `[project.scripts]` entry",
    "shebang": (
        "`/usr/bin/env python3.X` for a `.pyz` that needs exactly Python 3.X (`cp3X-cp3X-*`), "
        "else `/usr/bin/env python3`"
    ),
    "index-url": "the lock's `--index-url`, else `https://pypi.org/simple/`",
    "extra-index-urls": "`[]`",
    "wheel-dirs": "`[]`",
    "targets": "the build host",
    "pure-python-ok": "`[]`",
    "bytecode": "`true`",
    "django": "none",
    "isolated": "`true`",
    "keep-extractions": "`2`",
    "reexec": "`false`",
    "embed-python": "`false`",
    "python-archive": "python-build-standalone's, from pbs-installer's table",
    "confine": "none (what the Django settings say)",
}

_DJANGO_KEYS = ("settings", "environment", "collectstatic", "server", "allow")
#: The servers `./site.pyz serve` can run (distribution names; bootstrap/django_main.py SERVERS, same order).
DJANGO_SERVERS = ("gunicorn", "pyuwsgi", "uvicorn", "granian")
_CONFINE_KEYS = tuple(sorted((*KINDS, "settings")))
#: The settings pitfalls that stop a build and can be allowed one by one (`allow = ["media-root"]`, static.py).
DJANGO_ALLOWANCES = ("file-upload-temp-dir", "log-file", "media-root", "sqlite")


@dataclass(frozen=True)
class ConfineConfig:
    """`[tool.hatch.build.targets.zipapp.confine]`: what the site needs beyond what the runtime gives it, recorded in
    hatch-zipapp.json for `hatch-zipapp systemd --confine` (pyz/confine.py)."""

    declaration: Declaration = dataclasses.field(default_factory=Declaration)
    #: Add what the Django settings say (static.py reads them at build); false: the table alone.
    settings: bool = True


@dataclass(frozen=True)
class DjangoConfig:
    """`[tool.hatch.build.targets.zipapp.django]`."""

    settings: str
    environment: dict[str, str]
    collectstatic: bool
    #: The server `serve` runs; None: the one the lock carries.
    server: str | None = None
    #: Settings pitfalls allowed (DJANGO_ALLOWANCES): a warning instead of an error.
    allow: frozenset[str] = frozenset()


#: Overrides `targets` for one build (CI matrices): `cp312-manylinux_2_28_x86_64 cp311-macosx_14_0_arm64`, or `host`.
TARGETS_ENV = "HATCH_ZIPAPP_TARGETS"
_TARGET_KEYS = ("python", "platform", "implementation", "interpreter", "embed-python", "python-archive")
#: A target table's keys that say whether and which interpreter to embed (embed.py), kept by target name.
_EMBED_KEYS = ("embed-python", "python-archive")

#: Keys hatchling itself reads from any target table; they keep their hatchling meaning.
_HATCHLING_TARGET_KEYS = frozenset(
    {"dependencies", "directory", "hooks", "require-runtime-dependencies", "require-runtime-features", "versions"}
)
#: File-selection keys: the .pyz embeds the project's wheel, so these belong to the wheel target.
_WHEEL_KEYS = frozenset(
    {
        "artifacts",
        "bypass-selection",
        "dev-mode-dirs",
        "dev-mode-exact",
        "exclude",
        "force-include",
        "ignore-vcs",
        "include",
        "only-include",
        "only-packages",
        "packages",
        "reproducible",
        "skip-excluded-dirs",
        "sources",
    }
)

DEFAULT_SHEBANG = "/usr/bin/env python3"
DEFAULT_INDEX_URL = "https://pypi.org/simple/"
_LOCK_CANDIDATES = ("pylock.toml", "requirements.txt", "uv.lock")
_BINPRM_BUF_SIZE = 128
#: The options :meth:`ZipappBuilderConfig.validate` checks before a build starts (the lock, the indexes and the wheel
#: directories are checked where they are first used, when the build loads the lock).
_CHECKED_FIRST = (
    "targets",
    "entry_point",
    "shebang",
    "bytecode",
    "django",
    "isolated",
    "keep_extractions",
    "pure_python_ok",
    "reexec",
    "embedded",
    "confine",
)
#: A console script's name (`entry-point` naming a script of a locked package, checked once they are installed).
_SCRIPT_NAME = re.compile(r"[A-Za-z0-9][\w.+-]*")


class _Environment(ContextFormatter):
    """hatchling's own `{env:NAME}` and `{env:NAME:default}` field, noting the values it takes from the environment
    and the variable that is missing."""

    CONTEXT_NAME = "hatch-zipapp-env"

    def __init__(self, root: str, *, mark: bool = False) -> None:
        self._env: Callable[[Any, str], str] = DefaultContextFormatter(root).get_formatters()["env"]
        self.taken: set[str] = set()
        self.missing = ""
        # With `mark`, each field becomes a marker (letters and digits, valid anywhere in a URL) and `fields` says
        # which variable and value it stands for: where a value lands in a URL is found without parsing the value.
        self.mark = mark
        self.fields: list[tuple[str, str, str]] = []  # (variable, value, marker)

    def get_formatters(self) -> MutableMapping[str, Callable[[Any, str], str]]:
        return {"env": self._format}

    def _format(self, value: Any, data: str) -> str:
        name = data.partition(":")[0]
        try:
            result = self._env(value, data)
        except ValueError:
            self.missing = name
            raise
        if name in os.environ and result:
            self.taken.add(result)
            if self.mark:
                marker = f"hzfield{len(self.fields)}hz"
                self.fields.append((name, result, marker))
                return marker
        return result


class ZipappBuilderConfig(BuilderConfig):
    """The zipapp target's configuration."""

    @property
    def root_path(self) -> Path:
        return Path(self.root)

    @property
    def _key(self) -> str:
        return f"tool.hatch.build.targets.{self.plugin_name}"

    def _option(self, name: str) -> str:
        return f"`{self._key}.{name}`"

    def validate(self) -> None:
        """Check the keys and every option a build reads before its first hook or download, so that a typo costs no
        work (each option is also checked when first read, and kept: ``cached_property``)."""
        self.validate_keys()
        for option in _CHECKED_FIRST:
            getattr(self, option)

    def validate_keys(self) -> None:
        """Unknown keys are errors, with a did-you-mean; wheel-only keys say where they belong."""
        known = sorted(OPTIONS.keys() | _HATCHLING_TARGET_KEYS)
        for key in sorted(self.target_config):
            if key in _WHEEL_KEYS:
                message = (
                    f"Field `{self._key}.{key}` has no effect: the .pyz embeds the project's wheel, "
                    f"so set `tool.hatch.build.targets.wheel.{key}` instead"
                )
                raise ConfigError(message)
            _check_keys([key], known, f"Unknown field `{self._key}.KEY`", noun="options")

    # -- options -----------------------------------------------------------------------------------------------

    @cached_property
    def lock(self) -> Path:
        """The lock file, absolute."""
        value = self.target_config.get("lock")
        if value is None:
            for candidate in _LOCK_CANDIDATES:
                path = Path(self.root, candidate)
                if path.is_file():
                    return path
            message = (
                f"No lock file found in {self.root}: looked for {', '.join(_LOCK_CANDIDATES)}. "
                f"Create one with `hatch-zipapp lock` (a universal pylock.toml made by uv from the project's "
                f"`requires-python` floor; see docs/locks.md for uv's and pip-compile's own commands), "
                f"or point {self._option('lock')} at yours"
            )
            raise LockError(message)
        _get(self.target_config, "lock", str, f"Field {self._option('lock')}", "a non-empty string (a path)")
        path = Path(self.root, self._format(value, f"Field {self._option('lock')}"))
        if not path.is_file():
            from hatch_zipapp.lock import open_regular

            try:  # a FIFO is not waited on; what it is (a directory, a device) is said, not "does not exist"
                open_regular(path).close()
            except OSError as e:
                if e.errno == 0:
                    message = (
                        f"Lock file {value!r} from field {self._option('lock')} is {e.strerror} (at {path}): point "
                        f"it at the lock file"
                    )
                    raise LockError(message) from None
            message = f"Lock file {value!r} from field {self._option('lock')} does not exist (looked at {path})"
            raise LockError(message)
        return path

    @cached_property
    def entry_point(self) -> str:
        """``module:function`` to run; a `[project.scripts]` name is resolved to its target. Any other name is a
        console script of a locked package, returned as it is: the build resolves it once the packages are installed
        (scripts.resolve)."""
        scripts: dict[str, str] = dict(self.builder.metadata.core.scripts)
        value = self.target_config.get("entry-point")
        if value is None and self.django is not None:
            return DJANGO_ENTRY_POINT
        if value is None:
            if len(scripts) == 1:
                return _check_entry_point(next(iter(scripts.values())), f"`project.scripts.{next(iter(scripts))}`")
            listed = f"it has {len(scripts)}: {', '.join(sorted(scripts))}" if scripts else "it has none"
            message = (
                f"Field {self._option('entry-point')} is needed: the default is the project's only "
                f"`[project.scripts]` entry and {listed}; set it to `module:function` or to the name of a console "
                f"script of the project or of a locked package (`ansible-playbook`; docs/applications.md)"
            )
            raise ConfigError(message)
        _get(self.target_config, "entry-point", str, f"Field {self._option('entry-point')}", "a non-empty string")
        if ":" not in value:
            if value in scripts:
                return _check_entry_point(scripts[value], f"`project.scripts.{value}`")
            if _SCRIPT_NAME.fullmatch(value):
                return str(value)
            message = (
                f"Field {self._option('entry-point')} must be `module:function` or the name of a console script "
                f"(of `[project.scripts]`: {', '.join(sorted(scripts)) or 'none defined'}; or of a locked package), "
                f"got {value!r}"
            )
            raise ConfigError(message)
        return _check_entry_point(value, f"field {self._option('entry-point')}")

    @cached_property
    def shebang(self) -> str | None:
        """The configured interpreter line, or None: the default, which names the Python the .pyz needs
        (``Target.shebang``: ``/usr/bin/env python3.12`` for a cp312 .pyz, else ``/usr/bin/env python3``)."""
        field = f"Field {self._option('shebang')}"
        value: str | None = _get(self.target_config, "shebang", str, field, "a non-empty string")
        if value is None:
            return None
        if not value.strip():
            message = f"{field} must be a non-empty string, got {value!r}"
            raise ConfigError(message)
        if value.startswith("#!"):
            value = value[2:]
        if "\n" in value or "\r" in value:
            message = f"Field {self._option('shebang')} must be one line, got {value!r}"
            raise ConfigError(message)
        if not value.startswith("/"):
            message = (
                f"Field {self._option('shebang')} must be an absolute interpreter path such as "
                f"{DEFAULT_SHEBANG!r} or '/usr/bin/python3.12', got {value!r}"
            )
            raise ConfigError(message)
        if len(value) + 3 > _BINPRM_BUF_SIZE:
            message = (
                f"Field {self._option('shebang')} is {len(value)} characters long; Linux reads at most "
                f"{_BINPRM_BUF_SIZE - 3} of a shebang line: use a shorter path or `/usr/bin/env python3`"
            )
            raise ConfigError(message)
        return value

    @cached_property
    def index_url(self) -> str | None:
        value = self.target_config.get("index-url")
        if value is None:
            return None
        return self._url(value, f"Field {self._option('index-url')}")

    @cached_property
    def extra_index_urls(self) -> list[str]:
        values = self._string_list("extra-index-urls", "URL")
        return [self._url(url, f"URL #{i} in field {self._option('extra-index-urls')}") for i, url in values]

    @property
    def secrets(self) -> frozenset[str]:
        """What `{env:...}` fields put into `index-url` and `extra-index-urls`: never shown (`fetch.redact`)."""
        _ = self.index_url, self.extra_index_urls
        return frozenset(self._secrets)

    @cached_property
    def _secrets(self) -> set[str]:
        return set()

    @cached_property
    def wheel_dirs(self) -> list[Path]:
        paths = []
        for i, value in self._string_list("wheel-dirs", "directory"):
            where = f"Directory #{i} in field {self._option('wheel-dirs')}"
            path = Path(self.root, os.path.expanduser(self._format(value, where)))
            if not path.is_dir():
                message = f"{where} does not exist: {value!r} (looked at {path})"
                raise ConfigError(message)
            paths.append(path)
        return paths

    @cached_property
    def targets(self) -> list[Target]:
        """The targets to build for: `$HATCH_ZIPAPP_TARGETS`, else the `targets` option, else the build host. A target
        the variable names that the option configures too is the configured one, with its options (`interpreter`, a
        full `python` version)."""
        from_env = os.environ.get(TARGETS_ENV, "").replace(",", " ").split()
        if from_env:
            targets = []
            for text in from_env:
                if text == "host":
                    targets.append(Target.host())
                    continue
                try:
                    target = Target.from_tag(text)
                except TargetError as e:
                    message = f"Environment variable {TARGETS_ENV}: {e}"
                    raise ConfigError(message) from None
                targets.append(self._configured(target.name) or target)
            return self._unique(targets, f"environment variable {TARGETS_ENV}")
        values: Any = self.target_config.get("targets")
        if values is None:
            return self._unique([Target.host()], "the default target")
        field = self._option("targets")
        if not isinstance(values, list) or not values or not all(isinstance(v, dict) for v in values):
            message = (
                f"Field {field} must be a non-empty array of tables, e.g. "
                f'[{{ python = "3.12", platform = "manylinux_2_28_x86_64" }}], got {values!r}'
            )
            raise ConfigError(message)
        targets = [self._target(f"Target #{i} in field {field}", table) for i, table in enumerate(values, 1)]
        for i, (target, table) in enumerate(zip(targets, values, strict=True), 1):
            embed = {key: (f"Target #{i} in field {field}: `{key}`", table[key]) for key in _EMBED_KEYS if key in table}
            self._target_embed[target.name] = embed
        return self._unique(targets, field)

    def _configured(self, name: str) -> Target | None:
        """The target of the `targets` option named ``name`` (``cp312-cp312-manylinux_2_28_x86_64``), read with its
        options; None when the option has none of that name. Only that table is read: another's `{env:...}` field
        need not be set for a build that does not name it."""
        values: Any = self.target_config.get("targets")
        for i, table in enumerate(values if isinstance(values, list) else [], 1):
            try:
                spec = (table["python"], table["platform"], table.get("implementation", "cpython"))
                named = Target.from_spec(*spec).name
            except (KeyError, TypeError, AttributeError, TargetError):
                continue  # not a target the variable can name; a build that uses the option says what is wrong
            if named == name:
                return self._target(f"Target #{i} in field {self._option('targets')}", table)
        return None

    def _target(self, where: str, table: dict[str, Any]) -> Target:
        """One table of the `targets` option."""
        _check_keys(table, _TARGET_KEYS, f"{where} has an unknown key `KEY`")
        for key in ("python", "platform"):
            if not isinstance(table.get(key), str) or not table[key]:
                message = f"{where} needs `{key}` (a string), got {table.get(key)!r}"
                raise ConfigError(message)
        for key in ("implementation", "interpreter"):
            _get(table, key, str, f"{where}: `{key}`", "a non-empty string")
        interpreter = table.get("interpreter")
        if interpreter is not None:
            interpreter = self._format(interpreter, f"{where}: `interpreter`")
        try:
            return Target.from_spec(
                table["python"], table["platform"], table.get("implementation", "cpython"), interpreter=interpreter
            )
        except TargetError as e:
            message = f"{where}: {e}"
            raise ConfigError(message) from None

    def _unique(self, targets: list[Target], where: str) -> list[Target]:
        names = [target.name for target in targets if target.explicit]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            message = f"{where} names the same target twice: {', '.join(duplicates)}"
            raise ConfigError(message)
        python_constraint = self.builder.metadata.core.python_constraint
        for target in targets:
            if target.environment.get("sys_platform") == "win32":
                message = (
                    f"Target {target.describe()} ({where}) is not supported: a .pyz for Windows needs .exe launchers "
                    f"for its scripts and a runtime that locks files with msvcrt rather than fcntl, which "
                    f"hatch-zipapp does not have yet. Build for Linux or macOS targets"
                )
                raise ConfigError(message)
            if not python_constraint.contains(target.environment["python_full_version"], prereleases=True):
                if target.is_host:
                    # hatch builds with the Python running the build: the fix is another Python, or named targets.
                    fix = (
                        f"run the build with a Python that `requires-python` allows, or build for the servers' "
                        f"Python by naming targets (`{self._key}.targets`, or {TARGETS_ENV}=cp3XX-PLATFORM; "
                        f"see docs/targets.md)"
                    )
                    running = target.environment["python_full_version"]
                    what = f"The build host's Python {running} ({where})"
                else:
                    fix = "change the target's `python`, or `project.requires-python`"
                    what = f"Target {target.describe()} ({where})"
                message = f"{what} is outside the project's `requires-python` ({python_constraint}): {fix}"
                raise ConfigError(message)
        return targets

    @cached_property
    def pure_python_ok(self) -> frozenset[NormalizedName]:
        """Packages a target may get the pure-Python wheel of, where the lock has compiled ones, without a warning
        (fetch.py warns; a name the lock does not have is an error there, once the lock is read)."""
        names = set()
        for i, value in self._string_list("pure-python-ok", "package name"):
            try:
                names.add(canonicalize_name(value, validate=True))
            except InvalidName:
                message = (
                    f"Package name #{i} in field {self._option('pure-python-ok')} is not a valid package name: "
                    f'{value!r} (write the name as the lock has it, e.g. "black")'
                )
                raise ConfigError(message) from None
        return frozenset(names)

    @cached_property
    def django(self) -> DjangoConfig | None:
        table: Any = self.target_config.get("django")
        if table is None:
            return None
        field = self._option("django")
        if not isinstance(table, dict):
            message = f"Field {field} must be a table with at least `settings`, got {table!r}"
            raise ConfigError(message)
        _check_keys(table, _DJANGO_KEYS, f"Unknown field `{self._key}.django.KEY`")
        settings = table.get("settings")
        if not isinstance(settings, str) or not all(part.isidentifier() for part in settings.split(".")):
            message = (
                f"Field `{self._key}.django.settings` must be a module name such as 'mysite.settings', got {settings!r}"
            )
            raise ConfigError(message)
        environment = table.get("environment", {})
        if not isinstance(environment, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in environment.items()
        ):
            message = (
                f"Field `{self._key}.django.environment` must be a table of strings (variables for collectstatic "
                f"at build time), got {environment!r}"
            )
            raise ConfigError(message)
        collectstatic = _get(table, "collectstatic", bool, f"Field `{self._key}.django.collectstatic`", "a boolean")
        server = table.get("server")
        if server is not None and server not in DJANGO_SERVERS:
            message = (
                f"Field `{self._key}.django.server` must be one of {', '.join(map(repr, sorted(DJANGO_SERVERS)))} "
                f"(the server `serve` runs; omit it to run the one the lock carries), got {server!r}"
            )
            raise ConfigError(message)
        allow = table.get("allow", [])
        if not isinstance(allow, list) or not all(isinstance(a, str) and a in DJANGO_ALLOWANCES for a in allow):
            message = (
                f"Field `{self._key}.django.allow` must be a list of settings checks to allow, from "
                f"{', '.join(map(repr, sorted(DJANGO_ALLOWANCES)))}, got {allow!r}"
            )
            raise ConfigError(message)
        return DjangoConfig(
            settings, dict(environment), True if collectstatic is None else collectstatic, server, frozenset(allow)
        )

    @cached_property
    def confine(self) -> ConfineConfig:
        table: Any = self.target_config.get("confine")
        if table is None:
            return ConfineConfig()
        key = f"{self._key}.confine"
        if not isinstance(table, dict):
            message = (
                f"Field `{key}` of pyproject.toml must be a table of `write`, `connect`, `bind` (arrays of strings) "
                f"and `settings` (a boolean), got {table!r}"
            )
            raise ConfigError(message)
        _check_keys(table, _CONFINE_KEYS, f"Unknown field `{key}.KEY` of pyproject.toml")
        settings = _get(table, "settings", bool, f"Field `{key}.settings` of pyproject.toml", "a boolean")
        entries = []
        for kind in KINDS:
            values = table.get(kind, [])
            if not isinstance(values, list):
                message = f"Field `{key}.{kind}` of pyproject.toml must be an array of strings, got {values!r}"
                raise ConfigError(message)
            for i, value in enumerate(values, 1):
                where = f"Entry #{i} in field `{key}.{kind}` of pyproject.toml"
                if not isinstance(value, str):
                    message = f"{where} must be a string, got {value!r}: {FIX[kind]}"
                    raise ConfigError(message)
                reason = problem(kind, value)
                if reason is not None:
                    message = f"{where}: {value!r} {reason}; {FIX[kind]}"
                    raise ConfigError(message)
                entries.append((kind, value))
        return ConfineConfig(Declaration.of(entries), True if settings is None else bool(settings))

    @cached_property
    def isolated(self) -> bool:
        value = _get(self.target_config, "isolated", bool, f"Field {self._option('isolated')}", "a boolean")
        return True if value is None else bool(value)

    @cached_property
    def keep_extractions(self) -> int:
        field, what = f"Field {self._option('keep-extractions')}", "a whole number of at least 1"
        value = _get(self.target_config, "keep-extractions", int, field, what)
        if value is None:
            return 2
        if value < 1:
            message = f"{field} must be {what}, got {value!r}"
            raise ConfigError(message)
        return int(value)

    # -- embed-python (embed.py) -----------------------------------------------------------------------------------

    @cached_property
    def _target_embed(self) -> dict[str, dict[str, tuple[str, Any]]]:
        """Target name → its own `embed-python` and `python-archive` (with where they are), filled by `targets`."""
        return {}

    @cached_property
    def embed_python(self) -> bool:
        """The default of every target's `embed-python`."""
        value = _get(self.target_config, "embed-python", bool, f"Field {self._option('embed-python')}", "a boolean")
        return bool(value)

    @cached_property
    def python_archive(self) -> ArchiveSource | None:
        """The default of every target's `python-archive` (None: pbs-installer's table chooses)."""
        value = self.target_config.get("python-archive")
        return None if value is None else self._python_archive(f"Field {self._option('python-archive')}", value)

    @cached_property
    def embedded(self) -> dict[str, ArchiveSource | None]:
        """Target name → the interpreter archive to embed (None: a plain .pyz). A target's own `embed-python` and
        `python-archive` override the defaults; `python-archive` needs `embed-python`."""
        from hatch_zipapp import embed

        result: dict[str, ArchiveSource | None] = {}
        for target in self.targets:
            own = self._target_embed.get(target.name, {})
            on, archive = self.embed_python, self.python_archive
            archive_field = f"Field {self._option('python-archive')}"
            if "embed-python" in own:
                on = bool(_get({"v": own["embed-python"][1]}, "v", bool, own["embed-python"][0], "a boolean"))
            if "python-archive" in own:
                archive_field, value = own["python-archive"]
                archive = self._python_archive(archive_field, value)
            if "python-archive" in own and not on:
                message = (
                    f"{archive_field} has no effect without `embed-python = true` for target {target.describe()}: "
                    f"set it, or remove `python-archive`"
                )
                raise ConfigError(message)
            result[target.name] = (archive or embed.select(target)) if on else None
        if self.python_archive is not None and not any(result.values()):
            message = (
                f"Field {self._option('python-archive')} has no effect: no target has `embed-python = true`. "
                f"Set it (at the top of the table, or in a target), or remove `python-archive`"
            )
            raise ConfigError(message)
        return result

    def _python_archive(self, field: str, table: Any) -> ArchiveSource:
        example = '{ url = "https://mirror.example/cpython-....tar.gz", sha256 = "<64 hex digits>" }'
        if not isinstance(table, dict):
            message = f"{field} must be a table such as {example}, got {table!r}"
            raise ConfigError(message)
        _check_keys(table, ("sha256", "url"), f"{field} has an unknown key `KEY`")
        url, sha256 = table.get("url"), table.get("sha256")
        if not isinstance(url, str) or not url:
            message = f"{field} needs `url` (a URL, or a path relative to the project), got {url!r}: {example}"
            raise ConfigError(message)
        if not isinstance(sha256, str) or not re.fullmatch(r"[0-9a-fA-F]{64}", sha256):
            message = f"{field} needs `sha256` (64 hex digits, the archive's), got {sha256!r}: {example}"
            raise ConfigError(message)
        where = f"`url` of {field[0].lower()}{field[1:]}"
        url = self._url(url, where) if "://" in url else self._format(url, where)
        secrets = frozenset(secret for secret in self._secrets if secret in url)  # what {env:...} put in
        return ArchiveSource(url, sha256.lower(), "`python-archive`", secrets=secrets)

    @cached_property
    def reexec(self) -> bool:
        """Children started as ``sys.executable -m ...`` or ``sys.executable script`` see the .pyz's packages
        (bootstrap/sitecustomize.py); virtualenvs they make do not."""
        value = _get(self.target_config, "reexec", bool, f"Field {self._option('reexec')}", "a boolean")
        return bool(value)

    @cached_property
    def bytecode(self) -> bool:
        value = _get(self.target_config, "bytecode", bool, f"Field {self._option('bytecode')}", "a boolean")
        return True if value is None else bool(value)

    def _format(self, value: str, where: str, secrets: set[str] | None = None) -> str:
        """``value`` through the project's hatchling context, as hatchling formats `[project] dependencies`;
        ``secrets`` collects what `{env:...}` fields took from the environment."""
        context = self.builder.metadata.context
        env = _Environment(self.root)
        try:
            with context.apply_context(env):
                formatted = context.format(value)
        except (ValueError, IndexError, KeyError, AttributeError, TypeError) as e:
            if env.missing:
                message = (
                    f"{where} uses environment variable {env.missing}, which is not set: set it, or give a "
                    f"default with `{{env:{env.missing}:default}}`"
                )
            else:
                name = re.search(r"\$\{(\w+)\}", value)
                shell = f" (`${{{name[1]}}}` is not expanded: write `{{env:{name[1]}}}`)" if name else ""
                message = (
                    f"{where}: {redact(value)!r} cannot be formatted ({e}){shell}. The fields are hatchling's: "
                    f"{{env:NAME}}, {{env:NAME:default}}, {{root}}, {{root:uri}}, {{home}}, {{/}}, {{;}}; "
                    f"write a literal brace as {{{{ or }}}}"
                )
            raise ConfigError(message) from None
        if secrets is not None:
            secrets.update(env.taken)
        return formatted

    def _url(self, value: Any, where: str) -> str:
        _get({"url": value}, "url", str, where, "a non-empty string")
        url = self._format(value, where, self._secrets)
        if not url.startswith(("https://", "http://", "file://")):
            shown = redact(value) if url == value else f"{redact(value)} (formatted: {redact(url, self._secrets)})"
            message = f"{where} must be an http(s):// or file:// URL, got {shown!r}"
            raise ConfigError(message)
        if url != value:
            self._check_fields_in_url(value, where)
        try:
            _ = urllib.parse.urlsplit(url).port
        except ValueError as e:
            message = f"{where} is not a valid URL once formatted ({scrub(str(e), self._secrets)}): {redact(value)!r}"
            raise ConfigError(message) from None
        return url

    def _check_fields_in_url(self, value: str, where: str) -> None:
        """An `{env:...}` value must stay in the part of the URL where its field is: a token holding `/` in the
        password would otherwise move the rest of it into the host or the path, sent to another server and shown."""
        context = self.builder.metadata.context
        env = _Environment(self.root, mark=True)
        with context.apply_context(env):
            marked = context.format(value)
        parts = urllib.parse.urlsplit(marked)
        userinfo, _, host = parts.netloc.rpartition("@") if "@" in parts.netloc else ("", "", parts.netloc)
        places = {
            "the user name or password": (userinfo, "/?#"),
            "the host": (host, "/?#@"),
            "the path": (parts.path, "?#"),
            "the query": (parts.query, "#"),
        }
        for name, secret, marker in env.fields:
            for place, (text, reserved) in places.items():
                bad = sorted({c for c in secret if c in reserved or c.isspace()}) if marker in text else []
                if bad:
                    message = (
                        f"{where}: environment variable {name} goes into {place} of the URL and holds "
                        f"{', '.join(map(repr, bad))}, which would end that part there and send the rest elsewhere: "
                        f"percent-encode them in the variable ('/' as %2F, '?' as %3F, '#' as %23, '@' as %40, "
                        f"a space as %20); its value is not shown"
                    )
                    raise ConfigError(message)

    def _string_list(self, name: str, what: str) -> list[tuple[int, str]]:
        values: Any = self.target_config.get(name, [])
        if not isinstance(values, list):
            message = f"Field {self._option(name)} must be an array of strings, got {values!r}"
            raise ConfigError(message)
        for i, value in enumerate(values, 1):
            where = f"{what.capitalize()} #{i} in field {self._option(name)}"
            _get({name: value}, name, str, where, "a non-empty string")
            if value is None:
                message = f"{where} must be a non-empty string, got None"
                raise ConfigError(message)
        return list(enumerate(values, 1))


def _check_entry_point(value: str, where: str) -> str:
    module, sep, function = value.partition(":")
    module, function = module.strip(), function.strip()
    if "[" in function:  # `pkg.mod:func [extra]` in [project.scripts]
        function = function.split("[", 1)[0].strip()
    if not (
        sep
        and module
        and function
        and all(part.isidentifier() for part in module.split("."))
        and all(part.isidentifier() for part in function.split("."))
    ):
        message = f"Entry point {value!r} in {where} is not of the form `module:function` (e.g. `mysite.cli:main`)"
        raise ConfigError(message)
    return f"{module}:{function}"


def _get(table: Mapping[str, Any], key: str, kinds: type | tuple[type, ...], field: str, what: str) -> Any:
    """``table[key]`` (None when absent), which must be of ``kinds`` (a bool is not an int), non-empty if a string;
    else an error: ``Field FIELD must be WHAT, got VALUE``. (packaging's ``pylock._get``, with the message of
    hatchling's builder config.)"""
    value = table.get(key)
    if value is None:
        return None
    wrong = not isinstance(value, kinds) or (isinstance(value, bool) and bool not in _as_tuple(kinds))
    if wrong or value == "":
        message = f"{field} must be {what}, got {value!r}"
        raise ConfigError(message)
    return value


def _as_tuple(kinds: type | tuple[type, ...]) -> tuple[type, ...]:
    return kinds if isinstance(kinds, tuple) else (kinds,)


def _check_keys(keys: Iterable[str], known: Sequence[str], unknown: str, *, noun: str = "keys") -> None:
    """Every key is known, else an error: ``unknown`` (with ``KEY`` for the key) says which and where, then a
    did-you-mean (or the known ones): the top-level table, each target and the `django` table say it the same way."""
    for key in keys:
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f"did you mean `{close[0]}`?" if close else f"known {noun}: {', '.join(known)}"
            message = f"{unknown.replace('KEY', key)}: {hint}"
            raise ConfigError(message)
