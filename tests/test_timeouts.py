"""Nothing in the suite can hang: every test has a time limit (pytest-timeout), and every subprocess a test starts,
or waits for, has its own `timeout=` below that limit."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).parent.parent
TESTS = sorted((ROOT / "tests").glob("*.py"))
_STARTS = {"run", "check_output", "check_call", "call"}  # subprocess.<name>(...) start and wait
_WAITS = {"wait", "communicate"}  # <process>.<name>(...) wait


def _calls() -> list[tuple[str, ast.Call, str]]:
    found = []
    for path in TESTS:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                owner = node.func.value
                started = node.func.attr in _STARTS and isinstance(owner, ast.Name) and owner.id == "subprocess"
                if started or node.func.attr in _WAITS:
                    found.append((f"{path.name}:{node.lineno}", node, node.func.attr))
    return found


def _limit() -> float:
    options = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["pytest"]["ini_options"]
    return float(options["timeout"])


def test_every_subprocess_call_has_a_timeout() -> None:
    calls = _calls()
    assert len(calls) > 30  # the scan finds the suite's calls
    missing = [where for where, node, _ in calls if not node.args and "timeout" not in {k.arg for k in node.keywords}]
    missing += [
        where for where, node, name in calls if name in _STARTS and "timeout" not in {k.arg for k in node.keywords}
    ]
    assert sorted(set(missing)) == []


def test_each_subprocess_timeout_is_below_the_test_limit() -> None:
    """A subprocess's own timeout fires first, with its own message; the test limit catches the rest."""
    limit = _limit()
    too_long = []
    for where, node, _ in _calls():
        for keyword in node.keywords:
            value = keyword.value.value if isinstance(keyword.value, ast.Constant) else None
            if keyword.arg == "timeout" and isinstance(value, int | float) and value >= limit:
                too_long.append(f"{where}: timeout={value}")
    assert too_long == [], f"the test limit is {limit:g} s"


def test_a_hung_test_fails_and_is_named(tmp_path: Path) -> None:
    """pytest-timeout is installed and configured by pyproject.toml: a test that sleeps past a (shortened) limit
    fails, named, and the run goes on to the next test."""
    (tmp_path / "test_hangs.py").write_text(
        "import time\n\ndef test_sleeps_forever():\n    time.sleep(600)\n\ndef test_after():\n    pass\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS"}
    config = ["-c", os.fspath(ROOT / "pyproject.toml"), "--rootdir", os.fspath(tmp_path), "-p", "no:cacheprovider"]
    result = subprocess.run(
        [sys.executable, "-m", "pytest", *config, "-o", "timeout=2", os.fspath(tmp_path / "test_hangs.py")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "FAILED test_hangs.py::test_sleeps_forever - Failed: Timeout" in result.stdout, result.stdout
    assert "1 failed, 1 passed" in result.stdout
