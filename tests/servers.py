"""The example site (fixtures/mysite) with the four servers `serve` runs (and psycopg, for PostgreSQL), built once per
server and shared by every test module of a run (tests/conftest.py's ``server_builds``): the HTTP tests on 127.0.0.1
and the real-systemd ones. Under pytest-xdist the workers share one directory: the first to need a build makes it
under a lock, the others wait for it and use the same file."""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import build
from tests.test_django import _copy

SERVERS = ("gunicorn", "pyuwsgi", "uvicorn", "granian")


def site_project(directory: Path) -> Path:
    """fixtures/mysite with the four servers and psycopg added to its dependencies and its lock refreshed (uv, the
    index)."""
    project = _copy(directory / "mysite")
    pyproject = project / "pyproject.toml"
    text = pyproject.read_text()
    assert '  "gunicorn>=23",\n' in text
    pyproject.write_text(
        text.replace(
            '  "gunicorn>=23",\n',
            '  "gunicorn>=23",\n  "pyuwsgi>=2.0.28",\n  "uvicorn>=0.30",\n  "granian>=2.0",\n'
            '  "psycopg[binary]>=3.2",\n',
        )
    )
    result = subprocess.run(
        [sys.executable, "-m", "hatch_zipapp", "lock"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return project


class Built:
    """server → the site's .pyz built with `server = "…"`, on first use (one at a time: they share the pyproject).

    ``directory`` may be shared by several processes (pytest-xdist's workers): every build happens under an exclusive
    lock on ``directory/.lock``, and a finished one is marked done (``DONE`` files) so the others take it as it is;
    a build a killed worker left half-made is made again."""

    DONE = ".built"

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.cache = directory / "cache"
        self.output = directory / "dist"
        self._project: Path | None = None
        self.pyzs: dict[str, Path] = {}

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        with (self.directory / ".lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    @property
    def project(self) -> Path:
        if self._project is None:
            with self._locked():
                self._project = self._made_project()
        return self._project

    def _made_project(self) -> Path:
        """The locked project (made once; the caller holds the lock)."""
        project, done = self.directory / "mysite", self.directory / f"mysite{self.DONE}"
        if not done.is_file():
            shutil.rmtree(project, ignore_errors=True)
            with pytest.MonkeyPatch.context() as monkeypatch:
                monkeypatch.setenv("HATCH_ZIPAPP_CACHE_DIR", os.fspath(self.cache))
                site_project(self.directory)
            done.write_text("")
        return project

    def __getitem__(self, server: str) -> Path:
        return self.release(server, "1.0")

    def release(self, server: str, version: str) -> Path:
        """The site as release ``version`` (its .pyz named so), served by ``server``."""
        key = server if version == "1.0" else f"{server}-{version}"
        if key not in self.pyzs:
            with self._locked():
                self.pyzs[key] = self._made_release(key, server, version)
        return self.pyzs[key]

    def _made_release(self, key: str, server: str, version: str) -> Path:
        output, done = self.output / key, self.output / f"{key}{self.DONE}"
        if done.is_file():
            return output / done.read_text()
        shutil.rmtree(output, ignore_errors=True)
        project = self._made_project()
        self._project = project
        pyproject = project / "pyproject.toml"
        original = pyproject.read_text()
        assert '\nversion = "1.0"\n' in original
        try:
            changed = original.replace('\nversion = "1.0"\n', f'\nversion = "{version}"\n')
            pyproject.write_text(changed + f'server = "{server}"\n')
            with pytest.MonkeyPatch.context() as monkeypatch:
                monkeypatch.setenv("HATCH_ZIPAPP_CACHE_DIR", os.fspath(self.cache))
                pyz = build(project, output)
        finally:
            pyproject.write_text(original)
        done.write_text(pyz.name)
        return pyz
