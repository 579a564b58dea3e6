"""Pure rules of good conduct: the claim state machine, limits, evidence masking, rating figures. No I/O."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

__all__ = [
    "CLAIM_ACTIONS",
    "DEFAULT_TWO_REVIEWERS_FROM_POINTS",
    "DEFAULT_WISH_ASSIGN_TIMEOUT_DAYS",
    "DEFAULT_WISH_AUTO_AWARD_DAYS",
    "DEFAULT_WISH_POINTS",
    "DEFAULT_WISH_POINTS_MONTHLY_CAP",
    "EVENT_AGE_DAYS_MAX",
    "EVENT_REF_MAX",
    "EVIDENCE_SUMMARY_MAX",
    "OBJECTIONS_PER_CLAIM_MAX",
    "PHOTOS_PER_CLAIM_MAX",
    "PUBLICITY_DAYS_MAX",
    "RULE_CODE_RE",
    "SATISFIED_FROM_STARS",
    "SETTINGS_DAYS_MAX",
    "YEARLY_LIMIT_MAX",
    "ClaimAction",
    "RatingStats",
    "approvals_needed",
    "claim_action_allowed",
    "event_date_allowed",
    "evidence_summary",
    "normalise_event_ref",
    "rating_stats",
    "rule_widens",
    "settings_widens",
]

DEFAULT_TWO_REVIEWERS_FROM_POINTS = 50
"""Claims worth this many points or more need two distinct reviewers."""
DEFAULT_WISH_POINTS = 10
DEFAULT_WISH_AUTO_AWARD_DAYS = 7
DEFAULT_WISH_ASSIGN_TIMEOUT_DAYS = 3
DEFAULT_WISH_POINTS_MONTHLY_CAP = 100
"""Most wish points one volunteer earns in a local month (ten wishes at the default 10 points)."""
EVENT_AGE_DAYS_MAX = 366
"""A claim's event happened at most this many days ago (and not in the future)."""
EVENT_REF_MAX = 64
EVIDENCE_SUMMARY_MAX = 120
"""Characters of a claim's evidence shown (masked) on the public board."""
PUBLICITY_DAYS_MAX = 60
YEARLY_LIMIT_MAX = 366
SETTINGS_DAYS_MAX = 90
PHOTOS_PER_CLAIM_MAX = 4
OBJECTIONS_PER_CLAIM_MAX = 50
"""Bound on objections per claim so one claim cannot be flooded (each also needs a review to clear)."""
SATISFIED_FROM_STARS = 4
"""A rating of this many stars or more counts as satisfied (满意)."""
RULE_CODE_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{1,31}$")

ClaimAction = Literal["review", "object", "settle", "add_photo"]
CLAIM_ACTIONS: dict[ClaimAction, frozenset[str]] = {
    "review": frozenset({"submitted"}),
    "object": frozenset({"publicized"}),
    "settle": frozenset({"publicized"}),
    "add_photo": frozenset({"submitted"}),
}
"""Which claim statuses each action may start from; anything else is refused and changes nothing."""


def claim_action_allowed(action: ClaimAction, status: str) -> bool:
    return status in CLAIM_ACTIONS[action]


_REF_DROP_RE = re.compile(r"[^0-9A-Za-z\u3400-\u9fff]")


def normalise_event_ref(raw: str | None) -> str | None:
    """A certificate number or similar as one comparable string: full-width folded, letters, digits and
    CJK only (no spaces, dashes or dots people type differently), upper case."""
    text = _REF_DROP_RE.sub("", unicodedata.normalize("NFKC", raw or "")).upper()
    return text or None


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


def settings_widens(before: dict[str, object], after: dict[str, object]) -> bool:
    """Whether a settings change widens what can be issued: a higher two-reviewer threshold (bigger claims
    on one reviewer's word), more points per wish or a higher monthly wish cap, or wishes paying out
    sooner without a rating. (The assignment timeout moves no points.)"""
    up = ("two_reviewers_from_points", "wish_points", "wish_points_monthly_cap")
    if any(_int(after[k]) > _int(before[k]) for k in up):
        return True
    return _int(after["wish_auto_award_days"]) < _int(before["wish_auto_award_days"])


def rule_widens(before: dict[str, object], after: dict[str, object]) -> bool:
    """Whether a rule change widens what can be issued (or taken): more points, a heavier deduction,
    switched on, no evidence needed, a shorter public notice, or a higher (or no) yearly limit."""
    old_points, new_points = _int(before["points"]), _int(after["points"])
    if new_points > old_points or (after["active"] and not before["active"]):
        return True
    if abs(new_points) > abs(old_points):  # a heavier deduction (扣分) weighs on residents: two people too
        return True
    if before["evidence_required"] and not after["evidence_required"]:
        return True
    if _int(after["publicity_days"]) < _int(before["publicity_days"]):
        return True
    old, new = before["limit_per_member_per_year"], after["limit_per_member_per_year"]
    return old is not None and (new is None or _int(new) > _int(old))


def _int(value: object) -> int:
    return int(str(value))


def adoption_problem(
    meeting: str,
    held_on: date,
    attendance: int,
    votes_for: int,
    votes_against: int,
    effective_from: date,
    today: date,
) -> tuple[str, str] | None:
    """What is wrong with a meeting's record of adopting a rule (field, message), or None: a known kind of
    meeting, held by today, votes within the attendance, a majority of those present for it, in force no
    earlier than the meeting."""
    if meeting not in MEETINGS:
        return "meeting", "one of " + ", ".join(MEETINGS)
    if held_on > today:
        return "held_on", "the meeting is held by today"
    if not 1 <= attendance <= 100_000:
        return "attendance", "1-100000"
    # Relations between fields are named "votes" (no one field is wrong on its own).
    if votes_for < 0 or votes_against < 0 or votes_for + votes_against > attendance:
        return "votes", "votes for and against within the attendance"
    if 2 * votes_for <= attendance:
        return "votes", "more than half of those present"
    if effective_from < held_on:
        return "effective_from", "on or after the meeting"
    return None


MEETINGS = ("板凳会", "村民代表会议", "村民会议", "协商议事会", "居民代表会议")
"""The meetings that adopt village rules (村规民约) in the source reports and the 村民委员会组织法."""
