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
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import InstrumentedAttribute

from service import clock
from service.accounts import households as household_history
from service.accounts import service as accounts
from service.accounts import views as people
from service.accounts.actor import Actor
from service.accounts.sms import SmsSender
from service.activities import service as activities
from service.audit.service import record
from service.config import TEXT_MAX, TITLE_MAX
from service.db import is_postgres, transaction
from service.errors import DomainError, raises
from service.kit.masking import mask_name
from service.kit.months import month_bounds_at
from service.kit.text import InvalidField, bounded_text
from service.notices import service as notices
from service.notices.models import Notice, NoticeKind
from service.points import service as points
from service.rewards import households_service as households
from service.rewards.errors import InvalidStars, ReviewerConflict
from service.rewards.service import CommunitySettings, get_settings
from service.wishes import rules
from service.wishes.calls import CallRelay
from service.wishes.errors import (
    AlreadyAssigned,
    CallRelayFailed,
    CallRelayOff,
    InvalidAddress,
    InvalidCategory,
    InvalidWantedBy,
    NotAssignedVolunteer,
    NotAVolunteer,
    NotOfferedToYou,
    NotRequester,
    OwnWish,
    VolunteerIsRequester,
    VolunteerNotFound,
    WishNotAssigned,
    WishNotCancellable,
    WishNotConfirmable,
    WishNotDispatchable,
    WishNotFound,
    WishNotOffered,
    WishNotOpen,
    WishNotRatable,
)
from service.wishes.models import ADDRESS_MAX, CallBinding, Wish, WishStatus

__all__ = [
    "CALL_BINDING_HOURS",
    "COMMENT_MAX",
    "REASON_MAX",
    "STAFF",
    "WANTED_BY_DAYS_MAX",
    "WISH_BATCH",
    "accept_wish",
    "asked",
    "auto_award_due_wishes",
    "call_relay",
    "cancel_wish",
    "complete_wish",
    "confirm_wish",
    "decline_wish",
    "default_address",
    "dispatch_wish",
    "forget_addresses",
    "is_candidate",
    "live_binding",
    "post_wish",
    "rate_wish",
    "service_minutes",
    "time_out_wishes",
]

log = logging.getLogger("jifen.wishes")

WISH_BATCH = 200
"""Wishes handled per job batch (one transaction each)."""
COMMENT_MAX = 500
WANTED_BY_DAYS_MAX = 365
REASON_MAX = 500
CALL_BINDING_HOURS = 24
"""How long one privacy-number binding lasts at most (a new one is made after; never past the wish's time)."""
STAFF = ("organizer",)
"""Who dispatches and confirms wishes (community admins pass every role check too)."""


def asked(wish: Wish) -> set[uuid.UUID]:
    """The people a wish serves: its requester and the household member it was filed for."""
    return {wish.requester_id, wish.beneficiary_id or wish.requester_id}


async def _wish_for_update(db: AsyncSession, wish_id: uuid.UUID) -> Wish:
    wish = await db.scalar(select(Wish).where(Wish.id == wish_id).with_for_update())
    if wish is None:
        raise WishNotFound()
    await db.refresh(wish)
    return wish


async def default_address(db: AsyncSession, community_id: uuid.UUID, member_id: uuid.UUID) -> str | None:
    """The address a new wish of ``member_id`` starts with: the one on their latest wish here, if any
    (members have no registered address of their own; a household's wishes share the requester's)."""
    return await db.scalar(
        select(Wish.address)
        .where(Wish.community_id == community_id, Wish.requester_id == member_id, Wish.address.is_not(None))
        .order_by(Wish.created_at.desc())
        .limit(1)
    )


def _address(address: str | None) -> str | None:
    if address is None:
        return None
    cleaned = " ".join(address.split())
    if not 1 <= len(cleaned) <= ADDRESS_MAX or not cleaned.isprintable():
        raise InvalidAddress(
            params={"max": ADDRESS_MAX},
            errors=[{"field": "address", "message": "1 to 200 printable characters"}],
        )
    return cleaned


