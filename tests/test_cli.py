"""`hatch-zipapp` as a user types it: its version, and each wrong usage one line that says what is wrong with it
(a missing file, a directory, a relative path) and what fits instead, with nothing written."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hatch_zipapp import __version__


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hatch_zipapp", *args], capture_output=True, text=True, check=False, timeout=60
    )


def test_version() -> None:
    result = _cli("--version")
    assert (result.returncode, result.stdout) == (0, f"hatch-zipapp {__version__}\n")


def test_info_on_a_missing_file_says_so(tmp_path: Path) -> None:
    result = _cli("info", str(tmp_path / "nope.pyz"))
    assert result.returncode == 2
    assert result.stderr == f"hatch-zipapp info: {tmp_path / 'nope.pyz'} does not exist\n"


def _one_line(result: subprocess.CompletedProcess[str], expected: str) -> None:
    assert (result.returncode, result.stdout, result.stderr) == (2, "", expected + "\n")


@pytest.mark.parametrize("command", ["verify", "info", "links"])
def test_a_directory_is_named_a_directory(tmp_path: Path, command: str) -> None:
    """Not "does not exist" (verify said so of a directory that exists); the .pyz files in it are named."""
    empty, holding = tmp_path / "empty", tmp_path / "dist"
    empty.mkdir()
    holding.mkdir()
    for name in ("b.pyz", "a.pyz", "notes.txt"):
        (holding / name).write_bytes(b"")
    (holding / "c.pyz").mkdir()  # a directory named .pyz is not offered
    extra = [os.fspath(tmp_path / "bin")] if command == "links" else []
    _one_line(
        _cli(command, os.fspath(empty), *extra),
        f"hatch-zipapp {command}: {empty} is a directory, not a .pyz: name the .pyz file in it",
    )
    _one_line(
        _cli(command, os.fspath(holding), *extra),
        f"hatch-zipapp {command}: {holding} is a directory, not a .pyz: name the .pyz file in it "
        "(it holds a.pyz, b.pyz)",
    )
    _one_line(
        _cli(command, "/dev/null", *extra),
        f"hatch-zipapp {command}: /dev/null is not a regular file: name the .pyz itself",
    )
    assert not (tmp_path / "bin").exists()


def test_systemd_read_names_a_missing_file_and_a_directory(tmp_path: Path) -> None:
    """--read of a file that is not there is not "not a .pyz built by hatch-zipapp"."""
    output = tmp_path / "units"
    base = ["systemd", "--name", "site", "--pyz", "/srv/site/current.pyz", "-o", os.fspath(output)]
    missing = tmp_path / "missing.pyz"
    fix = "name the .pyz with --read, or give --command"
    _one_line(_cli(*base, "--read", os.fspath(missing)), f"hatch-zipapp systemd: {missing} does not exist: {fix}")
    _one_line(
        _cli(*base, "--read", os.fspath(tmp_path)),
        f"hatch-zipapp systemd: {tmp_path} is a directory, not a .pyz: {fix}",
    )
    dist = tmp_path / "dist"  # `--read dist`, as verify and info are told, names the .pyz files in it
    dist.mkdir()
    for name in ("site-1.1.pyz", "site-1.0.pyz", "site-1.0.pyz.sha256"):
        (dist / name).write_bytes(b"")
    _one_line(
        _cli(*base, "--read", os.fspath(dist)),
        f"hatch-zipapp systemd: {dist} is a directory, not a .pyz (it holds site-1.0.pyz, site-1.1.pyz): {fix}",
    )
    assert not output.exists()


def _tagged_pyz(path: Path, tag: str, python: str) -> Path:
    """A .pyz of a Django site as far as `--read` looks: its entry point and its target."""
    import json
    import zipfile

    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("environment.json", json.dumps({"entry_point": "_hatch_zipapp_django:main"}))
        archive.writestr("hatch-zipapp.json", json.dumps({"target": {"tag": tag, "python": python}}))
    return path


def test_systemd_python_of_another_version_than_the_pyz_is_refused(tmp_path: Path) -> None:
    """`--read` of a .pyz built for Python 3.11 with `--python /usr/bin/python3.12` (or python2.7, python3.1) wrote a
    unit whose start the runtime refuses ("needs CPython 3.11"): it is one line before anything is written. A
    `--python` that names no version (`python3`, `/opt/py/bin/python`) is the user's to know, and so is any
    interpreter for a `py3-none-any` .pyz."""
    output = tmp_path / "units"
    base = ["systemd", "--name", "site", "--pyz", "/srv/site/current.pyz", "-o", os.fspath(output)]
    pyz = _tagged_pyz(tmp_path / "site.pyz", "cp311-cp311-manylinux_2_17_x86_64", "3.11.2")
    for python, version in [("/usr/bin/python3.12", "3.12"), ("/usr/bin/python2.7", "2.7"), ("/opt/python3.1", "3.1")]:
        _one_line(
            _cli(*base, "--read", os.fspath(pyz), "--python", python),
            f"hatch-zipapp systemd: --python {python!r} is Python {version}, but {pyz} is built for Python 3.11 "
            "(cp311-cp311-manylinux_2_17_x86_64), which its runtime refuses to start on: give --python "
            "/usr/bin/python3.11 (the path of Python 3.11 on the server), or leave --python out",
        )
        assert not output.exists()
    for python in ["/usr/bin/python3.11", "/usr/bin/python3", "/opt/py/bin/python"]:
        result = _cli(*base, "--read", os.fspath(pyz), "--python", python)
        assert result.returncode == 0, result.stderr
        assert f"ExecStart={python} /srv/site/current.pyz serve\n" in (output / "site.service").read_text()
    portable = _tagged_pyz(tmp_path / "portable.pyz", "py3-none-any", "3.11.2")
    assert _cli(*base, "--read", os.fspath(portable), "--python", "/usr/bin/python3.13").returncode == 0


def test_systemd_relative_paths_suggest_an_absolute_one_that_exists(tmp_path: Path) -> None:
    """`--python python3` suggests where python3 is (was `--python /python3`); a name found nowhere, or a relative
    path, is told how to find it, never given a path made up from the relative one."""
    output = tmp_path / "units"
    base = ["systemd", "--name", "site", "-o", os.fspath(output)]
    why = "is not an absolute path: systemd starts the service elsewhere (its working directory is the state directory)"
    python = "/usr/bin/python3" if Path("/usr/bin/python3").is_file() else shutil.which("python3")
    assert python is not None
    _one_line(
        _cli(*base, "--pyz", "/srv/site/current.pyz", "--python", "python3"),
        f"hatch-zipapp systemd: --python 'python3' {why}, so give the interpreter's full path on the server, "
        f"e.g. --python {python} (where `python3` is on this machine; `command -v python3` on the server)",
    )
    _one_line(
        _cli(*base, "--pyz", "/srv/site/current.pyz", "--python", "python3.99"),
        f"hatch-zipapp systemd: --python 'python3.99' {why}, so give the interpreter's full path on the server "
        "(`command -v python3.99` on the server prints it)",
    )
    for relative, option, what in [("bin/python3", "--python", "the interpreter"), ("./x.pyz", "--pyz", "the .pyz")]:
        arguments = {"--pyz": "/srv/site/current.pyz", option: relative}
        _one_line(
            _cli(*base, *(f"{k}={v}" for k, v in arguments.items())),
            f"hatch-zipapp systemd: {option} {relative!r} {why}, so give {what}'s full path on the server (starting "
            "with /)",
        )
    assert not output.exists()


def test_lock_refuses_an_output_directory_that_is_not_there(tmp_path: Path) -> None:
    """`lock -o DIR/FILE` with no DIR: one line naming it, and nothing created (uv made the directory silently)."""
    project = tmp_path / "p"
    project.mkdir()
    (project / "pyproject.toml").write_text('[project]\nname = "p"\nversion = "1"\n')
    (project / "file").write_text("")
    for output, fmt in [
        (tmp_path / "missing" / "deeper" / "pylock.toml", "pylock"),
        (Path("sub/requirements.txt"), "requirements"),
    ]:
        result = _cli("lock", "--format", fmt, "-o", os.fspath(output), "--project", os.fspath(project))
        where = (project / output).parent
        _one_line(result, f"hatch-zipapp lock: -o {output}: {where} does not exist: create it first, or name another")
    _one_line(
        _cli("lock", "-o", "file/pylock.toml", "--project", os.fspath(project)),
        f"hatch-zipapp lock: -o file/pylock.toml: {project / 'file'} is not a directory: name another",
    )
    assert not (tmp_path / "missing").exists() and sorted(p.name for p in project.iterdir()) == [
        "file",
        "pyproject.toml",
    ]


def test_every_option_says_what_it_is() -> None:
    """`lock --format` and `systemd -o` had no help text: every option of every command has one."""
    for command in ["lock", "info", "verify", "links", "systemd", "deploy"]:
        text = _cli(command, "--help").stdout
        options = text.split("options:", 1)[1]
        lines = [line for line in options.splitlines() if line.startswith("  -")]
        for line in lines:
            described = len(line.split("  ")) > 2 or not options.split(line, 1)[1].startswith("\n  -")
            assert described, f"{command}: {line.strip()} has no help text"
    lock = " ".join(_cli("lock", "--help").stdout.split())
    assert "--format {pylock,requirements} pylock: a universal pylock.toml, made by uv (the default)" in lock
    systemd = " ".join(_cli("systemd", "--help").stdout.split())
    assert "-o OUTPUT, --output OUTPUT the directory to write the units to (default: the current one)" in systemd


@pytest.mark.parametrize("mode", [0o644, 0o755, 0o100600, 0o120777])
def test_verify_names_the_modes_the_build_writes(tmp_path: Path, mode: int) -> None:
    """A member whose mode lacks the regular file's type bits (as in a wheel named in place of its .pyz: 0o644) was
    told "mode 0o644 (the build writes regular files, 0644 or 0755)", which reads as if 0o644 were allowed: the
    message names the modes as the build writes them, type bits included."""
    import zipfile

    archive = tmp_path / "site-1.0-py3-none-any.whl"
    with zipfile.ZipFile(archive, "w") as zip_file:
        info = zipfile.ZipInfo("site/__init__.py", (1980, 1, 1, 0, 0, 0))
        info.create_system, info.external_attr = 3, mode << 16
        zip_file.writestr(info, b"\n")
    result = _cli("verify", os.fspath(archive))
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"hatch-zipapp verify: site/__init__.py: mode {mode:#o}, not a regular file's 0o100644 or 0o100755 (the "
        "modes the build writes: a regular file's type bits and rw-r--r-- or rwxr-xr-x)",
        f"hatch-zipapp verify: {archive} is NOT the file that was built (1 problem)",
    ]
