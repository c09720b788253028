"""A target that gets a package's pure-Python wheel where the lock has compiled ones: one warning line per package and
target, naming what the other targets of the build got (silenced per package by `pure-python-ok`), and the .pyz's
build information (`hatch-zipapp info`) says so, the same whichever other targets were built with it. Tiny wheels
served on 127.0.0.1: `native` has a compiled manylinux x86_64 wheel and a pure one, nothing for aarch64."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from hatch_zipapp.builder import ZipappBuilder
from hatch_zipapp.errors import ConfigError
from hatch_zipapp.target import is_pure_python, wheel_platform
from tests.helpers import IndexServer, build, build_fails, make_project, make_wheel, pylock_text, requirements_text

AARCH64 = "cp312-cp312-manylinux_2_28_aarch64"
X86_64 = "cp312-cp312-manylinux_2_28_x86_64"
COMPILED = "native-1.0-cp312-cp312-manylinux_2_17_x86_64.whl"
PURE = "native-1.0-py3-none-any.whl"
WARNING = "is its pure-Python wheel"


def _project(
    root: Path, wheelhouse: Path, index: IndexServer, *, targets: tuple[str, ...], extra: str = "", lock: str = "pylock"
) -> Path:
    compiled = make_wheel(
        wheelhouse, "native", "1.0", tag="cp312-cp312-manylinux_2_17_x86_64", files={"native/__init__.py": "VALUE = 1"}
    )
    pure = make_wheel(wheelhouse, "native", "1.0", files={"native/__init__.py": "VALUE = 2"})
    alpha = make_wheel(wheelhouse, "alpha", "1.0")
    tables = ", ".join(f'{{ python = "3.12", platform = "{platform}" }}' for platform in targets)
    project = make_project(
        root, dependencies=["native", "alpha"], zipapp=f"bytecode = false\ntargets = [{tables}]\n{extra}"
    )
    if lock == "pylock":
        (project / "pylock.toml").write_text(pylock_text([[compiled, pure], [alpha]], base_url=index.url))
    else:
        text = requirements_text([[compiled, pure], [alpha]], index_url=index.simple)
        (project / "requirements.txt").write_text(text)
    return project


def _build_all(project: Path) -> dict[str, Path]:
    artifacts = ZipappBuilder(os.fspath(project)).build(directory=os.fspath(project / "dist"))
    return {Path(a).name.removeprefix("app-1.0-").removesuffix(".pyz"): Path(a) for a in artifacts}


def _distributions(pyz: Path) -> dict[str, dict[str, Any]]:
    with zipfile.ZipFile(pyz) as archive:
        info = json.loads(archive.read("hatch-zipapp.json"))
    return {dist["name"]: dist for dist in info["distributions"]}


def _warnings(err: str) -> list[str]:
    return [line for line in err.splitlines() if WARNING in line]


def _info(pyz: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hatch_zipapp", "info", os.fspath(pyz)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )


class TestWarning:
    def test_one_line_for_the_target_without_a_compiled_wheel(
        self, tmp_path: Path, wheelhouse: Path, index: IndexServer, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """aarch64 first: the build knows what a target built after it gets."""
        project = _project(
            tmp_path / "p", wheelhouse, index, targets=("manylinux_2_28_aarch64", "manylinux_2_28_x86_64")
        )
        built = _build_all(project)
        (line,) = _warnings(capsys.readouterr().err)
        assert line == (
            f"native 1.0 for CPython 3.12 on manylinux_2_28_aarch64 is its pure-Python wheel ({PURE}), without "
            f"compiled code, where {X86_64} got {COMPILED} and the lock has compiled wheels of it for cp312 on "
            "manylinux_2_17_x86_64. To fix: lock a native wheel that fits CPython 3.12 on manylinux_2_28_aarch64 "
            "(a version that has one, or a wheel built from its sdist on such a machine: its hash in the lock, its "
            "directory in `wheel-dirs`). To silence: add 'native' to `tool.hatch.build.targets.zipapp.pure-python-ok`"
        )
        aarch64, x86_64 = _distributions(built[AARCH64]), _distributions(built[X86_64])
        assert (aarch64["native"]["file"], x86_64["native"]["file"]) == (PURE, COMPILED)
        assert aarch64["native"]["pure_python"] == {"lock": ["manylinux_2_17_x86_64"], "allowed": False}
        assert "pure_python" not in aarch64["alpha"]  # pure everywhere: nothing to say
        assert not any("pure_python" in dist for dist in x86_64.values())

        info = _info(built[AARCH64])
        with zipfile.ZipFile(built[AARCH64]) as archive:
            assert info.stdout == archive.read("hatch-zipapp.json").decode()  # stdout: the JSON document alone
        assert info.stderr.splitlines() == [
            f"hatch-zipapp info: native 1.0 is its pure-Python wheel ({PURE}), without compiled code, where the lock "
            "has compiled wheels of it for manylinux_2_17_x86_64"
        ]
        assert _info(built[X86_64]).stderr == ""

    def test_the_lock_alone_has_the_compiled_wheel(
        self, tmp_path: Path, wheelhouse: Path, index: IndexServer, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """One target, a requirements lock: its hashes name the compiled wheel on the index."""
        project = _project(tmp_path / "p", wheelhouse, index, targets=("manylinux_2_28_aarch64",), lock="requirements")
        pyz = build(project)
        (line,) = _warnings(capsys.readouterr().err)
        assert line.startswith(
            f"native 1.0 for CPython 3.12 on manylinux_2_28_aarch64 is its pure-Python wheel ({PURE}), without "
            "compiled code, where the lock has compiled wheels of it for cp312 on manylinux_2_17_x86_64. To fix:"
        )
        assert _distributions(pyz)["native"]["pure_python"] == {"lock": ["manylinux_2_17_x86_64"], "allowed": False}

    def test_silenced_per_package_and_still_listed(
        self, tmp_path: Path, wheelhouse: Path, index: IndexServer, capsys: pytest.CaptureFixture[str]
    ) -> None:
        project = _project(
            tmp_path / "p",
            wheelhouse,
            index,
            targets=("manylinux_2_28_aarch64", "manylinux_2_28_x86_64"),
            extra='pure-python-ok = ["Native"]',
        )
        built = _build_all(project)
        assert _warnings(capsys.readouterr().err) == []
        assert _distributions(built[AARCH64])["native"]["pure_python"]["allowed"] is True
        assert _info(built[AARCH64]).stderr.rstrip().endswith("(allowed by `pure-python-ok`)")

    def test_the_pyz_is_the_same_built_alone_or_with_the_other_target(
        self,
        tmp_path: Path,
        wheelhouse: Path,
        index: IndexServer,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        """A CI matrix builds one target a runner: its .pyz has the bytes of the one built with every target."""
        project = _project(
            tmp_path / "p", wheelhouse, index, targets=("manylinux_2_28_aarch64", "manylinux_2_28_x86_64")
        )
        together = _build_all(project)[AARCH64]
        monkeypatch.setenv("HATCH_ZIPAPP_TARGETS", "cp312-manylinux_2_28_aarch64")
        alone = build(project, tmp_path / "alone")
        assert alone.name == together.name and alone.read_bytes() == together.read_bytes()
        first, second = _warnings(capsys.readouterr().err)  # the build alone does not know what x86_64 gets
        assert f" where {X86_64} got {COMPILED} and the lock has" in first
        assert " where the lock has compiled wheels of it for cp312 on manylinux_2_17_x86_64. To fix:" in second

    def test_another_version_of_it_is_compiled(
        self, tmp_path: Path, wheelhouse: Path, index: IndexServer, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A universal lock with native 0.9 (compiled) below Python 3.12 and native 1.0 (pure only) from 3.12 on."""
        old = make_wheel(
            wheelhouse, "native", "0.9", tag="cp311-cp311-manylinux_2_17_x86_64", marker='python_version < "3.12"'
        )
        new = make_wheel(wheelhouse, "native", "1.0", marker='python_version >= "3.12"')
        alpha = make_wheel(wheelhouse, "alpha", "1.0")
        project = make_project(
            tmp_path / "p",
            dependencies=["native", "alpha"],
            zipapp="bytecode = false\ntargets = [\n"
            '  { python = "3.12", platform = "manylinux_2_28_aarch64" },\n'
            '  { python = "3.11", platform = "manylinux_2_28_x86_64" },\n'
            "]",
        )
        (project / "pylock.toml").write_text(pylock_text([[old], [new], [alpha]], base_url=index.url))
        built = _build_all(project)
        (line,) = _warnings(capsys.readouterr().err)
        assert line.startswith(
            f"native 1.0 for CPython 3.12 on manylinux_2_28_aarch64 is its pure-Python wheel ({PURE}), without "
            "compiled code, where cp311-cp311-manylinux_2_28_x86_64 got "
            "native-0.9-cp311-cp311-manylinux_2_17_x86_64.whl and the lock has compiled wheels of it for cp311 on "
            "manylinux_2_17_x86_64. To fix:"
        )
        assert _distributions(built[AARCH64])["native"]["pure_python"] == {
            "lock": ["manylinux_2_17_x86_64"],
            "allowed": False,
        }


