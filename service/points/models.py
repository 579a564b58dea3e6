"""Tables of the points ledger.

Double entry: a transfer has two or more entries whose points sum to zero. Entries are append-only
and hash-chained per account; accounts cache the chain head and the running totals. Holds reserve a
member's points until they are posted or voided. Lots remember what is left of each credit so points
are spent oldest-expiring first and the rest can expire.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import BigInteger, CheckConstraint, Date, ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from service.db import Base, IdMixin, TimestampMixin
from service.points.rules import AwardStatus

__all__ = [
    "ACCOUNT_KINDS",
    "AWARD_STATUSES",
    "CODE_MAX",
    "EXPIRY_MODES",
    "HOLD_STATUSES",
    "IDEMPOTENCY_KEY_MAX",
    "MEMO_MAX",
    "REF_ID_MAX",
    "REF_TYPE_MAX",
    "Account",
    "AwardRequest",
    "Budget",
    "Entry",
    "Hold",
    "IssuanceMonth",
    "Lot",
    "Owed",
    "PendingIssuance",
    "Policy",
    "Transfer",
]

ACCOUNT_KINDS = ("member", "issuance", "store", "partner", "expired")
HOLD_STATUSES = ("pending", "posted", "voided", "expired")
AWARD_STATUSES = ("pending_approval", "posted", "rejected")
EXPIRY_MODES = ("never", "days", "years")
CODE_MAX = 32
"""Longest reason code (``checkin``, ``manual_award``...)."""
MEMO_MAX = 500
REF_TYPE_MAX = 32
REF_ID_MAX = 64
IDEMPOTENCY_KEY_MAX = 128
HASH_LEN = 64


class Account(IdMixin, TimestampMixin, Base):
    """One ledger account: a member's, or one of the community's system accounts."""

    __tablename__ = "ledger_accounts"

    community_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("communities.id"))
    kind: Mapped[str] = mapped_column(String(16))
    owner_key: Mapped[str] = mapped_column(String(64))
    """``member:<id>``, ``partner:<id>`` or the kind: unique per community (NULL-free, unlike the ids)."""
    member_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("members.id"), default=None, index=True)
    partner_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("partners.id"), default=None)
    balance: Mapped[int] = mapped_column(BigInteger, default=0)
    held: Mapped[int] = mapped_column(BigInteger, default=0)
    earned: Mapped[int] = mapped_column(BigInteger, default=0)
    spent: Mapped[int] = mapped_column(BigInteger, default=0)
    expired: Mapped[int] = mapped_column(BigInteger, default=0)
    last_hash: Mapped[str] = mapped_column(String(HASH_LEN), default="")
    entry_count: Mapped[int] = mapped_column(BigInteger, default=0)
    version: Mapped[int] = mapped_column(BigInteger, default=0)

    __table_args__ = (
        UniqueConstraint("community_id", "owner_key", name="uq_ledger_accounts_owner"),
        CheckConstraint("kind IN ('member','issuance','store','partner','expired')", name="known_kind"),
        CheckConstraint(
            "kind <> 'member' OR (held >= 0 AND balance - held >= 0)", name="member_not_negative"
        ),
        CheckConstraint("(kind = 'member') = (member_id IS NOT NULL)", name="member_bound"),
        CheckConstraint("(kind = 'partner') = (partner_id IS NOT NULL)", name="partner_bound"),
    )


class Transfer(IdMixin, TimestampMixin, Base):
    """One movement of points with its reason; its entries sum to zero."""

    __tablename__ = "ledger_transfers"

    community_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("communities.id"))
    points: Mapped[int] = mapped_column(BigInteger)
    """Points moved (the sum of the positive entries)."""
    code: Mapped[str] = mapped_column(String(CODE_MAX))
    memo: Mapped[str] = mapped_column(String(MEMO_MAX), default="")
    ref_type: Mapped[str | None] = mapped_column(String(REF_TYPE_MAX), default=None)
    ref_id: Mapped[str | None] = mapped_column(String(REF_ID_MAX), default=None)
    actor_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    idempotency_key: Mapped[str | None] = mapped_column(String(IDEMPOTENCY_KEY_MAX), default=None)
    content_hash: Mapped[str] = mapped_column(String(HASH_LEN))
    reverses_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("ledger_transfers.id"), default=None, unique=True
    )

    __table_args__ = (
        UniqueConstraint("community_id", "idempotency_key", name="uq_ledger_transfers_key"),
        CheckConstraint("points > 0", name="points_positive"),
        Index("ix_ledger_transfers_ref", "community_id", "ref_type", "ref_id"),
        # Monthly leaderboards and reports scan a community's transfers by time.
        Index("ix_ledger_transfers_community_created", "community_id", "created_at"),
    )


class Entry(IdMixin, TimestampMixin, Base):
    """One posting to one account. Never updated or deleted (a trigger refuses it on PostgreSQL)."""

    __tablename__ = "ledger_entries"

    community_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("communities.id"))
    transfer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("ledger_transfers.id"), index=True)
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("ledger_accounts.id"))
    points: Mapped[int] = mapped_column(BigInteger)
    """Signed: + credit, - debit."""
    seq: Mapped[int] = mapped_column(BigInteger)
    """1, 2, 3... per account: the history's order and the hash chain's."""
    prev_hash: Mapped[str] = mapped_column(String(HASH_LEN))
    hash: Mapped[str] = mapped_column(String(HASH_LEN))
    expires_at: Mapped[datetime | None] = mapped_column(default=None)

    __table_args__ = (
        UniqueConstraint("account_id", "seq", name="uq_ledger_entries_seq"),
        CheckConstraint("points <> 0", name="points_nonzero"),
    )


class Lot(IdMixin, Base):
    """What is left of one credit to a member account; spent oldest-expiring first."""

    __tablename__ = "ledger_lots"

    community_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("communities.id"))
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("ledger_accounts.id"), index=True)
    entry_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("ledger_entries.id"))
    points: Mapped[int] = mapped_column(BigInteger)
    remaining: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[datetime | None] = mapped_column(default=None)

    __table_args__ = (
        CheckConstraint("remaining >= 0 AND remaining <= points", name="remaining_in_range"),
        Index("ix_ledger_lots_expires_at", "expires_at"),
    )


class Hold(IdMixin, TimestampMixin, Base):
    """Points reserved from a member for a payee until posted, voided or expired (exactly once)."""

    __tablename__ = "ledger_holds"

    community_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("communities.id"))
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("ledger_accounts.id"), index=True)
    payee_account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("ledger_accounts.id"))
    points: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    expires_at: Mapped[datetime]
    code: Mapped[str] = mapped_column(String(CODE_MAX))
    memo: Mapped[str] = mapped_column(String(MEMO_MAX), default="")
    ref_type: Mapped[str | None] = mapped_column(String(REF_TYPE_MAX), default=None)
    ref_id: Mapped[str | None] = mapped_column(String(REF_ID_MAX), default=None)
    actor_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    idempotency_key: Mapped[str | None] = mapped_column(String(IDEMPOTENCY_KEY_MAX), default=None)
    content_hash: Mapped[str] = mapped_column(String(HASH_LEN))
    transfer_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("ledger_transfers.id"), default=None)
    resolved_at: Mapped[datetime | None] = mapped_column(default=None)
    reason: Mapped[str] = mapped_column(String(MEMO_MAX), default="")

    __table_args__ = (
        UniqueConstraint("community_id", "idempotency_key", name="uq_ledger_holds_key"),
        CheckConstraint("points > 0", name="points_positive"),
        CheckConstraint("status IN ('pending','posted','voided','expired')", name="known_status"),
        CheckConstraint("(status = 'posted') = (transfer_id IS NOT NULL)", name="posted_has_transfer"),
        Index("ix_ledger_holds_status_expires_at", "status", "expires_at"),
    )


class Policy(Base):
    """A community's points rules: when points expire and which manual awards need a second admin."""

    __tablename__ = "ledger_policies"

    community_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("communities.id"), primary_key=True)
    expiry_mode: Mapped[str] = mapped_column(String(16), default="never")
    expiry_value: Mapped[int] = mapped_column(default=0)
    """Days for ``days``; calendar years for ``years`` (1 = end of the year of earning)."""
    award_approval_threshold: Mapped[int] = mapped_column(default=100)
    """Manual awards above this many points wait for a second admin."""
    updated_at: Mapped[datetime | None] = mapped_column(default=None)
    updated_by: Mapped[uuid.UUID | None] = mapped_column(default=None)

    __table_args__ = (
        CheckConstraint("expiry_mode IN ('never','days','years')", name="known_mode"),
        CheckConstraint("expiry_value >= 0 AND award_approval_threshold >= 0", name="not_negative"),
    )


