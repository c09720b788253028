"""systemd units for a .pyz: a hardened `.service` (and a `.socket` for socket activation with `serve`).

The service runs as a dynamic user with a read-only view of the system. Its writable places are systemd's:
`CacheDirectory=` (the runtime extracts there: `$CACHE_DIRECTORY`) and `StateDirectory=` (the working directory,
e.g. a sqlite database). Configuration comes from `EnvironmentFile=`, secrets from `LoadCredential=`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

__all__ = ["RELAXATIONS", "Units", "render"]

#: What an application may need relaxed, and the directives each removes.
RELAXATIONS: dict[str, str] = {
    "jit": "MemoryDenyWriteExecute (cffi `ffi.callback()`, ctypes callbacks and JITs need writable+executable memory)",
    "network-namespaces": "RestrictNamespaces (applications that create namespaces)",
    "resources": "the @resources system calls (applications that set priorities, CPU affinity or resource limits)",
}


@dataclass(frozen=True)
class Units:
    """What to generate: the application's name, where the .pyz lives on the server, and how it is started."""

    name: str
    pyz: str
    command: Sequence[str] = ("serve",)
    python: str = "/usr/bin/python3"
    description: str = ""
    socket: str | None = None  # e.g. "127.0.0.1:8000": a .socket unit, and `serve` inherits its socket
    credentials: Sequence[str] = ("secret_key",)
    relax: frozenset[str] = field(default_factory=frozenset)


def render(units: Units) -> dict[str, str]:
    """File name → contents of the unit files."""
    unknown = sorted(units.relax - RELAXATIONS.keys())
    if unknown:
        message = f"Unknown relaxation(s) {', '.join(unknown)}: choose from {', '.join(sorted(RELAXATIONS))}"
        raise ValueError(message)
    name = units.name
    description = units.description or f"{name} ({units.pyz}, hatch-zipapp)"
    unit = [
        "[Unit]",
        f"Description={description}",
        "After=network-online.target",
        "Wants=network-online.target",
    ]
    if units.socket:
        unit += [f"Requires={name}.socket", f"After={name}.socket"]
    service = [
        "",
        "[Service]",
        "Type=exec",
        f"ExecStart={units.python} {units.pyz} {' '.join(units.command)}".rstrip(),
        "ExecReload=/bin/kill -HUP $MAINPID",
        "Restart=on-failure",
        "RestartSec=2s",
        "TimeoutStopSec=30s",
        "",
        "# Configuration per environment: variables in a file, secrets as credentials ($CREDENTIALS_DIRECTORY).",
        f"EnvironmentFile=-/etc/{name}/env",
        *[f"LoadCredential={c}:/etc/{name}/{c}" for c in units.credentials],
        "",
        "# Writable places: the .pyz extracts to $CACHE_DIRECTORY; the working directory is the state directory.",
        f"CacheDirectory={name}",
        f"StateDirectory={name}",
        f"WorkingDirectory=%S/{name}",
        "",
        "# Hardening.",
        "DynamicUser=yes",
        "UMask=0077",
        "NoNewPrivileges=yes",
        "CapabilityBoundingSet=",
        "AmbientCapabilities=",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "PrivateDevices=yes",
        "PrivateUsers=yes",
        "DevicePolicy=closed",
        "ProtectKernelTunables=yes",
        "ProtectKernelModules=yes",
        "ProtectKernelLogs=yes",
        "ProtectControlGroups=yes",
        "ProtectClock=yes",
        "ProtectHostname=yes",
        "ProtectProc=invisible",
        "ProcSubset=pid",
        "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6",
        "RestrictRealtime=yes",
        "RestrictSUIDSGID=yes",
        "LockPersonality=yes",
        "RemoveIPC=yes",
        "KeyringMode=private",
        "SystemCallArchitectures=native",
        "SystemCallFilter=@system-service",
        "SystemCallFilter=~@privileged" + ("" if "resources" in units.relax else " @resources"),
        "SystemCallErrorNumber=EPERM",
    ]
    if "network-namespaces" not in units.relax:
        service.append("RestrictNamespaces=yes")
    if "jit" not in units.relax:
        service.append("MemoryDenyWriteExecute=yes")
    install = ["", "[Install]", "WantedBy=multi-user.target", ""]
    files = {f"{name}.service": "\n".join([*unit, *service, *install])}
    if units.socket:
        files[f"{name}.socket"] = "\n".join(
            [
                "[Unit]",
                f"Description={name} listening socket",
                "",
                "[Socket]",
                f"ListenStream={units.socket}",
                "NoDelay=yes",
                f"Service={name}.service",
                "",
                "[Install]",
                "WantedBy=sockets.target",
                "",
            ]
        )
    return files
