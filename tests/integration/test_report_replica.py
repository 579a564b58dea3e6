"""Reports off the primary, on a real streaming standby (``JIFEN_REPLICA_URL``).

A scratch primary (its own cluster on a free loopback port) and a standby made from its
``pg_basebackup`` (``tests/support/cluster.py``, the drills' clusters) run beside the tests' server;
pgbench writes to the primary the whole time. The app is pointed at both. The proof that a report came
from the standby is in its figures: with the standby's replay paused, points awarded on the primary are
missing from the report a lenient app serves (and the report says so: ``read_from`` and an ``as_of``
before the award), while an app whose bound has been passed answers from the primary with them; a
stopped standby sends every report to the primary.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from prometheus_client import REGISTRY
from sqlalchemy.engine import make_url

from service.app import create_app
from service.config import Settings
from service.db import create_engine, create_session_maker
from service.points import service as points
from tests.support.cluster import BIN_DIR, Postgres, as_postgres, binaries_present, own
from tests.support.database import create_test_database, in_thread, need
from tests.support.world import SECRET, World, populate

pytestmark = pytest.mark.postgres

LENIENT_SECONDS = 3600
STRICT_SECONDS = 2
LOAD_CLIENTS = 2


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Pair:
    primary: Postgres
    standby: Postgres
    app_url: str
    standby_url: str


@pytest.fixture(scope="module")
def pair() -> Iterator[Pair]:
    need(
        binaries_present(),
        f"PostgreSQL 15 server binaries not found in {BIN_DIR} (apt-get install postgresql-15)",
    )
    root = Path(tempfile.mkdtemp(prefix="jifen-replica-"))
    own(root)
    primary = Postgres(root / "primary", _free_port())
    standby = Postgres(root / "standby", _free_port())
    try:
        primary.init()
        primary.start()
        standby.standby_of(primary)
        standby.start()
        standby.wait_for("SELECT pg_is_in_recovery()", "t")
        admin = f"postgresql+asyncpg://postgres@127.0.0.1:{primary.port}/postgres"
        _owner, app = in_thread(create_test_database, f"jifen_replica_{uuid.uuid4().hex[:6]}", admin)
        replica = make_url(app).set(port=standby.port).render_as_string(hide_password=False)
        yield Pair(primary, standby, app, str(replica))
    finally:
        standby.stop("immediate")
        primary.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)


def _app(pair: Pair, max_lag_seconds: int) -> Any:
    settings = Settings(
        database_url=pair.app_url,
        replica_url=pair.standby_url,
        replica_max_lag_seconds=max_lag_seconds,
        secret_key=SECRET,
        public_url="http://testserver",
        jobs_interval_seconds=0,
    ).validated()
    return create_app(settings)


def _write_load(primary: Postgres) -> subprocess.Popen[str]:
    """pgbench's tpcb-like transactions on the primary until stopped (a database of their own)."""
    primary.sql("CREATE DATABASE load")
    dsn = f"postgresql://postgres@127.0.0.1:{primary.port}/load"
    as_postgres([str(BIN_DIR / "pgbench"), "-i", "-q", "-s", "1", dsn])
    return subprocess.Popen(
        [str(BIN_DIR / "pgbench"), "-n", "-c", str(LOAD_CLIENTS), "-j", "1", "-T", "300", dsn],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )


def _written(primary: Postgres) -> int:
    return int(primary.sql("SELECT count(*) FROM pgbench_history", database="load"))


async def _award(maker: Any, w: World, amount: int) -> None:
    async with maker() as db:
        await points.award(
            db, community_id=w.cid, member_id=w.members["alice"].id, points=amount, code="checkin",
            idempotency_key=uuid.uuid4().hex,
        )  # fmt: skip
        await db.commit()


async def _report(client: Any, w: World) -> tuple[int, str, datetime]:
    r = await client.get(f"/api/v1/reports?scope=community:{w.cid}", headers=w.h["admin"])
    assert r.status_code == 200, r.text
    body = r.json()
    issued = next(f["total"] for f in body["figures"] if f["key"] == "points_issued")
    return issued, body["read_from"], datetime.fromisoformat(body["as_of"])


