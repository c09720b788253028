"""A locked wheel the build cannot embed as it is says so in one line naming the wheel and its member: a `.data`
scheme no installer knows (was installer's object repr), a path installed twice (named the same wheel twice), a path
no Linux file system holds once extracted (was built, and failed at every start)."""

from __future__ import annotations

import warnings
import zipfile
from pathlib import Path

import pytest

from hatch_zipapp.errors import ZipappError
from hatch_zipapp.install import NAME_MAX, PATH_MAX, PYC_ROOM, ROOT_ALLOWANCE
from tests.helpers import Wheel, build, build_fails, make_project, make_wheel, pylock_text, run_pyz


def _project(tmp_path: Path, *wheels: Wheel) -> Path:
    names = [wheel.name for wheel in wheels]
    project = make_project(tmp_path / "p", dependencies=names)
    (project / "pylock.toml").write_text(pylock_text([[wheel] for wheel in wheels], base_url=None))
    return project


class TestDataSchemes:
    @pytest.mark.parametrize(
        ("member", "where"),
        [
            ("pkg-1.0.data/weird/x.txt", "in pkg-1.0.data/weird/, a scheme"),
            ("pkg-1.0.data/x.txt", "directly in pkg-1.0.data/, in no scheme"),
            ("pkg-1.0.data/Purelib/pkg/x.py", "in pkg-1.0.data/Purelib/, a scheme"),
            # a file named as a scheme, where its directory would be (installer failed on it with a TypeError)
            ("pkg-1.0.data/purelib", "directly in pkg-1.0.data/, in no scheme"),
            ("pkg-1.0.data/scripts", "directly in pkg-1.0.data/, in no scheme"),
        ],
    )
    def test_an_unknown_scheme_is_named(self, tmp_path: Path, member: str, where: str) -> None:
        wheel = make_wheel(tmp_path / "wheels", "pkg", "1.0", members={member: "x"})
        message = build_fails(_project(tmp_path, wheel), ZipappError)
        assert message == (
            f"Wheel {wheel.filename} has {member!r} {where} no installer knows (the schemes are data, headers, "
            f"platlib, purelib, scripts): the wheel is broken. Lock another version of it"
        )

    def test_every_known_scheme_installs(self, tmp_path: Path) -> None:
        members = {f"pkg-1.0.data/{scheme}/{scheme}.txt": scheme for scheme in ("data", "headers", "platlib")}
        members["pkg-1.0.data/purelib/pkg_extra.py"] = 'VALUE = "extra"\n'
        members["pkg-1.0.data/scripts/pkg-tool"] = "#!python\nprint('tool')\n"
        wheel = make_wheel(tmp_path / "wheels", "pkg", "1.0", members=members)
        assert run_pyz(build(_project(tmp_path, wheel)), "pkg_extra").startswith("pkg_extra: extra")

    def test_directory_entries_are_not_members(self, tmp_path: Path) -> None:
        """A wheel zipped as `zip -r` zips a tree: an entry for each directory (its name ending in "/", mode 040755,
        the MS-DOS directory bit), before its files; installer skips them, so does the build (it refused the wheel:
        "'pkg-1.0.data/purelib/' in pkg-1.0.data/purelib/, a scheme no installer knows")."""
        members = {"pkg-1.0.data/purelib/pkg_extra.py": 'VALUE = "extra"\n'}
        members["pkg-1.0.data/scripts/pkg-tool"] = "#!python\nprint('tool')\n"
        wheel = make_wheel(tmp_path / "wheels", "pkg", "1.0", members=members)
        with zipfile.ZipFile(wheel.path) as archive:
            contents = [(info, archive.read(info)) for info in archive.infolist()]
        with zipfile.ZipFile(wheel.path, "w", zipfile.ZIP_DEFLATED) as archive:
            written: set[str] = set()
            for info, data in contents:
                parts = info.filename.split("/")[:-1]
                for depth in range(1, len(parts) + 1):
                    directory = "/".join(parts[:depth]) + "/"
                    if directory not in written:
                        entry = zipfile.ZipInfo(directory, date_time=(2020, 1, 1, 0, 0, 0))
                        entry.external_attr = 0o40755 << 16 | 0x10
                        archive.writestr(entry, b"")
                        written.add(directory)
                archive.writestr(info, data)
        assert {"pkg-1.0.data/", "pkg-1.0.data/purelib/", "pkg-1.0.data/scripts/"} <= written
        pyz = build(_project(tmp_path, wheel))
        assert run_pyz(pyz, "pkg_extra").startswith("pkg_extra: extra")
        with zipfile.ZipFile(pyz) as outer, outer.open("site-packages.zip") as inner, zipfile.ZipFile(inner) as staged:
            names = staged.namelist()
        assert {"site-packages/pkg_extra.py", "site-packages/bin/pkg-tool"} <= set(names)
        assert not [name for name in names if name.endswith("/")]


