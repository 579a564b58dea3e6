"""The proposals API: approvers list a community's proposals and approve or reject them; the proposer
withdraws. The knob routes themselves answer 202 with the proposal when a change widens risk."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Controller, get, post
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from service.accounts.actor import Actor
from service.accounts.schemas import ProposalOut
from service.http import Limit, errors_of, proposal_out
from service.proposals import service, views

__all__ = ["ROUTES", "ProposalController"]


class ProposalController(Controller):
    path = "/api/v1"
    tags = ["proposals"]

    @get(
        "/communities/{cid:uuid}/proposals",
        summary="Policy changes proposed in the community, newest first (staff; admins and officials decide)",
        description="status: pending (what waits for an approver), approved, rejected, withdrawn or "
        "superseded; all when left out. before/after hold the knob's values.",
        responses=errors_of(views.proposals_of),
    )
    async def list_proposals(
        self,
        db: AsyncSession,
        actor: Actor,
        cid: uuid.UUID,
        limit: Limit,
        status: Annotated[str | None, Parameter(max_length=16)] = None,
    ) -> list[ProposalOut]:
        found = await views.proposals_of(db, actor, cid, status, limit)
        return [proposal_out(r, found.names) for r in found.rows]

    @post(
        "/proposals/{pid:uuid}/approve",
        status_code=200,
        summary="Approve another person's proposal: its change takes effect now (admin, official above)",
        description="Refused own_proposal for the proposer, proposal_stale when the setting changed since.",
        responses=errors_of(service.approve),
    )
    async def approve(self, db: AsyncSession, actor: Actor, pid: uuid.UUID) -> ProposalOut:
        return proposal_out(await service.approve(db, actor, pid))

    @post(
        "/proposals/{pid:uuid}/reject",
        status_code=200,
        summary="Turn down another person's proposal; nothing changes (admin, official above)",
        responses=errors_of(service.reject),
    )
    async def reject(self, db: AsyncSession, actor: Actor, pid: uuid.UUID) -> ProposalOut:
        return proposal_out(await service.reject(db, actor, pid))

    @post(
        "/proposals/{pid:uuid}/withdraw",
        status_code=200,
        summary="Take back your own pending proposal; nothing changes (its proposer)",
        responses=errors_of(service.withdraw),
    )
    async def withdraw(self, db: AsyncSession, actor: Actor, pid: uuid.UUID) -> ProposalOut:
        return proposal_out(await service.withdraw(db, actor, pid))


ROUTES: list[Any] = [ProposalController]
