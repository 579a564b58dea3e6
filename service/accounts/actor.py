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
    token_version: int | None = None
    """The version of the login the request carried (``None``: not a login's act, e.g. the demo or a job).
    Spending re-checks it against the member row at once (``accounts.service.require_live_login``; the
    store's batches in SQL), not through the worker's cache of token versions."""
