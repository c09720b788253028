"""The build cache is checked on every read: a damaged or edited entry is discarded, with one warning line, and built
again, so the .pyz is the same as a build with an empty cache."""

from __future__ import annotations

import hashlib
import io
import os
import signal
import subprocess
import sys
import threading
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from hatch_zipapp.cache import Cache
from hatch_zipapp.errors import CacheError
from hatch_zipapp.layout import PyzReader
from tests.helpers import (
    IndexServer,
    build,
    build_fails,
    make_project,
    make_sdist,
    make_wheel,
    pylock_text,
    requirements_text,
    run_pyz,
    sha256_file,
)

_PTH = "import os; os.environ['POISONED'] = '1'\n"


def _entries(cache: Path, kind: str) -> list[Path]:
    return sorted(path for path in (cache / kind).rglob("*") if path.is_file() and not path.name.startswith("."))


def _clean_build(project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str) -> Path:
    """The same project built with an empty cache of its own."""
    monkeypatch.setenv("HATCH_ZIPAPP_CACHE_DIR", str(tmp_path / f"cache-{name}"))
    try:
        return build(project, tmp_path / name)
    finally:
        monkeypatch.setenv("HATCH_ZIPAPP_CACHE_DIR", str(tmp_path / "cache"))


def _warnings(err: str) -> list[str]:
    return [line for line in err.splitlines() if "cache entry" in line]


@pytest.fixture
def project(tmp_path: Path, wheelhouse: Path, index: IndexServer) -> Path:
    alpha = make_wheel(wheelhouse, "alpha", "1.0")
    legacy = make_sdist(wheelhouse, "legacy", "0.3")
    project = make_project(tmp_path / "p", dependencies=["alpha", "legacy"])
    (project / "pylock.toml").write_text(pylock_text([[alpha], [legacy]], base_url=index.url))
    return project