@raises(
    InvalidAddress,
    InvalidCategory,
    InvalidWantedBy,
    InvalidField,
    accounts.get_community,
    accounts.require_role,
    households.require_household,
)
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
    address: str | None = None,
) -> Wish:
    """Post a wish for oneself, or for a confirmed household member (``beneficiary_id``), where the help
    is needed (``address``; by default the address of the requester's latest wish here)."""
    await accounts.get_community(db, community_id)
    await accounts.require_role(db, actor, community_id, "member")
    if beneficiary_id is not None:
        await households.require_household(db, actor, community_id, beneficiary_id)
        if beneficiary_id == actor.member_id:
            beneficiary_id = None
    if category not in rules.WISH_CATEGORIES:
        raise InvalidCategory(
            params={"choices": ", ".join(rules.WISH_CATEGORIES)},
            errors=[{"field": "category", "message": "unknown category"}],
        )
    now = clock.now()
    if wanted_by is not None and (
        wanted_by.tzinfo is None or not (now < wanted_by <= now + timedelta(days=WANTED_BY_DAYS_MAX))
    ):
        raise InvalidWantedBy(errors=[{"field": "wanted_by", "message": "a future time within a year"}])
    place = _address(address) or await default_address(db, community_id, actor.member_id)
    wish = Wish(
        community_id=community_id,
        requester_id=actor.member_id,
        beneficiary_id=beneficiary_id,
        title=bounded_text(title, "title", low=1, high=TITLE_MAX),
        description=bounded_text(description, "description", high=TEXT_MAX),
        category=category,
        wanted_by=wanted_by,
        address=place,
        status="open",
        created_at=now,
    )
    db.add(wish)
    await db.flush()
    return wish


def _to_pool(wish: Wish) -> None:
    wish.status, wish.volunteer_id, wish.assigned_by, wish.assigned_at = "open", None, None, None
    wish.dispatched_by, wish.dispatched_at, wish.accepted_at = None, None, None


SERVICE_SINCE = datetime(2000, 1, 1)
"""Service hours count from here (all of them)."""


async def service_minutes(db: AsyncSession, community_id: uuid.UUID) -> dict[uuid.UUID, int]:
    """Every member's service minutes in the community (one aggregate query)."""
    now = clock.now()
    rows = await activities.hours_leaderboard(
        db, community_id, SERVICE_SINCE.replace(tzinfo=now.tzinfo), now + timedelta(days=1), limit=None
    )
    return dict(rows)


async def is_candidate(db: AsyncSession, community_id: uuid.UUID, member_id: uuid.UUID) -> bool:
    """Whether ``member_id`` may be offered wishes here (see :func:`rules.is_dispatchable`)."""
    held = {m.role for m in await accounts.roles_of(db, member_id) if m.community_id == community_id}
    minutes = (await service_minutes(db, community_id)).get(member_id, 0) if "clerk" in held else 0
    return rules.is_dispatchable(held, minutes)


@raises(
    WishNotFound,
    WishNotDispatchable,
    ReviewerConflict,
    VolunteerIsRequester,
    AlreadyAssigned,
    VolunteerNotFound,
    NotAVolunteer,
    accounts.require_role,
)
async def dispatch_wish(
    db: AsyncSession,
    actor: Actor,
    wish_id: uuid.UUID,
    volunteer_id: uuid.UUID,
    *,
    sms: SmsSender | None = None,
) -> Wish:
    """An organizer offers a wish to a volunteer (派单), who then accepts or declines; on an offered or
    assigned wish this is a reassignment. The organizer may not dispatch a wish they asked for, nor to
    themself: a dispatch is what lets the points post. The volunteer and the requester get a notice (and
    a text message through ``sms``)."""
    wish = await _wish_for_update(db, wish_id)
    await accounts.require_role(db, actor, wish.community_id, *STAFF)
    if not rules.wish_action_allowed("dispatch", wish.status):
        raise WishNotDispatchable(params={"status": wish.status})
    if await household_history.conflicted(
        db, wish.community_id, actor.member_id, asked(wish) | {volunteer_id}, wish.created_at
    ):
        raise ReviewerConflict()  # nor to, or for, their household (at any time since the wish)
    if volunteer_id in asked(wish):
        raise VolunteerIsRequester()
    if volunteer_id == wish.volunteer_id:
        raise AlreadyAssigned()
    if not await people.is_member(db, volunteer_id, wish.community_id):
        raise VolunteerNotFound()
    if not await is_candidate(db, wish.community_id, volunteer_id):
        raise NotAVolunteer()
    now = clock.now()
    wish.status, wish.volunteer_id, wish.assigned_by = "offered", volunteer_id, actor.member_id
    wish.dispatched_by, wish.dispatched_at = actor.member_id, now
    wish.assigned_at, wish.accepted_at = None, None
    await db.flush()
    await _end_calls(db, wish)
    await _audit(db, actor, wish, "wish_dispatched", volunteer_id)
    names = await people.member_names(db, {volunteer_id}, masked=True)
    params = {
        "title": wish.title,
        "hours": rules.WISH_OFFER_TIMEOUT_HOURS,
        "volunteer": names.get(volunteer_id, ""),
    }
    told = [
        await _notice(db, wish, volunteer_id, "wish_offered", params),
        await _notice(db, wish, wish.requester_id, "wish_dispatched", params),
    ]
    if sms is not None:
        await notices.text_them(db, told, sms)
    return wish


