"""`hatch-zipapp lock`, and uv.lock accepted through uv's export: hermetic, against the index on 127.0.0.1."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hatch_zipapp.__main__ import main
from hatch_zipapp.lock import find_uv
from tests.docblocks import CHECKOUT_IGNORE, ROOT
from tests.helpers import IndexServer, build, make_project, make_wheel, run_pyz


@pytest.fixture
def project(tmp_path: Path, wheelhouse: Path) -> Path:
    make_wheel(wheelhouse, "alpha", "1.0")
    make_wheel(wheelhouse, "alpha", "1.1")
    make_wheel(wheelhouse, "winonly", "1.0")
    return make_project(tmp_path / "p", dependencies=["alpha<1.1", 'winonly; sys_platform == "win32"'])


def test_universal_pylock(project: Path, index: IndexServer, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lock", "--project", os.fspath(project), "--", "--index-url", index.simple]) == 0
    lock = (project / "pylock.toml").read_text()
    assert 'name = "alpha"' in lock and 'version = "1.0"' in lock and "sha256" in lock
    assert "winonly" in lock and "sys_platform == 'win32'" in lock  # universal: the Windows-only dependency too
    assert "wrote" in capsys.readouterr().out
    assert run_pyz(build(project), "alpha").startswith("alpha: alpha 1.0")


def test_requirements(project: Path, index: IndexServer) -> None:
    args = ["lock", "--format", "requirements", "--project", os.fspath(project), "--"]
    assert main([*args, "--index-url", index.simple, "--no-build-isolation"]) == 0
    lock = (project / "requirements.txt").read_text()
    assert "alpha==1.0" in lock and "--hash=sha256:" in lock and "winonly" not in lock
    assert run_pyz(build(project), "alpha").startswith("alpha: alpha 1.0")


def test_no_pyproject(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lock", "--project", os.fspath(tmp_path)]) == 2
    assert "no pyproject.toml" in capsys.readouterr().err


def test_module_entry_point(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "hatch_zipapp", "lock", "--help"], capture_output=True, text=True, check=True, timeout=60
    )
    assert "universal PEP 751 pylock.toml" in result.stdout


def test_uv_lock_is_exported_and_used(project: Path, index: IndexServer) -> None:
    uv = find_uv()
    assert uv is not None, "uv is a test dependency"
    subprocess.run([uv, "lock", "--quiet", "--index-url", index.simple], cwd=project, check=True, timeout=300)
    assert (project / "uv.lock").is_file() and not (project / "pylock.toml").exists()
    assert run_pyz(build(project), "alpha").startswith("alpha: alpha 1.0")


def test_requirements_without_pip_tools_names_the_extra(project: Path, tmp_path: Path) -> None:
    """pip-tools is an extra: without it, `--format requirements` is one line naming what installs it where
    hatch-zipapp runs (here a virtual environment: its pip), not `hatch-zipapp[pip-tools]`, which needs hatch-zipapp
    on the package index."""
    hidden = tmp_path / "hidden"
    (hidden / "piptools").mkdir(parents=True)
    # What `import piptools` raises when it is not installed.
    (hidden / "piptools" / "__init__.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'piptools'\", name='piptools')\n"
    )
    env = {**os.environ, "PYTHONPATH": os.fspath(hidden)}
    command = [sys.executable, "-m", "hatch_zipapp", "lock", "--format", "requirements", "--project", str(project)]
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=60, check=False)
    assert result.returncode == 2 and result.stdout == ""
    fix = f"`{shlex.quote(sys.executable)} -m pip install 'pip-tools>=7.4'` (or the default --format pylock"
    assert result.stderr.count("\n") == 1 and fix in result.stderr, result.stderr
    assert "hatch-zipapp[" not in result.stderr
    assert not (project / "requirements.txt").exists()


def _above_running_python() -> str:
    """A Python floor above the interpreter running the tests (3.12 under 3.11): the case uv's default gets wrong."""
    return f"{sys.version_info.major}.{sys.version_info.minor + 1}"


