"""A close racing queued scans (PostgreSQL): no scan is answered "checked in" and then forgotten.

Before the fix a first scan queued while the organizer closed the activity was answered "checked in"
but stayed ``in`` on the closed activity with no points: the close had read who was still in before
the batch's insert committed. Now the batch (and the ordinary path) key-share lock the activity and a
close locks it first, so each scan is either refused (``activity_not_open``, nothing written) or seen
and paid by the close.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, insert, select, text

from service import clock
from service.accounts.models import Member, Membership
from service.activities import fastpath, rules
from service.activities import service as svc
from service.activities.models import Activity, Attendance
from service.errors import DomainError
from service.points import service as points
from service.points.models import Account

pytestmark = pytest.mark.postgres

N = 32
POINTS = 6


async def _setup(maker: Any, world: Any) -> tuple[list[Member], uuid.UUID, str]:
    members = [
        Member(id=uuid.uuid4(), phone=f"1560000{i:04d}", name=f"r{i}", token_version=0) for i in range(N)
    ]
    async with maker() as db:
        await db.execute(insert(Member), [{"id": m.id, "phone": m.phone, "name": m.name} for m in members])
        await db.execute(
            insert(Membership),
            [{"community_id": world.cid, "member_id": m.id, "role": "member"} for m in members],
        )
        now = clock.now()
        draft = svc.ActivityDraft(
            "垃圾分类宣传", now - timedelta(minutes=5), now + timedelta(hours=2), "per_attendance", POINTS
        )
        a = await svc.create_activity(db, world.actor("organizer"), world.cid, draft)
        for shard in range(points.ISSUANCE_SHARDS):
            await points.account_for(db, world.cid, "issuance", shard=shard)
        for m in members:
            await points.account_for(db, world.cid, "member", m.id)
        await db.commit()
        token = rules.make_token(rules.KIND_POSTER, a.id, a.poster_version, a.secret)
        return members, a.id, token


async def _scan(maker: Any, member: Member, token: str) -> tuple[uuid.UUID, str]:
    async with maker() as db:
        try:
            _actor, result = await svc.check_in_with_login(db, member.id, 0, token)
        except DomainError as exc:
            await db.rollback()
            return member.id, exc.code
        await db.commit()
        return member.id, result.status


async def _outcome(
    maker: Any, world: Any, activity_id: uuid.UUID
) -> tuple[dict[uuid.UUID, Any], dict[Any, int]]:
    async with maker() as db:
        rows = (
            await db.execute(
                select(Attendance.member_id, Attendance.status, Attendance.points).where(
                    Attendance.activity_id == activity_id
                )
            )
        ).all()
        balances = dict(
            (
                await db.execute(
                    select(Account.owner_key, Account.balance).where(
                        Account.community_id == world.cid, Account.kind == "member"
                    )
                )
            ).all()
        )
        status = await db.scalar(select(Activity.status).where(Activity.id == activity_id))
    assert status == "closed"
    return {r.member_id: (r.status, r.points) for r in rows}, balances


def _assert_nothing_forgotten(
    answers: list[tuple[uuid.UUID, str]], rows: dict[Any, Any], balances: Any
) -> None:
    assert not [m for m, (status, _p) in rows.items() if status == "in"], (
        "a scan was left in on a closed activity"
    )
    for member_id, answer in answers:
        balance = balances.get(f"member:{member_id}", 0)
        if answer == "activity_not_open":
            assert member_id not in rows and balance == 0, "a refused scan wrote something"
        else:
            assert answer == "checked_in", answer
            assert rows[member_id] == ("out", POINTS), "a checked-in scan was not paid at the close"
            assert balance == POINTS


async def test_scans_queued_behind_a_close_are_refused_and_write_nothing(world: Any, maker: Any) -> None:
    """Deterministic: the close holds the activity's lock (as close_activity does first) while 32 scans
    queue behind it; it commits having seen nobody; every scan is then refused with nothing written."""
    members, activity_id, token = await _setup(maker, world)
    async with maker() as db:
        await fastpath.activity(db.bind, activity_id)  # the worker's copy says "open"
        activity = await svc.organizer_activity(db, world.actor("organizer"), activity_id, lock=True)
        fastpath.RECENT.clear()
        scans = [asyncio.create_task(_scan(maker, m, token)) for m in members]
        await asyncio.sleep(1.0)  # the batch is in the database, waiting for the activity's lock
        assert not any(t.done() for t in scans), "the scans did not wait for the close"
        await svc._close(db, activity, world.actor("organizer").member_id)
        await db.commit()
    answers = await asyncio.gather(*scans)
    assert fastpath.RECENT, "the scans did not take the batched path"
    rows, balances = await _outcome(maker, world, activity_id)
    assert {a for _m, a in answers} == {"activity_not_open"}
    assert rows == {}
    _assert_nothing_forgotten(answers, rows, balances)


async def test_a_close_racing_32_queued_scans_pays_or_refuses_each(world: Any, maker: Any) -> None:
    """The close fired among 32 concurrent scans: each scan is either refused with nothing written or
    checked in and then checked out and paid by the close; the ledger balances."""
    members, activity_id, token = await _setup(maker, world)
    async with maker() as db:
        await fastpath.activity(db.bind, activity_id)

    async def close() -> None:
        await asyncio.sleep(0.01)
        async with maker() as db:
            await svc.close_activity(db, world.actor("organizer"), activity_id)
            await db.commit()

    results = await asyncio.gather(*(_scan(maker, m, token) for m in members), close())
    answers = [r for r in results if r is not None]
    rows, balances = await _outcome(maker, world, activity_id)
    _assert_nothing_forgotten(answers, rows, balances)
    async with maker() as db:
        total = await db.scalar(select(func.sum(Account.balance)).where(Account.community_id == world.cid))
        issued = await db.scalar(text("SELECT count(*) FROM ledger_transfers WHERE code = 'checkin'"))
    assert total == 0, "points were created from nothing"
    assert issued == sum(1 for status, _p in rows.values() if status == "out")
