"""A start always runs one release (issue 23): starts in flight while the deploy switches ``current.pyz``.

Twenty starts run at once, again and again, while ``current.pyz`` is switched 30 times between two releases of the
same project: as docs/deployment.md's deploy script does it (a symbolic link to ``releases/N.pyz``, replaced with
``ln -sfn`` and ``mv -T``) and with a plain ``mv`` of a copy over the file. Every start must finish on one release or
the other: never ``damaged .pyz``, never a traceback. Cold (every start extracts: its own root, emptied after each
start) and warm (one root, both releases extracted), for a plain .pyz and for an embedded-interpreter file.

Before the archive was pinned (bootstrap/pinned.py, launcher.sh), Python's zipimport and the runtime reopened the
archive by its name for every read, so a start that began on one release read the other at the first one's offsets.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path
from typing import cast

import pytest

from tests.helpers import build, make_project
from tests.test_embed import _sha256, archive  # noqa: F401 - the session's python-build-standalone-like archive

#: Starts running at once, switches made while they run, and the pause between two switches (seconds).
STARTERS, SWITCHES, PAUSE = 20, 30, 0.01
#: The same project's two versions: 2.0.1 is longer, so the members after hatch-zipapp.json move; so does
#: site-packages.zip (release 2's code is longer).
VERSIONS = {1: "1.0", 2: "2.0.1"}
#: What each release prints: its number, and the name it was started by (never the descriptor it reads).
CLI = "import os, sys\n\n\ndef main():\n    print('release {n}', os.path.basename(sys.argv[0]))\n    return 0\n"
SWITCH = {
    # docs/deployment.md's deploy script, word for word
    "symlink": 'ln -sfn "$1" "$2.new" && mv -T "$2.new" "$2"',
    # a copy moved over the file itself (each a new copy, made before the storm: copying a 25 MB file while twenty
    # starts run took longer than the rest of the storm)
    "mv": 'mv "$1" "$2"',
}


def _release(root: Path, n: int, python: Path | None) -> Path:
    zipapp = ""
    if python is not None:  # the embedded-interpreter file, with this python-build-standalone-like archive
        url = f"python/{python.name}"
        zipapp = f'embed-python = true\npython-archive = {{ url = "{url}", sha256 = "{_sha256(python)}" }}\n'
    project = make_project(root / f"project-{n}", version=VERSIONS[n], zipapp=zipapp)
    if python is not None:
        (project / "python").mkdir()
        shutil.copy(python, project / "python" / python.name)
    (project / "src" / "app" / "cli.py").write_text(CLI.format(n=n) + "# release 2 is longer\n" * (n * 40))
    (project / "requirements.txt").write_text("")  # no dependency: a lock with nothing in it
    return build(project)


def _releases(factory: pytest.TempPathFactory, python: Path | None) -> list[Path]:
    """``releases/1.pyz`` and ``releases/2.pyz``, built once for the module (an embedded pair is two 25 MB files:
    seconds of CPU); the tests only read them (a switch links or copies a release, never changes it)."""
    base = factory.mktemp("built")
    releases = base / "releases"
    releases.mkdir()
    built = []
    with pytest.MonkeyPatch.context() as monkeypatch:  # as tests/conftest.py's _isolated does for a test
        monkeypatch.setenv("HATCH_ZIPAPP_CACHE_DIR", os.fspath(base / "cache"))
        monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
        for n in (1, 2):
            pyz = _release(base, n, python)
            built.append(releases / f"{n}.pyz")
            shutil.copy2(pyz, built[-1])
    return built


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Releases 1 and 2 as plain .pyz files (``releases/1.pyz``, ``releases/2.pyz``)."""
    return _releases(tmp_path_factory, None)


@pytest.fixture(scope="module")
def embedded(tmp_path_factory: pytest.TempPathFactory, archive: Path) -> list[Path]:  # noqa: F811
    """Releases 1 and 2 as embedded-interpreter files."""
    return _releases(tmp_path_factory, archive)


