"""Rules tested where a wrong one disagrees: version comparisons where text and numeric order differ (2.5 and 2.17,
3.9 and 3.10, 10.9 and 10.13), each at its boundary; every bad value of a rule, not one (each group- or
other-writable mode, an unsafe directory one, two and three levels up, each off word and several wrong ones of an
on/off variable, a whole number at its minimum and below it).

All in this process, on real directories and real modes (the runtime's modules are the ones a .pyz embeds)."""

from __future__ import annotations

import os
import platform
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from hatch_zipapp.bootstrap import check as check_module
from hatch_zipapp.bootstrap.check import check
from hatch_zipapp.bootstrap.documents import BootstrapError, count, flag
from hatch_zipapp.bootstrap.roots import check_above, secure
from tests.helpers import umask
from tests.test_targets import _built_here

if TYPE_CHECKING:
    from hatch_zipapp.bootstrap.check import Requirement

MACHINE = os.uname().machine


def _requirement(**changes: object) -> Requirement:
    """What a pure .pyz for any Python 3 on Linux of this machine needs, with ``changes``."""
    requirement: Requirement = {
        "tag": f"py3-none-manylinux_2_17_{MACHINE}",
        "implementation": None,
        "python": None,
        "exact": False,
        "abi": None,
        "platform": f"manylinux_2_17_{MACHINE}",
        "os": "linux",
        "machine": MACHINE,
        "libc": "glibc",
        "minimum": [2, 17],
        "requires_python": [],
    }
    return {**requirement, **changes}  # type: ignore[typeddict-item]


def _refused(capsys: pytest.CaptureFixture[str], requirement: Requirement) -> str:
    with pytest.raises(SystemExit) as info:
        check(requirement)
    assert info.value.code == 1
    line = capsys.readouterr().err
    assert line.count("\n") == 1, line
    return line


class TestGlibcOrder:
    """glibc 2.5 is older than 2.17, though "2.5" > "2.17" as text."""

    @pytest.fixture(autouse=True)
    def _linux(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(sys, "platform", "linux")

    @pytest.mark.parametrize(("have", "minimum"), [((2, 5), [2, 17]), ((2, 16), [2, 17]), ((2, 9), [2, 10])])
    def test_an_older_glibc_is_refused(
        self, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], have: tuple[int, int],
        minimum: list[int],
    ) -> None:  # fmt: skip
        monkeypatch.setattr(check_module, "_glibc", lambda: have)
        line = _refused(capsys, _requirement(minimum=minimum))
        wanted, found = ".".join(map(str, minimum)), ".".join(map(str, have))
        assert f"needs glibc {wanted} or newer, not glibc {found}." in line

    @pytest.mark.parametrize(("have", "minimum"), [((2, 17), [2, 5]), ((2, 17), [2, 17]), ((2, 36), [2, 4]),
                                                   ((2, 10), [2, 9]), ((3, 0), [2, 40])])  # fmt: skip
    def test_the_same_or_a_newer_glibc_runs(
        self, monkeypatch: pytest.MonkeyPatch, have: tuple[int, int], minimum: list[int]
    ) -> None:
        monkeypatch.setattr(check_module, "_glibc", lambda: have)
        check(_requirement(minimum=minimum))


class TestMacOSOrder:
    """macOS 10.9 is older than 10.13, though "10.9" > "10.13" as text."""

    def _on_mac(self, monkeypatch: pytest.MonkeyPatch, version: str) -> Requirement:
        monkeypatch.setattr(sys, "platform", "darwin")
        monkeypatch.setattr(platform, "mac_ver", lambda: (version, ("", "", ""), MACHINE))
        return _requirement(os="darwin", libc=None, platform=f"macosx_10_13_{MACHINE}")

    @pytest.mark.parametrize(("have", "minimum"), [("10.9", [10, 13]), ("10.12.6", [10, 13]), ("11.7", [12, 0])])
    def test_an_older_macos_is_refused(
        self, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], have: str, minimum: list[int]
    ) -> None:
        requirement = {**self._on_mac(monkeypatch, have), "minimum": minimum}
        line = _refused(capsys, requirement)  # type: ignore[arg-type]
        assert f"needs macOS {'.'.join(map(str, minimum))} or newer, not macOS {have}." in line

    @pytest.mark.parametrize(("have", "minimum"), [("10.13", [10, 9]), ("10.13", [10, 13]), ("14.2.1", [11, 0])])
    def test_the_same_or_a_newer_macos_runs(
        self, monkeypatch: pytest.MonkeyPatch, have: str, minimum: list[int]
    ) -> None:
        check({**self._on_mac(monkeypatch, have), "minimum": minimum})