async def _notice(
    db: AsyncSession, wish: Wish, member_id: uuid.UUID, kind: NoticeKind, params: dict[str, Any]
) -> Notice:
    link = f"/wishes?community={wish.community_id}#wish-{wish.id}"
    return await notices.notify(
        db, member_id=member_id, community_id=wish.community_id, kind=kind, params=params, link=link
    )


async def _end_calls(db: AsyncSession, wish: Wish) -> None:
    """The wish is no longer its volunteer's to do: their privacy-number bindings end (the app offers the
    number no more; the provider's binding runs out at its ``expires_at`` at the latest)."""
    now = clock.now()
    await db.execute(
        update(CallBinding)
        .where(CallBinding.wish_id == wish.id, CallBinding.ended_at.is_(None), CallBinding.expires_at > now)
        .values(ended_at=now)
    )


async def _audit(db: AsyncSession, actor: Actor, wish: Wish, action: str, subject: uuid.UUID | None) -> None:
    await record(
        db,
        actor_id=actor.member_id,
        action=action,
        community_id=wish.community_id,
        subject_member_id=subject,
        detail={"wish_id": str(wish.id), "title": wish.title, "points_status": wish.points_status},
    )


@raises(WishNotFound, WishNotOpen, OwnWish, NotOfferedToYou, accounts.require_role)
async def accept_wish(
    db: AsyncSession, actor: Actor, wish_id: uuid.UUID, *, sms: SmsSender | None = None
) -> Wish:
    """The volunteer accepts a wish offered to them, or takes an open wish from the pool (接单). They see
    its address from now on (audited); the requester gets a notice (and a text message through ``sms``)."""
    wish = await _wish_for_update(db, wish_id)
    await accounts.require_role(db, actor, wish.community_id, "member")
    if not rules.wish_action_allowed("accept", wish.status):
        raise WishNotOpen(params={"status": wish.status})
    if actor.member_id in asked(wish):
        raise OwnWish()
    if wish.status == "offered" and wish.volunteer_id != actor.member_id:
        raise NotOfferedToYou()
    now = clock.now()
    if wish.status == "open":  # from the pool: no staff involved (points wait for a confirmation)
        wish.volunteer_id, wish.assigned_by = actor.member_id, actor.member_id
        wish.dispatched_by, wish.dispatched_at = None, None
    wish.status, wish.assigned_at, wish.accepted_at = "assigned", now, now
    await db.flush()
    await record(
        db,
        actor_id=actor.member_id,
        action="wish_accepted",
        community_id=wish.community_id,
        subject_member_id=wish.requester_id,
        detail={"wish_id": str(wish.id), "title": wish.title, "address_shared": wish.address is not None},
    )
    params = {"title": wish.title, "volunteer": mask_name(actor.name)}
    told = [await _notice(db, wish, wish.requester_id, "wish_accepted", params)]
    if sms is not None:
        await notices.text_them(db, told, sms)
    return wish


