"""Readiness: whether this worker's database answers, asked at most once a second.

A load balancer (or a crowd of them) may ask ``/readyz`` thousands of times a second; each answer does
not need its own ``SELECT 1``. The worker probes the database through its pool when the latest answer
is older than ``FRESH_SECONDS``; requests that arrive meanwhile wait for that one probe instead of
sending their own, and the answer (ready or not) is reused until it is that old. So ``/readyz`` is at
most ``FRESH_SECONDS`` (plus one probe's ``PROBE_TIMEOUT_SECONDS``) behind the database, and a flood of
probes costs the database one statement a second per worker.
"""

from __future__ import annotations

import asyncio
import math
import time

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from service.errors import DomainError, raises

__all__ = ["FRESH_SECONDS", "PROBE_TIMEOUT_SECONDS", "DatabaseUnavailable", "Readiness"]

FRESH_SECONDS = 1.0
"""How old a readiness answer may be before the next request probes the database again."""
PROBE_TIMEOUT_SECONDS = 2.0
"""A probe that takes longer counts as "not ready"."""


class DatabaseUnavailable(DomainError):
    status = 503
    code = "database_unavailable"
    message = "The database does not answer; try again shortly."


class Readiness:
    """One worker's readiness answer, shared by concurrent requests (one probe at a time)."""

    def __init__(self, engine: AsyncEngine, *, fresh: float = FRESH_SECONDS) -> None:
        self.engine = engine
        self.fresh = fresh
        self.checked_at = -math.inf
        self.ready = False
        self.probes = 0
        """Probes sent (the tests read it)."""
        self._locks: dict[int, asyncio.Lock] = {}

    def _lock(self) -> asyncio.Lock:
        loop = id(asyncio.get_running_loop())
        lock = self._locks.get(loop)
        if lock is None:
            self._locks = {loop: (lock := asyncio.Lock())}  # one event loop per worker (tests: one per test)
        return lock

    def _stale(self) -> bool:
        return time.monotonic() - self.checked_at >= self.fresh

    @raises(DatabaseUnavailable)
    async def check(self) -> None:
        """Raises ``database_unavailable`` when the latest probe (at most ``fresh`` seconds old) failed."""
        if self._stale():
            async with self._lock():
                if self._stale():  # nobody probed while this request waited
                    await self._probe()
        if not self.ready:
            raise DatabaseUnavailable()

    async def _probe(self) -> None:
        self.probes += 1
        try:
            async with asyncio.timeout(PROBE_TIMEOUT_SECONDS), self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            self.ready = True
        except (OSError, SQLAlchemyError, TimeoutError):
            self.ready = False
        self.checked_at = time.monotonic()
