"""Tables of the audit domain."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from service.db import Base, IdMixin, TimestampMixin

__all__ = ["ACTION_MAX", "CLIENT_ADDR_MAX", "AuditEvent"]

ACTION_MAX = 40
CLIENT_ADDR_MAX = 64


class AuditEvent(IdMixin, TimestampMixin, Base):
    """One staff act: who did what to whom, when, from where. Append-only (a PostgreSQL trigger refuses
    UPDATE and DELETE), so an insider cannot erase the trace of an award or a password they set."""

    __tablename__ = "audit_events"

    community_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("communities.id"), default=None)
    """None for acts outside any one community (platform-wide)."""
    actor_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("members.id"), default=None)
    """None when the command line acted (no person logged in)."""
    action: Mapped[str] = mapped_column(String(ACTION_MAX))
    subject_member_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("members.id"), default=None)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    client_addr: Mapped[str | None] = mapped_column(String(CLIENT_ADDR_MAX), default=None)

    __table_args__ = (Index("ix_audit_events_community_id_id", "community_id", "id"),)
