"""The `zipapp` build target: the pipeline, stage by stage.

config → lock → target → fetch → install → archive. Each stage lives in its own module; this one only
orders them, reports progress, and makes sure a failed build leaves nothing new in the output directory.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hatchling.builders.plugin.interface import BuilderInterface
from hatchling.plugin.manager import PluginManager
from packaging.utils import canonicalize_name

from hatch_zipapp.archive import write_pyz
from hatch_zipapp.config import DEFAULT_INDEX_URL, ZipappBuilderConfig
from hatch_zipapp.errors import ZipappError
from hatch_zipapp.fetch import Cache, Fetcher
from hatch_zipapp.install import StagingTree, install_wheel
from hatch_zipapp.lock import check_not_stale, load_lock
from hatch_zipapp.reproducible import source_date_epoch
from hatch_zipapp.target import Target

__all__ = ["ZipappBuilder"]


class ZipappBuilder(BuilderInterface[ZipappBuilderConfig, PluginManager]):
    """Build a .pyz of the project and its locked dependencies (and the project's wheel beside it)."""

    PLUGIN_NAME = "zipapp"

    @classmethod
    def get_config_class(cls) -> type[ZipappBuilderConfig]:
        return ZipappBuilderConfig

    def get_version_api(self) -> dict[str, Callable[..., str]]:
        return {"standard": self.build_standard}

    def get_default_versions(self) -> list[str]:
        return ["standard"]

    def clean(self, directory: str, versions: list[str]) -> None:
        prefix = f"{self.normalize_file_name_component(self.metadata.core.name)}-"
        for path in Path(directory).glob(f"{prefix}*"):
            if path.suffix in {".pyz", ".whl"} and path.is_file():
                path.unlink()

    def build_standard(self, directory: str, **build_data: Any) -> str:
        try:
            return self._build(Path(directory))
        except ZipappError as e:
            if _run_by_hatchling_cli() and self.app.verbosity < 1:
                self.app.abort(f"hatch-zipapp: {e}")  # the message alone; `hatch -v build` shows the traceback
            raise

    def _build(self, output: Path) -> str:
        config: ZipappBuilderConfig = self.config
        config.validate_keys()
        epoch = source_date_epoch()
        entry_point = config.entry_point
        shebang = config.shebang
        project_name = canonicalize_name(self.metadata.core.name)

        target = Target.host()
        lock = load_lock(config.lock)
        pins = lock.select(target, project_name)
        check_not_stale(self.metadata.core.dependencies, pins, target, lock, project_name=self.metadata.core.name)
        self.app.display_info(f"Locked: {len(pins)} packages from {lock.path.name} for {target.describe()}")

        primary = config.index_url or (lock.index_urls[0] if lock.index_urls else DEFAULT_INDEX_URL)
        index_urls = list(dict.fromkeys([primary, *lock.index_urls, *config.extra_index_urls]))
        fetcher = Fetcher(Cache.default(), index_urls=index_urls, wheel_dirs=[*config.wheel_dirs, *lock.wheel_dirs])

        tree = StagingTree()
        chosen = []
        for pin in pins:
            locked = fetcher.choose(pin, target)
            install_wheel(tree, locked.filename, fetcher.fetch(locked, pin), interpreter=shebang)
            chosen.append(locked.filename)
        if fetcher.downloaded:
            self.app.display_info(f"Downloaded {fetcher.downloaded} of {len(pins)} files into {fetcher.cache.root}")

        with tempfile.TemporaryDirectory(prefix="hatch-zipapp-") as staging:
            wheel = self._build_project_wheel(staging)
            install_wheel(tree, wheel.name, wheel.read_bytes(), interpreter=shebang)
            tree.check_entry_point(entry_point)

            tag = target.archive_tag([*chosen, wheel.name])
            pyz = output / f"{self.project_id}-{tag}.pyz"
            write_pyz(pyz, tree.files, shebang=shebang, entry_point=entry_point, epoch=epoch)
            try:
                _move_into(wheel, output / wheel.name)
            except BaseException:
                pyz.unlink(missing_ok=True)
                raise
        self.app.display_info(f"Wheel: {output / wheel.name}")
        return os.fspath(pyz)

    def _build_project_wheel(self, directory: str) -> Path:
        """The project's wheel, built by hatchling's own wheel builder: the wheel target's config and hooks apply."""
        from hatchling.builders.wheel import WheelBuilder

        builder = WheelBuilder(self.root, plugin_manager=self.plugin_manager, metadata=self.metadata, app=self.app)
        return Path(next(iter(builder.build(directory=directory, versions=["standard"]))))


def _run_by_hatchling_cli() -> bool:
    """Whether this process is `hatchling build` (as `hatch build` runs it), not a library call."""
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    return (spec is not None and spec.name.startswith("hatchling")) or Path(sys.argv[0]).name == "hatchling"


def _move_into(source: Path, destination: Path) -> None:
    """Copy ``source`` to a temporary name beside ``destination``, then rename it into place."""
    fd, temp_name = tempfile.mkstemp(dir=destination.parent, prefix=f".{destination.name}.", suffix=".tmp")
    temp = Path(temp_name)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(source.read_bytes())
        temp.chmod(0o644)
        os.replace(temp, destination)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
