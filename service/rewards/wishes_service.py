"""Micro-wishes (微心愿): 点单 (a resident asks), 派单 (staff dispatch), 接单 (accept), 评单 (rate).

``open`` -> (dispatch) -> ``offered`` -> (the volunteer accepts) -> ``assigned``, or (declines with a
reason, or no answer in :data:`rules.WISH_OFFER_TIMEOUT_HOURS`) -> back to ``open``. A volunteer may also
take an ``open`` wish from the pool (-> ``assigned``). ``assigned`` -> (complete) -> ``done`` -> (rate)
-> ``rated``, or (no rating for N days) -> ``closed``; ``assigned`` -> (time-out) -> ``open``;
``open``/``offered``/``assigned`` -> (cancel by the requester) -> ``cancelled``.

Points are a currency, so a wish's points post only with staff involved: the wish was dispatched by an
organizer, or an organizer confirmed a pool-taken wish (until then its ``points_status`` is ``pending``),
and never past the volunteer's monthly cap (``capped``). Two accounts alone cannot mint points.
"""

from __future__ import annotations

import logging
import uuid
import zlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from service import clock
from service.accounts import service as accounts
from service.accounts.service import Actor
from service.activities import service as activities
from service.config import LIST_LIMIT_MAX, TEXT_MAX, TITLE_MAX
from service.db import is_postgres, transaction
from service.errors import Conflict, DomainError, Forbidden, InvalidInput, NotFound
from service.points import service as points
from service.rewards import households_service as households
from service.rewards import rules
from service.rewards.models import Wish
from service.rewards.service import _is_member_of, _name, _text, get_settings

__all__ = [
    "CANDIDATES_MAX",
    "WISH_BATCH",
    "Candidate",
    "WishView",
    "accept_wish",
    "auto_award_due_wishes",
    "awaiting_confirmation",
    "cancel_wish",
    "complete_wish",
    "confirm_wish",
    "decline_wish",
    "dispatch_candidates",
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


REASON_MAX = 500
CANDIDATES_MAX = 200
"""Volunteers listed to choose from when dispatching (fewest open tasks first)."""
STAFF = ("organizer",)
"""Who dispatches and confirms wishes (community admins pass every role check too)."""


@dataclass
class WishView:
    wish: Wish
    requester_name: str
    volunteer_name: str
    beneficiary_name: str = ""
    dispatched_by_name: str = ""

    @property
    def for_id(self) -> uuid.UUID:
        """Who the wish is for: the household member it was filed for, else the requester."""
        return self.wish.beneficiary_id or self.wish.requester_id


async def _view(db: AsyncSession, wish: Wish) -> WishView:
    return WishView(
        wish,
        await _name(db, wish.requester_id),
        await _name(db, wish.volunteer_id),
        await _name(db, wish.beneficiary_id),
        await _name(db, wish.dispatched_by),
    )


def _asked(wish: Wish) -> set[uuid.UUID]:
    """The people a wish serves: its requester and the household member it was filed for."""
    return {wish.requester_id, wish.beneficiary_id or wish.requester_id}


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
    beneficiary_id: uuid.UUID | None = None,
) -> Wish:
    """Post a wish for oneself, or for a confirmed household member (``beneficiary_id``)."""
    await accounts.get_community(db, community_id)
    await accounts.require_role(db, actor, community_id, "member")
    if beneficiary_id is not None:
        await households.require_household(db, actor, community_id, beneficiary_id)
        if beneficiary_id == actor.member_id:
            beneficiary_id = None
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
        beneficiary_id=beneficiary_id,
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


def _to_pool(wish: Wish) -> None:
    wish.status, wish.volunteer_id, wish.assigned_by, wish.assigned_at = "open", None, None, None
    wish.dispatched_by, wish.dispatched_at, wish.accepted_at = None, None, None


@dataclass
class Candidate:
    """A member an organizer may dispatch wishes to, with what helps choose: hours and open tasks."""

    member_id: uuid.UUID
    name: str
    phone_tail: str
    service_minutes: int
    open_tasks: int
    """Wishes offered to or assigned to them right now."""

    @property
    def hours(self) -> float:
        return round(self.service_minutes / 60, 1)


async def _service_minutes(db: AsyncSession, community_id: uuid.UUID) -> dict[uuid.UUID, int]:
    since = datetime(2000, 1, 1, tzinfo=clock.now().tzinfo)
    rows = await activities.hours_leaderboard(
        db, community_id, since, clock.now() + timedelta(days=1), limit=None
    )
    return dict(rows)


