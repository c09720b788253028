"""Targets: tags and markers built explicitly, one .pyz per target with exactly the right files."""

from __future__ import annotations

import dataclasses
import os
import re
import sys
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name

from hatch_zipapp.errors import ConfigError, NoMatchingFileError
from hatch_zipapp.layout import PyzReader
from hatch_zipapp.target import Target, TargetError
from tests.helpers import (
    IndexServer,
    Wheel,
    build,
    build_fails,
    make_project,
    make_wheel,
    pylock_text,
    requirements_text,
    run_pyz,
)

PLATFORM_WHEELS = {
    "manylinux_2_17_x86_64.manylinux2014_x86_64": "glibc-x86_64",
    "manylinux_2_28_aarch64": "glibc-aarch64",
    "musllinux_1_2_aarch64": "musl-aarch64",
    "macosx_11_0_arm64": "mac-arm64",
    "win_amd64": "windows",
}


class TestTags:
    def test_manylinux_down_to_2_5_with_aliases_on_x86_64(self) -> None:
        target = Target.from_spec("3.12", "manylinux_2_28_x86_64")
        platforms = list(
            dict.fromkeys(t.platform for t in target.tags if t.interpreter == "cp312" and t.platform != "any")
        )
        assert platforms[0] == "manylinux_2_28_x86_64"
        assert platforms[platforms.index("manylinux_2_17_x86_64") + 1] == "manylinux2014_x86_64"
        assert platforms[-2:] == ["manylinux_2_5_x86_64", "manylinux1_x86_64"]
        assert not any(p.startswith(("linux_", "musllinux")) for p in platforms)

    def test_manylinux_down_to_2_17_elsewhere(self) -> None:
        platforms = {tag.platform for tag in Target.from_spec("3.12", "manylinux_2_28_aarch64").tags}
        assert "manylinux_2_17_aarch64" in platforms and "manylinux2014_aarch64" in platforms
        assert "manylinux_2_16_aarch64" not in platforms

    def test_abi3_and_pure(self) -> None:
        tags = [str(tag) for tag in Target.from_spec("3.12", "manylinux_2_28_x86_64").tags]
        assert tags[0] == "cp312-cp312-manylinux_2_28_x86_64"
        assert "cp39-abi3-manylinux_2_17_x86_64" in tags
        assert "py3-none-any" in tags and "cp313-cp313-manylinux_2_28_x86_64" not in tags
        assert tags.index("cp312-abi3-manylinux_2_28_x86_64") < tags.index("py3-none-any")

    def test_musllinux_macos_windows(self) -> None:
        assert "musllinux_1_0_aarch64" in {t.platform for t in Target.from_spec("3.11", "musllinux_1_2_aarch64").tags}
        mac = {t.platform for t in Target.from_spec("3.13", "macosx_14_0_arm64").tags}
        assert {"macosx_11_0_arm64", "macosx_14_0_universal2"} <= mac and "macosx_15_0_arm64" not in mac
        assert {t.platform for t in Target.from_spec("3.12", "win_amd64").tags} == {"win_amd64", "any"}

    @pytest.mark.parametrize(
        ("platform", "expected"),
        [
            ("manylinux_2_28_aarch64", {"sys_platform": "linux", "platform_machine": "aarch64", "os_name": "posix"}),
            ("macosx_14_0_arm64", {"sys_platform": "darwin", "platform_system": "Darwin", "platform_machine": "arm64"}),
            ("win_amd64", {"sys_platform": "win32", "platform_system": "Windows", "os_name": "nt"}),
        ],
    )
    def test_marker_environment(self, platform: str, expected: dict[str, str]) -> None:
        environment = Target.from_spec("3.12.4", platform).environment
        assert dict(environment) | expected == dict(environment)
        assert environment["python_version"] == "3.12"
        assert environment["python_full_version"] == "3.12.4"
        assert environment["implementation_name"] == "cpython"

    @pytest.mark.parametrize(
        ("python", "platform", "fragment"),
        [
            ("3", "manylinux_2_28_x86_64", "must be like '3.12'"),
            ("2.7", "manylinux_2_28_x86_64", "must be like '3.12'"),
            ("3.12", "manylinux_x86_64", "manylinux_MAJOR_MINOR_ARCH"),
            ("3.12", "solaris", "Unknown platform 'solaris'"),
        ],
    )
    def test_bad_spec(self, python: str, platform: str, fragment: str) -> None:
        with pytest.raises(TargetError, match=fragment):
            Target.from_spec(python, platform)

    def test_other_implementations_are_refused(self) -> None:
        with pytest.raises(TargetError, match="CPython"):
            Target.from_spec("3.10", "manylinux_2_28_x86_64", "pypy")

    def test_from_tag(self) -> None:
        assert Target.from_tag("cp313-musllinux_1_2_x86_64").name == "cp313-cp313-musllinux_1_2_x86_64"
        with pytest.raises(TargetError, match="interpreter-platform"):
            Target.from_tag("python3.12")


