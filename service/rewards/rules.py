"""Pure rules of good conduct and micro-wishes: state machines, limits, months, statistics. No I/O."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

__all__ = [
    "CLAIM_ACTIONS",
    "DEFAULT_TWO_REVIEWERS_FROM_POINTS",
    "DEFAULT_WISH_ASSIGN_TIMEOUT_DAYS",
    "DEFAULT_WISH_AUTO_AWARD_DAYS",
    "DEFAULT_WISH_POINTS",
    "OBJECTIONS_PER_CLAIM_MAX",
    "PHOTOS_PER_CLAIM_MAX",
    "PUBLICITY_DAYS_MAX",
    "RULE_CODE_RE",
    "SATISFIED_FROM_STARS",
    "SETTINGS_DAYS_MAX",
    "WISH_ACTIONS",
    "WISH_CATEGORIES",
    "YEARLY_LIMIT_MAX",
    "WishStats",
    "approvals_needed",
    "claim_action_allowed",
    "month_bounds",
    "parse_month",
    "wish_action_allowed",
    "wish_stats",
    "year_in_zone",
]

DEFAULT_TWO_REVIEWERS_FROM_POINTS = 50
"""Claims worth this many points or more need two distinct reviewers."""
DEFAULT_WISH_POINTS = 10
DEFAULT_WISH_AUTO_AWARD_DAYS = 7
DEFAULT_WISH_ASSIGN_TIMEOUT_DAYS = 3
PUBLICITY_DAYS_MAX = 60
YEARLY_LIMIT_MAX = 366
SETTINGS_DAYS_MAX = 90
PHOTOS_PER_CLAIM_MAX = 4
OBJECTIONS_PER_CLAIM_MAX = 50
"""Bound on objections per claim so one claim cannot be flooded (each also needs a review to clear)."""
SATISFIED_FROM_STARS = 4
"""A rating of this many stars or more counts as satisfied (满意)."""
RULE_CODE_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{1,31}$")
WISH_CATEGORIES = ("errand", "repair", "care", "companionship", "tutoring", "other")

CLAIM_ACTIONS: dict[str, frozenset[str]] = {
    "review": frozenset({"submitted"}),
    "object": frozenset({"publicized"}),
    "settle": frozenset({"publicized"}),
    "add_photo": frozenset({"submitted"}),
}
"""Which claim statuses each action may start from; anything else is refused and changes nothing."""

WISH_ACTIONS: dict[str, frozenset[str]] = {
    "dispatch": frozenset({"open", "assigned"}),  # on an assigned wish this is a reassignment
    "accept": frozenset({"open"}),
    "complete": frozenset({"assigned"}),
    "rate": frozenset({"done"}),
    "cancel": frozenset({"open", "assigned"}),
    "auto_award": frozenset({"done"}),
    "time_out": frozenset({"assigned"}),
}


def claim_action_allowed(action: str, status: str) -> bool:
    return status in CLAIM_ACTIONS[action]


def wish_action_allowed(action: str, status: str) -> bool:
    return status in WISH_ACTIONS[action]


def approvals_needed(points: int, two_reviewers_from_points: int) -> int:
    """One reviewer's approval, or two distinct reviewers' at or above the community's threshold."""
    return 2 if points >= two_reviewers_from_points else 1


def year_in_zone(moment: datetime, timezone: str) -> int:
    """The calendar year of ``moment`` where the community lives (yearly limits follow local new year)."""
    return moment.astimezone(ZoneInfo(timezone)).year


_MONTH_RE = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


def parse_month(raw: str | None, now: datetime, timezone: str) -> tuple[int, int] | None:
    """``YYYY-MM`` as (year, month); the current local month when ``raw`` is empty; None if malformed."""
    if not raw:
        local = now.astimezone(ZoneInfo(timezone))
        return local.year, local.month
    found = _MONTH_RE.match(raw)
    if not found or not (2000 <= int(found.group(1)) <= 2999):
        return None
    return int(found.group(1)), int(found.group(2))


def month_bounds(year: int, month: int, timezone: str) -> tuple[datetime, datetime]:
    """The local month as a half-open UTC interval [start, end)."""
    zone = ZoneInfo(timezone)
    start = datetime(year, month, 1, tzinfo=zone)
    end = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=zone)
    return start.astimezone(UTC), end.astimezone(UTC)


@dataclass(frozen=True)
class WishStats:
    count: int
    completed: int
    cancelled: int
    rated: int
    satisfied: int
    completion_rate: float | None
    satisfaction_rate: float | None
    average_handling_hours: float | None


def wish_stats(
    rows: list[tuple[str, datetime, datetime | None, int | None]],
) -> WishStats:
    """Statistics of wishes posted in a period: rows are (status, created_at, completed_at, stars).

    Completion rate is completed / posted; handling time runs from posting to completion;
    satisfaction is the share of ratings with at least :data:`SATISFIED_FROM_STARS` stars.
    """
    count = len(rows)
    handled = [done - created for _s, created, done, _st in rows if done is not None]
    stars = [s for *_rest, s in rows if s is not None]
    satisfied = sum(1 for s in stars if s >= SATISFIED_FROM_STARS)
    cancelled = sum(1 for status, *_rest in rows if status == "cancelled")
    total = sum(handled, timedelta(0))
    return WishStats(
        count=count,
        completed=len(handled),
        cancelled=cancelled,
        rated=len(stars),
        satisfied=satisfied,
        completion_rate=round(len(handled) / count, 4) if count else None,
        satisfaction_rate=round(satisfied / len(stars), 4) if stars else None,
        average_handling_hours=round(total.total_seconds() / 3600 / len(handled), 2) if handled else None,
    )
