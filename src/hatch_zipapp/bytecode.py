"""Bytecode: hash-based .pyc files (PEP 552, checked-hash) compiled into the archive by the target's Python.

.pyc files are valid for one Python minor version, so they are compiled by an interpreter of the target's version
(the host's own when the host is the target; else the target's `interpreter`, else `pythonX.Y` on PATH). The marshal
format does not depend on the OS or CPU, so any platform's interpreter of that version serves. With none available,
the .pyz compiles at its first start instead, and the build says so.

Each wheel's sources are compiled in a fresh process, in sorted order, with PYTHONHASHSEED=0, so the same sources give
the same bytes; the result is cached by the sources' digest and the exact interpreter version, as a bundle (cache.py)
that is written from the compiled files and staged from a member at a time: no distribution's bytecode is held whole.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO

from hatch_zipapp import scratch
from hatch_zipapp.cache import Bundle, Cache, write_bundle
from hatch_zipapp.errors import ConfigError, ZipappError
from hatch_zipapp.install import SITE_PACKAGES, StagedFile, StagingTree, files_digest
from hatch_zipapp.target import Target

if TYPE_CHECKING:
    from hatch_zipapp.context import BuildContext

__all__ = ["Compiler", "compile_bytecode", "find_compiler", "sources"]

_PROBE = (
    "import sys, importlib.util; print(sys.implementation.name, '%d.%d' % sys.version_info[:2], "
    "sys.implementation.cache_tag, importlib.util.MAGIC_NUMBER.hex(), sys.version.split()[0])"
)
_COMPILE = """\
import importlib.util, json, os, py_compile, sys
root = sys.argv[1]
for rel in json.load(sys.stdin):
    source = os.path.join(root, rel)
    try:
        py_compile.compile(source, cfile=importlib.util.cache_from_source(source), dfile=rel, doraise=True,
                           invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH)
    except py_compile.PyCompileError:
        pass  # not valid for this Python (a py2-only test file, say): left to fail at import, as pip does
