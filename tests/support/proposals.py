"""Two people for every knob: a second admin approves what a test's admin proposed."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from service.accounts.proposals import PolicyProposal, Proposed
from service.audit.models import AuditEvent
from service.proposals import service as proposals
from service.rewards import service as rewards
from tests.support.world import World

__all__ = ["api_applied", "api_rule", "applied", "audit_count", "pending_count", "rule_of"]


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


async def api_applied(client: Any, world: World, response: Any, approver: str = "admin2") -> Any:
    """A knob route's answer; a 202 (a proposal) is approved by ``approver`` over the API first."""
    if response.status_code != 202:
        return response
    proposal = response.json()["proposal"]
    r = await client.post(f"/api/v1/proposals/{proposal['id']}/approve", headers=world.h[approver])
    assert r.status_code == 200, r.text
    return r


async def api_rule(
    client: Any, world: World, body: dict[str, Any], approver: str = "admin2"
) -> dict[str, Any]:
    """A rule created by the admin over the API and switched on by a second admin: the rule as listed."""
    r = await client.post(f"/api/v1/communities/{world.cid}/rules", json=body, headers=world.h["admin"])
    assert r.status_code in (201, 202), r.text
    rule_id = r.json()["proposal"]["target_id"] if r.status_code == 202 else r.json()["id"]
    await api_applied(client, world, r, approver)
    rules = await client.get(
        f"/api/v1/communities/{world.cid}/rules?include_inactive=true", headers=world.h["admin"]
    )
    return dict(next(x for x in rules.json() if x["id"] == rule_id))


async def rule_of(db: AsyncSession, world: World, made: Any, approver: str = "admin2") -> Any:
    """``rewards.create_rule``'s result as the rule itself, switched on by a second admin."""
    if isinstance(made, Proposed):
        await proposals.approve(db, world.actor(approver), made.proposal.id)
        return await rewards.get_rule(db, made.proposal.target_id)
    return made
