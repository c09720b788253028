"""Any Python application, not only the project's own code (issue 14), with tiny wheels served on 127.0.0.1:

- a wrapper project with no code of its own: one line naming hatchling's `bypass-selection`, then it builds;
- `entry-point` naming a locked package's console script, checked against the installed `entry_points.txt`;
- every console script reachable: by the name the .pyz is invoked through (a symbolic or hard link), by
  `ZIPAPP_SCRIPT` and shiv's `SHIV_CONSOLE_SCRIPT`, one line for a name there is not; the links made by
  `hatch-zipapp links` and `ZIPAPP_LINKS`;
- `reexec`: a child started as `sys.executable ...` sees the .pyz's packages, a virtualenv made by a child does not.

tests/test_applications_network.py does the same with real applications from the package index.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from hatch_zipapp.errors import ConfigError, EntryPointError
from tests.helpers import IndexServer, build, build_fails, make_wheel, pylock_text

TOOL = '''\
import os, subprocess, sys


def main():
    print("tool main", sys.argv[1:])


def extra():
    print("tool extra", sys.argv[1:])


def run():
    """`run ARGS`: this interpreter with ARGS, as pre-commit starts `sys.executable -m virtualenv`; `{python}` in
    an argument is sys.executable."""
    args = [a.replace("{python}", sys.executable) for a in sys.argv[1:]]
    return subprocess.run(args[1:] if args[:1] == ["--exec"] else [sys.executable, *args], timeout=120).returncode
'''

ENTRY_POINTS = "[console_scripts]\ntool = tool:main\ntool-extra = tool:extra\ntool-run = tool:run\n"


def wrapper(root: Path, zipapp: str, *, bypass: bool = True) -> Path:
    """A project with no code: its dependencies only (`tool`, which needs `alpha`)."""
    root.mkdir(parents=True, exist_ok=True)
    wheel = "[tool.hatch.build.targets.wheel]\nbypass-selection = true\n" if bypass else ""
    (root / "pyproject.toml").write_text(
        f"""\
