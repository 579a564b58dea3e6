"""Browser: the kiosk loses the network for five minutes and keeps showing fresh codes; a volunteer's
phone, online, checks in with the code on the screen; an older screenshot is refused; when the network
returns the kiosk's warning goes away and the count catches up."""

from __future__ import annotations

import re
import time
import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from service import clock
from service.accounts import service as accounts
from service.activities import rules
from service.activities import service as svc
from service.kit import signing
from tests.support.database import seeded
from tests.support.qr import read_qr
from tests.support.world import SECRET, add_person, new_world

pytestmark = pytest.mark.browser
OFFLINE_MS = 5 * 60 * 1000


async def _seed(db: AsyncSession) -> dict[str, Any]:
    world = await new_world(db)
    organizer = await add_person(db, world, "张队长", "15800000002", "organizer")
    red = await add_person(db, world, "陈小红", "15900000001", "member")
    ming = await add_person(db, world, "李小明", "15900000002", "member")
    now = clock.now()
    draft = svc.ActivityDraft(
        "村口义诊", now - timedelta(minutes=10), now + timedelta(hours=2), "per_attendance", 10
    )
    activity = await svc.create_activity(db, world.actor("张队长"), world.cid, draft)
    return {
        "aid": str(activity.id),
        "organizer": accounts.issue_token(organizer, SECRET),
        "red": accounts.issue_token(red, SECRET),
        "ming": accounts.issue_token(ming, SECRET),
    }


@pytest.fixture
def scene(database_url: str) -> dict[str, Any]:
    return seeded(database_url, _seed)


def _changed(page: Any, before: str | None) -> str:
    """The kiosk's code once it differs from ``before`` (the HMAC resolves asynchronously)."""
    for _ in range(100):
        now = page.get_attribute("#kiosk", "data-token")
        if now and now != before:
            return str(now)
        time.sleep(0.02)
    raise AssertionError("the kiosk's code did not change")


def _scan(page: Any) -> str:
    for _ in range(10):
        url = read_qr(page.locator("#kiosk-qr").screenshot())
        if url:
            return url
        time.sleep(0.2)
    raise AssertionError("no QR read from the kiosk")


