"""Residents rate the activities they attended (1-5 stars, once each); figures of satisfaction.

The ratings live in the rewards domain beside the wishes' ratings: both feed the satisfaction figures a
community reports upward. Whether someone attended is asked of the activities service.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from service import clock
from service.accounts import service as accounts
from service.accounts.service import Actor
from service.activities import service as activities
from service.activities.models import Activity
from service.errors import Conflict, Forbidden, InvalidInput
from service.rewards import rules
from service.rewards.models import ActivityRating, Wish
from service.rewards.service import _text

__all__ = [
    "ATTENDED_RATABLE_STATUSES",
    "RATE_WITHIN_DAYS",
    "Satisfaction",
    "activity_rating_stats",
    "rate_activity",
    "satisfaction",
    "unrated_attended",
]

RATE_WITHIN_DAYS = 30
"""Activities attended in the last this many days are offered for rating on the residents' page."""
ATTENDED_RATABLE_STATUSES = ("in", "out")
"""Checked in (and maybe out): a pending or rejected manual record is not attendance."""
COMMENT_MAX = 500


async def rate_activity(
    db: AsyncSession, actor: Actor, activity_id: uuid.UUID, stars: int, comment: str = ""
) -> ActivityRating:
    """A member rates an activity they attended, once."""
    activity = await activities.get_activity(db, actor, activity_id)
    if await activities.attendance_status(db, activity.id, actor.member_id) not in ATTENDED_RATABLE_STATUSES:
        raise Forbidden("not_attended", "Only people who attended an activity rate it.")
    if not 1 <= stars <= 5:
        raise InvalidInput(
            "invalid_stars", "Stars must be 1 to 5.", errors=[{"field": "stars", "message": "1-5"}]
        )
    comment = _text("comment", comment, 0, COMMENT_MAX)
    taken = await db.scalar(
        select(ActivityRating.id).where(
            ActivityRating.activity_id == activity.id, ActivityRating.member_id == actor.member_id
        )
    )
    if taken is not None:
        raise Conflict("already_rated", "You already rated this activity.")
    rating = ActivityRating(
        community_id=activity.community_id,
        activity_id=activity.id,
        member_id=actor.member_id,
        stars=stars,
        comment=comment,
        created_at=clock.now(),
    )
    try:
        async with db.begin_nested():  # two taps at once: the unique key decides, not a 500
            db.add(rating)
            await db.flush()
    except IntegrityError as exc:
        raise Conflict("already_rated", "You already rated this activity.") from exc
    return rating


async def unrated_attended(db: AsyncSession, actor: Actor, community_id: uuid.UUID) -> list[Activity]:
    """Activities the caller attended in the last :data:`RATE_WITHIN_DAYS` days and has not rated yet."""
    await accounts.require_role(db, actor, community_id, "member")
    since = clock.now() - timedelta(days=RATE_WITHIN_DAYS)
    hours = await activities.hours_of(db, actor.member_id, community_id)
    rated = set(
        await db.scalars(
            select(ActivityRating.activity_id).where(
                ActivityRating.community_id == community_id, ActivityRating.member_id == actor.member_id
            )
        )
    )
    return [a for a, att in hours.items if att.checked_in_at >= since and a.id not in rated]


async def activity_rating_stats(
    db: AsyncSession, community_id: uuid.UUID, start: datetime, end: datetime
) -> rules.RatingStats:
    """Ratings of activities given in [start, end) as figures (aggregated in SQL)."""
    rows = await db.execute(
        select(ActivityRating.stars, func.count())
        .where(
            ActivityRating.community_id == community_id,
            ActivityRating.created_at >= start,
            ActivityRating.created_at < end,
        )
        .group_by(ActivityRating.stars)
    )
    stars: list[int] = []
    for value, count in rows.all():
        stars += [int(value)] * int(count)
    return rules.rating_stats(stars)


@dataclass(frozen=True)
class Satisfaction:
    month: str
    wishes: rules.RatingStats
    """Ratings of micro-wishes rated in the month."""
    activities: rules.RatingStats
    """Ratings of activities given in the month."""


async def satisfaction(
    db: AsyncSession, actor: Actor, community_id: uuid.UUID, month: str | None
) -> Satisfaction:
    """How satisfied residents were in a local month: wishes and activities (organizers, reviewers)."""
    community = await accounts.get_community(db, community_id)
    await accounts.require_role(db, actor, community_id, "organizer", "reviewer")
    parsed = rules.parse_month(month, clock.now(), community.timezone)
    if parsed is None:
        raise InvalidInput(
            "invalid_month",
            "Month must look like 2026-05.",
            errors=[{"field": "month", "message": "YYYY-MM"}],
        )
    start, end = rules.month_bounds(*parsed, community.timezone)
    wish_stars = list(
        await db.scalars(
            select(Wish.stars).where(
                Wish.community_id == community_id,
                Wish.rated_at >= start,
                Wish.rated_at < end,
                Wish.stars.is_not(None),
            )
        )
    )
    return Satisfaction(
        f"{parsed[0]:04d}-{parsed[1]:02d}",
        rules.rating_stats([int(s) for s in wish_stars if s is not None]),
        await activity_rating_stats(db, community_id, start, end),
    )
