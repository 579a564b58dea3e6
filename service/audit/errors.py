"""The audit log's errors: reading it needs the role (``forbidden``) and a known community."""

from __future__ import annotations

from service.accounts.errors import CommunityNotFound
from service.errors import Forbidden

__all__ = ["CommunityNotFound", "Forbidden"]
