"""Which, not how many: the extractions a cleanup keeps are named (the newest ones, and the one in use), not
counted (two remain when the wrong two remain too); the leftovers it sets aside are named, and what is not its own
is named as left alone."""

from __future__ import annotations

import json
import os
import time
import zipfile
from pathlib import Path

from hatch_zipapp.bootstrap.cleanup import cleanup
from hatch_zipapp.bootstrap.locks import FileLock
from tests.helpers import build, make_project, make_wheel, pylock_text, run_pyz


def _env(root: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"SHIV_ROOT", "ZIPAPP_ROOT", "CACHE_DIRECTORY"}}
    return {**env, "ZIPAPP_ROOT": os.fspath(root), **extra}


def _extractions(root: Path) -> set[str]:
    return {p.name for p in root.iterdir() if not p.name.startswith(".")}


def test_the_newest_extractions_are_the_ones_kept(tmp_path: Path) -> None:
    """Three builds run in turn (the default keeps 2): after each, exactly that build's extraction and the one before
    it remain, named by their build ids; the oldest build run again is extracted anew and is the newest then."""
    alpha = make_wheel(tmp_path / "wheels", "alpha", "1.0")
    project = make_project(tmp_path / "p", dependencies=["alpha"], zipapp="bytecode = false")
    (project / "pylock.toml").write_text(pylock_text([[alpha]], base_url=None))
    root = tmp_path / "root"
    names: list[str] = []
    pyzs = []
    for version in range(3):
        (project / "src" / "app" / "version.py").write_text(f"N = {version}\n")
        pyzs.append(build(project, tmp_path / f"dist{version}"))
        time.sleep(0.01)  # (distinct modification times, on file systems that keep coarse ones)
        run_pyz(pyzs[-1], env=_env(root))
        with zipfile.ZipFile(pyzs[-1]) as archive:
            build_id = json.loads(archive.read("hatch-zipapp.json"))["build_id"]
        names.append(f"app_{build_id}")
        assert _extractions(root) == set(names[-2:]), version
    run_pyz(pyzs[0], env=_env(root))
    assert _extractions(root) == {names[2], names[0]}


def test_cleanup_names_what_it_sets_aside(tmp_path: Path) -> None:
    """In one root: five extractions of ``app`` (one the caller's), a leftover of a killed extraction, a deletion cut
    short, another application's extraction, a user's directory. Keeping 3: the caller's and the two newest others
    stay; the two oldest, the leftover and the cut-short deletion are set aside; nothing else is touched."""
    base = tmp_path / "root"
    base.mkdir()
    ids = [f"{i:x}" * 64 for i in range(1, 6)]  # 1111..., 2222..., ...: the oldest first
    for age, build_id in enumerate(ids):
        extraction = base / f"app_{build_id}"
        extraction.mkdir()
        moment = 1_700_000_000 + age * 100
        os.utime(extraction, (moment, moment))
    key = f"app_{ids[1]}"  # the caller runs an old one: it stays whatever its age
    leftover = f".app_{'a' * 64}.tmp-4242"
    cut_short = f".app_{'b' * 64}.old-4242-0"
    untouched = [f"other_{ids[0]}", "app_backups", f"app_{ids[0][:-1]}", f".app_{'c' * 64}.new-1"]
    for name in [leftover, cut_short, *untouched]:
        (base / name).mkdir()
    lock = FileLock(os.fspath(base / f".{key}.lock"))
    try:
        assert lock.try_exclusive()
        doomed = cleanup(os.fspath(base), "app", key, 3)
    finally:
        lock.close()
    set_aside = sorted(Path(path).name.rsplit(".old-", 1)[0] for path in doomed)
    assert set_aside == sorted([f".app_{ids[0]}", f".app_{ids[2]}", f".app_{'a' * 64}", f".app_{'b' * 64}"])
    assert all(Path(path).parent == base and Path(path).is_dir() for path in doomed)
    assert _extractions(base) == {key, f"app_{ids[3]}", f"app_{ids[4]}", *untouched[:3]}
    assert (base / untouched[3]).is_dir()
