"""Households (户): a member asks to link another member of the community by phone; an admin confirms.

A confirmed link lets either person file good-conduct claims and micro-wishes for the other; what is
earned is credited to the beneficiary and both see it. Linking is a request, never a fact someone can
create alone: the admin who confirms may not be one of the two people.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from service import clock
from service.accounts import service as accounts
from service.accounts.models import Member
from service.accounts.rules import normalise_phone
from service.accounts.service import Actor
from service.config import LIST_LIMIT_MAX
from service.errors import Conflict, Forbidden, InvalidInput, NotFound
from service.rewards.models import HouseholdLink

__all__ = [
    "HOUSEHOLD_LINKS_MAX",
    "RELATION_MAX",
    "LinkView",
    "decide_link",
    "get_link",
    "household_of",
    "is_household",
    "link_views",
    "list_links",
    "pending_links",
    "remove_link",
    "request_link",
    "require_household",
]

HOUSEHOLD_LINKS_MAX = 12
"""Links (pending or confirmed) one member may hold in a community: a household, not a network."""
RELATION_MAX = 32


@dataclass
class LinkView:
    link: HouseholdLink
    requester_name: str
    relative_name: str
    relative_phone_tail: str
    """The last 4 digits of the other person's phone (enough to tell two 王芳 apart)."""


def _other(link: HouseholdLink, member_id: uuid.UUID) -> uuid.UUID:
    return link.relative_id if link.requester_id == member_id else link.requester_id


async def household_of(db: AsyncSession, community_id: uuid.UUID, member_id: uuid.UUID) -> set[uuid.UUID]:
    """Members confirmed as the member's household in the community (the member not included)."""
    rows = await db.scalars(
        select(HouseholdLink).where(
            HouseholdLink.community_id == community_id,
            HouseholdLink.status == "confirmed",
            or_(HouseholdLink.requester_id == member_id, HouseholdLink.relative_id == member_id),
        )
    )
    return {_other(link, member_id) for link in rows}


async def is_household(db: AsyncSession, community_id: uuid.UUID, a: uuid.UUID, b: uuid.UUID) -> bool:
    return b in await household_of(db, community_id, a)


async def require_household(
    db: AsyncSession, actor: Actor, community_id: uuid.UUID, beneficiary_id: uuid.UUID
) -> None:
    """The actor may act for ``beneficiary_id``: themself, or a confirmed household member."""
    if beneficiary_id == actor.member_id:
        return
    if not await is_household(db, community_id, actor.member_id, beneficiary_id):
        raise Forbidden(
            "not_household_member",
            "You can file only for yourself or for a confirmed member of your household.",
        )


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


async def request_link(
    db: AsyncSession, actor: Actor, community_id: uuid.UUID, phone: str, relation: str = ""
) -> HouseholdLink:
    """Ask to link the member with ``phone`` (same community) to the caller's household."""
    await accounts.get_community(db, community_id)
    await accounts.require_role(db, actor, community_id, "member")
    normal = normalise_phone(phone or "")
    if normal is None:
        raise InvalidInput(
            "invalid_phone",
            "A phone number is 11 digits starting with 1.",
            errors=[{"field": "phone", "message": "11 digits"}],
        )
    relation = " ".join((relation or "").split())
    if len(relation) > RELATION_MAX:
        raise InvalidInput("invalid_relation", "The relation is at most 32 characters.")
    relative = await db.scalar(select(Member).where(Member.phone == normal))
    # The same answer for "no such phone" and "not in this community": no probing of other communities.
    if relative is None or not await _member_here(db, relative, community_id):
        raise NotFound("member_not_found", "No member of this community has that phone number.")
    if relative.id == actor.member_id:
        raise InvalidInput("household_self", "You are already in your own household.")
    if await _link_between(db, community_id, actor.member_id, relative.id) is not None:
        raise Conflict("household_link_exists", "This link was already requested or confirmed.")
    held = await db.scalars(
        select(HouseholdLink.id).where(
            HouseholdLink.community_id == community_id,
            HouseholdLink.status != "rejected",
            or_(HouseholdLink.requester_id == actor.member_id, HouseholdLink.relative_id == actor.member_id),
        )
    )
    if len(list(held)) >= HOUSEHOLD_LINKS_MAX:
        raise Conflict(
            "too_many_household_links",
            "A household has at most %(n)s linked members.",
            params={"n": HOUSEHOLD_LINKS_MAX},
        )
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


