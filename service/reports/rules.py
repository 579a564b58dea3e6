"""Pure period math of the reports: parse a period, its previous period, its months, their UTC edges.

Periods are calendar dates in a community's time zone: a check-in at 2026-11-30 17:00 UTC is
2026-12-01 01:00 in Shanghai and counts in December.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from service.errors import raises
from service.kit.months import add_months
from service.reports.errors import InvalidPeriod

__all__ = [
    "CUSTOM_DAYS_MAX",
    "FORMATS",
    "PERIOD_PATTERN",
    "SCOPE_PATTERN",
    "SCOPE_RE",
    "TOP_MAX",
    "Period",
    "edges_utc",
    "parse_period",
    "percent",
]

CUSTOM_DAYS_MAX = 731
"""Longest custom period (two years): a trend has at most 25 monthly points."""
TOP_MAX = 10
"""Rows in the top teams and top members lists."""

FORMATS = ("xlsx", "csv")
"""The downloads of a report."""
_Y = "[1-9][0-9]{3}"
_M = "(?:0[1-9]|1[0-2])"
_D = f"{_Y}-{_M}-(?:0[1-9]|[12][0-9]|3[01])"
_PERIODS = (
    f"({_Y})-({_M})",
    f"({_Y})-[Qq]([1-4])",
    "(2[0-9]{3}|[3-9][0-9]{3})",
    rf"({_D})\.\.({_D})",
)
_MONTH, _QUARTER, _YEAR, _CUSTOM = (re.compile(f"^{p}$") for p in _PERIODS)
PERIOD_PATTERN = rf"^(?:\s*(?:{'|'.join(_PERIODS)})\s*)?$"
"""What :func:`parse_period` takes, for the API document (with nothing: this month). A custom range
must also be real dates, in order, at most ``CUSTOM_DAYS_MAX`` days long: a pattern cannot say that."""
_UUID = "[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}"
SCOPE_PATTERN = f"^(community|region):({_UUID})$"
"""``community:<id>`` or ``region:<id>``: the scope parameter of the reports."""
SCOPE_RE = re.compile(SCOPE_PATTERN)


@dataclass(frozen=True)
class Period:
    """``[start, end)`` in local dates, the same-length period before it and its monthly buckets."""

    kind: str
    """``month``, ``quarter``, ``year`` or ``custom``."""
    label: str
    start: date
    end: date
    previous_start: date
    previous_label: str

    @property
    def months(self) -> list[date]:
        """The first local day of every bucket: ``start``, then each first of a month before ``end``."""
        out = [self.start]
        nxt = add_months(self.start, 1)
        while nxt < self.end:
            out.append(nxt)
            nxt = add_months(nxt, 1)
        return out

    @property
    def month_labels(self) -> list[str]:
        return [m.strftime("%Y-%m") for m in self.months]

    @property
    def last_day(self) -> date:
        return self.end - timedelta(days=1)


def _bad(raw: str) -> InvalidPeriod:
    return InvalidPeriod(
        params={"days": CUSTOM_DAYS_MAX, "raw": raw[:40]},
    )


@raises(InvalidPeriod)
def parse_period(raw: str | None, today: date) -> Period:
    """Parse ``raw`` (default: the month of ``today``)."""
    text = (raw or today.strftime("%Y-%m")).strip()
    try:
        if m := _MONTH.match(text):
            start = date(int(m[1]), int(m[2]), 1)
            prev = add_months(start, -1)
            return Period("month", text, start, add_months(start, 1), prev, prev.strftime("%Y-%m"))
        if m := _QUARTER.match(text):
            q = int(m[2])
            start = date(int(m[1]), 3 * q - 2, 1)
            prev = add_months(start, -3)
            prev_label = f"{prev.year}-Q{(prev.month + 2) // 3}"
            return Period("quarter", f"{m[1]}-Q{q}", start, add_months(start, 3), prev, prev_label)
        if m := _YEAR.match(text):
            year = int(m[1])
            if year < 2000:
                raise _bad(text)
            return Period(
                "year", text, date(year, 1, 1), date(year + 1, 1, 1), date(year - 1, 1, 1), str(year - 1)
            )
        if m := _CUSTOM.match(text):
            first, last = date.fromisoformat(m[1]), date.fromisoformat(m[2])
            days = (last - first).days + 1
            if days < 1 or days > CUSTOM_DAYS_MAX:
                raise _bad(text)
            prev = first - timedelta(days=days)
            prev_label = f"{prev.isoformat()}..{(first - timedelta(days=1)).isoformat()}"
            return Period("custom", text, first, last + timedelta(days=1), prev, prev_label)
    except ValueError as exc:
        raise _bad(text) from exc
    raise _bad(text)


def _utc(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), zone).astimezone(UTC)


def edges_utc(period: Period, timezone: str) -> list[datetime]:
    """``[previous start, start, each later month start..., end]`` as UTC instants in ``timezone``.

    Row ``ts`` falls in the previous period when ``edges[0] <= ts < edges[1]`` and in month ``i``
    when ``edges[i + 1] <= ts < edges[i + 2]``.
    """
    zone = ZoneInfo(timezone)
    return [
        _utc(period.previous_start, zone),
        *(_utc(m, zone) for m in period.months),
        _utc(period.end, zone),
    ]


def percent(part: int, whole: int) -> float | None:
    """``part / whole`` in percent with one decimal, or None when there is nothing to divide."""
    return round(100.0 * part / whole, 1) if whole else None
