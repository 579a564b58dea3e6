"""In phone browsers (390 px, Chinese): one admin raises the points per wish; it waits, marked 待审批;
a second admin finds it under 变更审批 in the admin navigation, sees before -> after and approves it;
the proposer sees no approve button on their own proposal."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tests.support.browser import logged_in
from tests.support.database import seeded
from tests.support.world import World, add_person, new_world

pytestmark = pytest.mark.browser


async def _build(db: AsyncSession) -> World:
    world = await new_world(db)
    # ASCII names: the test's CSRF cookie carries the name, and a header must be ISO-8859-1.
    await add_person(db, world, "admin", "13800000001", "admin")
    await add_person(db, world, "admin2", "13800000011", "admin")
    return world


@pytest.fixture
def two_admins(database_url: str) -> World:
    world: World = seeded(database_url, _build)
    return world


def _phone(browser: Any) -> Any:
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN", is_mobile=True)
    context.set_default_timeout(15_000)
    return context


def _fits(page: Any) -> None:
    width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], f"the page scrolls sideways on a phone: {width}"


def test_a_raise_waits_for_a_second_admin_on_a_phone(
    live_server: str, browser: Any, two_admins: World
) -> None:
    cid = two_admins.cid
    first, second = _phone(browser), _phone(browser)
    try:
        page = logged_in(first, live_server, two_admins, "admin")
        page.goto(f"{live_server}/admin/rules?community={cid}")
        form = page.locator("#rewards-settings")
        form.locator("input[name=wish_points]").fill("50")
        form.locator("button[type=submit]").click()
        page.locator("#toast").filter(has_text="待另一位管理员审批").wait_for()
        page.reload()
        assert page.locator("[data-testid=awaiting]").inner_text() == "待审批"
        assert page.locator("input[name=wish_points]").input_value() == "10"  # nothing changed yet
        _fits(page)
        page.locator("nav.subnav a", has_text="变更审批").click()
        page.wait_for_url("**/admin/proposals**")
        mine = page.locator("[data-testid=proposal]")
        assert "每个心愿的积分: 10 → 50" in mine.inner_text()
        assert mine.locator("[data-testid=approve]").count() == 0  # nobody approves their own
        _fits(page)

        other = logged_in(second, live_server, two_admins, "admin2")
        other.goto(f"{live_server}/admin/proposals?community={cid}")
        row = other.locator("[data-testid=proposal]")
        assert "10 → 50" in row.inner_text() and "admin" in row.inner_text()
        _fits(other)
        other.screenshot(path="/tmp/proposals-phone.png", full_page=True)
        row.locator("[data-testid=approve]").click()
        other.locator("[data-testid=no-proposals]").wait_for()
        assert "10 → 50" in other.locator("[data-testid=decided]").inner_text()
        other.goto(f"{live_server}/admin/rules?community={cid}")
        assert other.locator("input[name=wish_points]").input_value() == "50"
        assert other.locator("[data-testid=awaiting]").count() == 0
        other.goto(f"{live_server}/admin/proposals?community={cid}&lang=en")
        assert "Nothing awaits approval." in other.locator("[data-testid=no-proposals]").inner_text()
    finally:
        first.close()
        second.close()
