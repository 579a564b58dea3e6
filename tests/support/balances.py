"""Points of the world's people: funding them, and reading balances through the API or the service."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from service.points import service as points
from tests.support.world import World

__all__ = ["api_available", "api_balance", "available", "available_and_held", "balance_of", "fund"]


async def fund(maker: async_sessionmaker[AsyncSession], world: World, name: str, amount: int) -> None:
    """Award ``amount`` points to ``name`` (committed)."""
    async with maker() as db:
        await points.award(
            db,
            community_id=world.cid,
            member_id=world.members[name].id,
            points=amount,
            code="test",
            memo="test funding",
            idempotency_key=f"fund-{name}-{uuid.uuid4()}",
        )
        await db.commit()


async def api_balance(client: Any, world: World, who: str) -> dict[str, Any]:
    """``GET /api/v1/me/balance`` as ``who``: the whole body."""
    r = await client.get("/api/v1/me/balance", params={"community_id": str(world.cid)}, headers=world.h[who])
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def api_available(client: Any, world: World, who: str) -> int:
    """``who``'s available points, through the API."""
    return int((await api_balance(client, world, who))["available"])


async def available(db: AsyncSession, world: World, who: str) -> int:
    """``who``'s available points, through the service on ``db``."""
    return (await points.balance(db, world.cid, world.members[who].id)).available


async def balance_of(maker: async_sessionmaker[AsyncSession], world: World, who: str) -> points.Balance:
    """``who``'s balance, read in a session of its own."""
    async with maker() as db:
        return await points.balance(db, world.cid, world.members[who].id)


async def available_and_held(
    maker: async_sessionmaker[AsyncSession], world: World, who: str
) -> tuple[int, int]:
    """``who``'s (available, held) points, read in a session of its own."""
    b = await balance_of(maker, world, who)
    return b.available, b.held
