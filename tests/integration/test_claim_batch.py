"""Voucher claims in set-based batches on PostgreSQL (issue 20, item 5): concurrent claims outside a
transaction go together as one call of ``store_claim_batch`` (group commit), inside one as a batch of one.
Quotas and limits hold exactly, refused claims change nothing (balances, rows, audit log), each
community's ledger balances on its own and ``ledger verify`` is clean; a batch that cannot write writes
nothing at all."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from service.accounts.actor import Actor
from service.accounts.models import Community, Partner
from service.audit.models import AuditEvent
from service.points import service as points
from service.points.models import Account, Entry, Hold
from service.store import fastpath
from service.store import rules as store_rules
from service.store import service as store
from service.store.models import Offer, Voucher
from tests.support.alliance import Street, assert_conserved, fund_in, make_street, new_residents, unit_offer
from tests.support.race import Job, race
from tests.support.world import World

pytestmark = pytest.mark.postgres

Maker = async_sessionmaker[AsyncSession]


async def _grouped(
    maker: Maker, jobs: list[Job], *, in_transaction: Callable[[int], bool] = lambda i: False
) -> Counter[str]:
    """:func:`race`, each job outside a transaction (grouped into batches) unless ``in_transaction(i)``."""
    return await race(maker, jobs, in_transaction=in_transaction)


async def _residents(maker: Any, s: Street, n: int, amount: int = 100) -> list[tuple[uuid.UUID, Actor]]:
    return await new_residents(maker, s, n, amount, phones="1330000")


async def _unit_accounts(maker: Maker, s: Street) -> None:
    """The unit's account in both communities (the first claim would make it, on the ordinary path)."""
    async with maker() as db:
        for cid in (s.world.cid, s.jianlan):
            await points.account_for(db, cid, "partner", partner_id=s.unit_id)
        await db.commit()


async def _state(maker: Maker, *cids: uuid.UUID) -> dict[str, Any]:
    """What a user would notice: every balance, voucher, hold, entry, offer count and audit event."""
    async with maker() as db:
        balances = sorted(
            (str(a.owner_key), a.balance, a.held)
            for a in await db.scalars(select(Account).where(Account.community_id.in_(cids)))
        )
        return {
            "balances": balances,
            "vouchers": await db.scalar(select(func.count()).select_from(Voucher)),
            "holds": await db.scalar(select(func.count()).select_from(Hold)),
            "entries": await db.scalar(select(func.count()).select_from(Entry)),
            "claimed": sorted(await db.scalars(select(Offer.claimed_count))),
            "audit": await db.scalar(select(func.count()).select_from(AuditEvent)),
        }


def _batches_from_now() -> int:
    """Start counting the batches' outcomes (``fastpath.RECENT`` keeps the last 64: empty it first)."""
    fastpath.RECENT.clear()
    return 0


def _grouped_since(recent_before: int) -> list[list[str]]:
    return fastpath.RECENT[recent_before:]


@pytest.mark.parametrize("quota", ["quota_total", "monthly_quota", "unit_monthly_quota"])
async def test_twenty_grouped_claims_on_a_quota_of_ten_give_exactly_ten(
    world: World, maker: Maker, quota: str
) -> None:
    s = await make_street(maker, world)
    residents = await _residents(maker, s, 20)
    await _unit_accounts(maker, s)
    fields = {} if quota == "unit_monthly_quota" else {quota: 10}
    oid = await unit_offer(maker, s, points_price=40, **fields)
    if quota == "unit_monthly_quota":
        async with maker() as db:
            await db.execute(update(Partner).where(Partner.id == s.unit_id).values(monthly_quota=10))
            await db.commit()
    audit_before = (await _state(maker, s.world.cid, s.jianlan))["audit"]
    before, batches_before = dict(fastpath.STATS), _batches_from_now()
    outcome = await _grouped(
        maker, [(lambda db, a=a: store.claim_voucher(db, a, oid)) for _cid, a in residents]
    )
    assert outcome == Counter({"ok": 10, "offer_sold_out": 10})
    assert fastpath.STATS["claimed"] - before["claimed"] == 10  # every success was a batch's
    assert any(len(b) > 1 for b in _grouped_since(batches_before)), "no claims went together"
    async with maker() as db:
        vouchers = list(await db.scalars(select(Voucher).where(Voucher.offer_id == oid)))
        claimed = await db.scalar(select(Offer.claimed_count).where(Offer.id == oid))
        held = {
            a.member_id: (a.balance - a.held, a.held)
            for a in await db.scalars(select(Account).where(Account.kind == "member", Account.held > 0))
        }
    assert len(vouchers) == 10 and claimed == 10
    assert len({v.code for v in vouchers}) == 10 and len({v.member_id for v in vouchers}) == 10
    assert held == {v.member_id: (60, 40) for v in vouchers}  # each winner's 40 held, the losers' free
    # each voucher is paid by its member's own community
    by_member = {a.member_id: cid for cid, a in residents}
    assert all(v.community_id == by_member[v.member_id] for v in vouchers)
    assert (await _state(maker, s.world.cid, s.jianlan))["audit"] == audit_before
    await assert_conserved(maker, s.world.cid, s.jianlan)


