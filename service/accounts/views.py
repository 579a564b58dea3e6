"""The accounts read side: what other domains may know about people, roles and communities.

Other domains never query ``members``, ``memberships``, ``communities`` or ``partners`` themselves; they
call these functions (bounded: one query each, whatever the number of ids). Reports, which aggregate
over everything in SQL, are the one exception and say so.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, Uuid, column, func, literal, select, table
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from service.accounts import onboarding
from service.accounts import service as accounts
from service.accounts.actor import Actor
from service.accounts.models import Community, Member, Membership, Partner, Registration
from service.errors import raises
from service.kit.masking import mask_name, mask_phone

__all__ = [
    "ADMIN_ROLE",
    "CommunityView",
    "HomeView",
    "MemberView",
    "MembersAdminView",
    "PartnerView",
    "Roles",
    "all_communities",
    "communities_of",
    "communities_where",
    "community_code",
    "community_exists",
    "community_members",
    "community_names",
    "community_timezone",
    "community_timezones",
    "community_view",
    "holders_among",
    "holds_role",
    "home_of",
    "is_member",
    "member_by_phone",
    "member_holds",
    "member_names",
    "members_admin",
    "members_by_id",
    "partner_community",
    "partner_names",
    "partner_serves",
    "partner_staff_of",
    "partner_view",
    "partners_in",
    "partners_serving",
    "regions_above",
    "resident_of",
    "role_holders",
    "roles_in",
    "with_caller",
]

ADMIN_ROLE = "admin"


@dataclass(frozen=True)
class MemberView:
    """A person as another domain's list shows them; ``masked`` views star the name and phone."""

    id: uuid.UUID
    name: str
    phone: str
    created_at: datetime | None = field(default=None, compare=False)
    """When the account was made (``members_by_id`` fills it): attendance lists mark sign-ups at the event."""


@dataclass(frozen=True)
class Roles:
    """What a caller holds in one community: the one place pages and services ask "may they ...?".

    A community admin passes every community check; a platform admin passes everything.
    """

    held: frozenset[str]
    partner_ids: frozenset[uuid.UUID]
    platform_admin: bool = False

    def any(self, *roles: str) -> bool:
        """True if the caller holds one of ``roles`` (admins and platform admins always do)."""
        return self.platform_admin or ADMIN_ROLE in self.held or bool(self.held.intersection(roles))

    @property
    def member(self) -> bool:
        """Holds any role at all in the community (every member holds ``member``)."""
        return self.platform_admin or bool(self.held)


async def roles_in(db: AsyncSession, actor: Actor | None, community_id: uuid.UUID) -> Roles:
    """The caller's roles in a community (none for an anonymous caller)."""
    if actor is None:
        return Roles(held=frozenset(), partner_ids=frozenset())
    rows = (
        await db.execute(
            select(Membership.role, Membership.partner_id).where(
                Membership.member_id == actor.member_id, Membership.community_id == community_id
            )
        )
    ).all()
    return Roles(
        held=frozenset(role for role, _ in rows),
        partner_ids=frozenset(pid for _, pid in rows if pid is not None),
        platform_admin=actor.is_platform_admin,
    )


async def is_member(db: AsyncSession, member_id: uuid.UUID, community_id: uuid.UUID) -> bool:
    """Whether the person holds any role in the community."""
    found = await db.scalar(
        select(Membership.id)
        .where(Membership.member_id == member_id, Membership.community_id == community_id)
        .limit(1)
    )
    return found is not None


async def resident_of(db: AsyncSession, member_id: uuid.UUID) -> list[uuid.UUID]:
    """The communities where the person is a resident (holds the ``member`` role); one query."""
    rows = await db.scalars(
        select(Membership.community_id).where(Membership.member_id == member_id, Membership.role == "member")
    )
    return list(rows)


async def member_holds(db: AsyncSession, member_id: uuid.UUID, community_id: uuid.UUID, *roles: str) -> bool:
    """Whether a person (not necessarily the caller) holds one of ``roles`` in the community, or is a
    platform admin (who holds every role)."""
    held = await db.scalar(
        select(Membership.id)
        .where(
            Membership.member_id == member_id,
            Membership.community_id == community_id,
            Membership.role.in_(roles),
        )
        .limit(1)
    )
    if held is not None:
        return True
    return bool(await db.scalar(select(Member.is_platform_admin).where(Member.id == member_id)))


async def member_names(
    db: AsyncSession, ids: Iterable[uuid.UUID], *, masked: bool = False
) -> dict[uuid.UUID, str]:
    """Names by member id (王*成 when ``masked``, for shared screens); unknown ids are left out."""
    wanted = set(ids)
    if not wanted:
        return {}
    rows = (await db.execute(select(Member.id, Member.name).where(Member.id.in_(wanted)))).all()
    return {mid: mask_name(name) if masked else name for mid, name in rows}