def _env(root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SHIV_", "ZIPAPP_", "PYTHON"))}
    env.pop("CACHE_DIRECTORY", None)
    env["ZIPAPP_ROOT"] = os.fspath(root)
    return env


def _switch(how: str, release: Path, current: Path) -> None:
    subprocess.run(["sh", "-c", SWITCH[how], "sh", os.fspath(release), os.fspath(current)], check=True, timeout=60)


def _empty(root: Path, keep: str) -> None:
    """``root`` without the extractions (and locks) of the app: the next start extracts again; ``keep`` stays."""
    for entry in root.iterdir():
        if not entry.name.startswith(keep):
            if entry.is_dir() and not entry.is_symlink():
                for parent, directories, _ in os.walk(entry):  # the runtime makes its files and directories read-only
                    for name in directories:
                        os.chmod(os.path.join(parent, name), 0o700)
                shutil.rmtree(entry)
            else:
                entry.unlink()


def _storm(tmp_path: Path, releases: list[Path], how: str, cold: bool, keep: str = "cpython-") -> list[str]:
    """Run STARTERS starts of ``./current.pyz`` at a time while it is switched SWITCHES times; what each start printed
    (its exit status, stdout and stderr when it failed)."""
    deploy = tmp_path / "srv"
    deploy.mkdir()
    current = deploy / "current.pyz"
    switched = [releases[i % 2] for i in range(SWITCHES + 1)]  # what current.pyz is first, then after each switch
    if how == "mv":
        for i, release in enumerate(switched):
            switched[i] = deploy / f".{i}-{release.name}"
            shutil.copy(release, switched[i])
    _switch(how, switched[0], current)
    shared = tmp_path / "warm-root"
    roots = [tmp_path / f"root-{i}" for i in range(STARTERS)]
    for root in [shared, *roots]:
        root.mkdir(mode=0o700)
    for release in releases:  # warm: both releases extracted (and an embedded Python unpacked) before the storm
        subprocess.run([os.fspath(release)], env=_env(shared), check=True, timeout=120, capture_output=True)
    for entry in shared.iterdir():
        if entry.name.startswith(keep) and entry.is_dir():  # the embedded Python, for the cold roots (hard links)
            for root in roots:
                subprocess.run(["cp", "-al", os.fspath(entry), os.fspath(root)], check=True, timeout=120)
    done = threading.Event()
    outcomes: list[str] = []

    def starter(root: Path) -> None:
        while not done.is_set():
            result = subprocess.run(
                ["./current.pyz"], cwd=deploy, env=_env(root), capture_output=True, text=True, timeout=120, check=False
            )
            outcomes.append(
                result.stdout if result.returncode == 0 else f"exit {result.returncode}: {result.stdout}{result.stderr}"
            )
            if cold:
                _empty(root, keep)

    threads = [threading.Thread(target=starter, args=(root if cold else shared,)) for root in roots]
    for thread in threads:
        thread.start()
    try:
        for release in switched[1:]:
            time.sleep(PAUSE)
            _switch(how, release, current)
    finally:
        done.set()
        for thread in threads:
            thread.join(timeout=180)
    return outcomes


def _check(outcomes: list[str]) -> None:
    failed = [o for o in outcomes if o not in {"release 1 current.pyz\n", "release 2 current.pyz\n"}]
    seen = {o for o in outcomes if o not in failed}
    summary = f"{len(failed)} of {len(outcomes)} starts failed"
    assert not failed, summary + ", e.g.:\n" + "\n".join(sorted(set(failed))[:5])
    assert seen == {"release 1 current.pyz\n", "release 2 current.pyz\n"} and len(outcomes) >= STARTERS, summary


@pytest.mark.parametrize("how", sorted(SWITCH))
@pytest.mark.parametrize("cold", [False, True], ids=["warm", "cold"])
def test_plain_pyz(tmp_path: Path, plain: list[Path], how: str, cold: bool) -> None:
    _check(_storm(tmp_path, plain, how, cold))


@pytest.mark.parametrize("how", sorted(SWITCH))
@pytest.mark.parametrize("cold", [False, True], ids=["warm", "cold"])
def test_embedded_python(tmp_path: Path, embedded: list[Path], how: str, cold: bool) -> None:
    _check(_storm(tmp_path, embedded, how, cold))


#: A sitecustomize (on PYTHONPATH) whose audit hook switches ``$SWITCH_CURRENT`` (a symbolic link) to the other release
#: at the start's third opening of it: after Python read the archive's central directory and ``__main__``, before
#: anything else of it is read. Once per test, or (``SWITCH_ALWAYS=1``) at every start; each switch is logged.
HOOK = """\
import os, sys

_opens = []


def _hook(event, args):
    current = os.environ.get("SWITCH_CURRENT")
    if event != "open" or not current or args[0] != current:
        return
    _opens.append(args)
    log = os.environ["SWITCH_LOG"]
    if len(_opens) != 3 or (os.path.exists(log) and os.environ.get("SWITCH_ALWAYS") != "1"):
        return
    one, two = os.environ["SWITCH_RELEASES"].split(os.pathsep)
    os.symlink(two if os.readlink(current) == one else one, current + ".new")
    os.replace(current + ".new", current)
    with open(log, "a") as f:
        f.write(os.readlink(current) + "\\n")


sys.addaudithook(_hook)
"""


def _switched_at_start(
    tmp_path: Path, releases: list[Path], always: bool
) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    current = tmp_path / "current.pyz"
    current.symlink_to(releases[0])
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(HOOK)
    log = tmp_path / "switches.log"
    env = {
        **_env(tmp_path / "root"),
        "PYTHONPATH": os.fspath(hook),
        "SWITCH_CURRENT": os.fspath(current),
        "SWITCH_RELEASES": os.pathsep.join(map(os.fspath, releases)),
        "SWITCH_LOG": os.fspath(log),
        "SWITCH_ALWAYS": "1" if always else "0",
    }
    result = subprocess.run(
        [sys.executable, os.fspath(current)], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    return result, log.read_text().splitlines() if log.exists() else []


def test_switched_after_python_read_it_starts_again_on_the_new_release(tmp_path: Path, plain: list[Path]) -> None:
    """Python read release 1's directory and ``__main__``, then the name pointed to release 2: the start begins
    again (the same command line) and runs release 2, whole."""
    result, switches = _switched_at_start(tmp_path, plain, always=False)
    assert switches == [os.fspath(plain[1])]
    assert (result.returncode, result.stdout, result.stderr) == (0, "release 2 current.pyz\n", "")


def test_switched_at_every_start_gives_up_after_three_new_beginnings(tmp_path: Path, plain: list[Path]) -> None:
    result, switches = _switched_at_start(tmp_path, plain, always=True)
    assert len(switches) == 4  # the start, and three new beginnings
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == (
        "current.pyz: the file was replaced while it started, 4 times in a row (a deploy switching it?): "
        "start it again\n"
    )
    assert not (tmp_path / "root").exists() or not [p for p in (tmp_path / "root").iterdir() if "app" in p.name]


def test_embedded_launcher_switched_before_it_opened_itself(tmp_path: Path, embedded: list[Path]) -> None:
    """Release 1's launcher runs (sourced) while the name it was started by is another file: as if the deploy switched
    the name between the shell's opening of it and the launcher's. Another release: it begins again, on that one; a
    copy of the same release (another file, the same first lines): it goes on; 4 times in a row: one line."""
    releases = embedded
    copy = tmp_path / "copy.pyz"
    shutil.copy2(releases[0], copy)
    root = tmp_path / "root"
    root.mkdir(mode=0o700)

    def started_as(name: Path, **variables: str) -> subprocess.CompletedProcess[str]:
        script = f". {shlex.quote(os.fspath(releases[0]))}"
        command = ["sh", "-c", script, os.fspath(name)]
        env = {**_env(root), **variables}
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=False)

    result = started_as(releases[1])
    assert (result.returncode, result.stdout, result.stderr) == (0, "release 2 2.pyz\n", "")
    result = started_as(copy, _ZIPAPP_SWITCHED="3")  # not begun again: that would be the 4th time
    assert (result.returncode, result.stdout, result.stderr) == (0, "release 1 copy.pyz\n", "")
    result = started_as(releases[1], _ZIPAPP_SWITCHED="3")
    assert (result.returncode, result.stdout) == (70, "")
    assert result.stderr == (
        "2.pyz: the file was replaced while it started, 4 times in a row (a deploy switching it?): start it again\n"
    )


def test_a_switched_file_is_told_from_the_one_the_start_began_on(tmp_path: Path) -> None:
    """pinned._differ, given the central directories zipimport read (``zipimport._read_directory``, what its cache
    keeps) of the file the interpreter began on and of the one the start holds: the same members (another path to
    them) are the same file; one member's bytes (its CRC-32), size or offset changed, a member more (the first's
    members unchanged, one appended) or fewer, or one renamed, are another."""
    import zipimport

    from hatch_zipapp.bootstrap.pinned import _differ

    def directory(
        name: str, members: dict[str, bytes], append: dict[str, bytes] | None = None
    ) -> dict[str, tuple[object, ...]]:
        path = tmp_path / name
        with zipfile.ZipFile(path, "w") as written:
            for member, data in members.items():
                written.writestr(zipfile.ZipInfo(member, date_time=(2020, 1, 1, 0, 0, 0)), data)
        if append:
            with zipfile.ZipFile(path, "a") as written:  # the members before are left where they are
                for member, data in append.items():
                    written.writestr(zipfile.ZipInfo(member, date_time=(2020, 1, 1, 0, 0, 0)), data)
        return zipimport._read_directory(os.fspath(path))  # type: ignore[attr-defined,no-any-return]

    members = {"__main__.py": b"print('1')\n", "app/__init__.py": b"X = 1\n", "app/m.py": b"Y = 2\n"}
    began = directory("began.pyz", members)
    assert not _differ(began, directory("same.pyz", members))
    assert not _differ(began, began)
    appended = directory("appended.pyz", members, {"app/new.py": b"Z = 3\n"})
    assert all(appended[name][1:] == began[name][1:] for name in began)  # every member as it was
    others = {
        "a member's bytes (its CRC-32)": directory("crc.pyz", {**members, "app/__init__.py": b"X = 2\n"}),
        "a member's size and the next one's offset": directory("size.pyz", {**members, "app/__init__.py": b"X = 10\n"}),
        "a member more": appended,
        "a member fewer": directory("fewer.pyz", {k: v for k, v in members.items() if k != "app/m.py"}),
        "a member renamed": directory(
            "renamed.pyz", {**{k: v for k, v in members.items() if k != "app/m.py"}, "app/n.py": b"Y = 2\n"}
        ),
    }
    for what, holds in others.items():
        assert _differ(began, holds), what
    fields = ["compression", "compressed size", "size", "offset", "time", "date", "CRC-32"]  # after its path
    for index, field in enumerate(fields, start=1):  # each field of one member, alone
        entry = list(began["app/m.py"])
        entry[index] = cast(int, entry[index]) + 1
        assert _differ(began, {**began, "app/m.py": tuple(entry)}), field
