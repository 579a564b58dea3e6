"""The authenticated caller as every service sees it (a module of its own: ~50 modules need only this)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

__all__ = ["Actor"]


@dataclass(frozen=True)
class Actor:
    """The authenticated caller, as services see it."""

    member_id: uuid.UUID
    name: str
    phone: str
    is_platform_admin: bool = False