async def test_a_member_s_limits_hold_under_concurrency(world: World, maker: Maker) -> None:
    """One resident taps 兑换 twelve times on an offer of three a month and on one of two ever, half the
    taps with an Idempotency-Key (a batch of one each), half grouped: exactly three and two."""
    s = await make_street(maker, world)
    ((cid, member),) = await _residents(maker, s, 1, amount=1000)
    await _unit_accounts(maker, s)
    monthly = await unit_offer(maker, s, title="免费测血压", points_price=10, member_month_limit=3)
    ever = await unit_offer(maker, s, title="推拿", points_price=20, limit_per_member=2)
    for oid, ok in ((monthly, 3), (ever, 2)):
        outcome = await _grouped(
            maker,
            [(lambda db, oid=oid: store.claim_voucher(db, member, oid)) for _ in range(12)],
            in_transaction=lambda i: i % 2 == 0,
        )
        assert outcome == Counter({"ok": ok, "limit_reached": 12 - ok})
    async with maker() as db:
        assert Counter(await db.scalars(select(Voucher.offer_id))) == Counter({monthly: 3, ever: 2})
        b = await points.balance(db, cid, member.member_id)
    assert (b.available, b.held) == (1000 - 3 * 10 - 2 * 20, 3 * 10 + 2 * 20)
    await assert_conserved(maker, s.world.cid, s.jianlan)


async def test_points_short_under_concurrency(world: World, maker: Maker) -> None:
    """100 points, six claims of 30 at once: three vouchers, three ``insufficient_points``."""
    (alice,) = [world.actor("alice")]
    await fund_in(maker, world.cid, alice.member_id, 100)
    async with maker() as db:
        offer = await store.create_offer(
            db, world.actor("partner"), world.partner.id, title="洗衣", points_price=30
        )
        await points.account_for(db, world.cid, "partner", partner_id=world.partner.id)
        await db.commit()
    outcome = await _grouped(maker, [(lambda db: store.claim_voucher(db, alice, offer.id)) for _ in range(6)])
    assert outcome == Counter({"ok": 3, "insufficient_points": 3})
    async with maker() as db:
        b = await points.balance(db, world.cid, alice.member_id)
        assert (b.available, b.held) == (10, 90)
        assert await db.scalar(select(Offer.claimed_count).where(Offer.id == offer.id)) == 3
    await assert_conserved(maker, world.cid)


