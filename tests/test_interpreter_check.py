"""The wrong interpreter is refused before anything else runs: one line, no traceback, nothing extracted; the right
one runs. Checked with every Python 3 on the machine (pyenv's and PATH's), on real built .pyz files."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import pytest
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from hatch_zipapp.bootstrap.check import check, satisfies
from hatch_zipapp.layout import PyzReader
from tests.helpers import IndexServer, build, interpreters, make_project, make_wheel, pylock_text

if TYPE_CHECKING:
    from hatch_zipapp.bootstrap.check import Requirement

HOST = f"{sys.version_info[0]}.{sys.version_info[1]}"
HOST_TAG = f"cp{sys.version_info[0]}{sys.version_info[1]}"


INTERPRETERS = interpreters()
OTHERS = {version: path for version, path in INTERPRETERS.items() if version != HOST}


def test_other_interpreters_were_found() -> None:
    """The checks below need other Pythons: pyenv keeps 3.6 to 3.13 on the test machines."""
    assert len(OTHERS) >= 1, f"no Python 3 other than {HOST} found under ~/.pyenv/versions or on PATH"
    assert "3.6" in OTHERS or HOST == "3.6", "Python 3.6, the oldest the check must run on, was not found"


class TestSpecifiers:
    """The runtime's own PEP 440 evaluator (standard library only) agrees with `packaging.specifiers`."""

    RELEASES: ClassVar[list[str]] = [
        "3",
        "3.0",
        "3.6",
        "3.8",
        "3.8.0",
        "3.8.1",
        "3.10",
        "3.10.2",
        "3.11.0",
        "3.12",
        "3.13.1",
        "4",
        "2.7",
    ]
    OPERATORS: ClassVar[list[str]] = ["==", "!=", "<=", ">=", "<", ">", "~="]
    VERSIONS: ClassVar[list[tuple[int, int, int]]] = [
        (3, minor, micro) for minor in range(5, 15) for micro in (0, 1, 2, 9, 12)
    ] + [(2, 7, 18), (4, 0, 0)]

    def _clauses(self) -> list[str]:
        clauses = [f"{op}{release}" for op in self.OPERATORS for release in self.RELEASES]
        clauses = [c for c in clauses if not (c.startswith("~=") and "." not in c)]
        clauses += [f"{op}{release}.*" for op in ("==", "!=") for release in self.RELEASES]
        return clauses

    def test_every_clause_against_packaging(self) -> None:
        checked = 0
        for clause in self._clauses():
            specifier = SpecifierSet(clause)
            for version in self.VERSIONS:
                expected = specifier.contains(Version(".".join(map(str, version))), prereleases=True)
                assert satisfies(clause, version) == expected, (clause, version)
                checked += 1
        assert checked > 5_000

    def test_combinations_and_spelling(self) -> None:
        sets = [", ".join(pair) for pair in itertools.combinations(self._clauses()[::7], 2)]
        sets += [
            ">=2.7, !=3.0.*, !=3.1.*, !=3.2.*, !=3.3.*, !=3.4.*, <4",
            " >= 3.8 ,< 3.13 ",
            "~=3.10.1",
            "==3.11.*",
            "",
        ]
        for text in sets:
            specifier = SpecifierSet(text)
            for version in self.VERSIONS:
                expected = specifier.contains(Version(".".join(map(str, version))), prereleases=True)
                assert satisfies(text, version) == expected, (text, version)

    def test_what_it_does_not_understand_does_not_refuse(self) -> None:
        assert satisfies(">=3.8.0rc1, !=3.9.0.post1, ==3.9.0+local", (3, 9, 0))
        assert not satisfies(">=3.8.0rc1, <3.9", (3, 9, 0))


