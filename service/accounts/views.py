"""The accounts read side: what other domains may know about people, roles and communities.

Other domains never query ``members``, ``memberships``, ``communities`` or ``partners`` themselves; they
call these functions (bounded: one query each, whatever the number of ids). Reports, which aggregate
over everything in SQL, are the one exception and say so.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from service.accounts.models import Community, Member, Membership, Partner
from service.accounts.service import Actor
from service.kit.masking import mask_name, mask_phone

__all__ = [
    "ADMIN_ROLE",
    "PLATFORM_ADMIN",
    "MemberView",
    "Roles",
    "community_timezone",
    "is_member",
    "member_by_phone",
    "member_names",
    "members_by_id",
    "partner_names",
    "roles_in",
]

ADMIN_ROLE = "admin"
PLATFORM_ADMIN = "platform_admin"


@dataclass(frozen=True)
class MemberView:
    """A person as another domain's list shows them; ``masked`` views star the name and phone."""

    id: uuid.UUID
    name: str
    phone: str


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
        return Roles(frozenset(), frozenset())
    rows = (
        await db.execute(
            select(Membership.role, Membership.partner_id).where(
                Membership.member_id == actor.member_id, Membership.community_id == community_id
            )
        )
    ).all()
    return Roles(
        frozenset(role for role, _ in rows),
        frozenset(pid for _, pid in rows if pid is not None),
        actor.is_platform_admin,
    )


async def is_member(db: AsyncSession, member_id: uuid.UUID, community_id: uuid.UUID) -> bool:
    """Whether the person holds any role in the community."""
    found = await db.scalar(
        select(Membership.id)
        .where(Membership.member_id == member_id, Membership.community_id == community_id)
        .limit(1)
    )
    return found is not None


async def member_names(
    db: AsyncSession, ids: Iterable[uuid.UUID], *, masked: bool = False
) -> dict[uuid.UUID, str]:
    """Names by member id (王*成 when ``masked``, for shared screens); unknown ids are left out."""
    wanted = set(ids)
    if not wanted:
        return {}
    rows = (await db.execute(select(Member.id, Member.name).where(Member.id.in_(wanted)))).all()
    return {mid: mask_name(name) if masked else name for mid, name in rows}


async def members_by_id(
    db: AsyncSession, ids: Iterable[uuid.UUID], *, masked: bool = False
) -> dict[uuid.UUID, MemberView]:
    """Name and phone by member id (both masked when ``masked``); unknown ids are left out."""
    wanted = set(ids)
    if not wanted:
        return {}
    rows = (await db.execute(select(Member.id, Member.name, Member.phone).where(Member.id.in_(wanted)))).all()
    return {
        mid: MemberView(mid, mask_name(name), mask_phone(phone)) if masked else MemberView(mid, name, phone)
        for mid, name, phone in rows
    }


async def partner_names(db: AsyncSession, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, str]:
    """Partner shop names by id; unknown ids are left out."""
    wanted = set(ids)
    if not wanted:
        return {}
    rows = (await db.execute(select(Partner.id, Partner.name).where(Partner.id.in_(wanted)))).all()
    return {pid: name for pid, name in rows}


async def community_timezone(db: AsyncSession, community_id: uuid.UUID) -> str:
    """The community's IANA time zone (Asia/Shanghai unless set); the default for an unknown id."""
    zone = await db.scalar(select(Community.timezone).where(Community.id == community_id))
    return zone or "Asia/Shanghai"


# ---- added for rewards (households link members by phone)


async def member_by_phone(db: AsyncSession, phone: str) -> MemberView | None:
    """The person with this (normalised) phone number, unmasked; None if nobody has it."""
    row = (
        await db.execute(select(Member.id, Member.name, Member.phone).where(Member.phone == phone))
    ).first()
    return MemberView(id=row[0], name=row[1], phone=row[2]) if row is not None else None