class TestPythonOrder:
    """An abi3 .pyz for 3.9 runs on 3.10 and later, though "3.10" < "3.9" as text; one for 3.12 not on 3.11."""

    @pytest.fixture
    def running(self, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
        monkeypatch.setattr(sys, "platform", "linux")
        monkeypatch.setattr(check_module, "_glibc", lambda: (2, 36))
        yield

    def _requirement(self, python: str) -> Requirement:
        return _requirement(implementation=sys.implementation.name, python=python, exact=False, abi="abi3")

    @pytest.mark.parametrize("python", ["3.2", "3.8", "3.9", f"3.{sys.version_info[1]}"])
    def test_an_older_or_equal_minor_runs(self, running: None, python: str) -> None:
        check(self._requirement(python))

    def test_a_newer_minor_is_refused(self, running: None, capsys: pytest.CaptureFixture[str]) -> None:
        newer = f"3.{sys.version_info[1] + 1}"
        line = _refused(capsys, self._requirement(newer))
        assert f"needs CPython {newer} or newer, not CPython {sys.version_info[0]}." in line

    def test_a_requires_python_of_two_digit_minors(self, running: None, capsys: pytest.CaptureFixture[str]) -> None:
        minor = sys.version_info[1]
        check(_requirement(requires_python=[[f">=3.9,<3.{minor + 1}", "the project's requires-python"]]))
        line = _refused(capsys, _requirement(requires_python=[[f">=3.{minor + 1}", "the project's requires-python"]]))
        assert f"Run it with python3.{minor + 1} " in line


class TestManylinuxOrder:
    """The glibc a .pyz needs: each wheel by its least demanding tag, the highest of the wheels, in numeric order."""

    def test_a_wheel_tagged_2_5_and_2_17_needs_2_5(self) -> None:
        host = _built_here("3.12", "manylinux_2_36_x86_64")
        wheel = "a-1-cp312-cp312-manylinux_2_5_x86_64.manylinux1_x86_64.manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
        assert host.requirement([wheel])["minimum"] == [2, 5]
        assert host.archive_tag([wheel]) == "cp312-cp312-manylinux_2_5_x86_64"

    @pytest.mark.parametrize(("low", "high"), [("2_5", "2_17"), ("2_9", "2_10"), ("2_17", "2_28")])
    def test_the_highest_wheel_wins(self, low: str, high: str) -> None:
        host = _built_here("3.12", "manylinux_2_36_x86_64")
        for wheels in (
            [f"a-1-cp312-cp312-manylinux_{low}_x86_64.whl", f"b-1-cp312-cp312-manylinux_{high}_x86_64.whl"],
            [f"b-1-cp312-cp312-manylinux_{high}_x86_64.whl", f"a-1-cp312-cp312-manylinux_{low}_x86_64.whl"],
        ):
            assert host.requirement(wheels)["minimum"] == [int(n) for n in high.split("_")], wheels

    def test_macos_10_9_and_10_13(self) -> None:
        host = _built_here("3.12", "macosx_14_0_x86_64")
        wheels = ["a-1-cp312-cp312-macosx_10_9_x86_64.whl", "b-1-cp312-cp312-macosx_10_13_x86_64.whl"]
        assert host.requirement(wheels)["minimum"] == [10, 13]


VARIABLE = "ZIPAPP_TEST_FLAG"


class TestOnOff:
    """Every word of the on/off rule, in any case and spacing; anything else is one line naming the variable."""

    @pytest.mark.parametrize("value", ["1", "true", "TRUE", "yes", "Yes", "on", " ON "])
    def test_on(self, monkeypatch: pytest.MonkeyPatch, value: str) -> None:
        monkeypatch.setenv(VARIABLE, value)
        assert flag(VARIABLE) is True
        assert flag(VARIABLE, default=False) is True

    @pytest.mark.parametrize("value", ["0", "false", "False", "no", "NO", "off", "Off", "", " 0 "])
    def test_off(self, monkeypatch: pytest.MonkeyPatch, value: str) -> None:
        monkeypatch.setenv(VARIABLE, value)
        assert flag(VARIABLE, default=True) is False

    def test_unset_is_the_default(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.delenv(VARIABLE, raising=False)
        assert flag(VARIABLE) is False
        assert flag(VARIABLE, default=True) is True

    @pytest.mark.parametrize("value", ["2", "-1", "y", "n", "enable", "disabled", "tru", "of", "1.0", "0x1", "yes!"])
    def test_anything_else_is_one_line(self, monkeypatch: pytest.MonkeyPatch, value: str) -> None:
        monkeypatch.setenv(VARIABLE, value)
        for default in (False, True):
            with pytest.raises(BootstrapError) as info:
                flag(VARIABLE, default)
            assert str(info.value) == (
                f"{VARIABLE}={value!r} is not on or off: set it to 1 (on) or 0 (off), or unset it"
            )


class TestWholeNumbers:
    """A whole number at its minimum is taken; one below it, or not a whole number, is one line."""

    @pytest.mark.parametrize(("value", "expected"), [("1", 1), ("2", 2), (" 10 ", 10), ("", 7)])
    def test_at_or_above_the_minimum(self, monkeypatch: pytest.MonkeyPatch, value: str, expected: int) -> None:
        monkeypatch.setenv(VARIABLE, value)
        assert count(VARIABLE, 7, 1) == expected

    def test_zero_where_zero_is_the_minimum(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv(VARIABLE, "0")
        assert count(VARIABLE, 3, 0) == 0

    @pytest.mark.parametrize("value", ["0", "-1", "1.5", "x", "1e3", "one"])
    def test_below_it_or_not_a_number(self, monkeypatch: pytest.MonkeyPatch, value: str) -> None:
        monkeypatch.setenv(VARIABLE, value)
        with pytest.raises(BootstrapError) as info:
            count(VARIABLE, 7, 1)
        assert str(info.value) == f"{VARIABLE}={value!r} is not a whole number of at least 1: set one, or unset it"


#: Modes a root, or a directory above it, must not have: each group- or other-writable bit, alone or together.
UNSAFE_MODES = [0o777, 0o775, 0o757, 0o767, 0o770, 0o707, 0o720, 0o702, 0o722, 0o1770]
SAFE_MODES = [0o700, 0o755, 0o750, 0o705, 0o711, 0o500]


class TestRootModes:
    @pytest.mark.parametrize("mode", UNSAFE_MODES, ids=[f"{m:04o}" for m in UNSAFE_MODES])
    def test_a_root_writable_by_group_or_others_is_refused(self, tmp_path: Path, mode: int) -> None:
        root = tmp_path / "root"
        root.mkdir()
        root.chmod(mode)
        with pytest.raises(BootstrapError) as info:
            secure(os.fspath(root), "ZIPAPP_ROOT", "app")
        assert str(info.value) == (
            f"refusing to run app from $ZIPAPP_ROOT={root}: it is writable by group or others (mode {mode:04o}). "
            "Use a directory only you can write (chmod go-w)"
        )

    @pytest.mark.parametrize("mode", SAFE_MODES, ids=[f"{m:04o}" for m in SAFE_MODES])
    def test_a_root_only_its_owner_writes_is_used(self, tmp_path: Path, mode: int) -> None:
        root = tmp_path / "root"
        root.mkdir()
        root.chmod(mode)
        assert secure(os.fspath(root), "ZIPAPP_ROOT", "app")[0] == os.fspath(root)

    def test_a_sticky_world_writable_root_gives_a_private_directory(self, tmp_path: Path) -> None:
        root = tmp_path / "shared"
        root.mkdir()
        root.chmod(0o1777)
        real, writable = secure(os.fspath(root), "ZIPAPP_ROOT", "app")
        assert (real, writable) == (os.fspath(root / f"hatch-zipapp-{os.geteuid()}"), True)
        assert (Path(real).stat().st_mode & 0o7777) == 0o700


class TestAncestors:
    """A directory above the root that another user could write makes it unsafe at every level above it."""

    @pytest.mark.parametrize("levels", [1, 2, 3])
    @pytest.mark.parametrize("mode", [0o777, 0o775, 0o757], ids=["0777", "0775", "0757"])
    def test_an_unsafe_directory_above(self, tmp_path: Path, levels: int, mode: int) -> None:
        unsafe = tmp_path / "unsafe"
        root = unsafe.joinpath(*["d"] * (levels - 1), "root")
        root.mkdir(parents=True, mode=0o700)
        unsafe.chmod(mode)
        with pytest.raises(BootstrapError) as info:
            check_above(os.fspath(root))
        assert str(info.value) == (
            f"{unsafe} is unsafe: it is writable by group or others (mode {mode:04o}), so another user could replace "
            f"{root}. Use another directory"
        )
        with pytest.raises(BootstrapError, match=f"^refusing|^{unsafe} is unsafe"):
            secure(os.fspath(root), "ZIPAPP_ROOT", "app")

    @pytest.mark.parametrize("levels", [1, 2, 3])
    def test_a_sticky_one_above_is_fine(self, tmp_path: Path, levels: int) -> None:
        sticky = tmp_path / "sticky"
        root = sticky.joinpath(*["d"] * (levels - 1), "root")
        root.mkdir(parents=True, mode=0o700)
        sticky.chmod(0o1777)
        check_above(os.fspath(root))


class TestRootsThatDoNotExistYet:
    """A root that does not exist yet is made, every missing directory with the runtime's mode whatever the umask,
    and checked like one that exists."""

    @pytest.mark.parametrize("depth", [1, 2, 3])
    def test_missing_levels_are_made_private(self, tmp_path: Path, depth: int) -> None:
        root = tmp_path.joinpath(*[f"level{i}" for i in range(depth)])
        with umask(0):
            real, writable = secure(os.fspath(root), "ZIPAPP_ROOT", "app")
        assert (real, writable) == (os.fspath(root), True)
        for i in range(depth):
            made = tmp_path.joinpath(*[f"level{j}" for j in range(i + 1)])
            assert made.stat().st_mode & 0o7777 == 0o700, made

    @pytest.mark.parametrize("depth", [1, 3])
    def test_missing_levels_are_made_readable_when_preparing(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, depth: int
    ) -> None:
        monkeypatch.setenv("ZIPAPP_PREPARE", "1")
        root = tmp_path.joinpath(*[f"level{i}" for i in range(depth)])
        with umask(0o077):
            secure(os.fspath(root), "ZIPAPP_ROOT", "app")
        for i in range(depth):
            made = tmp_path.joinpath(*[f"level{j}" for j in range(i + 1)])
            assert made.stat().st_mode & 0o7777 == 0o755, made

    @pytest.mark.parametrize("mode", [0o777, 0o775, 0o757], ids=["0777", "0775", "0757"])
    def test_below_an_unsafe_directory_it_is_refused(self, tmp_path: Path, mode: int) -> None:
        unsafe = tmp_path / "unsafe"
        unsafe.mkdir()
        unsafe.chmod(mode)
        root = unsafe / "a" / "b" / "root"
        with pytest.raises(BootstrapError) as info:
            secure(os.fspath(root), "ZIPAPP_ROOT", "app")
        assert str(info.value) == (
            f"{unsafe} is unsafe: it is writable by group or others (mode {mode:04o}), so another user could replace "
            f"{root}. Use another directory"
        )


class TestDeployOptions:
    """`deploy`'s options at their boundaries: the last good value is taken, the first bad one is one line."""

    SOURCE = "https://example.invalid/site-1.0.pyz"

    @pytest.mark.parametrize(
        "changes",
        [
            {"timeout": 60.0, "settle": 60.0},
            {"timeout": 0.5, "settle": 0.0},
            {"keep": 2},
            {"sha256": "AB" * 32},
            {"sha256": "0123456789abcdefABCDEF" * 2 + "0" * 20},
            {"directory": Path("/srv/site.d")},
        ],
        ids=["settle-equals-timeout", "half-a-second", "keep-2", "sha256-uppercase", "sha256-mixed", "dir-with-dot"],
    )
    def test_the_last_good_value_is_taken(self, changes: dict[str, object]) -> None:
        from hatch_zipapp.deploy.release import Request, check_request

        check_request(Request(**{"source": self.SOURCE, "directory": Path("/srv/site"), **changes}))  # type: ignore[arg-type]

    @pytest.mark.parametrize(
        ("changes", "message"),
        [
            ({"timeout": 60.0, "settle": 60.5}, "--settle 60.5 is not a number of seconds from 0 to --timeout (60): "
             "e.g. --settle 5"),
            ({"settle": -0.5}, "--settle -0.5 is not a number of seconds from 0 to --timeout (60): e.g. --settle 5"),
            ({"timeout": 0.0}, "--timeout 0.0 is not a number of seconds above 0: e.g. --timeout 60"),
            ({"keep": 1}, "--keep 1 keeps fewer than 2 releases: the previous one is kept for a rollback"),
            ({"sha256": "AB" * 32 + "A"}, f"--sha256 '{'AB' * 32 + 'A'}' is not a sha256 (64 hexadecimal digits): "
             "copy it from the .sha256"),
        ],
        ids=["settle-above-timeout", "settle-below-0", "timeout-0", "keep-1", "sha256-65"],
    )  # fmt: skip
    def test_the_first_bad_value_is_one_line(self, changes: dict[str, object], message: str) -> None:
        from hatch_zipapp.deploy.release import Request, check_request
        from hatch_zipapp.errors import DeployError

        request = Request(**{"source": self.SOURCE, "directory": Path("/srv/site"), **changes})  # type: ignore[arg-type]
        with pytest.raises(DeployError) as info:
            check_request(request)
        assert (str(info.value), info.value.status) == (message, 2)


class TestLockTimeout:
    """`ZIPAPP_LOCK_TIMEOUT` at its boundary: 0 (do not wait) and no limit are numbers of seconds; below 0 is not."""

    @pytest.mark.parametrize(
        ("value", "expected"), [("0", 0.0), ("0.0", 0.0), (" 2.5 ", 2.5), ("inf", float("inf")), ("", 300.0)]
    )
    def test_taken(self, monkeypatch: pytest.MonkeyPatch, value: str, expected: float) -> None:
        from hatch_zipapp.bootstrap.locks import lock_timeout

        monkeypatch.setenv("ZIPAPP_LOCK_TIMEOUT", value)
        assert lock_timeout() == expected

    @pytest.mark.parametrize("value", ["-0.001", "-1", "nan", "NaN", "0x10", "5s"])
    def test_refused(self, monkeypatch: pytest.MonkeyPatch, value: str) -> None:
        from hatch_zipapp.bootstrap.locks import lock_timeout

        monkeypatch.setenv("ZIPAPP_LOCK_TIMEOUT", value)
        with pytest.raises(BootstrapError) as info:
            lock_timeout()
        assert str(info.value) == (
            f"$ZIPAPP_LOCK_TIMEOUT={value!r} is not a number of seconds: set it to one, e.g. 300 (the default)"
        )
