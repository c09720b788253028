"""The deploy's fetch: SOURCE (a local path or an http(s) URL) into ``releases/``, checked against its sha256.

A stand-in until the delta fetch lands (branch ``delta``): a whole download, or a copy of a local file. Its
signature is the one ``release.py`` calls. The file is written to a temporary name in ``releases/`` and renamed only
once its sha256 matches: a fetch cut short or of the wrong bytes leaves nothing under the release's name.
"""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from hatch_zipapp.errors import FetchError, HashMismatchError

__all__ = ["Fetched", "fetch"]

_CHUNK = 1 << 20


@dataclass(frozen=True)
class Fetched:
    """The release in ``releases/``: its path, its sha256, the bytes transferred, whether it was there already, and
    how it was had (a phrase for the output)."""

    path: Path
    sha256: str
    transferred: int
    reused: bool
    how: str


def _open(source: str) -> BinaryIO:
    if urllib.parse.urlsplit(source).scheme in {"http", "https"}:
        try:
            return urllib.request.urlopen(source, timeout=60)  # type: ignore[no-any-return]  # noqa: S310
        except urllib.error.HTTPError as e:
            raise FetchError(f"{source}: HTTP {e.code} {e.reason}: check the URL", status=e.code) from None
        except (urllib.error.URLError, OSError) as e:
            reason = getattr(e, "reason", e)
            raise FetchError(f"{source}: cannot be fetched ({reason}): check the URL and the network") from None
    try:
        return open(source, "rb")
    except OSError as e:
        raise FetchError(f"{source}: cannot be read ({e.strerror}): name the .pyz's path or URL") from None


def _published(source: str, name: str) -> str:
    """The sha256 in ``SOURCE.sha256`` (sha256sum format: ``HEX  NAME``)."""
    with _open(source + ".sha256") as f:
        text = f.read(4096).decode("ascii", "replace")
    digest = text.split()[0].lower() if text.split() else ""
    if len(digest) != 64 or digest.strip("0123456789abcdef"):
        raise FetchError(f"{source}.sha256 holds no sha256 of {name}: publish it with the .pyz, or give --sha256")
    return digest


def fetch(source: str, releases: Path, *, sha256: str | None, say: Callable[[str], None]) -> Fetched:
    """``releases/NAME`` (NAME: SOURCE's last path segment) with the sha256 ``sha256`` (default: the one published
    beside SOURCE as ``SOURCE.sha256``, which is written beside the release too); reused when it is there already."""
    name = os.path.basename(urllib.parse.urlsplit(source).path if "://" in source else source)
    if not name.endswith(".pyz"):
        raise FetchError(f"{source} does not name a .pyz: give the release's URL or path")
    expected = sha256.lower() if sha256 else _published(source, name)
    target = releases / name
    sidecar = releases / (name + ".sha256")
    if target.is_file():
        digest = _digest(target)
        if digest == expected:
            if not sidecar.exists():
                _write(sidecar, f"{expected}  {name}\n".encode())
            return Fetched(target, digest, 0, True, "already in releases/")
    for stale in releases.glob(f".{name}.tmp-*"):  # a fetch killed midway
        stale.unlink(missing_ok=True)
    temporary = releases / f".{name}.tmp-{os.getpid()}"
    hasher = hashlib.sha256()
    transferred = 0
    try:
        with _open(source) as reader, open(temporary, "wb") as writer:
            while chunk := reader.read(_CHUNK):
                hasher.update(chunk)
                writer.write(chunk)
                transferred += len(chunk)
        digest = hasher.hexdigest()
        if digest != expected:
            message = (
                f"{source} has sha256 {digest}, not the {expected} expected: it is not the release published "
                f"(fetch it again, or check --sha256)"
            )
            raise HashMismatchError(message)
        os.chmod(temporary, 0o755)  # noqa: S103 - a program, run by root and the services
        os.replace(temporary, target)
    except (OSError, ValueError):
        temporary.unlink(missing_ok=True)
        raise
    _write(sidecar, f"{expected}  {name}\n".encode())
    return Fetched(target, digest, transferred, False, "whole download" if "://" in source else "copied")


def _digest(path: Path) -> str:
    hasher = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            hasher.update(chunk)
    return hasher.hexdigest()


def _write(path: Path, data: bytes) -> None:
    temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(temporary, "wb") as f:
        f.write(data)
    os.replace(temporary, path)
