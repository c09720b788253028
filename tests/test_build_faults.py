"""Faults of the build itself: a lock in the wrong encoding, a failing sdist backend, wheels whose files clash with
each other's directories. Each is one clear error at build time, never a traceback or a .pyz that cannot start."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import pytest

from hatch_zipapp.errors import LockError, ZipappError
from hatch_zipapp.lock import find_uv
from tests.helpers import (
    IndexServer,
    Wheel,
    build,
    build_fails,
    make_project,
    make_wheel,
    pylock_text,
    requirements_text,
    run_pyz,
)


def hatchling_build(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`hatchling build -t zipapp` in a subprocess, as `hatch build` runs it (this checkout is installed here)."""
    return subprocess.run(
        [sys.executable, "-m", "hatchling", "build", "-t", "zipapp", *args],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


class TestLockEncoding:
    @pytest.mark.parametrize("encoding", ["utf-16", "utf-32"])
    def test_pylock_with_a_byte_order_mark(
        self, tmp_path: Path, wheelhouse: Path, index: IndexServer, encoding: str
    ) -> None:
        alpha = make_wheel(wheelhouse, "alpha", "1.0")
        project = make_project(tmp_path / "p", dependencies=["alpha"])
        (project / "pylock.toml").write_text(pylock_text([[alpha]], base_url=index.url), encoding=encoding)
        message = build_fails(project, LockError, "pylock.toml", f"it is {encoding.upper()}", "Save it as UTF-8")
        assert "hatch-zipapp lock" in message and len(message.splitlines()) == 1

    def test_requirements_in_utf16_as_powershell_writes_it(
        self, tmp_path: Path, wheelhouse: Path, index: IndexServer
    ) -> None:
        alpha = make_wheel(wheelhouse, "alpha", "1.0")
        project = make_project(tmp_path / "p", dependencies=["alpha"])
        text = requirements_text([[alpha]], index_url=index.simple)
        (project / "requirements.txt").write_text(text, encoding="utf-16")
        build_fails(project, LockError, "requirements.txt is not UTF-8 text: it is UTF-16", "use `-o FILE`")

    def test_utf16_without_a_byte_order_mark(self, tmp_path: Path, wheelhouse: Path, index: IndexServer) -> None:
        alpha = make_wheel(wheelhouse, "alpha", "1.0")
        project = make_project(tmp_path / "p", dependencies=["alpha"])
        text = requirements_text([[alpha]], index_url=index.simple)
        (project / "requirements.txt").write_bytes(text.encode("utf-16-le"))
        build_fails(project, LockError, "it has NUL bytes from line 1 on", "Save it as UTF-8")

    def test_latin1_byte(self, tmp_path: Path, wheelhouse: Path, index: IndexServer) -> None:
        alpha = make_wheel(wheelhouse, "alpha", "1.0")
        project = make_project(tmp_path / "p", dependencies=["alpha"])
        text = pylock_text([[alpha]], base_url=index.url).replace("tests", "tests café")
        (project / "pylock.toml").write_bytes(text.encode("latin-1"))
        build_fails(project, LockError, "byte 0xe9 on line 2 is not UTF-8")

    def test_utf8_with_a_byte_order_mark_is_read(self, tmp_path: Path, wheelhouse: Path, index: IndexServer) -> None:
        alpha = make_wheel(wheelhouse, "alpha", "1.0")
        project = make_project(tmp_path / "p", dependencies=["alpha"])
        (project / "pylock.toml").write_text(pylock_text([[alpha]], base_url=index.url), encoding="utf-8-sig")
        assert "alpha: alpha 1.0" in run_pyz(build(project), "alpha")

    def test_no_traceback_from_hatchling_build(self, tmp_path: Path, wheelhouse: Path, index: IndexServer) -> None:
        alpha = make_wheel(wheelhouse, "alpha", "1.0")
        project = make_project(tmp_path / "p", dependencies=["alpha"])
        (project / "pylock.toml").write_text(pylock_text([[alpha]], base_url=index.url), encoding="utf-16")
        result = hatchling_build(project)
        assert result.returncode != 0
        assert "Traceback" not in result.stderr and "UnicodeDecodeError" not in result.stderr, result.stderr
        assert f"Lock file {project / 'pylock.toml'} is not UTF-8 text: it is UTF-16" in result.stderr
        assert not (project / "dist").exists() or not any((project / "dist").iterdir())


_FAILING_BACKEND = """\
import sys

def get_requires_for_build_wheel(config_settings=None):
    return []

def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    for number in range(40):
        print(f"compiling part{number}.c")
    print("broken.c:7:3: error: 'PyUnicode_AS_UNICODE' undeclared (first use in this function)", file=sys.stderr)
    sys.exit(1)
"""


def _failing_sdist(directory: Path) -> Wheel:
    """An sdist whose in-tree backend prints a long log, then its error, and fails."""
    top = "broken-0.1"
    files = {
        "pyproject.toml": '[build-system]\nrequires = []\nbuild-backend = "backend"\nbackend-path = ["."]\n'
        '[project]\nname = "broken"\nversion = "0.1"\n',
        "PKG-INFO": "Metadata-Version: 2.1\nName: broken\nVersion: 0.1\n",
        "backend.py": _FAILING_BACKEND,
    }
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{top}.tar.gz"
    with tarfile.open(path, "w:gz") as archive:
        for member, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(f"{top}/{member}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return Wheel(path, "broken", "0.1")


class TestSdistBackendError:
    @pytest.mark.parametrize("installer", ["uv", "pip"])
    def test_the_backends_own_error_is_shown(
        self, tmp_path: Path, wheelhouse: Path, index: IndexServer, monkeypatch: pytest.MonkeyPatch, installer: str
    ) -> None:
        import hatch_zipapp.sdist

        if installer == "pip":
            monkeypatch.setattr(hatch_zipapp.sdist, "find_uv", lambda: None)
        else:
            assert find_uv() is not None, "uv is a test dependency"
        broken = _failing_sdist(wheelhouse)
        project = make_project(tmp_path / "p", dependencies=["broken"])
        (project / "pylock.toml").write_text(pylock_text([[broken]], base_url=index.url))
        message = build_fails(
            project,
            ZipappError,
            "Building a wheel of broken 0.1 from its source distribution broken-0.1.tar.gz failed",
            "broken.c:7:3: error: 'PyUnicode_AS_UNICODE' undeclared",
            "To fix: fix the build, or build a wheel of broken",
        )
        assert "compiling part0.c" not in message  # the end of the log, not all of it


class TestFileDirectoryClash:
    def test_between_two_wheels(self, tmp_path: Path, wheelhouse: Path, index: IndexServer) -> None:
        alpha = make_wheel(wheelhouse, "alpha", "1.0", members={"plugins": "a file\n"})
        beta = make_wheel(wheelhouse, "beta", "1.0", members={"plugins/beta.py": "VALUE = 1\n"})
        project = make_project(tmp_path / "p", dependencies=["alpha", "beta"])
        (project / "pylock.toml").write_text(pylock_text([[alpha], [beta]], base_url=index.url))
        message = build_fails(
            project,
            ZipappError,
            f"{alpha.filename} installs a file site-packages/plugins, and {beta.filename} installs "
            f"site-packages/plugins/beta.py below it",
            "remove one of them from the lock",
        )
        assert len(message.splitlines()) == 1

    def test_within_one_wheel(self, tmp_path: Path, wheelhouse: Path, index: IndexServer) -> None:
        alpha = make_wheel(wheelhouse, "alpha", "1.0", members={"alpha/data": "x\n", "alpha/data/more.txt": "y\n"})
        project = make_project(tmp_path / "p", dependencies=["alpha"])
        (project / "pylock.toml").write_text(pylock_text([[alpha]], base_url=index.url))
        build_fails(
            project,
            ZipappError,
            f"{alpha.filename} installs both a file site-packages/alpha/data and site-packages/alpha/data/more.txt",
        )

    def test_with_the_project(self, tmp_path: Path, wheelhouse: Path, index: IndexServer) -> None:
        """The project's own wheel is one of the wheels: a dependency shipping a file `app` is refused too."""
        alpha = make_wheel(wheelhouse, "alpha", "1.0", members={"app": "not a package\n"})
        project = make_project(tmp_path / "p", dependencies=["alpha"])
        (project / "pylock.toml").write_text(pylock_text([[alpha]], base_url=index.url))
        build_fails(project, ZipappError, f"{alpha.filename} installs a file site-packages/app, and app-1.0-py3")


_STALLING_BUILD = """\
import os, sys, time, types

stage, marker, go = sys.argv[1:4]


def stall():
    open(marker, "w").close()
    while not os.path.exists(go):
        time.sleep(0.05)


if stage == "archive":  # the .pyz is written under its temporary name, the sidecars are not yet
    import hatch_zipapp.archive as archive

    real_sidecars = archive.sidecars

    def sidecars(*args, **kwargs):
        stall()
        return real_sidecars(*args, **kwargs)

    archive.sidecars = sidecars
else:  # the sources are written for the compiler, which has not run yet
    import subprocess
    import hatch_zipapp.bytecode as bytecode

    def run(command, *args, **kwargs):
        if "py_compile" in " ".join(map(str, command)):
            stall()
        return subprocess.run(command, *args, **kwargs)

    bytecode.subprocess = types.SimpleNamespace(run=run)

from hatchling.cli import hatchling

sys.argv = ["hatchling", "build", "-t", "zipapp"]
sys.exit(hatchling())
"""


class StalledBuild:
    """`hatchling build -t zipapp` in a subprocess, stopped at ``stage`` until released (or killed)."""

    def __init__(self, project: Path, stage: str, temp: Path, log: Path) -> None:
        self.marker = log.with_suffix(".stalled")
        self.go = log.with_suffix(".go")
        self._log = log.open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-c", _STALLING_BUILD, stage, str(self.marker), str(self.go)],
            cwd=project,
            env={**os.environ, "TMPDIR": str(temp)},
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 120
        while not self.marker.exists():
            assert self.process.poll() is None, f"the build ended before {stage}:\n{log.read_text()}"
            assert time.monotonic() < deadline, f"the build never reached {stage}"
            time.sleep(0.05)

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        assert self.process.wait(timeout=30) == -signal.SIGKILL
        self._log.close()

    def finish(self) -> int:
        self.go.touch()
        code = self.process.wait(timeout=300)
        self._log.close()
        return code

    def stop(self) -> None:
        if self.process.poll() is None:
            self.kill()
        self._log.close()


def _leftovers(dist: Path, temp: Path) -> list[Path]:
    """What a build leaves in the shared places: hidden temporary files beside the artifacts, and hatch-zipapp's
    directories in the temporary directory."""
    hidden = [path for path in dist.iterdir() if path.name.startswith(".") and ".tmp" in path.name]
    return sorted(hidden + [path for path in temp.iterdir() if path.name.startswith("hatch-zipapp-")])


def _size(paths: list[Path]) -> int:
    return sum(p.stat().st_size for path in paths for p in ([path] if path.is_file() else path.rglob("*")))


class TestKilledBuild:
    @pytest.fixture
    def project(self, tmp_path: Path, wheelhouse: Path, index: IndexServer) -> Path:
        modules = {f"alpha/m{i}.py": "X = 1\n" * 200 for i in range(20)}
        alpha = make_wheel(wheelhouse, "alpha", "1.0", files={"alpha/__init__.py": "VALUE = 'alpha 1.0'\n", **modules})
        project = make_project(tmp_path / "p", dependencies=["alpha"])
        (project / "pylock.toml").write_text(pylock_text([[alpha]], base_url=index.url))
        (project / "dist").mkdir()
        return project

    @pytest.fixture
    def temp(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
        """The temporary directory of the builds in this test (theirs and this process's)."""
        path = tmp_path / "tmp"
        path.mkdir()
        monkeypatch.setenv("TMPDIR", str(path))
        monkeypatch.setattr(tempfile, "tempdir", str(path))
        return path

    @pytest.mark.parametrize("stage", ["bytecode", "archive"])
    @pytest.mark.parametrize("remover", ["next build", "hatchling build --clean-only"])
    def test_leftovers_are_removed(self, project: Path, temp: Path, tmp_path: Path, stage: str, remover: str) -> None:
        stalled = StalledBuild(project, stage, temp, tmp_path / "build.log")
        try:
            stalled.kill()
        finally:
            stalled.stop()
        left = _leftovers(project / "dist", temp)
        assert any(path.parent == temp for path in left), left  # the staging directory, at least
        if stage == "archive":
            assert any(path.parent == project / "dist" for path in left), left
        assert _size(left) > 0
        if remover == "next build":
            run_pyz(build(project), "alpha")
        else:
            result = hatchling_build(project, "--clean-only")
            assert result.returncode == 0, result.stderr
        assert _leftovers(project / "dist", temp) == []

    def test_a_running_builds_files_are_never_removed(
        self, project: Path, temp: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        running = StalledBuild(project, "archive", temp, tmp_path / "running.log")
        try:
            held = _leftovers(project / "dist", temp)
            assert held
            run_pyz(build(project), "alpha")  # another build, into the same directory, meanwhile
            assert hatchling_build(project, "--clean-only").returncode == 0
            assert all(path.exists() for path in held), held
            assert "killed builds" not in capsys.readouterr().err
            assert running.finish() == 0, (tmp_path / "running.log").read_text()
        finally:
            running.stop()
        (pyz,) = (project / "dist").glob("*.pyz")
        assert "alpha: alpha 1.0" in run_pyz(pyz, "alpha")
        assert _leftovers(project / "dist", temp) == []

    @pytest.mark.skipif(os.getuid() != 0, reason="making another user's files takes root (as in CI)")
    def test_another_users_files_are_never_removed(self, project: Path, temp: Path) -> None:
        """On a shared machine /tmp holds everyone's: a dead build's directory of another user is theirs to remove."""
        theirs = [
            temp / "hatch-zipapp-pyc.abcdefgh.hatch-zipapp.tmp",
            project / "dist" / ".x.abcdefgh.hatch-zipapp.tmp",
        ]
        theirs[0].mkdir()
        theirs[1].write_text("theirs")
        for path in theirs:
            os.chown(path, 65534, 65534)
        build(project)
        assert all(path.exists() for path in theirs)
