"""The build cache is trusted as OpenSSH's StrictModes and pip trust theirs: every directory from ``/`` down to the
entry, and the entry, owned by the building user (or root) and writable by no one else, checked through the
descriptor it is then used from; made 0700/0600 whatever the umask. Anything else is refused, in one line naming the
exact directory or file, with advice that fixes the whole cache (and is run here, and the next build succeeds)."""

from __future__ import annotations

import hashlib
import importlib.util
import io
import marshal
import os
import re
import shutil
import subprocess
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from hatch_zipapp.cache import Cache
from hatch_zipapp.errors import CacheError
from tests.helpers import (
    IndexServer,
    build,
    build_fails,
    make_project,
    make_sdist,
    make_wheel,
    pylock_text,
    run_pyz,
    sha256_file,
    umask,
)

pytestmark = [
    pytest.mark.skipif(os.name == "nt", reason="POSIX owners and modes"),
    pytest.mark.skipif(os.geteuid() != 0, reason="files of another user take root (as in CI)"),
]

#: Another user and a group the building user is not in.
OTHER_UID, OTHER_GID = 65534, 4242


@pytest.fixture
def project(tmp_path: Path, wheelhouse: Path, index: IndexServer) -> Path:
    alpha = make_wheel(wheelhouse, "alpha", "1.0")
    project = make_project(tmp_path / "p", dependencies=["alpha"])
    (project / "pylock.toml").write_text(pylock_text([[alpha]], base_url=index.url))
    return project


def _tree(root: Path) -> Iterator[Path]:
    yield root
    yield from sorted(root.rglob("*"))


def _advice(message: str) -> str:
    """The first command the refusal gives (between backquotes)."""
    commands: list[str] = re.findall(r"`([^`]+)`", message)
    assert commands, message
    return commands[0]


def _follow(message: str) -> None:
    subprocess.run(_advice(message), shell=True, check=True, timeout=60)  # noqa: S602 (the refusal's own advice, as a user runs it)


def _refused(project: Path, path: Path, fragment: str, root: Path | None = None) -> str:
    """A build refused with one line naming ``path`` and ``fragment``; nothing in dist/ changed (build_fails)."""
    root = root if root is not None else Path(os.environ["HATCH_ZIPAPP_CACHE_DIR"])
    message = build_fails(project, CacheError, f"Refusing to use the build cache {root}: {path} could ", fragment)
    assert "\n" not in message
    return message


