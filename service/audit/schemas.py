"""API shapes of the audit log."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import msgspec

__all__ = ["AuditEventOut", "AuditPage"]


class AuditEventOut(msgspec.Struct):
    id: uuid.UUID
    action: str
    created_at: datetime
    community_id: uuid.UUID | None
    actor_id: uuid.UUID | None
    actor_name: str | None
    subject_member_id: uuid.UUID | None
    subject_name: str | None
    detail: dict[str, Any]
    client_addr: str | None
    seq: int
    """The event's place in its community's chain (1, 2, ...)."""
    hash: str
    """SHA-256 over the previous event's hash and this event's fields."""


class AuditPage(msgspec.Struct):
    items: list[AuditEventOut]
    next_cursor: str | None
