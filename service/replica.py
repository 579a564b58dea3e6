"""Reports off the primary: the officials' figures read from a streaming standby, within a bound.

With ``JIFEN_REPLICA_URL`` set, :meth:`ReportReader.read` runs a report's queries on a session of the
standby (a second engine, a small pool of its own) when that standby is no more than
``JIFEN_REPLICA_MAX_LAG_SECONDS`` behind the primary, and on the request's primary session otherwise.
Everything else (logins, access checks, every write) stays on the primary.

How far behind: the reader asks the primary for its flushed WAL position (``pg_current_wal_flush_lsn()``,
every acknowledged commit is at or before it) and its clock, then asks the standby how far it has
replayed. A standby that has replayed that position holds every commit made before the primary's answer:
its data is "as of" that moment. A standby that has not yet holds at least every commit up to the last one
it replayed (``pg_last_xact_replay_timestamp()``): its data is as of then, and the lag is the time since.
So ``as_of`` is a lower bound: every commit before it is in the figures (later statements of the report
may see more). A standby that does not answer, is no standby (``pg_is_in_recovery()`` false) or lags
beyond the bound is passed over, and after a connection error it rests for :data:`REPLICA_REST_SECONDS`
so that a dead standby costs at most one connect timeout per worker per rest.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, Literal, TypeVar

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from service import clock
from service.db import create_engine, is_postgres
from service.kit.observe import REPORT_READS

__all__ = [
    "PRIMARY_ONLY",
    "REPLICA_CONNECT_TIMEOUT_SECONDS",
    "REPLICA_POOL_SIZE",
    "REPLICA_REST_SECONDS",
    "REPLICA_STATEMENT_TIMEOUT_SECONDS",
    "Read",
    "ReportReader",
    "Source",
]

REPLICA_POOL_SIZE = 4
"""Connections to the standby per worker: reports are few and long, the pool only keeps them warm."""
REPLICA_CONNECT_TIMEOUT_SECONDS = 2.0
"""A standby that does not accept a connection within this is passed over (the report reads the primary)."""
REPLICA_STATEMENT_TIMEOUT_SECONDS = 60.0
"""A statement the standby has not answered within this (a hung machine) sends the report to the primary;
a whole city-year report takes about 1.6 s (README, Benchmarks)."""
REPLICA_REST_SECONDS = 10.0
"""After a standby failed, this worker reads reports from the primary for this long before trying again."""

Source = Literal["primary", "replica"]
T = TypeVar("T")
log = logging.getLogger("jifen.replica")

_PRIMARY_POSITION = text("SELECT pg_current_wal_flush_lsn()::text, clock_timestamp()")
_STANDBY_POSITION = text(
    "SELECT pg_is_in_recovery(), "
    "CASE WHEN pg_last_wal_replay_lsn() >= CAST(CAST(:flushed AS text) AS pg_lsn) "
    "THEN CAST(:asked_at AS timestamptz) ELSE pg_last_xact_replay_timestamp() END, clock_timestamp()"
)


@dataclass(frozen=True)
class Read(Generic[T]):
    """What a report read returned, where it read it and how fresh that was."""

    value: T
    source: Source
    as_of: datetime
    """Every commit before this moment is in ``value`` (the primary: the time of the read)."""


class ReportReader:
    """Where one worker's reports read: the standby while it is fresh enough, else the primary."""

    def __init__(self, replica_url: str = "", *, max_lag_seconds: float = 30.0) -> None:
        self.max_lag_seconds = max_lag_seconds
        self.engine: AsyncEngine | None = None
        self._maker: async_sessionmaker[AsyncSession] | None = None
        self._rest_until = 0.0
        if replica_url:
            self.engine = create_engine(
                replica_url,
                pool_size=REPLICA_POOL_SIZE,
                connect_args={
                    "timeout": REPLICA_CONNECT_TIMEOUT_SECONDS,
                    "command_timeout": REPLICA_STATEMENT_TIMEOUT_SECONDS,
                    "server_settings": {"application_name": "jifen-reports"},
                },
            )
            self._maker = async_sessionmaker(self.engine, expire_on_commit=False)

    async def dispose(self) -> None:
        if self.engine is not None:
            await self.engine.dispose()

    async def read(self, primary: AsyncSession, work: Callable[[AsyncSession], Awaitable[T]]) -> Read[T]:
        """``work`` on a standby session when the standby is within the bound, else on ``primary``.

        A connection or server error on the standby (it died, a recovery conflict cancelled a query)
        runs ``work`` again on the primary; errors ``work`` raises itself (a ``DomainError``) pass."""
        if self._maker is None or not is_postgres(primary):
            return await self._on_primary(primary, work, "unset")
        if time.monotonic() < self._rest_until:
            return await self._on_primary(primary, work, "unavailable")
        flushed, asked_at = (await primary.execute(_PRIMARY_POSITION)).one()
        try:
            async with self._maker() as standby:
                position = await standby.execute(
                    _STANDBY_POSITION, {"flushed": flushed, "asked_at": asked_at}
                )
                in_recovery, as_of, now = position.one()
                reason = self._refusal(in_recovery, as_of, now)
                if reason is None:
                    value = await work(standby)
                    REPORT_READS.labels("replica", "fresh").inc()
                    return Read(value, "replica", as_of)
        except (OSError, TimeoutError, DBAPIError, SQLAlchemyError) as exc:
            self._rest_until = time.monotonic() + REPLICA_REST_SECONDS
            log.warning(
                "report standby unavailable, reading the primary for %ss: %s", REPLICA_REST_SECONDS, exc
            )
            return await self._on_primary(primary, work, "unavailable")
        return await self._on_primary(primary, work, reason)

    def _refusal(self, in_recovery: bool, as_of: datetime | None, now: datetime) -> str | None:
        """Why the standby may not answer (None: it may)."""
        if not in_recovery:
            return "not_standby"
        if as_of is None or (now - as_of).total_seconds() > self.max_lag_seconds:
            return "stale"
        return None

    @staticmethod
    async def _on_primary(
        primary: AsyncSession, work: Callable[[AsyncSession], Awaitable[T]], reason: str
    ) -> Read[T]:
        at = clock.now()
        value = await work(primary)
        REPORT_READS.labels("primary", reason).inc()
        return Read(value, "primary", at)


PRIMARY_ONLY = ReportReader()
"""A reader without a standby: every report on the session it is given (the default of the read side)."""