@pytest.fixture
def multi(tmp_path: Path, wheelhouse: Path, index: IndexServer) -> Path:
    """A project whose lock has a native package for five platforms and two marker-guarded ones."""
    natives: list[Wheel] = []
    for platform, label in PLATFORM_WHEELS.items():
        for abi in ("cp311", "cp312", "cp313"):
            files = {"native/__init__.py": f'VALUE = "{label} {abi}"\n'}
            natives.append(
                make_wheel(wheelhouse / label / abi, "native", "1.0", tag=f"{abi}-{abi}-{platform}", files=files)
            )
    for wheel in natives:
        wheel.path.rename(wheelhouse / wheel.filename)
    natives = [Wheel(wheelhouse / w.filename, w.name, w.version) for w in natives]
    windows = make_wheel(wheelhouse, "winonly", "1.0", marker='sys_platform == "win32"')
    backport = make_wheel(wheelhouse, "backport", "1.0", marker='python_version < "3.13"')
    alpha = make_wheel(wheelhouse, "alpha", "1.0")
    project = make_project(
        tmp_path / "multi",
        dependencies=["alpha", "native", 'winonly; sys_platform == "win32"', 'backport; python_version < "3.13"'],
        zipapp="bytecode = false\n"
        "targets = [\n"
        '  { python = "3.12", platform = "manylinux_2_28_x86_64" },\n'
        '  { python = "3.13", platform = "manylinux_2_28_aarch64" },\n'
        '  { python = "3.11", platform = "musllinux_1_2_aarch64" },\n'
        '  { python = "3.13", platform = "macosx_14_0_arm64" },\n'
        "]",
    )
    (project / "pylock.toml").write_text(pylock_text([natives, [windows], [backport], [alpha]], base_url=index.url))
    return project


def _contents(pyz: Path) -> tuple[str, set[str]]:
    """The native package's VALUE, and the top-level distributions in the .pyz."""
    with PyzReader(pyz) as archive:
        value = archive.read("site-packages/native/__init__.py").decode().split('"')[1]
        dists = {n.split("/")[1].split("-")[0] for n in archive.namelist() if ".dist-info/" in n}
    return value, dists


def _built_here(python: str, platform: str) -> Target:
    """A target as the build host is one: named by what its wheels need, not by its own platform."""
    return dataclasses.replace(Target.from_spec(python, platform), explicit=False, is_host=True)


