"""`hatch-zipapp systemd --confine`: what the site may write, reach and bind, and the three ways the unit holds it to
that — the runtime's Landlock request (`ZIPAPP_CONFINE*`, docs/runtime.md), systemd's allow-lists, and an AppArmor
profile (`NAME.apparmor`) for the unit's `AppArmorProfile=`.

The description comes from the .pyz's declaration (hatch-zipapp.json's `"confine"`, written at build from the Django
settings and the pyproject) and the command line (`--write`, `--connect`, `--bind`, `--allow-network`). The unit is
generated away from the server (in CI), so nothing here is resolved or looked up: a host name cannot go into
`IPAddressAllow=` (it takes addresses), and resolving it here would pin CI's view of DNS into the unit; the operator
names the networks with `--allow-network` (docs/security.md).
"""

from __future__ import annotations

import ipaddress
import itertools
import posixpath
import re
import string
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hatch_zipapp.bootstrap.documents import CONFINE_BIND, CONFINE_CONNECT, CONFINE_WRITE, INFO_CONFINE
from hatch_zipapp.errors import SystemdError

if TYPE_CHECKING:
    from hatch_zipapp.deploy.systemd import Units

__all__ = [
    "DECLARATION",
    "DEFAULT_BIND",
    "Confinement",
    "Endpoint",
    "apparmor",
    "declared",
    "directives",
    "environment",
    "notes",
    "parse_bind",
    "parse_connect",
    "parse_network",
    "profile_name",
]

#: hatch-zipapp.json's key for the declaration: {"write": [...], "connect": [...], "bind": [...]}.
#: hatch-zipapp.json's key and its lists, as the build writes them (bootstrap/documents.py, pyz/confine.py).
DECLARATION = INFO_CONFINE
_KEYS = (CONFINE_WRITE, CONFINE_CONNECT, CONFINE_BIND)
#: Where `serve` listens when given no address and no socket (bootstrap/django_main.py's DEFAULT_ADDRESS).
DEFAULT_BIND = "127.0.0.1:8000"
#: The commands of a Django site's .pyz that listen (their default address is DEFAULT_BIND).
_SERVING = ("serve", "pyuwsgi")
#: Directories the service does not see at all (ProtectHome=yes, PrivateTmp=yes): nothing there can be declared.
_HIDDEN = ("/home", "/root", "/run/user", "/tmp", "/var/tmp")  # noqa: S108 - names, to refuse
#: The system itself: never a place the site writes.
_SYSTEM = ("/usr", "/boot", "/proc", "/sys", "/dev")
#: Trees replaced by an empty read-only tmpfs (`TemporaryFileSystem=`): other services' state, caches, logs, sites and
#: the host's configuration. What the site needs in them is bound back (its own state and cache directories are
#: mounted by systemd itself, DynamicUser's /var/lib/private/NAME included).
HIDDEN_TREES = ("/etc", "/mnt", "/media", "/opt", "/srv", "/var/cache", "/var/lib", "/var/log", "/run")
#: What a service needs of /run (hidden: Landlock does not filter connecting to another service's named Unix socket),
#: bound back read-only, each optional: systemd's notify socket (Type=notify's READY=1) and the journal's (syslog's
#: /dev/log is a link to dev-log), systemd-resolved's directory (its varlink socket, which nss-resolve asks where
#: nsswitch.conf names `resolve`, as Ubuntu's does), nscd's socket. systemd binds the unit's own credentials
#: directory (/run/credentials/UNIT) itself, and /etc/resolv.conf where it links into /run (it binds the target).
RUN_SHOWN = (
    "/run/systemd/notify",
    "/run/systemd/journal/socket",
    "/run/systemd/journal/stdout",
    "/run/systemd/journal/dev-log",
    "/run/systemd/resolve",
    "/run/nscd/socket",
)
#: The files of /etc a Python program reads (the loader's cache, names and addresses, certificates, time zone, MIME
#: types, Debian's sitecustomize): bound back read-only, each optional.
_ETC = (
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/nsswitch.conf",
    "/etc/passwd",
    "/etc/group",
    "/etc/hosts",
    "/etc/host.conf",
    "/etc/resolv.conf",
    "/etc/gai.conf",
    "/etc/services",
    "/etc/protocols",
    "/etc/localtime",
    "/etc/timezone",
    "/etc/ssl",
    "/etc/ca-certificates",
    "/etc/mime.types",
    "/etc/python3",
    *[f"/etc/python3.{minor}" for minor in range(9, 15)],
)
#: System calls `@system-service` lets through that a web site never makes and an exploit likes (io_uring escapes
#: seccomp's view of the calls it makes; userfaultfd and perf_event_open are kernel-exploit staples; the keyring, kcmp,
#: process_vm_*, ptrace and pidfd_getfd reach into other processes or the kernel's state).
REFUSED_CALLS = (
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "userfaultfd",
    "perf_event_open",
    "bpf",
    "add_key",
    "keyctl",
    "request_key",
    "kcmp",
    "name_to_handle_at",
    "process_vm_readv",
    "process_vm_writev",
    "ptrace",
    "pidfd_getfd",
    "fanotify_init",
)
#: The system calls the runtime confines the site with (bootstrap/confine.py).
LANDLOCK_CALLS = ("landlock_create_ruleset", "landlock_add_rule", "landlock_restrict_self")
#: The characters of a path written into a unit or the profile as it is (and of a colon-separated variable: no ":").
_PATH_CHARACTERS = frozenset(string.ascii_letters + string.digits + "/._-+@,=~")
_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")
#: What an embedded Python's launcher (a sh script, launcher.sh) runs before the interpreter.
_LAUNCHER_TOOLS = (
    "sh",
    "dash",
    "cat",
    "chmod",
    "flock",
    "gzip",
    "head",
    "kill",
    "ls",
    "mkdir",
    "mv",
    "rm",
    "sha256sum",
    "sleep",
    "tail",
    "tar",
    "wc",
)


