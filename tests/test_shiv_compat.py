"""shiv's own tools read a hatch-zipapp .pyz: `shiv-info` and `shiv-info --json` of shiv 1.0.8 (the test group's).

hatch-zipapp does not depend on shiv: it writes shiv's `environment.json` layout from a constant naming the shiv
release it follows (archive.SHIV_LAYOUT_VERSION); this proves that release's tools read what is written.
"""

from __future__ import annotations

import inspect
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from hatch_zipapp.archive import SHIV_LAYOUT_VERSION
from tests.helpers import build, make_project, make_wheel, pylock_text


@pytest.fixture(scope="module")
def pyz(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("shiv-compat")
    alpha = make_wheel(root / "wheels", "alpha")
    project = make_project(root / "app", dependencies=["alpha"])
    (project / "pylock.toml").write_text(pylock_text([[alpha]], base_url=None))
    return build(project)


def _shiv_info(*args: str) -> str:
    found = shutil.which("shiv-info", path=os.path.dirname(sys.executable))
    assert found is not None, "shiv-info is missing: shiv is in the test dependency group"
    result = subprocess.run([found, *args], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_the_layout_version_is_the_installed_shiv() -> None:
    from shiv import __version__

    assert __version__ == SHIV_LAYOUT_VERSION  # the test group pins the shiv whose layout archive.py follows


def test_shiv_info_json(pyz: Path) -> None:
    printed = json.loads(_shiv_info("--json", os.fspath(pyz)))
    with zipfile.ZipFile(pyz) as archive:
        assert printed == json.loads(archive.read("environment.json"))
    assert printed["shiv_version"] == SHIV_LAYOUT_VERSION
    assert printed["entry_point"] == "app.cli:main"
    # Every key shiv's runtime Environment requires (no default) is there, with the type it expects.
    from shiv.bootstrap.environment import Environment

    required = [
        name
        for name, parameter in inspect.signature(Environment.__init__).parameters.items()
        if name != "self" and parameter.default is inspect.Parameter.empty
    ]
    assert required == ["built_at", "shiv_version"]
    assert all(isinstance(printed[name], str) for name in required)


def test_shiv_info(pyz: Path) -> None:
    out = _shiv_info(os.fspath(pyz))
    assert f"pyz file: {pyz}" in out
    assert f"shiv_version: {SHIV_LAYOUT_VERSION}" in out and "entry_point: app.cli:main" in out


PROBE = "import sys, alpha; print(__name__, sys.argv, alpha.VALUE)\n"


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The same two wheels as a hatch-zipapp .pyz and as one shiv 1.0.8 builds (its own command, pip offline)."""
    root = tmp_path_factory.mktemp("shiv-interpreter")
    alpha = make_wheel(root / "wheels", "alpha")
    probe = make_wheel(root / "wheels", "probe", files={"probe/__init__.py": "", "probe/show.py": PROBE})
    project = make_project(root / "app", dependencies=["alpha", "probe"])
    (project / "pylock.toml").write_text(pylock_text([[alpha], [probe]], base_url=None))
    shiv = shutil.which("shiv", path=os.path.dirname(sys.executable))
    assert shiv is not None, "shiv is in the test dependency group"
    made = root / "shiv.pyz"
    command = [shiv, "--no-index", "--find-links", os.fspath(root / "wheels"), "alpha", "probe", "-o", os.fspath(made)]
    subprocess.run(command, capture_output=True, check=True, timeout=300)
    return build(project), made


def _as_interpreter(pyz: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SHIV_INTERPRETER": "1", "SHIV_ROOT": os.fspath(pyz.parent / "root")}
    command = [sys.executable, os.fspath(pyz), *args]
    return subprocess.run(command, input=stdin, env=env, capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.parametrize(
    ("args", "stdin", "printed"),
    [
        (["-c", PROBE, "x", "-y"], "", "__main__ ['-c', 'x', '-y'] alpha 1.0\n"),
        (["-m", "probe.show", "x", "-y"], "", "__main__ ['probe.show', 'x', '-y'] alpha 1.0\n"),
        (["-", "x", "-y"], PROBE, "__main__ ['-', 'x', '-y'] alpha 1.0\n"),
        (["-c", "import sys; print(sys.argv)"], "", "['-c']\n"),
        (["SCRIPT", "x"], "", "__main__ ['SCRIPT', 'x'] alpha 1.0\n"),
    ],
    ids=["-c", "-m", "stdin", "-c-alone", "script"],
)
def test_shiv_interpreter_runs_what_shiv_runs(
    both: tuple[Path, Path], tmp_path: Path, args: list[str], stdin: str, printed: str
) -> None:
    """`SHIV_INTERPRETER=1 app.pyz -c CODE` (and `-m MODULE`, `-` for stdin, a script) runs as under shiv 1.0.8's
    bootstrap, with the same sys.argv (was: `FileNotFoundError: ... '/tmp/-c'`)."""
    script = tmp_path / "script.py"
    script.write_text(PROBE)
    args = [os.fspath(script) if arg == "SCRIPT" else arg for arg in args]
    printed = printed.replace("SCRIPT", os.fspath(script))
    ours, theirs = (_as_interpreter(pyz, *args, stdin=stdin) for pyz in both)
    assert (theirs.returncode, theirs.stdout) == (0, printed), theirs.stderr
    assert (ours.returncode, ours.stdout, ours.stderr) == (0, printed, "")


def test_shiv_interpreter_wrong_usage_is_one_line(both: tuple[Path, Path], tmp_path: Path) -> None:
    """What shiv answers with a traceback (IndexError, RuntimeError, ImportError) is one line here: for `-m`, the line
    Python's own `-m` prints (a module not there, a package without __main__; was: runpy's traceback)."""
    pyz = both[0]
    for args, line in [
        (["-c"], "SHIV_INTERPRETER: -c needs an argument (the code to run)"),
        (["-m"], "SHIV_INTERPRETER: -m needs an argument (the module to run)"),
        (["-m", "nosuch"], "SHIV_INTERPRETER: -m nosuch: No module named nosuch"),
        (["-V"], "SHIV_INTERPRETER: -V is not an option it takes: -c CODE, -m MODULE, - (stdin), or a script"),
        (["-u", "x.py"], "SHIV_INTERPRETER: -u is not an option it takes: -c CODE, -m MODULE, - (stdin), or a script"),
        (["-m", "probe.nosuch"], "SHIV_INTERPRETER: -m probe.nosuch: No module named probe.nosuch"),
        (["-m", "nosuch.sub"], "SHIV_INTERPRETER: -m nosuch.sub: No module named 'nosuch'"),
        (
            ["-m", "probe", "x"],
            "SHIV_INTERPRETER: -m probe: No module named probe.__main__; 'probe' is a package and cannot be directly "
            "executed",
        ),
        (
            [os.fspath(tmp_path / "gone.py")],
            f"SHIV_INTERPRETER: cannot open {os.fspath(tmp_path / 'gone.py')!r}: no such file or directory",
        ),
    ]:
        result = _as_interpreter(pyz, *args)
        assert (result.returncode, result.stdout, result.stderr) == (1, "", f"{pyz.name}: {line}\n")
