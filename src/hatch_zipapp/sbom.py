"""Supply chain: a CycloneDX SBOM of everything embedded, deterministic (the serial number derives from the build id,
the timestamp is SOURCE_DATE_EPOCH), stored in the .pyz and written beside it with a `.sha256` of the whole file
(pyz/verify.py: ``SBOM``, ``sidecars``). The archive's record of the sha256 of every member that no installed
distribution's RECORD already vouches for is pyz/record.py's; ``verify`` (pyz/verify.py) checks a .pyz against all.
"""

from __future__ import annotations

import urllib.parse
import uuid
from collections.abc import Mapping
from email.parser import Parser
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

__all__ = ["licenses", "sbom"]


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
            "hashes": [{"alg": "SHA-256", "content": dist["sha256"]}] if "sha256" in dist else [],
            "properties": [{"name": "hatch-zipapp:file", "value": dist["file"]}],
        }
        if "record_sha256" in dist:  # the project, built here: its RECORD's digest, not its wheel's (zlib-dependent)
            component["properties"].append({"name": "hatch-zipapp:record-sha256", "value": dist["record_sha256"]})
        licence = known_licenses.get(dist["name"])
        if licence:
            is_expression = " " in licence or any(c in licence for c in "()+")
            component["licenses"] = [{"expression": licence}] if is_expression else [{"license": {"name": licence}}]
        components.append(component)
    embedded = info[INFO_TARGET].get("embedded_python")  # embed.EMBEDDED_PYTHON: the interpreter is a component
    if embedded is not None:
        components.append(_interpreter_component(embedded))
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


def _interpreter_component(embedded: Mapping[str, Any]) -> dict[str, Any]:
    """The embedded CPython (`embed-python`, embed.py's ``Interpreter.describe()``): version, source and sha256."""
    purl = f"pkg:generic/cpython@{embedded['version']}?download_url={urllib.parse.quote(embedded['url'], safe='')}"
    return {
        "type": "application",
        "bom-ref": f"pkg:generic/cpython@{embedded['version']}",
        "name": "cpython",
        "version": embedded["version"],
        "purl": purl,
        "description": "the embedded Python interpreter (python-build-standalone install_only archive)",
        "hashes": [{"alg": "SHA-256", "content": embedded["sha256"]}],
        "externalReferences": [{"type": "distribution", "url": embedded["url"]}],
        "properties": [
            {"name": "hatch-zipapp:embedded-python", "value": embedded["executable"]},
            {"name": "hatch-zipapp:unpacked-as", "value": embedded["directory"]},
        ],
    }
