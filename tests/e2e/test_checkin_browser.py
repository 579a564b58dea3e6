"""Browser: the organizer shows the kiosk QR, a volunteer's phone scans it, logs in and is checked in."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from service import clock
from service.accounts import service as accounts
from service.activities import service as svc
from tests.support.database import seeded
from tests.support.qr import read_qr
from tests.support.world import SECRET, add_person, new_world

pytestmark = pytest.mark.browser
PASSWORD = "volunteer-pass-1"


async def _seed(db: AsyncSession) -> dict[str, Any]:
    world = await new_world(db)
    organizer = await add_person(db, world, "张队长", "15800000002", "organizer")
    assert world.root is not None
    volunteer = await accounts.add_member(db, world.root, world.cid, "15900000001", "陈小红", PASSWORD)
    now = clock.now()
    draft = svc.ActivityDraft(
        "社区大扫除", now - timedelta(minutes=10), now + timedelta(hours=2), "per_attendance", 10
    )
    activity = await svc.create_activity(db, world.actor("张队长"), world.cid, draft)
    return {
        "aid": str(activity.id),
        "organizer_token": accounts.issue_token(organizer, SECRET),
        "volunteer_phone": volunteer.phone,
    }


@pytest.fixture
def scene(database_url: str) -> dict[str, Any]:
    return seeded(database_url, _seed)


def test_kiosk_scan_login_checkin(live_server: str, browser: Any, phone: Any, scene: dict[str, Any]) -> None:
    from playwright.sync_api import expect

    kiosk_ctx = browser.new_context(viewport={"width": 1024, "height": 768}, locale="zh-CN")
    kiosk_ctx.add_cookies([{"name": "jifen_token", "value": scene["organizer_token"], "url": live_server}])
    kiosk = kiosk_ctx.new_page()
    kiosk.goto(f"{live_server}/kiosk/{scene['aid']}")
    qr = kiosk.locator("#kiosk-qr")
    expect(qr).to_be_visible()
    kiosk.wait_for_function("document.getElementById('kiosk-qr').naturalWidth > 0")
    kiosk.screenshot(path="/tmp/jifen-kiosk.png")
    # A phone camera retries until it reads a frame; a screenshot taken while the image swaps may not decode.
    url = ""
    for _ in range(10):
        url = read_qr(qr.screenshot())
        if url:
            break
        kiosk.wait_for_timeout(300)
    assert url.startswith(f"{live_server}/c/"), url

    volunteer = phone.new_page()
    volunteer.goto(url)
    assert "/login" in volunteer.url
    volunteer.fill("input[name=phone]", scene["volunteer_phone"])
    volunteer.fill("input[name=password]", PASSWORD)
    volunteer.click("#login-form button[type=submit]")
    result = volunteer.locator("[data-testid=checkin-result]")
    expect(result.locator("h1")).to_have_attribute("data-status", "checked_in")
    # Scan-and-walk-away earns nothing yet: the page says what check-out pays and when it opens (a live
    # countdown), and the points post at check-out or when the organizer closes.
    expect(volunteer.locator("[data-testid=points-awarded]")).to_have_count(0)
    expect(volunteer.locator("[data-testid=points-expected]")).to_have_text("最多可得 10 积分")
    expect(volunteer.locator("[data-testid=check-out-opens]")).to_contain_text("起可以签退")
    expect(volunteer.locator("[data-testid=check-out-opens] [data-countdown]")).to_contain_text(
        "距可签退还有"
    )
    expect(volunteer.locator("[data-testid=points-status]")).to_have_attribute("data-status", "on_check_out")
    expect(volunteer.locator("[data-testid=balance]")).to_have_text("0")
    volunteer.screenshot(path="/tmp/jifen-checkin.png", full_page=True)
    # The home page reminds the volunteer to scan out before leaving.
    volunteer.goto(f"{live_server}/")
    reminder = volunteer.locator("[data-testid=open-checkin]")
    expect(reminder).to_contain_text("离开时请再扫一次活动二维码签退")
    expect(reminder.locator("[data-countdown]")).to_contain_text("距可签退还有")
    volunteer.screenshot(path="/tmp/jifen-home-open-checkin.png", full_page=True)

    # The kiosk's live count follows within a few seconds, and the code keeps rotating.
    expect(kiosk.locator("#kiosk-count")).to_have_text("1", timeout=10_000)

    # The organizer closes from the activity page; nobody is ticked absent, so the volunteer's points post.
    kiosk.goto(f"{live_server}/activities/{scene['aid']}")
    kiosk.locator("[data-testid=close-panel] summary").click()
    expect(kiosk.locator("[data-testid=close-form] input[type=checkbox]")).to_have_count(1)
    kiosk.locator("[data-testid=close]").click()
    expect(kiosk.locator("[data-testid=close-panel]")).to_have_count(0, timeout=10_000)
    kiosk_ctx.close()
    volunteer.goto(f"{live_server}/")
    expect(volunteer.locator("[data-testid=available]")).to_have_text("10")
    expect(volunteer.locator("[data-testid=open-checkin]")).to_have_count(0)  # checked out by the close

    volunteer.goto(f"{live_server}/activities")
    expect(volunteer.locator("h1")).to_be_visible()
    volunteer.screenshot(path="/tmp/jifen-activities.png", full_page=True)
