"""Faults at run time (issue 12, item 5): each is one line on stderr, exit status 1, no traceback, and leaves nothing
half-made in use: a full disk, a file in the extraction's way, roots that are relative or name an unset variable, an
entry point override that names nothing, a lock timeout that is not a number."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from hatch_zipapp.layout import PyzReader
from tests.helpers import IndexServer, build, make_project, make_wheel, pylock_text, run_pyz


@pytest.fixture
def pyz(tmp_path: Path, wheelhouse: Path, index: IndexServer) -> Path:
    files = {f"bulk/m{i:03d}.py": f"X = {i}\n" + "# padding\n" * 100 for i in range(300)}
    files["bulk/__init__.py"] = 'VALUE = "bulk"\n'
    bulk = make_wheel(wheelhouse, "bulk", "1.0", files=files)
    project = make_project(tmp_path / "p", dependencies=["bulk"])
    (project / "pylock.toml").write_text(pylock_text([[bulk]], base_url=index.url))
    return build(project)


def _env(**variables: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"SHIV_ROOT", "ZIPAPP_ROOT", "CACHE_DIRECTORY"}}
    env.update(variables)
    return env


def _one_line(
    pyz: Path, *fragments: str, env: dict[str, str], cwd: Path | None = None, args: tuple[str, ...] = ()
) -> str:
    result = subprocess.run(
        [os.fspath(pyz), *args], env=env, cwd=cwd, capture_output=True, text=True, check=False, timeout=60
    )
    assert result.returncode == 1, result
    assert "Traceback" not in result.stderr and len(result.stderr.splitlines()) == 1, result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr
    return result.stderr


def _key(pyz: Path) -> str:
    with PyzReader(pyz) as archive:
        environment = json.loads(archive.read("environment.json"))
    return f"{environment['name']}_{environment['build_id']}"


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 256 KiB tmpfs: far less than the extraction needs."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mount = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k,mode=0700", "tmpfs", os.fspath(disk)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if mount.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {mount.stderr.strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", os.fspath(disk)], check=False, timeout=60)


def test_a_full_disk_is_one_line_and_leaves_nothing(pyz: Path, small_disk: Path) -> None:
    _one_line(
        pyz,
        f"cannot extract {_key(pyz)} into {small_disk}: No space left on device",
        env=_env(ZIPAPP_ROOT=os.fspath(small_disk)),
    )
    assert sorted(os.listdir(small_disk)) == [f".{_key(pyz)}.lock"]


def test_a_file_where_the_extraction_goes_is_replaced(pyz: Path, tmp_path: Path) -> None:
    """A regular file (or a link) named like the extraction is not one: the start extracts, and sets it aside."""
    root = tmp_path / "root"
    root.mkdir()
    (root / _key(pyz)).write_text("not an extraction")
    assert run_pyz(pyz, "bulk", env=_env(ZIPAPP_ROOT=os.fspath(root))).endswith("app ok\n")
    assert (root / _key(pyz) / "site-packages" / "bulk" / "__init__.py").is_file()
    assert sorted(p.name for p in root.iterdir() if not p.name.endswith(".lock")) == [_key(pyz)]


def test_a_file_given_as_the_root(pyz: Path, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    _one_line(
        pyz,
        f"cannot extract app into $ZIPAPP_ROOT={tmp_path / 'file'}: it is not a directory",
        env=_env(ZIPAPP_ROOT=os.fspath(tmp_path / "file")),
    )


@pytest.mark.parametrize(
    ("variable", "value", "fragment"),
    [
        ("SHIV_ROOT", "$NOPE", "$SHIV_ROOT=$NOPE names the variable $NOPE, which is not set"),
        ("ZIPAPP_ROOT", "${NOPE}", "$ZIPAPP_ROOT=${NOPE} names the variable $NOPE, which is not set"),
        ("ZIPAPP_ROOT", "relative/root", "$ZIPAPP_ROOT=relative/root is not an absolute path"),
        ("SHIV_ROOT", ".", "$SHIV_ROOT=. is not an absolute path"),
    ],
)
def test_a_root_that_is_not_an_absolute_path_is_an_error(
    pyz: Path, tmp_path: Path, variable: str, value: str, fragment: str
) -> None:
    """Never the current directory (shiv's `SHIV_ROOT=$NOPE` extracted there)."""
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    _one_line(pyz, fragment, env=_env(**{variable: value, "NOPE": ""}), cwd=cwd)
    assert list(cwd.iterdir()) == []


def test_a_home_that_does_not_exist_is_never_created(pyz: Path, tmp_path: Path) -> None:
    """A service account's ``HOME=/nonexistent`` with no other root: one line naming it and the fix; the home
    directory is not made (as root, nothing would stop it)."""
    home = tmp_path / "nonexistent"
    env = {k: v for k, v in _env(HOME=os.fspath(home)).items() if k != "XDG_CACHE_HOME"}
    _one_line(
        pyz,
        f"no writable directory to extract app into (tried: {home}/.cache/hatch-zipapp (from $HOME: {home} is not a "
        "directory)). Set ZIPAPP_ROOT to a writable directory",
        env=env,
    )
    assert not home.exists()
    home.mkdir()  # an existing home gets its cache directory made
    result = subprocess.run([os.fspath(pyz)], env=env, capture_output=True, text=True, check=False, timeout=60)
    assert result.returncode == 0, result
    assert (home / ".cache" / "hatch-zipapp" / _key(pyz)).is_dir()


@pytest.mark.parametrize(
    ("variable", "value", "fragment"),
    [
        ("SHIV_ENTRY_POINT", "nothing_here:main", "$SHIV_ENTRY_POINT='nothing_here:main' names no module"),
        ("SHIV_MODULE", "app.nothing:main", "$SHIV_MODULE='app.nothing:main' names no module"),
        ("SHIV_ENTRY_POINT", "app.cli:nothing", "$SHIV_ENTRY_POINT='app.cli:nothing' names nothing"),
        ("SHIV_ENTRY_POINT", ":main", "$SHIV_ENTRY_POINT=':main' is not module:function"),
        (
            "SHIV_CONSOLE_SCRIPT",
            "nothing",
            "$SHIV_CONSOLE_SCRIPT='nothing' is not a console script of this .pyz; it has: app",
        ),
    ],
)
def test_an_override_that_names_nothing(pyz: Path, tmp_path: Path, variable: str, value: str, fragment: str) -> None:
    _one_line(pyz, fragment, env=_env(ZIPAPP_ROOT=os.fspath(tmp_path / "root"), **{variable: value}))


def test_the_applications_own_import_error_keeps_its_traceback(pyz: Path, tmp_path: Path) -> None:
    """Only a name that the override itself gives is one line: a module the application's code imports and that is
    missing is the application's error, shown as Python shows it."""
    (tmp_path / "extra" / "probe.py").parent.mkdir()
    (tmp_path / "extra" / "probe.py").write_text("import not_installed_anywhere\n\ndef main():\n    return 0\n")
    env = _env(
        ZIPAPP_ROOT=os.fspath(tmp_path / "root"),
        SHIV_ENTRY_POINT="probe:main",
        SHIV_PREPEND_PYTHONPATH=os.fspath(tmp_path / "extra"),
    )
    result = subprocess.run([os.fspath(pyz)], env=env, capture_output=True, text=True, check=False, timeout=60)
    assert result.returncode == 1
    assert "Traceback" in result.stderr and "No module named 'not_installed_anywhere'" in result.stderr


@pytest.mark.parametrize("value", ["nan", "-1", "five"])
def test_a_lock_timeout_that_is_not_a_number_of_seconds(pyz: Path, tmp_path: Path, value: str) -> None:
    """``nan`` used to wait forever; every bad value is an error at once, not a silent default."""
    _one_line(
        pyz,
        f"$ZIPAPP_LOCK_TIMEOUT={value!r} is not a number of seconds",
        env=_env(ZIPAPP_ROOT=os.fspath(tmp_path / "root"), ZIPAPP_LOCK_TIMEOUT=value),
    )
