"""Never a root under the working directory (issue 22): a default root whose variable is not an absolute path
(``XDG_CACHE_HOME=cache``, ``~/cache`` or ``~USER`` that no shell expanded, ``~0``, a ``CACHE_DIRECTORY`` whose
first entry is empty) is ignored with one note, as the XDG base directory specification says, and the next default
is used; ``HOME`` likewise (then no default is left: one line). An empty variable is unset. The runtime and the
embedded launcher (which finds the interpreter's root by the same rules) do the same, for every form a shell might
expand: ``~0`` is bash's working directory, so the launcher never asks the shell to expand it.

Each start runs in an empty working directory, which must stay empty.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.helpers import IndexServer, build, make_project, make_wheel, pylock_text
from tests.test_embed import _sha256, archive, built_executable, executable, no_python
from tests.test_runtime_faults import _key

__all__ = ["archive", "built_executable", "executable"]

#: The forms a variable may hold that are not absolute paths (by name), then the empty value (unset).
NOT_ABSOLUTE = {"relative": "rel/cache", "tilde-user": "~root/cache", "tilde": "~/cache", "tilde-0": "~0"}
NOTE = "not an absolute path (a relative one would depend on the working directory)"
ROOTS = ("ZIPAPP_ROOT", "SHIV_ROOT", "CACHE_DIRECTORY", "XDG_CACHE_HOME", "HOME")


@pytest.fixture
def pyz(tmp_path: Path, wheelhouse: Path, index: IndexServer) -> Path:
    alpha = make_wheel(wheelhouse, "alpha", "1.0")
    project = make_project(tmp_path / "p", dependencies=["alpha"])
    (project / "pylock.toml").write_text(pylock_text([[alpha]], base_url=index.url))
    return build(project)


def _case(tmp_path: Path, name: str, **variables: str) -> tuple[Path, Path, dict[str, str]]:
    """An empty working directory, a home directory (HOME, unless ``variables`` set it) and the environment."""
    cwd, home = tmp_path / name / "cwd", tmp_path / name / "home"
    cwd.mkdir(parents=True)
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ROOTS}
    env.update({"HOME": os.fspath(home), **variables})
    return cwd, home, env


def _start(command: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, check=False, timeout=120)


@pytest.mark.parametrize("variable", ["CACHE_DIRECTORY", "XDG_CACHE_HOME"])
def test_the_runtime_ignores_a_default_that_is_not_absolute(pyz: Path, tmp_path: Path, variable: str) -> None:
    values = {**NOT_ABSOLUTE, "empty": ""}
    if variable == "CACHE_DIRECTORY":
        values["empty-first-entry"] = f":{tmp_path / 'second'}"  # systemd lists several: the first is used
    for name, value in values.items():
        cwd, home, env = _case(tmp_path, name, **{variable: value})
        result = _start([os.fspath(pyz)], env, cwd)
        assert (result.returncode, result.stdout) == (0, "app ok\n"), (name, result.stderr)
        note = f"{pyz.name}: note: ignoring ${variable}={value}: {NOTE}\n" if value else ""
        assert result.stderr == note, name
        assert list(cwd.iterdir()) == [], name
        assert (home / ".cache" / "hatch-zipapp" / _key(pyz)).is_dir(), name


def test_the_runtime_ignores_a_home_that_is_not_absolute(pyz: Path, tmp_path: Path) -> None:
    """HOME is the last default: nothing is left, and the one line lists it (no separate note)."""
    for name, value in {**NOT_ABSOLUTE, "empty": ""}.items():
        cwd, _, env = _case(tmp_path, name, HOME=value)
        result = _start([os.fspath(pyz)], env, cwd)
        tried = f"$HOME={value} (not an absolute path)" if value else "none: no $HOME"
        assert (result.returncode, result.stderr) == (
            1,
            f"{pyz.name}: no writable directory to extract app into (tried: {tried}). Set ZIPAPP_ROOT to a writable "
            f"directory, or under systemd give the unit CacheDirectory=app\n",
        ), name
        assert list(cwd.iterdir()) == [], name


# -- the embedded launcher -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("variable", ["CACHE_DIRECTORY", "XDG_CACHE_HOME"])
def test_the_launcher_ignores_a_default_that_is_not_absolute(
    executable: Path, archive: Path, tmp_path: Path, variable: str
) -> None:
    """The interpreter goes where the runtime's extraction goes (the next default), never under the working
    directory; the runtime's note is the one line said (the launcher does not say it twice)."""
    values = {**NOT_ABSOLUTE, "empty": ""}
    if variable == "CACHE_DIRECTORY":
        values["empty-first-entry"] = f":{tmp_path / 'second'}"
    for name, value in values.items():
        cwd, home, env = _case(tmp_path, name, **{variable: value})
        result = _start(no_python([os.fspath(executable)]), env, cwd)
        assert result.returncode == 0 and "alpha 1.0" in result.stdout, (name, result.stderr)
        note = f"{executable.name}: note: ignoring ${variable}={value}: {NOTE}\n" if value else ""
        assert result.stderr == note, name
        assert list(cwd.iterdir()) == [], name
        assert (home / ".cache" / "hatch-zipapp" / f"cpython-{_sha256(archive)}").is_dir(), name


def test_the_launcher_ignores_a_home_that_is_not_absolute(executable: Path, tmp_path: Path) -> None:
    for name, value in {**NOT_ABSOLUTE, "empty": ""}.items():
        cwd, _, env = _case(tmp_path, name, HOME=value)
        result = _start([os.fspath(executable)], env, cwd)
        tried = f" $HOME={value} (not an absolute path)" if value else " none, no $HOME"
        assert (result.returncode, result.stderr) == (
            70,
            f"{executable.name}: no writable directory to unpack Python into (tried:{tried}). Set ZIPAPP_ROOT to one\n",
        ), name
        assert list(cwd.iterdir()) == [], name


@pytest.mark.parametrize("shell", ["sh", "bash"])
def test_the_launcher_never_expands_tilde_0_to_the_working_directory(
    executable: Path, tmp_path: Path, shell: str
) -> None:
    """bash (a /bin/sh on some systems) expands ``~0`` (and ``~1``: its directory stack) to the working directory:
    ZIPAPP_ROOT=~0/x is what the runtime says it is, an unknown user's home, not an absolute path."""
    if shutil.which(shell) is None:
        pytest.skip(f"no {shell}")
    for value in ("~0/x", "~1/x", "~+/x", "~-/x"):
        cwd, _, env = _case(tmp_path, value.replace("/", "-"), ZIPAPP_ROOT=value, OLDPWD=os.fspath(tmp_path))
        result = _start([shell, os.fspath(executable)], env, cwd)
        assert (result.returncode, result.stderr) == (
            70,
            f"{executable.name}: $ZIPAPP_ROOT={value} is not an absolute path: set it to one (a relative root would "
            f"depend on the working directory)\n",
        ), value
        assert list(cwd.iterdir()) == [], value
