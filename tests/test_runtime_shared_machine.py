"""The runtime on a machine shared with other users (issue 12): each attack of the review, reproduced with real second
users, ends with the attacker's code never run and, where the start is refused, one line on stderr.

The tests create two users (``useradd``, removed after) and run the .pyz as them with ``setpriv``, through the
system's ``/usr/bin/python3`` (pytest's own interpreter may live where they cannot read). They need root: without it
they are skipped, saying so. The attacker's code, wherever planted, writes a marker file: its absence is the proof.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers import IndexServer, build, make_project, make_wheel, pylock_text

PYTHON = "/usr/bin/python3"

pytestmark = [
    pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="creates users: needs root"),
    pytest.mark.skipif(not all(map(shutil.which, ["useradd", "userdel", "setpriv"])), reason="no useradd/setpriv"),
    pytest.mark.skipif(not os.path.exists(PYTHON), reason=f"no {PYTHON} for the other users to run"),
]


@dataclass(frozen=True)
class User:
    name: str
    uid: int
    gid: int
    home: Path


@dataclass(frozen=True)
class Machine:
    """Two ordinary users, a directory all can read (the .pyz and the users' homes live there) and a .pyz."""

    alice: User
    mallory: User
    top: Path
    pyz: Path
    marker: Path  # the attacker's code writes it

    def run(
        self, user: User | None, *args: str, umask: int | None = None, **env: str
    ) -> subprocess.CompletedProcess[str]:
        """Run the .pyz (args after it) as ``user`` (None: root), with a clean environment plus ``env``."""
        home = user.home if user else self.top / "root-home"
        environment = {"PATH": "/usr/bin:/bin", "HOME": os.fspath(home), **env}
        command = [PYTHON, os.fspath(self.pyz), *args]
        if umask is not None:
            command = ["sh", "-c", f'umask {umask:03o}; exec "$@"', "sh", *command]
        if user is not None:
            command = ["setpriv", f"--reuid={user.uid}", f"--regid={user.gid}", "--clear-groups", *command]
        return subprocess.run(command, env=environment, capture_output=True, text=True, timeout=120, check=False)

    def as_user(self, user: User, code: str) -> subprocess.CompletedProcess[str]:
        """Run Python ``code`` as ``user`` (the attacker's own actions)."""
        command = ["setpriv", f"--reuid={user.uid}", f"--regid={user.gid}", "--clear-groups", PYTHON, "-c", code]
        env = {"PATH": "/usr/bin:/bin", "HOME": os.fspath(user.home)}
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=False)


def _user(name: str, top: Path) -> User:
    subprocess.run(["useradd", "--no-create-home", "--shell", "/bin/sh", name], check=True, timeout=60)
    home = top / name
    home.mkdir(mode=0o755)
    import pwd

    entry = pwd.getpwnam(name)
    os.chown(home, entry.pw_uid, entry.pw_gid)
    return User(name, entry.pw_uid, entry.pw_gid, home)


@pytest.fixture
def machine(tmp_path: Path, wheelhouse: Path, index: IndexServer) -> Iterator[Machine]:
    alpha = make_wheel(wheelhouse, "alpha", "1.0")
    project = make_project(tmp_path / "p", dependencies=["alpha"])
    (project / "pylock.toml").write_text(pylock_text([[alpha]], base_url=index.url))
    built = build(project)
    suffix = secrets.token_hex(3)
    top = Path(f"/tmp/hz-shared-{suffix}")
    top.mkdir(mode=0o755)
    os.chmod(top, 0o755)  # noqa: S103 - every user reads the .pyz here
    names = [f"hzalice{suffix}", f"hzmallory{suffix}"]
    created: list[str] = []
    try:
        for name in names:
            created.append(name)
            users = _user(name, top)
            if name.startswith("hzalice"):
                alice = users
            else:
                mallory = users
        pyz = top / "app.pyz"
        shutil.copy(built, pyz)
        os.chmod(pyz, 0o755)  # noqa: S103 - a .pyz every user runs
        (top / "root-home").mkdir(mode=0o700)
        (top / "marks").mkdir()
        os.chmod(top / "marks", 0o1777)  # noqa: S103 - whoever runs the attacker's code can leave the marker
        yield Machine(alice, mallory, top, pyz, top / "marks" / "pwned")
    finally:
        for name in created:
            subprocess.run(["userdel", name], check=False, timeout=60, capture_output=True)
        shutil.rmtree(top, ignore_errors=True)