async def dispatch_candidates(
    db: AsyncSession, actor: Actor, community_id: uuid.UUID, wish: Wish | None = None
) -> list[Candidate]:
    """Members who volunteer (not partner shop staff; clerks only if they ever served), with their service
    hours and open tasks, fewest open tasks then most hours first. Read-only (organizers)."""
    await accounts.require_role(db, actor, community_id, *STAFF)
    people: dict[uuid.UUID, tuple[Any, set[str]]] = {}
    after: uuid.UUID | None = None
    while True:
        rows, after = await accounts.list_members(db, actor, community_id, LIST_LIMIT_MAX, after)
        people.update((m.id, (m, set(held))) for m, held in rows)
        if after is None:
            break
    minutes = await _service_minutes(db, community_id)
    busy = dict(
        (
            await db.execute(
                select(Wish.volunteer_id, func.count())
                .where(Wish.community_id == community_id, Wish.status.in_(("offered", "assigned")))
                .group_by(Wish.volunteer_id)
            )
        ).all()
    )
    skip = _asked(wish) | {actor.member_id} if wish is not None else {actor.member_id}
    out = [
        Candidate(mid, m.name, m.phone[-4:], minutes.get(mid, 0), int(busy.get(mid, 0)))
        for mid, (m, held) in people.items()
        if mid not in skip and rules.is_dispatchable(held, minutes.get(mid, 0))
    ]
    return sorted(out, key=lambda c: (c.open_tasks, -c.service_minutes, c.name))[:CANDIDATES_MAX]


async def _is_candidate(db: AsyncSession, community_id: uuid.UUID, member_id: uuid.UUID) -> bool:
    held = {m.role for m in await accounts.roles_of(db, member_id) if m.community_id == community_id}
    minutes = (await _service_minutes(db, community_id)).get(member_id, 0) if "clerk" in held else 0
    return rules.is_dispatchable(held, minutes)


async def dispatch_wish(db: AsyncSession, actor: Actor, wish_id: uuid.UUID, volunteer_id: uuid.UUID) -> Wish:
    """An organizer offers a wish to a volunteer (派单), who then accepts or declines; on an offered or
    assigned wish this is a reassignment. The organizer may not dispatch a wish they asked for, nor to
    themself: a dispatch is what lets the points post."""
    wish = await _wish_for_update(db, wish_id)
    await accounts.require_role(db, actor, wish.community_id, *STAFF)
    if not rules.wish_action_allowed("dispatch", wish.status):
        raise Conflict(
            "wish_not_dispatchable",
            "The wish is %(status)s; only open or assigned wishes are dispatched.",
            params={"status": wish.status},
        )
    if actor.member_id in _asked(wish) or actor.member_id == volunteer_id:
        raise Forbidden(
            "reviewer_conflict", "Someone other than the requester or the beneficiary must decide this."
        )
    if volunteer_id in _asked(wish):
        raise Conflict(
            "volunteer_is_requester", "A wish cannot be dispatched to the person who asked for it."
        )
    if volunteer_id == wish.volunteer_id:
        raise Conflict("already_assigned", "The wish is already assigned to this volunteer.")
    if not await _is_member_of(db, volunteer_id, wish.community_id):
        raise NotFound("member_not_found", "No such volunteer in this community.")
    if not await _is_candidate(db, wish.community_id, volunteer_id):
        raise Conflict("not_a_volunteer", "This member does not take micro-wishes (shop or store staff).")
    now = clock.now()
    wish.status, wish.volunteer_id, wish.assigned_by = "offered", volunteer_id, actor.member_id
    wish.dispatched_by, wish.dispatched_at = actor.member_id, now
    wish.assigned_at, wish.accepted_at = None, None
    await db.flush()
    return wish


