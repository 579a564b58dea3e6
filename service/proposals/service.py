"""Deciding policy proposals: a different person approves (the stored ``after`` is re-validated and
applied in the approver's transaction, only while the knob still holds ``before``), rejects, or the
proposer withdraws. Every decision is audited with before and after.

Who may decide a proposal of community C: an admin of C, an official of a region C lies in (or any region
above it), or a platform admin; never the person who proposed it.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from service.accounts import households as household_history
from service.accounts import onboarding
from service.accounts import proposals as table
from service.accounts import views as people
from service.accounts.actor import Actor
from service.accounts.proposals import PolicyProposal
from service.activities import service as activities
from service.errors import raises
from service.points import service as points
from service.proposals.errors import (
    NotApprover,
    NotProposer,
    OwnProposal,
    ProposalNotFound,
    ProposalNotPending,
    ProposalStale,
    ProposerConflict,
)
from service.regions import views as regions
from service.rewards import service as rewards
from service.store import service as store

__all__ = ["APPLIERS", "KNOBS", "Applier", "approve", "may_decide", "reject", "withdraw"]

Applier = Callable[
    [AsyncSession, uuid.UUID, uuid.UUID | None, dict[str, Any], dict[str, Any], uuid.UUID], Awaitable[bool]
]
APPLIERS: dict[str, Applier] = {
    activities.KNOB_POINTS_CAP: activities.apply_points_cap,
    points.KNOB_POLICY: points.apply_policy,
    rewards.KNOB_SETTINGS: rewards.apply_settings,
    rewards.KNOB_RULE: rewards.apply_rule,
    store.KNOB_SETTINGS: store.apply_settings,
    store.KNOB_PRICE: store.apply_price,
    onboarding.KNOB_SELF_REGISTRATION: onboarding.apply_self_registration,
}
"""Each knob's applier: re-validates ``after`` and applies it if the knob still holds ``before``."""
KNOBS = tuple(APPLIERS)


async def may_decide(db: AsyncSession, actor: Actor, community_id: uuid.UUID) -> bool:
    """An admin of the community, an official of a region at or above it, or a platform admin."""
    if (await people.roles_in(db, actor, community_id)).any(people.ADMIN_ROLE):
        return True
    held = set(await regions.official_region_ids(db, actor.member_id))
    if not held:
        return False
    tree = await regions.load_tree(db)
    region = tree.region_of.get(community_id)
    return region is not None and bool(held.intersection(tree.ancestors(region)))


@raises(
    ProposalNotFound,
    OwnProposal,
    NotApprover,
    ProposerConflict,
    household_history.conflicted,
    ProposalNotPending,
)
async def _decidable(db: AsyncSession, actor: Actor, proposal_id: uuid.UUID) -> PolicyProposal:
    row = await table.get_proposal(db, proposal_id, lock=True)
    if row is None or not await _may_see(db, actor, row):
        raise ProposalNotFound()
    if row.proposed_by == actor.member_id:
        raise OwnProposal()
    if not await may_decide(db, actor, row.community_id):
        raise NotApprover()
    if await household_history.conflicted(
        db, row.community_id, actor.member_id, {row.proposed_by}, row.created_at
    ):
        raise ProposerConflict()  # the proposer's account in the approver's hands (or theirs), a household
    if row.status != "pending":
        raise ProposalNotPending(params={"status": row.status})
    return row


async def _may_see(db: AsyncSession, actor: Actor, row: PolicyProposal) -> bool:
    return (
        row.proposed_by == actor.member_id
        or (await people.roles_in(db, actor, row.community_id)).member
        or (await may_decide(db, actor, row.community_id))
    )


@raises(
    _decidable,
    ProposalStale,
    activities.apply_points_cap,
    points.apply_policy,
    rewards.apply_settings,
    rewards.apply_rule,
    store.apply_settings,
    store.apply_price,
    onboarding.apply_self_registration,
)
async def approve(db: AsyncSession, actor: Actor, proposal_id: uuid.UUID) -> PolicyProposal:
    """A second person approves: exactly the stored ``after`` takes effect now, or nothing does."""
    row = await _decidable(db, actor, proposal_id)
    applied = await APPLIERS[row.knob](
        db, row.community_id, row.target_id, row.before, row.after, actor.member_id
    )
    if not applied:
        raise ProposalStale()
    return await table.decide(db, actor, row, "approved", "policy_change_approved")


@raises(_decidable)
async def reject(db: AsyncSession, actor: Actor, proposal_id: uuid.UUID) -> PolicyProposal:
    """A second person turns the change down; nothing changes."""
    row = await _decidable(db, actor, proposal_id)
    return await table.decide(db, actor, row, "rejected", "policy_change_rejected")


@raises(ProposalNotFound, NotProposer, ProposalNotPending)
async def withdraw(db: AsyncSession, actor: Actor, proposal_id: uuid.UUID) -> PolicyProposal:
    """The proposer takes the change back; nothing changes."""
    row = await table.get_proposal(db, proposal_id, lock=True)
    if row is None or not await _may_see(db, actor, row):
        raise ProposalNotFound()
    if row.proposed_by != actor.member_id:
        raise NotProposer()
    if row.status != "pending":
        raise ProposalNotPending(params={"status": row.status})
    return await table.decide(db, actor, row, "withdrawn", "policy_change_withdrawn")
