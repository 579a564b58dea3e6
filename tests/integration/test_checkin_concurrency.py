"""PostgreSQL: a crowd checking into one activity at once gives one attendance each, no errors."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from service import clock
from service.accounts import service as accounts
from service.accounts.actor import Actor
from service.accounts.models import Member
from service.activities import rules
from service.activities import service as svc
from service.activities.models import Attendance
from service.errors import DomainError
from service.points import service as points
from tests.support.world import World

pytestmark = pytest.mark.postgres
CROWD = 200


async def crowd(maker: async_sessionmaker[AsyncSession], world: World, n: int) -> list[Actor]:
    rows = [accounts.ImportRow(i, f"15{i:09d}", f"志愿者{i}") for i in range(n)]
    async with maker() as db, db.begin():
        await accounts.import_members(db, world.cid, rows)
        members = list(await db.scalars(select(Member).where(Member.phone.like("15%"))))
    return [Actor(m.id, m.name, m.phone) for m in members]


async def activity(maker: async_sessionmaker[AsyncSession], world: World, **kw: Any) -> tuple[Any, str]:
    now = clock.now()
    draft = svc.ActivityDraft(
        "大扫除", now - timedelta(minutes=5), now + timedelta(hours=1), "per_attendance", 5, **kw
    )
    async with maker() as db, db.begin():
        a = await svc.create_activity(db, world.actor("organizer"), world.cid, draft)
        token = (await svc.kiosk_code(db, world.actor("organizer"), a.id, "http://testserver")).token
    return a, token


async def scan(maker: async_sessionmaker[AsyncSession], actor: Actor, token: str) -> str:
    try:
        async with maker() as db, db.begin():
            return (await svc.check_in(db, actor, token)).status
    except DomainError as exc:
        return exc.code


async def test_crowd_checks_in_once_each_with_points_once(
    maker: async_sessionmaker[AsyncSession], world: World
) -> None:
    people = await crowd(maker, world, CROWD)
    a, token = await activity(maker, world)
    # Everyone scans twice at the same moment (a double tap): still one attendance and one award each.
    results = await asyncio.gather(*[scan(maker, p, token) for p in people + people])
    assert set(results) == {"checked_in"}
    async with maker() as db:
        n = await db.scalar(select(func.count()).where(Attendance.activity_id == a.id))
        distinct = await db.scalar(
            select(func.count(func.distinct(Attendance.member_id))).where(Attendance.activity_id == a.id)
        )
        assert n == distinct == CROWD
        balances = [(await points.balance(db, world.cid, p.member_id)).available for p in people[:20]]
    assert balances == [0] * 20  # nothing posts at check-in
    # After the minimum stay everyone scans out, again twice at once: the points post once each.
    clock.advance(timedelta(seconds=rules.MIN_STAY_SECONDS))
    async with maker() as db:
        token = (await svc.kiosk_code(db, world.actor("organizer"), a.id, "http://testserver")).token
    results = await asyncio.gather(*[scan(maker, p, token) for p in people + people])
    assert results.count("checked_out") == CROWD and results.count("already_checked_out") == CROWD
    async with maker() as db:
        balances = [(await points.balance(db, world.cid, p.member_id)).available for p in people[:20]]
    assert balances == [5] * 20


async def test_capacity_holds_under_a_crowd(maker: async_sessionmaker[AsyncSession], world: World) -> None:
    people = await crowd(maker, world, 60)
    a, token = await activity(maker, world, capacity=40)
    results = await asyncio.gather(*[scan(maker, p, token) for p in people])
    assert results.count("checked_in") == 40 and results.count("activity_full") == 20
    async with maker() as db:
        assert await db.scalar(select(func.count()).where(Attendance.activity_id == a.id)) == 40
