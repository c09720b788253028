"""The mutation check's list (bench/mutants.py) stays in step with the source: each mutant's old text is in its file
exactly once, and each test it names exists. (Running the mutants takes minutes: `python bench/mutants.py`.)"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).parent.parent


def _mutants() -> ModuleType:
    spec = importlib.util.spec_from_file_location("hatch_zipapp_mutants", ROOT / "bench" / "mutants.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


MUTANTS = _mutants().MUTANTS


def test_names_are_unique_and_the_seven_of_issue_11_are_there() -> None:
    names = [mutant.name for mutant in MUTANTS]
    assert len(names) == len(set(names)) >= 18
    assert {
        "fetch-unlocked-index-file",
        "runtime-no-site-packages-filter",
        "runtime-fast-path-without-shared-lock",
        "runtime-extract-without-exclusive-lock",
        "verify-skips-members-outside-site-packages",
        "zip-timestamps-in-local-time",
        "systemd-drops-private-devices",
    } <= set(names)


@pytest.mark.parametrize("mutant", MUTANTS, ids=[mutant.name for mutant in MUTANTS])
def test_the_old_text_is_there_once_and_the_tests_exist(mutant: object) -> None:
    file, old, new, tests = mutant.file, mutant.old, mutant.new, mutant.tests  # type: ignore[attr-defined]
    source = (ROOT / file).read_text(encoding="utf-8")
    assert old != new
    assert source.count(old) == 1, f"{file} no longer holds this text once: update bench/mutants.py"
    assert tests
    for test in tests:
        path, *names = test.split("::")
        text = (ROOT / path).read_text(encoding="utf-8")
        for name in names:
            assert f"def {name}(" in text or f"class {name}" in text, test
