"""The code that runs inside the .pyz imports only the standard library at import time."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from hatch_zipapp.archive import RUNTIME_MODULES, bootstrap_files
from hatch_zipapp.layout import PyzReader
from tests.helpers import IndexServer, build, make_project, make_wheel, pylock_text

if TYPE_CHECKING:
    from hatch_zipapp.bootstrap.check import Requirement

BOOTSTRAP = Path(__file__).parent.parent / "src" / "hatch_zipapp" / "bootstrap"
_REQUIREMENT: Requirement = {
    "tag": "py3-none-any",
    "implementation": None,
    "python": None,
    "exact": False,
    "abi": None,
    "platform": None,
    "os": None,
    "machine": None,
    "libc": None,
    "minimum": None,
    "requires_python": [],
}


@pytest.mark.parametrize("path", sorted(BOOTSTRAP.glob("*.py")), ids=lambda p: p.name)
def test_every_import_is_standard_library_or_the_package(path: Path) -> None:
    """Every import statement, at module level or inside a function (the lazy ones of a cold start): the standard
    library, or (relative) another module of the runtime's own package. django_main.py imports Django and gunicorn
    in the functions that need them: its module level only."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in tree.body if path.name == "django_main.py" else ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level:
            assert node.level == 1 and node.module in RUNTIME_MODULES, f"{path.name} imports .{node.module}"
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            for name in names:
                top = name.split(".")[0]
                assert top == "__future__" or top in sys.stdlib_module_names, f"{path.name} imports {name}"


def test_imports_with_an_empty_path(tmp_path: Path) -> None:
    """Each bootstrap module imports in an interpreter that sees nothing but the standard library: the runtime's
    modules as the .pyz's ``_bootstrap`` package (bootstrap_files), the others alone; nothing else is loaded."""
    package = tmp_path / "_bootstrap"
    package.mkdir()
    for name, data in bootstrap_files(_REQUIREMENT).items():
        if name.startswith("_bootstrap/"):
            (tmp_path / name).write_bytes(data)
    embedded = sorted(p.stem for p in package.glob("*.py"))
    assert embedded == sorted(["__init__", *RUNTIME_MODULES])
    probes = [f"_bootstrap.{m}" if m != "__init__" else "_bootstrap" for m in embedded]
    probes += [p.stem for p in sorted(BOOTSTRAP.glob("*.py")) if p.stem in {"check", "django_main", "pinned"}]
    for alone in ("check.py", "django_main.py", "pinned.py"):
        (tmp_path / alone).write_bytes((BOOTSTRAP / alone).read_bytes())
    for module in probes:
        code = (
            "import sys; stdlib = set(sys.stdlib_module_names); sys.path[:] = ['.'] + "
            "[p for p in sys.path[1:] if 'site-packages' not in p]; "
            f"import importlib; importlib.import_module({module!r}); "
            "foreign = sorted(m for m in sys.modules if m.split('.')[0] not in stdlib | {'__main__', '_bootstrap', "
            f"{module.split('.')[0]!r}}}); "
            "assert not foreign, foreign"
        )
        subprocess.run([sys.executable, "-I", "-S", "-c", code], check=True, cwd=tmp_path, timeout=60)


def test_every_module_of_the_bootstrap_package_is_embedded_or_known() -> None:
    """A new module under bootstrap/ is either embedded in the .pyz (RUNTIME_MODULES) or one of the known others:
    check.py and pinned.py (the start of __main__.py), django_main.py (a Django site's entry point), runtime.py (the
    package itself) and the source package's own __init__.py."""
    modules = {p.stem for p in BOOTSTRAP.glob("*.py")}
    assert modules == {*RUNTIME_MODULES, "check", "django_main", "pinned", "runtime", "__init__"}


def test_serve_without_gunicorn_says_what_to_add(tmp_path: Path) -> None:
    code = (
        "import sys; sys.modules['gunicorn'] = None; sys.modules['gunicorn.app'] = None; "
        "sys.modules['gunicorn.app.wsgiapp'] = None; sys.argv = ['mysite.pyz', 'serve'];"
        f"ns = {{'__name__': 'x'}}; exec(open({str(BOOTSTRAP / 'django_main.py')!r}).read(), ns);"
        "sys.exit(ns['main']())"
    )
    result = subprocess.run(
        [sys.executable, "-I", "-c", code], capture_output=True, text=True, check=False, cwd=tmp_path, timeout=60
    )
    assert result.returncode == 2
    assert "mysite.pyz serve: gunicorn is not in this .pyz. Add `gunicorn` to [project] dependencies" in result.stderr
    assert "Traceback" not in result.stderr


def _typed_fields(name: str) -> set[str]:
    """The fields of TypedDict ``name`` in documents.py (defined for the type checker only, so read from the source)."""
    tree = ast.parse((BOOTSTRAP / "documents.py").read_text(encoding="utf-8"))
    (definition,) = [n for n in ast.walk(tree) if isinstance(n, ast.ClassDef) and n.name == name]
    return {n.target.id for n in definition.body if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name)}


def test_the_documents_written_are_the_documents_typed(tmp_path: Path, wheelhouse: Path, index: IndexServer) -> None:
    """environment.json and hatch-zipapp.json of a real build hold exactly the members their TypedDicts declare
    (documents.Environment, documents.Info), and every member-name constant names one of them."""
    from hatch_zipapp.bootstrap import documents

    alpha = make_wheel(wheelhouse, "alpha", "1.0")
    confine = '[tool.hatch.build.targets.zipapp.confine]\nwrite = ["/srv/data"]'  # "confine": only when declared
    project = make_project(tmp_path / "p", dependencies=["alpha"], zipapp=confine)
    (project / "pylock.toml").write_text(pylock_text([[alpha]], base_url=index.url))
    with PyzReader(build(project)) as archive:
        environment = json.loads(archive.read(documents.ENVIRONMENT_JSON))
        info = json.loads(archive.read(documents.INFO_JSON))
    assert set(environment) == _typed_fields("Environment")
    assert set(info) == _typed_fields("Info")
    for constant in ("BUILD_ID", "COMPILE_PYC", "ENTRY_POINT", "EXTEND_PYTHONPATH", "INHERIT_SITE", "KEEP", "NAME"):
        assert getattr(documents, constant) in environment, constant
    info_constants = [name for name in dir(documents) if name.startswith("INFO_") and name != "INFO_JSON"]
    assert len(info_constants) >= 10
    for constant in info_constants:
        assert getattr(documents, constant) in info, constant
    assert {documents.TARGET_TAG, documents.TARGET_PYTHON} <= set(info[documents.INFO_TARGET])
