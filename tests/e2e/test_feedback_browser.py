"""On a phone (390x844, zh-CN): the person acting is told what happened, and list pages fit the screen.

The clerk sees what to hand over and to whom; the partner's staff see which offer they redeemed for whom;
the organizer scanning a member card is told the member is checked in; a volunteer scanning twice is told
there is no need (no points shown as new); spending many points asks first. Every list page's action
buttons are inside the screen with no sideways scrolling.
"""

from __future__ import annotations

import json
import urllib.request
import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from service import clock
from service.accounts import service as accounts
from service.activities import service as acts
from service.kit.masking import mask_code
from service.points import service as points
from service.store import service as store
from tests.support.database import seeded
from tests.support.world import SECRET, World, add_person, new_world

pytestmark = pytest.mark.browser


async def _fund(db: AsyncSession, world: World, name: str, amount: int) -> None:
    await points.award(
        db, community_id=world.cid, member_id=world.members[name].id, points=amount, code="test",
        idempotency_key=f"fund-{uuid.uuid4()}",
    )  # fmt: skip


async def _build(db: AsyncSession) -> dict[str, Any]:
    world = await new_world(db)
    for name, phone, role in [
        ("admin", "13800000001", "admin"),
        ("admin2", "13800000011", "admin"),
        ("organizer", "13800000002", "organizer"),
        ("organizer2", "13800000012", "organizer"),
        ("clerk", "13800000003", "clerk"),
        ("陈小红", "13900000001", "member"),
        ("周小甲", "13900000002", "member"),
    ]:
        await add_person(db, world, name, phone, role)
    await add_person(db, world, "partner", "13800000005", "partner", world.partner.id)
    await _fund(db, world, "陈小红", 500)
    await _fund(db, world, "周小甲", 500)
    cup = await store.create_product(
        db, world.actor("clerk"), world.cid, name="保温杯", points_price=30, stock=5, category="日用"
    )
    rice = await store.create_product(
        db, world.actor("clerk"), world.cid, name="大米 10kg", points_price=300, stock=5, category="粮油"
    )
    order = await store.reserve_order(db, world.actor("陈小红"), cup.id, 1)
    offer = await store.create_offer(
        db, world.actor("partner"), world.partner.id, title="满50减5", points_price=50
    )
    voucher = await store.claim_voucher(db, world.actor("周小甲"), offer.id)
    now = clock.now()
    draft = acts.ActivityDraft(
        "社区大扫除", now - timedelta(minutes=10), now + timedelta(hours=2), "per_attendance", 10
    )
    activity = await acts.create_activity(db, world.actor("organizer"), world.cid, draft)
    await acts.request_manual(
        db, world.actor("organizer2"), activity.id, world.members["周小甲"].id,
        now - timedelta(minutes=9), now - timedelta(minutes=1), "忘带手机，现场登记",
    )  # fmt: skip
    card = await acts.member_card(db, world.actor("陈小红"), world.cid)
    await points.request_award(
        db, world.actor("admin2"), world.cid, member_id=world.members["周小甲"].id, points=200,
        reason="防汛抢险志愿服务三天三夜",
    )  # fmt: skip
    await points.request_award(
        db,
        world.actor("admin"),
        world.cid,
        member_id=world.members["陈小红"].id,
        points=20,
        reason="垃圾分类督导",
    )
    return {
        "world": world,
        "order": order.pickup_code,
        "voucher": voucher.code,
        "aid": str(activity.id),
        "card": card.token,
        "rice": str(rice.id),
    }


@pytest.fixture
def scene(database_url: str) -> dict[str, Any]:
    result: dict[str, Any] = seeded(database_url, _build)
    return result


def _as(phone: Any, base: str, world: World, name: str) -> Any:
    token = accounts.issue_token(world.members[name], SECRET)
    phone.add_cookies(
        [
            {"name": "jifen_token", "value": token, "url": base},
            {"name": "jifen_csrf", "value": f"csrf-{uuid.uuid4().hex}", "url": base},
        ]
    )
    return phone.new_page()


