"""Pure rules of good conduct and micro-wishes: state machines, limits, months, statistics. No I/O."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

__all__ = [
    "CLAIM_ACTIONS",
    "DEFAULT_TWO_REVIEWERS_FROM_POINTS",
    "DEFAULT_WISH_ASSIGN_TIMEOUT_DAYS",
    "DEFAULT_WISH_AUTO_AWARD_DAYS",
    "DEFAULT_WISH_POINTS",
    "DEFAULT_WISH_POINTS_MONTHLY_CAP",
    "DISPATCH_EXCLUDED_ROLES",
    "EVENT_AGE_DAYS_MAX",
    "EVENT_REF_MAX",
    "EVIDENCE_SUMMARY_MAX",
    "OBJECTIONS_PER_CLAIM_MAX",
    "PHOTOS_PER_CLAIM_MAX",
    "PUBLICITY_DAYS_MAX",
    "RULE_CODE_RE",
    "SATISFIED_FROM_STARS",
    "SETTINGS_DAYS_MAX",
    "WISH_ACTIONS",
    "WISH_CATEGORIES",
    "WISH_OFFER_TIMEOUT_HOURS",
    "YEARLY_LIMIT_MAX",
    "RatingStats",
    "WishStats",
    "approvals_needed",
    "claim_action_allowed",
    "event_date_allowed",
    "evidence_summary",
    "is_dispatchable",
    "month_bounds",
    "normalise_event_ref",
    "parse_month",
    "rating_stats",
    "wish_action_allowed",
    "wish_points_outcome",
    "wish_stats",
    "year_in_zone",
]

DEFAULT_TWO_REVIEWERS_FROM_POINTS = 50
"""Claims worth this many points or more need two distinct reviewers."""
DEFAULT_WISH_POINTS = 10
DEFAULT_WISH_AUTO_AWARD_DAYS = 7
DEFAULT_WISH_ASSIGN_TIMEOUT_DAYS = 3
DEFAULT_WISH_POINTS_MONTHLY_CAP = 100
"""Most wish points one volunteer earns in a local month (ten wishes at the default 10 points)."""
WISH_OFFER_TIMEOUT_HOURS = 24
"""Hours a dispatched wish waits for its volunteer to accept or decline before it returns to the pool."""
EVENT_AGE_DAYS_MAX = 366
"""A claim's event happened at most this many days ago (and not in the future)."""
EVENT_REF_MAX = 64
EVIDENCE_SUMMARY_MAX = 120
"""Characters of a claim's evidence shown (masked) on the public board."""
DISPATCH_EXCLUDED_ROLES = frozenset({"partner"})
"""Roles whose holders are never offered wishes: partner shop staff serve customers, not neighbours."""
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
    "dispatch": frozenset({"open", "offered", "assigned"}),  # on offered/assigned: a reassignment
    "accept": frozenset({"open", "offered"}),  # open: taken from the pool; offered: the offer accepted
    "decline": frozenset({"offered"}),
    "complete": frozenset({"assigned"}),
    "rate": frozenset({"done"}),
    "cancel": frozenset({"open", "offered", "assigned"}),
    "auto_award": frozenset({"done"}),
    "time_out": frozenset({"assigned"}),
    "offer_time_out": frozenset({"offered"}),
    "confirm": frozenset({"assigned", "done", "rated", "closed"}),
}


def claim_action_allowed(action: str, status: str) -> bool:
    return status in CLAIM_ACTIONS[action]


def wish_action_allowed(action: str, status: str) -> bool:
    return status in WISH_ACTIONS[action]


_REF_DROP_RE = re.compile(r"[^0-9A-Za-z\u3400-\u9fff]")


def normalise_event_ref(raw: str | None) -> str | None:
    """A certificate number or similar as one comparable string: full-width folded, letters, digits and
    CJK only (no spaces, dashes or dots people type differently), upper case."""
    text = _REF_DROP_RE.sub("", unicodedata.normalize("NFKC", raw or "")).upper()
    return text or None


def is_dispatchable(roles: Iterable[str], service_minutes: int) -> bool:
    """Whether an organizer may offer wishes to a member: a member who is not partner shop staff, and
    not a store clerk who has never volunteered (clerks with service hours volunteer too)."""
    held = set(roles)
    if "member" not in held or held & DISPATCH_EXCLUDED_ROLES:
        return False
    return "clerk" not in held or service_minutes > 0


def wish_points_outcome(points: int, staff_involved: bool, earned_this_month: int, monthly_cap: int) -> str:
    """What happens to a finished wish's points: ``none`` (0 points), ``pending`` (no staff dispatched or
    confirmed it yet), ``capped`` (past the volunteer's monthly cap) or ``posted``."""
    if points <= 0:
        return "none"
    if not staff_involved:
        return "pending"
    if earned_this_month + points > monthly_cap:
        return "capped"
    return "posted"


_PHONE_RE = re.compile(r"(?<!\d)(1\d{2})\d{4}(\d{4})(?!\d)")
_ID_RE = re.compile(r"(?<![0-9A-Za-z])(\d{4})\d{9,12}(\d[0-9Xx])(?![0-9A-Za-z])")
"""Resident ID numbers (15 or 18 characters): the first 4 and last 2 stay."""


def evidence_summary(text: str, names: Iterable[tuple[str, str]]) -> str:
    """The evidence as neighbours may read it: full names replaced by masked ones, phone and ID numbers
    masked, at most :data:`EVIDENCE_SUMMARY_MAX` characters. ``names`` are (full name, masked name)."""
    out = " ".join(text.split())
    for full, masked in sorted(names, key=lambda n: -len(n[0])):
        if len(full) >= 2:
            out = out.replace(full, masked)
    out = _PHONE_RE.sub(r"\1****\2", out)
    out = _ID_RE.sub(lambda m: m.group(1) + "*" * (len(m.group(0)) - 4 - len(m.group(2))) + m.group(2), out)
    if len(out) > EVIDENCE_SUMMARY_MAX:
        out = out[: EVIDENCE_SUMMARY_MAX - 1] + "…"
    return out


def event_date_allowed(event: date, today: date) -> bool:
    return today - timedelta(days=EVENT_AGE_DAYS_MAX) <= event <= today


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


@dataclass(frozen=True)
class RatingStats:
    rated: int
    satisfied: int
    average_stars: float | None
    satisfaction_rate: float | None


def rating_stats(stars: list[int]) -> RatingStats:
    """Ratings (of activities) as figures: how many, how many satisfied, the mean and the share."""
    satisfied = sum(1 for s in stars if s >= SATISFIED_FROM_STARS)
    return RatingStats(
        rated=len(stars),
        satisfied=satisfied,
        average_stars=round(sum(stars) / len(stars), 2) if stars else None,
        satisfaction_rate=round(satisfied / len(stars), 4) if stars else None,
    )
