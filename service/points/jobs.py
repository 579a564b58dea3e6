"""Periodic ledger work: release expired holds, post expiries, post issuances that waited for the budget.
Each batch is its own transaction."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from service.kit.batch import BATCHES_MAX, drain
from service.points import service
from service.retry import run_in_transaction

__all__ = ["BATCHES_MAX", "collect_owed", "expire_points", "release_pending", "sweep_holds"]


async def sweep_holds(maker: async_sessionmaker[AsyncSession]) -> int:
    """Release every pending hold past its expiry (at most ``BATCHES_MAX`` batches); returns how many."""

    async def step() -> int:
        count: int = await run_in_transaction(maker, service.sweep_holds)
        return count

    return await drain(step, service.SWEEP_BATCH)


async def expire_points(maker: async_sessionmaker[AsyncSession]) -> int:
    """Post expiry transfers until nothing more is due; returns the points expired.

    A batch reports points, not accounts, so the loop stops on a batch that expired nothing
    (``batch_size=1``: a run that expired fewer than one point).
    """

    async def step() -> int:
        points: int = await run_in_transaction(maker, service.expire_points)
        return points

    return await drain(step, 1)


async def release_pending(maker: async_sessionmaker[AsyncSession]) -> int:
    """Post the issuances that waited for the budget, oldest first, as far as each community's budget
    allows (after a month turn, or a raise whose own run missed some); returns how many posted."""

    async def step() -> int:
        count: int = await run_in_transaction(maker, service.release_pending)
        return count

    return await drain(step, service.RELEASE_BATCH)


async def collect_owed(maker: async_sessionmaker[AsyncSession]) -> int:
    """Take owed deductions from what the members earned since (one transaction per batch of members);
    returns how many members were looked at. A member with nothing new keeps owing."""
    looked = 0
    for _ in range(BATCHES_MAX):
        count: int = await run_in_transaction(maker, service.collect_all_owed)
        looked += count
        if count < service.RELEASE_BATCH:
            break
    return looked
