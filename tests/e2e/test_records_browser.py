"""Browser (zh-CN, 390x844): a volunteer sees her star level, issues her service certificate, reads every
fact on the phone without sideways scrolling, and anyone scanning its QR sees it genuine; an organizer
voids it and the verification page says so."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from service import clock
from service.activities import service as activities
from service.activities.models import Attendance
from service.records import crypto
from service.records import service as records
from tests.support.browser import logged_in
from tests.support.database import seeded
from tests.support.world import SECRET, World, populate

pytestmark = pytest.mark.browser
ALICE_ID = "11010519491231002X"
SHANGHAI = ZoneInfo("Asia/Shanghai")


async def _seed(db: AsyncSession) -> World:
    world = await populate(db)
    now = clock.now()
    draft = activities.ActivityDraft(
        title="敬老院探访",
        description="陪老人聊天、打扫房间",
        starts_at=now - timedelta(minutes=10),
        ends_at=now + timedelta(hours=2),
        points_mode="per_attendance",
        points=10,
    )
    alice = world.members["alice"].id
    for minutes, manual in ((6000, False), (90, True)):
        activity = await activities.create_activity(db, world.actor("organizer"), world.cid, draft)
        db.add(
            Attendance(
                community_id=world.cid,
                activity_id=activity.id,
                member_id=alice,
                status="out",
                evidence="manual" if manual else "kiosk",
                checked_in_at=now - timedelta(minutes=minutes + 5),
                checked_out_at=now - timedelta(minutes=5),
                minutes=minutes,
                requested_by=world.members["organizer"].id if manual else None,
                approved_by=world.members["organizer2"].id if manual else None,
            )
        )
    await db.flush()
    keys = crypto.id_keys("", SECRET)
    await records.set_identity(db, world.actor("alice"), keys, "resident_id", ALICE_ID)
    await records.set_issuer(db, world.actor("admin"), world.cid, "张书记", "李干事", "0931-1234567")
    return world


@pytest.fixture
def records_world(database_url: str) -> World:
    return seeded(database_url, _seed)


def test_a_volunteer_issues_her_certificate_and_anyone_verifies_it(
    live_server: str, phone: Any, records_world: World
) -> None:
    from playwright.sync_api import expect

    world = records_world
    page = logged_in(phone, live_server, world, "alice")
    page.goto(live_server + "/me/hours")
    expect(page.locator("[data-testid=hours-stars]").first).to_contain_text("★☆☆☆☆")
    page.get_by_role("link", name="服务证明").first.click()
    expect(page.locator("h1")).to_contain_text("服务证明")
    with page.expect_navigation(url="**/certificates/*"):
        page.locator("[data-testid=issue]").click()
    cert = page.locator("[data-testid=certificate]")
    expect(cert.locator("h1")).to_have_text("志愿服务证明")
    expect(page.locator("[data-testid=cert-number]")).to_have_text(
        f"TEST-COMMUNITY-{clock.now().astimezone(SHANGHAI).year}-00001"
    )
    expect(page.locator("[data-testid=cert-id]")).to_have_text("1101**********002X")
    expect(page.locator("[data-testid=cert-stars]")).to_contain_text("1星")
    expect(page.locator("[data-testid=cert-total]")).to_have_text("101.5")
    expect(page.locator("[data-testid=cert-issuer]")).to_have_text("测试社区")
    for text in (
        "居民身份证",
        "张书记",
        "李干事",
        "0931-1234567",
        "敬老院探访",
        "陪老人聊天、打扫房间",
        "补录",
        "盖章处",
    ):
        expect(cert).to_contain_text(text)
    assert ALICE_ID not in page.content()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the certificate is {width}px wide on a 390px phone"
    page.screenshot(path="/tmp/jifen-certificate.png", full_page=True)
    verify_url = page.locator("[data-testid=cert-verify]").get_attribute("href")
    assert verify_url

    anyone = phone.new_page()
    phone.clear_cookies()
    anyone.goto(verify_url)
    expect(anyone.locator("[data-testid=genuine]")).to_have_text("证明真实有效")
    expect(anyone.locator("main")).to_contain_text("1101**********002X")
    expect(anyone.locator("body")).not_to_contain_text(world.members["alice"].name)

    staff = logged_in(phone, live_server, world, "organizer")
    staff.goto(page.url)
    staff.locator("input[name=reason]").fill("时长登记有误")
    staff.get_by_role("button", name="作废这份证明").click()
    expect(staff.locator("[data-testid=voided]")).to_contain_text("已作废：时长登记有误")
    anyone.goto(verify_url)
    expect(anyone.locator("[data-testid=voided]")).to_have_text("这份证明已作废")
    anyone.screenshot(path="/tmp/jifen-certificate-voided.png", full_page=True)
