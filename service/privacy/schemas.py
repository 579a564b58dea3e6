"""Request and response bodies of residents' own data."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

import msgspec

from service.accounts.schemas import Phone

__all__ = [
    "ConsentIn",
    "ConsentOut",
    "CorrectionRequestIn",
    "DecideIn",
    "DeletionRequestIn",
    "MemberRequestOut",
]

Reason = Annotated[str, msgspec.Meta(max_length=500)]


class ConsentIn(msgspec.Struct, forbid_unknown_fields=True):
    version: Annotated[str, msgspec.Meta(min_length=1, max_length=16)]
    """The version of the notice the person read (GET /api/v1/me/data shows the one in force)."""


class ConsentOut(msgspec.Struct):
    version: str
    accepted_at: datetime


class CorrectionRequestIn(msgspec.Struct, forbid_unknown_fields=True):
    name: Annotated[str, msgspec.Meta(max_length=64)] | None = None
    phone: Phone | None = None
    reason: Reason | None = None
    community_id: uuid.UUID | None = None
    """The community that decides (default: the caller's first)."""


class DeletionRequestIn(msgspec.Struct, forbid_unknown_fields=True):
    reason: Reason | None = None
    community_id: uuid.UUID | None = None
    """The community that decides (default: the caller's first)."""


class DecideIn(msgspec.Struct, forbid_unknown_fields=True):
    decision: Literal["grant", "refuse"]
    note: Reason | None = None


class MemberRequestOut(msgspec.Struct, omit_defaults=True):
    id: uuid.UUID
    community_id: uuid.UUID
    member_id: uuid.UUID
    kind: str
    status: str
    reason: str
    created_at: datetime
    due_at: datetime
    """The community answers by then (REQUEST_DECISION_DAYS after the request)."""
    new_name: str | None = None
    new_phone: str | None = None
    member_name: str | None = None
    decided_at: datetime | None = None
    decision_note: str | None = None
