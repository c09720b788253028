"""SBOM (CycloneDX, validated against its schema), checksums, and `hatch-zipapp verify` on tampered copies."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import zipfile
from collections.abc import Mapping
from pathlib import Path

import pytest

from hatch_zipapp.__main__ import main as cli
from hatch_zipapp.layout import PyzReader, write_archive
from hatch_zipapp.pyz.verify import SBOM
from tests.helpers import IndexServer, build, make_project, make_wheel, pylock_text, run_pyz, sha256_file


@pytest.fixture
def pyz(tmp_path: Path, wheelhouse: Path, index: IndexServer) -> Path:
    alpha = make_wheel(
        wheelhouse,
        "alpha",
        "1.0",
        members={
            "alpha-1.0.dist-info/METADATA": "Metadata-Version: 2.4\nName: alpha\nVersion: 1.0\n"
            "License-Expression: MIT OR Apache-2.0\n"
        },
    )
    beta = make_wheel(
        wheelhouse,
        "beta",
        "2.0",
        members={
            "beta-2.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: beta\nVersion: 2.0\nLicense: BSD-3-Clause\n"
        },
    )
    project = make_project(tmp_path / "p", dependencies=["alpha", "beta"])
    (project / "pylock.toml").write_text(pylock_text([[alpha], [beta]], base_url=index.url))
    return build(project)


class TestSbom:
    def test_written_beside_and_inside_and_valid(self, pyz: Path) -> None:
        from cyclonedx.schema import SchemaVersion
        from cyclonedx.validation.json import JsonStrictValidator

        beside = pyz.with_name(pyz.name + ".cdx.json").read_text()
        with zipfile.ZipFile(pyz) as archive:
            assert archive.read(SBOM).decode() == beside
        error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(beside)
        assert error is None, error
        document = json.loads(beside)
        components = {c["name"]: c for c in document["components"]}
        assert set(components) == {"alpha", "beta", "app"}
        alpha = components["alpha"]
        assert alpha["purl"] == "pkg:pypi/alpha@1.0"
        assert alpha["hashes"] == [{"alg": "SHA-256", "content": _wheel_sha(pyz, "alpha")}]
        assert alpha["licenses"] == [{"expression": "MIT OR Apache-2.0"}]
        assert components["beta"]["licenses"] == [{"license": {"name": "BSD-3-Clause"}}]
        assert document["metadata"]["component"]["name"] == "app"

    def test_checksum_beside(self, pyz: Path) -> None:
        text = pyz.with_name(pyz.name + ".sha256").read_text()
        assert text == f"{sha256_file(pyz)}  {pyz.name}\n"

    def test_reproducible_and_cleaned(self, pyz: Path, tmp_path: Path) -> None:
        from hatch_zipapp.builder import ZipappBuilder

        project = tmp_path / "p"
        again = build(project, tmp_path / "again")
        for suffix in ("", ".cdx.json", ".sha256"):
            assert sha256_file(pyz.with_name(pyz.name + suffix)) == sha256_file(again.with_name(again.name + suffix))
        ZipappBuilder(os.fspath(project)).clean(os.fspath(pyz.parent), ["standard"])
        assert list(pyz.parent.iterdir()) == []


def _wheel_sha(pyz: Path, name: str) -> str:
    with zipfile.ZipFile(pyz) as archive:
        info = json.loads(archive.read("hatch-zipapp.json"))
    return str(next(d["sha256"] for d in info["distributions"] if d["name"] == name))


def _rewrite(pyz: Path, destination: Path, replace: Mapping[str, bytes]) -> None:
    """A copy of ``pyz`` with members replaced or added (``site-packages/`` ones inside its site-packages.zip, where
    the runtime reads them), written as a valid .pyz: what a tamperer with the builder's own code could make."""
    with PyzReader(pyz) as source:
        entries = {
            info.filename: (source.read(info), bool((info.external_attr >> 16) & 0o111)) for info in source.infolist()
        }
    entries.update({name: (data, False) for name, data in replace.items()})
    with destination.open("wb") as out:
        out.write(pyz.read_bytes().split(b"\n", 1)[0] + b"\n")
        write_archive(out, entries, (2020, 2, 2, 0, 0, 0))