def test_a_build_under_umask_000_makes_every_directory_0700_and_every_file_0600(
    tmp_path: Path, wheelhouse: Path, index: IndexServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every kind of entry (downloads, names, built wheels, bytecode, collectstatic bundles), the cache directory and
    the missing directories above it."""
    alpha = make_wheel(wheelhouse, "alpha", "1.0")
    legacy = make_sdist(wheelhouse, "legacy", "0.3")
    project = make_project(tmp_path / "p", dependencies=["alpha", "legacy"])
    (project / "pylock.toml").write_text(pylock_text([[alpha], [legacy]], base_url=index.url))
    root = tmp_path / "missing" / "above" / "cache"
    monkeypatch.setenv("HATCH_ZIPAPP_CACHE_DIR", str(root))
    with umask(0):
        build(project, tmp_path / "out")
        Cache(root).store_bundle("static", "c" * 64, {"app.css": b"body{}"}, note="site-packages/app/static/")
    assert {path.name for path in root.iterdir()} == {"files", "names", "built", "bytecode", "static"}
    modes = {path: os.lstat(path).st_mode for path in [tmp_path / "missing", tmp_path / "missing" / "above"]}
    modes.update((path, os.lstat(path).st_mode) for path in _tree(root))
    wrong = {
        str(path): f"{mode:o}" for path, mode in modes.items() if mode not in {0o040700, 0o100600}
    }  # directories 0700, plain files 0600: nothing else
    assert wrong == {}
    assert sum(1 for mode in modes.values() if mode == 0o100600) >= 5


@pytest.mark.parametrize("mask", [0o000, 0o002, 0o277], ids=["000", "002", "277"])
def test_every_kind_is_stored_0700_0600_whatever_the_umask(tmp_path: Path, mask: int) -> None:
    """Even a umask that takes the owner's own write bit (0277): each directory and file gets its mode explicitly,
    so every entry is stored and read back."""
    root = tmp_path / "missing" / "cache"
    cache = Cache(root)
    with umask(mask):
        reads = _every_kind(cache)
    assert all(read() is not None for read in reads.values())
    modes = {str(path): f"{os.lstat(path).st_mode:o}" for path in [tmp_path / "missing", *_tree(root)]}
    assert set(modes.values()) == {"40700", "100600"}, modes
    assert sum(mode == "100600" for mode in modes.values()) == 5


def _bytecode_prefix(root: Path) -> Path:
    return sorted((root / "bytecode").iterdir())[0]


_LEVELS: dict[str, Callable[[Path], Path]] = {
    "the-cache": lambda root: root,
    "kind": lambda root: root / "bytecode",
    "prefix": _bytecode_prefix,
    "key": lambda root: sorted(_bytecode_prefix(root).iterdir())[0],
    "files": lambda root: root / "files",
    "files-prefix": lambda root: sorted((root / "files" / "sha256").iterdir())[0],
}


def _foreign_group(path: Path, mode: int) -> None:
    os.chown(path, -1, OTHER_GID)
    path.chmod(mode)


_FAULTS: dict[str, tuple[Callable[[Path], object], str]] = {
    "0777": (lambda p: p.chmod(0o777), "it is writable by others (mode 0777)"),
    "0702": (lambda p: p.chmod(0o702), "it is writable by others (mode 0702)"),
    "1777": (lambda p: p.chmod(0o1777), "it is writable by others (mode 1777)"),
    "0775-foreign-group": (lambda p: _foreign_group(p, 0o775), f"it is writable by group {OTHER_GID} (mode 0775)"),
    "0730-foreign-group": (lambda p: _foreign_group(p, 0o730), f"it is writable by group {OTHER_GID} (mode 0730)"),
    "other-owner": (lambda p: os.chown(p, OTHER_UID, -1), f"it is owned by another user (uid {OTHER_UID})"),
}


@pytest.mark.parametrize("level", list(_LEVELS))
@pytest.mark.parametrize("fault", ["0777", "0775-foreign-group", "other-owner"])
def test_a_directory_of_the_cache_another_user_could_write_is_refused_and_the_advice_fixes_it(
    project: Path, tmp_path: Path, level: str, fault: str
) -> None:
    """Whichever level of the tree: the refusal names that directory, and its advice (run here) fixes the whole
    cache, so the next build succeeds and makes the same .pyz."""
    root = tmp_path / "cache"
    first = build(project, tmp_path / "one")
    where = _LEVELS[level](root)
    make, fragment = _FAULTS[fault]
    make(where)
    message = _refused(project, where, fragment)
    if level == "the-cache" and fault == "other-owner":
        assert "Use a directory of your own (HATCH_ZIPAPP_CACHE_DIR=DIR)" in message, message
        shutil.rmtree(root)  # what the user does instead: a cache of their own, made by the next build
    else:
        assert _advice(message) == f"rm -rf {root}", message
        _follow(message)
    assert sha256_file(build(project, tmp_path / "two")) == sha256_file(first)
    assert all(os.lstat(path).st_uid == 0 and not os.lstat(path).st_mode & 0o077 for path in _tree(root))


@pytest.mark.parametrize("fault", ["0702", "1777", "0730-foreign-group"])
def test_more_modes_of_a_deep_directory(project: Path, tmp_path: Path, fault: str) -> None:
    root = tmp_path / "cache"
    build(project, tmp_path / "one")
    where = _LEVELS["key"](root)
    make, fragment = _FAULTS[fault]
    make(where)
    _refused(project, where, fragment)


@pytest.mark.parametrize("kind", ["bytecode", "files"])
@pytest.mark.parametrize(
    ("make", "fragment"),
    [
        (lambda p: os.chown(p, OTHER_UID, -1), f"it is owned by another user (uid {OTHER_UID})"),
        (lambda p: p.chmod(0o602), "it is writable by others (mode 0602)"),
        (lambda p: _foreign_group(p, 0o620), f"it is writable by group {OTHER_GID} (mode 0620)"),
    ],
    ids=["other-owner", "others-write", "foreign-group-write"],
)
def test_an_entry_file_another_user_could_write_is_refused(
    project: Path, tmp_path: Path, kind: str, make: Callable[[Path], object], fragment: str
) -> None:
    root = tmp_path / "cache"
    first = build(project, tmp_path / "one")
    entry = sorted(path for path in (root / kind).rglob("*") if path.is_file())[0]
    make(entry)
    message = _refused(project, entry, fragment)
    _follow(message)
    assert sha256_file(build(project, tmp_path / "two")) == sha256_file(first)


def _every_kind(cache: Cache) -> dict[str, Callable[[], object]]:
    """Store an entry of each kind; the read of each (a download, a name, a built wheel, two bundles)."""
    wheel = io.BytesIO()
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("x.py", "")
    sha = hashlib.sha256(wheel.getvalue()).hexdigest()
    cache.write(sha, wheel.getvalue())
    cache.remember_filename(sha, "x-1.0-py3-none-any.whl")
    cache.store_built_wheel("b" * 64, "x-1.0-py3-none-any.whl", wheel.getvalue())
    cache.store_bundle("bytecode", "c" * 64, {"x/__pycache__/y.pyc": b"pyc"})
    cache.store_bundle("static", "d" * 64, {"app.css": b"body{}"}, note="site-packages/app/static/")
    return {
        "files": lambda: cache.read(sha),
        "names": lambda: cache.filename(sha),
        "built": lambda: cache.built_wheel("b" * 64),
        "bytecode": lambda: cache.read_bundle("bytecode", "c" * 64),
        "static": lambda: cache.read_bundle("static", "d" * 64),
    }


@pytest.mark.parametrize("kind", ["files", "names", "built", "bytecode", "static"])
def test_every_kind_of_entry_is_checked_where_it_is_opened(tmp_path: Path, kind: str) -> None:
    """The file and each directory above it, each level in turn."""
    root = tmp_path / "c"
    cache = Cache(root)
    reads = _every_kind(cache)
    assert reads[kind]() is not None
    (entry,) = (path for path in (root / kind).rglob("*") if path.is_file())
    levels = [entry, *[parent for parent in entry.parents if parent.is_relative_to(root)]]
    assert levels[-1] == root and len(levels) == 5
    for path in levels:
        os.chown(path, OTHER_UID, -1)
        with pytest.raises(CacheError) as info:
            reads[kind]()
        assert f": {path} could have been written by another user (it is owned by another user (uid {OTHER_UID}))" in (
            str(info.value)
        )
        os.chown(path, 0, -1)
        assert reads[kind]() is not None


def _to_link(path: Path) -> Path:
    """``path`` moved beside itself, and a symlink to it in its place: its content as sound as before."""
    moved = path.with_name(path.name + ".real")
    path.rename(moved)
    path.symlink_to(moved.name)
    return moved


@pytest.mark.parametrize("level", ["kind", "prefix", "key", "files", "files-prefix", "bytecode-entry", "file-entry"])
def test_a_symlink_in_the_cache_is_refused_never_followed(project: Path, tmp_path: Path, level: str) -> None:
    root = tmp_path / "cache"
    first = build(project, tmp_path / "one")
    if level == "bytecode-entry":
        where = sorted(path for path in (root / "bytecode").rglob("*") if path.is_file())[0]
    elif level == "file-entry":
        where = sorted(path for path in (root / "files").rglob("*") if path.is_file())[0]
    else:
        where = _LEVELS[level](root)
    _to_link(where)
    message = _refused(project, where, "(it is a symbolic link)")
    _follow(message)
    assert sha256_file(build(project, tmp_path / "two")) == sha256_file(first)


def test_a_dangling_symlink_for_a_missing_entry_is_refused_not_written_through(tmp_path: Path) -> None:
    root = tmp_path / "c"
    cache = Cache(root)
    data = b"a wheel"
    sha = hashlib.sha256(data).hexdigest()
    (root / "files" / "sha256" / sha[:2]).mkdir(parents=True, mode=0o700)
    for path in (root, root / "files", root / "files" / "sha256"):
        path.chmod(0o700)
    target = tmp_path / "elsewhere"
    (root / "files" / "sha256" / sha[:2] / sha).symlink_to(target)
    with pytest.raises(CacheError, match="it is a symbolic link"):
        cache.read(sha)
    cache.write(sha, data)  # put in place by a rename: the link is replaced, never written through
    assert not target.exists()
    assert cache.read(sha) == data


@pytest.mark.parametrize("level", ["parent", "grandparent"])
@pytest.mark.parametrize(
    ("fault", "refused"),
    [("0777", True), ("0775-foreign-group", True), ("other-owner", True), ("1777", False), ("0775-own-group", False)],
)
def test_the_directories_above_the_cache_are_checked(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, level: str, fault: str, refused: bool
) -> None:
    """Another user who can write a directory above the cache could rename the cache away and put theirs in its
    place at any time (a sticky directory, /tmp, lets no one rename what is not theirs; a group-writable one of the
    user's own group is the user's)."""
    root = tmp_path / "grandparent" / "parent" / "cache"
    monkeypatch.setenv("HATCH_ZIPAPP_CACHE_DIR", str(root))
    first = build(project, tmp_path / "one")  # the cache exists: it was made, checked, before its parent changed
    where = root.parents[0 if level == "parent" else 1]
    if fault == "0775-own-group":
        os.chown(where, -1, os.getegid())
        where.chmod(0o775)
    else:
        make, fragment = _FAULTS[fault]
        make(where)
    if not refused:
        assert sha256_file(build(project, tmp_path / "two")) == sha256_file(first)
        return
    message = _refused(project, where, fragment, root=root)
    assert "who could then replace the cache" in message
    if fault == "other-owner":
        assert "Use a directory of your own (HATCH_ZIPAPP_CACHE_DIR=DIR)" in message and "`" not in message
    else:
        assert _advice(message) == f"chmod go-w {where}", message
        _follow(message)
        assert sha256_file(build(project, tmp_path / "two")) == sha256_file(first)


_PLANT = 'rm -f "$1"/*-bundle.zip && cp "$2" "$1/$3"'


def _names(bundle: bytes) -> list[str]:
    with zipfile.ZipFile(io.BytesIO(bundle)) as archive:
        return archive.namelist()


def _planted_bundle(real: bytes, key: str) -> tuple[bytes, str]:
    """What another user makes, knowing only public things: a bytecode bundle for ``key`` (a directory name they can
    list) whose one .pyc is their code under the header of the real source's (hash-checked .pyc: the source's hash
    is public), and the entry's name (its seal: a sha256 of public things)."""
    (name,) = _names(real)
    source = b'VALUE = "alpha 1.0"\n'  # alpha/__init__.py, as the public wheel has it
    code = compile('import os\nVALUE = f"planted code running as uid {os.getuid()}"\n', "alpha/__init__.py", "exec")
    pyc = importlib.util.MAGIC_NUMBER + (3).to_bytes(4, "little") + importlib.util.source_hash(source)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), pyc + marshal.dumps(code))
    data = buffer.getvalue()
    seal = hashlib.sha256(f"hatch-zipapp cache entry\0bytecode\0{key}\0bundle.zip\0".encode() + data).hexdigest()
    return data, f"{seal}-bundle.zip"


