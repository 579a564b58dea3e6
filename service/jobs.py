"""Periodic jobs that run inside every server process (and from the CLI).

Each job is one short transaction per batch and is safe to run in several workers at once: the
services it calls lock the rows they change and skip what another worker already did.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from service.activities import service as activities
from service.kit.observe import JOB_RUNS, JOB_SECONDS
from service.points import jobs as points_jobs
from service.rewards import service as rewards
from service.store import service as store
from service.wishes import service as wishes

__all__ = ["JOBS", "run_jobs_forever", "run_jobs_once"]

log = logging.getLogger("jifen.jobs")

Job = Callable[[async_sessionmaker[AsyncSession]], Awaitable[int]]
"""A job takes the session maker, does its work in its own transactions, returns how much it did."""


JOBS: tuple[tuple[str, Job], ...] = (
    ("store.expire", store.sweep),
    ("rewards.settle_claims", rewards.settle_due_claims),
    ("wishes.auto_award", wishes.auto_award_due_wishes),
    ("wishes.time_out", wishes.time_out_wishes),
    ("activities.close_overdue", activities.close_overdue),
    # Last, so each domain first voids the holds of its own expired orders and vouchers.
    ("points.sweep_holds", points_jobs.sweep_holds),
    ("points.expire", points_jobs.expire_points),
    ("points.release_pending", points_jobs.release_pending),
    ("points.collect_owed", points_jobs.collect_owed),
)


async def run_jobs_once(maker: async_sessionmaker[AsyncSession]) -> dict[str, int]:
    done: dict[str, int] = {}
    for name, job in JOBS:
        started = time.perf_counter()
        try:
            done[name] = await job(maker)
        except Exception:  # a failing job must not stop the others or the server
            log.exception("job %s failed", name)
            JOB_RUNS.labels(name, "failed").inc()
        else:
            JOB_RUNS.labels(name, "ok").inc()
        JOB_SECONDS.labels(name).observe(time.perf_counter() - started)
    return done


async def run_jobs_forever(maker: async_sessionmaker[AsyncSession], interval_seconds: int) -> None:
    while True:
        await asyncio.sleep(interval_seconds)
        await run_jobs_once(maker)