@pytest.fixture(scope="module")
def module_index(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, IndexServer]:
    wheelhouse = tmp_path_factory.mktemp("wheelhouse")
    return wheelhouse, IndexServer(wheelhouse)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The .pyz files of this module, each built once: an exact CPython one (a native wheel for this Python beside
    an abi3 one needing a newer glibc), a pure one whose dependency declares Requires-Python, and one for an
    explicit target needing glibc 2.99."""
    tmp = tmp_path_factory.mktemp("check")
    wheelhouse = tmp / "wheelhouse"
    native = make_wheel(wheelhouse, "native", "1.0", tag=f"{HOST_TAG}-{HOST_TAG}-manylinux_2_17_x86_64")
    stable = make_wheel(wheelhouse, "stable", "1.0", tag="cp39-abi3-manylinux_2_34_x86_64")
    metadata = "Metadata-Version: 2.1\nName: beta\nVersion: 1.0\nRequires-Python: >=3.10\n"
    beta = make_wheel(wheelhouse, "beta", "1.0", members={"beta-1.0.dist-info/METADATA": metadata})
    script = "#!python\nprint('tool ok')\n"
    tool = make_wheel(wheelhouse, "tool", "1.0", members={"tool-1.0.data/scripts/tool": script})
    server = IndexServer(wheelhouse)
    pyz: dict[str, Path] = {}
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("HATCH_ZIPAPP_CACHE_DIR", os.fspath(tmp / "cache"))
            exact = make_project(tmp / "exact", dependencies=["native", "stable", "tool"])
            (exact / "pylock.toml").write_text(pylock_text([[native], [stable], [tool]], base_url=server.url))
            pyz["exact"] = build(exact)
            abi3 = make_project(tmp / "abi3", dependencies=["stable"])
            (abi3 / "pylock.toml").write_text(pylock_text([[stable]], base_url=server.url))
            pyz["abi3"] = build(abi3)
            pure = make_project(tmp / "pure", dependencies=["beta", "tool"])
            (pure / "pylock.toml").write_text(pylock_text([[beta], [tool]], base_url=server.url))
            pyz["pure"] = build(pure)
            future = make_project(
                tmp / "future",
                dependencies=["beta"],
                zipapp=f'targets = [{{ python = "{HOST}", platform = "manylinux_2_99_x86_64" }}]',
            )
            (future / "pylock.toml").write_text(pylock_text([[beta]], base_url=server.url))
            pyz["future"] = build(future)
    finally:
        server.stop()
    return pyz


def _run(python: str | None, pyz: Path, root: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ZIPAPP_", "SHIV_"))}
    env.update({"ZIPAPP_ROOT": os.fspath(root), **extra})
    argv = [python, os.fspath(pyz)] if python else [os.fspath(pyz)]
    return subprocess.run(argv, cwd=pyz.parent, env=env, capture_output=True, text=True, timeout=60, check=False)


def _refused(result: subprocess.CompletedProcess[str], root: Path, *fragments: str) -> str:
    assert result.returncode == 1, result.stderr
    assert result.stdout == ""
    line = result.stderr
    assert line.count("\n") == 1 and line.endswith("\n"), line  # one line
    assert "Traceback" not in line and "Error" not in line, line
    assert "ZIPAPP_SKIP_INTERPRETER_CHECK=1 skips this check" in line
    assert not root.exists(), "the application ran: its extraction root was created"
    for fragment in fragments:
        assert fragment in line, line
    return line


class TestExactPython:
    def test_name_and_record_state_the_highest_glibc_abi3_included(self, built: dict[str, Path]) -> None:
        pyz = built["exact"]
        assert pyz.name == f"app-1.0-{HOST_TAG}-{HOST_TAG}-manylinux_2_34_x86_64.pyz"
        with PyzReader(pyz) as archive:
            requires = json.loads(archive.read("hatch-zipapp.json"))["target"]["requires"]
        assert requires["tag"] == f"{HOST_TAG}-{HOST_TAG}-manylinux_2_34_x86_64"
        assert (requires["libc"], requires["minimum"], requires["machine"]) == ("glibc", [2, 34], "x86_64")
        assert (requires["implementation"], requires["python"], requires["exact"]) == ("cpython", HOST, True)
        assert requires["requires_python"] == [[">=3.8", "the project's requires-python"]]

    def test_shebang_names_the_python_it_needs_scripts_too(self, built: dict[str, Path]) -> None:
        assert built["exact"].read_bytes().startswith(f"#!/usr/bin/env python{HOST}\n".encode())
        with PyzReader(built["exact"]) as archive:
            assert archive.read("site-packages/bin/tool").startswith(f"#!/usr/bin/env python{HOST}\n".encode())

    def test_its_python_runs(self, built: dict[str, Path], tmp_path: Path) -> None:
        result = _run(sys.executable, built["exact"], tmp_path / "root")
        assert result.returncode == 0 and result.stdout == "app ok\n", result.stderr
        assert (tmp_path / "root").is_dir()

    @pytest.mark.parametrize("version", sorted(OTHERS, key=lambda v: tuple(map(int, str(v).split(".")))))
    def test_every_other_python_is_refused_in_one_line(
        self, built: dict[str, Path], tmp_path: Path, version: str
    ) -> None:
        root = tmp_path / "root"
        line = _refused(
            _run(OTHERS[version], built["exact"], root),
            root,
            f"{built['exact'].name}: needs CPython {HOST}, not CPython {version}.",
            f"Built for CPython {HOST}, ABI {HOST_TAG}, manylinux_2_34_x86_64 (glibc 2.34 or newer, x86_64), "
            "requires-python >=3.8 (the project's requires-python)",
            f"running CPython {version}.",
            OTHERS[version],
            f"Run it with python{HOST} (python{HOST} {built['exact']})",
        )
        assert "or build it for this interpreter" in line

    def test_the_override_skips_the_check(self, built: dict[str, Path], tmp_path: Path) -> None:
        newer = [v for v in OTHERS if tuple(map(int, v.split("."))) >= (3, 8)]  # as numbers: "3.10" < "3.8" as text
        version = max(newer, default=None, key=lambda v: tuple(map(int, v.split("."))))
        assert version is not None, "no other Python 3.8+ to run the runtime with"
        result = _run(OTHERS[version], built["exact"], tmp_path / "root", ZIPAPP_SKIP_INTERPRETER_CHECK="1")
        assert result.returncode == 0 and result.stdout == "app ok\n", result.stderr

    def test_info_prints_on_a_refused_interpreter(self, built: dict[str, Path], tmp_path: Path) -> None:
        oldest = min(OTHERS, key=lambda v: tuple(map(int, str(v).split("."))))
        result = _run(OTHERS[oldest], built["exact"], tmp_path / "root", ZIPAPP_INFO="1")
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["target"]["requires"]["python"] == HOST
        assert not (tmp_path / "root").exists()


class TestStableAbi:
    """An abi3 .pyz runs on its Python version or newer."""

    def test_name_and_shebang(self, built: dict[str, Path]) -> None:
        assert built["abi3"].name == f"app-1.0-{HOST_TAG}-abi3-manylinux_2_34_x86_64.pyz"
        assert built["abi3"].read_bytes().startswith(b"#!/usr/bin/env python3\n")

    @pytest.mark.parametrize("version", sorted(INTERPRETERS, key=lambda v: tuple(map(int, str(v).split(".")))))
    def test_each_python(self, built: dict[str, Path], tmp_path: Path, version: str) -> None:
        root = tmp_path / "root"
        result = _run(INTERPRETERS[version], built["abi3"], root)
        if tuple(map(int, version.split("."))) >= sys.version_info[:2]:
            assert result.returncode == 0 and result.stdout == "app ok\n", result.stderr
        else:
            _refused(
                result, root, f"needs CPython {HOST} or newer, not CPython {version}.", f"Run it with python{HOST}"
            )


class TestPurePython:
    """A py3-none-any .pyz checks only requires-python: the project's and every embedded distribution's."""

    def test_shebang_is_any_python3(self, built: dict[str, Path]) -> None:
        assert built["pure"].name == "app-1.0-py3-none-any.pyz"
        assert built["pure"].read_bytes().startswith(b"#!/usr/bin/env python3\n")
        with PyzReader(built["pure"]) as archive:
            assert archive.read("site-packages/bin/tool").startswith(b"#!/usr/bin/env python3\n")

    @pytest.mark.parametrize("version", sorted(INTERPRETERS, key=lambda v: tuple(map(int, str(v).split(".")))))
    def test_each_python(self, built: dict[str, Path], tmp_path: Path, version: str) -> None:
        root = tmp_path / "root"
        result = _run(INTERPRETERS[version], built["pure"], root)
        minor = int(version.split(".")[1])
        if minor >= 10:
            assert result.returncode == 0 and result.stdout == "app ok\n", result.stderr
        elif minor >= 8:
            _refused(result, root, "needs Python >=3.10 (Requires-Python of beta 1.0)", "Run it with python3.10")
        else:
            _refused(result, root, "needs Python >=3.8 (the project's requires-python)", "Run it with python3.10")


class TestPlatform:
    def test_a_glibc_newer_than_this_machine_is_refused(self, built: dict[str, Path], tmp_path: Path) -> None:
        glibc = os.confstr("CS_GNU_LIBC_VERSION")
        assert glibc and glibc.startswith("glibc 2.")
        pyz = built["future"]
        assert pyz.name == f"app-1.0-{HOST_TAG}-{HOST_TAG}-manylinux_2_99_x86_64.pyz"
        root = tmp_path / "root"
        _refused(
            _run(None, pyz, root),  # through its shebang
            root,
            f"needs glibc 2.99 or newer, not {glibc}.",
            f'Build it for this machine (a target with platform = "manylinux_{glibc[6:].replace(".", "_")}_x86_64")',
        )

    def test_the_override_skips_it(self, built: dict[str, Path], tmp_path: Path) -> None:
        result = _run(sys.executable, built["future"], tmp_path / "root", ZIPAPP_SKIP_INTERPRETER_CHECK="1")
        assert result.returncode == 0 and result.stdout == "app ok\n", result.stderr


def test_first_code_parses_on_the_oldest_python(built: dict[str, Path], tmp_path: Path) -> None:
    """``__main__.py`` and the check compile on every Python found (3.6 up): the message never becomes a
    SyntaxError."""
    with PyzReader(built["exact"]) as archive:
        sources = {name: archive.read(name) for name in ("__main__.py",)}
    for name, data in sources.items():
        (tmp_path / name.replace("/", "_")).write_bytes(data)
    for version, python in INTERPRETERS.items():
        for name in sources:
            path = tmp_path / name.replace("/", "_")
            code = f"compile(open({os.fspath(path)!r}, 'rb').read(), {name!r}, 'exec')"
            result = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=30, check=False)
            assert result.returncode == 0, f"{name} on Python {version}: {result.stderr}"


def test_shebang_option_still_wins(tmp_path: Path, wheelhouse: Path, index: IndexServer) -> None:
    native = make_wheel(wheelhouse, "native", "1.0", tag=f"{HOST_TAG}-{HOST_TAG}-manylinux_2_17_x86_64")
    project = make_project(tmp_path / "p", dependencies=["native"], zipapp='shebang = "/opt/python/bin/python3"')
    (project / "pylock.toml").write_text(pylock_text([[native]], base_url=index.url))
    assert build(project).read_bytes().startswith(b"#!/opt/python/bin/python3\n")
    shutil.rmtree(project / "dist")


class TestEachRequirement:
    """Each field of the requirement, in this process: what the line says when only that one does not fit."""

    def _requirement(self, **changes: object) -> Requirement:
        glibc = os.confstr("CS_GNU_LIBC_VERSION") or "glibc 2.17"
        machine = os.uname().machine
        requirement: Requirement = {
            "tag": f"{HOST_TAG}-{HOST_TAG}-manylinux_2_17_{machine}",
            "implementation": sys.implementation.name,
            "python": HOST,
            "exact": True,
            "abi": HOST_TAG + sys.abiflags,
            "platform": f"manylinux_2_17_{machine}",
            "os": "linux",
            "machine": machine,
            "libc": "glibc",
            "minimum": [int(n) for n in glibc.split()[1].split(".")[:2]],
            "requires_python": [[">=3.6", "the project's requires-python"]],
        }
        return {**requirement, **changes}  # type: ignore[typeddict-item]

    def _line(self, capsys: pytest.CaptureFixture[str], requirement: Requirement) -> str:
        with pytest.raises(SystemExit) as exit_info:
            check(requirement)
        assert exit_info.value.code == 1
        line = capsys.readouterr().err
        assert line.count("\n") == 1, line
        return line

    def test_this_interpreter_fits(self) -> None:
        check(self._requirement())

    def test_the_abi_flags(self, capsys: pytest.CaptureFixture[str]) -> None:
        line = self._line(capsys, self._requirement(abi=HOST_TAG + "t"))
        assert f"needs ABI {HOST_TAG}t (this Python's is {HOST_TAG}{sys.abiflags})" in line
        assert f"Run it with python{HOST}t" in line

    def test_the_os_and_the_machine(self, capsys: pytest.CaptureFixture[str]) -> None:
        assert f"needs sys.platform darwin, not {sys.platform}." in self._line(capsys, self._requirement(os="darwin"))
        line = self._line(capsys, self._requirement(machine="s390x"))
        assert f"needs machine s390x, not {os.uname().machine}." in line

    def test_musl_on_glibc(self, capsys: pytest.CaptureFixture[str]) -> None:
        line = self._line(capsys, self._requirement(libc="musl", minimum=[1, 2]))
        assert "needs musl libc, not glibc." in line and "(musl 1.2 or newer" in line

    def test_requires_python_names_whose(self, capsys: pytest.CaptureFixture[str]) -> None:
        specifiers = [[">=3.6", "the project's requires-python"], ["<3.6", "Requires-Python of old 1.0"]]
        line = self._line(capsys, self._requirement(requires_python=specifiers))
        assert "needs Python <3.6 (Requires-Python of old 1.0)" in line

    def test_the_override(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("ZIPAPP_SKIP_INTERPRETER_CHECK", "1")
        check(self._requirement(python="2.7", os="darwin"))
