"""Browser: the organizer shows the kiosk QR, a volunteer's phone scans it, logs in and is checked in."""

from __future__ import annotations

import asyncio
import secrets
from datetime import timedelta
from typing import Any

import cv2
import numpy as np
import pytest

from service import clock
from service.accounts import service as accounts
from service.accounts.models import Member
from service.activities import service as svc
from service.db import create_engine, create_session_maker
from tests.conftest import SECRET, _in_thread

pytestmark = pytest.mark.browser
PASSWORD = "volunteer-pass-1"


async def _seed(database_url: str) -> dict[str, Any]:
    """Own community and people (the async fixtures cannot share Playwright's thread)."""
    engine = create_engine(database_url)
    try:
        async with create_session_maker(engine)() as db, db.begin():
            tag = secrets.token_hex(3)
            root = Member(
                phone="137" + str(int(tag, 16) % 10**8).zfill(8), name="平台", is_platform_admin=True
            )
            db.add(root)
            await db.flush()
            boss = accounts.Actor(root.id, root.name, root.phone, True)
            community = await accounts.create_community(db, boss, "浏览器社区", f"browser-{tag}")
            organizer = await accounts.add_member(
                db, boss, community.id, "158" + root.phone[3:], "张队长", None, "organizer"
            )
            volunteer = await accounts.add_member(
                db, boss, community.id, "159" + root.phone[3:], "陈小红", PASSWORD, "member"
            )
            now = clock.now()
            draft = svc.ActivityDraft(
                "社区大扫除", now - timedelta(minutes=10), now + timedelta(hours=2), "per_attendance", 10
            )
            org = accounts.Actor(organizer.id, organizer.name, organizer.phone)
            activity = await svc.create_activity(db, org, community.id, draft)
            return {
                "aid": str(activity.id),
                "organizer_token": accounts.issue_token(organizer, SECRET),
                "volunteer_phone": volunteer.phone,
            }
    finally:
        await engine.dispose()


@pytest.fixture
def scene(database_url: str) -> dict[str, Any]:
    return dict(_in_thread(asyncio.run, _seed(database_url)))


def decode(png: bytes) -> str:
    image = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
    text, _pts, _ = cv2.QRCodeDetector().detectAndDecode(image)
    return str(text)


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
        url = decode(qr.screenshot())
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
    expect(volunteer.locator("[data-testid=points-awarded]")).to_have_text("+10")
    expect(volunteer.locator("[data-testid=balance]")).to_have_text("10")
    volunteer.screenshot(path="/tmp/jifen-checkin.png", full_page=True)

    # The kiosk's live count follows within a few seconds, and the code keeps rotating.
    expect(kiosk.locator("#kiosk-count")).to_have_text("1", timeout=10_000)
    kiosk_ctx.close()

    volunteer.goto(f"{live_server}/activities")
    expect(volunteer.locator("h1")).to_be_visible()
    volunteer.screenshot(path="/tmp/jifen-activities.png", full_page=True)
