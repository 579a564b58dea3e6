"""A voucher redemption in one database call (PostgreSQL): the same ledger rows, content hash and
refusals as the ordinary path."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from service.points import rules as ledger_rules
from service.points import service as points
from service.points.models import Entry, Transfer
from service.store import fastpath

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
