"""The archive's own record (``hatch-zipapp.sha256``): ``sha256  member`` lines for every member that no installed
distribution's RECORD already vouches for, written by the build (archive.py) and read back by ``verify``
(pyz/verify.py), with the rules of what a distribution's RECORD row may vouch for (:func:`dist_records`), so that
the two sides agree on what is covered.
"""

from __future__ import annotations

import base64
import csv
import posixpath
import re
from collections.abc import Mapping

from hatch_zipapp.bootstrap.documents import RECORD as RECORD_MEMBER
from hatch_zipapp.bootstrap.documents import RECORD_PREFIX, SITE_PACKAGES

__all__ = ["PREFIX", "RECORD", "dist_records", "parse_record", "record"]

#: The archive's record, and its name for the bytes before the zip (the shebang line), as the runtime reads them.
RECORD = RECORD_MEMBER
PREFIX = RECORD_PREFIX


def record(digests: Mapping[str, str]) -> bytes:
    """``sha256  member`` lines (sha256sum's format) for every member but the record itself, from their hex digests."""
    return "".join(f"{digest}  {name}\n" for name, digest in sorted(digests.items()) if name != RECORD).encode()


def dist_records(files: Mapping[str, bytes]) -> dict[str, str]:
    """Member → sha256 hex for every file a ``site-packages/*.dist-info/RECORD`` in ``files`` lists with a hash,
    where the RECORDs that list it agree.

    pypa installer writes these RECORDs for every installed file, so the archive's own record need not repeat them: it
    covers what they do not (the RECORDs themselves, bytecode, collected static files, the bootstrap). The build
    (archive.py, on every RECORD it stages) and ``verify`` (pyz/verify.py, on the RECORDs the archive's record vouches
    for) both read them here, so they agree on what is covered. A RECORD is a wheel's file like any other (one can ship
    another through `.data/purelib`), so what its rows may say is bounded: a row covers a file of site-packages, the
    tree every wheel installs into, and nothing else. Not covered, so listed in the archive's record with its digest: a
    path that is absolute, not normalised, holds a ``..`` or a backslash, or names a RECORD (each RECORD stays in the
    record, so the set ``verify`` reads is the set the build read), and a file whose RECORDs (or one RECORD's two rows)
    give two digests. No row can drop a line of the record for a member outside site-packages (``__main__.py``, the
    runtime), nor make the record say anything but a member's own digest.
    """
    claims: dict[str, set[str]] = {}
    for name, data in files.items():
        if not _is_dist_record(name):
            continue
        for row in csv.reader(data.decode("utf-8", "replace").splitlines()):
            if len(row) < 2 or not row[1].startswith("sha256="):
                continue
            member = _record_row_member(row[0])
            if member is None:
                continue
            value = row[1].removeprefix("sha256=")
            try:
                digest = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).hex()
            except ValueError:
                continue
            claims.setdefault(member, set()).add(digest)
    return {member: digests.pop() for member, digests in claims.items() if len(digests) == 1}


def _is_dist_record(name: str) -> bool:
    parts = name.split("/")
    return len(parts) == 3 and parts[0] == SITE_PACKAGES and parts[1].endswith(".dist-info") and parts[2] == "RECORD"


def _record_row_member(path: str) -> str | None:
    """The member a RECORD row's path names, inside site-packages; None for one it may not cover (see
    :func:`dist_records`)."""
    if path.startswith("/") or "\\" in path or ".." in path.split("/") or posixpath.normpath(path) != path:
        return None  # (installer writes every path relative and normalised: `a/./b`, `a//b` and `.` are not)
    member = f"{SITE_PACKAGES}/{path}"
    return None if path == "." or _is_dist_record(member) else member


_RECORD_LINE = re.compile(r"[0-9a-f]{64}  [^\n]+\n")


def parse_record(raw: bytes) -> tuple[dict[str, str], str]:
    """The record's ``name → sha256 hex``, and what is wrong with it unless it is exactly as :func:`record` wrote it."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return {}, "not UTF-8 (damaged)"
    lines = text.splitlines(keepends=True)
    listed = {}
    for number, line in enumerate(lines, 1):
        if not _RECORD_LINE.fullmatch(line):
            return {}, f"line {number} is not `<sha256 hex>  <member>` (damaged)"
        listed[line[66:-1]] = line[:64]
    if record(listed) != raw:
        return {}, "not in the order or form hatch-zipapp writes it (damaged)"
    return listed, ""
