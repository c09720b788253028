"""Same bytes whatever the build machine's time zone and whatever order files are staged in; a build that fails at a
later target leaves `dist/` as it was. (The tests of test_reproducible.py build twice on one machine in one order.)"""

from __future__ import annotations

import os
import time
import zipfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import pytest

from hatch_zipapp import archive
from hatch_zipapp.errors import NoMatchingFileError
from hatch_zipapp.layout import Content, PyzReader, outer_entries
from hatch_zipapp.reproducible import DEFAULT_EPOCH
from tests.helpers import IndexServer, build, build_fails, make_project, make_wheel, pylock_text, sha256_file

DateTime = tuple[int, int, int, int, int, int]
#: POSIX TZ strings (no time zone database needed): New York, India (+5:30), Kiribati (+14), and -12.
ZONES = ["EST5EDT,M3.2.0,M11.1.0", "IST-5:30", "<+14>-14", "<-12>12"]


@pytest.fixture
def project(tmp_path: Path, wheelhouse: Path, index: IndexServer) -> Path:
    alpha = make_wheel(wheelhouse, "alpha", "1.0")
    tool = make_wheel(
        wheelhouse,
        "tool",
        "1.0",
        files={"tool/__init__.py": "VALUE = 'tool'\n", "tool/b.py": "", "tool/a.py": "", "tool/sub/z.py": ""},
        members={"tool-1.0.data/scripts/tool-run": "#!python\nprint('hi')\n"},
    )
    project = make_project(tmp_path / "project", dependencies=["alpha", "tool"])
    (project / "pylock.toml").write_text(pylock_text([[alpha], [tool]], base_url=index.url))
    return project


@contextmanager
def _time_zone(zone: str) -> Iterator[None]:
    """This process's local time zone set to ``zone`` (the build runs in this process), then put back."""
    old = os.environ.get("TZ")
    os.environ["TZ"] = zone
    time.tzset()
    try:
        yield
    finally:
        if old is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = old
        time.tzset()


def test_the_time_zone_changes_nothing(project: Path, tmp_path: Path) -> None:
    with _time_zone("UTC0"):
        reference = build(project, tmp_path / "utc")
    for number, zone in enumerate(ZONES):
        with _time_zone(zone):
            assert time.localtime(DEFAULT_EPOCH)[:6] != time.gmtime(DEFAULT_EPOCH)[:6]  # the zone took effect
            other = build(project, tmp_path / f"zone-{number}")
        assert sha256_file(other) == sha256_file(reference), zone
    with PyzReader(reference) as pyz:
        assert {info.date_time for info in pyz.infolist()} == {time.gmtime(DEFAULT_EPOCH)[:6]}


def test_the_order_files_are_staged_in_changes_nothing(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The archive writer gets the staged files in reverse order, then in an interleaved one: the same bytes."""
    reference = build(project, tmp_path / "as-staged")
    orders: dict[str, Callable[[list[str]], list[str]]] = {
        "reversed": lambda names: names[::-1],
        "interleaved": lambda names: names[1::2] + names[::2],
    }
    calls: list[str] = []

    def reordering(
        label: str,
    ) -> Callable[[Mapping[str, tuple[Content, bool]], DateTime], dict[str, tuple[Content, bool]]]:
        def split(entries: Mapping[str, tuple[Content, bool]], date_time: DateTime) -> dict[str, tuple[Content, bool]]:
            names = orders[label](list(entries))
            assert names != list(entries)
            calls.append(label)
            outer = outer_entries({name: entries[name] for name in names}, date_time)
            return {name: outer[name] for name in orders[label](list(outer))}

        return split

    for label in orders:
        monkeypatch.setattr(archive, "outer_entries", reordering(label))
        assert sha256_file(build(project, tmp_path / label)) == sha256_file(reference), label
    assert calls == list(orders)
    with PyzReader(reference) as pyz:
        names = pyz.namelist()
    inner = [name for name in names if name.startswith("site-packages/")]
    outer = names[: len(names) - len(inner)]
    assert inner == sorted(inner) and outer == sorted(outer)


def test_the_order_of_a_wheels_members_changes_nothing_installed(
    tmp_path: Path, wheelhouse: Path, index: IndexServer
) -> None:
    """Two wheels with the same files, written in opposite orders: the installed tree (site-packages.zip, where the
    runtime reads it) is the same bytes. Only the metadata naming each wheel's sha256 may differ."""
    files = {f"tool/{name}.py": f"NAME = {name!r}\n" for name in ["z", "a", "m", "sub/b", "sub/a"]}
    files["tool/__init__.py"] = "VALUE = 'tool'\n"
    inner = []
    for label, order in (("forward", list(files)), ("backward", list(files)[::-1])):
        directory = wheelhouse if label == "forward" else tmp_path / "other-wheelhouse"
        wheel = make_wheel(directory, "tool", "1.0", files={name: files[name] for name in order})
        with zipfile.ZipFile(wheel.path) as archive:
            assert [n for n in archive.namelist() if n.startswith("tool/")] == order
        if label == "backward":
            (wheelhouse / wheel.filename).write_bytes(wheel.path.read_bytes())  # served instead of the first
        project = make_project(tmp_path / label, dependencies=["tool"])
        (project / "pylock.toml").write_text(pylock_text([[wheel]], base_url=index.url))
        with zipfile.ZipFile(build(project)) as pyz:
            inner.append(pyz.read("site-packages.zip"))
    assert inner[0] == inner[1]


def test_a_failure_at_the_second_target_leaves_dist_unchanged(
    tmp_path: Path, wheelhouse: Path, index: IndexServer
) -> None:
    """The first target is built (its .pyz put in place in dist/, for its build hooks), the second has no wheel:
    dist/ is exactly as it was, no .pyz of the first target, no temporary file."""
    native = make_wheel(wheelhouse, "native", "1.0", tag="cp312-cp312-manylinux_2_28_x86_64")
    project = make_project(
        tmp_path / "p",
        dependencies=["native"],
        zipapp="bytecode = false\n"
        "targets = [\n"
        '  { python = "3.12", platform = "manylinux_2_28_x86_64" },\n'
        '  { python = "3.12", platform = "musllinux_1_2_x86_64" },\n'
        "]",
    )
    (project / "pylock.toml").write_text(pylock_text([[native]], base_url=index.url))
    build_fails(project, NoMatchingFileError, "native 1.0", "musllinux_1_2_x86_64")
