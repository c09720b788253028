"""The console scripts of the embedded distributions: what `entry-point` may name, what a .pyz runs by the name it is
invoked through (``ZIPAPP_SCRIPT``, a link), and which of them `hatch-zipapp links` links by default.

Read from each installed distribution's ``entry_points.txt`` (``[console_scripts]``), as pip and installer read them
to write ``bin/``: the staged tree, after the install stage, is the only place that knows them.
"""

from __future__ import annotations

import configparser
import difflib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from packaging.utils import canonicalize_name

from hatch_zipapp.bootstrap.documents import SITE_PACKAGES
from hatch_zipapp.errors import EntryPointError

if TYPE_CHECKING:
    from hatch_zipapp.install import StagingTree

__all__ = ["ConsoleScript", "Resolved", "console_scripts", "resolve"]


@dataclass(frozen=True)
class ConsoleScript:
    target: str  # module:function
    distribution: str  # its name, normalized: ansible-core


@dataclass(frozen=True)
class Resolved:
    """The entry point (``module:function``), every console script (name → ``module:function``), and the names
    `hatch-zipapp links` links by default: the console scripts of the distribution whose script is the entry point
    (the project's own when it is none of them)."""

    entry_point: str
    scripts: dict[str, str]
    commands: list[str]


def console_scripts(tree: StagingTree) -> dict[str, ConsoleScript]:
    """Every ``[console_scripts]`` entry of every distribution in ``tree``, by name."""
    found: dict[str, ConsoleScript] = {}
    for path in sorted(tree.files):
        if not (path.startswith(f"{SITE_PACKAGES}/") and path.endswith(".dist-info/entry_points.txt")):
            continue
        if path.count("/") != 2:
            continue
        distribution = canonicalize_name(path.split("/")[1].removesuffix(".dist-info").split("-")[0])
        parser = configparser.ConfigParser(delimiters=("=",), interpolation=None, strict=False)
        parser.optionxform = str  # type: ignore[assignment,method-assign]  # names keep their case
        try:
            parser.read_string(tree.files[path].data.decode("utf-8"))
        except (configparser.Error, UnicodeDecodeError):
            continue  # installer would have refused it; nothing to offer
        if not parser.has_section("console_scripts"):
            continue
        for name, value in parser.items("console_scripts"):
            target = value.split("[", 1)[0].strip().replace(" ", "")
            if ":" in target and name.strip():
                found[name.strip()] = ConsoleScript(target, distribution)
    return found


def resolve(tree: StagingTree, entry_point: str, *, project: str) -> Resolved:
    """``entry_point`` (the `entry-point` option: ``module:function`` or a console script's name) checked against the
    staged packages and resolved to ``module:function``. An unknown script name is one error listing those there are.
    ``project`` is the project's name."""
    project = canonicalize_name(project)
    scripts = console_scripts(tree)
    if ":" in entry_point:
        tree.check_entry_point(entry_point)
        owners = sorted({s.distribution for s in scripts.values() if s.target == entry_point})
        owner = project if project in owners or not owners else owners[0]
    elif entry_point in scripts:
        owner = scripts[entry_point].distribution
        tree.check_entry_point(scripts[entry_point].target)
        entry_point = scripts[entry_point].target
    else:
        close = difflib.get_close_matches(entry_point, list(scripts), n=1)
        hint = f"Did you mean {close[0]!r}? " if close else ""
        listed = ", ".join(sorted(scripts)) or "none"
        message = (
            f"Field `tool.hatch.build.targets.zipapp.entry-point` = {entry_point!r} is not a console script of the "
            f"project or any locked package (they have: {listed}). {hint}Set it to one of them, or to `module:function`"
        )
        raise EntryPointError(message)
    commands = sorted(name for name, script in scripts.items() if script.distribution == owner)
    return Resolved(entry_point, {name: s.target for name, s in sorted(scripts.items())}, commands)