async def accept_wish(db: AsyncSession, actor: Actor, wish_id: uuid.UUID) -> Wish:
    """The volunteer accepts a wish offered to them, or takes an open wish from the pool (接单)."""
    wish = await _wish_for_update(db, wish_id)
    await accounts.require_role(db, actor, wish.community_id, "member")
    if not rules.wish_action_allowed("accept", wish.status):
        raise Conflict(
            "wish_not_open",
            "The wish is %(status)s; only open wishes can be accepted.",
            params={"status": wish.status},
        )
    if actor.member_id in _asked(wish):
        raise Forbidden("own_wish", "You cannot accept your own wish.")
    if wish.status == "offered" and wish.volunteer_id != actor.member_id:
        raise Forbidden("not_offered_to_you", "This wish was offered to another volunteer.")
    now = clock.now()
    if wish.status == "open":  # from the pool: no staff involved (points wait for a confirmation)
        wish.volunteer_id, wish.assigned_by = actor.member_id, actor.member_id
        wish.dispatched_by, wish.dispatched_at = None, None
    wish.status, wish.assigned_at, wish.accepted_at = "assigned", now, now
    await db.flush()
    return wish


async def decline_wish(db: AsyncSession, actor: Actor, wish_id: uuid.UUID, reason: str) -> Wish:
    """The volunteer declines an offer, saying why; the wish goes back to the pool."""
    wish = await _wish_for_update(db, wish_id)
    # The community first: someone from elsewhere learns nothing about the wish from the answer.
    await accounts.require_role(db, actor, wish.community_id, "member")
    if not rules.wish_action_allowed("decline", wish.status):
        raise Conflict(
            "wish_not_offered",
            "Only a wish offered to you can be declined; this one is %(status)s.",
            params={"status": wish.status},
        )
    if wish.volunteer_id != actor.member_id:
        raise Forbidden("not_offered_to_you", "This wish was offered to another volunteer.")
    wish.decline_reason = _text("reason", reason, 1, REASON_MAX)
    wish.declines += 1
    _to_pool(wish)
    await db.flush()
    return wish


async def complete_wish(db: AsyncSession, actor: Actor, wish_id: uuid.UUID) -> Wish:
    wish = await _wish_for_update(db, wish_id)
    # The community first: someone from elsewhere learns nothing about the wish from the answer.
    await accounts.require_role(db, actor, wish.community_id, "member")
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


async def _lock_volunteer(db: AsyncSession, volunteer_id: uuid.UUID) -> None:
    """Serialize wish awards of one volunteer, so two at once cannot both pass the monthly cap.
    (SQLite writers are already serialized by BEGIN IMMEDIATE.)"""
    if is_postgres(db):
        key = zlib.crc32(b"wish-cap:" + volunteer_id.bytes)
        await db.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})


async def _earned_this_month(db: AsyncSession, wish: Wish, volunteer_id: uuid.UUID) -> int:
    community = await accounts.get_community(db, wish.community_id)
    local = clock.now().astimezone(ZoneInfo(community.timezone))
    start, end = rules.month_bounds(local.year, local.month, community.timezone)
    return int(
        await db.scalar(
            select(func.coalesce(func.sum(Wish.points), 0)).where(
                Wish.community_id == wish.community_id,
                Wish.volunteer_id == volunteer_id,
                Wish.points_status == "posted",
                Wish.awarded_at >= start,
                Wish.awarded_at < end,
            )
        )
        or 0
    )


async def _award(db: AsyncSession, wish: Wish, actor_id: uuid.UUID | None) -> None:
    """Post the volunteer's points if staff dispatched or confirmed the wish and the monthly cap allows;
    otherwise record why not (``points_status``). Called once the wish is rated or closed, and again by
    a staff confirmation of a ``pending`` wish."""
    settings = await get_settings(db, wish.community_id)
    wish.points = settings.wish_points
    if wish.volunteer_id is None:
        return
    staff = wish.dispatched_by is not None or wish.confirmed_by is not None
    earned = 0
    if staff and settings.wish_points > 0:
        await _lock_volunteer(db, wish.volunteer_id)
        earned = await _earned_this_month(db, wish, wish.volunteer_id)
    outcome = rules.wish_points_outcome(settings.wish_points, staff, earned, settings.wish_points_monthly_cap)
    if outcome != "posted":
        wish.points_status = outcome
        if outcome == "capped":
            log.info("wish %s: volunteer %s reached the monthly cap", wish.id, wish.volunteer_id)
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
    wish.awarded_at, wish.transfer_id, wish.points_status = clock.now(), result.transfer_id, outcome


async def rate_wish(
    db: AsyncSession, actor: Actor, wish_id: uuid.UUID, stars: int, comment: str = ""
) -> Wish:
    """The requester (or the household member it was for) rates the service (评单); the volunteer's
    points post now when staff dispatched or confirmed the wish."""
    wish = await _wish_for_update(db, wish_id)
    if actor.member_id not in _asked(wish):
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


