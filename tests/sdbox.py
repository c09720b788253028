"""A real systemd for the tests: Debian 12's systemd 252 booted as PID 1 of a ``systemd-nspawn`` container.

The machines this project is developed and tested on do not run systemd as their own PID 1 (there is no machined and
no host systemd to ask for a scope), so the box is booted the way ``../shared/systemd-box/boot.sh`` showed works:
``systemd-nspawn --boot --register=no --keep-unit --private-network`` in cgroups of its own, the container's tree a
pure cgroup2 one (``SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1``), commands entered with ``nsenter`` into every namespace of
the box's PID 1.

- The root filesystem is built once by ``debootstrap`` (minbase and :data:`PACKAGES`, ~2.5 min, ~400 MB) into
  ``$HATCH_ZIPAPP_SDBOX_DIR`` (default ``/var/tmp/hatch-zipapp-sdbox``), rebuilt when the package list changes,
  under a lock; a box boots from it in about a second, ``--volatile=overlay``: every box starts from the same clean
  tree and what it wrote is gone when it stops.
- The box has its own loopback only: nothing in it reaches the host's network or is reached from it.
- Where a box cannot be had (not root, no ``systemd-nspawn``/``debootstrap`` and no way to install them, a kernel
  without what nspawn needs), :func:`unavailable` says why; the tests skip with that reason on a developer's
  machine and fail under ``CI=true``, where ``.ci/run`` installs what is needed.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

__all__ = ["PACKAGES", "Box", "box", "required", "rootfs", "unavailable", "unique"]

#: The box's packages: systemd itself, python3 (3.11, the interpreter the .pyz runs on), curl for probes from inside,
#: PostgreSQL for a site that uses one, iproute2 (`ss`) and procps (`ps`) for the tests' own checks.
PACKAGES = (
    "systemd",
    "systemd-sysv",
    "dbus",
    "python3",
    "curl",
    "ca-certificates",
    "iproute2",
    "procps",
    "postgresql",
    "sudo",
)
DIRECTORY = Path(os.environ.get("HATCH_ZIPAPP_SDBOX_DIR", "/var/tmp/hatch-zipapp-sdbox"))
#: Debian's archive, for debootstrap (the only thing fetched from outside, once).
MIRROR = os.environ.get("HATCH_ZIPAPP_SDBOX_MIRROR", "http://deb.debian.org/debian")
PATH_IN = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#: How long a box may live at most (a test run that dies leaves no box behind for long).
LIFETIME = 3 * 3600


def required() -> None:
    """In a test: skip, saying why, when no box can be booted here; fail under ``CI=true``, where ``.ci/run`` installs
    what is needed."""
    reason = unavailable()
    if reason is not None:
        import pytest

        if os.environ.get("CI"):
            pytest.fail(f"no systemd box in CI: {reason}")
        pytest.skip(reason)


def unavailable() -> str | None:
    """Why no box can be booted here, or None."""
    if os.geteuid() != 0:
        return "a systemd box needs root (systemd-nspawn)"
    if not Path("/proc/self/task").is_dir():
        return "no /proc"
    if Path("/proc/1/comm").read_text().strip() == "systemd":
        return "this machine runs systemd as PID 1: the box's way (no machined, own cgroups) is for machines without"
    if not _host_tools():
        return "systemd-nspawn and debootstrap are not installed and apt-get could not install them"
    return None


def _host_tools() -> bool:
    if shutil.which("systemd-nspawn") and shutil.which("debootstrap"):
        return True
    if not shutil.which("apt-get"):
        return False
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], env=env, timeout=300, check=False, capture_output=True)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "systemd-container", "debootstrap"],
        env=env,
        timeout=600,
        check=False,
        capture_output=True,
    )
    return bool(shutil.which("systemd-nspawn") and shutil.which("debootstrap"))


def rootfs() -> Path:
    """The root filesystem, built once (minbase + :data:`PACKAGES`) and cached; rebuilt when the list changes."""
    wanted = ",".join(sorted(PACKAGES))
    key = hashlib.sha256(wanted.encode()).hexdigest()[:12]
    root = DIRECTORY / f"rootfs-{key}"
    marker = root / ".hatch-zipapp-rootfs"
    if marker.is_file():
        return root
    DIRECTORY.mkdir(mode=0o700, parents=True, exist_ok=True)
    with open(DIRECTORY / "rootfs.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if marker.is_file():
            return root
        building = root.with_name(root.name + ".new")
        shutil.rmtree(building, ignore_errors=True)
        log = DIRECTORY / "debootstrap.log"
        with log.open("wb") as out:
            result = subprocess.run(
                ["debootstrap", "--variant=minbase", f"--include={wanted}", "bookworm", building, MIRROR],
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=840,
                check=False,
            )
        if result.returncode != 0:
            tail = log.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"debootstrap failed (exit {result.returncode}), see {log}:\n{tail}")
        (building / "etc/hostname").write_text("sdbox\n")
        # The box's PostgreSQL cluster is created by the tests that need one, not started at every boot.
        for wants in (building / "etc/systemd/system/multi-user.target.wants").glob("postgresql*"):
            wants.unlink()
        (building / ".hatch-zipapp-rootfs").write_text(wanted + "\n")
        for old in DIRECTORY.glob("rootfs-*"):
            if old != building and not old.name.endswith(".new"):
                shutil.rmtree(old, ignore_errors=True)
        building.rename(root)
    return root


def _cgroup_parents() -> list[Path]:
    """Where the box's own cgroups go: each mounted hierarchy nspawn uses (the host's hybrid layout has two)."""
    found = []
    for mount in (Path("/sys/fs/cgroup"), Path("/sys/fs/cgroup/unified"), Path("/sys/fs/cgroup/systemd")):
        try:
            kind = subprocess.run(
                ["stat", "-fc", "%T", mount], capture_output=True, text=True, check=False, timeout=10
            ).stdout.strip()
        except OSError:
            continue
        if kind in {"cgroup2fs", "cgroupfs"}:
            found.append(mount)
    return found


def unique(name: str) -> str:
    """``name`` made unique on this machine: the pytest-xdist worker (``gw0``...) and this process's PID appended, so
    that boxes of parallel workers and of concurrent runs (another checkout) never share a machine name or cgroup."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    return "-".join(part for part in (name, worker, str(os.getpid())) if part)


