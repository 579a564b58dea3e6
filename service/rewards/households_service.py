"""Households (户): a member asks to link another member of the community by phone; an admin confirms.

A confirmed link lets either person file good-conduct claims and micro-wishes for the other; what is
earned is credited to the beneficiary and both see it. Linking is a request, never a fact someone can
create alone: the admin who confirms may not be one of the two people.
"""

from __future__ import annotations

import uuid

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from service import clock
from service.accounts import households as history
from service.accounts import service as accounts
from service.accounts import views as people
from service.accounts.actor import Actor
from service.accounts.rules import normalise_phone
from service.audit.service import record
from service.errors import raises
from service.rewards.errors import (
    HouseholdLinkDecided,
    HouseholdLinkExists,
    HouseholdLinkNotFound,
    HouseholdSelf,
    InvalidPhone,
    InvalidRelation,
    MemberNotFound,
    NotHouseholdMember,
    ReviewerConflict,
    TooManyHouseholdLinks,
)
from service.rewards.models import HouseholdLink

__all__ = [
    "HOUSEHOLD_LINKS_MAX",
    "RELATION_MAX",
    "decide_link",
    "get_link",
    "household_of",
    "is_household",
    "other",
    "remove_link",
    "request_link",
    "require_household",
]

HOUSEHOLD_LINKS_MAX = 12
"""Links (pending or confirmed) one member may hold in a community: a household, not a network."""
RELATION_MAX = 32


def other(link: HouseholdLink, member_id: uuid.UUID) -> uuid.UUID:
    return link.relative_id if link.requester_id == member_id else link.requester_id


async def household_of(db: AsyncSession, community_id: uuid.UUID, member_id: uuid.UUID) -> set[uuid.UUID]:
    """Members confirmed as the member's household in the community now (the member not included): who
    may file for whom. Conflicts of interest ask ``accounts.households.conflicted`` (links at any time)."""
    rows = await db.scalars(
        select(HouseholdLink).where(
            HouseholdLink.community_id == community_id,
            HouseholdLink.status == "confirmed",
            or_(HouseholdLink.requester_id == member_id, HouseholdLink.relative_id == member_id),
        )
    )
    return {other(link, member_id) for link in rows}


async def is_household(db: AsyncSession, community_id: uuid.UUID, a: uuid.UUID, b: uuid.UUID) -> bool:
    return b in await household_of(db, community_id, a)


@raises(NotHouseholdMember)
async def require_household(
    db: AsyncSession, actor: Actor, community_id: uuid.UUID, beneficiary_id: uuid.UUID
) -> None:
    """The actor may act for ``beneficiary_id``: themself, or a confirmed household member."""
    if beneficiary_id == actor.member_id:
        return
    if not await is_household(db, community_id, actor.member_id, beneficiary_id):
        raise NotHouseholdMember()


async def _link_between(
    db: AsyncSession, community_id: uuid.UUID, a: uuid.UUID, b: uuid.UUID
) -> HouseholdLink | None:
    return await db.scalar(
        select(HouseholdLink).where(
            HouseholdLink.community_id == community_id,
            HouseholdLink.status != "rejected",
            or_(
                (HouseholdLink.requester_id == a) & (HouseholdLink.relative_id == b),
                (HouseholdLink.requester_id == b) & (HouseholdLink.relative_id == a),
            ),
        )
    )