async def confirm_wish(db: AsyncSession, actor: Actor, wish_id: uuid.UUID) -> Wish:
    """An organizer confirms a wish a volunteer took from the pool was really done: its points may post
    (at once if it was already rated or closed). Never by the requester, beneficiary or volunteer."""
    wish = await _wish_for_update(db, wish_id)
    await accounts.require_role(db, actor, wish.community_id, *STAFF)
    if actor.member_id in _asked(wish) | {wish.volunteer_id}:
        raise Forbidden(
            "reviewer_conflict", "Someone other than the requester or the beneficiary must decide this."
        )
    if (
        not rules.wish_action_allowed("confirm", wish.status)
        or wish.dispatched_by is not None
        or wish.confirmed_by is not None
    ):
        raise Conflict(
            "wish_not_confirmable",
            "Only a wish taken from the pool and not yet confirmed needs a confirmation.",
        )
    wish.confirmed_by = actor.member_id
    if wish.points_status == "pending":
        await _award(db, wish, actor.member_id)
    await db.flush()
    return wish


async def cancel_wish(db: AsyncSession, actor: Actor, wish_id: uuid.UUID) -> Wish:
    wish = await _wish_for_update(db, wish_id)
    if actor.member_id not in _asked(wish):
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


async def awaiting_confirmation(db: AsyncSession, actor: Actor, community_id: uuid.UUID) -> list[WishView]:
    """Pool-taken wishes an organizer may confirm (not their own, nor done by them), oldest first."""
    await accounts.require_role(db, actor, community_id, *STAFF)
    found = await db.scalars(
        select(Wish)
        .where(
            Wish.community_id == community_id,
            Wish.status.in_(("done", "rated", "closed")),
            Wish.dispatched_by.is_(None),
            Wish.confirmed_by.is_(None),
            or_(Wish.points_status.is_(None), Wish.points_status == "pending"),
        )
        .order_by(Wish.completed_at)
        .limit(LIST_LIMIT_MAX)
    )
    views = [await _view(db, w) for w in found]
    return [v for v in views if actor.member_id not in _asked(v.wish) | {v.wish.volunteer_id}]


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
    """``mine`` (posted by or for me), ``assigned`` (offered or assigned to me), ``open`` (to accept)
    or ``all`` (organizers)."""
    await accounts.get_community(db, community_id)
    await accounts.require_role(db, actor, community_id, "member")
    stmt = select(Wish).where(Wish.community_id == community_id)
    if scope == "mine":  # posted by me, or filed for me by my household
        stmt = stmt.where(or_(Wish.requester_id == actor.member_id, Wish.beneficiary_id == actor.member_id))
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
    """Job: offers unanswered for :data:`rules.WISH_OFFER_TIMEOUT_HOURS` and assigned wishes not completed
    in N days go back to open for another volunteer."""
    done = await _time_out_offers(maker)
    for wish_id in await _due(maker, "assigned", Wish.assigned_at, "wish_assign_timeout_days"):
        async with transaction(maker) as db:
            wish = await _wish_for_update(db, wish_id)
            settings = await get_settings(db, wish.community_id)
            if not rules.wish_action_allowed("time_out", wish.status) or wish.assigned_at is None:
                continue
            if wish.assigned_at > clock.now() - timedelta(days=settings.wish_assign_timeout_days):
                continue
            _to_pool(wish)
            wish.timeouts += 1
            await db.flush()
            done += 1
    return done


async def _time_out_offers(maker: async_sessionmaker[AsyncSession]) -> int:
    cutoff = clock.now() - timedelta(hours=rules.WISH_OFFER_TIMEOUT_HOURS)
    async with maker() as db:
        due = list(
            await db.scalars(
                select(Wish.id)
                .where(Wish.status == "offered", Wish.dispatched_at <= cutoff)
                .order_by(Wish.dispatched_at)
                .limit(WISH_BATCH)
            )
        )
    done = 0
    for wish_id in due:
        async with transaction(maker) as db:
            wish = await _wish_for_update(db, wish_id)
            if not rules.wish_action_allowed("offer_time_out", wish.status) or wish.dispatched_at is None:
                continue
            if wish.dispatched_at > clock.now() - timedelta(hours=rules.WISH_OFFER_TIMEOUT_HOURS):
                continue
            _to_pool(wish)
            wish.timeouts += 1
            await db.flush()
            done += 1
    return done