class TestDamagedEntries:
    def test_bytecode_bundle_with_an_added_pth(
        self, project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        build(project, tmp_path / "warm")
        bundles = _entries(tmp_path / "cache", "bytecode")
        assert bundles
        for bundle in bundles:  # what someone who can write the cache would do: one more member in the zip
            with zipfile.ZipFile(bundle, "a") as archive:
                archive.writestr("zz_poison.pth", _PTH)
        capsys.readouterr()
        pyz = build(project, tmp_path / "again")
        warnings = _warnings(capsys.readouterr().err)
        assert len(warnings) == len(bundles)
        assert all("Discarded a damaged bytecode cache entry" in line for line in warnings), warnings
        with PyzReader(pyz) as archive:
            assert not any(name.endswith(".pth") for name in archive.namelist())
        assert sha256_file(pyz) == sha256_file(_clean_build(project, tmp_path, monkeypatch, "clean"))
        assert len(_entries(tmp_path / "cache", "bytecode")) == len(bundles)  # stored again, sound
        capsys.readouterr()
        assert sha256_file(build(project, tmp_path / "third")) == sha256_file(pyz)
        assert _warnings(capsys.readouterr().err) == []

    def test_truncated_bytecode_bundle(
        self, project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        build(project, tmp_path / "warm")
        bundles = _entries(tmp_path / "cache", "bytecode")
        for bundle in bundles:
            bundle.write_bytes(bundle.read_bytes()[:100])
        capsys.readouterr()
        pyz = build(project, tmp_path / "again")
        assert len(_warnings(capsys.readouterr().err)) == len(bundles)
        assert sha256_file(pyz) == sha256_file(_clean_build(project, tmp_path, monkeypatch, "clean"))

    def test_built_wheel_with_an_added_pth(
        self, project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        build(project, tmp_path / "warm")
        (wheel,) = _entries(tmp_path / "cache", "built")
        assert wheel.name.endswith("-legacy-0.3-py3-none-any.whl")
        with zipfile.ZipFile(wheel, "a") as archive:
            archive.writestr("zz_poison.pth", _PTH)
        capsys.readouterr()
        pyz = build(project, tmp_path / "again")
        (warning,) = _warnings(capsys.readouterr().err)
        assert "Discarded a damaged built cache entry" in warning and str(wheel) in warning
        assert "POISONED" not in run_pyz(pyz, "legacy")
        with PyzReader(pyz) as archive:
            assert not any(name.endswith(".pth") for name in archive.namelist())
        assert sha256_file(pyz) == sha256_file(_clean_build(project, tmp_path, monkeypatch, "clean"))

    def test_entry_moved_to_another_key(self, tmp_path: Path) -> None:
        """A sound entry put where another key's entry belongs (the other sources' bytecode) is not taken."""
        warnings: list[str] = []
        cache = Cache(tmp_path / "c", warn=warnings.append)
        cache.store_bundle("bytecode", "a" * 64, {"m/__pycache__/x.pyc": b"for a"})
        cache.store_bundle("bytecode", "b" * 64, {"m/__pycache__/x.pyc": b"for b"})
        (moved,) = _entries(tmp_path / "c", "bytecode/aa")
        (other,) = _entries(tmp_path / "c", "bytecode/bb")
        other.unlink()
        moved.rename(other.parent / moved.name)
        assert cache.read_bundle("bytecode", "b" * 64) is None
        assert len(warnings) == 1 and "damaged bytecode cache entry" in warnings[0]
        assert not any((tmp_path / "c" / "bytecode" / "bb").rglob("*-bundle.zip"))

    def test_static_bundle_note_is_covered(self, tmp_path: Path) -> None:
        """The collectstatic bundle's note (where its files go) is part of what is checked."""
        warnings: list[str] = []
        cache = Cache(tmp_path / "c", warn=warnings.append)
        cache.store_bundle("static", "c" * 64, {"app.css": b"body{}"}, note="site-packages/app/static/")
        assert cache.read_bundle("static", "c" * 64) == ({"app.css": b"body{}"}, "site-packages/app/static/")
        (entry,) = _entries(tmp_path / "c", "static")
        with zipfile.ZipFile(entry, "a") as archive:
            archive.comment = b"site-packages/"
        assert cache.read_bundle("static", "c" * 64) is None
        assert len(warnings) == 1

    def test_every_kind_round_trips_and_a_flipped_byte_is_caught(self, tmp_path: Path) -> None:
        warnings: list[str] = []
        cache = Cache(tmp_path / "c", warn=warnings.append)
        key = "d" * 64
        bundle = io.BytesIO()
        with zipfile.ZipFile(bundle, "w") as archive:
            archive.writestr("x", "y")
        cache.store_built_wheel(key, "x-1.0-py3-none-any.whl", bundle.getvalue())
        cache.remember_filename(key, "x-1.0-py3-none-any.whl")
        assert cache.built_wheel(key) == ("x-1.0-py3-none-any.whl", bundle.getvalue())
        assert cache.filename(key) == "x-1.0-py3-none-any.whl"
        for kind in ("built", "names"):
            (entry,) = _entries(tmp_path / "c", kind)
            data = bytearray(entry.read_bytes())
            data[len(data) // 2] ^= 1
            entry.write_bytes(bytes(data))
        assert cache.built_wheel(key) is None and cache.filename(key) is None
        assert len(warnings) == 2
        assert _entries(tmp_path / "c", "built") == _entries(tmp_path / "c", "names") == []

    def test_a_fifo_under_an_entrys_name_does_not_hang_the_build(self, tmp_path: Path) -> None:
        cache = Cache(tmp_path / "c", warn=lambda message: None)
        key = "e" * 64
        directory = tmp_path / "c" / "bytecode" / key[:2] / key
        directory.mkdir(parents=True)
        os.mkfifo(directory / ("0" * 64 + "-bundle.zip"))
        download = hashlib.sha256(b"a wheel").hexdigest()
        (tmp_path / "c" / "files" / "sha256" / download[:2]).mkdir(parents=True)
        os.mkfifo(tmp_path / "c" / "files" / "sha256" / download[:2] / download)
        results: list[object] = []

        def read() -> None:
            results.extend([cache.read_bundle("bytecode", key), cache.read(download)])

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        reader.join(timeout=10)
        assert not reader.is_alive(), "reading the cache waits on a FIFO"
        assert results == [None, None]
        cache.write(download, b"a wheel")  # downloaded again, it takes the FIFO's place
        assert cache.read(download) == b"a wheel"


class TestNames:
    def test_edited_file_name_is_asked_of_the_index_again(
        self,
        tmp_path: Path,
        wheelhouse: Path,
        index: IndexServer,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        """A requirements lock records hashes only: the file names the index gave are cached, and checked."""
        alpha = make_wheel(wheelhouse, "alpha", "1.0")
        project = make_project(tmp_path / "p", dependencies=["alpha"])
        (project / "requirements.txt").write_text(requirements_text([[alpha]], index_url=index.simple))
        build(project, tmp_path / "warm")
        (entry,) = _entries(tmp_path / "cache", "names")
        assert entry.read_text() == alpha.filename
        entry.write_text("alpha-1.0-cp399-cp399-linux_x86_64.whl")  # another platform's name: another tag
        asked = len(index.requests)
        capsys.readouterr()
        pyz = build(project, tmp_path / "again")
        (warning,) = _warnings(capsys.readouterr().err)
        assert "Discarded a damaged names cache entry" in warning
        assert len(index.requests) > asked  # the name came from the index again
        assert sha256_file(pyz) == sha256_file(_clean_build(project, tmp_path, monkeypatch, "clean"))


_HALF_WRITE = """\
import os, sys, time
from pathlib import Path
from hatch_zipapp.scratch import create_beside
fd, path = create_beside(Path(sys.argv[1]))
os.write(fd, b"half of a wheel")
print(path, flush=True)
time.sleep(600)
"""


class TestKilledWrite:
    def test_the_next_write_removes_a_killed_writes_temporary_file(self, tmp_path: Path) -> None:
        cache = Cache(tmp_path / "c")
        data = b"a whole wheel"
        sha = hashlib.sha256(data).hexdigest()
        directory = tmp_path / "c" / "files" / "sha256" / sha[:2]
        writer = subprocess.Popen(
            [sys.executable, "-c", _HALF_WRITE, str(directory / ("0" * 64))], stdout=subprocess.PIPE, text=True
        )
        try:
            assert writer.stdout is not None
            half = Path(writer.stdout.readline().strip())
            assert half.parent == directory and half.exists()
            cache.write(sha, data)  # while its writer lives, its file stays
            assert half.exists()
            writer.send_signal(signal.SIGKILL)
            assert writer.wait(timeout=30) == -signal.SIGKILL
            assert half.exists()  # nothing removes it before the next write there
            cache.write(sha, data)
            assert not half.exists()
            assert cache.read(sha) == data
        finally:
            if writer.poll() is None:
                writer.kill()
                writer.wait(timeout=30)
            if writer.stdout is not None:
                writer.stdout.close()


def _group_writable(directory: Path, gid: int) -> None:
    os.chown(directory, -1, gid)
    directory.chmod(0o770)


@pytest.mark.parametrize(
    ("setup", "fragment"),
    [
        (lambda d: d.chmod(0o777), "it is writable by others (mode 0777)"),
        (lambda d: d.chmod(0o1777), "it is writable by others (mode 1777)"),
        (lambda d: os.chown(d, 4242, -1), "it is owned by another user (uid 4242)"),
        (lambda d: _group_writable(d, 4242), "it is writable by group 4242 (mode 0770)"),
    ],
    ids=["world-writable", "sticky-world-writable", "other-owner", "other-group"],
)
@pytest.mark.skipif(os.name == "nt", reason="POSIX owners and modes")
def test_a_cache_directory_another_user_could_write_is_refused(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, setup: Callable[[Path], object], fragment: str
) -> None:
    """As pip checks its cache: a bundle planted in it would be sealed as well as a real one. One line naming the
    directory, why, and the fix; nothing is built."""
    shared = tmp_path / "shared-cache"
    shared.mkdir()
    setup(shared)
    monkeypatch.setenv("HATCH_ZIPAPP_CACHE_DIR", str(shared))
    build_fails(project, CacheError, f"Refusing to use the build cache {shared}: {shared} could have been", fragment)
    assert list(shared.iterdir()) == []


def test_a_cache_made_in_a_sticky_directory_or_group_writable_by_the_user_s_own_group(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What is not refused: a cache not made yet in a sticky directory like /tmp (it is made by this user), and a
    cache writable by the user's own group (the user-private group of a umask 002 system)."""
    sticky = tmp_path / "tmp"
    sticky.mkdir()
    sticky.chmod(0o1777)
    monkeypatch.setenv("HATCH_ZIPAPP_CACHE_DIR", str(sticky / "cache"))
    first = build(project, tmp_path / "one")
    own = tmp_path / "own-group"
    own.mkdir()
    os.chown(own, -1, os.getegid())
    own.chmod(0o2775)
    monkeypatch.setenv("HATCH_ZIPAPP_CACHE_DIR", str(own))
    assert build(project, tmp_path / "two").read_bytes() == first.read_bytes()
