"""``/readyz``: the database is asked at most once per freshness window, by one request for all that
arrive meanwhile; a database that does not answer gives 503 ``database_unavailable`` (problem+json)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from service.db import create_engine
from service.readiness import DatabaseUnavailable, Readiness
from tests.support.problems import problem


async def test_a_crowd_of_probes_costs_the_database_one_statement(engine: AsyncEngine) -> None:
    readiness = Readiness(engine, fresh=60)
    await asyncio.gather(*(readiness.check() for _ in range(200)))
    assert readiness.probes == 1 and readiness.ready
    await readiness.check()
    assert readiness.probes == 1  # still fresh: answered from the last probe


async def test_an_answer_older_than_the_window_is_asked_again(engine: AsyncEngine) -> None:
    readiness = Readiness(engine, fresh=0.05)
    await readiness.check()
    await asyncio.sleep(0.06)
    await asyncio.gather(*(readiness.check() for _ in range(20)))
    assert readiness.probes == 2


async def test_a_database_that_does_not_answer_is_not_ready(tmp_path: Path) -> None:
    gone = create_engine(f"sqlite+aiosqlite:///{tmp_path}/no/such/folder/jifen.db")
    try:
        readiness = Readiness(gone, fresh=60)
        for _ in range(3):
            with pytest.raises(DatabaseUnavailable):
                await readiness.check()
        assert readiness.probes == 1  # the failure is reused within the window too
    finally:
        await gone.dispose()


async def test_readyz_answers_503_problem_when_the_database_is_gone(
    client: Any, app: Any, tmp_path: Path
) -> None:
    ok = await client.get("/readyz")
    assert ok.status_code == 200 and ok.json()["status"] == "ok"
    gone = create_engine(f"sqlite+aiosqlite:///{tmp_path}/no/such/folder/jifen.db")
    try:
        app.state.readiness = Readiness(gone)
        r = await client.get("/readyz")
        problem(r, 503, "database_unavailable")
        live = await client.get("/healthz")  # liveness does not depend on the database
        assert live.status_code == 200
    finally:
        await gone.dispose()
