"""Periodic ledger work: release expired holds, post expiries. Each batch is its own transaction."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from service.points import service
from service.retry import run_in_transaction

__all__ = ["BATCHES_MAX", "expire_points", "sweep_holds"]

BATCHES_MAX = 1000
"""Most batches one run does, so a job always ends (the next run carries on)."""


async def sweep_holds(maker: async_sessionmaker[AsyncSession]) -> int:
    """Release every pending hold past its expiry; returns how many."""
    done = 0
    for _ in range(BATCHES_MAX):
        count = await run_in_transaction(maker, service.sweep_holds)
        done += count
        if count < service.SWEEP_BATCH:
            break
    return done


async def expire_points(maker: async_sessionmaker[AsyncSession]) -> int:
    """Post expiry transfers until nothing more is due; returns the points expired."""
    done = 0
    for _ in range(BATCHES_MAX):
        points = await run_in_transaction(maker, service.expire_points)
        done += points
        if points == 0:
            break
    return done