def _kiosk_token(base: str, world: World, aid: str) -> str:
    req = urllib.request.Request(
        f"{base}/api/v1/activities/{aid}/kiosk",
        headers={"Authorization": f"Bearer {accounts.issue_token(world.members['organizer'], SECRET)}"},
    )
    with urllib.request.urlopen(req, timeout=10) as r:
        return str(json.loads(r.read())["token"])


def test_the_clerk_is_told_what_to_hand_over_and_to_whom(
    live_server: str, browser: Any, phone: Any, scene: dict[str, Any]
) -> None:
    from playwright.sync_api import expect

    clerk = _as(phone, live_server, scene["world"], "clerk")
    clerk.goto(f"{live_server}/store/counter")
    clerk.fill("input[name=pickup_code]", scene["order"])
    clerk.click("#pickup button[type=submit]")
    expect(clerk.locator("[data-testid=flash]")).to_have_text("请交付 保温杯 ×1 给 陈*红")
    # Staff lists show codes masked (last 2 characters), never the whole pickup code.
    row = clerk.locator(f"tr[data-code='{mask_code(scene['order'])}']")
    expect(row).to_have_attribute("data-status", "fulfilled")
    assert scene["order"] not in clerk.content()
    clerk.screenshot(path="/tmp/ux-counter-feedback.png", full_page=True)
    # The same code again: a sentence in Chinese, shown once.
    clerk.fill("input[name=pickup_code]", scene["order"])
    clerk.click("#pickup button[type=submit]")
    error = clerk.locator("#pickup [data-error]")
    expect(error).to_have_text("这个订单已经领取过了。")


def test_the_partner_is_told_which_offer_was_redeemed_for_whom(
    live_server: str, browser: Any, phone: Any, scene: dict[str, Any]
) -> None:
    from playwright.sync_api import expect

    staff = _as(phone, live_server, scene["world"], "partner")
    staff.goto(f"{live_server}/partner")
    staff.fill("input[name=code]", scene["voucher"])
    staff.click("#redeem button[type=submit]")
    expect(staff.locator("[data-testid=flash]")).to_have_text("已核销：满50减5（周*甲）")
    expect(staff.locator("[data-testid=month-count]")).to_have_text("1")
    staff.fill("input[name=code]", "abc")
    staff.click("#redeem button[type=submit]")
    expect(staff.locator("#redeem [data-error]")).to_have_text("券码是 8 位字母和数字。")


def test_a_repeat_scan_says_no_need_and_shows_no_new_points(
    live_server: str, browser: Any, phone: Any, scene: dict[str, Any]
) -> None:
    from playwright.sync_api import expect

    world = scene["world"]
    volunteer = _as(phone, live_server, world, "陈小红")
    url = f"{live_server}/c/{_kiosk_token(live_server, world, scene['aid'])}"
    volunteer.goto(url)
    # Nothing posts at the first scan (scan-and-walk-away): the page says points come at check-out.
    expect(volunteer.locator("[data-testid=points-status]")).to_have_attribute("data-status", "on_check_out")
    balance = volunteer.locator("[data-testid=balance]").inner_text()
    volunteer.goto(url)
    heading = volunteer.locator("[data-testid=checkin-result] h1")
    expect(heading).to_have_text("已签到，无需重复扫码")
    expect(volunteer.locator("[data-testid=points-awarded]")).to_have_count(0)
    # ... and how long until a scan checks out, counting down.
    expect(volunteer.locator("[data-testid=check-out-opens] [data-countdown]")).to_contain_text(
        "距可签退还有"
    )
    expect(volunteer.locator("[data-testid=balance]")).to_have_text(balance)  # nothing new was earned
    volunteer.screenshot(path="/tmp/ux-repeat-scan.png", full_page=True)


