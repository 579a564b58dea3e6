"""The fast paths: liveness without the database, readiness with it, check-ins that read the
database once before writing, and points posted by the one-round-trip engine."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from litestar.testing import AsyncTestClient
from sqlalchemy import func, select, update

from service import clock
from service.accounts.models import Member
from service.activities import fastpath
from service.activities.models import Attendance
from service.activities.rules import MIN_STAY_SECONDS
from service.app import create_app
from service.config import Settings
from service.points import rules
from service.points import service as points
from service.points.models import Entry, Transfer
from tests.support.world import World


async def _activity(client: Any, world: World) -> dict[str, Any]:
    now = clock.now()
    body = {
        "title": "河道清理",
        "starts_at": (now - timedelta(minutes=5)).isoformat(),
        "ends_at": (now + timedelta(hours=2)).isoformat(),
        "points_mode": "per_attendance",
        "points": 6,
    }
    r = await client.post(
        f"/api/v1/communities/{world.cid}/activities", json=body, headers=world.h["organizer"]
    )
    assert r.status_code == 201, r.text
    return dict(r.json())


async def _kiosk(client: Any, world: World, aid: str) -> str:
    r = await client.get(f"/api/v1/activities/{aid}/kiosk", headers=world.h["organizer"])
    return str(r.json()["token"])


async def _attendances(maker: Any, aid: str) -> int:
    async with maker() as db:
        return int(await db.scalar(select(func.count()).where(Attendance.activity_id == uuid.UUID(aid))) or 0)


async def test_liveness_and_readiness(client: Any) -> None:
    live = await client.get("/healthz")
    ready = await client.get("/readyz")
    assert live.status_code == ready.status_code == 200
    assert live.json()["status"] == ready.json()["status"] == "ok"
    assert ready.json()["database"] in {"sqlite", "postgresql"}


async def test_check_in_posts_points_once_and_the_ledger_verifies(
    client: Any, world: World, maker: Any
) -> None:
    a = await _activity(client, world)
    token = await _kiosk(client, world, a["id"])
    first = await client.post("/api/v1/checkins", json={"token": token}, headers=world.h["alice"])
    again = await client.post("/api/v1/checkins", json={"token": token}, headers=world.h["alice"])
    assert first.status_code == again.status_code == 200, first.text
    # Nothing posts at check-in (scan-and-walk-away); the repeat only reports the status.
    assert (first.json()["points_awarded"], first.json()["points_pending"]) == (0, 6)
    assert (again.json()["repeated"], again.json()["points_awarded"]) == (True, 0)
    clock.advance(timedelta(seconds=MIN_STAY_SECONDS + 60))
    token = await _kiosk(client, world, a["id"])
    out = await client.post("/api/v1/checkins", json={"token": token}, headers=world.h["alice"])
    assert (out.json()["status"], out.json()["points_awarded"]) == ("checked_out", 6), out.text
    bal = await client.get(f"/api/v1/me/balance?community_id={world.cid}", headers=world.h["alice"])
    assert bal.json()["available"] == 6
    async with maker() as db:
        assert (await points.verify(db, world.cid)).ok
        n = await db.scalar(
            select(func.count()).where(Transfer.community_id == world.cid, Transfer.code == "checkin")
        )
        assert n == 1


async def test_a_login_revoked_elsewhere_cannot_check_in(client: Any, world: World, maker: Any) -> None:
    """Revocation is checked in the check-in's own query: no per-worker cache delays it."""
    a = await _activity(client, world)
    token = await _kiosk(client, world, a["id"])
    ok = await client.get("/api/v1/me", headers=world.h["alice"])  # warms this worker's token cache
    assert ok.status_code == 200
    async with maker() as db, db.begin():  # as another worker's logout would
        await db.execute(
            update(Member)
            .where(Member.id == world.members["alice"].id)
            .values(token_version=Member.token_version + 1)
        )
    r = await client.post("/api/v1/checkins", json={"token": token}, headers=world.h["alice"])
    assert r.status_code == 401 and r.json()["code"] == "token_revoked"
    assert await _attendances(maker, a["id"]) == 0
    bal = await client.get(f"/api/v1/me/balance?community_id={world.cid}", headers=world.h["bob"])
    assert bal.status_code == 200


