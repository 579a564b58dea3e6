"""HTTP routes of the audit log: a community's admins read its events; platform admins read all."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import get
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from service.accounts.actor import Actor
from service.audit import service
from service.audit.schemas import AuditEventOut, AuditPage
from service.errors import raises
from service.http import (
    Limit,
    cursor_after,
    cursor_for,
    errors_of,
)

__all__ = ["ROUTES", "audit_page", "event_out"]

Cursor = Annotated[str | None, Parameter(max_length=200)]
DESCRIPTION = (
    "Append-only, hash-chained record of every staff act (each community's events form one chain: "
    "``seq``, ``hash``; `jifen audit verify` recomputes it), newest first: action ("
    + ", ".join(service.ACTIONS)
    + "), actor, subject member, detail (``before`` and ``after`` for settings) and client address."
)


def event_out(v: service.AuditView) -> AuditEventOut:
    e = v.event
    return AuditEventOut(
        id=e.id,
        action=e.action,
        created_at=e.created_at,
        community_id=e.community_id,
        actor_id=e.actor_id,
        actor_name=v.actor_name,
        subject_member_id=e.subject_member_id,
        subject_name=v.subject_name,
        detail=dict(e.detail or {}),
        client_addr=e.client_addr,
        seq=e.seq,
        hash=e.hash,
    )


@raises(service.list_events, cursor_after)
async def audit_page(
    db: AsyncSession, actor: Actor, community_id: uuid.UUID | None, limit: int, cursor: str | None
) -> AuditPage:
    rows, last = await service.list_events(
        db, actor, community_id=community_id, limit=limit, before=cursor_after(cursor)
    )
    return AuditPage([event_out(v) for v in rows], cursor_for(last))


@get(
    "/api/v1/communities/{cid:uuid}/audit",
    summary="The community's audit log (admin)",
    description=DESCRIPTION,
    tags=["audit"],
    responses=errors_of(audit_page),
)
async def community_audit(
    db: AsyncSession, actor: Actor, cid: uuid.UUID, limit: Limit, cursor: Cursor = None
) -> AuditPage:
    return await audit_page(db, actor, cid, limit, cursor)


@get(
    "/api/v1/audit",
    summary="Every community's audit log (platform admin)",
    description=DESCRIPTION,
    tags=["audit"],
    responses=errors_of(audit_page),
)
async def all_audit(db: AsyncSession, actor: Actor, limit: Limit, cursor: Cursor = None) -> AuditPage:
    return await audit_page(db, actor, None, limit, cursor)


ROUTES: list[Any] = [community_audit, all_audit]
