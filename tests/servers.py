"""The example site (fixtures/mysite) with the four servers `serve` runs (and psycopg, for PostgreSQL), built once per
server and shared by every test module of a run (tests/conftest.py's ``server_builds``): the HTTP tests on 127.0.0.1
and the real-systemd ones."""

from __future__ import annotations

import os
import subprocess
import sys
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
    """server → the site's .pyz built with `server = "…"`, on first use (one at a time: they share the pyproject)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.cache = directory / "cache"
        self.output = directory / "dist"
        self._project: Path | None = None
        self.pyzs: dict[str, Path] = {}

    @property
    def project(self) -> Path:
        if self._project is None:
            with pytest.MonkeyPatch.context() as monkeypatch:
                monkeypatch.setenv("HATCH_ZIPAPP_CACHE_DIR", os.fspath(self.cache))
                self._project = site_project(self.directory)
        return self._project

    def __getitem__(self, server: str) -> Path:
        return self.release(server, "1.0")

    def release(self, server: str, version: str) -> Path:
        """The site as release ``version`` (its .pyz named so), served by ``server``."""
        key = server if version == "1.0" else f"{server}-{version}"
        if key not in self.pyzs:
            pyproject = self.project / "pyproject.toml"
            original = pyproject.read_text()
            assert '\nversion = "1.0"\n' in original
            try:
                changed = original.replace('\nversion = "1.0"\n', f'\nversion = "{version}"\n')
                pyproject.write_text(changed + f'server = "{server}"\n')
                with pytest.MonkeyPatch.context() as monkeypatch:
                    monkeypatch.setenv("HATCH_ZIPAPP_CACHE_DIR", os.fspath(self.cache))
                    self.pyzs[key] = build(self.project, self.output / key)
            finally:
                pyproject.write_text(original)
        return self.pyzs[key]
