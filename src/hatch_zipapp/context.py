"""The build context: what every stage of one target's build reads, passed as one object.

hatchling's builders keep what a build shares on the builder (``WheelBuilder``: config, metadata, the build data);
here it is one dataclass, so that a stage is a function of it (``stage_packages(context)``) rather than of seven
arguments. The targets of one build share every field but the target's own (``target``, and what the build hooks'
``build_data`` asked of it): :meth:`BuildContext.for_target` gives each its copy.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from hatch_zipapp.config import ZipappBuilderConfig
    from hatch_zipapp.fetch import Fetcher
    from hatch_zipapp.install import StagedFile
    from hatch_zipapp.lock import Lock
    from hatch_zipapp.progress import Progress
    from hatch_zipapp.target import Target

__all__ = ["BuildContext", "Project"]


class Display(Protocol):
    """What the stages use of hatchling's ``Application``."""

    def display_info(self, message: str = "", **kwargs: object) -> None: ...

    def display_warning(self, message: str = "", **kwargs: object) -> None: ...


@dataclass(frozen=True)
class Project:
    """The project being built, from its core metadata."""

    name: str
    version: str
    dependencies: list[str]
    requires_python: str
    #: ``NAME-VERSION``, normalized for file names (hatchling's ``project_id``)
    project_id: str


@dataclass(frozen=True)
class BuildContext:
    """One target's build: the configuration, the project, the lock and the fetcher, where things go, the epoch, the
    staging directory, and the target with what the build hooks asked of it."""

    config: ZipappBuilderConfig
    project: Project
    target: Target
    lock: Lock
    fetcher: Fetcher
    #: the output directory (``dist/``)
    output: Path
    #: SOURCE_DATE_EPOCH, clamped (reproducible.py)
    epoch: int
    #: a held temporary directory (scratch.py) for the steps that need real files
    staging: Path
    #: the project's wheel, built once by hatchling's wheel builder, and the build hooks that ran for it
    wheel: Path
    wheel_hooks: frozenset[str]
    progress: Progress
    display: Display
    #: files the build hooks' ``force_include`` adds to site-packages, and the runtime dependencies they add
    hook_files: dict[str, StagedFile] = field(default_factory=dict)
    hook_dependencies: list[str] = field(default_factory=list)
    #: the files this build put in place so far, each with what it replaced (shared by every target of the build)
    placed: list[tuple[Path, Path | None]] = field(default_factory=list)

    def for_target(
        self,
        target: Target,
        hook_files: dict[str, StagedFile] | None = None,
        hook_dependencies: list[str] | None = None,
    ) -> BuildContext:
        """The same build, for ``target`` (and what the build hooks asked of it; by default, what they asked of this
        one's)."""
        return dataclasses.replace(
            self,
            target=target,
            hook_files=self.hook_files if hook_files is None else hook_files,
            hook_dependencies=self.hook_dependencies if hook_dependencies is None else hook_dependencies,
        )
