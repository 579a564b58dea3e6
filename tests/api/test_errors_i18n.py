"""Errors in the reader's language: the API's ``detail`` follows Accept-Language (or the page's language
cookie) while ``code`` stays English; page visits get an HTML error page, never raw JSON or a bare code."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from service import clock
from tests.support.activities import create_activity as create
from tests.support.activities import freeze_at_step_start
from tests.support.store import stock_of
from tests.support.world import World

ZH = {"Accept-Language": "zh-CN,zh;q=0.9"}
PAGE = {"Accept": "text/html,application/xhtml+xml"}


async def test_a_refusal_speaks_chinese_to_a_chinese_reader_and_keeps_its_code(
    client: Any, world: World
) -> None:
    body = {"pickup_code": "abc"}
    zh = await client.post("/api/v1/orders/pickup", json=body, headers={**world.h["clerk"], **ZH})
    en = await client.post("/api/v1/orders/pickup", json=body, headers=world.h["clerk"])
    assert zh.status_code == en.status_code == 422
    assert zh.json()["code"] == en.json()["code"] == "invalid_code"
    assert zh.json()["detail"] == "取货码是 8 位字母和数字。"
    assert zh.json()["errors"] == [{"field": "pickup_code", "message": "取货码是 8 位字母和数字。"}]
    assert en.json()["detail"] == "A pickup code is 8 letters and digits."


async def test_numbers_are_filled_into_the_translation(client: Any, world: World) -> None:
    r = await client.post(
        f"/api/v1/communities/{world.cid}/products",
        json={"name": "保温杯", "points": 150, "stock": 3},
        headers=world.h["clerk"],
    )
    assert r.status_code == 201, r.text
    product = r.json()["id"]
    order = {"product_id": product, "quantity": 1}
    zh = await client.post("/api/v1/orders", json=order, headers={**world.h["alice"], **ZH})
    assert zh.status_code == 409 and zh.json()["code"] == "insufficient_points"
    assert zh.json()["detail"] == "积分不足：可用 0，需要 150。"
    en = await client.post("/api/v1/orders", json=order, headers=world.h["alice"])
    assert en.json()["detail"] == "Not enough points: 0 available, 150 needed."
    assert await stock_of(client, world, product) == 3  # refused: nothing reserved


async def test_the_language_cookie_wins_over_the_browser(client: Any, world: World) -> None:
    client.cookies.set("jifen_lang", "zh_CN")
    r = await client.post("/api/v1/orders/pickup", json={"pickup_code": "abc"}, headers=world.h["clerk"])
    assert r.json()["detail"] == "取货码是 8 位字母和数字。"
    client.cookies.set("jifen_lang", "en")
    r = await client.post(
        "/api/v1/orders/pickup", json={"pickup_code": "abc"}, headers={**world.h["clerk"], **ZH}
    )
    assert r.json()["detail"] == "A pickup code is 8 letters and digits."
    client.cookies.clear()


async def test_field_names_in_a_detail_are_named_in_chinese(client: Any, world: World) -> None:
    now = clock.now()
    body = {
        "title": "x" * 200,
        "starts_at": now.isoformat(),
        "ends_at": (now + timedelta(hours=1)).isoformat(),
        "points_mode": "per_attendance",
        "points": 5,
    }
    url = f"/api/v1/communities/{world.cid}/activities"
    zh = await client.post(url, json=body, headers={**world.h["organizer"], **ZH})
    assert zh.status_code == 422, zh.text
    assert "标题" in zh.json()["detail"] and "title" not in zh.json()["detail"]
    en = await client.post(url, json=body, headers=world.h["organizer"])
    assert en.json()["detail"].startswith("title")


async def test_validation_messages_are_translated(client: Any, world: World) -> None:
    bad = {"product_id": str(uuid.uuid4()), "quantity": "lots"}
    zh = await client.post("/api/v1/orders", json=bad, headers={**world.h["alice"], **ZH})
    assert zh.status_code == 422 and zh.json()["code"] == "invalid_input"
    assert zh.json()["detail"] == "数量：须填数字"
    assert zh.json()["errors"][0]["field"] == "quantity"  # the field's key stays as the API names it
    en = await client.post("/api/v1/orders", json=bad, headers=world.h["alice"])
    assert en.json()["detail"] == "quantity must be a number."
    missing = await client.post("/api/v1/orders", json={}, headers={**world.h["alice"], **ZH})
    assert "必填" in missing.json()["detail"] and "required field" not in missing.json()["detail"]


async def test_a_mistyped_address_is_a_chinese_page_not_json(client: Any, world: World) -> None:
    r = await client.get("/no-such-page", headers={**PAGE, **world.h["alice"]})
    assert r.status_code == 404 and r.headers["content-type"].startswith("text/html")
    assert "找不到页面" in r.text and '"code"' not in r.text
    api = await client.get("/api/v1/no-such-thing", headers=world.h["alice"])
    assert api.status_code == 404 and api.headers["content-type"].startswith("application/problem+json")
    english = await client.get("/no-such-page?lang=en", headers=PAGE)
    assert english.status_code == 404 and "Page not found" in english.text


async def test_a_page_about_something_missing_explains_it(client: Any, world: World) -> None:
    client.cookies.set("jifen_token", world.h["alice"]["Authorization"].split()[1])
    r = await client.get(f"/activities/{uuid.uuid4()}", headers=PAGE)
    client.cookies.clear()
    assert r.status_code == 404 and "找不到这个活动。" in r.text and "activity_not_found" not in r.text


async def test_a_wrong_method_on_an_api_address_is_explained(client: Any, world: World) -> None:
    r = await client.get("/api/v1/orders/pickup", headers={**world.h["clerk"], **ZH})
    assert r.status_code == 405 and r.json()["code"] == "method_not_allowed"
    assert r.json()["detail"] == "此网址不支持这种操作。"


async def test_a_stale_code_page_says_a_sentence_not_a_code(client: Any, world: World) -> None:
    freeze_at_step_start()
    a = await create(client, world)
    kiosk = (await client.get(f"/api/v1/activities/{a['id']}/kiosk", headers=world.h["organizer"])).json()
    clock.advance(timedelta(seconds=45))
    page = await client.get("/c/" + kiosk["token"], headers=world.h["alice"])
    assert page.status_code == 400 and 'data-code="qr_expired"' in page.text
    visible = page.text.replace('data-code="qr_expired"', "")
    assert "qr_expired" not in visible and "请重新扫描" in visible


async def test_a_fault_on_our_side_is_an_apology_page_not_a_trace(
    client: Any, world: World, monkeypatch: Any
) -> None:
    from service.accounts import service as accounts

    async def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("database on fire")

    monkeypatch.setattr(accounts, "roles_of", broken)
    client.cookies.set("jifen_token", world.h["alice"]["Authorization"].split()[1])
    page = await client.get("/", headers=PAGE)
    client.cookies.clear()
    assert page.status_code == 500 and page.headers["content-type"].startswith("text/html")
    assert "系统出错了" in page.text and "database on fire" not in page.text and "Traceback" not in page.text
    api = await client.get("/api/v1/me", headers={**world.h["alice"], **ZH})  # the API keeps problem+json
    assert api.status_code == 500 and api.headers["content-type"].startswith("application/problem+json")
    assert (api.json()["code"], api.json()["detail"]) == ("internal_error", "服务器出错了，请稍后再试。")
