"""Peak memory: a wheel is installed from its file a member at a time, a cached file is checked through the descriptor
it is then read from, and a cached bundle (bytecode, collectstatic output) is staged a member at a time. Each test
moves a file of 32 MiB and allows a few of the 1 MiB pieces it is read in, 6 MiB, in memory (tracemalloc's peak of
what Python allocated): reading the file whole would hold at least 32 MiB."""

from __future__ import annotations

import hashlib
import os
import tracemalloc
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from hatch_zipapp.cache import Cache, file_sha256, write_bundle
from hatch_zipapp.install import StagingTree, install_wheel
from hatch_zipapp.scratch import Spool
from tests.helpers import make_wheel

SIZE = 32 * 1024 * 1024
ALLOWED = 6 * 1024 * 1024
T = TypeVar("T")


@pytest.fixture(scope="module")
def payload() -> bytes:
    return os.urandom(SIZE)  # incompressible: a deflated member is as large as the file


@pytest.fixture
def tree() -> Iterator[StagingTree]:
    staging = StagingTree(spool=Spool())
    yield staging
    staging.close()


def peak_of(work: Callable[[], T]) -> tuple[T, int]:
    """What ``work`` returns, and the most memory Python held during it beyond what it held before."""
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        result = work()
        return result, tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()


def staged_digest(tree: StagingTree, path: str) -> bytes:
    digest = hashlib.sha256()
    for chunk in tree.files[path].chunks():
        digest.update(chunk)
    return digest.digest()


@pytest.mark.parametrize("compression", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
def test_a_wheel_is_installed_from_its_file_a_piece_at_a_time(
    tmp_path: Path, payload: bytes, tree: StagingTree, compression: int
) -> None:
    wheel = make_wheel(tmp_path / "wheels", "big", files={"big/__init__.py": "", "big/blob.bin": payload})
    path = wheel.path
    if compression != zipfile.ZIP_STORED:  # the same members, deflated
        path = tmp_path / "deflated" / wheel.filename
        path.parent.mkdir()
        with zipfile.ZipFile(wheel.path) as source, zipfile.ZipFile(path, "w", compression) as out:
            for info in source.infolist():
                out.writestr(info, source.read(info), compress_type=compression)
    with path.open("rb") as f:
        _, peak = peak_of(lambda: install_wheel(tree, wheel.filename, f, interpreter="/usr/bin/python3"))
    staged = tree.files["site-packages/big/blob.bin"]
    assert staged.size == SIZE and staged.sha256 == hashlib.sha256(payload).digest()
    assert staged_digest(tree, "site-packages/big/blob.bin") == staged.sha256
    record = tree.files["site-packages/big-1.0.dist-info/RECORD"].data.decode()
    assert "big/blob.bin,sha256=" in record and f",{SIZE}\n" in record
    assert peak < ALLOWED, f"installing a wheel with a {SIZE:,}-byte member held {peak:,} bytes"


def test_a_cached_download_is_checked_without_reading_it_whole(tmp_path: Path, payload: bytes) -> None:
    cache = Cache(tmp_path / "cache")
    sha256 = hashlib.sha256(payload).hexdigest()
    cache.write(sha256, payload)
    opened, peak = peak_of(lambda: cache.open(sha256))
    assert opened is not None
    with opened:
        assert file_sha256(opened) == sha256  # positioned at its start, and it is the file
    assert peak < ALLOWED, f"checking a {SIZE:,}-byte cached file held {peak:,} bytes"


def test_a_bundle_is_written_and_staged_a_member_at_a_time(tmp_path: Path, payload: bytes, tree: StagingTree) -> None:
    cache = Cache(tmp_path / "cache")
    (tmp_path / "out").mkdir()
    blob, small = tmp_path / "out" / "blob.bin", tmp_path / "out" / "a.pyc"
    blob.write_bytes(payload)
    small.write_bytes(b"small")

    def store() -> None:
        with write_bundle([("m/blob.bin", blob), ("m/a.pyc", small)], note="site-packages/") as bundle:
            cache.store_bundle_file("bytecode", "a" * 64, bundle)

    _, peak = peak_of(store)
    assert peak < ALLOWED, f"storing a bundle with a {SIZE:,}-byte member held {peak:,} bytes"

    def stage() -> list[str]:
        opened = cache.open_bundle("bytecode", "a" * 64)
        assert opened is not None
        with opened:
            assert opened.note == "site-packages/"
            names = []
            for name, stream in opened.members():
                tree.add_stream(name, stream, executable=False, owner="w")
                names.append(name)
            return names

    names, peak = peak_of(stage)
    assert names == ["m/a.pyc", "m/blob.bin"]  # in sorted order
    assert tree.files["m/a.pyc"].data == b"small"
    assert staged_digest(tree, "m/blob.bin") == hashlib.sha256(payload).digest() == tree.files["m/blob.bin"].sha256
    assert peak < ALLOWED, f"staging a cached bundle with a {SIZE:,}-byte member held {peak:,} bytes"


def test_a_damaged_bundle_is_not_used(tmp_path: Path) -> None:
    """The seal is checked by hashing the entry through the descriptor it is read from: one changed byte and the
    entry is discarded (with a warning), as when it was read whole."""
    warnings: list[str] = []
    cache = Cache(tmp_path / "cache", warn=warnings.append)
    (tmp_path / "a.pyc").write_bytes(b"compiled" * 1000)
    with write_bundle([("a.pyc", tmp_path / "a.pyc")]) as bundle:
        cache.store_bundle_file("bytecode", "b" * 64, bundle)
    (entry,) = (tmp_path / "cache" / "bytecode" / "bb" / ("b" * 64)).iterdir()
    data = bytearray(entry.read_bytes())
    data[len(data) // 2] ^= 1
    entry.write_bytes(bytes(data))
    assert cache.open_bundle("bytecode", "b" * 64) is None
    assert len(warnings) == 1 and "damaged" in warnings[0]
    assert not entry.exists()


def test_a_locked_wheels_member_is_not_copied_out_and_reads_back(
    tmp_path: Path, payload: bytes, tree: StagingTree
) -> None:
    """Installed from a locked wheel, a member is only hashed: its bytes stay in the wheel (nothing in the spool),
    and are inflated from there, a piece at a time, when a step reads them (a cold bytecode or collectstatic run)."""
    wheel = make_wheel(tmp_path / "wheels", "big", files={"big/__init__.py": "", "big/blob.bin": payload * 2})
    deflated = tmp_path / "deflated" / wheel.filename
    deflated.parent.mkdir()
    with zipfile.ZipFile(wheel.path) as source, zipfile.ZipFile(deflated, "w", zipfile.ZIP_DEFLATED) as out:
        for info in source.infolist():
            out.writestr(info, source.read(info), compress_type=zipfile.ZIP_DEFLATED)
    with deflated.open("rb") as f:
        _, peak = peak_of(lambda: install_wheel(tree, wheel.filename, f, interpreter="/usr/bin/python3", locked=True))
        assert peak < ALLOWED, f"installing a locked wheel with a {2 * SIZE:,}-byte member held {peak:,} bytes"
        staged = tree.files["site-packages/big/blob.bin"]
        assert staged.raw is not None and staged.raw.member[0] == zipfile.ZIP_DEFLATED
        assert tree.spool is not None and tree.spool.in_memory < 1024  # only the small generated files
        digest, peak = peak_of(lambda: staged_digest(tree, "site-packages/big/blob.bin"))
        assert digest == hashlib.sha256(payload * 2).digest() == staged.sha256
        assert peak < ALLOWED, f"reading back a {2 * SIZE:,}-byte member held {peak:,} bytes"
