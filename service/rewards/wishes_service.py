"""Micro-wishes (微心愿): resident orders, platform dispatches, volunteer accepts, resident rates.

``open`` -> (dispatch | accept) -> ``assigned`` -> (complete) -> ``done`` -> (rate) -> ``rated``, or
(no rating for N days) -> ``closed``; the volunteer's points post on either of the last two, exactly once.
``open``/``assigned`` -> (cancel by the requester) -> ``cancelled``; ``assigned`` -> (timeout) -> ``open``.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from service import clock
from service.accounts import service as accounts
from service.accounts.service import Actor
from service.config import LIST_LIMIT_MAX, TEXT_MAX, TITLE_MAX
from service.db import transaction
from service.errors import Conflict, DomainError, Forbidden, InvalidInput, NotFound
from service.points import service as points
from service.rewards import rules
from service.rewards.models import Wish
from service.rewards.service import _is_member_of, _name, _text, get_settings

__all__ = [
    "WISH_BATCH",
    "WishView",
    "accept_wish",
    "auto_award_due_wishes",
    "cancel_wish",
    "complete_wish",
    "dispatch_wish",
    "get_wish",
    "list_wishes",
    "post_wish",
    "rate_wish",
    "time_out_wishes",
    "wish_stats",
]

log = logging.getLogger("jifen.wishes")

WISH_BATCH = 200
COMMENT_MAX = 500
WANTED_BY_DAYS_MAX = 365


@dataclass
class WishView:
    wish: Wish
    requester_name: str
    volunteer_name: str


async def _view(db: AsyncSession, wish: Wish) -> WishView:
    return WishView(wish, await _name(db, wish.requester_id), await _name(db, wish.volunteer_id))


async def _wish_for_update(db: AsyncSession, wish_id: uuid.UUID) -> Wish:
    wish = await db.scalar(select(Wish).where(Wish.id == wish_id).with_for_update())
    if wish is None:
        raise NotFound("wish_not_found", "No such wish.")
    await db.refresh(wish)
    return wish


async def post_wish(
    db: AsyncSession,
    actor: Actor,
    community_id: uuid.UUID,
    *,
    title: str,
    description: str = "",
    category: str = "other",
    wanted_by: datetime | None = None,
) -> Wish:
    await accounts.get_community(db, community_id)
    await accounts.require_role(db, actor, community_id, "member")
    if category not in rules.WISH_CATEGORIES:
        raise InvalidInput(
            "invalid_category",
            "Category must be one of %(choices)s.",
            params={"choices": ", ".join(rules.WISH_CATEGORIES)},
            errors=[{"field": "category", "message": "unknown category"}],
        )
    now = clock.now()
    if wanted_by is not None and (
        wanted_by.tzinfo is None or not (now < wanted_by <= now + timedelta(days=WANTED_BY_DAYS_MAX))
    ):
        raise InvalidInput(
            "invalid_wanted_by",
            "The wanted-by time must be in the next year, with a time zone.",
            errors=[{"field": "wanted_by", "message": "a future time within a year"}],
        )
    wish = Wish(
        community_id=community_id,
        requester_id=actor.member_id,
        title=_text("title", title, 1, TITLE_MAX),
        description=_text("description", description, 0, TEXT_MAX),
        category=category,
        wanted_by=wanted_by,
        status="open",
        created_at=now,
    )
    db.add(wish)
    await db.flush()
    return wish


def _assign(wish: Wish, volunteer_id: uuid.UUID, by: uuid.UUID) -> None:
    wish.status, wish.volunteer_id, wish.assigned_by, wish.assigned_at = (
        "assigned",
        volunteer_id,
        by,
        clock.now(),
    )


async def dispatch_wish(db: AsyncSession, actor: Actor, wish_id: uuid.UUID, volunteer_id: uuid.UUID) -> Wish:
    """An organizer dispatches an open wish to a volunteer, or reassigns an assigned one."""
    wish = await _wish_for_update(db, wish_id)
    await accounts.require_role(db, actor, wish.community_id, "organizer")
    if not rules.wish_action_allowed("dispatch", wish.status):
        raise Conflict(
            "wish_not_dispatchable",
            "The wish is %(status)s; only open or assigned wishes are dispatched.",
            params={"status": wish.status},
        )
    if volunteer_id == wish.requester_id:
        raise Conflict(
            "volunteer_is_requester", "A wish cannot be dispatched to the person who asked for it."
        )
    if volunteer_id == wish.volunteer_id:
        raise Conflict("already_assigned", "The wish is already assigned to this volunteer.")
    if not await _is_member_of(db, volunteer_id, wish.community_id):
        raise NotFound("member_not_found", "No such volunteer in this community.")
    _assign(wish, volunteer_id, actor.member_id)
    await db.flush()
    return wish


async def accept_wish(db: AsyncSession, actor: Actor, wish_id: uuid.UUID) -> Wish:
    """A volunteer takes an open wish (接单)."""
    wish = await _wish_for_update(db, wish_id)
    await accounts.require_role(db, actor, wish.community_id, "member")
    if not rules.wish_action_allowed("accept", wish.status):
        raise Conflict(
            "wish_not_open",
            "The wish is %(status)s; only open wishes can be accepted.",
            params={"status": wish.status},
        )
    if actor.member_id == wish.requester_id:
        raise Forbidden("own_wish", "You cannot accept your own wish.")
    _assign(wish, actor.member_id, actor.member_id)
    await db.flush()
    return wish


async def complete_wish(db: AsyncSession, actor: Actor, wish_id: uuid.UUID) -> Wish:
    wish = await _wish_for_update(db, wish_id)
    if not rules.wish_action_allowed("complete", wish.status):
        raise Conflict(
            "wish_not_assigned",
            "The wish is %(status)s; only assigned wishes are completed.",
            params={"status": wish.status},
        )
    if actor.member_id != wish.volunteer_id:
        raise Forbidden("not_assigned_volunteer", "Only the volunteer the wish is assigned to completes it.")
    wish.status, wish.completed_at = "done", clock.now()
    await db.flush()
    return wish


async def _award(db: AsyncSession, wish: Wish, actor_id: uuid.UUID | None) -> None:
    settings = await get_settings(db, wish.community_id)
    wish.points = settings.wish_points
    if settings.wish_points <= 0 or wish.volunteer_id is None:
        return
    result = await points.award(
        db,
        community_id=wish.community_id,
        member_id=wish.volunteer_id,
        points=settings.wish_points,
        code="wish",
        memo=wish.title,
        ref_type="wish",
        ref_id=str(wish.id),
        actor_id=actor_id,
        idempotency_key=f"wish:{wish.id}",
    )
    wish.awarded_at, wish.transfer_id = clock.now(), result.transfer_id


async def rate_wish(
    db: AsyncSession, actor: Actor, wish_id: uuid.UUID, stars: int, comment: str = ""
) -> Wish:
    """The requester rates the service (评单); the volunteer's points post now."""
    wish = await _wish_for_update(db, wish_id)
    if actor.member_id != wish.requester_id:
        raise Forbidden("not_requester", "Only the person who posted the wish rates it.")
    if not rules.wish_action_allowed("rate", wish.status):
        raise Conflict(
            "wish_not_ratable",
            "The wish is %(status)s; only completed wishes are rated.",
            params={"status": wish.status},
        )
    if not 1 <= stars <= 5:
        raise InvalidInput(
            "invalid_stars", "Stars must be 1 to 5.", errors=[{"field": "stars", "message": "1-5"}]
        )
    wish.comment = _text("comment", comment, 0, COMMENT_MAX)
    wish.stars, wish.rated_at, wish.status = stars, clock.now(), "rated"
    await _award(db, wish, actor.member_id)
    await db.flush()
    return wish


