"""The region tree's read side: the whole tree, who is an official where, what each caller may see.

The tree is small (a city has a few hundred streets), so it is read whole in three queries; figures over
a region are computed by the reports domain with SQL aggregates over the region's communities.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from service.accounts import views as accounts_views
from service.accounts.actor import Actor
from service.accounts.models import Community, Member, Partner
from service.regions import rules
from service.regions.models import Region, RegionCommunity, RegionMembership

__all__ = [
    "RegionTree",
    "RegionsAdmin",
    "load_tree",
    "official_region_ids",
    "regions_admin",
    "report_scopes",
    "unit_view",
    "visible_regions",
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


async def official_region_ids(db: AsyncSession, member_id: uuid.UUID) -> list[uuid.UUID]:
    rows = await db.scalars(select(RegionMembership.region_id).where(RegionMembership.member_id == member_id))
    return list(rows)


async def visible_regions(db: AsyncSession, actor: Actor, tree: RegionTree) -> list[uuid.UUID]:
    """The regions the caller may see: every one (platform admin), else those at and below the ones
    they are an official of, in tree order."""
    if actor.is_platform_admin:
        return list(tree.regions)
    visible: list[uuid.UUID] = []
    for held in await official_region_ids(db, actor.member_id):
        visible += [r for r in rules.descendants(held, tree.children) if r not in visible]
    return visible


async def report_scopes(db: AsyncSession, actor: Actor) -> list[tuple[str, str]]:
    """(scope, label) of every region and community the caller may report on, for the switcher:
    regions indented by depth, then the communities they administer."""
    tree = await load_tree(db)
    out: list[tuple[str, str]] = []
    roots = tree.roots() if actor.is_platform_admin else await official_region_ids(db, actor.member_id)
    for root in roots:
        for rid in rules.descendants(root, tree.children):
            depth = len(tree.ancestors(rid)) - len(tree.ancestors(root))
            item = (f"region:{rid}", "· " * depth + tree.regions[rid].name)
            if item not in out:
                out.append(item)
    for c in await accounts_views.communities_where(db, actor, accounts_views.ADMIN_ROLE):
        out.append((f"community:{c.id}", c.name))
    return out


@dataclass(frozen=True)
class RegionsAdmin:
    """The platform administrator's region page: the tree as indented rows, and every community."""

    tree: RegionTree
    rows: list[tuple[int, Region]]
    """(depth, region) in tree order."""
    communities: list[Community]
    streets: list[Region]
    parents: list[Region]
    """Regions that can hold others (cities and districts)."""


async def regions_admin(db: AsyncSession) -> RegionsAdmin:
    """The whole tree with its officials and every community (the caller checks it is the platform admin)."""
    tree = await load_tree(db, with_officials=True)
    rows: list[tuple[int, Region]] = []
    for root in tree.roots():
        base = len(tree.ancestors(root))
        rows += [
            (len(tree.ancestors(r)) - base, tree.regions[r]) for r in rules.descendants(root, tree.children)
        ]
    return RegionsAdmin(
        tree=tree,
        rows=rows,
        communities=await accounts_views.all_communities(db),
        streets=[r for r in tree.regions.values() if r.level == "street"],
        parents=[r for r in tree.regions.values() if r.level != "street"],
    )


def unit_view(unit: Partner) -> accounts_views.PartnerView:
    """A unit as the API shows it."""
    return accounts_views.partner_view(unit)
