"""The micro-wishes table (its name, ``wishes``, is unchanged from when it lived in the rewards domain)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal, get_args

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from service.config import TITLE_MAX
from service.db import Base, IdMixin, TimestampMixin

__all__ = [
    "ADDRESS_MAX",
    "WISH_POINTS_STATUSES",
    "WISH_STATUSES",
    "CallBinding",
    "Wish",
    "WishPointsStatus",
    "WishStatus",
]

ADDRESS_MAX = 200
"""Characters of a wish's address (building, unit, room: 幸福里 3 号楼 2 单元 501)."""

WishStatus = Literal["open", "offered", "assigned", "done", "rated", "closed", "cancelled"]
WISH_STATUSES: tuple[WishStatus, ...] = get_args(WishStatus)
WishPointsStatus = Literal["posted", "pending", "capped", "none"]
"""What became of a finished wish's points: posted, waiting for a staff confirmation (the volunteer took
it from the pool with no staff involved), refused by the volunteer's monthly cap, or none (0 points)."""
WISH_POINTS_STATUSES: tuple[WishPointsStatus, ...] = get_args(WishPointsStatus)


class Wish(IdMixin, TimestampMixin, Base):
    """A micro-wish (微心愿): a resident asks for a small service, a volunteer does it, the resident rates."""

    __tablename__ = "wishes"

    community_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("communities.id"))
    requester_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("members.id"), index=True)
    beneficiary_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("members.id"), default=None)
    """The household member the wish is for, when the requester filed it for someone else."""
    title: Mapped[str] = mapped_column(String(TITLE_MAX))
    description: Mapped[str] = mapped_column(Text, default="")
    category: Mapped[str] = mapped_column(String(32))
    wanted_by: Mapped[datetime | None] = mapped_column(default=None)
    address: Mapped[str | None] = mapped_column(String(ADDRESS_MAX), default=None)
    """Where the help is needed. Personal data: shown to the requester, the household member it is for,
    and the volunteer only while the wish is theirs and in progress (``assigned``)."""
    status: Mapped[WishStatus] = mapped_column(String(16), default="open")
    volunteer_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("members.id"), default=None, index=True)
    assigned_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("members.id"), default=None)
    assigned_at: Mapped[datetime | None] = mapped_column(default=None)
    """When the current volunteer took the wish (accepted an offer or took it from the pool)."""
    dispatched_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("members.id"), default=None)
    """The staff member who dispatched the current volunteer (None when taken from the pool)."""
    dispatched_at: Mapped[datetime | None] = mapped_column(default=None)
    accepted_at: Mapped[datetime | None] = mapped_column(default=None)
    declines: Mapped[int] = mapped_column(default=0)
    decline_reason: Mapped[str] = mapped_column(String(500), default="")
    """The last volunteer's reason for declining an offer (shown to the organizer)."""
    confirmed_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("members.id"), default=None)
    """The staff member who confirmed a pool-taken wish was really done (its points may then post)."""
    points_status: Mapped[WishPointsStatus | None] = mapped_column(String(16), default=None)
    completed_at: Mapped[datetime | None] = mapped_column(default=None)
    rated_at: Mapped[datetime | None] = mapped_column(default=None)
    stars: Mapped[int | None] = mapped_column(default=None)
    comment: Mapped[str] = mapped_column(String(500), default="")
    cancelled_at: Mapped[datetime | None] = mapped_column(default=None)
    timeouts: Mapped[int] = mapped_column(default=0)
    """How many times the wish went back to open because its volunteer did not complete it in time."""
    points: Mapped[int | None] = mapped_column(default=None)
    awarded_at: Mapped[datetime | None] = mapped_column(default=None)
    transfer_id: Mapped[uuid.UUID | None] = mapped_column(default=None)

    __table_args__ = (
        CheckConstraint(
            "status IN ('open','offered','assigned','done','rated','closed','cancelled')", name="known_status"
        ),
        CheckConstraint(
            "points_status IS NULL OR points_status IN ('posted','pending','capped','none')",
            name="known_points_status",
        ),
        CheckConstraint("points_status <> 'posted' OR transfer_id IS NOT NULL", name="posted_bound"),
        CheckConstraint("stars IS NULL OR (stars >= 1 AND stars <= 5)", name="stars_range"),
        CheckConstraint(
            "(status = 'open' AND volunteer_id IS NULL) OR status = 'cancelled' "
            "OR (status IN ('offered','assigned','done','rated','closed') AND volunteer_id IS NOT NULL)",
            name="volunteer_bound",
        ),
        CheckConstraint("address IS NULL OR length(address) BETWEEN 1 AND 200", name="address_length"),
        Index("ix_wishes_community_status", "community_id", "status"),
        Index("ix_wishes_community_created", "community_id", "created_at"),
    )


class CallBinding(IdMixin, TimestampMixin, Base):
    """A privacy-number binding (AXB) of a wish's volunteer and requester: the relay number the volunteer
    dials, until it expires or the wish stops being theirs (``ended_at``). Neither phone number is kept
    here."""

    __tablename__ = "wish_call_bindings"

    wish_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("wishes.id"), index=True)
    volunteer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("members.id"))
    requester_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("members.id"))
    relay_number: Mapped[str] = mapped_column(String(21))
    backend: Mapped[str] = mapped_column(String(16))
    expires_at: Mapped[datetime]
    ended_at: Mapped[datetime | None] = mapped_column(default=None)

    __table_args__ = (CheckConstraint("volunteer_id <> requester_id", name="two_people"),)
