"""One "today": the local date in Kazakhstan, from the pinned tzdata package."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from backend import clock


def test_kazakhstan_is_utc_plus_5_since_march_2024_from_the_pinned_tzdata() -> None:
    # Almaty moved from UTC+6 to UTC+5 on 1 March 2024; older tzdata would say +6.
    assert clock.LOCAL_TZ.utcoffset(datetime(2026, 11, 22)) == timedelta(hours=5)
    assert clock.LOCAL_TZ.utcoffset(datetime(2024, 1, 15)) == timedelta(hours=6)
    assert clock.LOCAL_TZ.key == "Asia/Almaty"


def test_today_turns_at_local_midnight() -> None:
    assert clock.today(datetime(2026, 11, 22, 18, 59, tzinfo=UTC)) == date(2026, 11, 22)
    assert clock.today(datetime(2026, 11, 22, 19, 0, tzinfo=UTC)) == date(2026, 11, 23)
    # Storage days stay UTC days: the same moment is still the 22nd there.
    assert clock.utc_day(datetime(2026, 11, 22, 19, 0, tzinfo=UTC)) == date(2026, 11, 22)


def test_add_months_clamps_to_the_last_day() -> None:
    assert clock.add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert clock.add_months(date(2024, 1, 31), 1) == date(2024, 2, 29)
    assert clock.add_months(date(2026, 11, 22), 60) == date(2031, 11, 22)
