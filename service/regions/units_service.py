"""Units of a region's alliance (联盟单位): officials add them, invite their staff and pause them.

A unit belongs to a region (a street or above) and serves every community under it; a community's own
shop is managed by that community's admins through the same routes. Staff hold the ``partner`` role in
every community the unit serves (``accounts.service.grant_unit_staff``), which is what redeeming a
voucher of that community checks; they get a one-time code to set their password.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from service.accounts import activations
from service.accounts import service as accounts
from service.accounts import views as people
from service.accounts.actor import Actor
from service.accounts.models import Member, Membership, Partner
from service.audit.service import record
from service.errors import Forbidden, raises
from service.regions.errors import RegionHasNoCommunity
from service.regions.models import Region
from service.regions.service import require_official
from service.regions.views import RegionTree, load_tree, visible_regions

__all__ = ["Invited", "UnitDesk", "create_unit", "invite_staff", "list_units", "set_unit_active", "unit_desk"]


@raises(require_official, accounts.create_unit)
async def create_unit(
    db: AsyncSession,
    actor: Actor,
    region_id: uuid.UUID,
    *,
    name: str,
    address: str | None,
    kind: str,
    hours: str | None = None,
    monthly_quota: int | None = None,
) -> Partner:
    """Add a unit to the region's alliance (the platform admin, or an official of it or above)."""
    await require_official(db, actor, await load_tree(db), region_id)
    unit = await accounts.create_unit(
        db, region_id, name=name, address=address, kind=kind, hours=hours, monthly_quota=monthly_quota
    )
    detail = {"partner_id": str(unit.id), "region_id": str(region_id), "name": unit.name, "kind": kind}
    await record(db, actor_id=actor.member_id, action="unit_created", detail=detail)
    return unit


@raises(require_official)
async def list_units(db: AsyncSession, actor: Actor, region_id: uuid.UUID) -> list[people.PartnerView]:
    """The region's own units by name, for its officials (and those above) and the platform admin."""
    await require_official(db, actor, await load_tree(db), region_id)
    rows = await db.scalars(select(Partner).where(Partner.region_id == region_id).order_by(Partner.name))
    return [people.partner_view(p) for p in rows]


@raises(require_official, accounts.require_role)
async def _manage(db: AsyncSession, actor: Actor, unit: Partner, tree: RegionTree) -> list[uuid.UUID]:
    """Check the actor manages the unit; the communities it serves. A community's shop: that
    community's admins; a region's unit: its officials (and those above) and the platform admin."""
    if unit.community_id is not None:
        await accounts.require_role(db, actor, unit.community_id, "admin")
        return [unit.community_id]
    if unit.region_id is None:  # impossible: a CHECK keeps exactly one owner
        raise RuntimeError("a partner with neither community nor region")
    await require_official(db, actor, tree, unit.region_id)
    return tree.communities_under(unit.region_id)


@dataclass(frozen=True)
class Invited:
    member: Member
    activation_code: str | None
    """The one-time code to set a password; None when the person can log in already, or belongs to
    communities the inviter does not manage (their own office issues codes there)."""


@raises(accounts.get_partner, _manage, RegionHasNoCommunity, accounts.grant_unit_staff)
async def invite_staff(
    db: AsyncSession, actor: Actor, partner_id: uuid.UUID, phone: str, name: str, secret_key: str
) -> Invited:
    """Make a person staff of the unit (or community shop) and give them a one-time code."""
    unit = await accounts.get_partner(db, partner_id)
    served = await _manage(db, actor, unit, await load_tree(db))
    if not served:
        raise RegionHasNoCommunity()
    member = await accounts.grant_unit_staff(db, unit, served, phone, name)
    code = None
    if member.password_hash is None and (actor.is_platform_admin or not await _elsewhere(db, member, served)):
        # An official is no admin of the communities, whom a code's issuer must stay to keep it valid
        # (``onboarding._still_issuable``): a region's unit's code is issued as the office's own (no
        # issuer; the audit event below names who invited). A change of roles still voids it.
        issuer = actor.member_id if unit.community_id is not None else None
        _row, code = await activations.issue(db, served[0], member.id, secret_key, issuer)
        # The official saw the code, so the account is theirs to hold all the same (``Member.held_by``):
        # the activation keeps this hold when its code names no issuer.
        await accounts.set_holder(db, member, actor.member_id)
    await record(
        db,
        actor_id=actor.member_id,
        action="partner_staff_invited",
        community_id=unit.community_id,
        subject_member_id=member.id,
        detail={"partner_id": str(unit.id), "communities": [str(c) for c in served]},
    )
    return Invited(member, code)


async def _elsewhere(db: AsyncSession, member: Member, served: list[uuid.UUID]) -> bool:
    """The person holds a role in a community the unit does not serve (or is a platform admin)."""
    other = await db.scalar(
        select(Membership.id)
        .where(Membership.member_id == member.id, Membership.community_id.not_in(served))
        .limit(1)
    )
    return member.is_platform_admin or other is not None


@raises(accounts.get_partner, _manage, Forbidden)
async def set_unit_active(db: AsyncSession, actor: Actor, partner_id: uuid.UUID, active: bool) -> Partner:
    """Pause a unit (its offers leave every offers page; issued vouchers still redeem) or resume it."""
    unit = await accounts.get_partner(db, partner_id)
    await _manage(db, actor, unit, await load_tree(db))
    before = unit.active
    await accounts.set_partner_active(db, unit, active)
    await record(
        db,
        actor_id=actor.member_id,
        action="partner_paused" if not active else "partner_resumed",
        community_id=unit.community_id,
        detail={"partner_id": str(unit.id), "before": {"active": before}, "after": {"active": active}},
    )
    return unit


@dataclass(frozen=True)
class UnitDesk:
    """The alliance page: a region's units with their staff counts, and the regions one may switch to."""

    region: Region
    units: list[people.PartnerView]
    staff: dict[uuid.UUID, int]
    regions: list[Region]
    communities: int
    """Communities the region's units serve."""


@raises(Forbidden, require_official)
async def unit_desk(db: AsyncSession, actor: Actor, region: str | None) -> UnitDesk:
    """The region ``region`` (an id; default: the first the caller is an official of), if the caller
    manages its units."""
    tree = await load_tree(db)
    visible = await visible_regions(db, actor, tree)
    try:
        wanted = uuid.UUID(region) if region else (visible[0] if visible else None)
    except ValueError:
        wanted = None
    if wanted is None:
        raise Forbidden(detail="The alliance's units are managed by region officials.")
    chosen = await require_official(db, actor, tree, wanted)
    units = await list_units(db, actor, chosen.id)
    counted = await db.execute(
        select(Membership.partner_id, Membership.member_id)
        .where(Membership.partner_id.in_([u.id for u in units]))
        .distinct()
    )
    staff: dict[uuid.UUID, int] = {}
    for pid, _mid in counted:
        if pid is not None:
            staff[pid] = staff.get(pid, 0) + 1
    return UnitDesk(
        chosen, units, staff, [tree.regions[r] for r in visible], len(tree.communities_under(chosen.id))
    )
