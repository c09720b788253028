"""The `zipapp` build target: the pipeline, stage by stage.

config → lock → target → fetch (→ sdist) → install → static (Django) → bytecode → archive. Each stage lives in
its own module; this one orders them, reports progress, and makes sure a failed build leaves nothing new in the
output directory: every artifact is written under a temporary name and renamed into place only when all targets
have been built.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections.abc import Callable, Generator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hatchling.builders.plugin.interface import BuilderInterface
from hatchling.plugin.manager import PluginManager
from packaging.utils import NormalizedName, canonicalize_name

from hatch_zipapp import __version__
from hatch_zipapp.archive import bootstrap_files, write_beside, write_pyz
from hatch_zipapp.bootstrap.documents import (
    COMPILE_PYC,
    ENTRY_POINT,
    INFO_BUILDER,
    INFO_BUILT_AT,
    INFO_BYTECODE,
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
    TARGET_PYTHON,
    TARGET_TAG,
)
from hatch_zipapp.bytecode import find_compiler
from hatch_zipapp.config import DEFAULT_INDEX_URL, ZipappBuilderConfig
from hatch_zipapp.errors import ZipappError
from hatch_zipapp.fetch import Cache, Fetcher, sha256_hex
from hatch_zipapp.install import StagedFile, StagingTree, install_wheel
from hatch_zipapp.lock import Lock, RequirementsFile, check_not_stale, load_lock
from hatch_zipapp.reproducible import source_date_epoch
from hatch_zipapp.sdist import wheel_from_sdist
from hatch_zipapp.static import add_django_entry_point, collect_static
from hatch_zipapp.target import Target

if TYPE_CHECKING:
    from hatch_zipapp.bootstrap.check import Requirement
    from hatch_zipapp.bootstrap.documents import Environment, Info

__all__ = ["ZipappBuilder"]


class ZipappBuilder(BuilderInterface[ZipappBuilderConfig, PluginManager]):
    """Build one .pyz per target of the project and its locked dependencies (and the project's wheel beside them)."""

    PLUGIN_NAME = "zipapp"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._more_artifacts: list[str] = []

    @classmethod
    def get_config_class(cls) -> type[ZipappBuilderConfig]:
        return ZipappBuilderConfig

    def get_version_api(self) -> dict[str, Callable[..., str]]:
        return {"standard": self.build_standard}

    def get_default_versions(self) -> list[str]:
        return ["standard"]

    def build(self, **kwargs: Any) -> Generator[str, None, None]:
        """hatchling's build, yielding every .pyz (one per target), not only the one the version callable returns."""
        for artifact in super().build(**kwargs):
            yield from self._more_artifacts
            self._more_artifacts = []
            yield artifact

    def clean(self, directory: str, versions: list[str]) -> None:
        prefix = f"{self.normalize_file_name_component(self.metadata.core.name)}-"
        for path in Path(directory).glob(f"{prefix}*"):
            if path.name.endswith((".pyz", ".whl", ".pyz.sha256", ".pyz.cdx.json")) and path.is_file():
                path.unlink()

    def build_standard(self, directory: str, **build_data: Any) -> str:
        try:
            artifacts = self._build(Path(directory))
        except ZipappError as e:
            if _run_by_hatchling_cli() and self.app.verbosity < 1:
                self.app.abort(f"hatch-zipapp: {e}")  # the message alone; `hatch -v build` shows the traceback
            raise
        self._more_artifacts = artifacts[:-1]
        return artifacts[-1]

    def _build(self, output: Path) -> list[str]:
        config: ZipappBuilderConfig = self.config
        config.validate_keys()
        epoch = source_date_epoch()
        targets = config.targets
        # Every option is validated before any work, so a typo costs no download and no build.
        _ = config.entry_point, config.shebang, config.bytecode, config.django, config.isolated, config.keep_extractions

        with tempfile.TemporaryDirectory(prefix="hatch-zipapp-") as staging_name:
            staging = Path(staging_name)
            lock = load_lock(config.lock, staging)
            if isinstance(lock, RequirementsFile) and any(not target.is_host for target in targets):
                self.app.display_warning(
                    f"{lock.path.name} is a pip-compile lock, resolved for the one interpreter that ran pip-compile: "
                    f"a dependency that only another platform or Python version needs is not in it. For other targets "
                    f"use a universal lock: `hatch-zipapp lock` (pylock.toml)"
                )
            primary = config.index_url or (lock.index_urls[0] if lock.index_urls else DEFAULT_INDEX_URL)
            index_urls = list(dict.fromkeys([primary, *lock.index_urls, *config.extra_index_urls]))
            fetcher = Fetcher(
                Cache.default(),
                index_urls=index_urls,
                wheel_dirs=[*config.wheel_dirs, *lock.wheel_dirs],
                secrets=config.secrets,
            )
            wheel = self._build_project_wheel(os.fspath(staging / "wheel"))

            pending: list[tuple[Path, Path]] = []
            try:
                for target in targets:
                    pending += self._build_target(target, lock, fetcher, wheel, output, epoch, staging)
                names = [final.name for _, final in pending if final.suffix == ".pyz"]
                if len(set(names)) != len(names):
                    message = f"Two targets give the same .pyz name ({', '.join(names)}): make the targets distinct"
                    raise ZipappError(message)
                pending.append((write_beside(output / wheel.name, wheel.read_bytes(), 0o644), output / wheel.name))
                for temp, final in pending:
                    temp.replace(final)
            finally:
                for temp, _ in pending:
                    temp.unlink(missing_ok=True)
        if fetcher.downloaded:
            self.app.display_info(f"Downloaded {fetcher.downloaded} files into {fetcher.cache.root}")
        self.app.display_info(f"Wheel: {output / wheel.name}")
        return [os.fspath(final) for _, final in pending if final.suffix == ".pyz"]

    def _stage(
        self, target: Target, lock: Lock, fetcher: Fetcher, wheel: Path, epoch: int
    ) -> tuple[StagingTree, list[str], list[dict[str, str]], Requirement]:
        """The target's locked packages and the project, installed: the tree, the wheel names, what was embedded, and
        what the .pyz needs of the interpreter that runs it (its name's tag among it)."""
        config: ZipappBuilderConfig = self.config
        project_name: NormalizedName = canonicalize_name(self.metadata.core.name)
        pins = lock.select(target, project_name)
        check_not_stale(self.metadata.core.dependencies, pins, target, lock, project_name=self.metadata.core.name)
        wheels: list[tuple[str, bytes]] = []
        embedded = []
        for pin in pins:
            locked = fetcher.choose(pin, target)
            data = fetcher.fetch(locked, pin)
            filename = locked.filename
            record = {"name": str(pin.name), "version": str(pin.version), "file": filename, "sha256": locked.sha256}
            if not filename.endswith(".whl"):
                filename, data = wheel_from_sdist(
                    filename, data, locked.sha256, pin, target, fetcher.cache, epoch=epoch
                )
                record["built_wheel"] = filename
            wheels.append((filename, data))
            embedded.append(record)
        project = wheel.read_bytes()
        wheels.append((wheel.name, project))
        embedded.append(
            {
                "name": str(project_name),
                "version": self.metadata.version,
                "file": wheel.name,
                "sha256": sha256_hex(project),
            }
        )
        chosen = [filename for filename, _ in wheels]
        requirement = target.requirement(chosen)
        # The default shebang names the Python the .pyz needs (target.py); the scripts in bin/ get the same.
        shebang = config.shebang or target.shebang(requirement)
        tree = StagingTree()
        for filename, data in wheels:
            install_wheel(tree, filename, data, interpreter=shebang)
        requirement["requires_python"] = _requires_python(tree, self.metadata.core.requires_python, project_name)
        return tree, chosen, embedded, requirement

    def _build_target(
        self, target: Target, lock: Lock, fetcher: Fetcher, wheel: Path, output: Path, epoch: int, staging: Path
    ) -> list[tuple[Path, Path]]:
        config: ZipappBuilderConfig = self.config
        tree, chosen, embedded, requirement = self._stage(target, lock, fetcher, wheel, epoch)
        built = sum(1 for record in embedded if "built_wheel" in record)
        collected = 0
        django = config.django
        if django is not None:
            add_django_entry_point(tree, django.settings)
            if django.collectstatic:
                host = Target.host()
                if target.python_version == host.python_version and all(host.rank(w) is not None for w in chosen):
                    runnable = tree
                else:  # the same lock, for the build host: collectstatic runs here
                    runnable = self._stage(host, lock, fetcher, wheel, epoch)[0]
                workdir = Path(tempfile.mkdtemp(prefix="static-", dir=staging))
                collected = collect_static(tree, runnable, django, workdir, epoch, fetcher.cache)
        tree.check_entry_point(config.entry_point)

        compiled = 0
        runtime = {
            name: StagedFile(data, False, "the .pyz runtime") for name, data in bootstrap_files(requirement).items()
        }
        if config.bytecode:
            compiler = find_compiler(target)
            if compiler is not None:
                compiled = compiler.compile_tree(tree, fetcher.cache)
                pycs = compiler.compile_bootstrap(runtime, fetcher.cache)
                runtime.update({name: StagedFile(data, False, "the .pyz runtime") for name, data in pycs.items()})
            else:
                self.app.display_warning(
                    f"No Python {target.python_version} found to compile bytecode for {target.describe()}: the .pyz "
                    f"compiles it at its first start instead. Give the target an `interpreter`, put "
                    f"python{target.python_version} on PATH, or set `bytecode = false` to silence this"
                )
        summary = f"{len(chosen) - 1} locked packages" + (f", {built} built from source" if built else "")
        summary += f", {collected} static files" if collected else ""
        summary += f", {compiled} .pyc files" if compiled else ""
        self.app.display_info(f"{target.describe()}: {summary}")

        tag = requirement["tag"]
        final = output / f"{self.project_id}-{tag}.pyz"
        settings: Environment = {
            COMPILE_PYC: config.bytecode and not compiled,
            ENTRY_POINT: config.entry_point,
            INHERIT_SITE: not config.isolated,
            KEEP: config.keep_extractions,
            NAME: canonicalize_name(self.metadata.core.name),
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
            INFO_ENTRY_POINT: config.entry_point,
            INFO_BYTECODE: bool(compiled),
            INFO_STATIC_FILES: collected,
            INFO_SOURCE_DATE_EPOCH: epoch,
            INFO_BUILT_AT: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch)),
            INFO_BUILDER: f"hatch-zipapp {__version__}",
        }
        shebang = config.shebang or target.shebang(requirement)
        return write_pyz(
            final,
            tree.files,
            runtime,
            shebang=shebang,
            epoch=epoch,
            settings=settings,
            info=info,
        )

    def _build_project_wheel(self, directory: str) -> Path:
        """The project's wheel, built by hatchling's own wheel builder: the wheel target's config and hooks apply."""
        from hatchling.builders.wheel import WheelBuilder

        builder = WheelBuilder(self.root, plugin_manager=self.plugin_manager, metadata=self.metadata, app=self.app)
        return Path(next(iter(builder.build(directory=directory, versions=["standard"]))))


