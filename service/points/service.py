"""The ledger's service API: the only way any domain moves points.

STUB: the signatures below are the contract other domains code against; the ledger issue fills in
the bodies. Every function runs inside the caller's transaction (the session passed in) and never
commits. Errors are DomainErrors with stable codes.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

__all__ = [
    "Balance",
    "HoldResult",
    "TransferResult",
    "award",
    "balance",
    "hold",
    "post_hold",
    "void_hold",
]


@dataclass(frozen=True)
class TransferResult:
    transfer_id: uuid.UUID
    points: int
    replayed: bool = False
    """True when the idempotency key matched an earlier transfer and nothing new was written."""


@dataclass(frozen=True)
class HoldResult:
    hold_id: uuid.UUID
    points: int
    expires_at: datetime
    replayed: bool = False


@dataclass(frozen=True)
class Balance:
    available: int
    held: int
    earned: int
    spent: int
    expired: int
    expiring: list[tuple[int, datetime]] = field(default_factory=list)


async def award(
    db: AsyncSession,
    *,
    community_id: uuid.UUID,
    member_id: uuid.UUID,
    points: int,
    code: str,
    memo: str = "",
    ref_type: str | None = None,
    ref_id: str | None = None,
    actor_id: uuid.UUID | None = None,
    idempotency_key: str,
) -> TransferResult:
    """Issue ``points`` (> 0) from the community's issuance account to the member's account.

    ``code`` is the reason code shown in the member's history (e.g. "checkin", "claim", "wish",
    "manual_award"); ``idempotency_key`` is unique per community: the same key with the same content
    returns the first result (``replayed=True``), with other content raises ``idempotency_conflict``.
    """
    raise NotImplementedError


async def hold(
    db: AsyncSession,
    *,
    community_id: uuid.UUID,
    member_id: uuid.UUID,
    points: int,
    payee: str,
    payee_partner_id: uuid.UUID | None = None,
    expires_at: datetime,
    code: str,
    memo: str = "",
    ref_type: str | None = None,
    ref_id: str | None = None,
    actor_id: uuid.UUID | None = None,
    idempotency_key: str,
) -> HoldResult:
    """Reserve ``points`` of the member's available balance for a payee until ``expires_at``.

    ``payee`` is "store" (the community's points supermarket) or "partner" (with ``payee_partner_id``).
    Raises ``insufficient_points`` (409) when available < points; nothing changes then.
    """
    raise NotImplementedError


async def post_hold(
    db: AsyncSession, hold_id: uuid.UUID, *, actor_id: uuid.UUID | None = None
) -> TransferResult:
    """Move a pending hold's points to its payee, exactly once. Raises ``hold_not_pending`` (409)."""
    raise NotImplementedError


async def void_hold(
    db: AsyncSession, hold_id: uuid.UUID, *, actor_id: uuid.UUID | None = None, reason: str = ""
) -> None:
    """Release a pending hold back to the member's available balance. Raises ``hold_not_pending`` (409)."""
    raise NotImplementedError


async def balance(db: AsyncSession, community_id: uuid.UUID, member_id: uuid.UUID) -> Balance:
    """The member's balance in the community (zeros for a member with no entries yet)."""
    raise NotImplementedError
