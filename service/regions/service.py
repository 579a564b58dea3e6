"""The region tree's commands (the platform administrator shapes it) and the officials' guard.

The read side (the tree, who is an official where) is :mod:`service.regions.views`, re-exported here
for existing callers.
"""

from __future__ import annotations

import re
import uuid

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from service.accounts import service as accounts
from service.accounts import views as accounts_views
from service.accounts.actor import Actor
from service.accounts.errors import InvalidName, MemberNotFound
from service.accounts.models import Member, Partner
from service.audit.service import record
from service.errors import Forbidden, raises
from service.points import service as points
from service.points import views as points_views
from service.regions import rules
from service.regions.errors import (
    BudgetNotYours,
    InvalidRegionCode,
    InvalidRegionLevel,
    OfficialNotFound,
    RegionCodeTaken,
    RegionNotFound,
)
from service.regions.models import Region, RegionCommunity, RegionMembership
from service.regions.views import RegionTree, load_tree, official_region_ids

__all__ = [
    "RegionTree",
    "add_official",
    "budget_setters",
    "community_budget",
    "create_region",
    "load_tree",
    "may_set_budget",
    "official_region_ids",
    "remove_official",
    "require_official",
    "set_community_budget",
    "set_community_region",
]


@raises(Forbidden)
def _require_platform_admin(actor: Actor) -> None:
    if not actor.is_platform_admin:
        raise Forbidden(detail="Only the platform administrator manages regions.")


@raises(RegionNotFound)
async def _region(db: AsyncSession, region_id: uuid.UUID) -> Region:
    region = await db.get(Region, region_id)
    if region is None:
        raise RegionNotFound()
    return region


@raises(_require_platform_admin, InvalidName, InvalidRegionCode, _region, InvalidRegionLevel, RegionCodeTaken)
async def create_region(
    db: AsyncSession, actor: Actor, name: str, code: str, level: str, parent_id: uuid.UUID | None = None
) -> Region:
    """Add a city (no parent), a district under a city or a street under a district."""
    _require_platform_admin(actor)
    name = name.strip()
    if not name or len(name) > 64:
        raise InvalidName(detail="A name has 1-64 characters.")
    if not re.match(rules.REGION_CODE_RE, code):
        raise InvalidRegionCode()
    parent = await _region(db, parent_id) if parent_id is not None else None
    expected = rules.child_level(parent.level if parent else None)
    if not rules.is_level(level) or level != expected:
        raise InvalidRegionLevel(
            params={"parent": parent.name if parent else "-", "expected": expected or "-"},
        )
    if await db.scalar(select(Region.id).where(Region.code == code)) is not None:
        raise RegionCodeTaken()
    region = Region(name=name, code=code, level=level, parent_id=parent_id)
    db.add(region)
    await db.flush()
    detail = {"region_id": str(region.id), "name": name, "code": code, "level": level}
    await record(
        db, actor_id=actor.member_id, action="region_created", detail=detail | {"parent_id": parent_id}
    )
    return region


@raises(_require_platform_admin, accounts.get_community, _region, InvalidRegionLevel)
async def set_community_region(
    db: AsyncSession, actor: Actor, community_id: uuid.UUID, region_id: uuid.UUID | None
) -> None:
    """Put a community under a street (or take it out of the tree with ``None``)."""
    _require_platform_admin(actor)
    await accounts.get_community(db, community_id)
    before = await db.scalar(
        select(RegionCommunity.region_id).where(RegionCommunity.community_id == community_id)
    )
    await db.execute(delete(RegionCommunity).where(RegionCommunity.community_id == community_id))
    if region_id is not None:
        region = await _region(db, region_id)
        if region.level != "street":
            raise InvalidRegionLevel(detail="Communities belong to a street.")
        db.add(RegionCommunity(community_id=community_id, region_id=region_id))
        # The units of the street and of every region above it now serve the community: their staff
        # get the partner role there, which redeeming its residents' vouchers checks.
        above = (await load_tree(db)).ancestors(region_id)
        units = list(await db.scalars(select(Partner.id).where(Partner.region_id.in_(above))))
        await accounts.extend_unit_staff(db, community_id, units)
    await db.flush()
    await record(
        db,
        actor_id=actor.member_id,
        action="community_region_set",
        community_id=community_id,
        detail={"before": {"region_id": before}, "after": {"region_id": region_id}},
    )


