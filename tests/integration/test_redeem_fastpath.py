"""A voucher redemption in one database call (PostgreSQL): the same ledger rows, content hash and
refusals as the ordinary path."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from sqlalchemy import func, select, text

from service.audit import service as audit_service
from service.audit import views as audit_views
from service.audit.models import AuditEvent
from service.errors import DomainError
from service.points import rules as ledger_rules
from service.points import service as points
from service.points.models import Account, Entry, Hold, Lot, Transfer
from service.store import fastpath
from service.store import rules as store_rules
from service.store import service as store
from service.store.models import Product, Voucher

pytestmark = pytest.mark.postgres


async def test_redeem_in_one_call_posts_the_hold_once(client: Any, world: Any, maker: Any) -> None:
    async with maker() as db:
        await points.award(
            db, community_id=world.cid, member_id=world.members["alice"].id, points=300, code="manual_award",
            memo="起始", idempotency_key="fund-alice",
        )  # fmt: skip
        await db.commit()
    body = {"title": '满 50 减 10 "特价"\n', "points": 80}
    offer = (
        await client.post(
            f"/api/v1/partners/{world.partner.id}/offers", json=body, headers=world.h["partner"]
        )
    ).json()
    voucher = (await client.post(f"/api/v1/offers/{offer['id']}/vouchers", headers=world.h["alice"])).json()
    before = dict(fastpath.STATS)

    # another shop's staff and a plain member: refused on the ordinary path, nothing written
    r = await client.post("/api/v1/vouchers/redeem", json={"code": voucher["code"]}, headers=world.h["alice"])
    assert (r.status_code, r.json()["code"]) == (404, "voucher_not_found")
    r = await client.post(
        "/api/v1/vouchers/redeem", json={"code": voucher["code"]}, headers=world.h["partner"]
    )
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["points"], r.json()["member_name"]) == ("redeemed", 80, "a***e")
    assert r.json()["offer"]["title"] == offer["title"]
    r = await client.post(
        "/api/v1/vouchers/redeem", json={"code": voucher["code"]}, headers=world.h["partner"]
    )
    assert (r.status_code, r.json()["code"]) == (409, "voucher_already_redeemed")
    assert fastpath.STATS["redeemed"] == before["redeemed"] + 1
    assert fastpath.STATS["slow"] == before["slow"] + 2

    async with maker() as db:
        posted = list(
            await db.scalars(
                select(Transfer).where(Transfer.community_id == world.cid, Transfer.code != "manual_award")
            )
        )
        assert len(posted) == 1
        t = posted[0]
        legs = [
            (e.account_id, e.points) for e in await db.scalars(select(Entry).where(Entry.transfer_id == t.id))
        ]
        assert t.content_hash == ledger_rules.content_hash(
            "transfer", legs=legs, code=t.code, memo=t.memo, ref_type=t.ref_type, ref_id=t.ref_id
        )
        balance = await points.balance(db, world.cid, world.members["alice"].id)
        assert (balance.available, balance.held, balance.spent) == (220, 0, 80)
        assert (await points.verify(db, world.cid)).ok


async def test_a_redeemed_voucher_is_not_paid_again_while_the_member_has_other_points_held(
    client: Any, world: Any, maker: Any
) -> None:
    """The batch itself refuses a redeemed voucher (its status, its posted hold): with a second voucher's
    points still held, posting the first hold again would fit in the member's account, so no constraint
    of the ledger would stop it. Only one posting, and the second voucher's points stay held."""
    async with maker() as db:
        await points.award(
            db, community_id=world.cid, member_id=world.members["alice"].id, points=300, code="manual_award",
            memo="起始", idempotency_key="fund-alice-twice",
        )  # fmt: skip
        await db.commit()
    offer = (
        await client.post(
            f"/api/v1/partners/{world.partner.id}/offers", json={"title": "两张", "points": 80},
            headers=world.h["partner"],
        )
    ).json()  # fmt: skip
    first, _second = [
        (await client.post(f"/api/v1/offers/{offer['id']}/vouchers", headers=world.h["alice"])).json()
        for _ in range(2)
    ]
    before = dict(fastpath.STATS)
    redeem = {"json": {"code": first["code"]}, "headers": world.h["partner"]}
    r = await client.post("/api/v1/vouchers/redeem", **redeem)
    assert r.status_code == 200, r.text
    again = await client.post("/api/v1/vouchers/redeem", **redeem)
    assert (again.status_code, again.json()["code"]) == (409, "voucher_already_redeemed")
    assert fastpath.STATS["redeemed"] == before["redeemed"] + 1
    async with maker() as db:
        balance = await points.balance(db, world.cid, world.members["alice"].id)
        assert (balance.available, balance.held, balance.spent) == (140, 80, 80)
        paid = await db.scalars(
            select(Transfer).where(Transfer.community_id == world.cid, Transfer.code != "manual_award")
        )
        assert len(list(paid)) == 1
        assert (await points.verify(db, world.cid)).ok


