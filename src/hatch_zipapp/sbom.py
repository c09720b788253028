"""Supply chain: a CycloneDX SBOM of everything embedded, and a record of the sha256 of every archive member that
no installed distribution's RECORD already vouches for.

Both are deterministic (the serial number derives from the build id, the timestamp is SOURCE_DATE_EPOCH), stored in
the .pyz and written beside it, with a `.sha256` of the whole file; :func:`verify` checks a .pyz against them.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import posixpath
import uuid
import zipfile
from collections.abc import Mapping
from email.parser import Parser
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name

from hatch_zipapp.bootstrap.documents import (
    INFO_BUILDER,
    INFO_BUILT_AT,
    INFO_DISTRIBUTIONS,
    INFO_LOCK,
    INFO_PROJECT,
    INFO_TARGET,
    INFO_VERSION,
    TARGET_TAG,
)
from hatch_zipapp.install import SITE_PACKAGES, StagedFile
from hatch_zipapp.layout import PyzReader

__all__ = ["RECORD", "SBOM", "dist_records", "licenses", "record", "sbom", "sidecars", "verify"]

SBOM = "sbom.cdx.json"
RECORD = "hatch-zipapp.sha256"


def licenses(files: Mapping[str, StagedFile]) -> dict[str, str]:
    """The licence of each embedded distribution, where its metadata says: License-Expression, else License."""
    found: dict[str, str] = {}
    for path, staged in files.items():
        parts = path.split("/")
        if len(parts) == 3 and parts[0] == SITE_PACKAGES and parts[1].endswith(".dist-info") and parts[2] == "METADATA":
            metadata = Parser().parsestr(staged.data.decode("utf-8", "replace"), headersonly=True)
            value = metadata.get("License-Expression") or metadata.get("License") or ""
            if value and "\n" not in value.strip() and len(value) <= 100:
                found[canonicalize_name(str(metadata.get("Name", "")))] = value.strip()
    return found


def sbom(info: Mapping[str, Any], known_licenses: Mapping[str, str], build_id: str) -> dict[str, Any]:
    """A CycloneDX 1.6 document for the .pyz described by ``info`` (its hatch-zipapp.json)."""
    components = []
    for dist in info[INFO_DISTRIBUTIONS]:
        purl = f"pkg:pypi/{dist['name']}@{dist['version']}"
        component: dict[str, Any] = {
            "type": "library",
            "bom-ref": purl,
            "name": dist["name"],
            "version": dist["version"],
            "purl": purl,
            "hashes": [{"alg": "SHA-256", "content": dist["sha256"]}],
            "properties": [{"name": "hatch-zipapp:file", "value": dist["file"]}],
        }
        licence = known_licenses.get(dist["name"])
        if licence:
            is_expression = " " in licence or any(c in licence for c in "()+")
            component["licenses"] = [{"expression": licence}] if is_expression else [{"license": {"name": licence}}]
        components.append(component)
    application = f"pkg:pypi/{canonicalize_name(info[INFO_PROJECT])}@{info[INFO_VERSION]}"
    return {
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "serialNumber": f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, f'hatch-zipapp:{build_id}')}",
        "version": 1,
        "metadata": {
            "timestamp": info[INFO_BUILT_AT],
            "tools": {
                "components": [
                    {"type": "application", "name": "hatch-zipapp", "version": info[INFO_BUILDER].split()[-1]}
                ]
            },
            "component": {
                "type": "application",
                "bom-ref": f"{application}#{info[INFO_TARGET][TARGET_TAG]}",
                "name": info[INFO_PROJECT],
                "version": info[INFO_VERSION],
                "properties": [
                    {"name": "hatch-zipapp:target", "value": info[INFO_TARGET][TARGET_TAG]},
                    {"name": "hatch-zipapp:build-id", "value": build_id},
                    {"name": "hatch-zipapp:lock-sha256", "value": info[INFO_LOCK]["sha256"]},
                ],
            },
        },
        "components": sorted(components, key=lambda c: c["name"]),
        "dependencies": [
            {
                "ref": f"{application}#{info[INFO_TARGET][TARGET_TAG]}",
                "dependsOn": sorted(c["bom-ref"] for c in components),
            }
        ],
    }


def record(digests: Mapping[str, str]) -> bytes:
    """``sha256  member`` lines (sha256sum's format) for every member but the record itself, from their hex digests."""
    return "".join(f"{digest}  {name}\n" for name, digest in sorted(digests.items()) if name != RECORD).encode()


def dist_records(files: Mapping[str, bytes]) -> dict[str, str]:
    """Member → sha256 hex for every file a ``*.dist-info/RECORD`` in ``files`` lists with a hash.

    pypa installer writes these RECORDs for every installed file, so the archive's own record need not repeat them:
    it covers what they do not (the RECORDs themselves, bytecode, collected static files, the bootstrap).
    """
    covered = {}
    for name, data in files.items():
        parts = name.split("/")
        if len(parts) != 3 or parts[0] != SITE_PACKAGES or not parts[1].endswith(".dist-info") or parts[2] != "RECORD":
            continue
        for row in csv.reader(data.decode("utf-8", "replace").splitlines()):
            if len(row) >= 2 and row[1].startswith("sha256="):
                value = row[1].removeprefix("sha256=")
                try:
                    digest = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).hex()
                except ValueError:
                    continue
                covered[posixpath.normpath(f"{SITE_PACKAGES}/{row[0]}")] = digest
    return covered


