"""Concurrency tests: run jobs at once, each in its own session, and count their outcomes."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from service.errors import DomainError

__all__ = ["Job", "race"]

Job = Callable[[AsyncSession], Awaitable[Any]]
"""One request's work on its own session."""


async def race(
    maker: async_sessionmaker[AsyncSession],
    jobs: list[Job],
    *,
    in_transaction: Callable[[int], bool] = lambda i: True,
) -> Counter[str]:
    """Run the jobs at once: ``ok`` or the refusal's code for each, counted. Job ``i`` runs inside a
    transaction (a fast path's batch of one) when ``in_transaction(i)``, else outside one, committed after
    (so the fast paths group it with the others into batches)."""

    async def one(i: int, job: Job) -> str:
        async with maker() as db:
            try:
                if in_transaction(i):
                    async with db.begin():
                        await job(db)
                else:
                    await job(db)
                    await db.commit()
                return "ok"
            except DomainError as exc:
                return exc.code

    return Counter(await asyncio.gather(*(one(i, j) for i, j in enumerate(jobs))))
