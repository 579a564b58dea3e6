"""The audit log's read side: a page of events with the names of the people in it, for its readers.

Reads the accounts *tables* for names (a join in the same query): the accounts service records its own
acts here, so the audit package cannot call it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from service.accounts.models import Community, Member, Membership
from service.audit.errors import CommunityNotFound
from service.audit.models import AuditEvent
from service.errors import Forbidden, raises

if TYPE_CHECKING:
    from service.accounts.actor import Actor

__all__ = ["AuditLog", "AuditView", "audit_log", "list_events"]


@dataclass(frozen=True)
class AuditView:
    """An event with the names of the people in it, for lists."""

    event: AuditEvent
    actor_name: str | None
    subject_name: str | None


@raises(CommunityNotFound, Forbidden)
async def _check_reader(db: AsyncSession, actor: Actor, community_id: uuid.UUID | None) -> None:
    if actor.is_platform_admin:
        if community_id is not None and await db.get(Community, community_id) is None:
            raise CommunityNotFound()
        return
    if community_id is not None:
        admin = await db.scalar(
            select(Membership.id).where(
                Membership.member_id == actor.member_id,
                Membership.community_id == community_id,
                Membership.role == "admin",
            )
        )
        if admin is not None:
            return
    raise Forbidden(detail="You do not have the role this needs in this community.")


@raises(_check_reader)
async def list_events(
    db: AsyncSession,
    actor: Actor,
    *,
    community_id: uuid.UUID | None,
    limit: int,
    before: uuid.UUID | None = None,
    since: datetime | None = None,
) -> tuple[list[AuditView], uuid.UUID | None]:
    """Events newest first: one community's (its admins, platform admins) or all (platform admins).

    Returns the page and the id to pass as ``before`` for the next page (None on the last page).
    """
    await _check_reader(db, actor, community_id)
    who, whom = aliased(Member), aliased(Member)
    stmt = (
        select(AuditEvent, who.name, whom.name)
        .outerjoin(who, who.id == AuditEvent.actor_id)
        .outerjoin(whom, whom.id == AuditEvent.subject_member_id)
        .order_by(AuditEvent.id.desc())
        .limit(limit + 1)
    )
    if community_id is not None:
        stmt = stmt.where(AuditEvent.community_id == community_id)
    if before is not None:
        stmt = stmt.where(AuditEvent.id < before)
    if since is not None:
        stmt = stmt.where(AuditEvent.created_at >= since)
    rows = [AuditView(event=e, actor_name=a, subject_name=s) for e, a, s in (await db.execute(stmt)).all()]
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (rows[-1].event.id if more else None)


@dataclass(frozen=True)
class AuditLog:
    """The audit page: a page of events, the communities they happened in, and where the next starts."""

    events: list[AuditView]
    communities: dict[uuid.UUID, Community]
    last: uuid.UUID | None


@raises(list_events)
async def audit_log(
    db: AsyncSession, actor: Actor, community_id: uuid.UUID | None, limit: int, before: uuid.UUID | None
) -> AuditLog:
    """One page of the log (one community's, or every community's for a platform admin): two queries."""
    events, last = await list_events(db, actor, community_id=community_id, limit=limit, before=before)
    ids = {v.event.community_id for v in events if v.event.community_id is not None}
    found = list(await db.scalars(select(Community).where(Community.id.in_(ids)))) if ids else []
    return AuditLog(events=events, communities={c.id: c for c in found}, last=last)
