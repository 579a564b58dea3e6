"""Period math of the reports: parsing, the previous period, months and local month edges."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from service.errors import InvalidInput
from service.reports import rules

TODAY = date(2026, 11, 23)


def test_default_is_this_month_and_previous_is_last_month() -> None:
    p = rules.parse_period(None, TODAY)
    assert (p.kind, p.label, p.start, p.end, p.previous_label) == (
        "month", "2026-11", date(2026, 11, 1), date(2026, 12, 1), "2026-10",
    )  # fmt: skip
    assert rules.parse_period("2026-01", TODAY).previous_label == "2025-12"


def test_quarter_year_and_custom() -> None:
    q = rules.parse_period("2026-q1", TODAY)
    assert (q.label, q.end, q.previous_start, q.previous_label) == (
        "2026-Q1",
        date(2026, 4, 1),
        date(2025, 10, 1),
        "2025-Q4",
    )
    assert q.month_labels == ["2026-01", "2026-02", "2026-03"]
    y = rules.parse_period("2026", TODAY)
    assert len(y.months) == 12 and y.previous_label == "2025"
    c = rules.parse_period("2026-01-15..2026-03-10", TODAY)
    assert c.month_labels == ["2026-01", "2026-02", "2026-03"] and c.last_day == date(2026, 3, 10)
    assert c.previous_label == "2025-11-21..2026-01-14"  # the same 55 days just before


@pytest.mark.parametrize(
    "raw", ["2026-13", "26-01", "2026-Q5", "2026-03-10..2026-01-01", "2020-01-01..2026-01-01", "x"]
)
def test_bad_periods_are_refused(raw: str) -> None:
    with pytest.raises(InvalidInput) as err:
        rules.parse_period(raw, TODAY)
    assert err.value.code == "invalid_period"


def test_local_month_edges_in_utc() -> None:
    edges = rules.edges_utc(rules.parse_period("2026-12", TODAY), "Asia/Shanghai")
    # previous start (11-01 local), start (12-01 local), end (01-01 local), as UTC instants
    assert edges == [
        datetime(2026, 10, 31, 16, tzinfo=UTC),
        datetime(2026, 11, 30, 16, tzinfo=UTC),
        datetime(2026, 12, 31, 16, tzinfo=UTC),
    ]
    # an event at 2026-11-30 17:00 UTC (12-01 01:00 local) is on or after the December edge
    assert datetime(2026, 11, 30, 17, tzinfo=UTC) >= edges[1]
    # a daylight-saving zone: local midnight moves between UTC offsets
    ny = rules.edges_utc(rules.parse_period("2026-Q1", TODAY), "America/New_York")
    assert ny[-1] == datetime(2026, 4, 1, 4, tzinfo=UTC) and ny[1] == datetime(2026, 1, 1, 5, tzinfo=UTC)


def test_percent() -> None:
    assert rules.percent(2, 3) == 66.7 and rules.percent(0, 0) is None