async def names_in_text(db: AsyncSession, community_id: uuid.UUID, text: str) -> list[str]:
    """The full names (2 characters or more) of the community's members that occur in ``text`` (to mask
    them before the text is published)."""
    found = await db.scalars(
        select(Member.name)
        .join(Membership, Membership.member_id == Member.id)
        .where(
            Membership.community_id == community_id,
            func.length(Member.name) >= 2,
            literal(text).contains(Member.name),
        )
        .distinct()
    )
    return list(found)


async def members_by_id(
    db: AsyncSession, ids: Iterable[uuid.UUID], *, masked: bool = False
) -> dict[uuid.UUID, MemberView]:
    """Name and phone by member id (both masked when ``masked``); unknown ids are left out."""
    wanted = set(ids)
    if not wanted:
        return {}
    stmt = select(Member.id, Member.name, Member.phone, Member.created_at).where(Member.id.in_(wanted))
    rows = (await db.execute(stmt)).all()
    return {
        mid: MemberView(id=mid, name=mask_name(name), phone=mask_phone(phone), created_at=created)
        if masked
        else MemberView(id=mid, name=name, phone=phone, created_at=created)
        for mid, name, phone, created in rows
    }


async def partner_names(db: AsyncSession, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, str]:
    """Partner shop names by id; unknown ids are left out."""
    wanted = set(ids)
    if not wanted:
        return {}
    rows = (await db.execute(select(Partner.id, Partner.name).where(Partner.id.in_(wanted)))).all()
    return {pid: name for pid, name in rows}


async def community_names(db: AsyncSession, community_ids: list[uuid.UUID]) -> dict[uuid.UUID, str]:
    """Community names by id; unknown ids are left out."""
    rows = await db.execute(select(Community.id, Community.name).where(Community.id.in_(community_ids)))
    return {cid: name for cid, name in rows}


async def community_timezones(db: AsyncSession, community_ids: list[uuid.UUID]) -> dict[uuid.UUID, str]:
    """The IANA time zones of several communities (Asia/Shanghai where unset)."""
    rows = await db.execute(select(Community.id, Community.timezone).where(Community.id.in_(community_ids)))
    return {cid: zone or "Asia/Shanghai" for cid, zone in rows}


async def community_timezone(db: AsyncSession, community_id: uuid.UUID) -> str:
    """The community's IANA time zone (Asia/Shanghai unless set); the default for an unknown id."""
    zone = await db.scalar(select(Community.timezone).where(Community.id == community_id))
    return zone or "Asia/Shanghai"


async def communities_where(db: AsyncSession, actor: Actor, *roles: str) -> list[Community]:
    """The communities where the caller holds one of ``roles`` (an admin holds every role), by name.

    Only the caller's own memberships count: a platform admin is not thereby in every community.
    """
    wanted = {*roles, ADMIN_ROLE}
    ids = select(Membership.community_id).where(
        Membership.member_id == actor.member_id, Membership.role.in_(sorted(wanted))
    )
    return list(await db.scalars(select(Community).where(Community.id.in_(ids)).order_by(Community.name)))


async def all_communities(db: AsyncSession) -> list[Community]:
    """Every community, by name (the platform administrator's lists)."""
    return list(await db.scalars(select(Community).order_by(Community.name)))


# ---------------------------------------------------------------- what the accounts pages show


@dataclass(frozen=True)
class HomeView:
    """The home page: the caller's communities with their roles, and sign-ups still waiting."""

    communities: list[Community]
    roles: dict[uuid.UUID, list[str]]
    """community id -> the caller's roles there, in the order they were given."""
    pending_sign_ups: list[Community]
    held: bool = False
    """The caller holds a staff role and someone else has known their password (``Member.held_by``):
    the page asks them to secure the account by SMS before they decide anything for others."""


async def home_of(db: AsyncSession, actor: Actor) -> HomeView:
    """What the home page shows the caller (four queries)."""
    roles: dict[uuid.UUID, list[str]] = {}
    for m in await accounts.roles_of(db, actor.member_id):
        roles.setdefault(m.community_id, []).append(m.role)
    return HomeView(
        communities=await accounts.list_communities(db, roles),
        roles=roles,
        pending_sign_ups=await onboarding.pending_sign_ups(db, actor.member_id),
        held=any(r != "member" for rs in roles.values() for r in rs)  # only staff decide for others
        and await db.scalar(select(Member.held_by).where(Member.id == actor.member_id)) is not None,
    )


@dataclass(frozen=True)
class MembersAdminView:
    """The members page of a community's administration."""

    members: list[tuple[Member, list[str]]]
    last: uuid.UUID | None
    """The last member shown when there are more (the next page's cursor), else None."""
    partners: list[Partner]
    total: int
    invited: dict[uuid.UUID, datetime]
    """Members with an open activation code, and when it expires."""
    registrations: list[tuple[Registration, Member]]


