"""The code that runs inside the .pyz imports only the standard library at import time."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

BOOTSTRAP = Path(__file__).parent.parent / "src" / "hatch_zipapp" / "bootstrap"


@pytest.mark.parametrize("path", sorted(BOOTSTRAP.glob("*.py")), ids=lambda p: p.name)
def test_module_level_imports_are_standard_library(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            for name in names:
                top = name.split(".")[0]
                assert top == "__future__" or top in sys.stdlib_module_names, f"{path.name} imports {name} at import"


def test_imports_with_an_empty_path(tmp_path: Path) -> None:
    """Each bootstrap module imports in an interpreter that sees nothing but the standard library."""
    for path in sorted(BOOTSTRAP.glob("*.py")):
        code = (
            "import sys; sys.path[:] = [p for p in sys.path if 'site-packages' not in p]; "
            f"exec(open({str(path)!r}).read(), {{'__name__': 'probe'}})"
        )
        subprocess.run([sys.executable, "-I", "-S", "-c", code], check=True, cwd=tmp_path, timeout=60)


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
