"""API shapes of notices."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import msgspec

__all__ = ["NoticeOut", "NoticesOut"]


class NoticeOut(msgspec.Struct):
    id: uuid.UUID
    community_id: uuid.UUID
    kind: str
    """``wish_offered`` (to the volunteer), ``wish_dispatched`` or ``wish_accepted`` (to the requester)."""
    text: str
    """What the notice says, in the reader's language."""
    params: dict[str, Any]
    link: str
    """The page it leads to (a path on this site)."""
    created_at: datetime
    read_at: datetime | None


class NoticesOut(msgspec.Struct):
    items: list[NoticeOut]
    unread: int
    """The caller's unread notices (all of them, not only those listed)."""
