"""PostgreSQL: the same offline queue uploaded several times at once (a scanner retrying while its first
upload is still running, or two tabs) applies each scan once; two scanners that both saw the same
people arrive give one attendance each and a conflict for the other."""

from __future__ import annotations

import asyncio
import secrets
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from service import clock
from service.accounts import service as accounts
from service.accounts.actor import Actor
from service.accounts.models import Member
from service.activities import codes, offline
from service.activities import service as svc
from service.activities.models import Attendance, OfflineScan
from service.points import service as points
from service.points.models import Transfer
from tests.support.world import World

pytestmark = pytest.mark.postgres
PEOPLE = 20
UPLOADS = 4


async def _setup(maker: async_sessionmaker[AsyncSession], world: World) -> tuple[Any, list[Actor], list[str]]:
    rows = [accounts.ImportRow(i, f"17{i:09d}", f"志愿者{i}") for i in range(PEOPLE)]
    now = clock.now()
    draft = svc.ActivityDraft(
        "村口义诊", now - timedelta(hours=1), now + timedelta(hours=1), "per_attendance", 8
    )
    async with maker() as db, db.begin():
        await accounts.import_members(db, world.cid, rows)
        people = [
            Actor(m.id, m.name, m.phone)
            for m in await db.scalars(select(Member).where(Member.phone.like("17%")).order_by(Member.phone))
        ]
        activity = await svc.create_activity(db, world.actor("organizer"), world.cid, draft)
        texts = [await codes.card_code(db, "", await svc.member_card(db, p, world.cid)) for p in people]
    return activity, people, texts


async def _upload(
    maker: async_sessionmaker[AsyncSession], world: World, device: str, scans: list[offline.ScanIn]
) -> list[offline.SyncResult]:
    async with maker() as db, db.begin():
        return await offline.sync_scans(db, world.actor("organizer"), "", device, scans)


async def _state(
    maker: async_sessionmaker[AsyncSession], world: World, people: list[Actor]
) -> dict[str, Any]:
    async with maker() as db:
        return {
            "attendances": await db.scalar(select(func.count(Attendance.id))),
            "outs": await db.scalar(select(func.count(Attendance.id)).where(Attendance.status == "out")),
            "rows": await db.scalar(select(func.count(OfflineScan.id))),
            "transfers": await db.scalar(select(func.count(Transfer.id))),
            "balances": [(await points.balance(db, world.cid, p.member_id)).available for p in people],
            "verified": (await points.verify(db, world.cid)).ok,
        }


async def test_the_same_queue_uploaded_at_once_applies_each_scan_once(
    maker: async_sessionmaker[AsyncSession], world: World
) -> None:
    activity, people, texts = await _setup(maker, world)
    now = clock.now()
    queue = [
        offline.ScanIn(secrets.token_hex(16), activity.id, t, now - timedelta(minutes=50)) for t in texts
    ]
    queue += [
        offline.ScanIn(secrets.token_hex(16), activity.id, t, now - timedelta(minutes=20)) for t in texts
    ]
    answers = await asyncio.gather(*(_upload(maker, world, "door-1", queue) for _ in range(UPLOADS)))
    for i, scan in enumerate(queue):
        statuses = sorted(a[i].status for a in answers)
        assert statuses == ["applied"] + ["duplicate"] * (UPLOADS - 1), (scan.nonce, statuses)
    state = await _state(maker, world, people)
    assert state["attendances"] == state["outs"] == PEOPLE and state["rows"] == 2 * PEOPLE
    assert state["balances"] == [8] * PEOPLE and state["verified"]
    again = await _upload(maker, world, "door-1", list(reversed(queue)))
    assert {r.status for r in again} == {"duplicate"}
    assert await _state(maker, world, people) == state


async def test_two_scanners_at_once_one_attendance_and_one_conflict_each(
    maker: async_sessionmaker[AsyncSession], world: World
) -> None:
    activity, people, texts = await _setup(maker, world)
    at = clock.now() - timedelta(minutes=30)
    doors = {
        door: [offline.ScanIn(secrets.token_hex(16), activity.id, t, at) for t in texts]
        for door in ("door-1", "door-2")
    }
    one, two = await asyncio.gather(*(_upload(maker, world, door, scans) for door, scans in doors.items()))
    for a, b in zip(one, two, strict=True):
        assert sorted([a.status, b.status]) == ["applied", "refused"]
        assert {a.code, b.code} == {None, "scan_conflict"}
        assert a.attendance_id == b.attendance_id is not None
    state = await _state(maker, world, people)
    assert state["attendances"] == PEOPLE and state["rows"] == 2 * PEOPLE and state["verified"]
    async with maker() as db:
        conflicts = await db.scalar(
            select(func.count(OfflineScan.id)).where(OfflineScan.status == "conflict")
        )
    assert conflicts == PEOPLE
