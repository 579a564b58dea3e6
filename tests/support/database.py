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
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from service.db import Base, create_engine, create_session_maker

__all__ = ["BACKEND", "IN_CI", "PG_URL", "ROOT", "in_thread", "need", "seeded", "truncate"]

ROOT = Path(__file__).resolve().parents[2]
T = TypeVar("T")
IN_CI = os.environ.get("CI", "").lower() == "true"
BACKEND = os.environ.get("JIFEN_TEST_DATABASE", "sqlite").lower()
PG_URL = os.environ.get("JIFEN_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")


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


async def truncate(eng: AsyncEngine) -> None:
    """Empty every table."""
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    async with eng.begin() as conn:
        if eng.dialect.name == "postgresql":
            # TRUNCATE does not fire the row triggers that keep ledger entries append-only.
            await conn.execute(text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " CASCADE"))
        else:
            for t in tables:
                await conn.execute(text(f'DELETE FROM "{t}"'))


def seeded(database_url: str, build: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Empty the tables, run ``build(db)`` and commit, in a thread with its own event loop.

    For browser tests' fixtures, whose data must be committed before the page (another process) reads it.
    """

    async def run() -> T:
        engine = create_engine(database_url)
        try:
            await truncate(engine)
            async with create_session_maker(engine)() as db:
                result = await build(db)
                await db.commit()
                return result
        finally:
            await engine.dispose()

    result: T = in_thread(asyncio.run, run())
    return result