async def test_refused_claims_change_nothing(world: World, maker: Maker) -> None:
    """Sold out, over the limit, points short, closed, of another community, a revoked login: each
    refused with its code, grouped together in one batch, and balances, rows and the audit log are as
    before."""
    s = await make_street(maker, world)
    residents = await _residents(maker, s, 4, amount=50)
    await _unit_accounts(maker, s)
    full = await unit_offer(maker, s, title="已领完", points_price=10, quota_total=1)
    limited = await unit_offer(maker, s, title="每月一次", points_price=10, member_month_limit=1)
    dear = await unit_offer(maker, s, title="太贵", points_price=60)
    closed = await unit_offer(maker, s, title="已下架", points_price=10)
    first, second = residents[0][1], residents[1][1]
    async with maker() as db:
        await store.claim_voucher(db, first, full)
        await store.claim_voucher(db, second, limited)
        await db.execute(update(Offer).where(Offer.id == closed).values(active=False))
        await db.commit()
    async with maker() as db:
        shop_offer = await store.create_offer(
            db, world.actor("partner"), world.partner.id, title="本社区", points_price=5
        )
        await db.commit()
    jl = s.people["jl"]
    outsider = Actor(jl.id, jl.name, jl.phone)  # of 建兰: the world's community's own shop is not theirs
    revoked = Actor(first.member_id, first.name, first.phone, token_version=99)
    before = await _state(maker, s.world.cid, s.jianlan)
    jobs: list[tuple[Job, str]] = [
        (lambda db: store.claim_voucher(db, second, full), "offer_sold_out"),
        (lambda db: store.claim_voucher(db, second, limited), "limit_reached"),
        (lambda db: store.claim_voucher(db, first, dear), "insufficient_points"),
        (lambda db: store.claim_voucher(db, first, closed), "offer_not_open"),
        (lambda db: store.claim_voucher(db, outsider, shop_offer.id), "forbidden"),
        (lambda db: store.claim_voucher(db, first, uuid.uuid4()), "offer_not_found"),
        (lambda db: store.claim_voucher(db, revoked, limited), "token_revoked"),
    ]
    slow_before = fastpath.STATS["slow"]
    outcome = await _grouped(maker, [job for job, _ in jobs])
    assert outcome == Counter(code for _, code in jobs)
    assert fastpath.STATS["slow"] - slow_before == len(jobs)
    assert await _state(maker, s.world.cid, s.jianlan) == before
    await assert_conserved(maker, s.world.cid, s.jianlan)


async def test_a_batch_that_cannot_write_writes_nothing(
    world: World, maker: Maker, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A voucher code taken meanwhile fails the batch's insert: nothing of the batch is written (no hold,
    no claim counted), and each claim is then decided on the ordinary path, which draws a free code."""
    alice, bob = world.actor("alice"), world.actor("bob")
    for who in (alice, bob):
        await fund_in(maker, world.cid, who.member_id, 100)
    async with maker() as db:
        offer = await store.create_offer(
            db, world.actor("partner"), world.partner.id, title="理发", points_price=30
        )
        await db.commit()
    async with maker() as db:
        taken = (await store.claim_voucher(db, alice, offer.id)).code
        await db.commit()
    codes = iter([taken])
    real = store_rules.new_code
    monkeypatch.setattr(store_rules, "new_code", lambda: next(codes, None) or real())
    before, failed = dict(fastpath.STATS), fastpath.STATS["slow"]
    outcome = await _grouped(maker, [lambda db: store.claim_voucher(db, bob, offer.id)])
    assert outcome == Counter({"ok": 1})
    assert fastpath.STATS["claimed"] == before["claimed"] and fastpath.STATS["slow"] == failed + 1
    async with maker() as db:
        vouchers = list(await db.scalars(select(Voucher).where(Voucher.offer_id == offer.id)))
        assert len(vouchers) == 2 and len({v.code for v in vouchers}) == 2
        assert await db.scalar(select(Offer.claimed_count).where(Offer.id == offer.id)) == 2
        assert await db.scalar(select(func.count()).select_from(Hold)) == 2
        b = await points.balance(db, world.cid, bob.member_id)
        assert (b.available, b.held) == (70, 30)
    await assert_conserved(maker, world.cid)


async def test_one_batch_of_two_time_zones_keeps_the_monthly_quota(world: World, maker: Maker) -> None:
    """Residents of two communities whose months begin at different instants (建兰 on UTC here) claim the
    last voucher of the month in ONE batch: each claim counts the other's under its own month, one wins."""
    s = await make_street(maker, world)
    residents = await _residents(maker, s, 2)
    await _unit_accounts(maker, s)
    async with maker() as db:
        await db.execute(update(Community).where(Community.id == s.jianlan).values(timezone="UTC"))
        await db.commit()
    oid = await unit_offer(maker, s, points_price=10, monthly_quota=1)
    batches_before = _batches_from_now()
    outcome = await _grouped(
        maker, [(lambda db, a=a: store.claim_voucher(db, a, oid)) for _cid, a in residents]
    )
    assert outcome == Counter({"ok": 1, "offer_sold_out": 1})
    assert ["ok", "slow"] in _grouped_since(batches_before) or ["slow", "ok"] in _grouped_since(
        batches_before
    )
    async with maker() as db:
        assert await db.scalar(select(func.count()).select_from(Voucher).where(Voucher.offer_id == oid)) == 1
    await assert_conserved(maker, s.world.cid, s.jianlan)