def verify(pyz: Path, checksum: Path | None = None) -> list[str]:
    """Problems found in ``pyz`` (empty when it is intact): against its `.sha256`, then every member against the
    archive's record or, for installed files, their distribution's RECORD (itself checked against the record)."""
    problems = []
    checksum = checksum or pyz.with_name(pyz.name + ".sha256")
    data = pyz.read_bytes()
    if checksum.is_file():
        text = checksum.read_text(encoding="utf-8")
        expected = text.split()[0].lower() if text.strip() else ""
        actual = hashlib.sha256(data).hexdigest()
        if actual != expected:
            problems.append(f"{pyz.name}: sha256 {actual}, but {checksum.name} says {expected}")
    try:
        with PyzReader(pyz) as archive:
            try:
                lines = archive.read(RECORD).decode("utf-8").splitlines()
            except KeyError:
                return [*problems, f"{pyz.name} has no {RECORD}: it was not built by hatch-zipapp 0.1 or later"]
            listed = {name: digest for digest, _, name in (line.partition("  ") for line in lines)}
            members = {info.filename for info in archive.infolist()} - {RECORD}
            contents: dict[str, bytes] = {}
            for name in sorted(members):
                try:
                    contents[name] = archive.read(name)
                except (zipfile.BadZipFile, OSError, ValueError) as e:  # a changed byte in compressed data
                    problems.append(f"{name}: unreadable ({e})")
    except zipfile.BadZipFile as e:
        return [*problems, f"{pyz.name}: not a readable zip archive ({e})"]
    for name in sorted(listed.keys() - members):
        problems.append(f"{name}: in the record but missing from the archive")
    trusted = {}
    for name in sorted(listed.keys() & contents.keys()):
        actual = hashlib.sha256(contents[name]).hexdigest()
        if actual != listed[name]:
            problems.append(f"{name}: sha256 {actual}, the record says {listed[name]}")
        else:
            trusted[name] = contents[name]
    covered = dist_records(trusted)  # only RECORDs that match the archive's record vouch for other files
    for name in sorted(contents.keys() - listed.keys()):
        if name not in covered:
            problems.append(f"{name}: in the archive but not in its record (added after the build)")
            continue
        actual = hashlib.sha256(contents[name]).hexdigest()
        if actual != covered[name]:
            problems.append(f"{name}: sha256 {actual}, its distribution's RECORD says {covered[name]}")
    return problems


def sidecars(pyz_name: str, pyz_bytes: bytes, sbom_json: bytes) -> dict[str, bytes]:
    """The files written beside the .pyz: its SBOM and its checksum."""
    return {
        f"{pyz_name}.cdx.json": sbom_json,
        f"{pyz_name}.sha256": f"{hashlib.sha256(pyz_bytes).hexdigest()}  {pyz_name}\n".encode(),
    }