"""


@dataclass(frozen=True)
class Compiler:
    """An interpreter of the target's Python version."""

    executable: str
    cache_tag: str
    identity: str  # magic number and exact version: what the bytes depend on

    def compile_tree(self, tree: StagingTree, cache: Cache, compiled_some: Callable[[int], None] | None = None) -> int:
        """Add a .pyc beside every staged .py file; the number of .pyc files added. ``compiled_some`` is told how
        many sources each finished batch (one distribution's) held."""
        by_owner: dict[str, list[str]] = {}
        for path in sources(tree):
            by_owner.setdefault(tree.files[path].owner, []).append(path)
        workers = max(1, min(len(by_owner), os.cpu_count() or 1))
        prefix = SITE_PACKAGES + "/"

        def compiled(owner: str, paths: list[str]) -> Bundle:
            result = self._compiled(owner, {path.removeprefix(prefix): tree.files[path] for path in paths}, cache)
            if compiled_some is not None:
                compiled_some(len(paths))
            return result

        added = 0
        with ThreadPoolExecutor(max_workers=workers) as pool:
            items = sorted(by_owner.items())
            bundles = [pool.submit(compiled, *item) for item in items]
            try:
                # Each distribution's .pyc files are staged as they come (into the tree's spool), in a fixed order.
                for (owner, _), future in zip(items, bundles, strict=True):
                    with future.result() as bundle:
                        for path, stream in bundle.members():
                            tree.add_stream(prefix + path, stream, executable=False, owner=owner)
                            added += 1
            finally:
                for future in bundles:  # a failure: close the bundles already made
                    if not future.cancel() and future.exception() is None:
                        future.result().close()
        return added

    def compile_bootstrap(self, files: Mapping[str, StagedFile], cache: Cache) -> dict[str, bytes]:
        """The .pyc of each runtime module (``_bootstrap/NAME.py``, ``__main__.py``), where zipimport looks for it:
        beside the source (``_bootstrap/NAME.pyc``). Checked-hash, so a .pyc that does not match is ignored for the
        source."""
        with self._compiled("the .pyz runtime", files, cache) as bundle:
            compiled = bundle.read()  # a few small files
        legacy = {}
        for path, data in compiled.items():
            directory, _, name = path.rpartition("__pycache__/")
            legacy[f"{directory}{name.split('.')[0]}.pyc"] = data
        return legacy

    def _compiled(self, owner: str, sources: Mapping[str, StagedFile], cache: Cache) -> Bundle:
        """``sources`` (relative path → file) compiled: a bundle of each .pyc by its relative path (in
        ``__pycache__``), open (the caller closes it). Cached by the interpreter's identity, the paths and the
        contents."""
        key = files_digest(sources, sorted(sources), salt=self.identity.encode())
        cached = cache.open_bundle("bytecode", key)
        if cached is not None:
            return cached
        bundle = self._run(owner, sources)
        try:
            cache.store_bundle_file("bytecode", key, bundle)
            return Bundle(bundle)
        except BaseException:
            bundle.close()
            raise

    def _run(self, owner: str, sources: Mapping[str, StagedFile]) -> BinaryIO:
        """The bundle of the .pyc files compiled from ``sources`` (:func:`~hatch_zipapp.cache.write_bundle`)."""
        with scratch.directory("pyc") as root:
            for path, staged in sources.items():
                target = root.joinpath(*path.split("/"))
                target.parent.mkdir(parents=True, exist_ok=True)
                with target.open("wb") as f:
                    f.writelines(staged.chunks())
            env = {"PYTHONHASHSEED": "0", "PATH": os.environ.get("PATH", ""), "PYTHONDONTWRITEBYTECODE": ""}
            result = subprocess.run(
                [self.executable, "-I", "-c", _COMPILE, os.fspath(root)],
                input=json.dumps(sorted(sources)),
                text=True,
                env=env,
                check=False,
                capture_output=True,
                timeout=1800,
            )
            if result.returncode != 0:
                said = (result.stderr.strip() or f"exit status {result.returncode}").splitlines()[-1]
                message = (
                    f"{self.executable} failed compiling the bytecode of {owner}: {said}. "
                    f"Set `bytecode = false`, or give the target another `interpreter`"
                )
                raise ZipappError(message)
            compiled = []
            for rel in sorted(sources):
                directory, _, name = rel.rpartition("/")
                pyc = f"{directory + '/' if directory else ''}__pycache__/{name[:-3]}.{self.cache_tag}.pyc"
                file = root / pyc
                if file.is_file():
                    compiled.append((pyc, file))
            return write_bundle(compiled)


def compile_bytecode(context: BuildContext, tree: StagingTree, runtime: dict[str, StagedFile]) -> int:
    """The bytecode stage (unless ``bytecode = false``): a .pyc beside every staged source and every runtime module
    (added to ``runtime``), by an interpreter of the target's version; the number of staged sources compiled. With no
    such interpreter, a warning: the .pyz compiles them at its first start instead."""
    if not context.config.bytecode:
        return 0
    target, cache = context.target, context.fetcher.cache
    compiler, rejected = find_compiler(target)
    if compiler is None:
        context.display.display_warning(_none_found(target, rejected))
        return 0
    with context.progress.step("Compiling bytecode", total=len(sources(tree))) as step:
        compiled = compiler.compile_tree(tree, cache, step.advance)
    pycs = compiler.compile_bootstrap(runtime, cache)
    runtime.update({name: StagedFile(data, False, "the .pyz runtime") for name, data in pycs.items()})
    return compiled


def sources(tree: StagingTree) -> list[str]:
    """The staged .py files below site-packages, which :meth:`Compiler.compile_tree` compiles."""
    return [
        path
        for path in sorted(tree.files)
        if path.endswith(".py") and path.startswith(SITE_PACKAGES + "/") and "/__pycache__/" not in path
    ]


