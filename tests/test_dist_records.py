"""A distribution's RECORD vouches for its own files inside site-packages, and nothing else: a wheel shipping a second
`*.dist-info/RECORD` (through `.data/purelib`) whose rows name `../__main__.py`, the runtime, absolute paths or
another distribution's files cannot make a fresh .pyz refuse to start or `verify` call it tampered, nor drop a line of
the archive's record for a member outside site-packages."""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path

import pytest

from hatch_zipapp.__main__ import main as cli
from hatch_zipapp.layout import PyzReader
from hatch_zipapp.pyz.record import RECORD, dist_records
from tests.helpers import IndexServer, build, make_project, make_wheel, pylock_text, run_pyz


def _row(path: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).decode().rstrip("=")
    return f"{path},sha256={digest},{len(data)}\n"


def _build(tmp_path: Path, wheelhouse: Path, index: IndexServer, evil: str, rows: str, run: str) -> Path:
    """The project with alpha and pkg locked, pkg shipping ``rows`` as ``<evil>.dist-info/RECORD`` through
    `.data/purelib`; built into ``dist-<run>``."""
    alpha = make_wheel(wheelhouse, "alpha", "1.0")
    members = {f"pkg-1.0.data/purelib/{evil}.dist-info/RECORD": rows}
    pkg = make_wheel(wheelhouse / run, "pkg", "1.0", members=members)
    project = make_project(tmp_path / "p", dependencies=["alpha", "pkg"])
    (project / "pylock.toml").write_text(pylock_text([[alpha], [pkg]], base_url=index.url).replace(f"/{run}/", "/"))
    (wheelhouse / pkg.filename).write_bytes(pkg.path.read_bytes())
    return build(project, tmp_path / f"dist-{run}")


@pytest.mark.parametrize("evil", ["aaa-1.0", "zzz-1.0"])  # before and after every other RECORD, in both orders
def test_a_second_record_vouches_for_nothing_outside_its_tree(
    tmp_path: Path, wheelhouse: Path, index: IndexServer, evil: str, capsys: pytest.CaptureFixture[str]
) -> None:
    first = _build(tmp_path, wheelhouse, index, evil, "", "first")
    with PyzReader(first) as archive:
        outside = {i.filename: archive.read(i) for i in archive.infolist() if not i.filename.startswith("site-")}
        alpha = archive.read("site-packages/alpha/__init__.py")
        pkg = archive.read("site-packages/pkg/__init__.py")
    assert "__main__.py" in outside and "_bootstrap/__init__.py" in outside
    rows = "".join(_row(f"../{name}", data) for name, data in sorted(outside.items()))  # each with its true digest
    rows += _row("/alpha/__init__.py", alpha)  # absolute
    rows += _row("pkg/../../__main__.py", outside["__main__.py"])  # `..` after normalisation
    rows += _row("alpha/__init__.py", b"another alpha")  # another distribution's file, another digest
    rows += _row("pkg/__init__.py", pkg)  # its own wheel's file, the same digest as that wheel's RECORD
    rows += _row("pkg-1.0.dist-info/RECORD", b"anything")  # a RECORD vouching for a RECORD
    rows += _row("..\\__main__.py", outside["__main__.py"])  # a Windows separator
    pyz = _build(tmp_path, wheelhouse, index, evil, rows, "second")

    assert run_pyz(pyz, "alpha", "pkg").endswith("app ok\n")  # it refused: "has no sha256 of __main__.py"
    capsys.readouterr()
    assert cli(["verify", os.fspath(pyz)]) == 0, capsys.readouterr().err  # it said: "not in its record"
    assert "every member matches its record" in capsys.readouterr().out
    with PyzReader(pyz) as archive:
        names = {i.filename for i in archive.infolist() if not i.filename.startswith("site-")}
        assert names == outside.keys()
        assert archive.read("__main__.py") == outside["__main__.py"]  # the rows' digests were the true ones
        listed = {line[66:] for line in archive.read(RECORD).decode().splitlines()}
    assert {name for name in outside if name != RECORD} <= listed  # every member outside site-packages is listed
    assert f"site-packages/{evil}.dist-info/RECORD" in listed
    assert "site-packages/alpha/__init__.py" in listed  # two RECORDs disagree: the archive's record says which
    assert "site-packages/pkg/__init__.py" not in listed  # two RECORDs agree: vouched for


class TestDistRecords:
    """What a RECORD row covers (the build and `verify` both use :func:`dist_records`)."""

    def test_rows_outside_site_packages_absolute_or_with_dotdot_cover_nothing(self) -> None:
        rows = "".join(
            _row(path, b"x")
            for path in (
                "../__main__.py",
                "/etc/passwd",
                "/alpha/x.py",
                "a/../../hatch-zipapp.sha256",
                "a/../b.py",
                "..\\x.py",
                "",
                "a//b.py",
                "a/",
                ".",
                "a/./c.py",
                "beta-1.0.dist-info/RECORD",
                "ok.py",
            )
        )
        covered = dist_records({"site-packages/alpha-1.0.dist-info/RECORD": rows.encode()})
        assert covered == {"site-packages/ok.py": hashlib.sha256(b"x").hexdigest()}

    def test_two_records_that_disagree_cover_nothing_whatever_their_order(self) -> None:
        one = _row("x.py", b"1").encode()
        two = _row("x.py", b"2").encode() + _row("y.py", b"y").encode()
        for files in (
            {"site-packages/a-1.dist-info/RECORD": one, "site-packages/b-1.dist-info/RECORD": two},
            {"site-packages/b-1.dist-info/RECORD": two, "site-packages/a-1.dist-info/RECORD": one},
        ):
            assert dist_records(files) == {"site-packages/y.py": hashlib.sha256(b"y").hexdigest()}

    def test_two_records_that_agree_cover_it(self) -> None:
        one = _row("x.py", b"1").encode()
        files = {"site-packages/a-1.dist-info/RECORD": one, "site-packages/b-1.dist-info/RECORD": one}
        assert dist_records(files) == {"site-packages/x.py": hashlib.sha256(b"1").hexdigest()}

    def test_one_record_listing_a_file_twice_with_two_digests_covers_it_not(self) -> None:
        rows = (_row("x.py", b"1") + _row("x.py", b"2")).encode()
        assert dist_records({"site-packages/a-1.dist-info/RECORD": rows}) == {}
