"""Tables of the audit domain."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from service.db import Base, IdMixin, TimestampMixin

__all__ = ["ACTION_MAX", "CHAIN_MAX", "CLIENT_ADDR_MAX", "HASH_LENGTH", "AuditChain", "AuditEvent"]

ACTION_MAX = 40
CLIENT_ADDR_MAX = 64
CHAIN_MAX = 40
"""A community id's text (``#<shard>`` after it for its other chains), or ``platform``."""
HASH_LENGTH = 64


class AuditEvent(IdMixin, TimestampMixin, Base):
    """One staff act: who did what to whom, when, from where. Append-only (triggers on PostgreSQL and
    SQLite refuse UPDATE and DELETE) and hash-chained per community (``rules.event_hash``), so an insider
    can neither erase nor quietly edit the trace of an award, a policy change or a password they set."""

    __tablename__ = "audit_events"

    community_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("communities.id"), default=None)
    """None for acts outside any one community (platform-wide)."""
    actor_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("members.id"), default=None)
    """None when the command line acted (no person logged in)."""
    action: Mapped[str] = mapped_column(String(ACTION_MAX))
    subject_member_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("members.id"), default=None)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    client_addr: Mapped[str | None] = mapped_column(String(CLIENT_ADDR_MAX), default=None)
    chain: Mapped[str] = mapped_column(String(CHAIN_MAX))
    """``rules.chain_of(community_id)``: the chain this event extends."""
    seq: Mapped[int] = mapped_column(Integer)
    """1 for a chain's first event, then one more each time."""
    prev_hash: Mapped[str] = mapped_column(String(HASH_LENGTH))
    hash: Mapped[str] = mapped_column(String(HASH_LENGTH))

    __table_args__ = (
        Index("ix_audit_events_community_id_id", "community_id", "id"),
        UniqueConstraint("chain", "seq", name="uq_audit_events_chain_seq"),
    )


class AuditChain(Base):
    """The head of one chain: its last ``seq`` and hash. Appends lock this row (``FOR UPDATE`` on
    PostgreSQL; SQLite has one writer), so two events never take the same place; verify compares the
    chain's last event with it, so deleting the newest events is found too."""

    __tablename__ = "audit_chains"

    chain: Mapped[str] = mapped_column(String(CHAIN_MAX), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, default=0)
    last_hash: Mapped[str] = mapped_column(String(HASH_LENGTH))
