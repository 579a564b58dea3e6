"""The micro-wishes read side: wish lists with names, dispatch candidates, monthly figures, the page.

Every function runs a fixed number of queries whatever the number of wishes: names come from
``accounts.views.member_names`` in one query per list, counts are aggregated in SQL.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from service import clock
from service.accounts import service as accounts
from service.accounts import views as people
from service.accounts.actor import Actor
from service.config import LIST_LIMIT_MAX
from service.errors import raises
from service.kit.batch import pages
from service.kit.months import InvalidMonth, month_bounds, month_of, require_month
from service.points import service as points
from service.points import views as points_views
from service.rewards import rules as reward_rules
from service.rewards import views as reward_views
from service.rewards.service import CommunitySettings, get_settings
from service.wishes import rules
from service.wishes.errors import InvalidScope, WishNotFound
from service.wishes.models import CallBinding, Wish, WishStatus
from service.wishes.service import STAFF, asked, default_address, service_minutes

__all__ = [
    "CANDIDATES_MAX",
    "Candidate",
    "Satisfaction",
    "WishScope",
    "WishView",
    "WishesPage",
    "address_shown_to",
    "awaiting_confirmation",
    "dispatch_candidates",
    "get_wish",
    "home_panel",
    "list_wishes",
    "satisfaction",
    "wish_stats",
    "wishes_page",
]

CANDIDATES_MAX = 200
"""Volunteers listed to choose from when dispatching (fewest open tasks first)."""
WishScope = Literal["mine", "assigned", "open", "all"]
SCOPES: tuple[WishScope, ...] = ("mine", "assigned", "open", "all")


@dataclass
class WishView:
    wish: Wish
    requester_name: str
    volunteer_name: str
    beneficiary_name: str = ""
    dispatched_by_name: str = ""
    address: str | None = None
    """The wish's address when the reader may see it (:func:`address_shown_to`), else ``None``."""
    can_call: bool = False
    """Whether the reader is the volunteer doing the wish now, who may call its requester via a relay."""

    @property
    def for_id(self) -> uuid.UUID:
        """Who the wish is for: the household member it was filed for, else the requester."""
        return self.wish.beneficiary_id or self.wish.requester_id


def address_shown_to(wish: Wish, reader: uuid.UUID) -> bool:
    """The requester and the member it is for always; its volunteer only once they accepted it and while
    they are doing it (``assigned``); nobody else (organizers included)."""
    return reader in asked(wish) or (reader == wish.volunteer_id and wish.status == "assigned")


async def _views(db: AsyncSession, found: list[Wish], reader: uuid.UUID) -> list[WishView]:
    """Wishes with the names of the people in them, in one query for all the names; the address and the
    call button only for whom they are meant (``reader``)."""
    ids = {
        i
        for w in found
        for i in (w.requester_id, w.volunteer_id, w.beneficiary_id, w.dispatched_by)
        if i is not None
    }
    names = await people.member_names(db, ids)

    def name(member_id: uuid.UUID | None) -> str:
        return "" if member_id is None else names.get(member_id, "?")

    return [
        WishView(
            wish=w,
            requester_name=name(w.requester_id),
            volunteer_name=name(w.volunteer_id),
            beneficiary_name=name(w.beneficiary_id),
            dispatched_by_name=name(w.dispatched_by),
            address=w.address if address_shown_to(w, reader) else None,
            can_call=reader == w.volunteer_id and w.status == "assigned" and reader not in asked(w),
        )
        for w in found
    ]


@raises(WishNotFound, accounts.require_role)
async def get_wish(db: AsyncSession, actor: Actor, wish_id: uuid.UUID) -> WishView:
    """One wish, for the members of its community."""
    wish = await db.get(Wish, wish_id)
    if wish is None:
        raise WishNotFound()
    await accounts.require_role(db, actor, wish.community_id, "member")
    return (await _views(db, [wish], actor.member_id))[0]


@raises(accounts.require_role)
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
    mine = [w for w in found if actor.member_id not in asked(w) | {w.volunteer_id}]
    return await _views(db, mine, actor.member_id)


@raises(InvalidScope, accounts.get_community, accounts.require_role)
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
        raise InvalidScope()
    if status is not None:
        stmt = stmt.where(Wish.status == status)
    if before is not None:
        stmt = stmt.where(Wish.id < before)
    limit = max(1, min(limit, LIST_LIMIT_MAX))
    found = list(await db.scalars(stmt.order_by(Wish.id.desc()).limit(limit + 1)))
    more = len(found) > limit
    found = found[:limit]
    return await _views(db, found, actor.member_id), (found[-1].id if more else None)


