"""API shapes of micro-wishes and the satisfaction figures."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

import msgspec

from service.config import TEXT_MAX
from service.kit.fields import Title, trimmed_text
from service.wishes.models import ADDRESS_MAX
from service.wishes.rules import WISH_CATEGORIES

__all__ = [
    "CallOut",
    "DeclineIn",
    "DispatchCandidateOut",
    "DispatchIn",
    "RateIn",
    "RatingStatsOut",
    "SatisfactionOut",
    "WishIn",
    "WishOut",
    "WishPage",
    "WishStatsOut",
]

Text = Annotated[str, msgspec.Meta(max_length=TEXT_MAX)]
Note = Annotated[str, msgspec.Meta(max_length=500)]
Address = Annotated[str, trimmed_text(ADDRESS_MAX)]


class WishIn(msgspec.Struct, forbid_unknown_fields=True):
    title: Title
    description: Text = ""
    category: Annotated[
        str, msgspec.Meta(max_length=32, extra_json_schema={"extra": {"enum": list(WISH_CATEGORIES)}})
    ] = "other"
    wanted_by: datetime | None = None
    beneficiary_id: uuid.UUID | None = None
    """A confirmed household member the wish is for (default: the caller)."""
    address: Address | None = None
    """Where the help is needed (building, unit, room); default: the address of the caller's latest wish."""


class DispatchIn(msgspec.Struct, forbid_unknown_fields=True):
    volunteer_id: uuid.UUID


class DeclineIn(msgspec.Struct, forbid_unknown_fields=True):
    reason: Annotated[str, trimmed_text(500)]


class DispatchCandidateOut(msgspec.Struct):
    member_id: uuid.UUID
    name: str
    phone_tail: str
    service_minutes: int
    hours: float
    open_tasks: int
    """Wishes offered or assigned to them now."""


class RateIn(msgspec.Struct, forbid_unknown_fields=True):
    stars: Annotated[int, msgspec.Meta(ge=1, le=5)]
    comment: Note = ""


class WishOut(msgspec.Struct):
    id: uuid.UUID
    community_id: uuid.UUID
    title: str
    description: str
    category: str
    status: str
    requester_id: uuid.UUID
    requester_name: str
    volunteer_id: uuid.UUID | None
    volunteer_name: str
    wanted_by: datetime | None
    created_at: datetime
    assigned_at: datetime | None
    completed_at: datetime | None
    rated_at: datetime | None
    stars: int | None
    comment: str
    points: int | None
    awarded_at: datetime | None
    beneficiary_id: uuid.UUID | None = None
    beneficiary_name: str = ""
    dispatched_by: uuid.UUID | None = None
    dispatched_at: datetime | None = None
    accepted_at: datetime | None = None
    declines: int = 0
    decline_reason: str = ""
    confirmed: bool = False
    """An organizer confirmed a pool-taken wish (dispatched wishes need no confirmation)."""
    points_status: str | None = None
    """posted, pending (awaiting a staff confirmation), capped (monthly cap reached), none (0 points)."""
    address: str | None = None
    """Where the help is needed: to its requester and the member it is for, and to its volunteer only
    while they are doing it (``assigned``); ``null`` to everyone else."""
    can_call: bool = False
    """The caller is the wish's volunteer doing it now: ``POST .../call`` gives them a relay number."""


class CallOut(msgspec.Struct):
    wish_id: uuid.UUID
    relay_number: str
    """The privacy number (隐私号) that connects the volunteer to the requester; never a real number."""
    tel: str
    """``tel:`` link of the relay number (the page's call button)."""
    expires_at: datetime


class WishPage(msgspec.Struct):
    items: list[WishOut]
    next_cursor: str | None


class WishStatsOut(msgspec.Struct):
    community_id: uuid.UUID
    month: str
    count: int
    completed: int
    cancelled: int
    rated: int
    satisfied: int
    completion_rate: float | None
    satisfaction_rate: float | None
    """Share of ratings with 4 or 5 stars."""
    average_handling_hours: float | None
    """Mean time from posting to completion, in hours."""


class RatingStatsOut(msgspec.Struct):
    rated: int
    satisfied: int
    average_stars: float | None
    satisfaction_rate: float | None
    """Share of ratings with 4 or 5 stars."""


class SatisfactionOut(msgspec.Struct):
    community_id: uuid.UUID
    month: str
    wishes: RatingStatsOut
    activities: RatingStatsOut
