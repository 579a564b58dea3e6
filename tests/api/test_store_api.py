"""Points supermarket through the HTTP API: products, orders, pickup codes; refusals change nothing."""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any

from PIL import Image
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from service import clock
from service.jobs import run_jobs_once
from service.store.models import Order
from service.store.rules import CODE_ALPHABET
from tests.support.balances import available_and_held as available
from tests.support.balances import fund
from tests.support.proposals import api_applied
from tests.support.qr import decode_qr
from tests.support.store import make_product, stock_of
from tests.support.world import World


async def order_count(maker: async_sessionmaker[AsyncSession]) -> int:
    async with maker() as db:
        return int(await db.scalar(select(func.count()).select_from(Order)) or 0)


async def test_order_then_pickup_posts_points_once(client: Any, world: World, maker: Any) -> None:
    await fund(maker, world, "alice", 500)
    product = await make_product(client, world, limit_per_member=5)
    r = await client.post(
        "/api/v1/orders", json={"product_id": product["id"], "quantity": 2}, headers=world.h["alice"]
    )
    assert r.status_code == 201, r.text
    order = r.json()
    assert order["status"] == "reserved" and order["points"] == 200
    code = order["pickup_code"]
    assert len(code) == 8 and set(code) <= set(CODE_ALPHABET)
    assert await available(maker, world, "alice") == (300, 200)
    assert await stock_of(client, world, product["id"]) == 1

    # The pickup QR decodes to <public_url>/o/<code>, which opens the order for a clerk.
    qr = await client.get(order["qr_url"], headers=world.h["alice"])
    assert qr.status_code == 200 and qr.headers["content-type"] == "image/png"
    url = decode_qr(qr.content)
    assert url == f"http://testserver/o/{code}"
    page = await client.get(url.removeprefix("http://testserver"), headers=world.h["clerk"])
    assert page.status_code == 200 and code in page.text and "data-fulfil" in page.text

    # A member cannot hand out their own order.
    r = await client.post("/api/v1/orders/pickup", json={"pickup_code": code}, headers=world.h["alice"])
    assert r.status_code == 403
    r = await client.post(
        "/api/v1/orders/pickup", json={"pickup_code": code.lower()}, headers=world.h["clerk"]
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "fulfilled" and r.json()["points"] == 200
    assert await available(maker, world, "alice") == (300, 0)
    # Never twice.
    r = await client.post("/api/v1/orders/pickup", json={"pickup_code": code}, headers=world.h["clerk"])
    assert r.status_code == 409 and r.json()["code"] == "order_already_fulfilled"
    assert await available(maker, world, "alice") == (300, 0)
    r = await client.post(f"/api/v1/orders/{order['id']}/cancel", headers=world.h["alice"])
    assert r.status_code == 409 and r.json()["code"] == "order_already_fulfilled"
    assert await stock_of(client, world, product["id"]) == 1


async def test_refusals_change_nothing(client: Any, world: World, maker: Any) -> None:
    await fund(maker, world, "alice", 250)
    product = await make_product(client, world, stock=2, limit_per_member=1)
    orders_before = await order_count(maker)

    async def order(qty: int, who: str = "alice") -> Any:
        return await client.post(
            "/api/v1/orders", json={"product_id": product["id"], "quantity": qty}, headers=world.h[who]
        )

    r = await order(3)
    assert r.status_code == 409 and r.json()["code"] == "out_of_stock"
    r = await order(2)
    assert r.status_code == 409 and r.json()["code"] == "limit_reached"
    r = await order(1, "bob")  # bob has no points
    assert r.status_code == 409 and r.json()["code"] == "insufficient_points"
    r = await order(0)
    assert r.status_code == 422
    assert await stock_of(client, world, product["id"]) == 2
    assert await available(maker, world, "alice") == (250, 0)
    assert await order_count(maker) == orders_before

    r = await order(1)
    assert r.status_code == 201
    r = await order(1)  # the monthly limit counts the reserved order
    assert r.status_code == 409 and r.json()["code"] == "limit_reached"
    assert await stock_of(client, world, product["id"]) == 1
    assert await available(maker, world, "alice") == (150, 100)
    r = await client.post("/api/v1/orders/pickup", json={"pickup_code": "OOOO0000"}, headers=world.h["clerk"])
    assert r.status_code == 422 and r.json()["code"] == "invalid_code"
    r = await client.post("/api/v1/orders/pickup", json={"pickup_code": "ABCDEFGH"}, headers=world.h["clerk"])
    assert r.status_code == 404 and r.json()["code"] == "order_not_found"


async def test_cancel_and_expiry_return_points_and_stock(client: Any, world: World, maker: Any) -> None:
    await fund(maker, world, "alice", 1000)
    product = await make_product(client, world, stock=5)
    first = (
        await client.post("/api/v1/orders", json={"product_id": product["id"]}, headers=world.h["alice"])
    ).json()
    second = (
        await client.post("/api/v1/orders", json={"product_id": product["id"]}, headers=world.h["alice"])
    ).json()
    assert await stock_of(client, world, product["id"]) == 3
    # Another member may not cancel it.
    r = await client.post(f"/api/v1/orders/{first['id']}/cancel", headers=world.h["bob"])
    assert r.status_code == 403
    r = await client.post(f"/api/v1/orders/{first['id']}/cancel", headers=world.h["alice"])
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    assert await stock_of(client, world, product["id"]) == 4
    assert await available(maker, world, "alice") == (900, 100)
    r = await client.post(f"/api/v1/orders/{first['id']}/cancel", headers=world.h["clerk"])
    assert r.status_code == 409 and r.json()["code"] == "order_cancelled"

    clock.advance(timedelta(days=8))
    r = await client.post(
        "/api/v1/orders/pickup", json={"pickup_code": second["pickup_code"]}, headers=world.h["clerk"]
    )
    assert r.status_code == 409 and r.json()["code"] == "order_expired"
    done = await run_jobs_once(maker)
    assert done.get("store.expire", 0) >= 1
    assert await stock_of(client, world, product["id"]) == 5
    assert await available(maker, world, "alice") == (1000, 0)
    mine = await client.get(f"/api/v1/me/orders?community_id={world.cid}", headers=world.h["alice"])
    assert [o["status"] for o in mine.json()["items"]] == ["expired", "cancelled"]


async def test_order_idempotency_key_replays(client: Any, world: World, maker: Any) -> None:
    await fund(maker, world, "alice", 1000)
    product = await make_product(client, world, stock=5)
    h = {**world.h["alice"], "Idempotency-Key": "order-1"}
    body = {"product_id": product["id"], "quantity": 1}
    a = await client.post("/api/v1/orders", json=body, headers=h)
    b = await client.post("/api/v1/orders", json=body, headers=h)
    assert a.status_code == b.status_code == 201 and a.json() == b.json()
    assert await stock_of(client, world, product["id"]) == 4
    c = await client.post("/api/v1/orders", json={**body, "quantity": 2}, headers=h)
    assert c.status_code == 409 and c.json()["code"] == "idempotency_conflict"
    assert await available(maker, world, "alice") == (900, 100)


async def test_products_clerk_only_and_limit_shown(client: Any, world: World, maker: Any) -> None:
    r = await client.post(
        f"/api/v1/communities/{world.cid}/products",
        json={"name": "食用油", "points": 50, "stock": 1},
        headers=world.h["alice"],
    )
    assert r.status_code == 403
    product = await make_product(client, world, name="洗衣液", limit_per_member=2, category="日用")
    listed = (await client.get(f"/api/v1/communities/{world.cid}/products", headers=world.h["alice"])).json()
    assert listed[0]["my_limit_left"] == 2 and listed[0]["stock"] == 3
    r = await client.patch(
        f"/api/v1/products/{product['id']}", json={"stock_delta": -4}, headers=world.h["clerk"]
    )
    assert r.status_code == 409 and r.json()["code"] == "stock_not_enough"
    r = await client.patch(
        f"/api/v1/products/{product['id']}", json={"stock_delta": 7, "points": 60}, headers=world.h["clerk"]
    )
    # The stock changes at once; a lower price waits for an admin (cheaper goods for points).
    assert r.status_code == 202 and r.json()["proposal"]["after"] == {"points": 60}
    listed = (await client.get(f"/api/v1/communities/{world.cid}/products", headers=world.h["alice"])).json()
    assert listed[0]["stock"] == 10 and listed[0]["points"] == 100
    await api_applied(client, world, r, "admin")
    listed = (await client.get(f"/api/v1/communities/{world.cid}/products", headers=world.h["alice"])).json()
    assert listed[0]["points"] == 60
    r = await client.patch(
        f"/api/v1/products/{product['id']}", json={"active": False}, headers=world.h["clerk"]
    )
    assert r.status_code == 200
    listed = (await client.get(f"/api/v1/communities/{world.cid}/products", headers=world.h["alice"])).json()
    assert listed == []


def _jpeg_with_exif() -> bytes:
    img = Image.new("RGB", (2000, 1000), (200, 30, 40))
    exif = Image.Exif()
    exif[0x010F] = "SecretCam"  # Make
    exif[0x8825] = {2: (39.0, 54.0, 0.0)}  # GPS
    out = io.BytesIO()
    img.save(out, format="JPEG", exif=exif.tobytes())
    return out.getvalue()


async def test_product_image_is_checked_and_reencoded(client: Any, world: World) -> None:
    product = await make_product(client, world)
    url = f"/api/v1/products/{product['id']}/image"
    raw = _jpeg_with_exif()
    assert b"SecretCam" in raw
    r = await client.put(url, content=raw, headers={**world.h["clerk"], "Content-Type": "image/jpeg"})
    assert r.status_code == 200, r.text
    assert r.json()["image_url"].startswith(url)
    image = await client.get(url)
    assert image.status_code == 200 and image.headers["content-type"] == "image/jpeg"
    assert b"SecretCam" not in image.content
    with Image.open(io.BytesIO(image.content)) as got:
        assert max(got.size) <= 1200 and not got.getexif()
    thumb = await client.get(f"/api/v1/products/{product['id']}/thumb")
    with Image.open(io.BytesIO(thumb.content)) as got:
        assert max(got.size) <= 320
    # Multipart works too.
    files = {"image": ("a.png", _png_bytes(), "image/png")}
    r = await client.put(url, files=files, headers=world.h["clerk"])
    assert r.status_code == 200 and r.json()["image_url"].endswith("v=2")
    # Not an image; a member; an empty body.
    r = await client.put(url, content=b"<svg></svg>", headers=world.h["clerk"])
    assert r.status_code == 422 and r.json()["code"] == "invalid_image"
    r = await client.put(url, content=raw[: len(raw) // 2], headers=world.h["clerk"])
    assert r.status_code == 422 and r.json()["code"] == "invalid_image"
    r = await client.put(url, content=raw, headers=world.h["alice"])
    assert r.status_code == 403
    r = await client.put(url, content=b"x" * (6 * 1_048_576), headers=world.h["clerk"])
    assert r.status_code in {413, 422}
    after = await client.get(url)
    assert after.headers["content-type"] == "image/png"


def _png_bytes() -> bytes:
    out = io.BytesIO()
    Image.new("RGBA", (50, 40), (0, 0, 0, 0)).save(out, format="PNG")
    return out.getvalue()


async def test_pages_render_for_each_role(client: Any, world: World, maker: Any) -> None:
    await fund(maker, world, "alice", 500)
    product = await make_product(client, world, name="洗衣液")
    order = (
        await client.post("/api/v1/orders", json={"product_id": product["id"]}, headers=world.h["alice"])
    ).json()
    for path, who in (
        ("/", "alice"),
        ("/store", "alice"),
        ("/orders", "alice"),
        ("/offers", "alice"),
        ("/vouchers", "alice"),
        ("/store/counter", "clerk"),
        ("/admin/store", "clerk"),
        ("/admin/store", "admin"),
        ("/partner", "partner"),
        (f"/o/{order['pickup_code']}", "alice"),
    ):
        r = await client.get(path, headers=world.h[who])
        assert r.status_code == 200, (path, who, r.status_code)
        assert "Traceback" not in r.text
    home = await client.get("/", headers=world.h["alice"])
    assert "待领取订单：1" in home.text
    assert "洗衣液" in (await client.get("/store", headers=world.h["alice"])).text
    assert order["pickup_code"] in (await client.get("/orders", headers=world.h["alice"])).text
    # A stranger's phone learns nothing from a pickup code; the counter is for clerks.
    assert (await client.get(f"/o/{order['pickup_code']}", headers=world.h["bob"])).status_code == 404
    assert (
        await client.get(f"/store/counter?community={world.cid}", headers=world.h["alice"])
    ).status_code == 403
    assert (await client.get("/partner", headers=world.h["alice"])).status_code == 403
    r = await client.get("/store", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")


async def test_openapi_error_lists_come_from_the_declarations(client: Any) -> None:
    from service.accounts import service as accounts
    from service.errors import declared_errors

    doc = (await client.get("/schema/openapi.json")).json()
    reserve = doc["paths"]["/api/v1/orders"]["post"]
    assert "Errors:" not in reserve.get("description", "")
    conflicts = reserve["responses"]["409"]["description"].split(", ")
    assert {"out_of_stock", "limit_reached", "insufficient_points", "idempotency_conflict"} <= set(conflicts)
    assert "product_not_found" in reserve["responses"]["404"]["description"]
    if declared_errors(accounts.require_role):  # the accounts domain declares its refusals
        assert "forbidden" in reserve["responses"]["403"]["description"]
    redeem = doc["paths"]["/api/v1/vouchers/redeem"]["post"]
    assert {"voucher_expired", "voucher_already_redeemed", "voucher_cancelled"} <= set(
        redeem["responses"]["409"]["description"].split(", ")
    )
    settlement = doc["paths"]["/api/v1/partners/{pid}/settlement"]["get"]
    assert "invalid_month" in settlement["responses"]["422"]["description"]