@dataclass(frozen=True)
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


@raises(get_wish, accounts.require_role, accounts.list_members)
async def dispatch_candidates(
    db: AsyncSession, actor: Actor, community_id: uuid.UUID, wish_id: uuid.UUID | None = None
) -> list[Candidate]:
    """Members who volunteer (not partner shop staff; clerks only if they ever served), with their service
    hours and open tasks, fewest open tasks then most hours first. With ``wish_id``, that wish's requester
    and beneficiary are left out. Read-only (organizers)."""
    wish = (await get_wish(db, actor, wish_id)).wish if wish_id is not None else None
    await accounts.require_role(db, actor, community_id, *STAFF)

    async def fetch(
        after: uuid.UUID | None,
    ) -> tuple[list[tuple[uuid.UUID, str, str, set[str]]], uuid.UUID | None]:
        rows, last = await accounts.list_members(db, actor, community_id, LIST_LIMIT_MAX, after)
        return [(m.id, m.name, m.phone, set(held)) for m, held in rows], last

    people_here = [row async for row in pages(fetch)]
    minutes = await service_minutes(db, community_id)
    busy = dict(
        (
            await db.execute(
                select(Wish.volunteer_id, func.count())
                .where(Wish.community_id == community_id, Wish.status.in_(("offered", "assigned")))
                .group_by(Wish.volunteer_id)
            )
        ).all()
    )
    skip = asked(wish) | {actor.member_id} if wish is not None else {actor.member_id}
    out = [
        Candidate(
            member_id=mid,
            name=name,
            phone_tail=phone[-4:],
            service_minutes=minutes.get(mid, 0),
            open_tasks=int(busy.get(mid, 0)),
        )
        for mid, name, phone, held in people_here
        if mid not in skip and rules.is_dispatchable(held, minutes.get(mid, 0))
    ]
    return sorted(out, key=lambda c: (c.open_tasks, -c.service_minutes, c.name))[:CANDIDATES_MAX]


async def _month(db: AsyncSession, community_id: uuid.UUID, month: str | None) -> tuple[str, str]:
    """(``YYYY-MM`` asked for, or this local month; the community's time zone)."""
    zone = await people.community_timezone(db, community_id)
    return month or month_of(clock.now(), zone), zone


@raises(InvalidMonth, accounts.get_community, accounts.require_role)
async def wish_stats(
    db: AsyncSession, actor: Actor, community_id: uuid.UUID, month: str | None
) -> tuple[str, rules.WishStats]:
    """Figures reported upward for wishes posted in a local month (aggregated from one query's rows)."""
    await accounts.get_community(db, community_id)
    await accounts.require_role(db, actor, community_id, "organizer", "reviewer")
    label, zone = await _month(db, community_id, month)
    year, mon = require_month(label)
    start, end = month_bounds(year, mon, zone)
    rows = await db.execute(
        select(Wish.status, Wish.created_at, Wish.completed_at, Wish.stars).where(
            Wish.community_id == community_id, Wish.created_at >= start, Wish.created_at < end
        )
    )
    return f"{year:04d}-{mon:02d}", rules.wish_stats([(s, c, d, st) for s, c, d, st in rows.all()])


@dataclass(frozen=True)
class Satisfaction:
    month: str
    wishes: reward_rules.RatingStats
    """Ratings of micro-wishes rated in the month."""
    activities: reward_rules.RatingStats
    """Ratings of activities given in the month."""


@raises(InvalidMonth, accounts.get_community, accounts.require_role)
async def satisfaction(
    db: AsyncSession, actor: Actor, community_id: uuid.UUID, month: str | None
) -> Satisfaction:
    """How satisfied residents were in a local month: wishes and activities (organizers, reviewers)."""
    await accounts.get_community(db, community_id)
    await accounts.require_role(db, actor, community_id, "organizer", "reviewer")
    label, zone = await _month(db, community_id, month)
    year, mon = require_month(label)
    start, end = month_bounds(year, mon, zone)
    rows = await db.execute(
        select(Wish.stars, func.count())
        .where(
            Wish.community_id == community_id,
            Wish.rated_at >= start,
            Wish.rated_at < end,
            Wish.stars.is_not(None),
        )
        .group_by(Wish.stars)
    )
    stars = [int(value) for value, count in rows.all() if value is not None for _ in range(int(count))]
    return Satisfaction(
        month=f"{year:04d}-{mon:02d}",
        wishes=reward_rules.rating_stats(stars),
        activities=await reward_views.activity_rating_stats(db, community_id, start, end),
    )