class TestVerify:
    def test_intact(self, pyz: Path, capsys: pytest.CaptureFixture[str]) -> None:
        assert cli(["verify", os.fspath(pyz)]) == 0
        assert "every member matches its record" in capsys.readouterr().out
        assert run_pyz(pyz, "alpha").endswith("app ok\n")

    def test_one_changed_member_is_named(self, pyz: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        tampered = tmp_path / "tampered.pyz"
        with PyzReader(pyz) as archive:
            original = archive.read("site-packages/app/cli.py")
        _rewrite(pyz, tampered, {"site-packages/app/cli.py": original + b"#"})
        assert cli(["verify", os.fspath(tampered)]) == 1
        err = capsys.readouterr().err
        assert "site-packages/app/cli.py: sha256" in err and "NOT the file that was built (1 problem)" in err

    def test_one_flipped_byte_in_the_file(self, pyz: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        copy = tmp_path / pyz.name
        shutil.copy(pyz, copy)
        shutil.copy(pyz.with_name(pyz.name + ".sha256"), tmp_path / (pyz.name + ".sha256"))
        data = bytearray(copy.read_bytes())
        with PyzReader(pyz) as archive:
            offset = archive.data_offset("site-packages/alpha/__init__.py") + 1
        data[offset] ^= 0x01
        copy.write_bytes(bytes(data))
        assert cli(["verify", os.fspath(copy)]) == 1
        err = capsys.readouterr().err
        assert f"{copy.name}: sha256" in err  # against the .sha256 beside it
        assert "site-packages/alpha/__init__.py" in err  # and the member that changed

    def test_added_member(self, pyz: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        copy = tmp_path / "added.pyz"
        _rewrite(pyz, copy, {"site-packages/evil.py": b"print('x')\n"})
        assert cli(["verify", os.fspath(copy)]) == 1
        assert "site-packages/evil.py: in the archive but not in its record" in capsys.readouterr().err

    def test_member_added_beside_site_packages_zip(
        self, pyz: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        copy = tmp_path / "appended.pyz"
        shutil.copy(pyz, copy)
        with zipfile.ZipFile(copy, "a") as archive:
            archive.writestr("site-packages/evil.py", "print('x')\n")
        assert cli(["verify", os.fspath(copy)]) == 1
        # (zipfile writes it 0600: not as the build writes a member, which verify reads no further)
        assert "site-packages/evil.py: mode 0o600, not a regular file's 0o100644 or 0o100755" in capsys.readouterr().err

    def test_a_changed_record_cannot_vouch(self, pyz: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """A file changed together with its distribution's RECORD (made consistent) is still caught."""
        import base64

        evil = b'VALUE = "evil"\n'
        digest = base64.urlsafe_b64encode(hashlib.sha256(evil).digest()).decode().rstrip("=")
        tampered = tmp_path / "tampered.pyz"
        with PyzReader(pyz) as archive:
            record = archive.read("site-packages/alpha-1.0.dist-info/RECORD")
        rows = [r for r in record.decode().splitlines() if not r.startswith("alpha/__init__.py,")]
        record = "\n".join([f"alpha/__init__.py,sha256={digest},{len(evil)}", *rows, ""]).encode()
        replace = {"site-packages/alpha/__init__.py": evil, "site-packages/alpha-1.0.dist-info/RECORD": record}
        _rewrite(pyz, tampered, replace)
        assert cli(["verify", os.fspath(tampered)]) == 1
        err = capsys.readouterr().err
        assert "site-packages/alpha-1.0.dist-info/RECORD: sha256" in err
        assert "site-packages/alpha/__init__.py: in the archive but not in its record" in err