def _reads(source: str, reason: str) -> float:
    return REGISTRY.get_sample_value("jifen_report_reads_total", {"source": source, "reason": reason}) or 0.0


async def _until(check: Any, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not await check():
        assert time.monotonic() < deadline, "the standby did not catch up"
        await asyncio.sleep(0.2)


async def test_reports_read_the_standby_under_write_load_and_fall_back(pair: Pair) -> None:
    engine = create_engine(pair.app_url, pool_size=2)
    maker = create_session_maker(engine)
    load = _write_load(pair.primary)
    try:
        async with maker() as db:
            w = await populate(db)
            await db.commit()
        await _award(maker, w, 100)
        written = _written(pair.primary)
        async with (
            AsyncTestClient(app=_app(pair, LENIENT_SECONDS), base_url="http://testserver") as lenient,
            AsyncTestClient(app=_app(pair, STRICT_SECONDS), base_url="http://testserver") as strict,
        ):
            # Caught up (within the strict bound) while pgbench writes: both read the standby.
            async def caught_up() -> bool:
                return (await _report(strict, w))[:2] == (100, "replica")

            await _until(caught_up)
            hours_before = _reads("replica", "fresh")
            r = await lenient.get(
                f"/api/v1/reports/hours?scope=community:{w.cid}&format=csv", headers=w.h["admin"]
            )
            assert r.status_code == 200 and _reads("replica", "fresh") == hours_before + 1

            # The standby stops replaying; 50 more points are committed on the primary.
            pair.standby.sql("SELECT pg_wal_replay_pause()")
            pair.standby.wait_for("SELECT pg_get_wal_replay_pause_state()", "paused")
            paused_at = float(pair.primary.sql("SELECT extract(epoch FROM clock_timestamp())"))
            await _award(maker, w, 50)
            issued, source, as_of = await _report(lenient, w)
            assert (issued, source) == (100, "replica")  # the standby's figures: the 50 are not there
            assert as_of.timestamp() <= paused_at
            page = await lenient.get(f"/reports?scope=community:{w.cid}", headers=w.h["admin"])
            assert page.status_code == 200
            assert 'data-read-from="replica"' in page.text and "数据截至" in page.text
            csv = await lenient.get(
                f"/api/v1/reports/export?scope=community:{w.cid}&format=csv", headers=w.h["admin"]
            )
            assert "数据截至" in csv.content.decode("utf-8-sig")
            alliance = await lenient.get(
                f"/api/v1/reports/alliance?scope=community:{w.cid}", headers=w.h["admin"]
            )
            assert alliance.json()["read_from"] == "replica"

            # Past the strict bound the standby is too stale: that app reads the primary, the 50 included.
            await asyncio.sleep(STRICT_SECONDS + 0.5)
            stale = _reads("primary", "stale")
            issued, source, as_of = await _report(strict, w)
            assert (issued, source) == (150, "primary") and _reads("primary", "stale") == stale + 1

            # Replay resumes: the standby catches up and serves both again, the 50 included.
            pair.standby.sql("SELECT pg_wal_replay_resume()")

            async def resumed() -> bool:
                return (await _report(strict, w))[:2] == (150, "replica")

            await _until(resumed)
            assert (await _report(lenient, w))[:2] == (150, "replica")

            # The standby goes down: reports come from the primary, and keep coming while it rests.
            pair.standby.stop("immediate")
            for _ in range(2):
                started = time.monotonic()
                issued, source, _as_of = await _report(lenient, w)
                assert (issued, source) == (150, "primary")
                assert time.monotonic() - started < 10
            assert _reads("primary", "unavailable") >= 2
        assert _written(pair.primary) > written  # pgbench kept writing on the primary throughout
        assert load.poll() is None
    finally:
        load.terminate()
        load.wait(10)
        await engine.dispose()