async def _live_numbers(
    db: AsyncSession, wish_ids: list[uuid.UUID], volunteer_id: uuid.UUID
) -> dict[str, str]:
    """Relay numbers of the volunteer's bindings that still connect, by wish id (one query)."""
    if not wish_ids:
        return {}
    rows = await db.execute(
        select(CallBinding.wish_id, CallBinding.relay_number)
        .where(
            CallBinding.wish_id.in_(wish_ids),
            CallBinding.volunteer_id == volunteer_id,
            CallBinding.ended_at.is_(None),
            CallBinding.expires_at > clock.now(),
        )
        .order_by(CallBinding.expires_at)
    )
    return {str(wish_id): number for wish_id, number in rows.all()}


ASSIGNED_SHOWN: frozenset[WishStatus] = frozenset({"assigned", "done", "rated", "closed"})


@dataclass(frozen=True)
class WishesPage:
    """What the /wishes page shows one member (and, for organizers, the dispatch desk)."""

    mine: list[WishView]
    offered: list[WishView]
    assigned: list[WishView]
    open_wishes: list[WishView]
    all_open: list[WishView]
    is_organizer: bool
    household: list[tuple[uuid.UUID, str]]
    balance: points.Balance
    settings: CommunitySettings
    candidates: list[Candidate]
    stats: rules.WishStats | None
    to_confirm: list[WishView]
    waiting: list[WishView]
    satisfaction: Satisfaction | None
    over_budget: set[str]
    """Ids of my wishes (asked or done) whose volunteer's points wait for the monthly budget."""
    call_numbers: dict[str, str]
    """Relay numbers (隐私号) of my wishes in progress whose binding still connects, by wish id."""
    default_address: str
    """What the new-wish form's address starts with (my latest wish's address here)."""


@raises(list_wishes, dispatch_candidates, wish_stats, awaiting_confirmation, satisfaction)
async def wishes_page(db: AsyncSession, actor: Actor, community_id: uuid.UUID) -> WishesPage:
    """The member's wishes, offers, tasks and the pool; the organizer's desk when they are one."""
    organizer = (await people.roles_in(db, actor, community_id)).any(*STAFF)
    mine, _ = await list_wishes(db, actor, community_id, scope="mine")
    assigned, _ = await list_wishes(db, actor, community_id, scope="assigned")
    open_, _ = await list_wishes(db, actor, community_id, scope="open")
    waiting = (
        (await list_wishes(db, actor, community_id, scope="all", status="offered"))[0] if organizer else []
    )
    unpaid = [str(v.wish.id) for v in [*mine, *assigned] if v.wish.transfer_id is None]
    return WishesPage(
        call_numbers=await _live_numbers(db, [v.wish.id for v in assigned if v.can_call], actor.member_id),
        default_address=await default_address(db, community_id, actor.member_id) or "",
        over_budget=await points_views.pending_refs(db, community_id, "wish", unpaid),
        mine=mine,
        offered=[v for v in assigned if v.wish.status == "offered"],
        assigned=[v for v in assigned if v.wish.status in ASSIGNED_SHOWN],
        open_wishes=[v for v in open_ if actor.member_id not in {v.wish.requester_id, v.for_id}],
        all_open=open_,
        is_organizer=organizer,
        household=await reward_views.household_choices(db, actor, community_id),
        balance=await points.balance(db, community_id, actor.member_id),
        settings=await get_settings(db, community_id),
        candidates=await dispatch_candidates(db, actor, community_id) if organizer else [],
        stats=(await wish_stats(db, actor, community_id, None))[1] if organizer else None,
        to_confirm=await awaiting_confirmation(db, actor, community_id) if organizer else [],
        waiting=waiting,
        satisfaction=await satisfaction(db, actor, community_id, None) if organizer else None,
    )


@raises(list_wishes, reward_views.home_panel)
async def home_panel(db: AsyncSession, actor: Actor, community_id: uuid.UUID) -> reward_views.HomePanel:
    """The home page's rewards card: wishes open to me (offers included), claims to review, activities
    to rate."""
    open_wishes, _ = await list_wishes(db, actor, community_id, scope="open", limit=LIST_LIMIT_MAX)
    offered, _ = await list_wishes(db, actor, community_id, scope="assigned", status="offered")
    mine = sum(1 for v in open_wishes if v.wish.requester_id == actor.member_id)
    return await reward_views.home_panel(db, actor, community_id, len(open_wishes) - mine + len(offered))
