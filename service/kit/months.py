"""Calendar months and years in a community's time zone: parsing ``YYYY-MM`` and the UTC bounds of a period.

A community's month starts at local midnight on the 1st (Asia/Shanghai is UTC+8: a check-in at 23:30
local time on 31 January counts in January even though it is 15:30 UTC). Every period a page, report or
limit uses is a half-open UTC interval ``[start, end)`` built here.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from service.errors import InvalidInput

__all__ = [
    "MONTH_PATTERN",
    "YEAR_MAX",
    "YEAR_MIN",
    "InvalidMonth",
    "add_months",
    "month_bounds",
    "month_bounds_at",
    "month_of",
    "month_start",
    "parse_month",
    "require_month",
    "year_bounds",
    "year_in_zone",
]

YEAR_MIN = 2000
YEAR_MAX = 2999
_MONTH = r"(2[0-9]{3})-(0[1-9]|1[0-2])"
_MONTH_RE = re.compile(f"^{_MONTH}$")
MONTH_PATTERN = f"^(?:{_MONTH})?$"
"""What a ``month`` parameter takes, for the API document: ``YYYY-MM`` of years YEAR_MIN-YEAR_MAX, or
nothing (this month)."""


class InvalidMonth(InvalidInput):
    code = "invalid_month"
    message = "Month must look like 2026-03."


def parse_month(raw: str | None) -> tuple[int, int] | None:
    """``YYYY-MM`` as (year, month), or None when empty or malformed."""
    found = _MONTH_RE.match((raw or "").strip())
    if not found or not YEAR_MIN <= int(found.group(1)) <= YEAR_MAX:
        return None
    return int(found.group(1)), int(found.group(2))


def require_month(raw: str | None, field: str = "month") -> tuple[int, int]:
    """``YYYY-MM`` as (year, month); :class:`InvalidMonth` when malformed."""
    parsed = parse_month(raw)
    if parsed is None:
        raise InvalidMonth(errors=[{"field": field, "message": "YYYY-MM"}])
    return parsed


def month_of(moment: datetime, timezone: str) -> str:
    """``YYYY-MM`` of ``moment`` where the community lives."""
    return moment.astimezone(ZoneInfo(timezone)).strftime("%Y-%m")


def month_bounds(year: int, month: int, timezone: str) -> tuple[datetime, datetime]:
    """The local calendar month as a half-open UTC interval ``[start, end)``."""
    zone = ZoneInfo(timezone)
    start = datetime(year, month, 1, tzinfo=zone)
    end = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=zone)
    return start.astimezone(UTC), end.astimezone(UTC)


def month_bounds_at(moment: datetime, timezone: str) -> tuple[datetime, datetime]:
    """The UTC bounds ``[start, end)`` of the local month ``moment`` falls in."""
    local = moment.astimezone(ZoneInfo(timezone))
    return month_bounds(local.year, local.month, timezone)


def month_start(moment: datetime, timezone: str) -> datetime:
    """The UTC instant the local month of ``moment`` began."""
    local = moment.astimezone(ZoneInfo(timezone))
    return month_bounds(local.year, local.month, timezone)[0]


def year_in_zone(moment: datetime, timezone: str) -> int:
    """The calendar year of ``moment`` where the community lives (yearly figures follow local new year)."""
    return moment.astimezone(ZoneInfo(timezone)).year


def year_bounds(year: int, timezone: str) -> tuple[datetime, datetime]:
    """The local calendar year as a half-open UTC interval ``[start, end)``."""
    zone = ZoneInfo(timezone)
    return (
        datetime(year, 1, 1, tzinfo=zone).astimezone(UTC),
        datetime(year + 1, 1, 1, tzinfo=zone).astimezone(UTC),
    )


def add_months(day: date, months: int) -> date:
    """The first of the month ``months`` after ``day``'s month (negative: before)."""
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)
