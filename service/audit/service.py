"""The audit log's service: other domains call :func:`record`; admins read with :func:`list_events`.

This module imports only the accounts *tables* (not the accounts service), because the accounts service
itself records its acts here.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from service.accounts.models import Community, Member, Membership
from service.audit.errors import CommunityNotFound
from service.audit.models import ACTION_MAX, CLIENT_ADDR_MAX, AuditEvent
from service.errors import Forbidden, raises

if TYPE_CHECKING:
    from service.accounts.service import Actor

__all__ = ["ACTIONS", "AuditView", "list_events", "record"]

ACTIONS = (
    "award_requested",
    "award_approved",
    "award_rejected",
    "transfer_reversed",
    "manual_attendance_approved",
    "manual_attendance_rejected",
    "role_granted",
    "role_removed",
    "password_set",
    "phone_changed",
    "name_changed",
)
"""Actions recorded today; other domains may add theirs (snake_case, past tense)."""


async def record(
    db: AsyncSession,
    *,
    actor_id: uuid.UUID | None,
    action: str,
    community_id: uuid.UUID | None = None,
    subject_member_id: uuid.UUID | None = None,
    detail: dict[str, Any] | None = None,
    client_addr: str | None = None,
) -> AuditEvent:
    """Append one event in the caller's transaction: it commits (or rolls back) with the act itself."""
    if not action or len(action) > ACTION_MAX or not action.replace("_", "").isalnum():
        raise ValueError(f"audit action must be snake_case of at most {ACTION_MAX} characters: {action!r}")
    event = AuditEvent(
        community_id=community_id,
        actor_id=actor_id,
        action=action,
        subject_member_id=subject_member_id,
        detail=detail or {},
        client_addr=client_addr[:CLIENT_ADDR_MAX] if client_addr else None,
    )
    db.add(event)
    await db.flush()
    return event


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
    rows = [AuditView(e, a, s) for e, a, s in (await db.execute(stmt)).all()]
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (rows[-1].event.id if more else None)
