"""Residents rate the activities they attended (1-5 stars, once each).

The ratings live in the rewards domain: with the wishes' ratings they feed the satisfaction figures a
community reports upward (``service.wishes.views.satisfaction``). Whether someone attended is asked of
the activities service. Reads (what is left to rate, figures) are in ``service.rewards.views``.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from service import clock
from service.accounts.actor import Actor
from service.activities import service as activities
from service.errors import raises
from service.kit.text import InvalidField, bounded_text
from service.rewards.errors import AlreadyRated, InvalidStars, NotAttended
from service.rewards.models import ActivityRating

__all__ = ["ATTENDED_RATABLE_STATUSES", "COMMENT_MAX", "RATE_WITHIN_DAYS", "rate_activity"]

RATE_WITHIN_DAYS = 30
"""Activities attended in the last this many days are offered for rating on the residents' page."""
ATTENDED_RATABLE_STATUSES = ("in", "out")
"""Checked in (and maybe out): a pending or rejected manual record is not attendance."""
COMMENT_MAX = 500


@raises(NotAttended, InvalidStars, InvalidField, AlreadyRated, activities.get_activity)
async def rate_activity(
    db: AsyncSession, actor: Actor, activity_id: uuid.UUID, stars: int, comment: str = ""
) -> ActivityRating:
    """A member rates an activity they attended, once."""
    activity = await activities.get_activity(db, actor, activity_id)
    if await activities.attendance_status(db, activity.id, actor.member_id) not in ATTENDED_RATABLE_STATUSES:
        raise NotAttended()
    if not 1 <= stars <= 5:
        raise InvalidStars(errors=[{"field": "stars", "message": "1-5"}])
    comment = bounded_text(comment, "comment", high=COMMENT_MAX)
    taken = await db.scalar(
        select(ActivityRating.id).where(
            ActivityRating.activity_id == activity.id, ActivityRating.member_id == actor.member_id
        )
    )
    if taken is not None:
        raise AlreadyRated()
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
        raise AlreadyRated() from exc
    return rating