def _requires_python(tree: StagingTree, project: str, project_name: NormalizedName) -> list[list[str]]:
    """[specifier set, whose] for the project's ``requires-python`` and each embedded distribution's
    ``Requires-Python``, for the .pyz to check at start (``hatch_zipapp/bootstrap/check.py``)."""
    from email.parser import BytesHeaderParser

    from packaging.specifiers import InvalidSpecifier, SpecifierSet

    found = [[project, "the project's requires-python"]] if project.strip() else []
    for path in sorted(tree.files):
        if not path.endswith(".dist-info/METADATA") or path.count("/") != 2:
            continue
        headers = BytesHeaderParser().parsebytes(tree.files[path].data)
        specifiers = headers.get("Requires-Python", "").strip()
        name = canonicalize_name(headers.get("Name", ""))
        if not specifiers or name == project_name:
            continue
        try:
            SpecifierSet(specifiers)
        except InvalidSpecifier:
            continue  # pip would refuse it too; nothing the server can check
        found.append([specifiers, f"Requires-Python of {name} {headers.get('Version', '')}".strip()])
    return found


def _run_by_hatchling_cli() -> bool:
    """Whether this process is `hatchling build` (as `hatch build` runs it), not a library call."""
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    return (spec is not None and spec.name.startswith("hatchling")) or Path(sys.argv[0]).name == "hatchling"
