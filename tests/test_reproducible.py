"""The same sources and lock give the same bytes: other directory, umask, time, build virtualenv; SOURCE_DATE_EPOCH."""

from __future__ import annotations

import os
import socket
import sys
import time
from pathlib import Path

import pytest

from hatch_zipapp.errors import ConfigError
from hatch_zipapp.layout import PyzReader
from hatch_zipapp.reproducible import DEFAULT_EPOCH, source_date_epoch
from tests.helpers import (
    IndexServer,
    build,
    build_fails,
    copy_tree,
    make_project,
    make_wheel,
    pylock_text,
    run_pyz,
    sha256_file,
    umask,
)


@pytest.fixture
def project(tmp_path: Path, wheelhouse: Path, index: IndexServer) -> Path:
    alpha = make_wheel(wheelhouse, "alpha", "1.0", tag="py3-none-any")
    exe = make_wheel(
        wheelhouse,
        "tool",
        "1.0",
        files={"tool/__init__.py": "VALUE = 'tool'\n"},
        members={"tool-1.0.data/scripts/tool-run": "#!python\nprint('hi')\n"},
    )
    with umask(0o022):
        project = make_project(tmp_path / "first" / "project", dependencies=["alpha", "tool"])
    (project / "pylock.toml").write_text(pylock_text([[alpha], [exe]], base_url=index.url))
    return project


class TestSameBytes:
    def test_other_directory_umask_and_time(
        self, project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        first = build(project)
        with umask(0o077):
            other = copy_tree(project, tmp_path / "elsewhere" / "a-much-longer-directory-name" / "project")
            for path in other.rglob("*"):
                path.chmod(0o700 if path.is_dir() else 0o600)
            time.sleep(1.1)  # another second on the clock: nothing may depend on it
            os.utime(other / "src" / "app" / "cli.py", (time.time(), time.time()))
            second = build(other)
        assert first.name == second.name
        assert sha256_file(first) == sha256_file(second)

    def test_source_date_epoch_is_honoured(
        self, project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        default = build(project, tmp_path / "out-default")
        monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
        dated = build(project, tmp_path / "out-dated")
        again = build(project, tmp_path / "out-again")
        assert sha256_file(dated) == sha256_file(again)
        assert sha256_file(dated) != sha256_file(default)
        with PyzReader(dated) as archive:
            assert {info.date_time for info in archive.infolist()} == {time.gmtime(1700000000)[:6]}

    def test_extracted_files_carry_the_archives_time(
        self, project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Every extraction of a release, on any server at any time, has the same file times (whitenoise's
        Last-Modified and ETag come from them): the build's SOURCE_DATE_EPOCH, not the time it was extracted."""
        monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
        pyz = build(project, tmp_path / "out")
        times = {}
        for root in ("one", "two"):
            env = {**os.environ, "ZIPAPP_ROOT": os.fspath(tmp_path / root)}
            run_pyz(pyz, env=env)
            found = {
                path.relative_to(tmp_path / root).as_posix().split("/", 1)[1]: path.stat().st_mtime
                for path in (tmp_path / root).rglob("*")
                if path.is_file() and "site-packages" in path.parts
            }
            assert found and set(found.values()) == {1700000000.0}, sorted(set(found.values()))
            times[root] = found
        assert times["one"] == times["two"]

    def test_no_build_path_host_name_or_time_in_the_artifact(self, project: Path) -> None:
        pyz = build(project)
        data = pyz.read_bytes()
        with PyzReader(pyz) as archive:
            contents = b"".join(archive.read(name) for name in archive.namelist())
            modes = {info.external_attr >> 16 for info in archive.infolist()}
            systems = {info.create_system for info in archive.infolist()}
        for secret in (os.fspath(project), os.fspath(project.parent), sys.prefix, sys.executable, socket.gethostname()):
            if len(secret) >= 8:  # a short one (this machine is "vm") turns up by chance in compressed bytes
                assert secret.encode() not in data
            assert secret.encode() not in contents
        assert time.strftime("%Y-%m-%d").encode() not in contents
        assert modes == {0o100644, 0o100755}
        assert systems == {3}

    def test_scripts_have_a_fixed_shebang_and_mode(self, project: Path) -> None:
        with PyzReader(build(project)) as archive:
            info = archive.getinfo("site-packages/bin/tool-run")
            assert archive.read(info) == b"#!/usr/bin/env python3\nprint('hi')\n"
            assert info.external_attr >> 16 == 0o100755
            assert archive.getinfo("site-packages/alpha/__init__.py").external_attr >> 16 == 0o100644


class TestSourceDateEpoch:
    def test_default(self) -> None:
        assert source_date_epoch({}) == DEFAULT_EPOCH

    def test_value(self) -> None:
        assert source_date_epoch({"SOURCE_DATE_EPOCH": "1700000000"}) == 1700000000

    def test_raised_to_1980(self) -> None:
        assert source_date_epoch({"SOURCE_DATE_EPOCH": "0"}) == 315532800
        assert source_date_epoch({"SOURCE_DATE_EPOCH": "4354819198"}) == 4354819198  # 2107-12-31T23:59:58Z

    def test_after_2107_fails_the_build_and_leaves_dist(self, project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """No zip can hold it: clamped, the .pyz was built but hatchling's project wheel stopped with a struct.error
        traceback."""
        monkeypatch.setenv("SOURCE_DATE_EPOCH", "4500000000")
        build_fails(
            project,
            ConfigError,
            "Environment variable SOURCE_DATE_EPOCH is 4500000000, after 2107-12-31, the last date a zip file",
            "SOURCE_DATE_EPOCH=$(git log -1 --format=%ct), or unset it",
        )

    @pytest.mark.parametrize("value", ["", " ", "\t\n"])
    def test_set_but_empty_fails_the_build_and_leaves_dist(
        self, project: Path, monkeypatch: pytest.MonkeyPatch, value: str
    ) -> None:
        """`SOURCE_DATE_EPOCH=$(git log ...)` outside a repository: hatchling's `int("")` stopped the project wheel
        with a ValueError traceback (it does not take an empty value as unset)."""
        monkeypatch.setenv("SOURCE_DATE_EPOCH", value)
        message = build_fails(
            project,
            ConfigError,
            "Environment variable SOURCE_DATE_EPOCH is set but empty",
            "SOURCE_DATE_EPOCH=$(git log -1 --format=%ct), or unset it",
        )
        assert "\n" not in message

    @pytest.mark.parametrize("value", ["yesterday", "1.5", "-3"])
    def test_malformed(self, value: str) -> None:
        with pytest.raises(ConfigError, match="SOURCE_DATE_EPOCH"):
            source_date_epoch({"SOURCE_DATE_EPOCH": value})

    def test_malformed_fails_the_build_and_leaves_dist(self, project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("SOURCE_DATE_EPOCH", "last tuesday")
        with pytest.raises(ConfigError, match="'last tuesday'"):
            build(project)
        assert not any((project / "dist").glob("*.pyz"))