async def test_check_in_with_a_bad_token_or_no_role_changes_nothing(
    client: Any, world: World, maker: Any
) -> None:
    a = await _activity(client, world)
    token = await _kiosk(client, world, a["id"])
    forged = world.h["alice"]["Authorization"][:-4] + "AAAA"
    r = await client.post("/api/v1/checkins", json={"token": token}, headers={"Authorization": forged})
    assert r.status_code == 401 and r.json()["code"] == "token_invalid"
    r = await client.post("/api/v1/checkins", json={"token": token})
    assert r.status_code == 401 and r.json()["code"] == "not_authenticated"
    r = await client.post("/api/v1/checkins", json={"token": "x" * len(token)}, headers=world.h["alice"])
    assert r.status_code == 400 and r.json()["code"] == "qr_invalid"
    assert await _attendances(maker, a["id"]) == 0


async def test_years_expiry_and_hash_chain_match_the_python_rules(db: Any, world: World) -> None:
    """The engine (PL/pgSQL on PostgreSQL) dates lots and chains entries exactly as rules.py does."""
    moment = datetime(2026, 12, 31, 17, 30, 0, 123456, tzinfo=UTC)  # already 2027 in Shanghai
    clock.set_now(moment)
    await points.set_policy(db, world.actor("admin"), world.cid, expiry_mode="years", expiry_value=1)
    result = await points.award(
        db,
        community_id=world.cid,
        member_id=world.members["alice"].id,
        points=5,
        code="checkin",
        memo='跨年志愿 | "quoted" \\ line\nbreak',
        idempotency_key="years-1",
    )
    entries = list(await db.scalars(select(Entry).where(Entry.transfer_id == result.transfer_id)))
    credit = next(e for e in entries if e.points > 0)
    expected = rules.expiry_for(moment, "years", 1, ZoneInfo("Asia/Shanghai"))
    assert credit.expires_at == expected == datetime(2028, 1, 1, tzinfo=ZoneInfo("Asia/Shanghai"))
    for e in entries:
        assert e.created_at == moment
        assert e.hash == rules.entry_hash(
            e.prev_hash,
            entry_id=e.id,
            community_id=e.community_id,
            transfer_id=e.transfer_id,
            account_id=e.account_id,
            points=e.points,
            seq=e.seq,
            expires_at=e.expires_at,
            created_at=e.created_at,
        )
    assert (await points.verify(db, world.cid)).ok
    bal = await points.balance(db, world.cid, world.members["alice"].id)
    assert (bal.available, bal.earned) == (5, 5)


async def test_the_apps_fast_paths_setting_decides_the_path_of_a_scan(
    client: Any, world: World, maker: Any, settings: Settings
) -> None:
    """``JIFEN_FAST_PATHS=0`` (``Settings.fast_paths``) sends a scan on the ordinary path, same answer."""
    a = await _activity(client, world)
    token = await _kiosk(client, world, a["id"])
    slow_app = create_app(dataclasses.replace(settings, fast_paths=False))
    before = fastpath.STATS["scans"]
    async with AsyncTestClient(app=slow_app, base_url="http://testserver") as slow:
        r = await slow.post("/api/v1/checkins", json={"token": token}, headers=world.h["alice"])
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "checked_in"
    assert fastpath.STATS["scans"] == before  # the batch never saw it
    r = await client.post("/api/v1/checkins", json={"token": token}, headers=world.h["bob"])
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "checked_in"
    assert fastpath.STATS["scans"] == before + 1  # the default app's scan went through the batch
    assert await _attendances(maker, a["id"]) == 2
