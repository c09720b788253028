"""Every finding of `verify`, by its whole text: a finding computed but never shown, or shown in other words than
the ones the docs and users rely on, fails here. Each case is a real .pyz rewritten consistently (valid zips, the
build's own writer) with one thing changed, checked through :func:`hatch_zipapp.pyz.verify.check`; the command's
own lines once at the end."""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from hatch_zipapp.__main__ import main as cli
from hatch_zipapp.layout import PyzReader, write_archive
from hatch_zipapp.pyz.verify import check, verify
from tests.helpers import small_pyz

RECORD = "hatch-zipapp.sha256"
MODULE = "site-packages/alpha/__init__.py"
Entries = dict[str, tuple[bytes, bool]]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    with small_pyz(tmp_path_factory.mktemp("messages")) as pyz:
        yield pyz


def _entries(pyz: Path) -> Entries:
    with PyzReader(pyz) as archive:
        return {i.filename: (archive.read_member(i), bool((i.external_attr >> 16) & 0o111)) for i in archive.infolist()}


def _rewritten(pyz: Path, entries: Entries) -> bytes:
    out = io.BytesIO()
    out.write(pyz.read_bytes().split(b"\n", 1)[0] + b"\n")
    write_archive(out, entries, (2020, 2, 2, 0, 0, 0))
    return out.getvalue()


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _record_without(entries: Entries, *names: str) -> Entries:
    lines = entries[RECORD][0].decode().splitlines(keepends=True)
    kept = "".join(line for line in lines if line[66:-1] not in names).encode()
    return {**entries, RECORD: (kept, False)}


def test_a_consistent_rewrite_passes(built: Path) -> None:
    assert check("app.pyz", _rewritten(built, _entries(built))) == []


def test_a_member_outside_site_packages_missing(built: Path) -> None:
    entries = _entries(built)
    del entries["environment.json"]
    assert check("app.pyz", _rewritten(built, entries)) == [
        "environment.json: in the record but missing from the archive"
    ]


def test_a_member_its_distributions_record_lists_missing(built: Path) -> None:
    """(Was: "site-packages.zip: sha256 ..., the record says ... (its members read the same: its zip headers or
    compressed bytes changed)" — the member that was gone went unnamed.)"""
    entries = _entries(built)
    del entries[MODULE]
    assert check("app.pyz", _rewritten(built, entries)) == [
        f"{MODULE}: in its distribution's RECORD but missing from the archive"
    ]


def test_a_member_its_distributions_record_lists_changed(built: Path) -> None:
    entries = _entries(built)
    before = entries[MODULE][0]
    entries[MODULE] = (before + b"# changed\n", False)
    assert check("app.pyz", _rewritten(built, entries)) == [
        f"{MODULE}: sha256 {_sha256(before + b'# changed' + bytes([10]))}, its distribution's RECORD says "
        f"{_sha256(before)}"
    ]


@pytest.mark.parametrize("name", ["extra.py", "site-packages/extra.pth", "_bootstrap/extra.py"])
def test_a_member_added(built: Path, name: str) -> None:
    entries = {**_entries(built), name: (b"import os\n", False)}
    assert check("app.pyz", _rewritten(built, entries)) == [
        f"{name}: in the archive but not in its record (added after the build)"
    ]


def test_a_member_outside_site_packages_changed(built: Path) -> None:
    entries = _entries(built)
    before = entries["environment.json"][0]
    entries["environment.json"] = (before.replace(b"{", b"{ ", 1), False)
    assert check("app.pyz", _rewritten(built, entries)) == [
        f"environment.json: sha256 {_sha256(entries['environment.json'][0])}, the record says {_sha256(before)}"
    ]


def test_no_record(built: Path) -> None:
    entries = _entries(built)
    del entries[RECORD]
    assert check("app.pyz", _rewritten(built, entries)) == [
        f"app.pyz has no {RECORD}: it was not built by hatch-zipapp 0.1 or later"
    ]


@pytest.mark.parametrize("line", ["(shebang)", "site-packages.zip"])
def test_a_record_of_an_earlier_build(built: Path, line: str) -> None:
    entries = _record_without(_entries(built), line)
    assert check("app.pyz", _rewritten(built, entries)) == [
        f"app.pyz: built by an earlier hatch-zipapp ({RECORD} has no digest of the shebang line or of "
        "site-packages.zip: rebuild it)"
    ]