@pytest.fixture
def modern(tmp_path: Path, wheelhouse: Path) -> Path:
    """A project needing a Python above the running one, with a dependency that needs it too (as Django 6 needs
    3.12): uv's default floor, the running Python, cannot lock it (`the requested Python version (>=3.11) does not
    satisfy Python>=3.12`)."""
    floor = _above_running_python()
    make_wheel(wheelhouse, "alpha", "1.0")
    make_wheel(wheelhouse, "alpha", "1.1")
    metadata = f"Metadata-Version: 2.1\nName: modern\nVersion: 1.0\nRequires-Python: >={floor}\n"
    make_wheel(wheelhouse, "modern", "1.0", members={"modern-1.0.dist-info/METADATA": metadata})
    project = make_project(tmp_path / "p", dependencies=["alpha<1.1", "modern"])
    pyproject = project / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('requires-python = ">=3.8"', f'requires-python = ">={floor}"'))
    return project


def test_pylock_starts_at_the_projects_floor(modern: Path, index: IndexServer) -> None:
    floor = _above_running_python()
    assert main(["lock", "--project", os.fspath(modern), "--", "--index-url", index.simple]) == 0
    lock = (modern / "pylock.toml").read_text()
    assert f'requires-python = ">={floor}"' in lock and 'name = "alpha"' in lock and 'name = "modern"' in lock


