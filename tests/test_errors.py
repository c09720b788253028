"""One error module: every error class hatch-zipapp defines is in errors.py and is a ZipappError, and the build side
raises no bare built-in error on purpose (the runtime, standard library only, is not concerned)."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

from hatch_zipapp import errors

SOURCE = Path(errors.__file__).parent
BUILD_SIDE = sorted(path for path in SOURCE.glob("*.py") if path.name != "errors.py")


def test_every_error_class_is_a_zipapp_error() -> None:
    classes = [getattr(errors, name) for name in errors.__all__]
    assert all(inspect.isclass(c) and issubclass(c, errors.ZipappError) for c in classes)
    assert issubclass(errors.TargetError, ValueError) and issubclass(errors.DjangoError, ValueError)


def test_no_error_class_outside_errors_py() -> None:
    defined = [
        f"{path.name}: {node.name}"
        for path in BUILD_SIDE
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ClassDef) and node.name.endswith(("Error", "Exception"))
    ]
    assert defined == []


def test_no_bare_value_error_raised() -> None:
    raised = [
        f"{path.name}:{node.lineno}"
        for path in BUILD_SIDE
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Raise)
        and isinstance(node.exc, ast.Call)
        and isinstance(node.exc.func, ast.Name)
        and node.exc.func.id in {"ValueError", "TypeError", "RuntimeError", "Exception"}
    ]
    assert raised == []
