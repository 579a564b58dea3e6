"""Pure rules of micro-wishes: the state machine, who may be offered a wish, points outcomes, figures.

No I/O, no framework.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from service.rewards.rules import SATISFIED_FROM_STARS
from service.wishes.models import WishPointsStatus, WishStatus

__all__ = [
    "DISPATCH_EXCLUDED_ROLES",
    "WISH_ACTIONS",
    "WISH_CATEGORIES",
    "WISH_OFFER_TIMEOUT_HOURS",
    "WishAction",
    "WishStats",
    "is_dispatchable",
    "wish_action_allowed",
    "wish_points_outcome",
    "wish_stats",
]

WISH_OFFER_TIMEOUT_HOURS = 24
"""Hours a dispatched wish waits for its volunteer to accept or decline before it returns to the pool."""
DISPATCH_EXCLUDED_ROLES = frozenset({"partner"})
"""Roles whose holders are never offered wishes: partner shop staff serve customers, not neighbours."""
WISH_CATEGORIES = ("errand", "repair", "care", "companionship", "tutoring", "other")


WishAction = Literal[
    "dispatch",
    "accept",
    "decline",
    "complete",
    "rate",
    "cancel",
    "auto_award",
    "time_out",
    "offer_time_out",
    "confirm",
]
WISH_ACTIONS: dict[WishAction, frozenset[WishStatus]] = {
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


def wish_action_allowed(action: WishAction, status: WishStatus) -> bool:
    return status in WISH_ACTIONS[action]


def is_dispatchable(roles: Iterable[str], service_minutes: int) -> bool:
    """Whether an organizer may offer wishes to a member: a member who is not partner shop staff, and
    not a store clerk who has never volunteered (clerks with service hours volunteer too)."""
    held = set(roles)
    if "member" not in held or held & DISPATCH_EXCLUDED_ROLES:
        return False
    return "clerk" not in held or service_minutes > 0


def wish_points_outcome(
    points: int, staff_involved: bool, earned_this_month: int, monthly_cap: int
) -> WishPointsStatus:
    """What happens to a finished wish's points: ``none`` (0 points), ``pending`` (no staff dispatched or
    confirmed it yet), ``capped`` (past the volunteer's monthly cap) or ``posted``."""
    if points <= 0:
        return "none"
    if not staff_involved:
        return "pending"
    if earned_this_month + points > monthly_cap:
        return "capped"
    return "posted"


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
