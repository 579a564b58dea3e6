"""Races at a region's unit on PostgreSQL (issue 20): residents of two communities of the street claim
at once against monthly quotas, the unit's staff redeem at once, and each community's ledger still
balances on its own afterwards (conservation per community, ``verify`` clean)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from service.accounts.actor import Actor
from service.points.models import Account
from service.store import service as store
from service.store.models import Voucher
from tests.support.alliance import assert_conserved, make_street, new_residents, unit_offer
from tests.support.race import race
from tests.support.world import World

pytestmark = pytest.mark.postgres


@pytest.mark.parametrize("quota", ["monthly_quota", "quota_total"])
async def test_twenty_claims_on_a_quota_of_ten_give_exactly_ten(
    world: World, maker: async_sessionmaker[AsyncSession], quota: str
) -> None:
    s = await make_street(maker, world)
    residents = await new_residents(maker, s, 20)
    oid = await unit_offer(maker, s, points_price=40, **{quota: 10})
    outcome = await race(maker, [(lambda db, a=a: store.claim_voucher(db, a, oid)) for _cid, a in residents])
    assert outcome == Counter({"ok": 10, "offer_sold_out": 10})
    async with maker() as db:
        assert await db.scalar(select(func.count()).select_from(Voucher).where(Voucher.offer_id == oid)) == 10
    await assert_conserved(maker, s.world.cid, s.jianlan)


async def test_each_community_balances_after_concurrent_claims_and_redemptions(
    world: World, maker: async_sessionmaker[AsyncSession]
) -> None:
    s = await make_street(maker, world)
    residents = await new_residents(maker, s, 16)
    oids = [
        await unit_offer(maker, s, points_price=30),
        await unit_offer(maker, s, title="推拿", points_price=45),
    ]
    claimed = await race(
        maker,
        [
            (lambda db, a=a, i=i: store.claim_voucher(db, a, oids[i % 2]))
            for i, (_cid, a) in enumerate(residents)
        ],
    )
    assert claimed == Counter({"ok": 16})
    staff = s.people["staff"]
    actor = Actor(staff.id, staff.name, staff.phone)
    async with maker() as db:
        codes = list(await db.scalars(select(Voucher.code)))
    # Every code redeemed twice at once: each exactly once; half the members give theirs back meanwhile.
    async with maker() as db:
        vouchers = list(await db.scalars(select(Voucher)))
    jobs: list[Callable[[AsyncSession], Awaitable[Any]]] = [
        (lambda db, c=c: store.redeem_voucher(db, actor, c)) for c in codes for _ in range(2)
    ]
    jobs += [
        (lambda db, v=v, a=a: store.cancel_voucher(db, a, v.id))
        for v in vouchers[::2]
        for _cid, a in residents
        if a.member_id == v.member_id
    ]
    outcome = await race(maker, jobs)
    async with maker() as db:
        statuses = Counter(await db.scalars(select(Voucher.status)))
        earned = {
            cid: int(b)
            for cid, b in await db.execute(
                select(Account.community_id, Account.balance).where(Account.partner_id == s.unit_id)
            )
        }
        redeemed = {
            cid: int(p)
            for cid, p in await db.execute(
                select(Voucher.community_id, func.sum(Voucher.points))
                .where(Voucher.status == "redeemed")
                .group_by(Voucher.community_id)
            )
        }
    assert statuses["redeemed"] + statuses["cancelled"] == 16 and outcome["ok"] == 16
    assert {
        c: b for c, b in earned.items() if b
    } == redeemed  # the unit earned per community what it redeemed
    await assert_conserved(maker, s.world.cid, s.jianlan)
