"""The cold start's hot loop made cheaper (issue 26, item 4) without changing what it writes: the extracted files'
times computed without `calendar` (the same seconds for every DOS date and time a zip can hold), and the flush to
disk started part way through the writing (zipread.write_members's ``midway``), waited for, and never a fault of its
own."""

from __future__ import annotations

import calendar
import os
import shutil
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from hatch_zipapp.bootstrap import atomic, documents, zipread


def _member(dos_time: int, dos_date: int) -> zipread.Member:
    header = zipread.LOCAL_HEADER + bytes(6) + dos_time.to_bytes(2, "little") + dos_date.to_bytes(2, "little")
    return ("site-packages/x.py", 0, 0, 0, 0, 0, 0o100644, header + bytes(16) + b"site-packages/x.py")


def _timegm(dos_time: int, dos_date: int) -> int | str:
    """What calendar.timegm makes of the fields (what the runtime computed before), or its error's type and text."""
    moment = (1980 + (dos_date >> 9), (dos_date >> 5) & 0xF, dos_date & 0x1F)
    clock = (dos_time >> 11, (dos_time >> 5) & 0x3F, (dos_time & 0x1F) * 2)
    try:
        return calendar.timegm((*moment, *clock, 0, 0, 0))
    except Exception as e:  # compared with the runtime's
        return f"{type(e).__name__}: {e}"


def _member_time(dos_time: int, dos_date: int) -> int | str:
    try:
        atime, mtime = zipread.member_time(_member(dos_time, dos_date))
    except Exception as e:  # compared with calendar's
        return f"{type(e).__name__}: {e}"
    assert atime == mtime
    return mtime


@pytest.mark.parametrize(
    "dos_time",
    [0, 0xBF7D, 0xFFFF, 0x6A5B],  # 00:00:00; 23:59:58; hour 31, minute 63, "62 s" (no such time); 13:18:54
)
def test_file_times_are_calendar_timegm_for_every_dos_date(dos_time: int) -> None:
    """Every date a zip header can hold (1980 to 2107, months 0 to 15, days 0 to 31: the impossible ones too) gives
    the seconds calendar.timegm gave, and an impossible month the same error."""
    differ = [
        (dos_date, _member_time(dos_time, dos_date), _timegm(dos_time, dos_date))
        for dos_date in range(1 << 16)
        if _member_time(dos_time, dos_date) != _timegm(dos_time, dos_date)
    ]
    assert differ == []
    assert _member_time(dos_time, 0) == _timegm(dos_time, 0)  # month 0: calendar's own ValueError
    assert str(_member_time(dos_time, 0)).startswith("ValueError: ")
    leap_day = (2024 - 1980) << 9 | 2 << 5 | 29
    assert _member_time(0, leap_day) == 1709164800  # 2024-02-29T00:00:00Z
    assert _member_time(0xBF7D, (2107 - 1980) << 9 | 12 << 5 | 31) == 4354819198  # 2107-12-31T23:59:58Z


def _extract_by_hand(pyz: Path, work: Path, midway: Callable[[], object]) -> list[zipread.Member]:
    record = documents.parse_record(zipfile.ZipFile(pyz).read(documents.RECORD))
    todo = zipread.members(os.fspath(pyz), record)
    directories = {os.path.dirname(m[0]) for m in todo}
    for member in todo:
        parent = os.path.dirname(member[0])
        while parent:
            directories.add(parent)
            parent = os.path.dirname(parent)
    for path in sorted(directories):
        (work / path).mkdir(parents=True, exist_ok=True)
    zipread.write_members(os.fspath(pyz), os.fspath(work), todo, midway)
    return todo


def test_the_flush_starts_part_way_in_a_thread_and_is_waited_for(pyz: Path, tmp_path: Path) -> None:
    """``midway`` runs once, in a thread of its own, started once some files are written, and write_members returns
    only once it has ended (no thread of the runtime's alive when the application runs)."""
    calls: list[tuple[str, int]] = []
    ended = threading.Event()

    def midway() -> None:
        calls.append((threading.current_thread().name, sum(len(f) for _, _, f in os.walk(tmp_path / "work"))))
        time.sleep(0.5)  # longer than the rest of the writing
        ended.set()

    (tmp_path / "work").mkdir()
    todo = _extract_by_hand(pyz, tmp_path / "work", midway)
    assert ended.is_set()
    assert len(calls) == 1
    name, written = calls[0]
    assert name == "hatch-zipapp-flush"
    assert 0 < written <= len(todo)  # started once files were written (the thread may run after the last is)
    assert sum(len(f) for _, _, f in os.walk(tmp_path / "work")) == len(todo)
    assert [t for t in threading.enumerate() if t.name == "hatch-zipapp-flush"] == []


def test_an_early_flush_that_fails_is_no_fault(tmp_path: Path) -> None:
    """The early flush is only a head start: a directory that cannot be opened (gone, not a directory) is left to
    the flush before the rename, which says it."""
    atomic.flush_early(os.fspath(tmp_path / "gone"))
    (tmp_path / "file").write_text("")
    atomic.flush_early(os.fspath(tmp_path / "file"))
    with pytest.raises(FileNotFoundError):
        atomic.flush_file_system(os.fspath(tmp_path / "gone"))


@pytest.mark.skipif(shutil.which("strace") is None, reason="needs strace")
def test_a_cold_start_flushes_part_way_and_before_the_rename(pyz: Path, tmp_path: Path) -> None:
    """A real cold start: two syncfs calls (the early one, then the one that makes the extraction durable, before
    the rename into place); a warm start none."""
    env = {**os.environ, "ZIPAPP_ROOT": os.fspath(tmp_path / "root")}
    calls: list[list[str]] = []
    for _ in range(2):  # cold, then warm
        trace = tmp_path / f"trace-{len(calls)}"
        strace = ["strace", "-f", "-qq", "-e", "trace=syncfs,rename", "-e", "signal=none", "-o", os.fspath(trace)]
        command = [*strace, sys.executable, os.fspath(pyz)]
        result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=False)
        assert result.returncode == 0, result.stderr
        lines = [line.split(None, 1)[1] for line in trace.read_text().splitlines()]
        calls.append([line.split("(")[0] for line in lines if line.startswith(("syncfs(", "rename("))])
    assert calls == [["syncfs", "syncfs", "rename"], []]
