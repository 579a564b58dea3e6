"""Partner alliance through the HTTP API: offers, vouchers, redemption by the right shop only, settlement."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from service import clock
from service.jobs import run_jobs_once
from service.store.models import Voucher
from tests.support.balances import available_and_held as available
from tests.support.balances import fund
from tests.support.proposals import api_applied
from tests.support.qr import decode_qr
from tests.support.store import claim_voucher as claim
from tests.support.store import make_offer
from tests.support.world import World, add_person


async def voucher_rows(maker: Any) -> list[tuple[str, str]]:
    async with maker() as db:
        return [(v.code, v.status) for v in await db.scalars(select(Voucher).order_by(Voucher.id))]


async def other_partner(maker: Any, world: World) -> Any:
    from service.accounts import service as accounts

    async with maker() as db:
        shop = await accounts.create_partner(db, world.root, world.cid, "隔壁药店")
        await add_person(db, world, "pharmacist", "13800000055", "partner", shop.id)
        await db.commit()
    return shop


async def test_claim_redeem_once_with_masked_name(client: Any, world: World, maker: Any) -> None:
    await fund(maker, world, "alice", 300)
    offer = await make_offer(client, world, limit_per_member=2, quota_total=10)
    listed = (await client.get(f"/api/v1/communities/{world.cid}/offers", headers=world.h["alice"])).json()
    assert [o["id"] for o in listed] == [offer["id"]] and listed[0]["quota_left"] == 10
    r = await claim(client, world, offer)
    assert r.status_code == 201, r.text
    voucher = r.json()
    assert voucher["status"] == "issued"
    assert await available(maker, world, "alice") == (220, 80)
    # Valid for 30 minutes by default.
    assert voucher["expires_at"] > (clock.now() + timedelta(minutes=29)).isoformat()[:16]

    # The voucher QR decodes to <public_url>/v/<code>; the shop's staff open it and see a redeem button.
    qr = await client.get(voucher["qr_url"], headers=world.h["alice"])
    url = decode_qr(qr.content)
    assert url == f"http://testserver/v/{voucher['code']}"
    page = await client.get(url.removeprefix("http://testserver"), headers=world.h["partner"])
    assert page.status_code == 200 and "data-redeem" in page.text

    r = await client.post("/api/v1/vouchers/redeem", json={"code": url}, headers=world.h["partner"])
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "redeemed" and body["points"] == 80
    assert body["offer"]["title"] == "满 50 减 10" and body["member_name"] == "a***e"
    assert await available(maker, world, "alice") == (220, 0)
    r = await client.post(
        "/api/v1/vouchers/redeem", json={"code": voucher["code"]}, headers=world.h["partner"]
    )
    assert r.status_code == 409 and r.json()["code"] == "voucher_already_redeemed"
    assert await available(maker, world, "alice") == (220, 0)


async def test_another_partner_cannot_see_or_redeem(client: Any, world: World, maker: Any) -> None:
    await fund(maker, world, "alice", 300)
    await other_partner(maker, world)
    offer = await make_offer(client, world)
    voucher = (await claim(client, world, offer)).json()
    before = await voucher_rows(maker)
    for who in ("pharmacist", "bob", "clerk"):
        r = await client.post("/api/v1/vouchers/redeem", json={"code": voucher["code"]}, headers=world.h[who])
        assert r.status_code in {403, 404}, (who, r.text)
        assert r.json()["code"] in {"voucher_not_found", "forbidden"}
    assert await voucher_rows(maker) == before
    assert await available(maker, world, "alice") == (220, 80)
    page = await client.get(f"/v/{voucher['code']}", headers=world.h["pharmacist"])
    assert page.status_code == 404
    r = await client.get(f"/api/v1/partners/{world.partner.id}/vouchers", headers=world.h["pharmacist"])
    assert r.status_code == 403
    r = await client.get(f"/api/v1/partners/{world.partner.id}/settlement", headers=world.h["pharmacist"])
    assert r.status_code == 403
    r = await client.post(
        f"/api/v1/partners/{world.partner.id}/offers",
        json={"title": "x", "points": 1},
        headers=world.h["pharmacist"],
    )
    assert r.status_code == 403
    # The right shop's staff still can.
    r = await client.post(
        "/api/v1/vouchers/redeem", json={"code": voucher["code"]}, headers=world.h["partner"]
    )
    assert r.status_code == 200


async def test_quota_limit_and_balance_refusals(client: Any, world: World, maker: Any) -> None:
    await fund(maker, world, "alice", 1000)
    await fund(maker, world, "bob", 50)
    offer = await make_offer(client, world, quota_total=2, limit_per_member=1)
    assert (await claim(client, world, offer)).status_code == 201
    r = await claim(client, world, offer)
    assert r.status_code == 409 and r.json()["code"] == "limit_reached"
    r = await claim(client, world, offer, "bob")
    assert r.status_code == 409 and r.json()["code"] == "insufficient_points"
    assert await available(maker, world, "bob") == (50, 0)
    await fund(maker, world, "carol", 100)
    assert (await claim(client, world, offer, "carol")).status_code == 201
    await fund(maker, world, "bob", 100)
    r = await claim(client, world, offer, "bob")
    assert r.status_code == 409 and r.json()["code"] == "offer_sold_out"
    assert await available(maker, world, "bob") == (150, 0)
    assert len(await voucher_rows(maker)) == 2


async def test_expired_voucher_releases_hold_and_quota(client: Any, world: World, maker: Any) -> None:
    await fund(maker, world, "alice", 100)
    offer = await make_offer(client, world, quota_total=1, voucher_minutes=10)
    voucher = (await claim(client, world, offer)).json()
    clock.advance(timedelta(minutes=11))
    r = await client.post(
        "/api/v1/vouchers/redeem", json={"code": voucher["code"]}, headers=world.h["partner"]
    )
    assert r.status_code == 409 and r.json()["code"] == "voucher_expired"
    assert await available(maker, world, "alice") == (20, 80)
    await run_jobs_once(maker)
    assert await available(maker, world, "alice") == (100, 0)
    assert await voucher_rows(maker) == [(voucher["code"], "expired")]
    # The quota place came back.
    assert (await claim(client, world, offer)).status_code == 201


async def test_member_gives_voucher_back(client: Any, world: World, maker: Any) -> None:
    await fund(maker, world, "alice", 100)
    offer = await make_offer(client, world)
    voucher = (await claim(client, world, offer)).json()
    r = await client.post(f"/api/v1/vouchers/{voucher['id']}/cancel", headers=world.h["bob"])
    assert r.status_code == 404
    r = await client.post(f"/api/v1/vouchers/{voucher['id']}/cancel", headers=world.h["alice"])
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    assert await available(maker, world, "alice") == (100, 0)
    r = await client.post(
        "/api/v1/vouchers/redeem", json={"code": voucher["code"]}, headers=world.h["partner"]
    )
    assert r.status_code == 409 and r.json()["code"] == "voucher_cancelled"


async def test_settlement_json_and_excel_csv(client: Any, world: World, maker: Any) -> None:
    await fund(maker, world, "alice", 1000)
    r = await client.put(
        f"/api/v1/communities/{world.cid}/store-settings", json={"fen_per_point": 5}, headers=world.h["admin"]
    )
    r = await api_applied(client, world, r)  # a point worth more fen waits for a second admin
    assert r.status_code == 200 and r.json()["after"]["fen_per_point"] == 5
    offer = await make_offer(client, world, points=120)
    for _ in range(3):
        code = (await claim(client, world, offer)).json()["code"]
        assert (
            await client.post("/api/v1/vouchers/redeem", json={"code": code}, headers=world.h["partner"])
        ).status_code == 200
    (await claim(client, world, offer)).json()  # issued, not redeemed: not on the statement
    month = clock.now().astimezone(ZoneInfo(world.community.timezone)).strftime("%Y-%m")
    r = await client.get(
        f"/api/v1/partners/{world.partner.id}/settlement?month={month}", headers=world.h["partner"]
    )
    assert r.status_code == 200
    st = r.json()
    assert (st["count"], st["points"], st["yuan"]) == (3, 360, "18.00")
    assert len(st["items"]) == 3 and st["items"][0]["member_name"] == "a***e"
    r = await client.get(
        f"/api/v1/partners/{world.partner.id}/settlement?month={month}&format=csv",
        headers={**world.h["admin"], "Accept-Language": "zh-CN,zh;q=0.9"},
    )
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    assert r.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert rows[0][:4] == ["核销时间", "券码", "优惠", "积分"]  # the reader's language
    assert len(rows) == 5 and rows[-1][3] == "360" and rows[-1][5] == "18.00"
    assert rows[-1][0].endswith("合计")
    english = await client.get(
        f"/api/v1/partners/{world.partner.id}/settlement?month={month}&format=csv",
        headers={**world.h["admin"], "Accept-Language": "en"},
    )
    head = next(csv.reader(io.StringIO(english.content.decode("utf-8-sig"))))
    assert head[:4] == ["Redeemed at", "Voucher code", "Offer", "Points"]
    report = await client.get(
        f"/api/v1/communities/{world.cid}/partner-report?month={month}", headers=world.h["admin"]
    )
    assert report.status_code == 200 and report.json()["points"] == 360
    r = await client.get(f"/api/v1/communities/{world.cid}/partner-report", headers=world.h["partner"])
    assert r.status_code == 403
    r = await client.get(
        f"/api/v1/partners/{world.partner.id}/settlement?month=2026-13", headers=world.h["admin"]
    )
    assert r.status_code == 422 and r.json()["code"] == "invalid_month"
    # Last month is empty.
    r = await client.get(
        f"/api/v1/partners/{world.partner.id}/settlement?month=2001-01", headers=world.h["admin"]
    )
    assert r.json()["count"] == 0


async def test_voucher_claim_idempotent(client: Any, world: World, maker: Any) -> None:
    await fund(maker, world, "alice", 1000)
    offer = await make_offer(client, world)
    h = {**world.h["alice"], "Idempotency-Key": "v-1"}
    a = await client.post(f"/api/v1/offers/{offer['id']}/vouchers", headers=h)
    b = await client.post(f"/api/v1/offers/{offer['id']}/vouchers", headers=h)
    assert a.status_code == b.status_code == 201 and a.json() == b.json()
    async with maker() as db:
        assert await db.scalar(select(func.count()).select_from(Voucher)) == 1
    assert await available(maker, world, "alice") == (920, 80)