async def _member_here(db: AsyncSession, member: Member, community_id: uuid.UUID) -> bool:
    try:
        await accounts.require_role(db, Actor(member.id, member.name, member.phone), community_id, "member")
    except Forbidden:
        return False
    return True


async def _locked(db: AsyncSession, link_id: uuid.UUID) -> HouseholdLink:
    link = await db.scalar(select(HouseholdLink).where(HouseholdLink.id == link_id).with_for_update())
    if link is None:
        raise NotFound("household_link_not_found", "No such household link.")
    await db.refresh(link)
    return link


async def get_link(db: AsyncSession, link_id: uuid.UUID) -> HouseholdLink:
    link = await db.get(HouseholdLink, link_id)
    if link is None:
        raise NotFound("household_link_not_found", "No such household link.")
    return link


async def decide_link(db: AsyncSession, actor: Actor, link_id: uuid.UUID, confirm: bool) -> HouseholdLink:
    """An admin confirms or rejects a pending link; never one they are part of."""
    link = await _locked(db, link_id)
    await accounts.require_role(db, actor, link.community_id, "admin")
    if actor.member_id in {link.requester_id, link.relative_id}:
        raise Forbidden(
            "reviewer_conflict", "Someone other than the requester or the beneficiary must decide this."
        )
    if link.status != "pending":
        raise Conflict("household_link_decided", "This link was already decided.")
    link.status = "confirmed" if confirm else "rejected"
    link.decided_by, link.decided_at = actor.member_id, clock.now()
    await db.flush()
    return link


async def remove_link(db: AsyncSession, actor: Actor, link_id: uuid.UUID) -> HouseholdLink:
    """Either person (or an admin) ends a link; claims and wishes already filed stay as they are."""
    link = await _locked(db, link_id)
    if actor.member_id not in {link.requester_id, link.relative_id}:
        await accounts.require_role(db, actor, link.community_id, "admin")
    if link.status == "rejected":
        raise Conflict("household_link_decided", "This link was already decided.")
    link.status = "rejected"
    link.decided_by, link.decided_at = actor.member_id, clock.now()
    await db.flush()
    return link


async def link_views(
    db: AsyncSession, links: list[HouseholdLink], me: uuid.UUID | None = None
) -> list[LinkView]:
    """Links with both names (and the other person's phone tail, seen from ``me``)."""
    ids = {i for link in links for i in (link.requester_id, link.relative_id)}
    people = {m.id: m for m in await db.scalars(select(Member).where(Member.id.in_(ids)))} if ids else {}
    views = []
    for link in links:
        req, rel = people.get(link.requester_id), people.get(link.relative_id)
        other = people.get(_other(link, me)) if me is not None else rel
        views.append(
            LinkView(
                link,
                req.name if req else "?",
                rel.name if rel else "?",
                other.phone[-4:] if other else "",
            )
        )
    return views


async def list_links(db: AsyncSession, actor: Actor, community_id: uuid.UUID) -> list[LinkView]:
    """The caller's links in the community (requested by or naming them), newest first."""
    await accounts.get_community(db, community_id)
    await accounts.require_role(db, actor, community_id, "member")
    links = list(
        await db.scalars(
            select(HouseholdLink)
            .where(
                HouseholdLink.community_id == community_id,
                or_(
                    HouseholdLink.requester_id == actor.member_id,
                    HouseholdLink.relative_id == actor.member_id,
                ),
            )
            .order_by(HouseholdLink.created_at.desc())
            .limit(LIST_LIMIT_MAX)
        )
    )
    return await link_views(db, links, actor.member_id)


async def pending_links(db: AsyncSession, actor: Actor, community_id: uuid.UUID) -> list[LinkView]:
    """Links awaiting an admin's decision (admins), oldest first."""
    await accounts.require_role(db, actor, community_id, "admin")
    links = list(
        await db.scalars(
            select(HouseholdLink)
            .where(HouseholdLink.community_id == community_id, HouseholdLink.status == "pending")
            .order_by(HouseholdLink.created_at)
            .limit(LIST_LIMIT_MAX)
        )
    )
    return await link_views(db, links)