def test_requirements_refuses_an_excluded_interpreter(modern: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lock", "--format", "requirements", "--project", os.fspath(modern)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pip-compile locks for the Python running it" in err
    assert not (modern / "requirements.txt").exists()


def test_the_stale_lock_commands_work_as_printed(
    modern: Path, index: IndexServer, wheelhouse: Path, tmp_path: Path
) -> None:
    """Each refresh command the stale-lock error prints, run exactly as printed in the project's directory (uv's
    index given by the environment, as a user's uv.toml or UV_DEFAULT_INDEX would), makes a lock the build takes."""
    import re

    from hatch_zipapp.errors import StaleLockError
    from tests.helpers import Wheel, pylock_text

    floor = _above_running_python()
    # A target of the project's floor: the build host's Python is below it. No bytecode: no such interpreter needed.
    project = modern
    (project / "pyproject.toml").write_text(
        (project / "pyproject.toml").read_text()
        + f'bytecode = false\ntargets = [{{ python = "{floor}", platform = "manylinux_2_17_x86_64" }}]\n'
    )
    alpha_1_1 = Wheel(wheelhouse / "alpha-1.1-py3-none-any.whl", "alpha", "1.1")
    stale = pylock_text([[alpha_1_1]], base_url=index.url)
    (project / "pylock.toml").write_text(stale)
    with pytest.raises(StaleLockError) as info:
        build(project)
    message = str(info.value)
    commands = re.findall(r"`([^`]+)`", message.partition("Refresh the lock: ")[2])
    assert len(commands) == 2 and commands[0].startswith("hatch-zipapp lock"), message
    env = {
        **os.environ,
        "PATH": f"{os.path.dirname(sys.executable)}{os.pathsep}{os.environ['PATH']}",  # hatch-zipapp and uv
        "UV_DEFAULT_INDEX": index.simple,
        "UV_CACHE_DIR": os.fspath(tmp_path / "uv-cache"),
    }
    for command in commands:
        (project / "pylock.toml").write_text(stale)
        result = subprocess.run(
            shlex.split(command), cwd=project, env=env, capture_output=True, text=True, timeout=120, check=False
        )
        assert result.returncode == 0, f"{command}:\n{result.stderr}"
        lock = (project / "pylock.toml").read_text()
        assert 'name = "alpha"\nversion = "1.0"' in lock and 'name = "modern"' in lock, command
        assert build(project, tmp_path / command.split()[0]).name.endswith(".pyz")


def test_invalid_requires_python_is_one_line(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pyproject = project / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('requires-python = ">=3.8"', 'requires-python = "3.12+"'))
    assert main(["lock", "--project", os.fspath(project)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "requires-python = '3.12+' is not valid" in err


@pytest.mark.network
def test_the_stale_requirements_commands_work_as_printed(tmp_path: Path, wheelhouse: Path) -> None:
    """The same for a pip-compile lock, against the real index (pip-compile builds the project's metadata in an
    isolated environment, with hatchling from the index)."""
    import re

    from hatch_zipapp.errors import StaleLockError
    from tests.helpers import requirements_text

    project = make_project(tmp_path / "p", dependencies=["six>=1.16"])
    old = make_wheel(wheelhouse, "six", "1.15.0")
    stale = requirements_text([[old]])
    (project / "requirements.txt").write_text(stale)
    with pytest.raises(StaleLockError) as info:
        build(project)
    message = str(info.value)
    commands = re.findall(r"`([^`]+)`", message.partition("Refresh the lock: ")[2])
    assert len(commands) == 2 and "requirements.txt" in commands[1], message
    # The machine's pip configuration (its find-links, extra index URLs) kept out: pip-compile writes it into the lock.
    env = {name: value for name, value in os.environ.items() if not name.startswith("PIP_")}
    env.update(PIP_CONFIG_FILE=os.devnull, PATH=f"{os.path.dirname(sys.executable)}{os.pathsep}{os.environ['PATH']}")
    for command in commands:
        (project / "requirements.txt").write_text(stale)
        result = subprocess.run(
            shlex.split(command), cwd=project, env=env, capture_output=True, text=True, timeout=300, check=False
        )
        assert result.returncode == 0, f"{command}:\n{result.stderr}"
        assert (
            "six==1.1" in (project / "requirements.txt").read_text()
            and "--hash=sha256:" in (project / "requirements.txt").read_text()
        )
        assert build(project, tmp_path / command.split()[0]).name.endswith(".pyz")


@pytest.mark.network
def test_installed_as_the_docs_say_lock_names_what_adds_uv_or_pip_tools(
    project: Path, index: IndexServer, tmp_path: Path
) -> None:
    """Installed as docs/installation.md does (`uv tool install <checkout>`), without uv on PATH or pip-tools: each
    format is one line with the `uv tool install --with ... <checkout>` that adds what it needs, and that command
    run as printed makes `lock --format requirements` work (the extras' `pip install 'hatch-zipapp[uv]'` cannot:
    hatch-zipapp is not on the package index)."""
    checkout = tmp_path / "src" / "hatch-zipapp"
    shutil.copytree(ROOT, checkout, ignore=shutil.ignore_patterns(*CHECKOUT_IGNORE))
    uv = find_uv()
    assert uv is not None, "uv is a test dependency"
    bare = "/usr/bin:/bin"
    assert shutil.which("uv", path=bare) is None
    env = {**os.environ, "UV_TOOL_DIR": os.fspath(tmp_path / "tools"), "UV_TOOL_BIN_DIR": os.fspath(tmp_path / "bin")}
    env.pop("VIRTUAL_ENV", None)
    install = [uv, "tool", "install", "--quiet", os.fspath(checkout)]
    subprocess.run(install, env=env, check=True, timeout=600, capture_output=True)
    tool = os.fspath(tmp_path / "bin" / "hatch-zipapp")
    bare_env = {**env, "PATH": bare}

    def lock(*args: str, environment: dict[str, str]) -> subprocess.CompletedProcess[str]:
        command = [tool, "lock", *args, "--project", os.fspath(project), "--", "--index-url", index.simple]
        return subprocess.run(command, env=environment, capture_output=True, text=True, timeout=300, check=False)

    quoted = shlex.quote(os.fspath(checkout))
    result = lock(environment=bare_env)
    assert (
        result.returncode == 2
        and result.stdout == ""
        and result.stderr
        == (
            "hatch-zipapp lock: a universal pylock.toml is made by uv, which is not installed: "
            f"`uv tool install --with 'uv>=0.9' {quoted}` (or `--format requirements` for a pip-compile lock)\n"
        )
    )
    result = lock("--format", "requirements", environment=bare_env)
    suggested = f"uv tool install --with 'pip-tools>=7.4' {quoted}"
    assert (
        result.returncode == 2
        and result.stdout == ""
        and result.stderr
        == (
            "hatch-zipapp lock: --format requirements is made by pip-compile (pip-tools), which is not installed: "
            f"`{suggested}` (or the default --format pylock, made by uv)\n"
        )
    )
    assert not (project / "requirements.txt").exists() and not (project / "pylock.toml").exists()
    path = f"{Path(uv).parent}:{bare}"
    subprocess.run(suggested, shell=True, env={**env, "PATH": path}, check=True, timeout=600, capture_output=True)  # noqa: S602 - the printed command, as a user pastes it
    result = lock("--format", "requirements", environment=bare_env)
    assert result.returncode == 0 and "alpha==1.0" in (project / "requirements.txt").read_text(), result.stderr
