"""The cold start's hot loop made cheaper (issue 26, item 4) without changing what it writes: the extracted files'
times computed without `calendar` (the same seconds for every DOS date and time a zip can hold)."""

from __future__ import annotations

import calendar

import pytest

from hatch_zipapp.bootstrap import zipread


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
