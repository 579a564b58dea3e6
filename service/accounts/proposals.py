"""Two people for every knob that widens what can be issued or who can act: the proposals' table side.

A domain's knob command validates the new value, reads the current one and asks :func:`gate`. A change
that widens risk (a higher cap, a cheaper price, a looser sign-up, longer-lived points) is stored as a
pending :class:`PolicyProposal` and changes nothing else; a change that narrows it applies at once. Both
are audited here with ``before`` and ``after``. Approving, rejecting and withdrawing live in
``service.proposals`` (above every domain that owns a knob), which reads and decides rows through the
functions below: the table belongs to accounts because every domain's command must be able to propose.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from service import clock
from service.accounts.actor import Actor
from service.accounts.models import PROPOSAL_STATUSES, PolicyProposal, ProposalStatus
from service.audit.service import record

__all__ = [
    "PROPOSAL_STATUSES",
    "PolicyProposal",
    "ProposalStatus",
    "Proposed",
    "decide",
    "gate",
    "get_proposal",
    "list_proposals",
    "pending_in",
]


@dataclass(frozen=True)
class Proposed:
    """What a knob command returns when its change waits for a second person (the route answers 202)."""

    proposal: PolicyProposal


async def gate(
    db: AsyncSession,
    actor: Actor,
    community_id: uuid.UUID,
    knob: str,
    before: dict[str, Any],
    after: dict[str, Any],
    *,
    widens: bool,
    target_id: uuid.UUID | None = None,
) -> Proposed | None:
    """Store a widening change as a proposal (returned), or audit a narrowing one the caller applies now
    (None). An earlier pending proposal of the same knob is superseded by a new one."""
    detail = {
        "knob": knob,
        "target_id": str(target_id) if target_id else None,
        "before": before,
        "after": after,
    }
    if not widens:
        # Every staff write leaves an event, a resubmission of the same values too (the log shows who
        # looked at the knob and when, and the automated insider counts on it).
        await record(
            db,
            actor_id=actor.member_id,
            action="policy_narrowed" if before != after else "policy_unchanged",
            community_id=community_id,
            detail=detail,
        )
        return None
    same = (
        PolicyProposal.community_id == community_id,
        PolicyProposal.knob == knob,
        PolicyProposal.status == "pending",
        PolicyProposal.target_id.is_(None) if target_id is None else PolicyProposal.target_id == target_id,
    )
    await db.execute(update(PolicyProposal).where(*same).values(status="superseded", decided_at=clock.now()))
    row = PolicyProposal(
        community_id=community_id,
        proposed_by=actor.member_id,
        knob=knob,
        target_id=target_id,
        before=before,
        after=after,
        status="pending",
        created_at=clock.now(),
    )
    db.add(row)
    await db.flush()
    await record(
        db,
        actor_id=actor.member_id,
        action="policy_change_proposed",
        community_id=community_id,
        detail={"proposal_id": str(row.id), **detail},
    )
    return Proposed(row)


async def get_proposal(
    db: AsyncSession, proposal_id: uuid.UUID, *, lock: bool = False
) -> PolicyProposal | None:
    stmt = select(PolicyProposal).where(PolicyProposal.id == proposal_id)
    return (await db.scalars(stmt.with_for_update() if lock else stmt)).first()


async def decide(
    db: AsyncSession, actor: Actor, row: PolicyProposal, status: ProposalStatus, action: str
) -> PolicyProposal:
    """Close a pending proposal (the caller checked who may) and audit it with its before and after."""
    row.status, row.decided_at = status, clock.now()
    if status != "withdrawn":
        row.decided_by = actor.member_id
    await db.flush()
    await record(
        db,
        actor_id=actor.member_id,
        action=action,
        community_id=row.community_id,
        subject_member_id=row.proposed_by,
        detail={
            "proposal_id": str(row.id),
            "knob": row.knob,
            "target_id": str(row.target_id) if row.target_id else None,
            "before": row.before,
            "after": row.after,
        },
    )
    return row


async def list_proposals(
    db: AsyncSession, community_id: uuid.UUID, status: ProposalStatus | None, limit: int
) -> list[PolicyProposal]:
    """A community's proposals, newest first."""
    stmt = select(PolicyProposal).where(PolicyProposal.community_id == community_id)
    if status is not None:
        stmt = stmt.where(PolicyProposal.status == status)
    return list(
        await db.scalars(stmt.order_by(PolicyProposal.created_at.desc(), PolicyProposal.id).limit(limit))
    )


async def pending_in(
    db: AsyncSession, community_id: uuid.UUID
) -> dict[tuple[str, uuid.UUID | None], PolicyProposal]:
    """The community's pending proposals by (knob, target): what the knob pages mark 待审批."""
    rows = await db.scalars(
        select(PolicyProposal).where(
            PolicyProposal.community_id == community_id, PolicyProposal.status == "pending"
        )
    )
    return {(r.knob, r.target_id): r for r in rows}