class TestPurePythonOkOption:
    def test_a_name_the_lock_does_not_have(self, tmp_path: Path, wheelhouse: Path, index: IndexServer) -> None:
        project = _project(
            tmp_path / "p",
            wheelhouse,
            index,
            targets=("manylinux_2_28_aarch64",),
            extra='pure-python-ok = ["natve", "alpha", "zzz"]',
        )
        message = build_fails(
            project,
            ConfigError,
            "Field `tool.hatch.build.targets.zipapp.pure-python-ok` names 'natve' (did you mean 'native'?), 'zzz', "
            "which pylock.toml does not lock: correct the name, or remove it",
        )
        assert "\n" not in message

    def test_not_an_array(self, tmp_path: Path) -> None:
        project = make_project(tmp_path / "p", zipapp='pure-python-ok = "black"')
        with pytest.raises(ConfigError, match=r"Field `tool.hatch.build.targets.zipapp.pure-python-ok` must be an arr"):
            build(project)

    def test_not_a_package_name(self, tmp_path: Path) -> None:
        project = make_project(tmp_path / "p", zipapp='pure-python-ok = ["black", "bl ack"]')
        match = r"Package name #2 in field `tool.hatch.build.targets.zipapp.pure-python-ok` is not a valid package name"
        with pytest.raises(ConfigError, match=match):
            build(project)


def test_wheel_names() -> None:
    assert is_pure_python("black-24.2.0-py3-none-any.whl")
    assert is_pure_python("six-1.16.0-py2.py3-none-any.whl")
    assert not is_pure_python("black-24.2.0-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl")
    assert not is_pure_python("cryptography-43.0.0-cp39-abi3-macosx_10_9_universal2.whl")
    assert wheel_platform("black-24.2.0-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl") == (
        "cp312",
        "manylinux_2_17_x86_64",
    )
    assert wheel_platform("black-26.1-cp310-cp310-manylinux2014_x86_64.manylinux_2_17_x86_64.whl") == (
        "cp310",
        "manylinux_2_17_x86_64",
    )
    assert wheel_platform("charset_normalizer-3.4.0-cp39.cp310-none-win_amd64.whl") == ("cp39", "win_amd64")