@raises(_require_platform_admin, _region, accounts.phone_number, MemberNotFound)
async def add_official(db: AsyncSession, actor: Actor, region_id: uuid.UUID, phone: str) -> Member:
    """Make the member with ``phone`` an official of the region (idempotent)."""
    _require_platform_admin(actor)
    await _region(db, region_id)
    normal = accounts.phone_number(phone)
    member = await db.scalar(select(Member).where(Member.phone == normal))
    if member is None:
        raise MemberNotFound(detail="No member has this phone number.")
    held = await db.scalar(
        select(RegionMembership.id).where(
            RegionMembership.region_id == region_id, RegionMembership.member_id == member.id
        )
    )
    if held is None:
        db.add(RegionMembership(region_id=region_id, member_id=member.id, role="official"))
        await db.flush()
    await _audit_official(db, actor, "official_added", region_id, member.id)
    return member


async def _audit_official(
    db: AsyncSession, actor: Actor, action: str, region_id: uuid.UUID, member_id: uuid.UUID | None
) -> None:
    detail = {"region_id": region_id, "member_id": member_id}
    await record(db, actor_id=actor.member_id, action=action, subject_member_id=member_id, detail=detail)


@raises(_require_platform_admin, RegionNotFound, OfficialNotFound)
async def remove_official(db: AsyncSession, actor: Actor, region_id: uuid.UUID, member_id: uuid.UUID) -> None:
    """Remove an official; an unknown region or a person who is no official of it is a 404."""
    _require_platform_admin(actor)
    if await db.scalar(select(Region.id).where(Region.id == region_id)) is None:
        raise RegionNotFound()
    done = await db.execute(
        delete(RegionMembership).where(
            RegionMembership.region_id == region_id, RegionMembership.member_id == member_id
        )
    )
    if not getattr(done, "rowcount", 0):
        raise OfficialNotFound()
    await _audit_official(db, actor, "official_removed", region_id, member_id)


@raises(RegionNotFound, Forbidden)
async def require_official(db: AsyncSession, actor: Actor, tree: RegionTree, region_id: uuid.UUID) -> Region:
    """The region, if the actor is its official or an official of a region above it (or platform admin)."""
    if region_id not in tree.regions:
        raise RegionNotFound()
    if actor.is_platform_admin:
        return tree.regions[region_id]
    held = set(await official_region_ids(db, actor.member_id))
    if not held.intersection(tree.ancestors(region_id)):
        raise Forbidden(detail="You are not an official of this region.")
    return tree.regions[region_id]


async def budget_setters(db: AsyncSession, actor: Actor, community_ids: list[uuid.UUID]) -> set[uuid.UUID]:
    """Of these communities, those whose budget the actor sets (see :func:`may_set_budget`)."""
    if actor.is_platform_admin:
        return set(community_ids)
    held = set(await official_region_ids(db, actor.member_id))
    if not held:
        return set()
    tree = await load_tree(db)
    return {
        cid
        for cid in community_ids
        if (region := tree.region_of.get(cid)) is not None and held.intersection(tree.ancestors(region))
    }


async def may_set_budget(db: AsyncSession, actor: Actor, community_id: uuid.UUID) -> bool:
    """Whether the actor sets this community's issuance budget: the platform administrator, or an
    official of the community's street or a region above it. Never a community's own admin (the insider
    the budget is against), unless they are also such an official."""
    if actor.is_platform_admin:
        return True
    tree = await load_tree(db)
    region_id = tree.region_of.get(community_id)
    if region_id is None:
        return False
    held = set(await official_region_ids(db, actor.member_id))
    return bool(held.intersection(tree.ancestors(region_id)))


@raises(accounts.get_community, BudgetNotYours)
async def community_budget(
    db: AsyncSession, actor: Actor, community_id: uuid.UUID
) -> points_views.BudgetView:
    """The budget, issued this month and what waits; for whoever may set it (and the community's admins)."""
    await accounts.get_community(db, community_id)
    if not await may_set_budget(db, actor, community_id) and not await accounts_views.member_holds(
        db, actor.member_id, community_id, "admin"
    ):
        raise BudgetNotYours()
    return await points_views.budget_of(db, community_id)


@raises(accounts.get_community, BudgetNotYours, points.set_budget)
async def set_community_budget(
    db: AsyncSession,
    actor: Actor,
    community_id: uuid.UUID,
    monthly_points: int,
    *,
    client_addr: str | None = None,
) -> points_views.BudgetView:
    """Set a community's monthly issuance budget (积分发放总量); a raise posts what waits at once. Audited
    with the budget before and after."""
    await accounts.get_community(db, community_id)
    if not await may_set_budget(db, actor, community_id):
        raise BudgetNotYours()
    before, after = await points.set_budget(db, community_id, monthly_points, set_by=actor.member_id)
    await record(
        db,
        actor_id=actor.member_id,
        action="budget_set",
        community_id=community_id,
        detail={"before": before, "after": after},
        client_addr=client_addr,
    )
    return await points_views.budget_of(db, community_id)