@raises(accounts.list_members, onboarding.list_registrations)
async def members_admin(
    db: AsyncSession,
    actor: Actor,
    community_id: uuid.UUID,
    limit: int,
    after: uuid.UUID | None,
    query: str | None,
) -> MembersAdminView:
    """One page of a community's members with its partners, counts and waiting sign-ups (staff)."""
    members, last = await accounts.list_members(db, actor, community_id, limit, after, query)
    return MembersAdminView(
        members=members,
        last=last,
        partners=await accounts.list_partners(db, community_id),
        total=await accounts.count_members(db, community_id),
        invited=await onboarding.count_pending_invitations(db, community_id),
        registrations=await onboarding.list_registrations(db, actor, community_id),
    )


# ---- added for store and points


@dataclass(frozen=True)
class PartnerView:
    """A partner shop as other domains' lists show it (a region's unit has ``region_id``, no community)."""

    id: uuid.UUID
    community_id: uuid.UUID | None
    name: str
    address: str | None
    active: bool
    region_id: uuid.UUID | None = None
    kind: str = "shop"
    hours: str | None = None
    monthly_quota: int | None = None


def partner_view(p: Partner) -> PartnerView:
    return PartnerView(
        p.id, p.community_id, p.name, p.address, p.active, p.region_id, p.kind, p.hours, p.monthly_quota
    )


async def partners_in(db: AsyncSession, community_id: uuid.UUID) -> list[PartnerView]:
    """The community's partner shops by name (one query)."""
    rows = await db.scalars(
        select(Partner).where(Partner.community_id == community_id).order_by(Partner.name)
    )
    return [partner_view(p) for p in rows]


# The region tree belongs to the regions domain; accounts reads only which regions sit above a community
# (a street, its district, its city: three levels), by the tables' names, to know whose units serve it.
_REGION_COMMUNITIES = table("region_communities", column("community_id", Uuid), column("region_id", Uuid))
_REGIONS = table("regions", column("id", Uuid), column("parent_id", Uuid))


async def regions_above(db: AsyncSession, community_id: uuid.UUID) -> list[uuid.UUID]:
    """The community's street and every region above it (none outside the tree); one query."""
    street, district = _REGIONS.alias("street"), _REGIONS.alias("district")
    row = (
        await db.execute(
            select(_REGION_COMMUNITIES.c.region_id, street.c.parent_id, district.c.parent_id)
            .select_from(_REGION_COMMUNITIES)
            .join(street, street.c.id == _REGION_COMMUNITIES.c.region_id)
            .outerjoin(district, district.c.id == street.c.parent_id)
            .where(_REGION_COMMUNITIES.c.community_id == community_id)
        )
    ).first()
    return [rid for rid in (row or ()) if rid is not None]


async def partners_serving(db: AsyncSession, community_id: uuid.UUID) -> list[PartnerView]:
    """The community's own shops and the units of every region above it, by name (two queries)."""
    regions = await regions_above(db, community_id)
    owner = Partner.community_id == community_id
    rows = await db.scalars(
        select(Partner)
        .where(owner | Partner.region_id.in_(regions) if regions else owner)
        .order_by(Partner.name)
    )
    return [partner_view(p) for p in rows]


async def partner_serves(db: AsyncSession, partner_id: uuid.UUID, community_id: uuid.UUID) -> bool:
    """Whether the partner is the community's shop or a unit of a region above the community."""
    row = (
        await db.execute(select(Partner.community_id, Partner.region_id).where(Partner.id == partner_id))
    ).first()
    if row is None:
        return False
    if row.community_id is not None:
        return bool(row.community_id == community_id)
    return row.region_id in await regions_above(db, community_id)


async def partner_staff_of(db: AsyncSession, member_id: uuid.UUID) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """(community id, partner id) of every partner shop the person works for."""
    rows = await db.execute(
        select(Membership.community_id, Membership.partner_id).where(
            Membership.member_id == member_id, Membership.role == "partner"
        )
    )
    return [(cid, pid) for cid, pid in rows if pid is not None]


async def community_exists(db: AsyncSession, community_id: uuid.UUID) -> bool:
    """Whether a community with this id exists."""
    return await db.scalar(select(Community.id).where(Community.id == community_id)) is not None


async def partner_community(db: AsyncSession, partner_id: uuid.UUID) -> uuid.UUID | None:
    """The community a partner shop belongs to, or None for an unknown id or a region's unit."""
    found: uuid.UUID | None = await db.scalar(select(Partner.community_id).where(Partner.id == partner_id))
    return found


# ---- added for activities


