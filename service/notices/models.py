"""The notices table: one row per notice to one member."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal, get_args

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from service.db import Base, IdMixin, TimestampMixin

__all__ = ["NOTICE_KINDS", "Notice", "NoticeKind"]

NoticeKind = Literal["wish_offered", "wish_dispatched", "wish_accepted"]
NOTICE_KINDS: tuple[NoticeKind, ...] = get_args(NoticeKind)


class Notice(IdMixin, TimestampMixin, Base):
    """A notice to one member: its kind and the few words it is filled with (a wish's title, a masked
    name; never an address or a phone number), where it leads, and when it was read."""

    __tablename__ = "notices"

    member_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("members.id"))
    community_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("communities.id"))
    kind: Mapped[NoticeKind] = mapped_column(String(32))
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    link: Mapped[str] = mapped_column(String(200), default="/")
    """The page the notice leads to (a path on this site)."""
    read_at: Mapped[datetime | None] = mapped_column(default=None)

    __table_args__ = (
        CheckConstraint("kind IN ('wish_offered','wish_dispatched','wish_accepted')", name="known_kind"),
        CheckConstraint("link LIKE '/%'", name="link_local"),
        Index("ix_notices_member_created", "member_id", "created_at"),
    )
