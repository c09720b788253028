"""`hatch-zipapp verify` without a `.sha256` beside the .pyz: every member, inside site-packages or not, is checked.

The expected coverage is computed here from the RECORD files themselves (csv and base64, written out in the test),
not with the implementation's own `dist_records`."""

from __future__ import annotations

import base64
import csv
import hashlib
import os
import posixpath
from pathlib import Path

import pytest

from hatch_zipapp.__main__ import main as cli
from hatch_zipapp.layout import PyzReader, write_archive

RECORD = "hatch-zipapp.sha256"  # the archive's own record: "<sha256 hex>  <member>" lines


def _members(pyz: Path) -> dict[str, tuple[bytes, bool]]:
    with PyzReader(pyz) as archive:
        # each member with its compressed bytes, which the rewrite copies as the build did (layout.Compressed)
        return {i.filename: (archive.read_member(i), bool((i.external_attr >> 16) & 0o111)) for i in archive.infolist()}


def _write(pyz: Path, destination: Path, entries: dict[str, tuple[bytes, bool]]) -> Path:
    """A valid .pyz with these members (the original's shebang), and no checksum file beside it."""
    with destination.open("wb") as out:
        out.write(pyz.read_bytes().split(b"\n", 1)[0] + b"\n")
        write_archive(out, entries, (2020, 2, 2, 0, 0, 0))
    assert not destination.with_name(destination.name + ".sha256").exists()
    return destination


def test_every_member_outside_site_packages_is_checked(
    pyz: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each member that is not under site-packages/ (``__main__.py``, the runtime, its bytecode, the metadata, the
    SBOM), changed by one byte in an otherwise valid copy, fails `verify` with its name."""
    entries = _members(pyz)
    assert RECORD in entries
    outside = sorted(name for name in entries if not name.startswith("site-packages/") and name != RECORD)
    assert {"__main__.py", "_bootstrap/__init__.py", "environment.json"} <= set(outside)
    missed = []
    for number, name in enumerate(outside):
        data, executable = entries[name]
        tampered = _write(pyz, tmp_path / f"tampered-{number}.pyz", {**entries, name: (data + b"\n", executable)})
        capsys.readouterr()
        code = cli(["verify", os.fspath(tampered)])
        err = capsys.readouterr().err
        if code != 1 or f"{name}: sha256" not in err:
            missed.append(name)
    assert missed == []


def test_an_intact_copy_passes(pyz: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The rewriting above changes nothing by itself: an unchanged copy, written the same way, passes."""
    copy = _write(pyz, tmp_path / "copy.pyz", _members(pyz))
    assert cli(["verify", os.fspath(copy)]) == 0, capsys.readouterr().err


def test_every_member_is_vouched_for(pyz: Path) -> None:
    """By the archive's record, or by a distribution's RECORD that the archive's record lists; read independently."""
    entries = _members(pyz)
    listed = {}
    for line in entries[RECORD][0].decode().splitlines():
        digest, _, name = line.partition("  ")
        listed[name] = digest
    covered = {}
    for name in listed:
        parts = name.split("/")
        if len(parts) == 3 and parts[0] == "site-packages" and parts[1].endswith(".dist-info") and parts[2] == "RECORD":
            assert hashlib.sha256(entries[name][0]).hexdigest() == listed[name]
            for row in csv.reader(entries[name][0].decode().splitlines()):
                if row[1]:
                    algorithm, _, value = row[1].partition("=")
                    assert algorithm == "sha256"
                    digest = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).hex()
                    covered[posixpath.normpath(f"site-packages/{row[0]}")] = digest
    for name, (data, _) in entries.items():
        if name == RECORD:
            continue
        expected = listed.get(name) or covered.get(name)
        assert expected == hashlib.sha256(data).hexdigest(), name
    assert "site-packages/alpha/__init__.py" in covered and "site-packages/alpha/__init__.py" not in listed
    assert "__main__.py" in listed and "site-packages/alpha-1.0.dist-info/RECORD" in listed
