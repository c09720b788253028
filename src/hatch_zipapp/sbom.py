"""Supply chain: a CycloneDX SBOM of everything embedded, and a record of every archive member's sha256.

Both are deterministic (the serial number derives from the build id, the timestamp is SOURCE_DATE_EPOCH), stored in
the .pyz and written beside it, with a `.sha256` of the whole file; :func:`verify` checks a .pyz against them.
"""

from __future__ import annotations

import hashlib
import uuid
import zipfile
from collections.abc import Mapping
from email.parser import Parser
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name

from hatch_zipapp.install import SITE_PACKAGES, StagedFile

__all__ = ["RECORD", "SBOM", "licenses", "record", "sbom", "sidecars", "verify"]

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
    for dist in info["distributions"]:
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
    application = f"pkg:pypi/{canonicalize_name(info['project'])}@{info['version']}"
    return {
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "serialNumber": f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, f'hatch-zipapp:{build_id}')}",
        "version": 1,
        "metadata": {
            "timestamp": info["built_at"],
            "tools": {
                "components": [{"type": "application", "name": "hatch-zipapp", "version": info["builder"].split()[-1]}]
            },
            "component": {
                "type": "application",
                "bom-ref": f"{application}#{info['target']['tag']}",
                "name": info["project"],
                "version": info["version"],
                "properties": [
                    {"name": "hatch-zipapp:target", "value": info["target"]["tag"]},
                    {"name": "hatch-zipapp:build-id", "value": build_id},
                    {"name": "hatch-zipapp:lock-sha256", "value": info["lock"]["sha256"]},
                ],
            },
        },
        "components": sorted(components, key=lambda c: c["name"]),
        "dependencies": [
            {"ref": f"{application}#{info['target']['tag']}", "dependsOn": sorted(c["bom-ref"] for c in components)}
        ],
    }


def record(digests: Mapping[str, str]) -> bytes:
    """``sha256  member`` lines (sha256sum's format) for every member but the record itself, from their hex digests."""
    return "".join(f"{digest}  {name}\n" for name, digest in sorted(digests.items()) if name != RECORD).encode()


def verify(pyz: Path, checksum: Path | None = None) -> list[str]:
    """Problems found in ``pyz`` (empty when it is intact): against its `.sha256`, then its embedded record."""
    problems = []
    checksum = checksum or pyz.with_name(pyz.name + ".sha256")
    data = pyz.read_bytes()
    if checksum.is_file():
        expected = checksum.read_text(encoding="utf-8").split()[0].lower() if checksum.read_text().strip() else ""
        actual = hashlib.sha256(data).hexdigest()
        if actual != expected:
            problems.append(f"{pyz.name}: sha256 {actual}, but {checksum.name} says {expected}")
    try:
        with zipfile.ZipFile(pyz) as archive:
            try:
                lines = archive.read(RECORD).decode("utf-8").splitlines()
            except KeyError:
                return [*problems, f"{pyz.name} has no {RECORD}: it was not built by hatch-zipapp 0.1 or later"]
            listed = {}
            for line in lines:
                digest, _, name = line.partition("  ")
                listed[name] = digest
            members = {info.filename for info in archive.infolist()} - {RECORD}
            for name in sorted(members - listed.keys()):
                problems.append(f"{name}: in the archive but not in its record (added after the build)")
            for name in sorted(listed.keys() - members):
                problems.append(f"{name}: in the record but missing from the archive")
            for name in sorted(listed.keys() & members):
                try:
                    actual = hashlib.sha256(archive.read(name)).hexdigest()
                except (zipfile.BadZipFile, OSError, ValueError) as e:  # a changed byte in compressed data
                    problems.append(f"{name}: unreadable ({e})")
                    continue
                if actual != listed[name]:
                    problems.append(f"{name}: sha256 {actual}, the record says {listed[name]}")
    except zipfile.BadZipFile as e:
        problems.append(f"{pyz.name}: not a readable zip archive ({e})")
    return problems


def sidecars(pyz_name: str, pyz_bytes: bytes, sbom_json: bytes) -> dict[str, bytes]:
    """The files written beside the .pyz: its SBOM and its checksum."""
    return {
        f"{pyz_name}.cdx.json": sbom_json,
        f"{pyz_name}.sha256": f"{hashlib.sha256(pyz_bytes).hexdigest()}  {pyz_name}\n".encode(),
    }
