"""The confinement declaration: what a site needs beyond what the runtime gives it (the paths it writes, the endpoints
it connects to, the addresses it binds), recorded by the build in ``hatch-zipapp.json`` under ``"confine"`` and read
by ``hatch-zipapp systemd --read PYZ --confine``.

One grammar for every place an entry is written (the pyproject table, the Django settings read at build, the command
line), so that what one side accepts the other can use: a path is absolute and written plainly, without ``:`` (the
runtime's ``ZIPAPP_CONFINE_WRITE`` is colon-separated); an endpoint is ``HOST:PORT`` or ``[V6]:PORT`` with a TCP port
1-65535, or the absolute path of a unix socket (at most 107 bytes: ``sun_path`` holds 108 with its NUL).
"""

from __future__ import annotations

import ipaddress
import posixpath
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from hatch_zipapp.bootstrap.documents import CONFINE_BIND, CONFINE_CONNECT, CONFINE_WRITE

__all__ = ["FIX", "KINDS", "Declaration", "endpoint", "problem"]

#: The kinds of entry, as the declaration's keys.
KINDS = (CONFINE_BIND, CONFINE_CONNECT, CONFINE_WRITE)
#: What each kind must be: the end of every message about a bad entry.
FIX = {
    CONFINE_WRITE: "write an absolute path such as '/var/lib/app/media'",
    CONFINE_CONNECT: (
        "write HOST:PORT ('db.internal:5432', '[2001:db8::5]:6379') or the absolute path of a unix socket "
        "('/run/postgresql/.s.PGSQL.5432')"
    ),
    CONFINE_BIND: "write ADDR:PORT ('127.0.0.1:8000', '[::]:8000')",
}
_SUN_PATH = 107
_HOST = re.compile(r"[A-Za-z0-9_]([A-Za-z0-9_.-]*[A-Za-z0-9_])?\.?")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def endpoint(host: str, port: int | str) -> str:
    """``HOST:PORT``, or ``[V6]:PORT`` when ``host`` is an IPv6 address."""
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def problem(kind: str, value: str) -> str | None:
    """What is wrong with ``value`` as an entry of ``kind`` ("has no port"), or None; a message adds ``FIX[kind]``."""
    if _CONTROL.search(value):
        return "holds a control character"
    if kind == CONFINE_WRITE or (kind == CONFINE_CONNECT and value.startswith("/")):
        return _path_problem(kind, value)
    host, colon, port = value.rpartition(":")
    if not colon:
        return "is not absolute" if kind == CONFINE_CONNECT and "/" in value else "has no port"
    if not port.isascii() or not port.isdigit() or str(int(port)) != port:
        return f"has the port {port!r}, not a number"
    if not 1 <= int(port) <= 65535:
        return f"has the port {port}, outside 1-65535"
    if host.startswith("[") and host.endswith("]"):
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            return f"has {host}, not an IPv6 address"
        return None
    if ":" in host:
        return "has an IPv6 address without brackets"
    if not _HOST.fullmatch(host):
        return "has no host" if not host else f"has the host {host!r}, not a host name or an address"
    if re.fullmatch(r"[0-9.]+", host):
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            return f"has {host}, not an IPv4 address"
    return None


def _path_problem(kind: str, value: str) -> str | None:
    if not value.startswith("/"):
        return "is not absolute"
    if ":" in value:
        return "holds ':', which separates the paths the runtime is given"
    if value == "/":
        return "is the whole file system"
    if value.startswith("//") or value.endswith("/") or posixpath.normpath(value) != value:
        return f"is not written plainly (no '.', '..', '//' or trailing '/': {posixpath.normpath(value)!r})"
    if kind == CONFINE_CONNECT and len(value.encode()) > _SUN_PATH:
        return f"is {len(value.encode())} bytes long; a unix socket's path holds at most {_SUN_PATH}"
    return None


@dataclass(frozen=True)
class Declaration:
    """The three sets of entries; ``to_json`` gives each sorted, and a declaration with none is false."""

    write: frozenset[str] = frozenset()
    connect: frozenset[str] = frozenset()
    bind: frozenset[str] = frozenset()

    @classmethod
    def of(cls, entries: Iterable[tuple[str, str]]) -> Declaration:
        """From ``(kind, value)`` pairs, each checked already."""
        found: dict[str, set[str]] = {kind: set() for kind in KINDS}
        for kind, value in entries:
            found[kind].add(value)
        return cls(*(frozenset(found[kind]) for kind in (CONFINE_WRITE, CONFINE_CONNECT, CONFINE_BIND)))

    @classmethod
    def from_json(cls, data: object) -> Declaration:
        """hatch-zipapp.json's ``"confine"``; ValueError saying what is wrong when it is not a declaration."""
        if not isinstance(data, Mapping) or not set(data) <= set(KINDS):
            message = f"not a table of {', '.join(KINDS)}: {data!r}"
            raise ValueError(message)
        entries = []
        for kind, values in sorted(data.items()):
            if not isinstance(values, list) or not all(isinstance(value, str) for value in values):
                message = f"{kind} is not a list of strings: {values!r}"
                raise ValueError(message)
            for value in values:
                if (reason := problem(kind, value)) is not None:
                    message = f"{kind} entry {value!r} {reason}"
                    raise ValueError(message)
                entries.append((kind, value))
        return cls.of(entries)

    def __or__(self, other: Declaration) -> Declaration:
        return Declaration(self.write | other.write, self.connect | other.connect, self.bind | other.bind)

    def __bool__(self) -> bool:
        return bool(self.write or self.connect or self.bind)

    def to_json(self) -> dict[str, list[str]]:
        return {
            CONFINE_BIND: sorted(self.bind),
            CONFINE_CONNECT: sorted(self.connect),
            CONFINE_WRITE: sorted(self.write),
        }
