"""What approvers read: a community's proposals, with the names of who proposed and who decided."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from service.accounts import proposals as table
from service.accounts import views as people
from service.accounts.actor import Actor
from service.accounts.proposals import PROPOSAL_STATUSES, PolicyProposal
from service.accounts.service import require_community_exists, require_role
from service.config import LIST_LIMIT_MAX
from service.errors import raises
from service.proposals.errors import InvalidProposalStatus
from service.proposals.service import may_decide

__all__ = ["ProposalList", "pending_knobs", "proposals_of"]


@dataclass(frozen=True)
class ProposalList:
    rows: list[PolicyProposal]
    names: dict[uuid.UUID, str]
    may_decide: bool
    """The caller may approve or reject (others' proposals)."""


@raises(InvalidProposalStatus, require_role, require_community_exists)
async def proposals_of(
    db: AsyncSession, actor: Actor, community_id: uuid.UUID, status: str | None, limit: int = LIST_LIMIT_MAX
) -> ProposalList:
    """The community's proposals, newest first: for its staff (the admins decide) and region officials."""
    if status is not None and status not in PROPOSAL_STATUSES:
        raise InvalidProposalStatus()
    await require_community_exists(db, community_id)
    deciding = await may_decide(db, actor, community_id)
    if not deciding:
        await require_role(db, actor, community_id, "organizer", "clerk", "reviewer")
    rows = await table.list_proposals(db, community_id, status, limit)
    ids = {r.proposed_by for r in rows} | {r.decided_by for r in rows if r.decided_by}
    return ProposalList(rows, await people.member_names(db, ids), deciding)


async def pending_knobs(db: AsyncSession, community_id: uuid.UUID) -> dict[str, PolicyProposal]:
    """Pending proposals by ``knob`` (community-wide) or ``knob:target id``: the knob pages mark them
    待审批 (awaiting approval)."""
    pending = await table.pending_in(db, community_id)
    return {f"{knob}:{target}" if target else knob: row for (knob, target), row in pending.items()}