@dataclass(frozen=True)
class CommunityView:
    """A community as other domains' pages show it."""

    id: uuid.UUID
    name: str
    timezone: str


async def community_view(db: AsyncSession, community_id: uuid.UUID) -> CommunityView | None:
    """The community's name and time zone, or ``None`` for an unknown id."""
    row = (
        await db.execute(
            select(Community.id, Community.name, Community.timezone).where(Community.id == community_id)
        )
    ).first()
    return None if row is None else CommunityView(row.id, row.name, row.timezone)


async def community_code(db: AsyncSession, community_id: uuid.UUID) -> str | None:
    """The community's short code (certificate numbers start with it), or ``None`` for an unknown id."""
    code: str | None = await db.scalar(select(Community.code).where(Community.id == community_id))
    return code


async def communities_of(db: AsyncSession, actor: Actor) -> list[tuple[CommunityView, Roles]]:
    """The communities the caller holds a role in (by name), each with those roles; one query."""
    rows = (
        await db.execute(
            select(Community.id, Community.name, Community.timezone, Membership.role, Membership.partner_id)
            .join(Membership, Membership.community_id == Community.id)
            .where(Membership.member_id == actor.member_id)
            .order_by(Community.name, Community.id)
        )
    ).all()
    held: dict[uuid.UUID, tuple[CommunityView, set[str], set[uuid.UUID]]] = {}
    for cid, name, zone, role, partner_id in rows:
        _view, roles, partners = held.setdefault(cid, (CommunityView(cid, name, zone), set(), set()))
        roles.add(role)
        if partner_id is not None:
            partners.add(partner_id)
    return [
        (view, Roles(frozenset(roles), frozenset(partners), actor.is_platform_admin))
        for view, roles, partners in held.values()
    ]


async def community_members(db: AsyncSession, community_id: uuid.UUID, limit: int) -> list[MemberView]:
    """Up to ``limit`` holders of the ``member`` role in the community (by id), for pickers."""
    return await role_holders(db, community_id, "member", limit, by_name=False)


async def holds_role(db: AsyncSession, member_id: uuid.UUID, community_id: uuid.UUID, role: str) -> bool:
    """Whether a person holds exactly ``role`` in the community (an admin or a platform admin does not
    count: a duty given to a named role goes only to its holders)."""
    return member_id in await holders_among(db, community_id, role, [member_id])


async def holders_among(
    db: AsyncSession, community_id: uuid.UUID, role: str, ids: Iterable[uuid.UUID]
) -> set[uuid.UUID]:
    """Which of ``ids`` hold exactly ``role`` in the community (one query)."""
    wanted = set(ids)
    if not wanted:
        return set()
    rows = await db.scalars(
        select(Membership.member_id).where(
            Membership.community_id == community_id, Membership.role == role, Membership.member_id.in_(wanted)
        )
    )
    return set(rows)


async def role_holders(
    db: AsyncSession, community_id: uuid.UUID, role: str, limit: int, *, by_name: bool = True
) -> list[MemberView]:
    """Up to ``limit`` holders of ``role`` in the community (by name, else by id), for pickers."""
    order = (Member.name, Member.id) if by_name else (Member.id,)
    rows = (
        await db.execute(
            select(Member.id, Member.name, Member.phone)
            .join(Membership, Membership.member_id == Member.id)
            .where(Membership.community_id == community_id, Membership.role == role)
            .order_by(*order)
            .limit(limit)
        )
    ).all()
    return [MemberView(mid, name, phone) for mid, name, phone in rows]


# ---- added for rewards (households link members by phone)


async def member_by_phone(db: AsyncSession, phone: str) -> MemberView | None:
    """The person with this (normalised) phone number, unmasked; None if nobody has it."""
    row = (
        await db.execute(select(Member.id, Member.name, Member.phone).where(Member.phone == phone))
    ).first()
    return MemberView(id=row[0], name=row[1], phone=row[2]) if row is not None else None


# ---- the check-in hot path


def with_caller(
    stmt: Select[Any],
    member_id: uuid.UUID,
    community_id: ColumnElement[uuid.UUID] | InstrumentedAttribute[uuid.UUID],
) -> Select[Any]:
    """``stmt`` with the caller's login facts and roles in a community joined, so a hot path reads them in
    the same round trip as its own rows: adds the columns ``role``, ``partner_id`` (one row per role held;
    None when none), ``token_version``, ``name``, ``phone`` and ``is_platform_admin`` (None when the member
    is gone)."""
    return (
        stmt.add_columns(
            Membership.role,
            Membership.partner_id,
            Member.token_version,
            Member.name,
            Member.phone,
            Member.is_platform_admin,
        )
        .outerjoin(Member, Member.id == member_id)
        .outerjoin(
            Membership, (Membership.community_id == community_id) & (Membership.member_id == member_id)
        )
    )
