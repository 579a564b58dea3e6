"""HTTP routes of the regions domain (the platform administrator manages the tree)."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, Request, delete, get, patch, post, put
from sqlalchemy.ext.asyncio import AsyncSession

from service.accounts.actor import Actor
from service.accounts.views import PartnerView
from service.config import Settings
from service.http import client_address, errors_of
from service.kit.masking import mask_phone
from service.points.views import BudgetView
from service.regions import service, units_service, views
from service.regions.models import Region
from service.regions.schemas import (
    BudgetIn,
    BudgetOut,
    CommunityRegionIn,
    OfficialIn,
    OfficialOut,
    RegionIn,
    RegionOut,
    RegionTreeOut,
    StaffIn,
    StaffOut,
    UnitIn,
    UnitOut,
    UnitPatch,
)

__all__ = ["ROUTES", "BudgetController", "RegionController", "UnitController", "budget_out", "unit_out"]


def region_out(tree: views.RegionTree, region: Region) -> RegionOut:
    return RegionOut(
        id=region.id,
        parent_id=region.parent_id,
        level=region.level,
        name=region.name,
        code=region.code,
        community_ids=tree.communities.get(region.id, []),
        officials=[
            OfficialOut(member_id=m.id, name=m.name, phone=mask_phone(m.phone))
            for m in tree.officials.get(region.id, [])
        ],
    )


class RegionController(Controller):
    path = "/api/v1/regions"
    tags = ["regions"]

    @get(
        "",
        summary="The region tree (city > district > street) with communities and officials",
        description="The platform administrator sees every region; an official sees the regions at and "
        "below the ones they hold; others see none.",
    )
    async def tree(self, db: AsyncSession, actor: Actor) -> RegionTreeOut:
        tree = await views.load_tree(db, with_officials=True)
        visible = await views.visible_regions(db, actor, tree)
        return RegionTreeOut(regions=[region_out(tree, tree.regions[r]) for r in visible])

    @post(
        "",
        status_code=201,
        summary="Add a region",
        description="Platform administrator only.",
        responses=errors_of(service.create_region),
    )
    async def create(self, db: AsyncSession, actor: Actor, data: RegionIn) -> RegionOut:
        region = await service.create_region(db, actor, data.name, data.code, data.level, data.parent_id)
        return region_out(views.RegionTree(), region)

    @put(
        "/communities/{community_id:uuid}",
        status_code=200,
        summary="Put a community under a street (or take it out with region_id null)",
        description="Platform administrator only.",
        responses=errors_of(service.set_community_region),
    )
    async def set_community(
        self, db: AsyncSession, actor: Actor, community_id: uuid.UUID, data: CommunityRegionIn
    ) -> dict[str, Any]:
        await service.set_community_region(db, actor, community_id, data.region_id)
        return {
            "community_id": str(community_id),
            "region_id": str(data.region_id) if data.region_id else None,
        }

    @post(
        "/{region_id:uuid}/officials",
        status_code=200,
        summary="Make a member (by phone) an official of the region",
        description="Platform administrator only.",
        responses=errors_of(service.add_official),
    )
    async def add_official(
        self, db: AsyncSession, actor: Actor, region_id: uuid.UUID, data: OfficialIn
    ) -> OfficialOut:
        member = await service.add_official(db, actor, region_id, data.phone)
        return OfficialOut(member_id=member.id, name=member.name, phone=mask_phone(member.phone))

    @delete(
        "/{region_id:uuid}/officials/{member_id:uuid}",
        status_code=204,
        summary="Remove an official from the region",
        description="Platform administrator only.",
        responses=errors_of(service.remove_official),
    )
    async def remove_official(
        self, db: AsyncSession, actor: Actor, region_id: uuid.UUID, member_id: uuid.UUID
    ) -> None:
        await service.remove_official(db, actor, region_id, member_id)


def budget_out(view: BudgetView) -> BudgetOut:
    return BudgetOut(
        community_id=view.community_id,
        monthly_points=view.monthly_points,
        month=view.month.strftime("%Y-%m"),
        issued=view.issued,
        remaining=view.remaining,
        pending_points=view.pending_points,
        pending_count=view.pending_count,
    )


class BudgetController(Controller):
    path = "/api/v1/communities/{community_id:uuid}/budget"
    tags = ["regions"]

    @get(
        "",
        summary="A community's monthly issuance budget (积分发放总量), issued this month and what waits",
        description="Officials of a region above the community, the platform administrator, and the "
        "community's admins (read only).",
        responses=errors_of(service.community_budget),
    )
    async def show(self, db: AsyncSession, actor: Actor, community_id: uuid.UUID) -> BudgetOut:
        return budget_out(await service.community_budget(db, actor, community_id))

    @put(
        "",
        status_code=200,
        summary="Set a community's monthly issuance budget",
        description="An official of a region above the community, or the platform administrator (never the "
        "community's own admins). Points beyond the budget wait as pending; a raise posts them at once.",
        responses=errors_of(service.set_community_budget),
    )
    async def set_budget(
        self,
        db: AsyncSession,
        actor: Actor,
        community_id: uuid.UUID,
        data: BudgetIn,
        request: Request[Any, Any, Any],
    ) -> BudgetOut:
        view = await service.set_community_budget(
            db, actor, community_id, data.monthly_points, client_addr=client_address(request)
        )
        return budget_out(view)


def unit_out(p: PartnerView) -> UnitOut:
    return UnitOut(
        id=p.id,
        region_id=p.region_id,
        community_id=p.community_id,
        name=p.name,
        kind=p.kind,
        address=p.address,
        hours=p.hours,
        monthly_quota=p.monthly_quota,
        active=p.active,
    )


class UnitController(Controller):
    path = "/api/v1"
    tags = ["partner alliance"]

    @post(
        "/regions/{region_id:uuid}/partners",
        status_code=201,
        summary="Add a unit to a region's alliance: every community under the region sees its offers",
        description="The platform administrator, or an official of the region or of a region above it.",
        responses=errors_of(units_service.create_unit),
    )
    async def create(self, db: AsyncSession, actor: Actor, region_id: uuid.UUID, data: UnitIn) -> UnitOut:
        unit = await units_service.create_unit(
            db, actor, region_id, name=data.name, address=data.address, kind=data.kind, hours=data.hours,
            monthly_quota=data.monthly_quota,
        )  # fmt: skip
        return unit_out(views.unit_view(unit))

    @get(
        "/regions/{region_id:uuid}/partners",
        summary="The units of a region's alliance",
        description="The platform administrator, or an official of the region or of a region above it.",
        responses=errors_of(units_service.list_units),
    )
    async def units(self, db: AsyncSession, actor: Actor, region_id: uuid.UUID) -> list[UnitOut]:
        return [unit_out(u) for u in await units_service.list_units(db, actor, region_id)]

    @post(
        "/partners/{pid:uuid}/staff",
        status_code=200,
        summary="Invite a person (by phone) as staff of a unit; answers their one-time code",
        description="A region's unit: its officials (and those above) or the platform administrator; a "
        "community's shop: that community's admins. The person gets the partner role in every community "
        "the unit serves; `activation_code` (null when they can log in already) sets their password.",
        responses=errors_of(units_service.invite_staff),
    )
    async def invite(
        self, db: AsyncSession, actor: Actor, settings: Settings, pid: uuid.UUID, data: StaffIn
    ) -> StaffOut:
        invited = await units_service.invite_staff(db, actor, pid, data.phone, data.name, settings.secret_key)
        return StaffOut(member_id=invited.member.id, activation_code=invited.activation_code)

    @patch(
        "/partners/{pid:uuid}",
        summary="Pause or resume a unit (active false/true)",
        description="Whoever invites the unit's staff (see POST .../staff).",
        responses=errors_of(units_service.set_unit_active),
    )
    async def update(self, db: AsyncSession, actor: Actor, pid: uuid.UUID, data: UnitPatch) -> UnitOut:
        return unit_out(views.unit_view(await units_service.set_unit_active(db, actor, pid, data.active)))


ROUTES: list[Any] = [RegionController, BudgetController, UnitController]
