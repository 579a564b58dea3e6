"""The audit log's command: other domains call :func:`record`; admins read with
:func:`service.audit.views.list_events` (re-exported here for existing callers).

The audit package imports only the accounts *tables* and errors (not the accounts service), because the
accounts service itself records its acts here.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from service.audit.models import ACTION_MAX, CLIENT_ADDR_MAX, AuditEvent
from service.audit.views import AuditView, list_events

__all__ = ["AuditView", "list_events", "record"]


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
