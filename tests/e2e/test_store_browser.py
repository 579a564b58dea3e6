"""In a phone browser: a member orders on /store, the clerk hands it out at /store/counter, the member
sees it fulfilled; a partner's staff redeem a voucher from their page."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from service.accounts import service as accounts
from service.points import service as points
from service.store import service as store
from tests.support.database import seeded
from tests.support.world import SECRET, World, add_person, new_world

pytestmark = pytest.mark.browser


async def _build(db: AsyncSession) -> dict[str, Any]:
    """Fresh tables, a community with a clerk, a partner shop with staff, and a funded member."""
    world = await new_world(db)
    partner = world.partner
    await add_person(db, world, "clerk", "13800000003", "clerk")
    await add_person(db, world, "partner", "13800000005", "partner", partner.id)
    await add_person(db, world, "alice", "13900000001", "member")
    await points.award(
        db, community_id=world.cid, member_id=world.members["alice"].id, points=500, code="test",
        idempotency_key=f"fund-{uuid.uuid4()}",
    )  # fmt: skip
    product = await store.create_product(
        db, world.actor("clerk"), world.cid, name="食用油 1.8L", points_price=150, stock=4,
        limit_per_member=2, category="粮油",
    )  # fmt: skip
    offer = await store.create_offer(
        db, world.actor("partner"), world.partner.id, title="满 30 减 5", points_price=50
    )
    return {"world": world, "product": product, "offer": offer}


@pytest.fixture
def shop(database_url: str) -> dict[str, Any]:
    # Built in its own thread and event loop: Playwright's sync API owns this thread's loop.
    result: dict[str, Any] = seeded(database_url, _build)
    return result


def _login(browser: Any, base: str, world: World, name: str, context: Any = None) -> Any:
    if context is None:
        context = browser.new_context(
            viewport={"width": 390, "height": 844}, locale="zh-CN", device_scale_factor=2, is_mobile=True
        )
        context.set_default_timeout(15_000)
    token = accounts.issue_token(world.members[name], SECRET)
    host = base.split("//", 1)[1].split(":")[0]
    context.add_cookies(
        [
            {"name": "jifen_token", "value": token, "domain": host, "path": "/"},
            {"name": "jifen_csrf", "value": f"csrf-{name}", "domain": host, "path": "/"},
        ]
    )
    return context


def test_order_to_counter_pickup(live_server: str, browser: Any, phone: Any, shop: dict[str, Any]) -> None:
    world: World = shop["world"]
    member = _login(browser, live_server, world, "alice", phone).new_page()
    member.goto(f"{live_server}/store")
    card = member.locator(f"[data-product='{shop['product'].id}']")
    assert card.locator("[data-testid=stock]").inner_text() == "4"
    member.screenshot(path="/tmp/store-grid.png", full_page=True)
    member.once("dialog", lambda dialog: dialog.accept())  # 150 points: the page asks to confirm
    card.locator("button[type=submit]").click()
    member.wait_for_url("**/orders?**")
    code = member.locator("[data-testid=pickup-code]").first.inner_text().strip()
    assert len(code) == 8
    qr = member.locator("img.pickup-qr").first
    qr.wait_for()
    assert qr.bounding_box()["width"] >= 250  # large enough to scan from the screen
    member.screenshot(path="/tmp/store-orders.png", full_page=True)

    clerk_context = _login(browser, live_server, world, "clerk")
    try:
        clerk = clerk_context.new_page()
        clerk.goto(f"{live_server}/store/counter")
        clerk.fill("input[name=pickup_code]", code.lower())
        clerk.click("#pickup button[type=submit]")
        clerk.locator(f"tr[data-code='******{code[-2:]}'][data-status=fulfilled]").wait_for()  # masked
        clerk.screenshot(path="/tmp/store-counter.png", full_page=True)
        # A second hand-out of the same code is refused on screen.
        clerk.fill("input[name=pickup_code]", code)
        clerk.click("#pickup button[type=submit]")
        clerk.locator("#pickup [data-error]").wait_for(state="visible")
    finally:
        clerk_context.close()

    member.reload()
    assert member.locator(".order").first.get_attribute("data-status") == "fulfilled"
    member.goto(f"{live_server}/store")
    assert card.locator("[data-testid=stock]").inner_text() == "3"


def test_voucher_redeemed_by_partner_page(
    shop: dict[str, Any], live_server: str, browser: Any, phone: Any
) -> None:
    world: World = shop["world"]
    member = _login(browser, live_server, world, "alice", phone).new_page()
    member.goto(f"{live_server}/offers")
    member.locator(f"[data-offer='{shop['offer'].id}'] button[type=submit]").click()
    member.wait_for_url("**/vouchers?**")
    code = member.locator("[data-testid=voucher-code]").first.inner_text().strip()
    member.screenshot(path="/tmp/store-vouchers.png", full_page=True)

    staff_context = _login(browser, live_server, world, "partner")
    try:
        staff = staff_context.new_page()
        staff.goto(f"{live_server}/v/{code}")
        staff.click("[data-redeem]")
        staff.locator("[data-testid=voucher-status]").filter(has_text="已核销").wait_for()
        staff.goto(f"{live_server}/partner")
        assert staff.locator("[data-testid=month-count]").inner_text() == "1"
        staff.screenshot(path="/tmp/store-partner.png", full_page=True)
    finally:
        staff_context.close()
    member.reload()
    assert member.locator(".voucher").first.get_attribute("data-status") == "redeemed"
