"""Browser: a volunteer's personal code page (390 px, Chinese) shows a QR that reads back as exactly the
signed code the API gives; the printed member card's QR reads back as its signed code's URL."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from service.accounts import service as accounts
from service.kit import signing
from tests.support.database import seeded
from tests.support.qr import read_qr
from tests.support.world import SECRET, add_person, new_world

pytestmark = pytest.mark.browser


async def _seed(db: AsyncSession) -> dict[str, Any]:
    world = await new_world(db)
    red = await add_person(db, world, "陈小红", "15900000001", "member")
    return {"red": accounts.issue_token(red, SECRET), "cid": str(world.cid)}


@pytest.fixture
def scene(database_url: str) -> dict[str, Any]:
    return seeded(database_url, _seed)


def _read(locator: Any) -> str:
    for _ in range(5):
        text = read_qr(locator.screenshot())
        if text:
            return text
    return ""


def test_personal_code_and_card_qr(live_server: str, phone: Any, scene: dict[str, Any]) -> None:
    from playwright.sync_api import expect

    headers = {"Authorization": f"Bearer {scene['red']}"}
    code = httpx.get(f"{live_server}/api/v1/me/code", headers=headers).json()["code"]
    card = httpx.get(f"{live_server}/api/v1/me/card?community_id={scene['cid']}", headers=headers).json()
    phone.add_cookies([{"name": "jifen_token", "value": scene["red"], "url": live_server}])
    page = phone.new_page()
    response = page.goto(f"{live_server}/me/code")
    assert response is not None and "max-age" in (response.headers.get("cache-control") or "")
    expect(page.locator("h1")).to_have_text("我的签到码")
    expect(page.locator("[data-testid=personal-code]")).to_have_attribute("data-code", code)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # nothing sticks out sideways
    page.screenshot(path="/tmp/jifen-personal-code.png", full_page=True)
    assert _read(page.locator(".card-qr svg")) == code and len(code) == signing.CODE_CHARS
    page.goto(f"{live_server}/me/card")
    assert _read(page.locator(".card-qr svg")) == card["url"] == f"{live_server}/m/{card['code']}"
    page.screenshot(path="/tmp/jifen-member-card.png", full_page=True)
