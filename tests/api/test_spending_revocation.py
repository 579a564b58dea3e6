"""Spending checks revocation at once: a login ended in another worker (its token version bumped in the
database while this worker's cache still trusts the old one) can no longer order, claim a voucher or
redeem one, batched or not; nothing is written."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select, update

from service.accounts.models import Member
from service.points import service as points
from service.points.models import Hold, Transfer
from service.store.models import Order, Voucher
from tests.support.store import make_offer, make_product


async def _fund(maker: Any, world: Any, who: str, amount: int) -> None:
    async with maker() as db:
        await points.award(
            db, community_id=world.cid, member_id=world.members[who].id, points=amount, code="manual_award",
            idempotency_key=f"fund-{who}",
        )  # fmt: skip
        await db.commit()


async def _end_login_elsewhere(maker: Any, world: Any, who: str) -> None:
    """What a logout or a password reset in another worker does to the member row (this worker's cache
    of token versions is not told)."""
    async with maker() as db:
        await db.execute(
            update(Member)
            .where(Member.id == world.members[who].id)
            .values(token_version=Member.token_version + 1)
        )
        await db.commit()


async def _counts(maker: Any) -> tuple[int, int, int, int]:
    async with maker() as db:
        return (
            int(await db.scalar(select(func.count()).select_from(Order)) or 0),
            int(await db.scalar(select(func.count()).select_from(Voucher)) or 0),
            int(await db.scalar(select(func.count()).select_from(Hold).where(Hold.status == "pending")) or 0),
            int(await db.scalar(select(func.count()).select_from(Transfer)) or 0),
        )


@pytest.mark.parametrize("key", [None, "revoked-1"], ids=["batched", "in-a-transaction"])
async def test_orders_and_voucher_claims_refuse_an_ended_login(
    client: Any, world: Any, maker: Any, key: Any
) -> None:
    await _fund(maker, world, "alice", 500)
    product = await make_product(client, world, points=20, stock=5)
    offer = await make_offer(client, world, points=30)
    h = dict(world.h["alice"])
    r = await client.post("/api/v1/orders", json={"product_id": product["id"], "quantity": 1}, headers=h)
    assert r.status_code == 201, r.text  # the login works, and the worker now caches its version
    await _end_login_elsewhere(maker, world, "alice")
    before = await _counts(maker)
    if key:
        h["Idempotency-Key"] = key
    r = await client.post("/api/v1/orders", json={"product_id": product["id"], "quantity": 1}, headers=h)
    assert (r.status_code, r.json()["code"]) == (401, "token_revoked")
    if key:
        h["Idempotency-Key"] = key + "-claim"
    r = await client.post(f"/api/v1/offers/{offer['id']}/vouchers", headers=h)
    assert (r.status_code, r.json()["code"]) == (401, "token_revoked")
    assert await _counts(maker) == before


@pytest.mark.parametrize("key", [None, "revoked-2"], ids=["batched", "in-a-transaction"])
async def test_a_shop_whose_login_ended_cannot_redeem(client: Any, world: Any, maker: Any, key: Any) -> None:
    await _fund(maker, world, "alice", 500)
    offer = await make_offer(client, world, points=30)
    first = (await client.post(f"/api/v1/offers/{offer['id']}/vouchers", headers=world.h["alice"])).json()
    second = (await client.post(f"/api/v1/offers/{offer['id']}/vouchers", headers=world.h["alice"])).json()
    h = dict(world.h["partner"])
    r = await client.post("/api/v1/vouchers/redeem", json={"code": first["code"]}, headers=h)
    assert r.status_code == 200, r.text
    await _end_login_elsewhere(maker, world, "partner")
    before = await _counts(maker)
    if key:
        h["Idempotency-Key"] = key
    r = await client.post("/api/v1/vouchers/redeem", json={"code": second["code"]}, headers=h)
    assert (r.status_code, r.json()["code"]) == (401, "token_revoked")
    assert await _counts(maker) == before
    async with maker() as db:
        status = await db.scalar(select(Voucher.status).where(Voucher.code == second["code"]))
    assert status == "issued"
