"""API shapes of the points ledger."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

import msgspec

from service.config import POINTS_PER_AWARD_MAX
from service.kit.fields import trimmed_text
from service.points.models import MEMO_MAX
from service.points.rules import AwardStatus

EXPIRY_MODES = ("never", "days", "years")
"""How a community's points expire (``service.points.service.set_policy`` checks the same)."""

__all__ = [
    "AwardIn",
    "AwardOut",
    "AwardPage",
    "BalanceOut",
    "EntryOut",
    "EntryPage",
    "ExpiringOut",
    "PolicyIn",
    "PolicyOut",
    "ProblemOut",
    "ReverseIn",
    "TransferOut",
    "VerifyOut",
]

Points = Annotated[int, msgspec.Meta(ge=1, le=POINTS_PER_AWARD_MAX)]
Reason = Annotated[str, trimmed_text(120, "Shown in the history")]
Memo = Annotated[str, msgspec.Meta(max_length=MEMO_MAX)]


class ExpiringOut(msgspec.Struct):
    points: int
    expires_at: datetime


class BalanceOut(msgspec.Struct):
    community_id: uuid.UUID
    available: int
    held: int
    earned: int
    spent: int
    expired: int
    expiring: list[ExpiringOut]
    """Points that expire within 30 days, soonest first."""
    owed: int = 0
    """Points deductions (扣分) could not take yet: taken from later earnings."""


class EntryOut(msgspec.Struct, omit_defaults=True):
    id: uuid.UUID
    points: int
    """Signed: + earned, - spent or expired."""
    code: str
    memo: str
    created_at: datetime
    transfer_id: uuid.UUID
    ref_type: str | None = None
    ref_id: str | None = None
    expires_at: datetime | None = None


class EntryPage(msgspec.Struct):
    items: list[EntryOut]
    next_cursor: str | None


class AwardIn(msgspec.Struct, forbid_unknown_fields=True):
    member_id: uuid.UUID
    points: Points
    reason: Reason
    memo: Memo = ""


class AwardOut(msgspec.Struct, omit_defaults=True):
    id: uuid.UUID
    status: AwardStatus
    """``posted``, ``pending_approval`` or ``rejected``."""
    community_id: uuid.UUID
    member_id: uuid.UUID
    points: int
    reason: str
    requested_by: uuid.UUID
    created_at: datetime
    memo: str = ""
    decided_by: uuid.UUID | None = None
    decided_at: datetime | None = None
    transfer_id: uuid.UUID | None = None
    manual: bool = True


class AwardPage(msgspec.Struct):
    items: list[AwardOut]
    next_cursor: str | None = None


class ProblemOut(msgspec.Struct, omit_defaults=True):
    code: str
    detail: str
    entry_id: str | None = None
    account_id: str | None = None
    transfer_id: str | None = None


class VerifyOut(msgspec.Struct):
    ok: bool
    accounts_checked: int
    entries_checked: int
    transfers_checked: int
    problems: list[ProblemOut]
    problems_total: int


class ReverseIn(msgspec.Struct, forbid_unknown_fields=True):
    memo: Memo = ""


class TransferOut(msgspec.Struct):
    transfer_id: uuid.UUID
    points: int
    replayed: bool = False


class PolicyIn(msgspec.Struct, forbid_unknown_fields=True):
    expiry_mode: Annotated[
        str,
        msgspec.Meta(
            max_length=16,
            extra_json_schema={"description": "never, days or years", "extra": {"enum": list(EXPIRY_MODES)}},
        ),
    ]
    expiry_value: Annotated[int, msgspec.Meta(ge=0, le=3650)] = 0
    award_approval_threshold: Annotated[int, msgspec.Meta(ge=0, le=POINTS_PER_AWARD_MAX)] = 100


class PolicyOut(msgspec.Struct):
    community_id: uuid.UUID
    expiry_mode: str
    expiry_value: int
    award_approval_threshold: int
