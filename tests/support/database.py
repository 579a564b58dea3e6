"""The test database: which backend, emptying tables, committed data for browser tests."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from service.db import Base, create_engine, create_session_maker, upgrade_database
from service.dbroles import database_statements, role_statements

__all__ = [
    "APP_ROLE",
    "BACKEND",
    "IN_CI",
    "OWNER_ROLE",
    "PG_URL",
    "ROOT",
    "create_test_database",
    "db_env",
    "drop_test_database",
    "in_thread",
    "need",
    "owner_url",
    "seeded",
    "truncate",
]

ROOT = Path(__file__).resolve().parents[2]
T = TypeVar("T")
IN_CI = os.environ.get("CI", "").lower() == "true"
BACKEND = os.environ.get("JIFEN_TEST_DATABASE", "sqlite").lower()
PG_URL = os.environ.get("JIFEN_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
"""A superuser's URL: it creates the roles and each run's database, nothing else."""
OWNER_ROLE = "jifen_test_owner"
"""Owns each test database and everything in it; migrations, ``truncate`` and tamper tests use it."""
APP_ROLE = "jifen_test_app"
"""What the app, the test sessions and the servers connect as: not a superuser, owns nothing."""
ROLE_PASSWORD = "jifen-test-role"
"""Both roles' password (for clusters that do not trust local connections)."""
_OWNER_URLS: dict[str, str] = {}
"""App URL -> owner URL of the databases this process created."""


def need(condition: bool, reason: str) -> None:
    """Skip when a real component is missing, except under CI=true where that is a failure (the
    ``need`` of ``tests/conftest.py``, importable by test modules)."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"required in CI: {reason}")
    pytest.skip(reason)


def in_thread(fn: Any, *args: Any) -> Any:
    """Run ``fn`` in its own thread: it may start an event loop while the tests' loop is running."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(fn, *args).result()


async def _pg_admin(*statements: str, admin_url: str = PG_URL) -> None:
    import asyncpg

    conn = await asyncpg.connect(admin_url.replace("postgresql+asyncpg://", "postgresql://"), timeout=5)
    try:
        for sql in statements:
            await conn.execute(sql)
    finally:
        await conn.close()


def _role_url(role: str, database: str, admin_url: str = PG_URL) -> str:
    url = make_url(admin_url).set(username=role, password=ROLE_PASSWORD, database=database)
    return str(url.render_as_string(hide_password=False))


def create_test_database(name: str, admin_url: str = PG_URL) -> tuple[str, str]:
    """Create the two roles (once per cluster; concurrent runs are fine) and database ``name`` owned by
    the owner role, migrate it as the owner and grant the app role its share; returns (owner, app) URLs.
    ``admin_url``: a superuser's URL of the cluster (default: the tests' server). Call it from a thread
    without a running event loop (``in_thread``)."""
    roles = role_statements(OWNER_ROLE, APP_ROLE, ROLE_PASSWORD, ROLE_PASSWORD)
    quoted = f'"{name}"'
    asyncio.run(_pg_admin(*roles, f"CREATE DATABASE {quoted} OWNER {OWNER_ROLE}", admin_url=admin_url))
    owner, app = _role_url(OWNER_ROLE, name, admin_url), _role_url(APP_ROLE, name, admin_url)
    asyncio.run(_pg_admin_in(name, *database_statements(name, OWNER_ROLE, APP_ROLE), admin_url=admin_url))
    upgrade_database(owner, app_role=APP_ROLE)
    _OWNER_URLS[app] = owner
    return owner, app


async def _pg_admin_in(database: str, *statements: str, admin_url: str = PG_URL) -> None:
    import asyncpg

    url = make_url(admin_url).set(drivername="postgresql", database=database)
    conn = await asyncpg.connect(url.render_as_string(hide_password=False), timeout=5)
    try:
        for sql in statements:
            await conn.execute(sql)
    finally:
        await conn.close()


def drop_test_database(name: str) -> None:
    asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def owner_url(database_url: str) -> str:
    """The owner role's URL of the test database the app reaches at ``database_url`` (SQLite: itself)."""
    return _OWNER_URLS.get(database_url, database_url)


def db_env(database_url: str) -> dict[str, str]:
    """Environment for a ``jifen`` subprocess on the test database: the app URL and the migration URL."""
    return {"JIFEN_DATABASE_URL": database_url, "JIFEN_MIGRATION_DATABASE_URL": owner_url(database_url)}


async def truncate(eng: AsyncEngine) -> None:
    """Empty every table (on PostgreSQL ``eng`` must connect as the owner: the app may not TRUNCATE)."""
    tables = [t.name for t in reversed(Base.metadata.sorted_tables) if t.name != "db_code"]
    async with eng.begin() as conn:
        if eng.dialect.name == "postgresql":
            # TRUNCATE does not fire the row triggers that keep ledger entries append-only.
            await conn.execute(text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " CASCADE"))
        else:
            # SQLite's append-only triggers refuse the DELETE: lift them for this transaction only and
            # put back exactly what was there (the production triggers are never changed).
            triggers = (
                await conn.execute(text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'"))
            ).all()
            for name, _sql in triggers:
                await conn.execute(text(f'DROP TRIGGER "{name}"'))
            for t in tables:
                await conn.execute(text(f'DELETE FROM "{t}"'))
            for _name, sql in triggers:
                await conn.execute(text(sql))


def seeded(database_url: str, build: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Empty the tables, run ``build(db)`` and commit, in a thread with its own event loop.

    For browser tests' fixtures, whose data must be committed before the page (another process) reads it.
    """

    async def run() -> T:
        engine = create_engine(database_url)
        owner = create_engine(owner_url(database_url)) if owner_url(database_url) != database_url else engine
        try:
            await truncate(owner)
            async with create_session_maker(engine)() as db:
                result = await build(db)
                await db.commit()
                return result
        finally:
            await engine.dispose()
            await owner.dispose()

    result: T = in_thread(asyncio.run, run())
    return result