class TestInstalledTwice:
    def test_through_its_data_directory_names_both_members(self, tmp_path: Path) -> None:
        wheel = make_wheel(tmp_path / "wheels", "pkg", "1.0", members={"pkg-1.0.data/purelib/pkg/__init__.py": "x"})
        message = build_fails(_project(tmp_path, wheel), ZipappError)
        assert message == (
            f"Wheel {wheel.filename} has both pkg/__init__.py and pkg-1.0.data/purelib/pkg/__init__.py, with "
            f"different contents, both installed as site-packages/pkg/__init__.py: the wheel is broken. Lock another "
            f"version of it"
        )

    def test_a_member_the_zip_holds_twice(self, tmp_path: Path) -> None:
        """Two local headers and two directory entries of one name (zipfile warns, and writes them)."""
        wheel = make_wheel(tmp_path / "wheels", "pkg", "1.0")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "Duplicate name"
            with zipfile.ZipFile(wheel.path, "a") as archive:
                archive.writestr("pkg/__init__.py", 'VALUE = "the other one"\n')
        message = build_fails(_project(tmp_path, wheel), ZipappError)
        assert message == (
            f"Wheel {wheel.filename} holds pkg/__init__.py twice, with different contents, both installed as "
            f"site-packages/pkg/__init__.py: the wheel is broken. Lock another version of it"
        )

    def test_by_two_wheels_names_both(self, tmp_path: Path) -> None:
        alpha = make_wheel(tmp_path / "wheels", "alpha", "1.0", files={"shared/x.py": "A = 1\n"})
        beta = make_wheel(tmp_path / "wheels", "beta", "1.0", files={"shared/x.py": "B = 1\n"})
        message = build_fails(_project(tmp_path, alpha, beta), ZipappError)
        assert message == (
            f"{alpha.filename} and {beta.filename} both install site-packages/shared/x.py with different contents; "
            f"only one of them can be embedded: remove one from the lock"
        )


#: The longest name and path of a module the build accepts (``site-packages/...``): room left for its bytecode's.
_LONGEST_NAME = NAME_MAX - PYC_ROOM[0]
_LONGEST = PATH_MAX - ROOT_ALLOWANCE - PYC_ROOM[1]


def _deep(total: int) -> str:
    """A module path inside `pkg/`, of ``total`` bytes once staged (``site-packages/pkg/.../m.py``), in directories
    of at most 200 bytes."""
    head, tail = "site-packages/pkg/", "m.py"
    middle = total - len(head) - len(tail)
    parts = []
    while middle > 0:
        size = min(200, middle - 1)  # each with its "/"
        parts.append("d" * size)
        middle -= size + 1
    assert middle == 0, "choose another total"
    return "pkg/" + "".join(part + "/" for part in parts) + tail


_FIX = (
    "could never be extracted. To fix: leave it out of the lock (or lock another version of it), or out of the "
    "build hook that adds it"
)


class TestPathLength:
    @pytest.mark.parametrize(
        ("name", "size", "why"),
        [
            ("a" * NAME_MAX + "b", NAME_MAX + 1, ""),
            ("é" * 128, 256, ""),  # bytes, not characters
            ("a" * (_LONGEST_NAME - 2) + ".py", _LONGEST_NAME + 1, " (a module's name 34 less, for its bytecode's)"),
        ],
        ids=["ascii", "two-byte", "module"],
    )
    def test_a_name_longer_than_a_file_system_holds(self, tmp_path: Path, name: str, size: int, why: str) -> None:
        """Built, it failed at every start (or, a module, compiling its bytecode with "File name too long")."""
        wheel = make_wheel(tmp_path / "wheels", "pkg", "1.0", members={f"pkg/{name}": "x = 1\n"})
        message = build_fails(_project(tmp_path, wheel), ZipappError)
        shown = name if len(name) <= 63 else f"{name[:30]}...{name[-30:]}"
        assert message.startswith(f"{wheel.filename} installs 'site-packages/pkg/")
        assert message.endswith(
            f"whose name {shown!r} is {size} bytes long: a Linux file system holds names of at most 255 bytes{why}, "
            f"so the .pyz {_FIX}"
        )

    @pytest.mark.parametrize("module", [True, False])
    def test_a_path_longer_than_a_file_system_holds(self, tmp_path: Path, module: bool) -> None:
        limit = _LONGEST if module else PATH_MAX - ROOT_ALLOWANCE
        member = _deep(limit + 1)
        member = member if module else member.removesuffix(".py") + ".txt"
        size = limit + 1 + (0 if module else 1)
        wheel = make_wheel(tmp_path / "wheels", "pkg", "1.0", members={member: "x = 1\n"})
        message = build_fails(_project(tmp_path, wheel), ZipappError)
        shown = f"site-packages/{member}"
        shown = f"{shown[:60]}...{shown[-60:]}"
        why = " and the 46 a module's bytecode adds" if module else ""
        assert message == (
            f"{wheel.filename} installs {shown!r}, a path of {size} bytes: with the 1024 bytes kept for the directory "
            f"it is extracted below{why}, longer than the 4095 bytes a Linux path holds, so the .pyz {_FIX}"
        )

    def test_the_longest_name_and_path_build_and_run(self, tmp_path: Path) -> None:
        """At the bounds: a file's name of 255 bytes, a module's of 221 and its path of 3,025; extracted below a short
        root, compiled, imported."""
        name = "m" * (_LONGEST_NAME - 3)
        member = _deep(_LONGEST)
        assert len(f"site-packages/{member}".encode()) == _LONGEST
        module = member.removesuffix(".py").replace("/", ".")  # pkg.ddd...: namespace packages inside pkg
        members = {f"{name}.py": 'VALUE = "long name"\n', member: 'VALUE = "long path"\n', "x" * NAME_MAX: ""}
        wheel = make_wheel(tmp_path / "wheels", "pkg", "1.0", members=members)
        out = run_pyz(build(_project(tmp_path, wheel)), name, module)
        assert f"{name}: long name" in out and f"{module}: long path" in out