def test_kiosk_offline_five_minutes_then_a_phone_checks_in(
    live_server: str, browser: Any, phone: Any, scene: dict[str, Any]
) -> None:
    from playwright.sync_api import expect

    ctx = browser.new_context(viewport={"width": 1024, "height": 768}, locale="zh-CN")
    ctx.add_cookies([{"name": "jifen_token", "value": scene["organizer"], "url": live_server}])
    kiosk = ctx.new_page()
    kiosk.clock.install()

    # The kiosk page was rendered five minutes before now (its key and the server's time came then):
    # after five minutes offline its clock is the server's again, so a phone can check in with its code.
    def rendered_earlier(route: Any) -> None:
        response = route.fetch()
        body = re.sub(
            r'data-server-ms="(\d+)"',
            lambda m: f'data-server-ms="{int(m.group(1)) - OFFLINE_MS}"',
            response.text(),
        )
        route.fulfill(response=response, body=body)

    kiosk.route(re.compile(r".*/kiosk/[0-9a-f-]+$"), rendered_earlier)
    kiosk.goto(f"{live_server}/kiosk/{scene['aid']}")
    box = kiosk.locator("#kiosk")
    first = _changed(kiosk, None)
    online_text = kiosk.locator("#kiosk-status").inner_text()
    assert "15" in online_text
    kiosk.wait_for_function("document.getElementById('kiosk-qr').src.startsWith('data:image/')")
    first_url = _scan(kiosk)
    assert first_url == f"{live_server}/c/{first}"

    # The code is made in the page, as the server would make it (WebCrypto here).
    attrs = {
        k: kiosk.get_attribute("#kiosk", f"data-{k}") or "" for k in ("kiosk-id", "valid-until", "kiosk-key")
    }
    key = signing.unb64(attrs["kiosk-key"]) or b""
    expected = rules.make_offline_token(
        uuid.UUID(scene["aid"]), 123, int(attrs["kiosk-id"]), int(attrs["valid-until"]), key
    )
    assert kiosk.evaluate("() => new Promise(r => window.jifenKioskToken(123, r))") == expected

    ctx.set_offline(True)
    seen = {first}
    code = first
    for _ in range(OFFLINE_MS // (rules.KIOSK_STEP_SECONDS * 1000)):
        kiosk.clock.run_for(rules.KIOSK_STEP_SECONDS * 1000)
        code = _changed(kiosk, code)
        seen.add(code)
    assert len(seen) == 21  # a new code every 15 s for five minutes
    expect(box).to_have_class(re.compile(r"\boffline\b"))
    expect(kiosk.locator("#kiosk-status")).to_contain_text("网络已断开")
    expect(kiosk.locator("#kiosk-count")).to_have_text("0")
    kiosk.screenshot(path="/tmp/jifen-kiosk-offline.png")

    # A volunteer whose phone is online scans the kiosk's screen and is checked in.
    url = _scan(kiosk)
    assert url == f"{live_server}/c/{code}"
    phone.add_cookies([{"name": "jifen_token", "value": scene["red"], "url": live_server}])
    red = phone.new_page()
    red.goto(url)
    expect(red.locator("[data-testid=checkin-result] h1")).to_have_attribute("data-status", "checked_in")
    red.screenshot(path="/tmp/jifen-kiosk-offline-phone.png", full_page=True)

    # A photo of the code the kiosk showed five minutes ago checks nobody in.
    other = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN", is_mobile=True)
    other.add_cookies([{"name": "jifen_token", "value": scene["ming"], "url": live_server}])
    ming = other.new_page()
    ming.goto(first_url)
    expect(ming.locator("[data-code=qr_expired]")).to_have_count(1)
    other.close()

    # The network returns: the next poll clears the warning and shows the count.
    ctx.set_offline(False)
    kiosk.clock.run_for(4000)
    expect(kiosk.locator("#kiosk-count")).to_have_text("1", timeout=10_000)
    expect(box).not_to_have_class(re.compile(r"\boffline\b"))
    expect(kiosk.locator("#kiosk-status")).to_have_text(online_text)
    ctx.close()


def test_kiosk_codes_without_webcrypto(live_server: str, browser: Any, scene: dict[str, Any]) -> None:
    """An old tablet's browser without WebCrypto (or a page served over plain HTTP on the LAN) makes
    the same codes with the page's own HMAC-SHA256."""
    ctx = browser.new_context(locale="zh-CN")
    ctx.add_cookies([{"name": "jifen_token", "value": scene["organizer"], "url": live_server}])
    page = ctx.new_page()
    page.add_init_script("Object.defineProperty(window, 'isSecureContext', {value: false});")
    page.goto(f"{live_server}/kiosk/{scene['aid']}")
    assert page.evaluate("window.isSecureContext") is False
    attrs = {
        k: page.get_attribute("#kiosk", f"data-{k}") or "" for k in ("kiosk-id", "valid-until", "kiosk-key")
    }
    key = signing.unb64(attrs["kiosk-key"]) or b""
    for step in (0, 123, 2**31 + 7):
        expected = rules.make_offline_token(
            uuid.UUID(scene["aid"]), step, int(attrs["kiosk-id"]), int(attrs["valid-until"]), key
        )
        got = page.evaluate(f"() => new Promise(r => window.jifenKioskToken({step}, r))")
        assert got == expected
    ctx.close()


def test_kiosk_after_its_key_ends_shows_no_code_and_does_not_reload(
    live_server: str, browser: Any, scene: dict[str, Any]
) -> None:
    from playwright.sync_api import expect

    ctx = browser.new_context(locale="zh-CN")
    ctx.add_cookies([{"name": "jifen_token", "value": scene["organizer"], "url": live_server}])
    page = ctx.new_page()
    page.clock.install()
    loads: list[str] = []
    page.on("load", lambda p: loads.append(p.url))
    page.goto(f"{live_server}/kiosk/{scene['aid']}")
    _changed(page, None)
    assert page.get_attribute("#kiosk", "data-renewable") == "0"  # the key lasts to the activity's end
    page.clock.fast_forward("03:00:00")  # past the end and its 30 minutes' grace
    expect(page.locator("#kiosk-status")).to_contain_text("本屏幕的签到已结束")
    expect(page.locator("#kiosk-qr")).to_be_hidden()
    page.clock.run_for(10_000)
    time.sleep(0.5)
    assert len(loads) == 1  # no reload loop: a new page would get a key that ends at the same time
    ctx.close()
