"""Database engine, sessions and the declarative base.

SQLite is the embedded default: WAL, ``synchronous=FULL``, foreign keys on, a busy timeout, and every
transaction begins IMMEDIATE so two writers queue for the lock instead of failing half-way. PostgreSQL
runs through asyncpg; money-like writes there rely on row locks and conditional updates in the services.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import MetaData, Uuid, event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from service import clock
from service.ids import new_id

__all__ = [
    "SQLITE_BUSY_TIMEOUT_MS",
    "Base",
    "IdMixin",
    "TimestampMixin",
    "create_engine",
    "create_session_maker",
    "fast_paths_on",
    "is_postgres",
    "transaction",
    "upgrade_database",
]

SQLITE_BUSY_TIMEOUT_MS = 30_000
"""How long a SQLite writer waits for the lock before giving up."""

SQLITE_POOL_SIZE = 1
"""Connections per process on SQLite (one writer at a time anyway)."""
_FAST_PATHS = "jifen.fast_paths"
"""The key of ``Settings.fast_paths`` in a session's ``info``."""
PG_POOL_SIZE = 10
"""PostgreSQL connections kept per worker process: a 2-core database runs best with a few dozen
backends in all, so ``workers x (size + overflow)`` should stay well under ``max_connections``."""
PG_POOL_OVERFLOW = 0
PG_POOL_RECYCLE_SECONDS = 1800


NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Every table. Each row that belongs to a community carries ``community_id`` for later sharding."""

    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: DateTimeUTC, uuid.UUID: Uuid}


class IdMixin:
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


def is_postgres(target: AsyncSession | AsyncEngine) -> bool:
    bind = target.get_bind() if isinstance(target, AsyncSession) else target
    return bind.dialect.name == "postgresql"


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """Create the engine; on SQLite install the pragmas and IMMEDIATE transactions."""
    if url.startswith("sqlite"):
        if ":memory:" not in url and "mode=memory" not in url:
            # Every transaction takes the write lock (BEGIN IMMEDIATE), so a second connection in the
            # same process could only wait for it in SQLite's busy handler, which sleeps in growing
            # steps (up to 100 ms) and starves under load. One connection: writers queue in order.
            kwargs.setdefault("pool_size", SQLITE_POOL_SIZE)
            kwargs.setdefault("max_overflow", 0)
        engine = create_async_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}, **kwargs)
        _configure_sqlite(engine)
        return engine
    kwargs.setdefault("pool_size", PG_POOL_SIZE)
    kwargs.setdefault("max_overflow", PG_POOL_OVERFLOW)
    # No pre-ping (a round trip per checkout); a dead connection fails one request and is replaced,
    # and connections are recycled before any idle timeout in between would cut them.
    kwargs.setdefault("pool_pre_ping", False)
    kwargs.setdefault("pool_recycle", PG_POOL_RECYCLE_SECONDS)
    return create_async_engine(url, **kwargs)


@functools.lru_cache(maxsize=4096)
def local_month(ts: str | None, zone: str | None) -> str | None:
    """SQLite ``jifen_local_month(ts, zone)``: the first day (``YYYY-MM-01``) of the month in ``zone``
    of a stored UTC timestamp (the text SQLAlchemy writes; naive means UTC)."""
    if ts is None:
        return None
    at = datetime.fromisoformat(str(ts))
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    local = at.astimezone(ZoneInfo(zone or "UTC"))
    return f"{local.year:04d}-{local.month:02d}-01"


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when transactions begin (see "begin" below).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()
        # The reports' summary triggers (migration 0013) bucket rows by local month with it.
        dbapi_connection.create_function("jifen_local_month", 2, local_month, deterministic=True)

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        # IMMEDIATE takes the write lock up front: a DEFERRED reader that later writes could fail
        # with SQLITE_BUSY half-way through a transfer instead of waiting its turn.
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def create_session_maker(engine: AsyncEngine, *, fast_paths: bool = True) -> async_sessionmaker[AsyncSession]:
    """Sessions on ``engine``; ``fast_paths`` (``Settings.fast_paths``, the app passes it) rides on every
    session's ``info`` for :func:`fast_paths_on`."""
    return async_sessionmaker(engine, expire_on_commit=False, info={_FAST_PATHS: fast_paths})


def fast_paths_on(db: AsyncSession) -> bool:
    """Whether the app that opened ``db`` lets scans, redemptions and orders take the batched fast paths
    (``JIFEN_FAST_PATHS``); a session made elsewhere (tests, the command line) says yes, the default."""
    return bool(db.info.get(_FAST_PATHS, True))


@asynccontextmanager
async def transaction(maker: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """One unit of work outside a request (CLI, periodic jobs): commit on success, roll back on error."""
    async with maker() as session, session.begin():
        yield session


def upgrade_database(database_url: str, revision: str = "head", *, app_role: str | None = None) -> None:
    """Bring the database to ``revision`` (synchronously; call it before an event loop starts).

    ``database_url`` is the migration URL (the role that owns the tables). The steps, in this order:

    1. Alembic migrations, and with them the database code (functions and triggers, which
       ``service/dbcode.py`` installs from ``migrations/env.py`` in the migrations' transaction);
    2. on PostgreSQL with an ``app_role``, the grant step (``service/dbroles.py``): last, after
       ``command.upgrade`` has returned, so that it covers every table the migrations made and every
       function step 1 (re)created.
    """
    import asyncio
    from pathlib import Path

    from alembic import command
    from alembic.config import Config

    root = Path(__file__).resolve().parent.parent
    config = Config(str(root / "alembic.ini"))
    config.set_main_option("script_location", str(root / "migrations"))
    config.attributes["database_url"] = database_url
    command.upgrade(config, revision)  # 1. (database code included)
    if app_role is not None and not database_url.startswith("sqlite"):
        asyncio.run(_grant(database_url, app_role))


async def _grant(database_url: str, app_role: str) -> None:
    from service.dbroles import grant_app_privileges

    engine = create_engine(database_url, pool_size=1)
    try:
        async with engine.begin() as conn:
            await grant_app_privileges(conn, app_role)
    finally:
        await engine.dispose()