@dataclass(frozen=True)
class Endpoint:
    """`HOST:PORT`, `[V6]:PORT` or an absolute Unix socket path, checked."""

    text: str
    host: str = ""  # "" for a Unix socket
    port: int = 0  # 0 for a Unix socket

    @property
    def address(self) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
        """The host as an IP address, or None (a host name, or a Unix socket)."""
        try:
            return ipaddress.ip_address(self.host)
        except ValueError:
            return None

    @property
    def addresses(self) -> tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, ...]:
        """The addresses the host stands for without asking DNS: its own, or the loopback ones for `localhost`
        (/etc/hosts; Django's default EMAIL_HOST): () for another host name or a Unix socket."""
        if self.host.lower().removesuffix(".") == "localhost":
            return (ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1"))
        return () if self.address is None else (self.address,)

    @property
    def socket(self) -> str | None:
        return self.text if self.text.startswith("/") else None


@dataclass(frozen=True)
class Confinement:
    """What the site may write, connect to and bind, and the networks named for host names and clients."""

    write: tuple[str, ...] = ()
    connect: tuple[Endpoint, ...] = ()
    bind: tuple[Endpoint, ...] = ()
    networks: tuple[str, ...] = ()

    def merged(self, other: Confinement) -> Confinement:
        def union(a: Iterable[str], b: Iterable[str]) -> tuple[str, ...]:
            return tuple(sorted({*a, *b}))

        def endpoints(a: Iterable[Endpoint], b: Iterable[Endpoint]) -> tuple[Endpoint, ...]:
            return tuple(sorted({*a, *b}, key=lambda e: e.text))

        return Confinement(
            union(self.write, other.write),
            endpoints(self.connect, other.connect),
            endpoints(self.bind, other.bind),
            union(self.networks, other.networks),
        )


def _under(path: str, trees: Iterable[str]) -> str | None:
    return next((t for t in trees if path == t or path.startswith(t + "/")), None)


def _check_absolute(path: str, where: str, example: str) -> None:
    bad = sorted({c for c in path if c not in _PATH_CHARACTERS})
    if not path.startswith("/"):
        message = f"{where} is not an absolute path: give the full path on the server, e.g. {example}"
    elif bad:
        message = (
            f"{where} holds {', '.join(map(repr, bad))}: a path written into the unit and the profile (and into a "
            f"colon-separated variable) has letters, digits and / . _ - + @ , = ~ only"
        )
    elif posixpath.normpath(path) != path or path.startswith("//"):
        message = f"{where} is not a normal path: write it as {posixpath.normpath(path)!r}"
    else:
        hidden = _under(path, _HIDDEN)
        if hidden is not None:
            message = (
                f"{where} is under {hidden}, which the service does not see (ProtectHome=yes, PrivateTmp=yes): "
                f"use a directory such as {example}"
            )
        else:
            return
    raise SystemdError(message)


def check_write(path: str, where: str) -> str:
    """``path`` if the site may be given it to write, else SystemdError (``where``: the option and the value)."""
    _check_absolute(path, where, "/srv/NAME/media")
    system = _under(path, _SYSTEM)
    if path == "/" or system is not None:
        what = "the root" if path == "/" else f"under {system}"
        message = f"{where} is {what}: the system is never the site's to write; use a directory such as /srv/NAME/media"
        raise SystemdError(message)
    return path


def _port(text: str, where: str, form: str) -> int:
    if not text:
        raise SystemdError(f"{where} has no port: write it as {form}")
    if not text.isdigit() or str(int(text)) != text or not 1 <= int(text) <= 65535:
        raise SystemdError(f"{where}: port {text!r} is not a TCP port (1 to 65535): write it as {form}")
    return int(text)


def parse_connect(text: str, where: str) -> Endpoint:
    """A `--connect` value (or the declaration's): HOST:PORT, [V6]:PORT, or an absolute Unix socket path."""
    form = (
        "HOST:PORT (db.internal:5432, 10.0.0.5:5432, [2001:db8::5]:5432) or a socket path "
        "(/run/postgresql/.s.PGSQL.5432)"
    )
    if text.startswith("/"):
        _check_absolute(text, where, "/run/postgresql/.s.PGSQL.5432")
        return Endpoint(text)
    host, colon, port = text.rpartition(":")
    if not colon:
        raise SystemdError(f"{where} has no port: write it as {form}")
    if host.startswith("["):
        if not host.endswith("]") or not _is_v6(host[1:-1]):
            raise SystemdError(f"{where}: {host!r} is not an IPv6 address in brackets: write it as {form}")
        return Endpoint(text, host[1:-1], _port(port, where, form))
    if ":" in host:
        message = f"{where}: an IPv6 address goes in brackets with its port after them, e.g. [{host}]:{port or 5432}"
        raise SystemdError(message)
    if not _is_v4(host) and not _is_name(host):
        raise SystemdError(f"{where}: {host!r} is neither an IPv4 address nor a host name: write it as {form}")
    return Endpoint(text, host, _port(port, where, form))


def parse_bind(text: str, where: str) -> Endpoint:
    """A `--bind` value (or the declaration's): ADDR:PORT or [V6]:PORT, an address of this server (no host names)."""
    form = "ADDR:PORT, e.g. 127.0.0.1:8000, 0.0.0.0:8000 or [::1]:8000"
    host, colon, port = text.rpartition(":")
    if not colon:
        raise SystemdError(f"{where} has no port: write it as {form}")
    address = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not (_is_v6(address) if host.startswith("[") else _is_v4(address)):
        raise SystemdError(f"{where}: {host!r} is not an IP address (a bind address is one, not a name): {form}")
    return Endpoint(text, address, _port(port, where, form))


def parse_network(text: str, where: str) -> str:
    """An `--allow-network` value: an address, a CIDR network, or `any`."""
    if text == "any":
        return text
    try:
        network = ipaddress.ip_network(text, strict=True)
    except ValueError as e:
        message = f"{where} is not an address or a network ({e}): e.g. 10.0.0.0/8, 192.0.2.7, 2001:db8::/32, or any"
        raise SystemdError(message) from e
    return str(network)


def _is_v4(text: str) -> bool:
    try:
        ipaddress.IPv4Address(text)
    except ValueError:
        return False
    return True


def _is_v6(text: str) -> bool:
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True


def _is_name(text: str) -> bool:
    labels = text.removesuffix(".").split(".")
    return len(text) <= 253 and not text[:1].isdigit() and all(_LABEL.fullmatch(label) for label in labels)


def declared(info: object, pyz: str) -> Confinement:
    """The declaration in hatch-zipapp.json (``info``, the parsed document) of the .pyz at ``pyz``."""
    document = info.get(DECLARATION) if isinstance(info, Mapping) else None
    if document is None:
        return Confinement()
    where = f"{pyz}: hatch-zipapp.json's {DECLARATION!r}"
    if not isinstance(document, Mapping) or not set(document) <= set(_KEYS):
        unknown = sorted(set(document) - set(_KEYS)) if isinstance(document, Mapping) else []
        message = f"{where} is not {{{', '.join(map(repr, _KEYS))}: [strings]}}" + (
            f" (unknown key(s) {', '.join(map(repr, unknown))})" if unknown else ""
        )
        raise SystemdError(message + ": rebuild it with this hatch-zipapp")
    lists: dict[str, Sequence[str]] = {}
    for key in _KEYS:
        value = document.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise SystemdError(f"{where}[{key!r}] is not a list of strings: rebuild it with this hatch-zipapp")
        lists[key] = value
    return Confinement(
        tuple(sorted({check_write(p, f"{where}[write] {p!r}") for p in lists[CONFINE_WRITE]})),
        tuple(
            sorted({parse_connect(t, f"{where}[connect] {t!r}") for t in lists[CONFINE_CONNECT]}, key=lambda e: e.text)
        ),
        tuple(sorted({parse_bind(t, f"{where}[bind] {t!r}") for t in lists[CONFINE_BIND]}, key=lambda e: e.text)),
    )


def _bind(units: Units, confinement: Confinement) -> tuple[Endpoint, ...]:
    """What the service binds: the declared addresses; for a server run with neither a socket unit (the socket is
    inherited: nothing to bind) nor a declared address, its default address."""
    if confinement.bind or units.socket is not None or not units.command or units.command[0] not in _SERVING:
        return confinement.bind
    return _command_binds(units.command[1:]) or (parse_bind(DEFAULT_BIND, "the default address"),)


def _command_binds(args: Sequence[str]) -> tuple[Endpoint, ...]:
    """The addresses ``serve --bind ADDR:PORT`` names (gunicorn's ``-b``/``--bind``, repeatable), which it binds
    instead of the default; a value that is not an IP address and a port (a host name, ``unix:``) is not read."""
    values = [b for a, b in itertools.pairwise(args) if a in ("--bind", "-b")]
    values += [a.removeprefix("--bind=") for a in args if a.startswith("--bind=")]
    found = []
    for value in values:
        try:
            found.append(parse_bind(value, "--command's --bind"))
        except SystemdError:
            continue
    return tuple(sorted(set(found), key=lambda e: e.port))


def _host_names(confinement: Confinement) -> list[str]:
    return [e.text for e in confinement.connect if e.socket is None and not e.addresses]


def check(units: Units, confinement: Confinement) -> None:
    """Refuse what cannot be confined as asked: a writable directory holding the site's code, a host name with no
    network named for it."""
    code = [("the .pyz", units.pyz), *([("the prepared root", units.prepared_root)] if units.prepared_root else [])]
    code += [("the interpreter", units.python)] if units.python.startswith("/") else []
    for path in confinement.write:
        for what, where in code:
            if where == path or where.startswith(path.rstrip("/") + "/") or path.startswith(where + "/"):
                message = (
                    f"--write (or the .pyz's declaration) {path!r} holds {what} ({where}): the site could rewrite "
                    f"its own code; declare a directory of its own, e.g. {posixpath.dirname(units.pyz)}/media"
                )
                raise SystemdError(message)
    _refuse_host_names(confinement, confinement.networks, "--connect {}")


def check_declared(declared: Confinement, networks: Sequence[str], pyz: str) -> None:
    """Refuse a host name of the .pyz's declaration with no network named for it, saying where it comes from (the
    user typed no --connect): before it is merged with the command line's."""
    source = (
        f"{pyz}'s declaration (hatch-zipapp.json's {DECLARATION!r}: the build's Django settings or "
        f"[tool.hatch.build.targets.zipapp.confine]) connects to {{}}, which"
    )
    _refuse_host_names(declared, networks, source)


def _refuse_host_names(confinement: Confinement, networks: Sequence[str], source: str) -> None:
    names = _host_names(confinement)
    if names and not networks:
        message = (
            f"{source.format(names[0])} names a host: systemd's IPAddressAllow= takes addresses, and resolving it here "
            f"would pin this machine's view of DNS into the unit; name the networks it (and the resolver in the "
            f"server's /etc/resolv.conf) live in with --allow-network CIDR, e.g. --allow-network 10.0.0.0/8, or "
            f"--allow-network any to leave outgoing IP unfiltered (docs/security.md)"
        )
        raise SystemdError(message)


def _allowed(units: Units, confinement: Confinement) -> list[str] | None:
    """IPAddressAllow='s addresses, or None when the IP firewall is left out (clients from anywhere, or `any`)."""
    if "any" in confinement.networks:
        return None
    allowed = {str(a) for e in confinement.connect for a in e.addresses}
    for endpoint in _bind(units, confinement):  # the clients of an address the service listens on itself
        address = endpoint.address
        if address is None or not address.is_loopback:
            return None
        allowed.add(str(address))
    allowed.update(confinement.networks)
    return sorted(allowed, key=lambda a: (":" in a, a))


def notes(units: Units, confinement: Confinement) -> list[str]:
    """What the operator should know about the unit written (printed once, each line on its own)."""
    lines = []
    names = _host_names(confinement)
    if names and "any" not in confinement.networks:
        lines.append(
            f"IPAddressAllow= lists --allow-network {' '.join(confinement.networks)} for {', '.join(names)}: "
            f"host names are not resolved here (the unit is written away from the server)"
        )
    if _allowed(units, confinement) is None:
        why = (
            "--allow-network any"
            if "any" in confinement.networks
            else f"the service listens on {', '.join(e.text for e in _bind(units, confinement))} itself and takes "
            f"clients from any address (give --socket to have systemd listen and filter the site's own traffic)"
        )
        lines.append(f"no IPAddressDeny=: {why}; Landlock's port rules still hold")
    return lines


def environment(units: Units, confinement: Confinement) -> list[str]:
    """The runtime's Landlock request (docs/runtime.md): ZIPAPP_CONFINE and what it may write, connect and bind."""
    ports = sorted({e.port for e in confinement.connect if e.socket is None})
    lines = ["Environment=ZIPAPP_CONFINE=1"]
    # No user site-packages: the dynamic user's home is not resolved behind the hidden /run, and Python's then
    # unexpanded ~/.local/... is relative to the working directory, the state directory the site writes (confine.py
    # refuses to start with it).
    lines.append("Environment=PYTHONNOUSERSITE=1")
    if confinement.write:
        lines.append(f"Environment=ZIPAPP_CONFINE_WRITE={':'.join(confinement.write)}")
    lines.append(f"Environment=ZIPAPP_CONFINE_CONNECT={','.join(map(str, ports))}")
    bound = sorted({e.port for e in _bind(units, confinement)})
    lines.append(f"Environment=ZIPAPP_CONFINE_BIND={','.join(map(str, bound))}")
    if _host_names(confinement):  # resolving a host name is UDP to the resolver (bootstrap/seccomp.py)
        lines.append("Environment=ZIPAPP_CONFINE_UDP=1")
    return lines


def _visible(units: Units, confinement: Confinement) -> tuple[list[str], list[str], list[str], list[str]]:
    """(trees hidden, read-only binds, read-write binds, ReadWritePaths=): what the site needs of the hidden trees
    bound back into them."""
    needed_ro: list[str] = [posixpath.dirname(units.pyz)]
    if units.prepared_root is not None:
        needed_ro.append(units.prepared_root)
    if units.python:
        needed_ro.append(posixpath.dirname(posixpath.dirname(units.python)))  # its prefix: bin/, lib/
    needed_ro += sorted({posixpath.dirname(e.text) for e in confinement.connect if e.socket is not None})
    shown = {t for t in HIDDEN_TREES for p in [*needed_ro, *confinement.write] if p == t or t.startswith(p + "/")}
    trees = [t for t in HIDDEN_TREES if t not in shown]
    read_only = [f"-{p}" for p in _ETC] + [f"-/etc/{units.name}"]
    read_only += [f"-{p}" for p in RUN_SHOWN if _under(p, trees) is not None]
    read_only += [p for p in dict.fromkeys(needed_ro) if _under(p, trees) is not None and p not in _ETC]
    read_write = [f"-{p}" for p in confinement.write if _under(p, trees) is not None]
    read_write += [f"-{p}" for p in _runtime_directories(units) if _under(p, trees) is not None]
    writable = [f"-{p}" for p in confinement.write if _under(p, trees) is None]
    return trees, read_only, read_write, writable


def _runtime_directories(units: Units) -> list[str]:
    """The ``RuntimeDirectory=`` of each of the site's units (the web service's, each worker's and timer's: every
    unit binds those there are, its own among them; `NAME-manage` has none of its own and sees the service's)."""
    return [f"/run/{units.name}", *[f"/run/{units.name}-{t.suffix}" for t in units.tasks]]


def directives(units: Units, confinement: Confinement) -> list[str]:
    """systemd's allow-lists (and the AppArmor profile's name) for the service, each line with why."""
    trees, read_only, read_write, writable = _visible(units, confinement)
    lines = [
        "",
        "# Confinement (--confine; docs/security.md): the runtime applies Landlock (the ZIPAPP_CONFINE* variables),",
        "# systemd hides what the site does not need and refuses what it does not use, AppArmor holds it to the same.",
        *environment(units, confinement),
        "# Other services' state, caches, logs, sites and sockets, and the host's configuration: empty here, but for",
        "# what the site needs (its own state, cache and runtime directories; the few /etc files Python reads;",
        "# systemd's notify and journal sockets, the resolver's, the declared sockets' directories).",
        f"TemporaryFileSystem={' '.join(f'{t}:ro' for t in trees)}",
        f"BindReadOnlyPaths={' '.join(read_only)}",
    ]
    if read_write:
        lines.append(f"BindPaths={' '.join(read_write)}")
    if writable:
        lines.append(f"ReadWritePaths={' '.join(writable)}")
    lines += [
        "# The host's /dev/shm and System V IPC are not shared.",
        "TemporaryFileSystem=/dev/shm:mode=1777,nosuid,nodev,noexec",
        "PrivateIPC=yes",
        "PrivateMounts=yes",
    ]
    allowed = _allowed(units, confinement)
    if allowed is not None:
        lines += ["# IP: only the declared endpoints (and the clients of a loopback address it listens on itself)."]
        lines.append("IPAddressDeny=any")
        if allowed:
            lines.append(f"IPAddressAllow={' '.join(allowed)}")
    ports = sorted({e.port for e in _bind(units, confinement)})
    lines += [
        "# Binding: only its own port (systemd >= 249 built with its BPF framework; Landlock holds it elsewhere)."
    ]
    lines += [f"SocketBindAllow=tcp:{port}" for port in ports]
    lines += [
        "SocketBindDeny=any",
        "# Landlock's own calls: not in systemd 252's @system-service (refused, the runtime could not confine).",
        f"SystemCallFilter={' '.join(LANDLOCK_CALLS)}",
        f"SystemCallFilter=~{' '.join(REFUSED_CALLS)}",
        f"AppArmorProfile={profile_name(units)}",
    ]
    return lines


def profile_name(units: Units) -> str:
    return f"hatch-zipapp-{units.name}"


def _tree(path: str, modes: str) -> list[str]:
    return [f"  {path}/ r,", f"  {path}/** {modes},"]


def apparmor(units: Units, confinement: Confinement) -> str:
    """``NAME.apparmor``: the AppArmor profile ``hatch-zipapp-NAME`` with the unit's allow-list."""
    name, profile = units.name, profile_name(units)
    rules = [
        f"# AppArmor profile for {name}.service, its workers and timers and {name}-manage (AppArmorProfile={profile}),",
        "# written by `hatch-zipapp systemd --confine`. Load it before starting the units (docs/security.md):",
        f"#   install -m 0644 {name}.apparmor /etc/apparmor.d/{profile}",
        f"#   apparmor_parser -r -W /etc/apparmor.d/{profile}",
        "abi <abi/3.0>,",
        "include <tunables/global>",
        "",
        f"profile {profile} flags=(attach_disconnected,mediate_deleted) {{",
        "  include <abstractions/base>",
        "  include <abstractions/nameservice>",
        "  include <abstractions/ssl_certs>",
        "  include <abstractions/openssl>",
        "  # READY=1 (Type=notify) and the journal.",
        "  @{run}/systemd/notify w,",
        "",
        "  # The interpreter and the system's libraries: read and map; nothing else runs.",
    ]
    if units.python:
        rules += [f"  {units.python} mrix,", f"  {units.python}.[0-9]* mrix,"]
    else:
        rules.append("  # An embedded Python: the .pyz is a sh launcher that runs these, then its own interpreter.")
        rules += [f"  /{{usr/,}}bin/{{{','.join(_LAUNCHER_TOOLS)}}} mrix,"]
    rules += [
        "  /{usr/,}lib{,32,64}/** mr,",
        "  /usr/local/lib/** mr,",
        "  /usr/share/zoneinfo/** r,",
        "  /etc/python3*/** r,",
        "  /etc/mime.types r,",
        "  /etc/localtime r,",
        "  /etc/timezone r,",
        *_tree(f"/etc/{name}", "r"),
        "",
        "  # The .pyz (and the releases beside it) and its code.",
        f"  {units.pyz} r,",
        *_tree(posixpath.dirname(units.pyz), "r"),
    ]
    tasks = [t.suffix for t in units.tasks]
    units_names = [name, *[f"{name}-{s}" for s in tasks]]
    if units.prepared_root is not None:
        rules += *_tree(units.prepared_root, "mr"), f"  {units.prepared_root}/**/bin/python* mrix,"
    else:
        rules += ["  # Extracted by the service into its cache directory: written, then mapped."]
        rules += _tree(f"/var/cache/{{,private/}}{name}", "mrwlk")
        rules.append(f"  /var/cache/{{,private/}}{name}/**/bin/python* mrix,")
    rules += [
        "",
        "  # Its state, runtime and declared directories; its credentials; its private /tmp and /dev/shm.",
        *_tree(f"/var/lib/{{,private/}}{name}", "rwlk"),
        *[line for n in units_names for line in _tree(f"/run/{n}", "rwlk")],
        *[
            line
            for n in [*units_names, f"{name}-manage-[0-9]*"]
            for line in _tree(f"/run/credentials/{n}.service", "r")
        ],
        *[line for p in confinement.write for line in _tree(p, "rwlk")],
        *[f"  {e.text} rw," for e in confinement.connect if e.socket is not None],
        "  owner /tmp/** rwlk,",
        "  owner /var/tmp/** rwlk,",
        "  owner /dev/shm/** rwlk,",
        "  owner @{PROC}/@{pid}/** r,",
        "  @{PROC}/sys/kernel/random/* r,",
        "  @{sys}/devices/system/cpu/** r,",
        "",
        "  # The network: TCP over IPv4 and IPv6 (UDP too for a declared host name: DNS), Unix sockets; never raw,",
        "  # packet or netlink sockets.",
        "  network inet stream,",
        "  network inet6 stream,",
        *(["  network inet dgram,", "  network inet6 dgram,"] if _host_names(confinement) else []),
        "  network unix stream,",
        "  network unix dgram,",
        "  deny network raw,",
        "  deny network packet,",
        "  deny network netlink,",
        "",
        "  # No capabilities, no mounts; signals and ptrace only among its own processes (and systemd's signals).",
        "  deny capability,",
        "  deny mount,",
        "  deny umount,",
        "  deny pivot_root,",
        f"  signal (send, receive) peer={profile},",
        "  signal (receive) peer=unconfined,",
        f"  ptrace (read, readby, trace, tracedby) peer={profile},",
        "}",
        "",
    ]
    return "\n".join(rules)