def test_the_organizer_scanning_a_card_is_told_check_in_or_out(
    live_server: str, browser: Any, phone: Any, scene: dict[str, Any]
) -> None:
    from playwright.sync_api import expect

    organizer = _as(phone, live_server, scene["world"], "organizer")
    organizer.goto(f"{live_server}/m/{scene['card']}")
    organizer.locator(f"[data-action='/api/v1/activities/{scene['aid']}/card-scans']").click()
    organizer.wait_for_url(f"**/activities/{scene['aid']}")
    expect(organizer.locator("[data-testid=flash]")).to_have_text("已为 陈小红 签到。")
    organizer.goto(f"{live_server}/m/{scene['card']}")
    organizer.locator(f"[data-action='/api/v1/activities/{scene['aid']}/card-scans']").click()
    organizer.wait_for_url(f"**/activities/{scene['aid']}")
    expect(organizer.locator("[data-testid=flash]")).to_have_text("陈小红 已签到，无需重复扫码。")


def test_spending_many_points_asks_first(
    live_server: str, browser: Any, phone: Any, scene: dict[str, Any]
) -> None:
    member = _as(phone, live_server, scene["world"], "陈小红")
    member.goto(f"{live_server}/store")
    asked: list[str] = []

    def decline(dialog: Any) -> None:
        asked.append(dialog.message)
        dialog.dismiss()

    member.once("dialog", decline)
    member.locator(f"[data-product='{scene['rice']}'] button[type=submit]").click()
    member.wait_for_timeout(500)
    assert asked == ["确认花费 300 积分兑换「大米 10kg」？"]
    assert "/store" in member.url  # declined: nothing ordered, still on the store
    member.goto(f"{live_server}/orders")
    assert member.locator(".order").count() == 1  # only the cup from the setup


PAGES = [
    ("organizer", "/activities/{aid}", "attendance"),  # organizer2 entered a record: Approve / Reject
    ("admin", "/admin/awards", "decided"),
    ("clerk", "/store/counter", "recent-orders"),
    ("陈小红", "/orders", None),
    ("admin", "/admin", "members"),
]


@pytest.mark.parametrize(("who", "path", "table"), PAGES)
def test_list_pages_fit_a_phone(
    live_server: str, browser: Any, phone: Any, scene: dict[str, Any], who: str, path: str, table: str | None
) -> None:
    page = _as(phone, live_server, scene["world"], who)
    page.goto(live_server + path.format(aid=scene["aid"]))
    if table:
        page.locator(f"[data-testid={table}]").wait_for()
    width = page.evaluate("window.innerWidth")
    assert width == 390
    assert page.evaluate("document.documentElement.scrollWidth") <= width, "the page scrolls sideways"
    buttons = page.locator("main button:visible, main a.button:visible, main [data-action]:visible")
    assert buttons.count() > 0
    for i in range(buttons.count()):
        box = buttons.nth(i).bounding_box()
        assert box is not None
        label = buttons.nth(i).inner_text()
        assert box["x"] >= 0 and box["x"] + box["width"] <= width + 0.5, f"{label!r} is off screen: {box}"
    if table:
        rows = page.locator(f"[data-testid={table}] tbody tr")
        assert rows.count() > 0
        cell = rows.first.locator("td").first
        if cell.get_attribute("colspan") is None:
            assert cell.get_attribute("data-label")  # each cell says which column it is
    page.screenshot(
        path=f"/tmp/ux-phone-{path.strip('/').split('/')[0] or 'home'}-{table}.png", full_page=True
    )


def test_a_refused_location_is_explained_in_chinese(
    live_server: str, browser: Any, phone: Any, scene: dict[str, Any]
) -> None:
    from playwright.sync_api import expect

    organizer = _as(phone, live_server, scene["world"], "organizer")  # no geolocation permission granted
    organizer.goto(f"{live_server}/activities/new")
    organizer.click("#use-location")
    error = organizer.locator("#use-location-error")
    expect(error).to_be_visible()
    assert error.inner_text() in {
        "您拒绝了定位授权。请在浏览器设置中允许本网站获取位置，然后重试。",
        "暂时无法获取您的位置，请到开阔处再试。",
        "定位超时，请重试。",
    }