@raises(WishNotFound, WishNotOffered, NotOfferedToYou, InvalidField, accounts.require_role)
async def decline_wish(db: AsyncSession, actor: Actor, wish_id: uuid.UUID, reason: str) -> Wish:
    """The volunteer declines an offer, saying why; the wish goes back to the pool."""
    wish = await _wish_for_update(db, wish_id)
    # The community first: someone from elsewhere learns nothing about the wish from the answer.
    await accounts.require_role(db, actor, wish.community_id, "member")
    if not rules.wish_action_allowed("decline", wish.status):
        raise WishNotOffered(params={"status": wish.status})
    if wish.volunteer_id != actor.member_id:
        raise NotOfferedToYou()
    wish.decline_reason = bounded_text(reason, "reason", low=1, high=REASON_MAX)
    wish.declines += 1
    _to_pool(wish)
    await db.flush()
    await _end_calls(db, wish)
    return wish


@raises(WishNotFound, WishNotAssigned, NotAssignedVolunteer, accounts.require_role)
async def complete_wish(db: AsyncSession, actor: Actor, wish_id: uuid.UUID) -> Wish:
    """The assigned volunteer marks the wish done; it then waits for the requester's rating."""
    wish = await _wish_for_update(db, wish_id)
    # The community first: someone from elsewhere learns nothing about the wish from the answer.
    await accounts.require_role(db, actor, wish.community_id, "member")
    if not rules.wish_action_allowed("complete", wish.status):
        raise WishNotAssigned(params={"status": wish.status})
    if actor.member_id != wish.volunteer_id:
        raise NotAssignedVolunteer()
    wish.status, wish.completed_at = "done", clock.now()
    await db.flush()
    await _end_calls(db, wish)
    return wish


async def _lock_volunteer(db: AsyncSession, volunteer_id: uuid.UUID) -> None:
    """Serialize wish awards of one volunteer, so two at once cannot both pass the monthly cap.
    (SQLite writers are already serialized by BEGIN IMMEDIATE.)"""
    if is_postgres(db):
        key = zlib.crc32(b"wish-cap:" + volunteer_id.bytes)
        await db.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})


async def _earned_this_month(db: AsyncSession, wish: Wish, volunteer_id: uuid.UUID) -> int:
    zone = await people.community_timezone(db, wish.community_id)
    start, end = month_bounds_at(clock.now(), zone)
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


@raises(points.award)
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
    if result.pending:  # beyond the community's issuance budget: the points post when it allows
        log.info("wish %s: points wait for the issuance budget", wish.id)
        return
    wish.awarded_at, wish.transfer_id, wish.points_status = clock.now(), result.transfer_id, outcome


@raises(WishNotFound, NotRequester, WishNotRatable, InvalidStars, InvalidField, _award)
async def rate_wish(
    db: AsyncSession, actor: Actor, wish_id: uuid.UUID, stars: int, comment: str = ""
) -> Wish:
    """The requester (or the household member it was for) rates the service (评单); the volunteer's
    points post now when staff dispatched or confirmed the wish."""
    wish = await _wish_for_update(db, wish_id)
    if actor.member_id not in asked(wish):
        raise NotRequester()
    if not rules.wish_action_allowed("rate", wish.status):
        raise WishNotRatable(params={"status": wish.status})
    if not 1 <= stars <= 5:
        raise InvalidStars(errors=[{"field": "stars", "message": "1-5"}])
    wish.comment = bounded_text(comment, "comment", high=COMMENT_MAX)
    wish.stars, wish.rated_at, wish.status = stars, clock.now(), "rated"
    await _award(db, wish, actor.member_id)
    await db.flush()
    return wish


@raises(WishNotFound, ReviewerConflict, WishNotConfirmable, accounts.require_role, _award)
async def confirm_wish(db: AsyncSession, actor: Actor, wish_id: uuid.UUID) -> Wish:
    """An organizer confirms a wish a volunteer took from the pool was really done: its points may post
    (at once if it was already rated or closed). Never by the requester, beneficiary or volunteer."""
    wish = await _wish_for_update(db, wish_id)
    await accounts.require_role(db, actor, wish.community_id, *STAFF)
    if await household_history.conflicted(
        db, wish.community_id, actor.member_id, asked(wish) | {wish.volunteer_id}, wish.created_at
    ):
        raise ReviewerConflict()
    if (
        not rules.wish_action_allowed("confirm", wish.status)
        or wish.dispatched_by is not None
        or wish.confirmed_by is not None
    ):
        raise WishNotConfirmable()
    wish.confirmed_by = actor.member_id
    if wish.points_status == "pending":
        await _award(db, wish, actor.member_id)
    await db.flush()
    await _audit(db, actor, wish, "wish_confirmed", wish.volunteer_id)
    return wish