def _evil(marker: Path) -> str:
    """The attacker's replacement of the application's code: it leaves a marker, then behaves normally."""
    return f"open({os.fspath(marker)!r}, 'a').write('ran\\n')\nfrom app.cli_real import main\n"


def _plant(machine: Machine, user: User, extraction: Path) -> subprocess.CompletedProcess[str]:
    """As ``user``: make an extraction's code the attacker's (writable by all, cli.py replaced)."""
    code = (
        "import os, shutil\n"
        f"tree = {os.fspath(extraction)!r}\n"
        "for parent, dirs, files in os.walk(tree):\n"
        "    os.chmod(parent, 0o777)\n"
        "    for f in files: os.chmod(os.path.join(parent, f), 0o777)\n"
        "cli = os.path.join(tree, 'site-packages', 'app', 'cli.py')\n"
        "shutil.copy(cli, cli.replace('cli.py', 'cli_real.py'))\n"
        f"open(cli, 'w').write({_evil(machine.marker)!r})\n"
        "for parent, dirs, files in os.walk(os.path.join(tree, 'site-packages', 'app')):\n"
        "    for d in dirs:\n"
        "        if d == '__pycache__': shutil.rmtree(os.path.join(parent, d))\n"
    )
    return machine.as_user(user, code)


def _one_line(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert result.returncode == 1, result
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr


def _extraction(root: Path) -> Path:
    (found,) = [p for p in root.iterdir() if p.name.startswith("app_")]
    return found


def test_a_sticky_shared_root_gives_each_user_a_private_directory(machine: Machine) -> None:
    """``ZIPAPP_ROOT=/tmp/shared`` (1777): mallory extracts, makes her extraction writable by all and replaces
    ``app/cli.py``; alice and root then run the .pyz with the same root: each uses a private directory of their own
    (0700), extracted by themselves, and mallory's code never runs."""
    shared = machine.top / "shared"
    shared.mkdir()
    os.chmod(shared, 0o1777)  # noqa: S103 - the shared root of the attack
    assert machine.run(machine.mallory, ZIPAPP_ROOT=os.fspath(shared)).returncode == 0
    mine = shared / f"hatch-zipapp-{machine.mallory.uid}"
    assert _plant(machine, machine.mallory, _extraction(mine)).returncode == 0
    # Even its owner's start refuses an extraction writable by others:
    again = machine.run(machine.mallory, ZIPAPP_ROOT=os.fspath(shared))
    assert not machine.marker.exists()
    _one_line(again, "refusing to run", "writable by group or others")
    results = [machine.run(user, ZIPAPP_ROOT=os.fspath(shared)) for user in (machine.alice, None)]
    assert not machine.marker.exists()
    for user, result in zip((machine.alice, None), results, strict=True):
        assert result.returncode == 0 and result.stdout.endswith("app ok\n"), result.stderr
        private = shared / f"hatch-zipapp-{user.uid if user else 0}"
        assert private.stat().st_uid == (user.uid if user else 0)
        assert private.stat().st_mode & 0o777 == 0o700


def test_a_private_directory_planted_by_another_user_is_refused(machine: Machine) -> None:
    """mallory makes alice's private directory first (``hatch-zipapp-<alice's uid>``, holding her own tampered
    extraction, or a link to one): alice is refused in one line, and nothing of mallory's runs."""
    shared = machine.top / "shared"
    shared.mkdir()
    os.chmod(shared, 0o1777)  # noqa: S103 - the shared root of the attack
    assert machine.run(machine.mallory, ZIPAPP_ROOT=os.fspath(shared)).returncode == 0
    theirs = shared / f"hatch-zipapp-{machine.mallory.uid}"
    assert _plant(machine, machine.mallory, _extraction(theirs)).returncode == 0
    target = shared / f"hatch-zipapp-{machine.alice.uid}"
    for planted in ("copy", "link"):
        make = (
            f"import shutil; shutil.copytree({os.fspath(theirs)!r}, {os.fspath(target)!r}, symlinks=True)"
            if planted == "copy"
            else f"import os; os.symlink({os.fspath(theirs)!r}, {os.fspath(target)!r})"
        )
        assert machine.as_user(machine.mallory, make).returncode == 0
        result = machine.run(machine.alice, ZIPAPP_ROOT=os.fspath(shared))
        assert not machine.marker.exists()
        if planted == "copy":
            _one_line(result, f"refusing to extract app into {target}", "another user")
        else:
            _one_line(result, f"refusing to extract app into {target}", "not a directory")
        subprocess.run(["rm", "-rf", os.fspath(target)], check=True, timeout=60)


def test_a_root_writable_by_others_is_refused(machine: Machine) -> None:
    """A root that is not sticky but writable by all (0777): mallory plants ``ROOT/app_<id>`` as a link to her own
    tree and ``ROOT/.app_<id>.lock`` as a link to a file of root's. alice and root are refused in one line: the link
    is not followed, the file is not created, mallory's code does not run."""
    open_root = machine.top / "open"
    open_root.mkdir()
    os.chmod(open_root, 0o777)  # noqa: S103 - the shared root of the attack
    theirs = machine.mallory.home / "r"
    assert machine.run(machine.mallory, ZIPAPP_ROOT=os.fspath(theirs)).returncode == 0
    extraction = _extraction(theirs)
    assert _plant(machine, machine.mallory, extraction).returncode == 0
    victim = machine.top / "root-home" / "created-by-root"
    plant = (
        "import os\n"
        f"os.symlink({os.fspath(extraction)!r}, {os.fspath(open_root / extraction.name)!r})\n"
        f"os.symlink({os.fspath(victim)!r}, {os.fspath(open_root / ('.' + extraction.name + '.lock'))!r})\n"
    )
    assert machine.as_user(machine.mallory, plant).returncode == 0
    results = [machine.run(user, ZIPAPP_ROOT=os.fspath(open_root)) for user in (None, machine.alice)]
    assert not victim.exists() and not machine.marker.exists()
    for result in results:
        _one_line(result, f"refusing to run app from $ZIPAPP_ROOT={open_root}", "writable by group or others")


def test_a_root_owned_by_another_user_is_refused(machine: Machine) -> None:
    """Root (or alice) pointed at mallory's own root, which holds mallory's tampered extraction: refused in one
    line (it is owned by another user), never run."""
    theirs = machine.mallory.home / "r"
    assert machine.run(machine.mallory, ZIPAPP_ROOT=os.fspath(theirs)).returncode == 0
    assert _plant(machine, machine.mallory, _extraction(theirs)).returncode == 0
    assert machine.as_user(machine.mallory, f"import os; os.chmod({os.fspath(theirs)!r}, 0o755)").returncode == 0
    results = [machine.run(user, ZIPAPP_ROOT=os.fspath(theirs)) for user in (None, machine.alice)]
    assert not machine.marker.exists()
    for result in results:
        _one_line(result, "refusing to run app from", f"owned by another user (uid {machine.mallory.uid})")


@pytest.mark.parametrize("bytecode", ["in the archive", "compiled at extraction"])
def test_under_umask_000_nothing_is_writable_by_others(
    machine: Machine, bytecode: str, tmp_path: Path, wheelhouse: Path, index: IndexServer
) -> None:
    """alice extracts under ``umask 000``: her root is 0700, the extraction 0755 and every directory below it 0555
    (``__pycache__`` included) and every file 0444 (or 0555), the lock 0600; mallory can neither replace ``cli.py``
    nor open the lock (so she cannot hold it to make alice's starts wait)."""
    if bytecode == "compiled at extraction":
        alpha = make_wheel(wheelhouse, "alpha", "1.0")
        project = make_project(tmp_path / "lazy", dependencies=["alpha"], zipapp="bytecode = false")
        (project / "pylock.toml").write_text(pylock_text([[alpha]], base_url=index.url))
        shutil.copy(build(project), machine.pyz)
    root = machine.alice.home / "cache"
    compile_pyc = {"SHIV_COMPILE_PYC": "1"} if bytecode == "compiled at extraction" else {}
    result = machine.run(machine.alice, umask=0o000, ZIPAPP_ROOT=os.fspath(root), **compile_pyc)
    assert result.returncode == 0, result.stderr
    assert list(root.glob("app_*/site-packages/app/__pycache__/cli.*.pyc"))
    assert root.stat().st_mode & 0o777 == 0o700
    extraction = _extraction(root)
    assert extraction.stat().st_mode & 0o777 == 0o755
    modes = {p.stat().st_mode & 0o777 for p in extraction.rglob("*") if p.is_dir()}
    assert modes == {0o555}
    files = {p.stat().st_mode & 0o777 for p in extraction.rglob("*") if p.is_file()}
    assert files <= {0o444, 0o555} and 0o444 in files
    lock = root / f".{extraction.name}.lock"
    assert lock.stat().st_mode & 0o777 == 0o600
    cli = extraction / "site-packages" / "app" / "cli.py"
    attack = machine.as_user(
        machine.mallory, f"open({os.fspath(cli)!r}, 'w').write('x')\nopen({os.fspath(lock)!r}, 'r')\n"
    )
    assert attack.returncode != 0 and "PermissionError" in attack.stderr
    assert machine.run(machine.alice, ZIPAPP_ROOT=os.fspath(root)).stdout.endswith("app ok\n")


def test_a_lock_file_that_is_a_link_is_not_followed(machine: Machine) -> None:
    """Even in a root of the user's own, a lock file that is a symbolic link is refused (``O_NOFOLLOW``), and the
    file it points to is not created."""
    root = machine.top / "mine"
    assert machine.run(None, ZIPAPP_ROOT=os.fspath(root)).returncode == 0
    extraction = _extraction(root)
    lock = root / f".{extraction.name}.lock"
    lock.unlink()
    victim = machine.top / "root-home" / "created-through-a-link"
    lock.symlink_to(victim)
    _one_line(machine.run(None, ZIPAPP_ROOT=os.fspath(root)), f"refusing the lock file {lock}", "symbolic link")
    assert not victim.exists()


# -- a read-only, pre-extracted deploy (issue 12, item 3) ---------------------------------------------------------


def _tree(root: Path) -> dict[str, tuple[int, int, int]]:
    """Every path under ``root``: (mode, owner, modification time in ns)."""
    return {
        os.fspath(p.relative_to(root)): (p.lstat().st_mode, p.lstat().st_uid, p.lstat().st_mtime_ns)
        for p in [root, *root.rglob("*")]
    }


def test_a_prepared_root_is_a_warm_start_and_the_service_cannot_change_it(machine: Machine) -> None:
    """The deploy (root) prepares the extraction with ``ZIPAPP_PREPARE=1``: it extracts, says where, and does not
    run the application. The service (alice) then starts from that root, which it cannot write: a warm start that
    creates nothing (not even a lock file) and changes nothing; its code is not writable by it, and it cannot
    prepare there itself."""
    root = machine.top / "srv" / "extracted"
    prepared = machine.run(None, ZIPAPP_ROOT=os.fspath(root), ZIPAPP_PREPARE="1")
    assert prepared.returncode == 0, prepared.stderr
    (extraction,) = [p for p in root.iterdir() if p.name.startswith("app_")]
    assert prepared.stdout == f"app.pyz: prepared {extraction}\n"  # and the application did not run
    assert root.stat().st_mode & 0o777 == 0o755 and (machine.top / "srv").stat().st_mode & 0o777 == 0o755
    before = _tree(root)
    result = machine.run(machine.alice, "alpha", ZIPAPP_ROOT=os.fspath(root))
    assert result.returncode == 0 and result.stdout.endswith("app ok\n"), result.stderr
    cli = extraction / "site-packages" / "app" / "cli.py"
    attack = machine.as_user(machine.alice, f"open({os.fspath(cli)!r}, 'w').write('x')")
    assert attack.returncode != 0 and "PermissionError" in attack.stderr
    again = machine.run(machine.alice, ZIPAPP_ROOT=os.fspath(root), ZIPAPP_PREPARE="1")
    _one_line(again, f"cannot prepare {extraction.name} in {root}: it is not writable by this user")
    assert _tree(root) == before


def test_a_read_only_root_without_this_build_says_how_to_prepare_it(machine: Machine) -> None:
    root = machine.top / "srv" / "extracted"
    root.mkdir(parents=True)
    _one_line(
        machine.run(machine.alice, ZIPAPP_ROOT=os.fspath(root)),
        f"{root} is read-only and holds no extraction of this build",
        f"ZIPAPP_ROOT={root} ZIPAPP_PREPARE=1 {machine.pyz}",
    )
    assert list(root.iterdir()) == []


def test_a_read_only_mount_holding_the_extraction_is_a_warm_start(machine: Machine) -> None:
    """A root prepared, then mounted read-only (as systemd's ``ReadOnlyPaths=`` does): even root starts from it,
    without writing (before: refused, "not a writable directory")."""
    prepared, mounted = machine.top / "prepared", machine.top / "mounted"
    assert machine.run(None, ZIPAPP_ROOT=os.fspath(prepared), ZIPAPP_PREPARE="1").returncode == 0
    mounted.mkdir()
    bind = subprocess.run(["mount", "--bind", prepared, mounted], capture_output=True, text=True, timeout=60)
    if bind.returncode != 0:
        pytest.skip(f"cannot bind-mount here: {bind.stderr.strip()}")
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", mounted], check=True, timeout=60)
        assert not os.access(mounted, os.W_OK)
        for user in (None, machine.alice):
            result = machine.run(user, "alpha", ZIPAPP_ROOT=os.fspath(mounted))
            assert result.returncode == 0 and result.stdout.endswith("app ok\n"), result.stderr
    finally:
        subprocess.run(["umount", mounted], check=False, timeout=60)


def test_a_private_root_is_opened_to_the_service_by_preparing_it(machine: Machine) -> None:
    """A root that root's own earlier starts made private (0700) cannot be read by the service: one line saying how
    to prepare it; ``ZIPAPP_PREPARE=1`` then makes it 0755, and the service starts."""
    root = machine.top / "srv" / "extracted"
    root.parent.mkdir(mode=0o755)
    assert machine.run(None, ZIPAPP_ROOT=os.fspath(root)).returncode == 0
    assert root.stat().st_mode & 0o777 == 0o700
    _one_line(machine.run(machine.alice, ZIPAPP_ROOT=os.fspath(root)), "Permission denied", "ZIPAPP_PREPARE=1")
    assert machine.run(None, ZIPAPP_ROOT=os.fspath(root), ZIPAPP_PREPARE="1").returncode == 0
    assert root.stat().st_mode & 0o777 == 0o755
    assert machine.run(machine.alice, ZIPAPP_ROOT=os.fspath(root)).stdout.endswith("app ok\n")


def test_the_user_cannot_write_into_its_extraction_and_cleanup_still_deletes_it(
    machine: Machine, tmp_path: Path, wheelhouse: Path, index: IndexServer
) -> None:
    """Issue 16: an upload into a ``MEDIA_ROOT`` inside the package, or any other write into the extraction, fails at
    once (every directory below the extraction is 0555) instead of being deleted with the extraction at the next
    deploy; the next deploy's cleanup, as the same ordinary user, still deletes the old extraction whole."""
    root = machine.alice.home / "cache"
    assert machine.run(machine.alice, ZIPAPP_ROOT=os.fspath(root)).returncode == 0
    first = _extraction(root)
    package = first / "site-packages" / "app"
    for code in (f"import os; os.mkdir({os.fspath(package / 'media')!r})",
                 f"open({os.fspath(package / 'upload.bin')!r}, 'wb')"):  # fmt: skip
        attempt = machine.as_user(machine.alice, code)
        assert attempt.returncode == 1 and "PermissionError" in attempt.stderr, attempt
    assert not (package / "media").exists() and not (package / "upload.bin").exists()
    alpha = make_wheel(wheelhouse, "alpha", "1.0")
    project = make_project(tmp_path / "next", dependencies=["alpha"], version="2.0")
    (project / "pylock.toml").write_text(pylock_text([[alpha]], base_url=index.url))
    shutil.copy(build(project), machine.pyz)  # the next deploy: another build of the same application
    result = machine.run(machine.alice, ZIPAPP_ROOT=os.fspath(root), ZIPAPP_KEEP="1")
    assert result.returncode == 0, result.stderr
    assert not first.exists()
    assert [p.name for p in root.iterdir() if not p.name.endswith(".lock")] == [_extraction(root).name]
