"""A first scan on SQLite in one hop to the driver's thread: the same row and answer as the ordinary path."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from service import clock
from service.activities import fastpath, rules
from service.activities.models import Attendance
from service.points import service as points
from tests.support.database import BACKEND

pytestmark = pytest.mark.skipif(BACKEND != "sqlite", reason="the SQLite fast path")


async def test_first_scan_in_one_hop_then_the_ordinary_path(client: Any, world: Any, maker: Any) -> None:
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
    aid = r.json()["id"]
    token = (await client.get(f"/api/v1/activities/{aid}/kiosk", headers=world.h["organizer"])).json()[
        "token"
    ]
    before = fastpath.STATS["scans"]

    first = await client.post("/api/v1/checkins", json={"token": token}, headers=world.h["alice"])
    assert first.status_code == 200, first.text
    assert (first.json()["status"], first.json()["points_pending"], first.json()["repeated"]) == (
        "checked_in",
        6,
        False,
    )
    own = await client.post("/api/v1/checkins", json={"token": token}, headers=world.h["organizer"])
    assert own.json()["points_status"] == "awaiting_confirmation"  # an organizer's own attendance
    assert fastpath.STATS["scans"] == before + 2
    outsider = await client.post("/api/v1/checkins", json={"token": token}, headers=world.h["root"] | {})
    assert outsider.status_code == 200  # a platform admin passes every role check
    again = await client.post("/api/v1/checkins", json={"token": token}, headers=world.h["alice"])
    assert again.json()["repeated"] is True

    async with maker() as db:
        att = await db.scalar(
            select(Attendance).where(
                Attendance.activity_id == uuid.UUID(aid), Attendance.member_id == world.members["alice"].id
            )
        )
        assert (
            att is not None and att.status == "in" and att.evidence == "kiosk" and not att.needs_confirmation
        )
        assert abs((att.checked_in_at - now).total_seconds()) < 60

    clock.advance(timedelta(seconds=rules.MIN_STAY_SECONDS + 60))
    token = (await client.get(f"/api/v1/activities/{aid}/kiosk", headers=world.h["organizer"])).json()[
        "token"
    ]
    out = await client.post("/api/v1/checkins", json={"token": token}, headers=world.h["alice"])
    assert (out.json()["status"], out.json()["points_awarded"]) == ("checked_out", 6), out.text
    async with maker() as db:
        assert (await points.verify(db, world.cid)).ok
