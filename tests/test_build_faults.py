"""Faults of the build itself: a lock in the wrong encoding, a failing sdist backend, wheels whose files clash with
each other's directories. Each is one clear error at build time, never a traceback or a .pyz that cannot start."""

from __future__ import annotations

import io
import subprocess
import sys
import tarfile
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
        assert len(message.splitlines()) <= 22  # the tail of the log, not all of it


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
