"""Streaming: staged files past a threshold live in a temporary file, not in memory, and the .pyz is hashed (for its
``.sha256`` sidecar) as it is written. Neither may change a byte of the artifact."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from hatch_zipapp import scratch
from hatch_zipapp.install import StagedFile, StagingTree
from hatch_zipapp.layout import HashingWriter, close_entries, outer_entries
from hatch_zipapp.pyz.zipwrite import write_outer
from tests.helpers import IndexServer, build, make_project, make_wheel, pylock_text, sha256_file

DATE_TIME = (2020, 2, 2, 0, 0, 0)


class TestSpool:
    def test_past_the_threshold_the_bytes_are_in_the_file(self) -> None:
        spool = scratch.Spool(threshold=10)
        tree = StagingTree(spool=spool)
        contents = {f"site-packages/m{n}.py": bytes([65 + n]) * (4 + 3 * n) for n in range(6)}
        try:
            for path, data in contents.items():
                tree.add(path, data, executable=False, owner="w")
            assert spool.in_memory <= 10
            spilled = [path for path, staged in tree.files.items() if staged._kept and staged._kept._offset is not None]
            assert spilled
            for path, data in contents.items():
                assert tree.files[path].data == data
                assert b"".join(tree.files[path].chunks()) == data
                assert tree.files[path].sha256 == hashlib.sha256(data).digest()
        finally:
            tree.close()

    def test_chunks_of_a_large_file(self) -> None:
        spool = scratch.Spool(threshold=0)
        try:
            data = bytes(range(256)) * 10_000
            staged = StagedFile(data, False, "w", spool=spool)
            assert staged._kept is not None
            pieces = list(spool.chunks(staged._kept._offset or 0, len(data), chunk=1000))
            assert len(pieces) == 2560 and b"".join(pieces) == data
        finally:
            spool.close()


def test_the_pyz_is_hashed_as_it_is_written(tmp_path: Path) -> None:
    """The digest the writer gives is the sha256 of the file it wrote, though zipfile rewrites every local header."""
    entries = {
        "site-packages/a.py": (b"A = 1\n" * 1000, False),
        "site-packages/bin/tool": (b"#!/usr/bin/env python3\n", True),
        "__main__.py": (b"print('hi')\n", False),
        "environment.json": (b"{}", False),
    }
    outer = outer_entries(entries, DATE_TIME)
    path = tmp_path / "app.pyz"
    try:
        with path.open("wb") as f:
            out = HashingWriter(f)
            out.write(b"#!/usr/bin/env python3\n")
            write_outer(out, outer, DATE_TIME)
    finally:
        close_entries(outer)
    assert out.hexdigest() == hashlib.sha256(path.read_bytes()).hexdigest()


def test_spooled_or_in_memory_the_same_bytes(
    tmp_path: Path, wheelhouse: Path, index: IndexServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Everything staged in memory, then everything in the spool's file: the same .pyz, and a sidecar that says so."""
    wheels = [
        make_wheel(wheelhouse, "alpha", "1.0", files={"alpha/__init__.py": "A = 1\n" * 5000}),
        make_wheel(wheelhouse, "beta", "1.0", files={"beta/__init__.py": "B = 2\n", "beta/data.bin": "x" * 70_000}),
    ]
    project = make_project(tmp_path / "project", dependencies=["alpha", "beta"])
    (project / "pylock.toml").write_text(pylock_text([[wheel] for wheel in wheels], base_url=index.url))
    monkeypatch.setattr(scratch.Spool.__init__, "__defaults__", (1 << 40,))
    in_memory = build(project, tmp_path / "in-memory")
    monkeypatch.setattr(scratch.Spool.__init__, "__defaults__", (0,))
    spooled = build(project, tmp_path / "spooled")
    assert sha256_file(spooled) == sha256_file(in_memory)
    for pyz in (in_memory, spooled):
        sidecar = pyz.with_name(pyz.name + ".sha256").read_text()
        assert sidecar == f"{sha256_file(pyz)}  {pyz.name}\n"