async def test_order_in_one_call_holds_once_and_refusals_keep_their_codes(
    client: Any, world: Any, maker: Any
) -> None:
    async with maker() as db:
        await points.award(
            db, community_id=world.cid, member_id=world.members["alice"].id, points=100, code="manual_award",
            memo="起始", idempotency_key="fund-alice",
        )  # fmt: skip
        await points.account_for(db, world.cid, "store")  # made by the store's first order
        await db.commit()
    body = {"name": "大米 5kg", "points": 30, "stock": 3, "limit_per_member": 2}
    r = await client.post(f"/api/v1/communities/{world.cid}/products", json=body, headers=world.h["clerk"])
    assert r.status_code == 201, r.text
    product = r.json()
    before = dict(fastpath.STATS)

    async def order(quantity: int) -> Any:
        payload = {"product_id": product["id"], "quantity": quantity}
        return await client.post("/api/v1/orders", json=payload, headers=world.h["alice"])

    r = await order(2)
    assert r.status_code == 201, r.text
    assert (r.json()["points"], r.json()["status"]) == (60, "reserved")
    r = await order(1)
    assert (r.status_code, r.json()["code"]) == (409, "limit_reached")
    assert fastpath.STATS["reserved"] == before["reserved"] + 1
    assert fastpath.STATS["slow"] == before["slow"] + 1

    async with maker() as db:
        holds = list(await db.scalars(select(Hold).where(Hold.community_id == world.cid)))
        assert len(holds) == 1 and holds[0].points == 60 and holds[0].status == "pending"
        h = holds[0]
        assert h.content_hash == ledger_rules.content_hash(
            "hold", legs=[(h.account_id, -60), (h.payee_account_id, 60)], code="order", memo=h.memo,
            ref_type="order", ref_id=h.ref_id,
        )  # fmt: skip
        assert h.memo == "大米 5kg x2"
        balance = await points.balance(db, world.cid, world.members["alice"].id)
        assert (balance.available, balance.held) == (40, 60)
        stock = await db.scalar(select(Product.stock).where(Product.id == uuid.UUID(product["id"])))
        assert stock == 1
        assert (await points.verify(db, world.cid)).ok


# ---- group commit (issue 13): concurrent redemptions and orders of a worker in one statement

N = 12


async def _gather_behind_a_lock(
    maker: Any, lock_sql: str, params: dict[str, Any], calls: list[Any]
) -> list[Any]:
    """Run ``calls`` concurrently while another transaction holds the row they all need: the first
    batch waits in the database, the others gather behind it into one batch."""
    async with maker() as blocker:
        await blocker.execute(text(lock_sql), params)
        tasks = [asyncio.ensure_future(c) for c in calls]
        await asyncio.sleep(0.5)
        await blocker.rollback()
    return list(await asyncio.gather(*tasks))


async def _as(maker: Any, work: Any) -> tuple[str, Any]:
    """``work(db)`` in a session of its own (as a request without an Idempotency-Key): its answer or its
    error code."""
    async with maker() as db:
        try:
            result = await work(db)
        except DomainError as exc:
            await db.rollback()
            return "error", exc.code
        await db.commit()
        return "ok", result