class Box:
    """One booted container: :meth:`run` a command in it, :meth:`put` a file into it, :meth:`stop` it.

    ``name`` is a label; the box's machine name (:attr:`name`) is :func:`unique`'s, so tests need not choose names that
    differ between workers."""

    def __init__(self, name: str, root: Path, log: Path, binds: Sequence[tuple[Path, str]] = ()) -> None:
        self.label, self.name, self.root, self.log = name, unique(name), root, log
        self.binds = list(binds)  # (host directory, its path in the box), read-only
        self._process: subprocess.Popen[bytes] | None = None
        self.cgroups = [parent / f"hatch-zipapp-{name}" for parent in _cgroup_parents()]

    # Life.
    def up(self, timeout: float = 120) -> None:
        for cgroup in self.cgroups:
            cgroup.mkdir(exist_ok=True)
        cgroups = " ".join(shlex.quote(os.fspath(c)) for c in self.cgroups)
        nspawn = [
            "timeout",
            str(LIFETIME),
            "systemd-nspawn",
            f"--directory={self.root}",
            f"--machine={self.name}",
            "--boot",
            "--register=no",
            "--keep-unit",
            "--private-network",
            "--console=read-only",
            "--volatile=overlay",
            # nspawn 252's own seccomp filter refuses bpf (the IP firewall of IPAddressDeny=) and Landlock (ENOSYS) to
            # the box's services: allowed, as a host systemd allows them to its own
            "--system-call-filter=bpf landlock_create_ruleset landlock_add_rule landlock_restrict_self",
            *[f"--bind-ro={os.fspath(host)}:{inside}" for host, inside in self.binds],
        ]
        enter = f'for cg in {cgroups}; do echo $$ > "$cg/cgroup.procs"; done; exec "$@"'
        with self.log.open("wb") as out:
            self._process = subprocess.Popen(
                ["sh", "-c", enter, "sh", *nspawn],
                env={**os.environ, "SYSTEMD_NSPAWN_UNIFIED_HIERARCHY": "1"},
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        state = ""
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                break
            if self.leader() is not None:
                state = self.run(
                    ["systemctl", "is-system-running", "--wait"], timeout=max(1.0, deadline - time.monotonic())
                ).stdout.strip()
                # "offline" (or nothing): the box's systemd does not answer yet (entered before its manager is up,
                # which a loaded machine shows): ask again, until the deadline.
                if state not in {"", "offline", "unknown"}:
                    break
            time.sleep(0.2)
        if state not in {"running", "degraded"}:
            self.stop()
            tail = self.log.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"the systemd box did not boot (state {state!r}); its console:\n{tail}")

    def leader(self) -> int | None:
        """The PID (on the host) of the box's systemd, or None."""
        if self._process is None or self._process.poll() is not None:
            return None
        nspawn = _children(self._process.pid)
        for pid in nspawn:
            if _comm(pid) == "systemd-nspawn":
                for child in _children(pid):
                    if _comm(child) == "systemd":
                        return child
        return None

    def stop(self) -> None:
        """Power the box off (systemd-nspawn asks its systemd to), SIGKILL after 60 s; remove its cgroups."""
        process = self._process
        if process is not None and process.poll() is None:
            for pid in _children(process.pid):
                if _comm(pid) == "systemd-nspawn":
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=30)
        self._process = None
        for cgroup in self.cgroups:
            if cgroup.is_dir():  # the deepest first: nspawn's payload/ and supervisor/ groups, then the box's own
                for directory in sorted(cgroup.rglob("*"), key=lambda p: len(p.parts), reverse=True):
                    with contextlib.suppress(OSError):
                        directory.rmdir()
            with contextlib.suppress(OSError):
                cgroup.rmdir()

    # Use.
    def run(
        self,
        command: Sequence[str] | str,
        *,
        input: bytes | str | None = None,
        timeout: float = 120,
        check: bool = False,
        env: Mapping[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """``command`` (a list, or a string for ``sh -c``) in every namespace of the box's systemd, with a clean
        environment; not a unit (use ``systemd-run`` inside for that). Text out; ``check`` raises with its output."""
        leader = self.leader()
        if leader is None:
            raise RuntimeError("the systemd box is not running")
        argv = ["sh", "-c", command] if isinstance(command, str) else list(command)
        variables = {"PATH": PATH_IN, "LANG": "C.UTF-8", "SYSTEMD_COLORS": "0", "SYSTEMD_PAGER": "", **(env or {})}
        full = ["nsenter", "-t", str(leader), "-a", "env", "-i", *[f"{k}={v}" for k, v in variables.items()], *argv]
        result = subprocess.run(
            full,
            input=input.encode() if isinstance(input, str) else input,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
        done = subprocess.CompletedProcess(
            argv,
            result.returncode,
            result.stdout.decode(errors="replace"),
            result.stderr.decode(errors="replace"),
        )
        if check and done.returncode != 0:
            message = f"in the box: {argv} exited {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
            raise AssertionError(message)
        return done

    def put(self, source: Path, destination: str, mode: int = 0o644) -> None:
        """The host file ``source`` as the box's file ``destination`` (its directory made), owned by root."""
        directory = os.path.dirname(destination)
        self.run(
            f"mkdir -p {shlex.quote(directory)} && cat > {shlex.quote(destination)}.tmp"
            f" && chmod {mode:o} {shlex.quote(destination)}.tmp"
            f" && mv -f {shlex.quote(destination)}.tmp {shlex.quote(destination)}",
            input=source.read_bytes(),
            check=True,
            timeout=300,
        )

    def write(self, destination: str, text: str, mode: int = 0o644) -> None:
        directory = os.path.dirname(destination)
        self.run(
            f"mkdir -p {shlex.quote(directory)} && cat > {shlex.quote(destination)}"
            f" && chmod {mode:o} {shlex.quote(destination)}",
            input=text,
            check=True,
        )

    def journal(self, unit: str, lines: int = 80) -> str:
        return self.run(["journalctl", "-u", unit, "--no-pager", "-n", str(lines), "-o", "cat"]).stdout

    def show(self, unit: str, *properties: str) -> dict[str, str]:
        out = self.run(["systemctl", "show", unit, *[f"--property={p}" for p in properties]], check=True).stdout
        return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


@contextlib.contextmanager
def box(name: str, log: Path, binds: Sequence[tuple[Path, str]] = ()) -> Iterator[Box]:
    """A booted box (``binds``: host directories seen read-only in it), powered off at the end whatever happened."""
    booted = Box(name, rootfs(), log, binds)
    try:
        booted.up()
        yield booted
    finally:
        booted.stop()


def main(argv: Sequence[str]) -> int:
    """``python -m tests.sdbox CMD [ARG...]``: boot a box, run CMD in it (its output passed through), power it off."""
    if not argv:
        print("usage: python -m tests.sdbox CMD [ARG...]   (e.g. systemctl is-system-running)", file=sys.stderr)
        return 2
    reason = unavailable()
    if reason is not None:
        print(f"tests.sdbox: {reason}", file=sys.stderr)
        return 1
    with box("hz-shell", DIRECTORY / "hz-shell.log") as booted:
        result = booted.run(list(argv), timeout=3600)
    sys.stdout.write(result.stdout)
    sys.stderr.write(result.stderr)
    return result.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