async def cancel_wish(db: AsyncSession, actor: Actor, wish_id: uuid.UUID) -> Wish:
    wish = await _wish_for_update(db, wish_id)
    if actor.member_id != wish.requester_id:
        raise Forbidden("not_requester", "Only the person who posted the wish cancels it.")
    if not rules.wish_action_allowed("cancel", wish.status):
        raise Conflict(
            "wish_not_cancellable",
            "The wish is %(status)s; it can no longer be cancelled.",
            params={"status": wish.status},
        )
    wish.status, wish.cancelled_at = "cancelled", clock.now()
    await db.flush()
    return wish


async def get_wish(db: AsyncSession, actor: Actor, wish_id: uuid.UUID) -> WishView:
    wish = await db.get(Wish, wish_id)
    if wish is None:
        raise NotFound("wish_not_found", "No such wish.")
    await accounts.require_role(db, actor, wish.community_id, "member")
    return await _view(db, wish)


async def list_wishes(
    db: AsyncSession,
    actor: Actor,
    community_id: uuid.UUID,
    *,
    scope: str = "mine",
    status: str | None = None,
    limit: int = 50,
    before: uuid.UUID | None = None,
) -> tuple[list[WishView], uuid.UUID | None]:
    """``mine`` (posted by me), ``assigned`` (to me), ``open`` (to accept) or ``all`` (organizers)."""
    await accounts.get_community(db, community_id)
    await accounts.require_role(db, actor, community_id, "member")
    stmt = select(Wish).where(Wish.community_id == community_id)
    if scope == "mine":
        stmt = stmt.where(Wish.requester_id == actor.member_id)
    elif scope == "assigned":
        stmt = stmt.where(Wish.volunteer_id == actor.member_id)
    elif scope == "open":
        stmt = stmt.where(Wish.status == "open")
    elif scope == "all":
        await accounts.require_role(db, actor, community_id, "organizer")
    else:
        raise InvalidInput("invalid_scope", "Scope must be mine, assigned, open or all.")
    if status is not None:
        stmt = stmt.where(Wish.status == status)
    if before is not None:
        stmt = stmt.where(Wish.id < before)
    limit = max(1, min(limit, LIST_LIMIT_MAX))
    found = list(await db.scalars(stmt.order_by(Wish.id.desc()).limit(limit + 1)))
    more = len(found) > limit
    found = found[:limit]
    return [await _view(db, w) for w in found], (found[-1].id if more else None)


