"""PostgreSQL: concurrent spends, racing retries and a bank of random transfers keep the books right."""

from __future__ import annotations

import asyncio
import random
from datetime import timedelta
from typing import Any

import pytest

from service import clock
from service.errors import DomainError
from service.points import service as points
from tests.support.balances import balance_of as _balance
from tests.support.world import World

pytestmark = pytest.mark.postgres


async def _award(maker: Any, world: World, who: str, n: int, key: str) -> None:
    async with maker() as db:
        await points.award(
            db,
            community_id=world.cid,
            member_id=world.members[who].id,
            points=n,
            code="checkin",
            idempotency_key=key,
        )
        await db.commit()


async def _run(maker: Any, work: Any) -> str:
    """One transaction; returns "ok" or the refusal code (anything else fails the test)."""
    async with maker() as db:
        try:
            await work(db)
            await db.commit()
            return "ok"
        except DomainError as exc:
            await db.rollback()
            return exc.code


async def test_sixteen_spends_of_nine_from_ten_one_wins(world: World, maker: Any) -> None:
    await _award(maker, world, "alice", 10, "seed")
    alice = world.members["alice"].id

    async def spend(db: Any) -> None:
        await points.spend(db, community_id=world.cid, member_id=alice, points=9, payee="store", code="order")

    results = await asyncio.gather(*[_run(maker, spend) for _ in range(16)])
    assert results.count("ok") == 1
    assert results.count("insufficient_points") == 15
    bal = await _balance(maker, world, "alice")
    assert (bal.available, bal.spent) == (1, 9)


async def test_sixteen_holds_then_posts_of_nine_from_ten_one_wins(world: World, maker: Any) -> None:
    await _award(maker, world, "alice", 10, "seed")
    alice = world.members["alice"].id

    async def hold_and_post(db: Any) -> None:
        h = await points.hold(
            db,
            community_id=world.cid,
            member_id=alice,
            points=9,
            payee="store",
            expires_at=clock.now() + timedelta(minutes=10),
            code="order",
            idempotency_key=f"order-{random.random()}",
        )
        await points.post_hold(db, h.hold_id)

    results = await asyncio.gather(*[_run(maker, hold_and_post) for _ in range(16)])
    assert results.count("ok") == 1 and results.count("insufficient_points") == 15
    bal = await _balance(maker, world, "alice")
    assert (bal.available, bal.held, bal.spent) == (1, 0, 9)


async def test_racing_identical_awards_make_one_transfer(world: World, maker: Any) -> None:
    alice = world.members["alice"].id
    replays: list[bool] = []

    async def give(db: Any) -> None:
        r = await points.award(
            db, community_id=world.cid, member_id=alice, points=7, code="checkin", idempotency_key="same"
        )
        replays.append(r.replayed)

    results = await asyncio.gather(*[_run(maker, give) for _ in range(12)])
    assert results == ["ok"] * 12
    assert (await _balance(maker, world, "alice")).available == 7
    async with maker() as db:
        assert (await points.verify(db, world.cid)).ok


async def test_bank_of_random_transfers_conserves_points(world: World, maker: Any) -> None:
    people = ["alice", "bob", "carol", "admin", "clerk"]
    for p in people:
        await _award(maker, world, p, 100, f"seed-{p}")
    rng = random.Random(7)
    holds: list[Any] = []

    async def one(i: int) -> str:
        who, other = rng.sample(people, 2)
        amount = rng.randint(1, 40)
        kind = rng.choice(["transfer", "hold", "post", "void", "spend"])

        async def work(db: Any) -> None:
            mid, oid = world.members[who].id, world.members[other].id
            if kind == "transfer":
                await points.transfer(
                    db, community_id=world.cid, from_member_id=mid, to_member_id=oid, points=amount
                )
            elif kind == "spend":
                await points.spend(
                    db, community_id=world.cid, member_id=mid, points=amount, payee="store", code="order"
                )
            elif kind == "hold" or not holds:
                h = await points.hold(
                    db,
                    community_id=world.cid,
                    member_id=mid,
                    points=amount,
                    payee="partner",
                    payee_partner_id=world.partner.id,
                    expires_at=clock.now() + timedelta(hours=1),
                    code="voucher",
                    idempotency_key=f"h{i}",
                )
                holds.append(h.hold_id)
            elif kind == "post":
                await points.post_hold(db, rng.choice(holds))
            else:
                await points.void_hold(db, rng.choice(holds))

        return await _run(maker, work)

    sem = asyncio.Semaphore(16)

    async def limited(i: int) -> str:
        async with sem:
            return await one(i)

    results = await asyncio.gather(*[limited(i) for i in range(300)])
    assert set(results) <= {"ok", "insufficient_points", "hold_not_pending"}
    assert results.count("ok") > 50
    async with maker() as db:
        report = await points.verify(db, world.cid)
        assert report.ok, report.problems
        total = 0
        for p in people:
            b = await points.balance(db, world.cid, world.members[p].id)
            assert b.available >= 0 and b.held >= 0
            total += b.available + b.held
        store = await points.account_for(db, world.cid, "store")
        partner = await points.account_for(db, world.cid, "partner", partner_id=world.partner.id)
        assert total + store.balance + partner.balance == 500