class AwardRequest(IdMixin, TimestampMixin, Base):
    """A manual award by an admin; above the threshold it waits for another admin's approval."""

    __tablename__ = "ledger_awards"

    community_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("communities.id"))
    member_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("members.id"))
    points: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(String(MEMO_MAX))
    memo: Mapped[str] = mapped_column(String(MEMO_MAX), default="")
    status: Mapped[AwardStatus] = mapped_column(String(20))
    requested_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("members.id"))
    decided_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("members.id"), default=None)
    decided_at: Mapped[datetime | None] = mapped_column(default=None)
    transfer_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("ledger_transfers.id"), default=None)

    __table_args__ = (
        CheckConstraint("points > 0", name="points_positive"),
        CheckConstraint("status IN ('pending_approval','posted','rejected')", name="known_status"),
        CheckConstraint("decided_by IS NULL OR decided_by <> requested_by", name="four_eyes"),
        Index("ix_ledger_awards_community_status", "community_id", "status"),
    )


class Budget(Base):
    """A community's issuance budget (积分发放总量): the points it may issue per local calendar month,
    set by an official of a region above it (or the platform administrator). No row: nothing issues."""

    __tablename__ = "community_budgets"

    community_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("communities.id"), primary_key=True)
    monthly_points: Mapped[int] = mapped_column(BigInteger)
    set_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("members.id"), default=None)
    updated_at: Mapped[datetime]

    __table_args__ = (CheckConstraint("monthly_points >= 0", name="not_negative"),)