[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[project]
name = "wrap"
version = "1.0"
requires-python = ">=3.8"
dependencies = ["tool"]

{wheel}
[tool.hatch.build.targets.zipapp]
{zipapp}
""",
        encoding="utf-8",
    )
    return root


@pytest.fixture
def locked(tmp_path: Path, wheelhouse: Path, index: IndexServer) -> str:
    """pylock.toml text: `tool` (three console scripts) and `alpha` (one, `alpha-cli`)."""
    alpha_entry = {"alpha-1.0.dist-info/entry_points.txt": "[console_scripts]\nalpha-cli = alpha:cli\n"}
    alpha = make_wheel(
        wheelhouse, "alpha", files={"alpha/__init__.py": 'VALUE = "alpha 1.0"\ndef cli():\n    print("alpha cli")\n'},
        members=alpha_entry,
    )  # fmt: skip
    tool = make_wheel(
        wheelhouse, "tool", files={"tool/__init__.py": TOOL},
        members={"tool-1.0.dist-info/entry_points.txt": ENTRY_POINTS}, requires=["alpha"],
    )  # fmt: skip
    return pylock_text([[alpha], [tool]], base_url=index.url)


def built(tmp_path: Path, locked: str, zipapp: str = 'entry-point = "tool"') -> Path:
    project = wrapper(tmp_path / "wrap", zipapp)
    (project / "pylock.toml").write_text(locked)
    return build(project)


def run(command: list[str], *, env: dict[str, str] | None = None, cwd: Path | None = None) -> tuple[int, str, str]:
    result = subprocess.run(
        command, capture_output=True, text=True, env={**os.environ, **(env or {})}, cwd=cwd, timeout=120, check=False
    )
    return result.returncode, result.stdout, result.stderr


# -- a project with no code of its own -------------------------------------------------------------------------


def test_a_wrapper_without_code_is_one_line_naming_bypass_selection(tmp_path: Path, locked: str) -> None:
    project = wrapper(tmp_path / "wrap", 'entry-point = "tool"', bypass=False)
    (project / "pylock.toml").write_text(locked)
    message = build_fails(project, ConfigError, "finds no code of the project (no wrap/, src/wrap/ or wrap.py)")
    assert "[tool.hatch.build.targets.wheel] bypass-selection = true" in message and "\n" not in message


def test_bypass_selection_on_the_zipapp_target_says_where_it_belongs(tmp_path: Path, locked: str) -> None:
    project = wrapper(tmp_path / "wrap", 'entry-point = "tool"\nbypass-selection = true', bypass=False)
    (project / "pylock.toml").write_text(locked)
    build_fails(project, ConfigError, "set `tool.hatch.build.targets.wheel.bypass-selection` instead")


def test_a_wrapper_runs_a_locked_package_s_script(tmp_path: Path, locked: str) -> None:
    pyz = built(tmp_path, locked)
    assert run([os.fspath(pyz), "a"])[1] == "tool main ['a']\n"
    with zipfile.ZipFile(pyz) as archive:
        environment = json.loads(archive.read("environment.json"))
    assert environment["entry_point"] == "tool:main"
    assert environment["scripts"] == {
        "alpha-cli": "alpha:cli", "tool": "tool:main", "tool-extra": "tool:extra", "tool-run": "tool:run"
    }  # fmt: skip
    assert environment["commands"] == ["tool", "tool-extra", "tool-run"]  # tool's own, not alpha's


def test_an_unknown_script_lists_those_there_are(tmp_path: Path, locked: str) -> None:
    project = wrapper(tmp_path / "wrap", 'entry-point = "tool-extr"')
    (project / "pylock.toml").write_text(locked)
    build_fails(
        project,
        EntryPointError,
        "`tool.hatch.build.targets.zipapp.entry-point` = 'tool-extr' is not a console script of the project or any "
        "locked package (they have: alpha-cli, tool, tool-extra, tool-run). Did you mean 'tool-extra'?",
    )


# -- dispatch by name --------------------------------------------------------------------------------------------


def test_every_route_to_a_script(tmp_path: Path, locked: str) -> None:
    pyz = built(tmp_path, locked)
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    (bin_ / "tool-extra").symlink_to(pyz)
    os.link(pyz, bin_ / "alpha-cli")  # a hard link: its own name too
    (bin_ / "renamed.pyz").symlink_to(pyz)
    assert run([os.fspath(bin_ / "tool-extra"), "x"])[1] == "tool extra ['x']\n"
    assert run(["./tool-extra", "x"], cwd=bin_)[1] == "tool extra ['x']\n"
    assert run(["tool-extra", "y"], env={"PATH": f"{bin_}{os.pathsep}{os.environ['PATH']}"})[1] == "tool extra ['y']\n"
    assert run([sys.executable, os.fspath(bin_ / "tool-extra")])[1] == "tool extra []\n"
    assert run([os.fspath(bin_ / "alpha-cli")])[1] == "alpha cli\n"
    assert run([os.fspath(bin_ / "renamed.pyz")])[1] == "tool main []\n"  # not a script's name: the default
    assert run([os.fspath(pyz)], env={"ZIPAPP_SCRIPT": "tool-extra"})[1] == "tool extra []\n"
    assert run([os.fspath(pyz)], env={"SHIV_CONSOLE_SCRIPT": "alpha-cli"})[1] == "alpha cli\n"
    # the variable wins over the name, and is not passed on to the application's children
    code, out, _ = run([os.fspath(bin_ / "tool-extra")], env={"ZIPAPP_SCRIPT": "tool"})
    assert out == "tool main []\n"
    code, out, _ = run([os.fspath(pyz), "-c", "import os; print(os.environ.get('ZIPAPP_SCRIPT'))"],
                       env={"ZIPAPP_SCRIPT": "tool-run"})  # fmt: skip
    assert (code, out) == (0, "None\n")


def test_an_unknown_script_name_is_one_line(tmp_path: Path, locked: str) -> None:
    pyz = built(tmp_path, locked)
    code, out, err = run([os.fspath(pyz)], env={"ZIPAPP_SCRIPT": "tool-extr"})
    assert code == 1 and out == ""
    assert err == (
        f"{pyz.name}: $ZIPAPP_SCRIPT='tool-extr' is not a console script of this .pyz; it has: alpha-cli, tool, "
        "tool-extra, tool-run\n"
    )
    code, _, err = run([os.fspath(pyz)], env={"SHIV_CONSOLE_SCRIPT": "../../x"})
    assert code == 1 and err.startswith(f"{pyz.name}: $SHIV_CONSOLE_SCRIPT='../../x' is not a console script")


# -- links -------------------------------------------------------------------------------------------------------


def _hatch_zipapp(*args: str) -> tuple[int, str, str]:
    return run([sys.executable, "-m", "hatch_zipapp", *args])


def test_links_by_the_command_and_by_the_variable(tmp_path: Path, locked: str) -> None:
    pyz = built(tmp_path, locked)
    current = tmp_path / "current.pyz"
    current.symlink_to(pyz)
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    code, out, err = _hatch_zipapp("links", os.fspath(current), os.fspath(bin_))
    assert code == 0, err
    assert out.splitlines() == [
        f"hatch-zipapp links: {bin_}/{name} -> {current}" for name in ("tool", "tool-extra", "tool-run")
    ]
    assert sorted(p.name for p in bin_.iterdir()) == ["tool", "tool-extra", "tool-run"]  # not alpha's
    assert run([os.fspath(bin_ / "tool-extra")])[1] == "tool extra []\n"
    # again, on the server, without hatch-zipapp: the same links are kept
    code, out, err = run([os.fspath(current)], env={"ZIPAPP_LINKS": os.fspath(bin_)})
    assert code == 0, err
    assert out.splitlines()[0] == f"current.pyz: {bin_}/tool -> {current} (already there)"
    code, out, err = _hatch_zipapp("links", os.fspath(current), os.fspath(bin_), "--script", "alpha-cli")
    assert code == 0 and run([os.fspath(bin_ / "alpha-cli")])[1] == "alpha cli\n"


def test_links_never_replace_what_is_there(tmp_path: Path, locked: str) -> None:
    pyz = built(tmp_path, locked)
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    (bin_ / "tool-extra").write_text("#!/bin/sh\necho mine\n")
    code, out, err = run([os.fspath(pyz)], env={"ZIPAPP_LINKS": os.fspath(bin_)})
    assert code == 1 and out == ""
    assert err == (
        f"{pyz.name}: {bin_}/tool-extra: already there and not your link to {pyz}. Remove, or link into another "
        "directory\n"
    )
    assert sorted(p.name for p in bin_.iterdir()) == ["tool-extra"]  # nothing made
    code, _, err = _hatch_zipapp("links", os.fspath(pyz), os.fspath(bin_), "--script", "nope")
    assert code == 2
    assert (
        err == "hatch-zipapp links: 'nope' is not a console script of this .pyz; it has: alpha-cli, tool, tool-extra, "
        "tool-run\n"
    )


# -- re-exec -----------------------------------------------------------------------------------------------------

_SEES = "import alpha, sys; print('child sees', alpha.VALUE, sys.prefix == sys.base_prefix)"


@pytest.mark.parametrize("how", ["option", "variable"])
def test_reexec_children_see_the_packages(tmp_path: Path, locked: str, how: str) -> None:
    zipapp = 'entry-point = "tool-run"' + ("\nreexec = true" if how == "option" else "")
    pyz = built(tmp_path, locked, zipapp)
    env = {"ZIPAPP_REEXEC": "1"} if how == "variable" else {}
    code, out, err = run([os.fspath(pyz), "-c", _SEES], env=env)
    assert (code, out) == (0, "child sees alpha 1.0 True\n"), err
    script = tmp_path / "script.py"
    script.write_text(_SEES)
    assert run([os.fspath(pyz), os.fspath(script)], env=env)[1] == "child sees alpha 1.0 True\n"
    # a grandchild too, and the host's site-packages stay off the path as for the .pyz itself
    code, out, err = run(
        [os.fspath(pyz), "-c", "import subprocess, sys; subprocess.run([sys.executable, '-c', "
         "'import sys; print(any(\"site-packages\" in p and \"shiv-root\" not in p for p in sys.path))'], timeout=60)"],
        env=env,
    )  # fmt: skip
    assert (code, out) == (0, "False\n"), err
    # the interpreter's own sitecustomize still runs in the child, after this one
    custom = tmp_path / "custom"
    custom.mkdir()
    (custom / "sitecustomize.py").write_text('MARK = "the host\'s own"\n')
    probe = "import sitecustomize, alpha; print(sitecustomize.MARK, alpha.VALUE)"
    code, out, err = run([os.fspath(pyz), "-c", probe], env={**env, "PYTHONPATH": os.fspath(custom)})
    assert (code, out) == (0, "the host's own alpha 1.0\n"), err


def test_without_reexec_children_do_not(tmp_path: Path, locked: str) -> None:
    pyz = built(tmp_path, locked, 'entry-point = "tool-run"')
    code, _, err = run([os.fspath(pyz), "-c", _SEES])
    assert code == 1 and "No module named 'alpha'" in err


def test_reexec_a_virtualenv_made_by_a_child_sees_nothing(tmp_path: Path, locked: str) -> None:
    pyz = built(tmp_path, locked, 'entry-point = "tool-run"\nreexec = true')
    venv = tmp_path / "venv"
    code, _, err = run([os.fspath(pyz), "-m", "venv", "--without-pip", os.fspath(venv)])
    assert code == 0, err
    probe = (
        "import os, sys; print(sys.prefix != sys.base_prefix, [p for p in sys.path if 'site-packages' in p "
        "and 'venv' not in p], '.pyz' in os.environ.get('PYTHONPATH', ''), '_ZIPAPP_CHILD' in os.environ); "
        "import alpha"
    )
    code, out, err = run([os.fspath(pyz), "--exec", os.fspath(venv / "bin" / "python"), "-c", probe])
    assert out == "True [] False False\n"
    assert code == 1 and "No module named 'alpha'" in err


def test_links_bad_input_is_one_line(tmp_path: Path, locked: str) -> None:
    missing = tmp_path / "nope.pyz"
    assert _hatch_zipapp("links", os.fspath(missing), os.fspath(tmp_path))[1:] == (
        "",
        f"hatch-zipapp links: {missing} does not exist\n",
    )
    not_a_pyz = tmp_path / "x.pyz"
    not_a_pyz.write_text("#!/bin/sh\n")
    code, _, err = _hatch_zipapp("links", os.fspath(not_a_pyz), os.fspath(tmp_path))
    assert code == 2 and err.startswith(f"hatch-zipapp links: {not_a_pyz} is not a .pyz built by hatch-zipapp (")
    pyz = built(tmp_path, locked)
    code, _, err = _hatch_zipapp("links", os.fspath(pyz), os.fspath(tmp_path / "no-such-dir"))
    assert (code, err) == (2, f"hatch-zipapp links: cannot link into {tmp_path / 'no-such-dir'}: not a directory. "
                              "Create it, or name another\n")  # fmt: skip


def test_reexec_another_python_version_sees_nothing_and_says_nothing(tmp_path: Path, locked: str) -> None:
    """A Python of another version started by a child (pre-commit's `language_version`) imports the .pyz's
    sitecustomize from its source (the .pyc is for the .pyz's Python), adds nothing, and drops the variables."""
    from tests.helpers import interpreters

    running = f"{sys.version_info[0]}.{sys.version_info[1]}"
    others = sorted((v for v in interpreters() if v != running), key=lambda v: tuple(map(int, v.split("."))))
    assert others, f"no Python 3 besides {running} on this machine (tests/helpers.py interpreters())"
    pyz = built(tmp_path, locked, 'entry-point = "tool-run"\nreexec = true')
    probe = (
        f"import os, sys; print(sys.version_info[:2] != ({running.replace('.', ', ')}), "
        "'.pyz' in os.environ.get('PYTHONPATH', ''), '_ZIPAPP_CHILD' in os.environ, "
        "[p for p in sys.path if 'shiv-root' in p or '.pyz' in p])"
    )
    for version in (others[0], others[-1]):  # the oldest (3.6 here) and the newest
        code, out, err = run([os.fspath(pyz), "--exec", interpreters()[version], "-c", probe])
        assert (code, out, err) == (0, "True False False []\n", ""), version


def test_reexec_another_python_version_sharing_the_prefix_sees_nothing(tmp_path: Path, locked: str) -> None:
    """Two Python versions under one prefix (Debian's /usr/bin/python3.11 and python3.12, both `/usr`), made here from
    pyenv's: a copy of each binary in PREFIX/bin, each one's standard library linked into PREFIX/lib. The .pyz runs on
    the first; its child of the same version sees the packages, the other version's sees nothing and drops the
    variables, though its `sys.prefix` is the parent's (unseen round 3, #28: the version half of the test was never
    taken alone)."""
    from tests.helpers import interpreters

    running = f"{sys.version_info[0]}.{sys.version_info[1]}"
    found = interpreters()
    others = sorted((v for v in found if v != running), key=lambda v: tuple(map(int, v.split("."))))
    assert running in found and others, f"no second Python 3 besides {running} here (tests/helpers.py interpreters())"
    prefix = tmp_path / "prefix"
    (prefix / "bin").mkdir(parents=True)
    (prefix / "lib").mkdir()
    pythons = {}
    for version in (running, others[-1]):
        probe = "import sysconfig; print(sysconfig.get_path('stdlib'))"
        stdlib = subprocess.run(
            [found[version], "-c", probe], capture_output=True, text=True, timeout=60, check=True
        ).stdout.strip()
        pythons[version] = prefix / "bin" / f"python{version}"
        shutil.copy2(os.path.realpath(found[version]), pythons[version])  # a link would be followed to its own prefix
        (prefix / "lib" / Path(stdlib).name).symlink_to(stdlib)
    where = "import sys; print(sys.prefix)"
    for version, python in pythons.items():
        assert run([os.fspath(python), "-c", where]) == (0, f"{prefix}\n", ""), version
    pyz = built(tmp_path, locked, 'entry-point = "tool-run"\nreexec = true')
    code, out, err = run([os.fspath(pythons[running]), os.fspath(pyz), "-c", _SEES])
    assert (code, out) == (0, "child sees alpha 1.0 True\n"), err
    probe = (
        "import os, sys; print(sys.version_info[:2], sys.prefix, '_bootstrap' in os.environ.get('PYTHONPATH', ''), "
        "'_ZIPAPP_CHILD' in os.environ, [p for p in sys.path if 'shiv-root' in p or '.pyz' in p]); import alpha"
    )
    code, out, err = run([os.fspath(pythons[running]), os.fspath(pyz), "--exec", os.fspath(pythons[others[-1]]),
                          "-c", probe])  # fmt: skip
    major, minor = others[-1].split(".")
    assert out == f"({major}, {minor}) {prefix} False False []\n", err
    assert code == 1 and err.endswith("ModuleNotFoundError: No module named 'alpha'\n"), err


def test_the_bootstrap_on_pythonpath_without_the_variable_is_inert(tmp_path: Path, locked: str) -> None:
    """``PYTHONPATH=APP.pyz/_bootstrap`` kept by something that dropped ``_ZIPAPP_CHILD`` (an environment filtered
    by prefix, a copied shell line): the module takes itself off the path and hands over to the interpreter's own
    sitecustomize; it never finds itself again (a RecursionError at every start, seen)."""
    pyz = built(tmp_path, locked, 'entry-point = "tool-run"\nreexec = true')
    custom = tmp_path / "custom"
    custom.mkdir()
    (custom / "sitecustomize.py").write_text('MARK = "the host\'s own"\n')
    pythonpath = os.pathsep.join([f"{pyz}/_bootstrap", os.fspath(custom)])
    env = {k: v for k, v in os.environ.items() if k != "_ZIPAPP_CHILD"}
    result = subprocess.run(
        [sys.executable, "-c", "import sitecustomize; print(sitecustomize.MARK)"],
        env={**env, "PYTHONPATH": pythonpath},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert (result.returncode, result.stdout, result.stderr) == (0, "the host's own\n", "")


# -- review findings: links and re-exec on a bad day -----------------------------------------------------------------


def test_links_into_a_directory_others_could_write_or_over_their_link_are_refused(tmp_path: Path, locked: str) -> None:
    """A directory writable by others (non-sticky): anyone could swap a link later and root would run their file;
    a link already there with the right target but another user's: refused too. Nothing is made."""
    pyz = built(tmp_path, locked)
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    code, out, err = run([os.fspath(pyz)], env={"ZIPAPP_LINKS": os.fspath(shared)})
    assert (code, out) == (1, "")
    assert err == f"{pyz.name}: refusing to link into {shared}: it is writable by group or others (mode 0777). Use a " \
        "directory only you can write\n"  # fmt: skip
    assert list(shared.iterdir()) == []
    sticky = tmp_path / "sticky"
    sticky.mkdir()
    sticky.chmod(0o1777)
    (sticky / "tool").symlink_to(pyz)
    os.lchown(sticky / "tool", 4242, 4242)  # planted by another user, with the right target
    code, out, err = run([os.fspath(pyz)], env={"ZIPAPP_LINKS": os.fspath(sticky)})
    assert (code, out) == (1, "") and err.startswith(f"{pyz.name}: {sticky}/tool: already there and not your link")
    assert sorted(p.name for p in sticky.iterdir()) == ["tool"]


def test_links_set_but_empty_or_odd_names_are_one_line(tmp_path: Path, locked: str) -> None:
    """`ZIPAPP_LINKS="$BIN"` with BIN unset does not start the application; a name that is not a file name is
    refused before any link is made."""
    pyz = built(tmp_path, locked)
    code, out, err = run([os.fspath(pyz)], env={"ZIPAPP_LINKS": ""})
    assert (code, out, err) == (1, "", f"{pyz.name}: ZIPAPP_LINKS is set but empty: set it to the directory to link "
                                       "into\n")  # fmt: skip
    from hatch_zipapp.bootstrap.documents import BootstrapError
    from hatch_zipapp.bootstrap.runtime import links

    bin_ = tmp_path / "bin"
    bin_.mkdir()
    environment = {"scripts": {"ok": "tool:main", "sub/dir": "tool:main", "..": "tool:main"}, "commands": []}
    with pytest.raises(BootstrapError, match=r"cannot link '\.\.', 'sub/dir': not a file name"):
        links(os.fspath(pyz), environment, os.fspath(bin_), ["ok", "sub/dir", ".."])  # type: ignore[arg-type]
    assert list(bin_.iterdir()) == []


def test_reexec_from_a_path_pythonpath_cannot_carry_is_one_line(tmp_path: Path, locked: str) -> None:
    pyz = built(tmp_path, locked, 'entry-point = "tool-run"\nreexec = true')
    release = tmp_path / "rel:2026-11-27T14:00"
    release.mkdir()
    moved = release / "app.pyz"
    pyz.rename(moved)
    # children read the file the start began on, /proc/PID/fd/N (bootstrap/pinned.py): its name's ':' is not passed
    assert run([os.fspath(moved), "-c", _SEES]) == (0, "child sees alpha 1.0 True\n", "")
    code, out, err = run([os.fspath(moved), "-c", _SEES], env={"ZIPAPP_ROOT": os.fspath(tmp_path / "a\tb")})
    assert (code, out) == (1, "")
    assert err.startswith("app.pyz: cannot pass this .pyz's packages to child interpreters (ZIPAPP_REEXEC): "
                          "_ZIPAPP_CHILD cannot carry '\\t'")  # fmt: skip
    assert len(err.splitlines()) == 1


def test_nested_reexec_keeps_one_bootstrap_on_pythonpath(tmp_path: Path, locked: str) -> None:
    """A re-exec .pyz started (through another link) by a re-exec .pyz's child: its children see one bootstrap on
    PYTHONPATH, and a virtualenv made by one of them none."""
    pyz = built(tmp_path, locked, 'entry-point = "tool-run"\nreexec = true')
    first, second = tmp_path / "first", tmp_path / "second"
    first.symlink_to(pyz)
    second.symlink_to(pyz)
    probe = (
        "import os; print(os.getppid(), [p for p in os.environ['PYTHONPATH'].split(os.pathsep) "
        "if p.endswith('_bootstrap')])"
    )
    code, out, err = run([os.fspath(first), "--exec", os.fspath(second), "-c", probe])
    # the second start's own: the file it began on, through its descriptor (bootstrap/pinned.py)
    parent = out.split()[0]
    assert code == 0 and re.fullmatch(rf"{parent} \['/proc/{parent}/fd/\d+/_bootstrap'\]\n", out), (out, err)
    venv = tmp_path / "venv"
    assert run([os.fspath(first), "--exec", os.fspath(second), "-m", "venv", "--without-pip", os.fspath(venv)])[0] == 0
    inner = "import os; print(repr(os.environ.get('PYTHONPATH')))"
    code, out, err = run([os.fspath(first), "--exec", os.fspath(second), "--exec", os.fspath(venv / "bin" / "python"),
                          "-c", inner])  # fmt: skip
    assert (code, out, err) == (0, "None\n", "")


def test_an_undecodable_name_is_printed_escaped_under_a_strict_locale(tmp_path: Path, locked: str) -> None:
    """A .pyz whose file name is not UTF-8 under a locale whose stdout is strict (en_US.UTF-8; stood in for by
    PYTHONIOENCODING): the deploy steps print the name escaped, never a UnicodeEncodeError traceback."""
    pyz = built(tmp_path, locked)
    odd = os.fsdecode(os.fsencode(tmp_path) + b"/app\xff.pyz")
    os.rename(pyz, odd)
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    env = {"PYTHONIOENCODING": "utf-8:strict", "ZIPAPP_ROOT": os.fspath(tmp_path / "root")}
    for step in ({"ZIPAPP_LINKS": os.fspath(bin_)}, {"ZIPAPP_PREPARE": "1"}):
        result = subprocess.run([odd], capture_output=True, env={**os.environ, **env, **step}, timeout=120, check=False)
        assert (result.returncode, result.stderr) == (0, b""), result
        assert b"app\\udcff.pyz: " in result.stdout
    result = subprocess.run(
        [sys.executable, "-m", "hatch_zipapp", "links", odd, os.fspath(bin_)],
        capture_output=True, env={**os.environ, **env}, timeout=120, check=False,
    )  # fmt: skip
    assert (result.returncode, result.stderr) == (0, b""), result
    assert result.stdout.startswith(b"hatch-zipapp links: ") and b"-> " in result.stdout