class TestRequirement:
    """What a .pyz needs: the strictest requirement of every embedded wheel, each counted by its least demanding
    fitting tag (abi3 wheels too), for its name and for the check at start."""

    def test_an_abi3_wheel_needing_a_newer_glibc_sets_the_name(self) -> None:
        host = _built_here("3.12", "manylinux_2_36_x86_64")
        wheels = [
            "a-1-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
            "b-1-cp311-abi3-manylinux_2_34_x86_64.whl",
            "c-1-py3-none-any.whl",
        ]
        requirement = host.requirement(wheels, [(">=3.11", "the project's requires-python")])
        assert requirement["tag"] == host.archive_tag(wheels) == "cp312-cp312-manylinux_2_34_x86_64"
        assert (requirement["python"], requirement["exact"], requirement["abi"]) == ("3.12", True, "cp312")
        assert (requirement["libc"], requirement["minimum"], requirement["machine"]) == ("glibc", [2, 34], "x86_64")
        assert requirement["requires_python"] == [[">=3.11", "the project's requires-python"]]
        assert host.shebang(requirement) == "/usr/bin/env python3.12"

    def test_each_wheel_counts_by_its_least_demanding_tag(self) -> None:
        host = _built_here("3.12", "manylinux_2_36_x86_64")
        assert host.archive_tag(["a-1-cp312-cp312-manylinux_2_28_x86_64.manylinux_2_17_x86_64.whl"]) == (
            "cp312-cp312-manylinux_2_17_x86_64"
        )

    @pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the linux_ tag of a Linux build host")
    def test_a_wheel_built_here_needs_this_machine(self) -> None:
        host = Target.host()
        machine = host.environment["platform_machine"]
        requirement = host.requirement([f"b-1-{host.interpreter_tag}-{host.abi_tag}-linux_{machine}.whl"])
        assert requirement["tag"] == f"{host.interpreter_tag}-{host.abi_tag}-linux_{machine}"
        family, major, minor, _ = host.platform.split("_", 3)
        assert (requirement["libc"], requirement["minimum"]) == (
            {"manylinux": "glibc", "musllinux": "musl"}[family],
            [int(major), int(minor)],
        )

    def test_abi3_alone_is_this_version_or_newer_with_a_generic_shebang(self) -> None:
        host = _built_here("3.12", "musllinux_1_2_aarch64")
        requirement = host.requirement(["b-1-cp39-abi3-musllinux_1_1_aarch64.whl", "c-1-py3-none-any.whl"])
        assert requirement["tag"] == "cp312-abi3-musllinux_1_1_aarch64"
        assert (requirement["python"], requirement["exact"], requirement["abi"]) == ("3.12", False, "abi3")
        assert (requirement["libc"], requirement["minimum"], requirement["machine"]) == ("musl", [1, 1], "aarch64")
        assert host.shebang(requirement) == "/usr/bin/env python3"

    def test_macos_and_pure(self) -> None:
        host = _built_here("3.13", "macosx_14_0_arm64")
        requirement = host.requirement(
            ["a-1-cp313-cp313-macosx_11_0_arm64.whl", "b-1-cp313-cp313-macosx_12_0_universal2.whl"]
        )
        assert requirement["tag"] == "cp313-cp313-macosx_12_0_arm64"
        assert (requirement["os"], requirement["minimum"], requirement["libc"]) == ("darwin", [12, 0], None)
        pure = host.requirement(["c-1-py3-none-any.whl"], [(">=3.8", "the project's requires-python")])
        assert pure["tag"] == "py3-none-any"
        assert [pure[k] for k in ("implementation", "python", "abi", "platform", "os", "minimum")] == [None] * 6
        assert host.shebang(pure) == "/usr/bin/env python3"

    def test_an_explicit_target_needs_what_it_names(self) -> None:
        target = Target.from_spec("3.12", "manylinux_2_99_x86_64")
        requirement = target.requirement(["c-1-py3-none-any.whl"])
        assert requirement["tag"] == "cp312-cp312-manylinux_2_99_x86_64"
        assert (requirement["exact"], requirement["minimum"]) == (True, [2, 99])
        assert target.shebang(requirement) == "/usr/bin/env python3.12"

    def test_free_threaded_abi_names_its_python(self) -> None:
        requirement = Target.from_spec("3.13", "manylinux_2_28_x86_64").requirement([])
        assert Target.host().shebang({**requirement, "abi": "cp313t"}) == "/usr/bin/env python3.13t"