async def _fund(maker: Any, world: Any, points_each: int) -> None:
    async with maker() as db:
        await points.award(
            db, community_id=world.cid, member_id=world.members["alice"].id, points=points_each,
            code="manual_award", memo="起始", idempotency_key="fund-alice",
        )  # fmt: skip
        await points.account_for(db, world.cid, "store")
        await db.commit()


async def test_concurrent_redemptions_in_one_batch_a_refused_one_keeps_its_code(
    client: Any, world: Any, maker: Any
) -> None:
    await _fund(maker, world, 10_000)
    body = {"title": "满 50 减 10", "points": 10}
    offer = (
        await client.post(
            f"/api/v1/partners/{world.partner.id}/offers", json=body, headers=world.h["partner"]
        )
    ).json()
    codes = []
    for _ in range(N):
        r = await client.post(f"/api/v1/offers/{offer['id']}/vouchers", headers=world.h["alice"])
        assert r.status_code == 201, r.text
        codes.append(r.json()["code"])
    # an unknown code in the middle, and the first code again at the end
    batch = [*codes[: N // 2], store_rules.new_code(), *codes[N // 2 :], codes[0]]
    fastpath.RECENT.clear()
    before = dict(fastpath.STATS)

    staff = world.actor("partner")

    async def redeem(code: str) -> tuple[str, Any]:
        return await _as(maker, lambda db: store.redeem_voucher(db, staff, code))

    answers = await _gather_behind_a_lock(
        maker,
        "SELECT 1 FROM ledger_accounts WHERE community_id = :c AND kind = 'partner' FOR UPDATE",
        {"c": world.cid},
        [redeem(c) for c in batch],
    )
    assert answers[N // 2] == ("error", "voucher_not_found")
    assert answers[-1] == ("error", "voucher_already_redeemed")
    ok = [a for i, a in enumerate(answers) if i not in (N // 2, len(batch) - 1)]
    assert [a[0] for a in ok] == ["ok"] * N
    assert sorted(a[1].voucher.code for a in ok) == sorted(codes)
    assert fastpath.STATS["redeemed"] == before["redeemed"] + N
    assert any(o.count("ok") > 1 and "slow" in o for o in fastpath.RECENT), fastpath.RECENT

    async with maker() as db:
        posted = list(
            await db.scalars(
                select(Transfer).where(Transfer.community_id == world.cid, Transfer.code != "manual_award")
            )
        )
        assert len(posted) == N  # each voucher's hold posted exactly once
        assert len({t.ref_id for t in posted}) == N
        balance = await points.balance(db, world.cid, world.members["alice"].id)
        assert (balance.held, balance.spent) == (0, 10 * N)
        assert (await points.verify(db, world.cid)).ok
    await _one_event_per_redemption(maker, world, N)


async def _one_event_per_redemption(maker: Any, world: Any, n: int) -> None:
    """Each redemption has exactly one ``voucher_redeemed`` event, by the shop's staff, naming its voucher
    and member; every audit chain verifies whole."""
    async with maker() as db:
        events = list(await db.scalars(select(AuditEvent).where(AuditEvent.action == "voucher_redeemed")))
        redeemed = {
            str(v.id): v for v in await db.scalars(select(Voucher).where(Voucher.status == "redeemed"))
        }
        assert len(events) == len(redeemed) == n
        assert sorted(e.detail["voucher_id"] for e in events) == sorted(redeemed)
        for e in events:
            v = redeemed[e.detail["voucher_id"]]
            assert (e.actor_id, e.subject_member_id, e.community_id) == (
                world.members["partner"].id,
                v.member_id,
                v.community_id,
            )
            assert e.detail == fastpath.redeemed_detail(v)
        for chain in await audit_views.chains(db):
            report = await audit_views.verify_chain(db, chain)
            assert report.ok, (chain, report.problem)


async def test_grouped_redemptions_record_their_audit_events_in_the_batch_s_transaction(
    client: Any, world: Any, maker: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A grouped redemption's event commits with its batch (no transaction of its own afterwards), with
    the caller's address; when the append fails, the batch writes nothing at all and each redemption
    takes the ordinary path, which redeems and records it once."""
    await _fund(maker, world, 1_000)
    offer = (
        await client.post(
            f"/api/v1/partners/{world.partner.id}/offers", json={"title": "理发", "points": 10},
            headers=world.h["partner"],
        )
    ).json()  # fmt: skip
    codes = [
        (await client.post(f"/api/v1/offers/{offer['id']}/vouchers", headers=world.h["alice"])).json()["code"]
        for _ in range(4)
    ]
    staff = world.actor("partner")
    token = audit_service.CLIENT_ADDR.set("203.0.113.7")
    try:
        before = dict(fastpath.STATS)
        recorded: list[int] = []
        real = fastpath.record_many

        async def counted(session: Any, events: Any) -> Any:
            recorded.append(len(events))
            return await real(session, events)

        monkeypatch.setattr(fastpath, "record_many", counted)
        assert (await _as(maker, lambda db: store.redeem_voucher(db, staff, codes[0])))[0] == "ok"
        assert recorded == [1] and fastpath.STATS["redeemed"] == before["redeemed"] + 1

        async def broken(session: Any, events: Any) -> Any:
            await real(session, events)
            raise RuntimeError("the audit append failed")

        monkeypatch.setattr(fastpath, "record_many", broken)
        failed = fastpath.STATS["failed_batches"]
        assert (await _as(maker, lambda db: store.redeem_voucher(db, staff, codes[1])))[0] == "ok"
        assert fastpath.STATS["failed_batches"] == failed + 1
        assert fastpath.STATS["redeemed"] == before["redeemed"] + 1  # the second: the ordinary path's
    finally:
        audit_service.CLIENT_ADDR.reset(token)
    async with maker() as db:
        addrs = list(
            await db.scalars(select(AuditEvent.client_addr).where(AuditEvent.action == "voucher_redeemed"))
        )
        assert addrs == ["203.0.113.7"] * 2
        posted = await db.scalar(select(func.count()).select_from(Transfer).where(Transfer.code == "voucher"))
        assert posted == 2  # the failed batch posted nothing; the ordinary path posted once
        balance = await points.balance(db, world.cid, world.members["alice"].id)
        assert (balance.available, balance.held, balance.spent) == (960, 20, 20)
        assert (await points.verify(db, world.cid)).ok
    await _one_event_per_redemption(maker, world, 2)


async def test_concurrent_orders_in_one_batch_past_the_stock_are_refused_with_their_code(
    client: Any, world: Any, maker: Any
) -> None:
    await _fund(maker, world, 10_000)
    body = {"name": "大米 5kg", "points": 30, "stock": N - 2}
    r = await client.post(f"/api/v1/communities/{world.cid}/products", json=body, headers=world.h["clerk"])
    assert r.status_code == 201, r.text
    product = r.json()
    fastpath.RECENT.clear()

    alice = world.actor("alice")

    async def order() -> tuple[str, Any]:
        return await _as(maker, lambda db: store.reserve_order(db, alice, uuid.UUID(product["id"]), 1))

    answers = await _gather_behind_a_lock(
        maker,
        "SELECT 1 FROM products WHERE id = :p FOR UPDATE",
        {"p": uuid.UUID(product["id"])},
        [order() for _ in range(N)],
    )
    outcomes = sorted(a[1] if a[0] == "error" else "reserved" for a in answers)
    assert outcomes == ["out_of_stock"] * 2 + ["reserved"] * (N - 2), outcomes
    assert any(o.count("ok") > 1 for o in fastpath.RECENT), fastpath.RECENT

    async with maker() as db:
        holds = list(await db.scalars(select(Hold).where(Hold.community_id == world.cid)))
        assert len(holds) == N - 2 and all(h.points == 30 and h.status == "pending" for h in holds)
        balance = await points.balance(db, world.cid, world.members["alice"].id)
        assert balance.held == 30 * (N - 2)
        stock = await db.scalar(select(Product.stock).where(Product.id == uuid.UUID(product["id"])))
        assert stock == 0
        assert (await points.verify(db, world.cid)).ok


@pytest.mark.parametrize(
    ("fund", "limit", "refusal", "reserved"),
    [(10_000, 4, "limit_reached", 4), (150, None, "insufficient_points", 5)],
    ids=["monthly-limit", "points"],
)
async def test_orders_in_one_batch_count_what_the_batch_took_before_them(
    client: Any, world: Any, maker: Any, fund: int, limit: int | None, refusal: str, reserved: int
) -> None:
    """One member's concurrent orders in one batch: the monthly limit and the free points are checked
    against the orders before it in the same batch, and the refused ones keep their codes."""
    await _fund(maker, world, fund)
    body = {"name": "食用油", "points": 30, "stock": 100, "limit_per_member": limit}
    r = await client.post(f"/api/v1/communities/{world.cid}/products", json=body, headers=world.h["clerk"])
    assert r.status_code == 201, r.text
    pid = uuid.UUID(r.json()["id"])
    fastpath.RECENT.clear()
    alice = world.actor("alice")

    async def order() -> tuple[str, Any]:
        return await _as(maker, lambda db: store.reserve_order(db, alice, pid, 1))

    answers = await _gather_behind_a_lock(
        maker, "SELECT 1 FROM products WHERE id = :p FOR UPDATE", {"p": pid}, [order() for _ in range(N)]
    )
    outcomes = sorted(a[1] if a[0] == "error" else "reserved" for a in answers)
    assert outcomes == sorted([refusal] * (N - reserved) + ["reserved"] * reserved), outcomes
    assert any(o.count("ok") > 1 for o in fastpath.RECENT), fastpath.RECENT  # they went as one batch

    async with maker() as db:
        holds = list(
            await db.scalars(select(Hold).where(Hold.community_id == world.cid, Hold.code == "order"))
        )
        assert len(holds) == reserved and all(h.points == 30 and h.status == "pending" for h in holds)
        balance = await points.balance(db, world.cid, world.members["alice"].id)
        assert (balance.available, balance.held) == (fund - 30 * reserved, 30 * reserved)
        assert await db.scalar(select(Product.stock).where(Product.id == pid)) == 100 - reserved
        assert (await points.verify(db, world.cid)).ok


async def test_a_batched_redemption_spends_the_soonest_expiring_points_first(
    client: Any, world: Any, maker: Any
) -> None:
    """Points that never expire were earned first, points that expire in 30 days later: a redemption of
    15 through the batch takes the 10 expiring ones first, then 5 of the others (as ``ledger_post``)."""
    alice = world.members["alice"].id
    async with maker() as db:
        for key, expiry in (("keep", None), ("soon", 30)):
            if expiry is not None:
                await points.set_policy(
                    db, world.actor("admin"), world.cid, expiry_mode="days", expiry_value=expiry
                )
            await points.award(
                db,
                community_id=world.cid,
                member_id=alice,
                points=10,
                code="manual_award",
                idempotency_key=key,
            )
        await db.commit()
    offer = (
        await client.post(
            f"/api/v1/partners/{world.partner.id}/offers",
            json={"title": "洗衣粉", "points": 15},
            headers=world.h["partner"],
        )
    ).json()
    voucher = (await client.post(f"/api/v1/offers/{offer['id']}/vouchers", headers=world.h["alice"])).json()
    before = dict(fastpath.STATS)
    r = await client.post(
        "/api/v1/vouchers/redeem", json={"code": voucher["code"]}, headers=world.h["partner"]
    )
    assert r.status_code == 200, r.text
    assert r.json()["offer"]["partner_name"] == "测试商店"  # read by the batch itself
    assert (
        fastpath.STATS["redeemed"] == before["redeemed"] + 1 and fastpath.STATS["batches"] > before["batches"]
    )

    async with maker() as db:
        lots = list(
            await db.scalars(
                select(Lot).join(Account, Account.id == Lot.account_id).where(Account.member_id == alice)
            )
        )
        left = {("expiring" if lot.expires_at is not None else "never"): lot.remaining for lot in lots}
        assert left == {"expiring": 0, "never": 5}, left
        balance = await points.balance(db, world.cid, alice)
        assert (balance.available, balance.held, balance.spent) == (5, 0, 15)
        assert (await points.verify(db, world.cid)).ok