def _built_or_refused(project: Path, *fragments: str) -> str:
    """The refusal's message; a build that succeeds instead fails the test, saying what its .pyz runs."""
    try:
        pyz = build(project, project / "dist")
    except CacheError as e:
        message = str(e)
        assert all(fragment in message for fragment in fragments), message
        assert not list((project / "dist").glob("*.pyz"))
        return message
    pytest.fail(f"the build used the cache: its .pyz says {run_pyz(pyz, 'alpha')!r}")


@pytest.mark.skipif(shutil.which("setpriv") is None, reason="setpriv (util-linux) is missing")
def test_hostile_cache_another_user_plants_a_sealed_bytecode_bundle(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """End to end, as the issue's probe did it: a build under umask 000 by hatch-zipapp before this rule left every
    directory of the cache 0777; another real user (uid 65534) replaces alpha's bytecode bundle with theirs, sealed
    and keyed as a real one. Root's next build is refused (and again after the old advice, `chmod go-w CACHE`, which
    left the subdirectories 0777), naming the place; after the advice, the .pyz runs alpha's own code."""
    base = Path(tempfile.mkdtemp(prefix="hostile-cache."))  # in /tmp, where uid 65534 can reach it
    try:
        base.chmod(0o755)
        root = base / "cache"
        monkeypatch.setenv("HATCH_ZIPAPP_CACHE_DIR", str(root))
        with umask(0):
            build(project, tmp_path / "one")
        for path in _tree(root):
            if path.is_dir():
                path.chmod(0o777)  # what a build under umask 000 left before: every directory 0777
        (bundle,) = (
            path
            for path in (root / "bytecode").rglob("*-bundle.zip")
            if any(name.startswith("alpha/") for name in _names(path.read_bytes()))
        )
        data, name = _planted_bundle(bundle.read_bytes(), bundle.parent.name)
        planted = base / "planted.zip"
        planted.write_bytes(data)
        planted.chmod(0o644)
        attacker = ["setpriv", f"--reuid={OTHER_UID}", f"--regid={OTHER_UID}", "--clear-groups", "sh", "-c", _PLANT]
        subprocess.run([*attacker, "sh", str(bundle.parent), str(planted), name], check=True, timeout=60)
        assert (bundle.parent / name).stat().st_uid == OTHER_UID and not bundle.exists()

        message = _built_or_refused(project, f"{root}: {root} could", "(it is writable by others (mode 0777))")
        subprocess.run(["chmod", "go-w", str(root)], check=True, timeout=60)  # the advice hatch-zipapp gave before
        message = _built_or_refused(project, f"{root}: {root}/", "(it is writable by others (mode 0777))")
        assert _advice(message) == f"rm -rf {root}"
        # Not the advice: the planted file is theirs.
        subprocess.run(["chmod", "-R", "go-w", str(root)], check=True, timeout=60)
        message = _built_or_refused(
            project, f"{bundle.parent / name} could", f"(it is owned by another user (uid {OTHER_UID}))"
        )
        _follow(message)
        pyz = build(project, tmp_path / "fixed")
        assert run_pyz(pyz, "alpha").startswith("alpha: alpha 1.0 from")
    finally:
        shutil.rmtree(base)
