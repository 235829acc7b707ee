"""One meaning of "today": the local date in Kazakhstan (Asia/Almaty).

Kazakhstan has one time zone, UTC+5, since 1 March 2024. Every legal date (a permit in
force, a deadline, an obligation's end, a quota year) is the local date given here and
passed into SQL as a parameter, never ``current_date`` (the database session's zone) or
``date.today()`` (the server's zone). The zone is read from the pinned ``tzdata``
package, not the host's files, so every machine agrees on the offset.

Storage is a different matter: trace partitions hold UTC days (see
:func:`utc_day`), because a timestamp range is what PostgreSQL partitions on.
"""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, timedelta
from functools import cache
from importlib import resources
from zoneinfo import ZoneInfo

import holidays

ZONE_KEY = "Asia/Almaty"


def _pinned_zone(key: str) -> ZoneInfo:
    with resources.files("tzdata.zoneinfo").joinpath(*key.split("/")).open("rb") as data:
        return ZoneInfo.from_file(data, key=key)


LOCAL_TZ = _pinned_zone(ZONE_KEY)


def now() -> datetime:
    """The current moment, timezone-aware (UTC)."""
    return datetime.now(UTC)


def today(at: datetime | None = None) -> date:
    """The local date in Kazakhstan at ``at`` (default: now)."""
    return (at or now()).astimezone(LOCAL_TZ).date()


def local(at: datetime) -> datetime:
    """``at`` on Kazakhstan's wall clock."""
    return at.astimezone(LOCAL_TZ)


def utc_day(at: datetime | None = None) -> date:
    """The UTC calendar day: the unit of trace partitions, never a legal date."""
    return (at or now()).astimezone(UTC).date()


def is_working_day(day: date) -> bool:
    """Monday to Friday and not a public holiday of Kazakhstan (the ``holidays`` package).

    Holidays moved by law to a weekday ("observed") count as holidays too.
    """
    return day.weekday() < 5 and day not in _holidays(day.year)


@cache
def add_working_days(day: date, count: int) -> date:
    """The ``count``-th working day after ``day`` (weekends and public holidays skipped)."""
    while count > 0:
        day += timedelta(days=1)
        if is_working_day(day):
            count -= 1
    return day


def _holidays(year: int) -> holidays.HolidayBase:
    return holidays.country_holidays("KZ", years=year)


def add_months(day: date, months: int) -> date:
    """The same day ``months`` later, clamped to the month's last day (31 Jan + 1 = 28 Feb)."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))
