"""The region tree above communities and its officials: one async function per transaction.

The tree is small (a city has a few hundred streets), so it is read whole; figures over a region are
computed by the reports domain with SQL aggregates over the region's communities.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from service.accounts import rules as account_rules
from service.accounts import service as accounts
from service.accounts.errors import InvalidName, MemberNotFound
from service.accounts.models import Community, Member
from service.accounts.service import Actor
from service.errors import Forbidden, raises
from service.regions import rules
from service.regions.errors import InvalidRegionCode, InvalidRegionLevel, RegionCodeTaken, RegionNotFound
from service.regions.models import LEVELS, Region, RegionCommunity, RegionMembership

__all__ = [
    "RegionTree",
    "add_official",
    "create_region",
    "load_tree",
    "official_region_ids",
    "remove_official",
    "require_official",
    "set_community_region",
]


@dataclass
class RegionTree:
    """Every region, its children and the communities directly under each (for a few hundred rows)."""

    regions: dict[uuid.UUID, Region] = field(default_factory=dict)
    children: dict[uuid.UUID, list[uuid.UUID]] = field(default_factory=dict)
    communities: dict[uuid.UUID, list[uuid.UUID]] = field(default_factory=dict)
    """region id -> ids of the communities directly under it."""
    region_of: dict[uuid.UUID, uuid.UUID] = field(default_factory=dict)
    """community id -> its region."""
    officials: dict[uuid.UUID, list[Member]] = field(default_factory=dict)

    def ancestors(self, region_id: uuid.UUID) -> list[uuid.UUID]:
        """The region and every region above it, nearest first."""
        out: list[uuid.UUID] = []
        node: uuid.UUID | None = region_id
        while node is not None and node in self.regions and node not in out:
            out.append(node)
            node = self.regions[node].parent_id
        return out

    def communities_under(self, region_id: uuid.UUID) -> list[uuid.UUID]:
        return [c for r in rules.descendants(region_id, self.children) for c in self.communities.get(r, [])]

    def roots(self) -> list[uuid.UUID]:
        return [r.id for r in self.regions.values() if r.parent_id is None]


async def load_tree(db: AsyncSession, with_officials: bool = False) -> RegionTree:
    tree = RegionTree()
    for region in await db.scalars(select(Region).order_by(Region.level, Region.name)):
        tree.regions[region.id] = region
    for region in tree.regions.values():
        if region.parent_id is not None:
            tree.children.setdefault(region.parent_id, []).append(region.id)
    links = await db.execute(
        select(RegionCommunity.community_id, RegionCommunity.region_id)
        .join(Community, Community.id == RegionCommunity.community_id)
        .order_by(Community.name)
    )
    for community_id, region_id in links:
        tree.communities.setdefault(region_id, []).append(community_id)
        tree.region_of[community_id] = region_id
    if with_officials:
        rows = await db.execute(
            select(RegionMembership.region_id, Member)
            .join(Member, Member.id == RegionMembership.member_id)
            .order_by(Member.name)
        )
        for region_id, member in rows:
            tree.officials.setdefault(region_id, []).append(member)
    return tree


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
    if level not in LEVELS or level != expected:
        raise InvalidRegionLevel(
            params={"parent": parent.name if parent else "-", "expected": expected or "-"},
        )
    if await db.scalar(select(Region.id).where(Region.code == code)) is not None:
        raise RegionCodeTaken()
    region = Region(name=name, code=code, level=level, parent_id=parent_id)
    db.add(region)
    await db.flush()
    return region


@raises(_require_platform_admin, accounts.get_community, _region, InvalidRegionLevel)
async def set_community_region(
    db: AsyncSession, actor: Actor, community_id: uuid.UUID, region_id: uuid.UUID | None
) -> None:
    """Put a community under a street (or take it out of the tree with ``None``)."""
    _require_platform_admin(actor)
    await accounts.get_community(db, community_id)
    await db.execute(delete(RegionCommunity).where(RegionCommunity.community_id == community_id))
    if region_id is not None:
        region = await _region(db, region_id)
        if region.level != "street":
            raise InvalidRegionLevel(detail="Communities belong to a street.")
        db.add(RegionCommunity(community_id=community_id, region_id=region_id))
    await db.flush()


@raises(_require_platform_admin, _region, MemberNotFound)
async def add_official(db: AsyncSession, actor: Actor, region_id: uuid.UUID, phone: str) -> Member:
    """Make the member with ``phone`` an official of the region (idempotent)."""
    _require_platform_admin(actor)
    await _region(db, region_id)
    normal = account_rules.normalise_phone(phone)
    member = await db.scalar(select(Member).where(Member.phone == normal)) if normal else None
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
    return member


@raises(_require_platform_admin)
async def remove_official(db: AsyncSession, actor: Actor, region_id: uuid.UUID, member_id: uuid.UUID) -> None:
    _require_platform_admin(actor)
    await db.execute(
        delete(RegionMembership).where(
            RegionMembership.region_id == region_id, RegionMembership.member_id == member_id
        )
    )


async def official_region_ids(db: AsyncSession, member_id: uuid.UUID) -> list[uuid.UUID]:
    rows = await db.scalars(select(RegionMembership.region_id).where(RegionMembership.member_id == member_id))
    return list(rows)


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