class TestMultiTarget:
    def test_each_target_gets_exactly_its_files(self, multi: Path) -> None:
        from hatch_zipapp.builder import ZipappBuilder

        artifacts = list(ZipappBuilder(os.fspath(multi)).build(directory=os.fspath(multi / "dist")))
        names = sorted(Path(a).name for a in artifacts)
        assert names == [
            "app-1.0-cp311-cp311-musllinux_1_2_aarch64.pyz",
            "app-1.0-cp312-cp312-manylinux_2_28_x86_64.pyz",
            "app-1.0-cp313-cp313-macosx_14_0_arm64.pyz",
            "app-1.0-cp313-cp313-manylinux_2_28_aarch64.pyz",
        ]
        dist = multi / "dist"
        expected = {
            "app-1.0-cp312-cp312-manylinux_2_28_x86_64.pyz": (
                "glibc-x86_64 cp312",
                {"alpha", "native", "backport", "app"},
            ),
            "app-1.0-cp313-cp313-manylinux_2_28_aarch64.pyz": ("glibc-aarch64 cp313", {"alpha", "native", "app"}),
            "app-1.0-cp311-cp311-musllinux_1_2_aarch64.pyz": (
                "musl-aarch64 cp311",
                {"alpha", "native", "backport", "app"},
            ),
            "app-1.0-cp313-cp313-macosx_14_0_arm64.pyz": ("mac-arm64 cp313", {"alpha", "native", "app"}),
        }
        for name, (value, dists) in expected.items():
            assert _contents(dist / name) == (value, dists), name

    def test_environment_variable_selects_targets(self, multi: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("HATCH_ZIPAPP_TARGETS", "cp313-macosx_14_0_arm64, cp311-musllinux_1_2_aarch64")
        from hatch_zipapp.builder import ZipappBuilder

        artifacts = list(ZipappBuilder(os.fspath(multi)).build(directory=os.fspath(multi / "dist")))
        assert sorted(Path(a).name for a in artifacts) == [
            "app-1.0-cp311-cp311-musllinux_1_2_aarch64.pyz",
            "app-1.0-cp313-cp313-macosx_14_0_arm64.pyz",
        ]

    def test_bad_environment_variable(self, multi: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("HATCH_ZIPAPP_TARGETS", "cp312-amiga")
        with pytest.raises(ConfigError, match="HATCH_ZIPAPP_TARGETS: Unknown platform 'amiga'"):
            build(multi)

    def test_host_runs(self, multi: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        if sys.platform != "linux" or os.uname().machine != "x86_64":
            pytest.skip("the fixture's native wheels run on x86_64 Linux")
        monkeypatch.setenv("HATCH_ZIPAPP_TARGETS", f"cp3{sys.version_info.minor}-manylinux_2_28_x86_64")
        out = run_pyz(build(multi), "native", "alpha")
        assert out.startswith(f"native: glibc-x86_64 cp3{sys.version_info.minor} from site-packages")

    def test_no_file_for_one_target_stops_the_whole_build(self, multi: Path, wheelhouse: Path) -> None:
        text = (multi / "pyproject.toml").read_text()
        (multi / "pyproject.toml").write_text(text.replace('"macosx_14_0_arm64"', '"macosx_14_0_x86_64"'))
        (multi / "dist").mkdir()
        match = r"native 1.0 .* no file that fits CPython 3.13 on macosx_14_0_x86_64"
        with pytest.raises(NoMatchingFileError, match=match):  # the fourth of four targets
            build(multi)
        assert list((multi / "dist").iterdir()) == []

    def test_a_windows_dependency_is_selected_for_windows_only(self, multi: Path) -> None:
        from hatch_zipapp.lock import load_lock

        lock = load_lock(multi / "pylock.toml", multi)
        for platform, expected in [("win_amd64", True), ("manylinux_2_28_x86_64", False), ("macosx_14_0_arm64", False)]:
            pins = lock.select(Target.from_spec("3.12", platform), canonicalize_name("app"))
            assert ("winonly" in {pin.name for pin in pins}) == expected, platform


class TestTargetsOption:
    def test_not_an_array_of_tables(self, tmp_path: Path) -> None:
        project = make_project(tmp_path / "p", zipapp='targets = ["cp312-manylinux_2_28_x86_64"]')
        with pytest.raises(ConfigError, match=r"`tool.hatch.build.targets.zipapp.targets` must be a non-empty array"):
            build(project)

    def test_missing_platform(self, tmp_path: Path) -> None:
        project = make_project(tmp_path / "p", zipapp='targets = [{ python = "3.12" }]')
        with pytest.raises(ConfigError, match=r"Target #1 in field .* needs `platform`"):
            build(project)

    def test_typo_in_a_target(self, tmp_path: Path) -> None:
        project = make_project(tmp_path / "p", zipapp='targets = [{ python = "3.12", platfrom = "win_amd64" }]')
        with pytest.raises(ConfigError, match=r"Target #1 .* unknown key `platfrom`: did you mean `platform`\?"):
            build(project)

    def test_bad_platform(self, tmp_path: Path) -> None:
        project = make_project(tmp_path / "p", zipapp='targets = [{ python = "3.12", platform = "linux" }]')
        with pytest.raises(ConfigError, match=r"Target #1 in field `tool.hatch.build.targets.zipapp.targets`: Unknown"):
            build(project)

    def test_duplicate(self, tmp_path: Path) -> None:
        spec = '{ python = "3.12", platform = "win_amd64" }'
        project = make_project(tmp_path / "p", zipapp=f"targets = [{spec}, {spec}]")
        with pytest.raises(ConfigError, match="same target twice: cp312-cp312-win_amd64"):
            build(project)

    def test_outside_requires_python(self, tmp_path: Path) -> None:
        project = make_project(
            tmp_path / "p", zipapp='targets = [{ python = "3.7", platform = "musllinux_1_2_x86_64" }]'
        )
        match = r"CPython 3.7 on musllinux_1_2_x86_64 .* outside the project's `requires-python`"
        with pytest.raises(ConfigError, match=match):
            build(project)

    @pytest.mark.parametrize("targets_env", [None, "host"])
    def test_build_host_outside_requires_python(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, targets_env: str | None
    ) -> None:
        """The default target is checked too, before any lock is read, with the fix for the build host's case."""
        project = make_project(tmp_path / "p")
        pyproject = project / "pyproject.toml"
        newer = f">={sys.version_info.major}.{sys.version_info.minor + 1}"
        pyproject.write_text(pyproject.read_text().replace('requires-python = ">=3.8"', f'requires-python = "{newer}"'))
        if targets_env is None:
            monkeypatch.delenv("HATCH_ZIPAPP_TARGETS", raising=False)
        else:
            monkeypatch.setenv("HATCH_ZIPAPP_TARGETS", targets_env)
        running = ".".join(map(str, sys.version_info[:3]))
        expected = (
            rf"The build host's Python {re.escape(running)} \(.*\) is outside the project's `requires-python` "
            rf"\({re.escape(newer)}\): run the build with a Python that `requires-python` allows, or build for the "
            r"servers' Python by naming targets"
        )
        with pytest.raises(ConfigError, match=expected):
            build(project)
        assert not (project / "dist").exists() or not any((project / "dist").iterdir())

    @pytest.mark.parametrize("platform", ["win_amd64", "win32", "win_arm64"])
    def test_windows_is_refused(self, tmp_path: Path, platform: str) -> None:
        project = make_project(tmp_path / "p", zipapp=f'targets = [{{ python = "3.12", platform = "{platform}" }}]')
        message = build_fails(
            project,
            ConfigError,
            f"Target CPython 3.12 on {platform} (`tool.hatch.build.targets.zipapp.targets`) is not",
        )
        assert "not supported" in message and "Build for Linux or macOS targets" in message
        assert "\n" not in message

    def test_windows_is_refused_from_the_environment(self, multi: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("HATCH_ZIPAPP_TARGETS", "cp312-manylinux_2_28_x86_64 cp312-win_amd64")
        build_fails(multi, ConfigError, "Target CPython 3.12 on win_amd64 (environment variable HATCH_ZIPAPP_TARGETS)")


class TestRequirementsLockForOtherTargets:
    def test_markers_and_files_chosen_for_the_target_with_a_warning(
        self, tmp_path: Path, wheelhouse: Path, index: IndexServer, capsys: pytest.CaptureFixture[str]
    ) -> None:
        linux = make_wheel(wheelhouse, "native", "1.0", tag="cp312-cp312-manylinux_2_17_aarch64")
        mac = make_wheel(wheelhouse, "native", "1.0", tag="cp312-cp312-macosx_11_0_arm64")
        windows = make_wheel(wheelhouse, "winonly", "1.0", marker='sys_platform == "win32"')
        project = make_project(
            tmp_path / "p",
            dependencies=["native"],
            zipapp='bytecode = false\ntargets = [{ python = "3.12", platform = "manylinux_2_28_aarch64" }]',
        )
        (project / "requirements.txt").write_text(requirements_text([[linux, mac], [windows]], index_url=index.simple))
        pyz = build(project)
        with PyzReader(pyz) as archive:
            wheel_meta = archive.read("site-packages/native-1.0.dist-info/WHEEL").decode()
            assert "Tag: cp312-cp312-manylinux_2_17_aarch64" in wheel_meta
            assert not any("winonly" in n for n in archive.namelist())
        err = capsys.readouterr().err
        assert err.count("pip-compile lock, resolved for the one interpreter") == 1
        assert "hatch-zipapp lock" in err
