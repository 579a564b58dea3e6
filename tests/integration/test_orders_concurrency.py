"""Races on PostgreSQL: never oversold, never over-spent, never fulfilled or redeemed twice."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from service.accounts.actor import Actor
from service.points import service as points
from service.store import service as store
from service.store.models import Offer, Order, Product, Voucher
from tests.support.race import race
from tests.support.world import World, add_person

pytestmark = pytest.mark.postgres


async def _fund(
    maker: async_sessionmaker[AsyncSession], world: World, member_id: uuid.UUID, amount: int
) -> None:
    async with maker() as db, db.begin():
        await points.award(
            db,
            community_id=world.cid,
            member_id=member_id,
            points=amount,
            code="test",
            idempotency_key=f"fund-{uuid.uuid4()}",
        )


async def _people(maker: async_sessionmaker[AsyncSession], world: World, n: int, amount: int) -> list[Actor]:
    actors = []
    async with maker() as db:
        for i in range(n):
            m = await add_person(db, world, f"racer{i}", f"1350000{i:04d}", "member")
            actors.append(Actor(m.id, m.name, m.phone))
        await db.commit()
    for a in actors:
        await _fund(maker, world, a.member_id, amount)
    return actors


async def _product(
    maker: async_sessionmaker[AsyncSession], world: World, stock: int, price: int
) -> uuid.UUID:
    async with maker() as db, db.begin():
        p = await store.create_product(
            db,
            world.actor("clerk"),
            world.cid,
            name=f"大米 {uuid.uuid4().hex[:4]}",
            points_price=price,
            stock=stock,
        )
        return p.id


async def _held(
    maker: async_sessionmaker[AsyncSession], world: World, actors: list[Actor]
) -> tuple[int, int]:
    async with maker() as db:
        bs = [await points.balance(db, world.cid, a.member_id) for a in actors]
        return sum(b.available for b in bs), sum(b.held for b in bs)


async def test_thirty_members_race_for_seven(world: World, maker: async_sessionmaker[AsyncSession]) -> None:
    racers = await _people(maker, world, 30, 500)
    pid = await _product(maker, world, stock=7, price=120)

    def order(actor: Actor) -> Callable[[AsyncSession], Awaitable[Any]]:
        return lambda db: store.reserve_order(db, actor, pid, 1)

    outcome = await race(maker, [order(a) for a in racers])
    assert outcome == Counter({"ok": 7, "out_of_stock": 23})
    async with maker() as db:
        assert await db.scalar(select(Product.stock).where(Product.id == pid)) == 0
        assert await db.scalar(select(func.count()).select_from(Order).where(Order.product_id == pid)) == 7
    assert await _held(maker, world, racers) == (30 * 500 - 7 * 120, 7 * 120)


async def test_one_member_sixteen_orders_small_balance(
    world: World, maker: async_sessionmaker[AsyncSession]
) -> None:
    (member,) = await _people(maker, world, 1, 250)
    products = [await _product(maker, world, stock=5, price=200) for _ in range(8)]
    jobs = [(lambda db, pid=products[i % 8]: store.reserve_order(db, member, pid, 1)) for i in range(16)]
    outcome = await race(maker, jobs)
    assert outcome == Counter({"ok": 1, "insufficient_points": 15})
    async with maker() as db:
        stocks = list(await db.scalars(select(Product.stock).where(Product.id.in_(products))))
        assert sorted(stocks) == [4] + [5] * 7
        assert await db.scalar(select(func.count()).select_from(Order)) == 1
    assert await _held(maker, world, [member]) == (50, 200)


async def test_pickup_and_redeem_races_happen_once(
    world: World, maker: async_sessionmaker[AsyncSession]
) -> None:
    (member,) = await _people(maker, world, 1, 1000)
    pid = await _product(maker, world, stock=5, price=100)
    async with maker() as db, db.begin():
        order = await store.reserve_order(db, member, pid, 1)
        offer = await store.create_offer(
            db, world.actor("partner"), world.partner.id, title="九折", points_price=50
        )
    async with maker() as db, db.begin():
        voucher = await store.claim_voucher(db, member, offer.id)
    clerk, staff = world.actor("clerk"), world.actor("partner")
    picked = await race(maker, [lambda db: store.pickup_order(db, clerk, order.pickup_code)] * 8)
    assert picked["ok"] == 1 and sum(picked.values()) == 8
    cancelled = await race(maker, [lambda db: store.cancel_order(db, member, order.id)] * 4)
    assert cancelled == Counter({"order_already_fulfilled": 4})
    redeemed = await race(maker, [lambda db: store.redeem_voucher(db, staff, voucher.code)] * 8)
    assert redeemed == Counter({"ok": 1, "voucher_already_redeemed": 7})
    async with maker() as db:
        b = await points.balance(db, world.cid, member.member_id)
        assert (b.available, b.held) == (850, 0)
        assert await db.scalar(select(Product.stock).where(Product.id == pid)) == 4


async def test_voucher_quota_race(world: World, maker: async_sessionmaker[AsyncSession]) -> None:
    racers = await _people(maker, world, 20, 100)
    async with maker() as db, db.begin():
        offer = await store.create_offer(
            db, world.actor("partner"), world.partner.id, title="免费理发", points_price=60, quota_total=5
        )
    outcome = await race(maker, [(lambda db, a=a: store.claim_voucher(db, a, offer.id)) for a in racers])
    assert outcome == Counter({"ok": 5, "offer_sold_out": 15})
    async with maker() as db:
        assert await db.scalar(select(Offer.claimed_count).where(Offer.id == offer.id)) == 5
        assert await db.scalar(select(func.count()).select_from(Voucher)) == 5
    assert await _held(maker, world, racers) == (20 * 100 - 5 * 60, 5 * 60)