@raises(WishNotFound, NotRequester, WishNotCancellable)
async def cancel_wish(db: AsyncSession, actor: Actor, wish_id: uuid.UUID) -> Wish:
    """The requester (or the household member it was for) withdraws a wish not yet done."""
    wish = await _wish_for_update(db, wish_id)
    if actor.member_id not in asked(wish):
        raise NotRequester(detail="Only the person who posted the wish cancels it.")
    if not rules.wish_action_allowed("cancel", wish.status):
        raise WishNotCancellable(params={"status": wish.status})
    wish.status, wish.cancelled_at = "cancelled", clock.now()
    await db.flush()
    await _end_calls(db, wish)
    return wish


# ---------------------------------------------------------------- calls through a privacy number


async def forget_addresses(db: AsyncSession, member_id: uuid.UUID) -> None:
    """A deleted person's addresses go from the wishes they asked for (or that were filed for them), and
    their call bindings end."""
    await db.execute(
        update(Wish)
        .where(
            or_(Wish.requester_id == member_id, Wish.beneficiary_id == member_id), Wish.address.is_not(None)
        )
        .values(address=None)
    )
    now = clock.now()
    await db.execute(
        update(CallBinding)
        .where(
            or_(CallBinding.requester_id == member_id, CallBinding.volunteer_id == member_id),
            CallBinding.ended_at.is_(None),
        )
        .values(ended_at=now)
    )


async def live_binding(db: AsyncSession, wish: Wish, volunteer_id: uuid.UUID) -> CallBinding | None:
    """The volunteer's binding of this wish that still connects (not ended, not expired)."""
    return await db.scalar(
        select(CallBinding)
        .where(
            CallBinding.wish_id == wish.id,
            CallBinding.volunteer_id == volunteer_id,
            CallBinding.ended_at.is_(None),
            CallBinding.expires_at > clock.now(),
        )
        .order_by(CallBinding.expires_at.desc())
        .limit(1)
    )


@raises(
    WishNotFound, NotAssignedVolunteer, WishNotAssigned, CallRelayOff, CallRelayFailed, accounts.require_role
)
async def call_relay(
    db: AsyncSession, actor: Actor, wish_id: uuid.UUID, relay: CallRelay | None
) -> CallBinding:
    """The relay number (隐私号) the wish's volunteer dials to reach its requester, bound for at most
    :data:`CALL_BINDING_HOURS` and never past the wish's time-out; only while the wish is theirs and in
    progress. The same binding again while it lasts. Neither phone number is shown to the other side."""
    wish = await _wish_for_update(db, wish_id)
    await accounts.require_role(db, actor, wish.community_id, "member")
    if actor.member_id != wish.volunteer_id or actor.member_id in asked(wish):
        raise NotAssignedVolunteer(detail="Only the volunteer doing the wish calls its requester.")
    if wish.status != "assigned" or wish.assigned_at is None:
        raise WishNotAssigned(params={"status": wish.status})
    if relay is None:
        raise CallRelayOff()
    found = await live_binding(db, wish, actor.member_id)
    if found is not None:
        return found
    settings = await get_settings(db, wish.community_id)
    now = clock.now()
    expires_at = min(
        now + timedelta(hours=CALL_BINDING_HOURS),
        wish.assigned_at + timedelta(days=settings.wish_assign_timeout_days),
    )
    if expires_at <= now:  # the wish is past its time and about to go back to the pool
        raise WishNotAssigned(params={"status": wish.status})
    phones = await people.members_by_id(db, {actor.member_id, wish.requester_id})
    number = await relay.bind(
        a=phones[actor.member_id].phone,
        b=phones[wish.requester_id].phone,
        ref=str(wish.id),
        expires_at=expires_at,
    )
    if number is None:
        raise CallRelayFailed()
    binding = CallBinding(
        wish_id=wish.id,
        volunteer_id=actor.member_id,
        requester_id=wish.requester_id,
        relay_number=number,
        backend=relay.name,
        expires_at=expires_at,
        created_at=now,
    )
    db.add(binding)
    await db.flush()
    await record(
        db,
        actor_id=actor.member_id,
        action="wish_call_bound",
        community_id=wish.community_id,
        subject_member_id=wish.requester_id,
        detail={"wish_id": str(wish.id), "backend": relay.name, "expires_at": expires_at.isoformat()},
    )
    return binding