async def wish_stats(
    db: AsyncSession, actor: Actor, community_id: uuid.UUID, month: str | None
) -> tuple[str, rules.WishStats]:
    """Figures reported upward for wishes posted in a local month."""
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
    rows = await db.execute(
        select(Wish.status, Wish.created_at, Wish.completed_at, Wish.stars).where(
            Wish.community_id == community_id, Wish.created_at >= start, Wish.created_at < end
        )
    )
    return f"{parsed[0]:04d}-{parsed[1]:02d}", rules.wish_stats([tuple(r) for r in rows])  # type: ignore[misc]


# ---------------------------------------------------------------- periodic jobs


async def _due(
    maker: async_sessionmaker[AsyncSession], status: str, column: Any, setting: str
) -> list[uuid.UUID]:
    """Wishes in ``status`` whose ``column`` is older than their community's ``setting`` days."""
    now = clock.now()
    floor = now - timedelta(days=1)  # every setting is at least one day
    due: list[uuid.UUID] = []
    async with maker() as db:
        communities = list(
            await db.scalars(
                select(Wish.community_id).where(Wish.status == status, column <= floor).distinct()
            )
        )
        for community_id in communities:
            days = getattr(await get_settings(db, community_id), setting)
            due += await db.scalars(
                select(Wish.id)
                .where(Wish.community_id == community_id, Wish.status == status)
                .where(column <= now - timedelta(days=days))
                .order_by(column)
                .limit(WISH_BATCH)
            )
    return due


async def auto_award_due_wishes(maker: async_sessionmaker[AsyncSession]) -> int:
    """Job: wishes completed N days ago and never rated close, and their volunteers' points post."""
    done = 0
    for wish_id in await _due(maker, "done", Wish.completed_at, "wish_auto_award_days"):
        try:
            async with transaction(maker) as db:
                wish = await _wish_for_update(db, wish_id)
                settings = await get_settings(db, wish.community_id)
                if not rules.wish_action_allowed("auto_award", wish.status) or wish.completed_at is None:
                    continue
                if wish.completed_at > clock.now() - timedelta(days=settings.wish_auto_award_days):
                    continue
                wish.status = "closed"
                await _award(db, wish, None)
                done += 1
        except DomainError as exc:
            log.warning("wish %s not closed: %s", wish_id, exc)
    return done


async def time_out_wishes(maker: async_sessionmaker[AsyncSession]) -> int:
    """Job: assigned wishes not completed in N days go back to open for another volunteer."""
    done = 0
    for wish_id in await _due(maker, "assigned", Wish.assigned_at, "wish_assign_timeout_days"):
        async with transaction(maker) as db:
            wish = await _wish_for_update(db, wish_id)
            settings = await get_settings(db, wish.community_id)
            if not rules.wish_action_allowed("time_out", wish.status) or wish.assigned_at is None:
                continue
            if wish.assigned_at > clock.now() - timedelta(days=settings.wish_assign_timeout_days):
                continue
            wish.status, wish.volunteer_id, wish.assigned_by, wish.assigned_at = "open", None, None, None
            wish.timeouts += 1
            await db.flush()
            done += 1
    return done