@raises(
    InvalidPhone,
    InvalidRelation,
    MemberNotFound,
    HouseholdSelf,
    HouseholdLinkExists,
    TooManyHouseholdLinks,
    accounts.get_community,
    accounts.require_role,
)
async def request_link(
    db: AsyncSession, actor: Actor, community_id: uuid.UUID, phone: str, relation: str = ""
) -> HouseholdLink:
    """Ask to link the member with ``phone`` (same community) to the caller's household."""
    await accounts.get_community(db, community_id)
    await accounts.require_role(db, actor, community_id, "member")
    normal = normalise_phone(phone or "")
    if normal is None:
        raise InvalidPhone(errors=[{"field": "phone", "message": "11 digits"}])
    relation = " ".join((relation or "").split())
    if len(relation) > RELATION_MAX:
        raise InvalidRelation()
    relative = await people.member_by_phone(db, normal)
    # The same answer for "no such phone" and "not in this community": no probing of other communities.
    if relative is None or not await people.is_member(db, relative.id, community_id):
        raise MemberNotFound(detail="No member of this community has that phone number.")
    if relative.id == actor.member_id:
        raise HouseholdSelf()
    if await _link_between(db, community_id, actor.member_id, relative.id) is not None:
        raise HouseholdLinkExists()
    held = await db.scalar(
        select(func.count())
        .select_from(HouseholdLink)
        .where(
            HouseholdLink.community_id == community_id,
            HouseholdLink.status != "rejected",
            or_(HouseholdLink.requester_id == actor.member_id, HouseholdLink.relative_id == actor.member_id),
        )
    )
    if int(held or 0) >= HOUSEHOLD_LINKS_MAX:
        raise TooManyHouseholdLinks(params={"n": HOUSEHOLD_LINKS_MAX})
    old = await db.scalar(
        select(HouseholdLink).where(
            HouseholdLink.community_id == community_id,
            HouseholdLink.requester_id == actor.member_id,
            HouseholdLink.relative_id == relative.id,
        )
    )
    if old is not None:  # a rejected request asked again
        old.status, old.decided_by, old.decided_at, old.relation = "pending", None, None, relation
        old.created_at = clock.now()
        await db.flush()
        return old
    link = HouseholdLink(
        community_id=community_id,
        requester_id=actor.member_id,
        relative_id=relative.id,
        relation=relation,
        status="pending",
        created_at=clock.now(),
    )
    db.add(link)
    await db.flush()
    return link


async def _locked(db: AsyncSession, link_id: uuid.UUID) -> HouseholdLink:
    link = await db.scalar(select(HouseholdLink).where(HouseholdLink.id == link_id).with_for_update())
    if link is None:
        raise HouseholdLinkNotFound()
    await db.refresh(link)
    return link


@raises(HouseholdLinkNotFound)
async def get_link(db: AsyncSession, link_id: uuid.UUID) -> HouseholdLink:
    link = await db.get(HouseholdLink, link_id)
    if link is None:
        raise HouseholdLinkNotFound()
    return link


@raises(HouseholdLinkNotFound, ReviewerConflict, HouseholdLinkDecided, accounts.require_role)
async def decide_link(db: AsyncSession, actor: Actor, link_id: uuid.UUID, confirm: bool) -> HouseholdLink:
    """An admin confirms or rejects a pending link; never one they are part of."""
    link = await _locked(db, link_id)
    await accounts.require_role(db, actor, link.community_id, "admin")
    if actor.member_id in {link.requester_id, link.relative_id}:
        raise ReviewerConflict()
    if link.status != "pending":
        raise HouseholdLinkDecided()
    link.status = "confirmed" if confirm else "rejected"
    link.decided_by, link.decided_at = actor.member_id, clock.now()
    await db.flush()
    if confirm:
        await history.start_link(db, link.community_id, link.requester_id, link.relative_id)
    await _audit(db, actor, link, "household_link_confirmed" if confirm else "household_link_rejected")
    return link


async def _audit(db: AsyncSession, actor: Actor, link: HouseholdLink, action: str) -> None:
    await record(
        db,
        actor_id=actor.member_id,
        action=action,
        community_id=link.community_id,
        subject_member_id=link.requester_id,
        detail={"link_id": str(link.id), "relative_id": str(link.relative_id), "relation": link.relation},
    )


@raises(HouseholdLinkNotFound, HouseholdLinkDecided, accounts.require_role)
async def remove_link(db: AsyncSession, actor: Actor, link_id: uuid.UUID) -> HouseholdLink:
    """Either person (or an admin) ends a link; claims and wishes already filed stay as they are."""
    link = await _locked(db, link_id)
    if actor.member_id not in {link.requester_id, link.relative_id}:
        await accounts.require_role(db, actor, link.community_id, "admin")
    if link.status == "rejected":
        raise HouseholdLinkDecided()
    link.status = "rejected"
    link.decided_by, link.decided_at = actor.member_id, clock.now()
    await db.flush()
    # Recorded whoever removes it: a link ended lifts conflicts of interest, staff's own included.
    # The span they were a household is kept: conflicts of interest still see it (accounts.households).
    await history.end_link(db, link.community_id, link.requester_id, link.relative_id)
    await _audit(db, actor, link, "household_link_removed")
    return link