def find_compiler(target: Target) -> tuple[Compiler | None, list[str]]:
    """An interpreter of ``target``'s Python version: the configured one (which must work), else the first
    ``pythonX.Y`` on PATH that is one (every directory of PATH is looked in, not only the first that has one: a
    pyenv shim for a version that is not installed exits 127). With it, each candidate tried and why it was not one
    (``/usr/local/bin/python3.12 exited with status 127 (pyenv: python3.12: command not found)``)."""
    if target.interpreter:
        compiler, problem = _probe(target.interpreter, target)
        if compiler is None:
            where = "the build host" if target.is_host else f"the `interpreter` of target {target.describe()}"
            message = (
                f"{where[0].upper()}{where[1:]} {target.interpreter!r} cannot compile bytecode: it {problem}. "
                f"Point it at a CPython {target.python_version}, or set `bytecode = false`"
            )
            raise ConfigError(message)
        return compiler, []
    name = f"python{target.python_version}"
    rejected: list[str] = []
    for candidate in _on_path(name):
        compiler, problem = _probe(candidate, target)
        if compiler is not None:
            return compiler, rejected
        rejected.append(f"{candidate} {problem}")
    return None, rejected or [f"no {name} in any directory of PATH"]


def _none_found(target: Target, rejected: list[str]) -> str:
    """The warning of a build that found no Python of the target's version: each candidate and why, and the fix."""
    return (
        f"No Python {target.python_version} found to compile bytecode for {target.describe()}: "
        f"{'; '.join(rejected)}. The .pyz compiles it at its first start instead. To fix: give the target an "
        f"`interpreter` (a CPython {target.python_version}), or put a working python{target.python_version} on "
        f"PATH; `bytecode = false` silences this"
    )


def _on_path(name: str) -> list[str]:
    """Every file ``name`` in the directories of PATH, in order, each once (``shutil.which`` gives only the first)."""
    found: dict[str, str] = {}  # real path -> the first path naming it
    for directory in os.environ.get("PATH", os.defpath).split(os.pathsep):
        candidate = os.path.join(directory or os.curdir, name)
        if os.path.isfile(candidate):
            found.setdefault(os.path.realpath(candidate), candidate)
    return list(found.values())


def _probe(candidate: str, target: Target) -> tuple[Compiler | None, str]:
    """A compiler when ``candidate`` is a CPython of the target's version; else what it did instead, said of it
    (``exited with status 127 (pyenv: python3.12: command not found)``)."""
    executable = candidate if os.sep in candidate else shutil.which(candidate)
    if executable is None or not os.path.isfile(executable):
        return None, "does not exist" if os.sep in candidate else "is not a command on PATH"
    if not os.access(executable, os.X_OK):
        return None, "is not executable"
    try:
        result = subprocess.run(
            [executable, "-I", "-c", _PROBE], capture_output=True, text=True, timeout=60, check=False
        )
    except subprocess.TimeoutExpired:
        return None, "did not say its version within 60 seconds"
    except OSError as e:
        return None, f"cannot be run ({e.strerror or e})"
    words = result.stdout.split()
    wanted = [target.implementation, target.python_version]
    if result.returncode != 0:
        if result.returncode < 0:
            return None, f"was killed by signal {-result.returncode}"
        said = _said(result.stderr or result.stdout)
        return None, f"exited with status {result.returncode}" + (f" ({said})" if said else "")
    if len(words) != 5:
        return None, f"printed {_said(result.stdout)!r} instead of its version"
    if words[:2] != wanted:
        names = {"cpython": "CPython", "pypy": "PyPy"}
        return None, f"is {names.get(words[0], words[0])} {words[1]}, not CPython {target.python_version}"
    return Compiler(executable, cache_tag=words[2], identity=f"{words[3]}-{words[4]}"), ""


def _said(output: str) -> str:
    """What a failed program said, in one line: its first line, or a traceback's last (the exception)."""
    lines = [line.strip() for line in output.strip().splitlines() if line.strip()]
    if not lines:
        return ""
    return lines[-1] if lines[0].startswith("Traceback") else lines[0]
