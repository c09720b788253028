"""The `zipapp` build target: the pipeline, stage by stage.

config → lock → target → fetch (→ sdist) → install → static (Django) → bytecode → archive. Each stage lives in
its own module; this one orders them, reports progress, and makes sure a failed build leaves nothing new in the
output directory: every artifact is written under a temporary name and renamed into place only when all targets
have been built.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import functools
import os
import sys
import time
from collections.abc import Callable, Generator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hatchling.builders.plugin.interface import BuilderInterface
from hatchling.builders.utils import normalize_inclusion_map
from hatchling.plugin.manager import PluginManager
from packaging.utils import canonicalize_name

from hatch_zipapp import __version__, embed, scratch
from hatch_zipapp.archive import PyzContents, runtime_files, write_pyz
from hatch_zipapp.bootstrap.documents import (
    COMMANDS,
    COMPILE_PYC,
    ENTRY_POINT,
    INFO_BUILDER,
    INFO_BUILT_AT,
    INFO_BYTECODE,
    INFO_CONFINE,
    INFO_DISTRIBUTIONS,
    INFO_ENTRY_POINT,
    INFO_LOCK,
    INFO_PROJECT,
    INFO_SOURCE_DATE_EPOCH,
    INFO_STATIC_FILES,
    INFO_TARGET,
    INFO_VERSION,
    INHERIT_SITE,
    KEEP,
    NAME,
    REEXEC,
    SCRIPTS,
    TARGET_PYTHON,
    TARGET_TAG,
)
from hatch_zipapp.bytecode import compile_bytecode
from hatch_zipapp.cache import Cache, sha256_hex
from hatch_zipapp.config import DEFAULT_INDEX_URL, ZipappBuilderConfig
from hatch_zipapp.context import BuildContext, Project
from hatch_zipapp.embed import EMBEDDED_PYTHON
from hatch_zipapp.errors import ConfigError, ZipappError
from hatch_zipapp.fetch import Fetcher
from hatch_zipapp.install import SITE_PACKAGES, Staged, StagedFile, stage_packages
from hatch_zipapp.lock import RequirementsFile, load_lock
from hatch_zipapp.progress import Progress
from hatch_zipapp.pyz.confine import Declaration
from hatch_zipapp.reproducible import check_compressor, source_date_epoch
from hatch_zipapp.scripts import Resolved, resolve
from hatch_zipapp.static import stage_django
from hatch_zipapp.target import Target

if TYPE_CHECKING:
    from hatchling.builders.hooks.plugin.interface import BuildHookInterface

    from hatch_zipapp.bootstrap.documents import Environment, Info

__all__ = ["ZipappBuilder"]

#: The ``build_data`` keys a .pyz honours: hatchling's list of the hooks, the files a hook adds (``force_include``,
#: into site-packages), and the runtime dependencies a hook adds (``dependencies``, which the lock must satisfy).
_HONOURED = frozenset({"build_hooks", "force_include", "dependencies"})


class ZipappBuilder(BuilderInterface[ZipappBuilderConfig, PluginManager]):
    """Build one .pyz per target of the project and its locked dependencies (and the project's wheel beside them).

    Each target is one of hatchling's build *versions*, named by the target (``host`` for the build host,
    ``cp312-cp312-manylinux_2_28_x86_64`` for an explicit one): hatchling runs the build hooks' ``initialize`` and
    ``finalize`` around each, yields each .pyz as an artifact, and ``hatch build -t zipapp:VERSION`` builds one.
    """

    PLUGIN_NAME = "zipapp"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._run: BuildContext | None = None
        self._stack = contextlib.ExitStack()
        #: build_data key → the hooks whose ``initialize`` set or changed it, for the version being built.
        self._set_by: dict[str, list[str]] = {}
        self._progress = Progress(self.app)
        self._interpreter: embed.Interpreter | None = None

    @classmethod
    def get_config_class(cls) -> type[ZipappBuilderConfig]:
        return ZipappBuilderConfig

    def get_version_api(self) -> dict[str, Callable[..., str]]:
        return {version: functools.partial(self._build_version, target) for version, target in self._versions().items()}

    def get_default_versions(self) -> list[str]:
        return list(self._versions())

    def _versions(self) -> dict[str, Target]:
        config: ZipappBuilderConfig = self.config
        return {("host" if target.is_host else target.name): target for target in config.targets}

    def build(self, **kwargs: Any) -> Generator[str, None, None]:
        """hatchling's build, one version per target. A target's files are put in place when its version is built
        (so its ``finalize`` hooks see them); if a later target fails, every file this build put in place is removed
        and what it replaced put back: a failed build leaves the output directory as it was."""
        self._run = None
        self._stack = contextlib.ExitStack()
        self._progress = Progress(self.app)
        with self._stack:
            try:
                self._validate()
                yield from super().build(**kwargs)
            except GeneratorExit:  # the caller took what it wanted: keep what was built
                self._finish(commit=True)
                raise
            except BaseException as e:
                self._finish(commit=False)
                if isinstance(e, ZipappError) and _run_by_hatchling_cli() and self.app.verbosity < 1:
                    self.app.abort(f"hatch-zipapp: {e}")  # the message alone; `hatch -v build` shows the traceback
                raise
            self._finish(commit=True)

    def clean(self, directory: str, versions: list[str]) -> None:
        prefix = f"{self.normalize_file_name_component(self.metadata.core.name)}-"
        for path in Path(directory).glob(f"{prefix}*"):
            if path.name.endswith((".pyz", ".whl", ".pyz.sha256", ".pyz.cdx.json", ".pyz.index")) and path.is_file():
                path.unlink()
        scratch.sweep_all(Path(directory))  # what killed builds left, beside the artifacts and in the temp directory

    def get_build_hooks(self, directory: str) -> dict[str, BuildHookInterface[Any]]:
        """hatchling's build hooks, each one's ``initialize`` watched for the ``build_data`` keys it sets, so that a
        key a .pyz cannot honour is blamed on the hook that set it (see :meth:`_hook_data`)."""
        hooks = super().get_build_hooks(directory)
        for name, hook in hooks.items():
            hook.initialize = functools.partial(_watched, name, hook.initialize, self._set_by)  # type: ignore[method-assign]
        return hooks

    def _validate(self) -> None:
        """Every option, before any hook or download: a typo costs no work."""
        config: ZipappBuilderConfig = self.config
        config.validate()
        source_date_epoch()
        check_compressor()

    def _start(self, output: Path, target: Target) -> BuildContext:
        """What every target needs, made once, by the first target's version."""
        config: ZipappBuilderConfig = self.config
        swept = scratch.sweep_all(output)
        if swept:
            self.app.display_info(f"Removed {swept} temporary files and directories of killed builds")
        staging = self._stack.enter_context(scratch.directory("build"))
        lock = load_lock(config.lock, staging)
        if isinstance(lock, RequirementsFile) and any(not target.is_host for target in config.targets):
            self.app.display_warning(
                f"{lock.path.name} is a pip-compile lock, resolved for the one interpreter that ran pip-compile: "
                f"a dependency that only another platform or Python version needs is not in it. For other targets "
                f"use a universal lock: `hatch-zipapp lock` (pylock.toml)"
            )
        primary = config.index_url or (lock.index_urls[0] if lock.index_urls else DEFAULT_INDEX_URL)
        index_urls = list(dict.fromkeys([primary, *lock.index_urls, *config.extra_index_urls]))
        fetcher = Fetcher(
            Cache.default(warn=self.app.display_warning),
            index_urls=index_urls,
            wheel_dirs=[*config.wheel_dirs, *lock.wheel_dirs],
            secrets=config.secrets,
        )
        self._stack.callback(fetcher.close)
        wheel, wheel_hooks = self._build_project_wheel(os.fspath(staging / "wheel"))
        core = self.metadata.core
        project = Project(core.name, self.metadata.version, core.dependencies, core.requires_python, self.project_id)
        run = BuildContext(
            config, project, target, lock, fetcher, output, source_date_epoch(), staging, wheel, wheel_hooks,
            progress=self._progress, display=self.app,
        )  # fmt: skip
        self._run = run
        return run

    def _build_version(self, target: Target, directory: str, **build_data: Any) -> str:
        """One target's .pyz (hatchling's version callable), stage by stage; put in place, and its path."""
        run = self._run or self._start(Path(directory), target)
        context = run.for_target(target, *self._hook_data(build_data, run))
        downloaded, read_locally = context.fetcher.downloaded, context.fetcher.read_locally
        with contextlib.closing(stage_packages(context)) as staged:  # lock → fetch (→ sdist) → install
            context = self._with_embedded_compiler(context)  # bytecode and collectstatic by an embedded Python
            collected, declared = stage_django(context, staged)  # the Django entry point and collectstatic
            entry = resolve(staged.tree, context.config.entry_point, project=context.project.name)
            runtime = runtime_files(staged.requirement)
            compiled = compile_bytecode(context, staged.tree, runtime)
            self._summary(context, staged, collected, compiled)
            confine = context.config.confine.declaration | declared  # the table, and what the settings say
            pending = self._write(context, staged, runtime, collected, compiled, entry, confine)  # .pyz, sidecars
        wheel = self._place(context, pending)
        count = context.fetcher.downloaded - downloaded
        if count:
            files = "file" if count == 1 else "files"
            self.app.display_info(f"Downloaded {count} {files} into {context.fetcher.cache.root}")
        count = context.fetcher.read_locally - read_locally
        if count:
            files = "file" if count == 1 else "files"
            self.app.display_info(f"Read {count} local {files} (python-archive) into {context.fetcher.cache.root}")
        if wheel is not None:
            self.app.display_info(f"Wheel: {wheel}")
        return os.fspath(next(final for _, final in pending if final.suffix == ".pyz"))

    def _place(self, context: BuildContext, pending: list[tuple[Path, Path]]) -> Path | None:
        """Put a target's files in place (the project's wheel with the first target's), noting what each replaced;
        the wheel, if it was put in place now."""
        wheel = context.output / context.wheel.name
        first = not any(final == wheel for final, _ in context.placed)
        if first:
            pending.append((scratch.write_beside(wheel, context.wheel.read_bytes(), 0o644), wheel))
        pyz = next(final for _, final in pending if final.suffix == ".pyz")
        try:
            if any(final == pyz for final, _ in context.placed):
                message = f"Two targets give the same .pyz name ({pyz.name}): make the targets distinct"
                raise ZipappError(message)
            for temporary, final in pending:
                context.placed.append((final, scratch.set_aside(final)))
                scratch.rename(temporary, final)
        finally:
            for temporary, _ in pending:
                scratch.discard(temporary)
        return wheel if first else None

    def _finish(self, *, commit: bool) -> None:
        """Keep what this build put in place (drop what it replaced), or undo it (put back what it replaced)."""
        run, self._run = self._run, None
        if run is None:
            return
        for final, previous in reversed(run.placed):
            if commit:
                if previous is not None:
                    scratch.discard(previous)
                continue
            final.unlink(missing_ok=True)
            if previous is not None:
                scratch.rename(previous, final)

    def _hook_data(self, build_data: dict[str, Any], run: BuildContext) -> tuple[dict[str, StagedFile], list[str]]:
        """What the build hooks' ``build_data`` asks of this target: files to add to site-packages
        (``force_include``) and runtime dependencies the lock must satisfy (``dependencies``). A key that changes how
        the project's wheel is made was honoured by the wheel build when the hooks that ran here run there too;
        set by a hook only this target runs, it cannot apply and is an error naming it."""
        set_by = dict(self._set_by)
        self._set_by.clear()  # for the next version (the hooks' wrappers hold this dictionary)
        for key, value in sorted(build_data.items()):
            only_here = sorted(name for name in set_by.get(key, ()) if name not in run.wheel_hooks)
            if key in _HONOURED or not only_here:
                continue
            hooks = ", ".join(f"`{name}`" for name in only_here)
            message = (
                f"build_data[{key!r}] = {value!r}, set by a build hook of the zipapp target ({hooks}), cannot apply "
                f"to a .pyz: it embeds the project's wheel as hatchling's wheel target builds it. Give the wheel "
                f"target that hook (`[tool.hatch.build.hooks.NAME]` runs for both), or set {key!r} only when "
                f'`self.target_name == "wheel"`'
            )
            raise ConfigError(message)
        dependencies = build_data.get("dependencies", [])
        if not isinstance(dependencies, list) or not all(isinstance(d, str) for d in dependencies):
            message = f"build_data['dependencies'] of a build hook must be a list of strings, got {dependencies!r}"
            raise ConfigError(message)
        files: dict[str, StagedFile] = {}
        for included in self.recurse_forced_files(normalize_inclusion_map(build_data["force_include"], self.root)):
            relative = included.distribution_path.replace(os.sep, "/")
            parts = relative.split("/")
            if relative.startswith("/") or ".." in parts or "" in parts:
                message = (
                    f"build_data['force_include'] of a build hook puts {included.path} at {relative!r}, outside "
                    f"site-packages: give a path relative to it, such as 'app/generated.py'"
                )
                raise ConfigError(message)
            source = Path(included.path)
            executable = bool(source.stat().st_mode & 0o111)
            files[f"{SITE_PACKAGES}/{relative}"] = StagedFile(
                source.read_bytes(), executable, "a build hook's force_include"
            )
        return files, list(dependencies)

    def _summary(self, context: BuildContext, staged: Staged, collected: int, compiled: int) -> None:
        built = sum(1 for record in staged.embedded if "built_wheel" in record)
        summary = f"{len(staged.wheels) - 1} locked packages" + (f", {built} built from source" if built else "")
        summary += f", {collected} static files" if collected else ""
        summary += f", {compiled} .pyc files" if compiled else ""
        self.app.display_info(f"{context.target.describe()}: {summary}")

    def _write(
        self,
        context: BuildContext,
        staged: Staged,
        runtime: dict[str, StagedFile],
        collected: int,
        compiled: int,
        entry: Resolved,
        confine: Declaration,
    ) -> list[tuple[Path, Path]]:
        """The archive stage: the .pyz, its SBOM and checksum, in temporary files beside their final names."""
        config, target, lock, epoch = context.config, context.target, context.lock, context.epoch
        tree, requirement, embedded = staged.tree, staged.requirement, staged.embedded
        tree.check_paths()  # again: collectstatic and bytecode added files
        tag = requirement["tag"]  # with an embedded interpreter, what it needs too (install.py)
        final = context.output / f"{context.project.project_id}-{tag}.pyz"
        settings: Environment = {
            COMMANDS: entry.commands,
            COMPILE_PYC: config.bytecode and not compiled,
            ENTRY_POINT: entry.entry_point,
            INHERIT_SITE: not config.isolated,
            KEEP: config.keep_extractions,
            NAME: canonicalize_name(self.metadata.core.name),
            REEXEC: config.reexec,
            SCRIPTS: entry.scripts,
        }
        info: Info = {
            INFO_PROJECT: self.metadata.core.name,
            INFO_VERSION: self.metadata.version,
            INFO_TARGET: {
                TARGET_TAG: tag,
                TARGET_PYTHON: target.python_version,
                "implementation": target.implementation,
                "platform": target.platform,
                "build_host": target.is_host,
                "requires": requirement,
            },
            INFO_LOCK: {"file": lock.path.name, "sha256": sha256_hex(lock.path.read_bytes())},
            INFO_DISTRIBUTIONS: sorted(embedded, key=lambda record: record["name"]),
            INFO_ENTRY_POINT: entry.entry_point,
            INFO_BYTECODE: bool(compiled),
            INFO_STATIC_FILES: collected,
            INFO_SOURCE_DATE_EPOCH: epoch,
            INFO_BUILT_AT: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch)),
            INFO_BUILDER: f"hatch-zipapp {__version__}",
        }
        if confine:  # absent when nothing is declared: the .pyz of a site that declares nothing is as it was
            info[INFO_CONFINE] = confine.to_json()
        shebang = config.shebang or target.shebang(requirement)
        prefix = self._embed(context, final.name, info)
        with context.progress.step(f"Writing {final.name}") as step:
            contents = PyzContents(tree.files, runtime, shebang, epoch, settings, info, prefix)
            pending = write_pyz(final, contents)
            step.add_bytes(pending[0][0].stat().st_size)
        return pending

    def _with_embedded_compiler(self, context: BuildContext) -> BuildContext:
        """A foreign target that embeds Python and names no `interpreter` compiles its bytecode (and runs
        collectstatic: static.py) with the embedded interpreter when it runs here (unpacked into the staging
        directory), before any `python3.X` on PATH."""
        target = context.target
        if target.is_host or target.interpreter or not (context.config.bytecode or context.config.django):
            return context
        if context.config.embedded.get(target.name) is None:
            return context
        python = embed.unpack_for_build(self._embedded(context), context.staging)
        if python is None:
            return context  # another platform's interpreter: bytecode.py looks for python3.X on PATH as usual
        return context.for_target(dataclasses.replace(target, interpreter=python))

    def _embedded(self, context: BuildContext) -> embed.Interpreter:
        """The target's interpreter archive, loaded once a target (the bytecode stage and the archive use it)."""
        source = context.config.embedded[context.target.name]
        assert source is not None
        if self._interpreter is None or self._interpreter.source != source:
            with context.progress.step(f"Embedding Python from {source.origin}"):
                self._interpreter = embed.load(context, source)
        return self._interpreter

    def _embed(self, context: BuildContext, name: str, info: Info) -> Callable[[int], bytes] | None:
        """With `embed-python`: the launcher and the interpreter archive (embed.py), which go before the zip instead
        of the shebang line (a function of the file's size, which the launcher checks), and the interpreter described in
        the build information; else None."""
        if context.config.embedded.get(context.target.name) is None:
            return None
        interpreter = self._embedded(context)
        info[INFO_TARGET][EMBEDDED_PYTHON] = interpreter.describe()
        self.app.display_info(f"{context.target.describe()}: embedded CPython {interpreter.version}")
        return embed.prefix(interpreter, name)

    def _build_project_wheel(self, directory: str) -> tuple[Path, frozenset[str]]:
        """The project's wheel, built by hatchling's own wheel builder (the wheel target's config and hooks apply),
        and the names of the hooks it ran."""
        from hatchling.builders.wheel import WheelBuilder

        builder = WheelBuilder(self.root, plugin_manager=self.plugin_manager, metadata=self.metadata, app=self.app)
        try:
            wheel = Path(next(iter(builder.build(directory=directory, versions=["standard"]))))
        except ValueError as e:
            if not str(e).startswith("Unable to determine which files to ship"):
                raise
            name = builder.normalize_file_name_component(self.metadata.core.name)
            message = (
                f"hatchling's wheel builder finds no code of the project (no {name}/, src/{name}/ or {name}.py). "
                f"A project that only gathers its dependencies says so: `[tool.hatch.build.targets.wheel] "
                f"bypass-selection = true` (docs/applications.md); one with code names it: `packages = "
                f'["src/PACKAGE"]` there'
            )
            raise ConfigError(message) from None
        return wheel, frozenset(builder.config.hook_config)


def _watched(
    name: str,
    initialize: Callable[[str, dict[str, Any]], None],
    set_by: dict[str, list[str]],
    version: str,
    build_data: dict[str, Any],
) -> None:
    """A hook's ``initialize``, noting in ``set_by`` each ``build_data`` key it set or changed."""
    try:
        before = copy.deepcopy(build_data)
    except (TypeError, copy.Error):  # something a hook put there that cannot be copied: compare what can be
        before = dict(build_data)
    initialize(version, build_data)
    for key, value in build_data.items():
        if key not in before or before[key] != value:
            set_by.setdefault(key, []).append(name)


def _run_by_hatchling_cli() -> bool:
    """Whether this process is `hatchling build` (as `hatch build` runs it), not a library call."""
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    return (spec is not None and spec.name.startswith("hatchling")) or Path(sys.argv[0]).name == "hatchling"