# ---------------------------------------------------------------- periodic jobs


async def _due(
    maker: async_sessionmaker[AsyncSession],
    status: WishStatus,
    column: InstrumentedAttribute[datetime | None],
    days_of: Callable[[CommunitySettings], int],
) -> list[uuid.UUID]:
    """Wishes in ``status`` whose ``column`` is older than their community's setting (``days_of``) in days."""
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
            days = days_of(await get_settings(db, community_id))
            due += await db.scalars(
                select(Wish.id)
                .where(Wish.community_id == community_id, Wish.status == status)
                .where(column <= now - timedelta(days=days))
                .order_by(column)
                .limit(WISH_BATCH)
            )
    return due


async def _close_unrated(maker: async_sessionmaker[AsyncSession], wish_id: uuid.UUID) -> bool:
    async with transaction(maker) as db:
        wish = await _wish_for_update(db, wish_id)
        settings = await get_settings(db, wish.community_id)
        if not rules.wish_action_allowed("auto_award", wish.status) or wish.completed_at is None:
            return False
        if wish.completed_at > clock.now() - timedelta(days=settings.wish_auto_award_days):
            return False
        wish.status = "closed"
        await _award(db, wish, None)
        return True


async def auto_award_due_wishes(maker: async_sessionmaker[AsyncSession]) -> int:
    """Job: wishes completed N days ago and never rated close, and their volunteers' points post."""
    done = 0
    for wish_id in await _due(maker, "done", Wish.completed_at, lambda s: s.wish_auto_award_days):
        try:
            done += await _close_unrated(maker, wish_id)
        except DomainError as exc:
            log.warning("wish %s not closed: %s", wish_id, exc)
    return done


async def _back_to_pool(maker: async_sessionmaker[AsyncSession], wish_id: uuid.UUID) -> bool:
    async with transaction(maker) as db:
        wish = await _wish_for_update(db, wish_id)
        settings = await get_settings(db, wish.community_id)
        if not rules.wish_action_allowed("time_out", wish.status) or wish.assigned_at is None:
            return False
        if wish.assigned_at > clock.now() - timedelta(days=settings.wish_assign_timeout_days):
            return False
        _to_pool(wish)
        wish.timeouts += 1
        await db.flush()
        await _end_calls(db, wish)
        return True


async def time_out_wishes(maker: async_sessionmaker[AsyncSession]) -> int:
    """Job: offers unanswered for :data:`rules.WISH_OFFER_TIMEOUT_HOURS` and assigned wishes not completed
    in N days go back to open for another volunteer."""
    done = await _time_out_offers(maker)
    for wish_id in await _due(maker, "assigned", Wish.assigned_at, lambda s: s.wish_assign_timeout_days):
        done += await _back_to_pool(maker, wish_id)
    return done


async def _offer_back_to_pool(maker: async_sessionmaker[AsyncSession], wish_id: uuid.UUID) -> bool:
    async with transaction(maker) as db:
        wish = await _wish_for_update(db, wish_id)
        if not rules.wish_action_allowed("offer_time_out", wish.status) or wish.dispatched_at is None:
            return False
        if wish.dispatched_at > clock.now() - timedelta(hours=rules.WISH_OFFER_TIMEOUT_HOURS):
            return False
        _to_pool(wish)
        wish.timeouts += 1
        await db.flush()
        return True


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
        done += await _offer_back_to_pool(maker, wish_id)
    return done
