"""Refusals of a service call: the expected error code, and the refused work rolled back."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from service.errors import DomainError

__all__ = ["refused"]


async def refused(db: AsyncSession, code: str, work: Awaitable[Any]) -> None:
    """``work`` is refused with ``code``; a savepoint stands in for the request's transaction, so the
    refusal rolls back only its own work."""
    with pytest.raises(DomainError) as info:
        async with db.begin_nested():
            await work
    assert info.value.code == code, info.value