UNORDERED = "not in the order or form hatch-zipapp writes it (damaged)"


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (lambda text: b"x" + text, "line 1 is not `<sha256 hex>  <member>` (damaged)"),
        (lambda text: text.replace(b"  ", b" ", 1), "line 1 is not `<sha256 hex>  <member>` (damaged)"),
        (lambda text: b"".join(reversed(text.splitlines(keepends=True))), UNORDERED),
        (lambda text: text + text.splitlines(keepends=True)[-1], UNORDERED),
        (lambda text: text[:-1] + b"\xff\n", "not UTF-8 (damaged)"),
    ],
    ids=["a byte before", "one space", "reversed", "a line twice", "not utf-8"],
)
def test_a_damaged_record(built: Path, change: object, why: str) -> None:
    entries = _entries(built)
    entries[RECORD] = (change(entries[RECORD][0]), False)  # type: ignore[operator]
    assert check("app.pyz", _rewritten(built, entries)) == [f"{RECORD}: {why}"]


def test_the_sidecars(built: Path, tmp_path: Path) -> None:
    data = built.read_bytes()
    real = _sha256(data)
    assert check("app.pyz", data, checksum=("app.pyz.sha256", f"{real}  app.pyz\n".encode())) == []
    other = "0" * 64
    assert check("app.pyz", data, checksum=("app.pyz.sha256", f"{other}  app.pyz\n".encode())) == [
        f"app.pyz: sha256 {real}, but app.pyz.sha256 says {other}"
    ]
    empty = check("app.pyz", data, checksum=("app.pyz.sha256", b""))
    assert empty == [f"app.pyz: sha256 {real}, but app.pyz.sha256 says "]
    assert check("app.pyz", data, cdx=("app.pyz.cdx.json", b"{}")) == [
        "app.pyz.cdx.json: differs from the SBOM inside app.pyz (sbom.cdx.json)"
    ]
    missing = tmp_path / "nowhere" / "app.pyz.sha256"
    assert verify(built, missing) == [f"{missing}: no such checksum file"]


@pytest.mark.parametrize(
    "line",
    ["{digest}  app.pyz\n", "{digest}\r\n", "{digest}"],
    ids=["sha256sum", "Get-FileHash-CRLF", "bare"],
)
def test_a_checksum_file_in_upper_case(
    built: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], line: str
) -> None:
    """`verify --sha256 FILE` with the digest in upper case (PowerShell's `Get-FileHash`, some CI tools): the same
    digest, so an intact .pyz passes, and a wrong one in upper case is still refused, named in lower case."""
    pyz = tmp_path / "app.pyz"
    pyz.write_bytes(built.read_bytes())
    real = _sha256(pyz.read_bytes())
    checksum = tmp_path / "published.sha256"
    checksum.write_text(line.format(digest=real.upper()), newline="")
    assert cli(["verify", "--sha256", os.fspath(checksum), os.fspath(pyz)]) == 0
    assert capsys.readouterr().out == f"hatch-zipapp verify: {pyz}: every member matches its record\n"
    other = "AB" * 32
    checksum.write_text(line.format(digest=other), newline="")
    assert cli(["verify", "--sha256", os.fspath(checksum), os.fspath(pyz)]) == 1
    assert capsys.readouterr().err.splitlines() == [
        f"hatch-zipapp verify: app.pyz: sha256 {real}, but published.sha256 says {other.lower()}",
        f"hatch-zipapp verify: {pyz} is NOT the file that was built (1 problem)",
    ]


def test_the_command_shows_every_finding(built: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Two findings at once: both shown, one line each, then the verdict with their number."""
    entries = _entries(built)
    del entries["environment.json"]
    entries["extra.py"] = (b"", False)
    tampered = tmp_path / "app.pyz"
    tampered.write_bytes(_rewritten(built, entries))
    assert cli(["verify", os.fspath(tampered)]) == 1
    assert capsys.readouterr().err.splitlines() == [
        "hatch-zipapp verify: environment.json: in the record but missing from the archive",
        "hatch-zipapp verify: extra.py: in the archive but not in its record (added after the build)",
        f"hatch-zipapp verify: {tampered} is NOT the file that was built (2 problems)",
    ]