class IssuanceMonth(Base):
    """Points a community issued in one local month (net of reversals), moved by every posting in the
    same statement that checks the budget (``ledger_write``; SQLite: ``ledger._budget_sqlite``)."""

    __tablename__ = "issuance_months"

    community_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("communities.id"), primary_key=True)
    month: Mapped[date] = mapped_column(Date, primary_key=True)
    """The first day of the month in the community's time zone."""
    issued: Mapped[int] = mapped_column(BigInteger, default=0)

    __table_args__ = (CheckConstraint("issued >= 0", name="not_negative"),)


class PendingIssuance(IdMixin, TimestampMixin, Base):
    """Points an award could not issue because the month's budget was spent: they post (oldest first,
    under the same idempotency key) when an official raises the budget or the month turns."""

    __tablename__ = "pending_issuances"

    community_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("communities.id"))
    member_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("members.id"))
    points: Mapped[int] = mapped_column(BigInteger)
    code: Mapped[str] = mapped_column(String(CODE_MAX))
    memo: Mapped[str] = mapped_column(String(MEMO_MAX), default="")
    ref_type: Mapped[str | None] = mapped_column(String(REF_TYPE_MAX), default=None)
    ref_id: Mapped[str | None] = mapped_column(String(REF_ID_MAX), default=None)
    actor_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    idempotency_key: Mapped[str] = mapped_column(String(IDEMPOTENCY_KEY_MAX))
    posted_at: Mapped[datetime | None] = mapped_column(default=None)
    transfer_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("ledger_transfers.id"), default=None)

    __table_args__ = (
        UniqueConstraint("community_id", "idempotency_key", name="uq_pending_issuances_key"),
        CheckConstraint("points > 0", name="points_positive"),
        CheckConstraint("(posted_at IS NULL) = (transfer_id IS NULL)", name="posted_has_transfer"),
        Index("ix_pending_issuances_open", "community_id", "posted_at", "created_at"),
    )


class Owed(IdMixin, TimestampMixin, Base):
    """Points a deduction (扣分) could not take because the balance was short: taken from the member's
    later earnings (``points.collect_owed``), oldest first, until ``remaining`` is 0."""

    __tablename__ = "ledger_owed"

    community_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("communities.id"))
    member_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("members.id"))
    points: Mapped[int] = mapped_column(BigInteger)
    remaining: Mapped[int] = mapped_column(BigInteger)
    code: Mapped[str] = mapped_column(String(CODE_MAX))
    memo: Mapped[str] = mapped_column(String(MEMO_MAX), default="")
    ref_type: Mapped[str | None] = mapped_column(String(REF_TYPE_MAX), default=None)
    ref_id: Mapped[str | None] = mapped_column(String(REF_ID_MAX), default=None)
    settled_at: Mapped[datetime | None] = mapped_column(default=None)

    __table_args__ = (
        CheckConstraint("points > 0", name="points_positive"),
        CheckConstraint("remaining >= 0 AND remaining <= points", name="remaining_range"),
        CheckConstraint("(remaining = 0) = (settled_at IS NOT NULL)", name="settled_bound"),
        Index("ix_ledger_owed_open", "community_id", "member_id", postgresql_where=text("remaining > 0")),
    )
