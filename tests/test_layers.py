"""The deploy side and the format it shares with the build run on a server that has Python and nothing else: every
import in ``hatch_zipapp/deploy/`` and ``hatch_zipapp/pyz/`` (at module level, inside functions, under
``TYPE_CHECKING``) is the standard library, the runtime (``hatch_zipapp.bootstrap``), the format (``hatch_zipapp.pyz``),
the deploy side itself or the error module; and ``pyz/`` never imports ``deploy/``. Checked on the source (AST) and
by importing every module in an interpreter that sees only the standard library and this checkout's ``src/``."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).parent.parent / "src"
PACKAGE = SRC / "hatch_zipapp"
ALLOWED = {
    "deploy": {"hatch_zipapp.bootstrap", "hatch_zipapp.pyz", "hatch_zipapp.deploy", "hatch_zipapp.errors"},
    "pyz": {"hatch_zipapp.bootstrap", "hatch_zipapp.pyz", "hatch_zipapp.errors"},
}
MODULES = sorted(path for layer in ALLOWED for path in (PACKAGE / layer).rglob("*.py"))


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                package = ".".join(["hatch_zipapp", *path.relative_to(PACKAGE).parent.parts])
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1])
                found.append(f"{base}.{node.module}" if node.module else base)
            else:
                found.append(node.module or "")
    return found


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_every_import_is_of_a_lower_layer(path: Path) -> None:
    layer = path.relative_to(PACKAGE).parts[0]
    for name in _imports(path):
        top = name.split(".")[0]
        if top == "__future__" or top in sys.stdlib_module_names:
            continue
        assert any(name == allowed or name.startswith(allowed + ".") for allowed in ALLOWED[layer]), (
            f"{path.relative_to(SRC)} imports {name}: the {layer} layer may import only the standard library and "
            f"{', '.join(sorted(ALLOWED[layer]))}"
        )


def test_a_forbidden_import_is_caught() -> None:
    """The check itself: an import of the build side, hidden in a function or written relative, is found."""
    probe = PACKAGE / "deploy" / "_layers_probe.py"
    try:
        probe.write_text("def f():\n    from hatch_zipapp.install import x\n    from ..lock import y\n", "utf-8")
        assert _imports(probe) == ["hatch_zipapp.install", "hatch_zipapp.lock"]
    finally:
        probe.unlink()


def test_each_module_imports_with_the_standard_library_alone() -> None:
    names = sorted(
        ".".join(("hatch_zipapp", *path.relative_to(PACKAGE).with_suffix("").parts)).removesuffix(".__init__")
        for path in MODULES
    )
    code = (
        "import sys, importlib; stdlib = set(sys.stdlib_module_names); "
        f"sys.path[:] = [{str(SRC)!r}] + [p for p in sys.path[1:] if 'site-packages' not in p]; "
        f"[importlib.import_module(m) for m in {names!r}]; "
        "foreign = sorted(m for m in sys.modules if m.split('.')[0] not in stdlib | {'__main__', 'hatch_zipapp'}); "
        "assert not foreign, foreign"
    )
    subprocess.run([sys.executable, "-I", "-S", "-c", code], check=True, timeout=60)
