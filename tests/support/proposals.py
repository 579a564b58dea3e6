"""Two people for every knob: a second admin approves what a test's admin proposed."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from service.accounts.proposals import PolicyProposal, Proposed
from service.audit.models import AuditEvent
from service.proposals import service as proposals
from tests.support.world import World

__all__ = ["applied", "audit_count", "pending_count"]


async def applied(db: AsyncSession, world: World, result: Any, approver: str = "admin2") -> Any:
    """``result`` of a knob command, with a proposal approved by ``approver`` (a different admin)."""
    if isinstance(result, Proposed):
        await proposals.approve(db, world.actor(approver), result.proposal.id)
        return None
    return result


async def audit_count(db: AsyncSession, action: str) -> int:
    return int(await db.scalar(select(func.count()).where(AuditEvent.action == action)) or 0)


async def pending_count(db: AsyncSession) -> int:
    stmt = select(func.count()).where(PolicyProposal.status == "pending")
    return int(await db.scalar(stmt) or 0)
