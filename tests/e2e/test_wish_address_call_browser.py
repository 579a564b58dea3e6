"""A wish carries what the volunteer needs (issue 22), in phone browsers (390x844, zh-CN): the resident
gives an address; once the volunteer accepts, they see it and a call button with a privacy number (never
the resident's own); the volunteer and the resident find notices on their home pages and mark them read."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tests.support.browser import fits_width, member_context
from tests.support.database import seeded
from tests.support.world import World, add_person, new_world

pytestmark = pytest.mark.browser

ADDRESS = "幸福里 3 号楼 2 单元 501"
RESIDENT_PHONE = "13900000011"


async def _build(db: AsyncSession) -> World:
    world = await new_world(db)
    await add_person(db, world, "李阿姨", RESIDENT_PHONE, "member")
    await add_person(db, world, "小王", "13900000012", "member")
    await add_person(db, world, "张队长", "13800000012", "organizer")
    return world


@pytest.fixture
def people(database_url: str) -> World:
    world: World = seeded(database_url, _build)
    return world


def test_volunteer_sees_address_and_calls_through_a_relay_and_both_are_told(
    people: World, live_server: str, browser: Any
) -> None:
    world = people
    contexts = {
        name: member_context(browser, live_server, world, name) for name in ("李阿姨", "张队长", "小王")
    }
    title = "帮忙把米扛上楼"
    try:
        # 点单 with the address where the help is needed.
        resident = contexts["李阿姨"].new_page()
        resident.goto(f"{live_server}/wishes")
        resident.fill("#post-wish input[name=title]", title)
        resident.fill("#post-wish input[name=address]", ADDRESS)
        resident.click("#post-wish button[type=submit]")
        resident.locator("[data-testid=my-wishes] .wish", has_text=title).wait_for()
        assert ADDRESS in resident.locator("[data-testid=my-wishes] .wish", has_text=title).inner_text()
        # The next wish's form starts with it.
        assert resident.input_value("#post-wish input[name=address]") == ADDRESS

        # 派单.
        organizer = contexts["张队长"].new_page()
        organizer.goto(f"{live_server}/wishes")
        item = organizer.locator("[data-testid=dispatch] .wish", has_text=title)
        assert ADDRESS not in organizer.content()  # staff do not see where the resident lives
        item.locator("select[name=volunteer_id]").select_option(str(world.members["小王"].id))
        item.locator("button[type=submit]").click()
        organizer.locator("[data-testid=dispatch] .wish", has_text="已派给 小王").wait_for()

        # The volunteer's home page tells them; the offer does not show the address yet.
        volunteer = contexts["小王"].new_page()
        volunteer.goto(f"{live_server}/")
        told = volunteer.locator("[data-testid=home-notices]")
        assert (
            "1 条未读" in told.inner_text()
            and title in told.inner_text()
            and "小时内接单" in told.inner_text()
        )
        fits_width(volunteer)
        volunteer.screenshot(path="/tmp/wish22-volunteer-home.png", full_page=True)
        told.locator("a", has_text=title).click()
        volunteer.wait_for_url(re.compile(r"/wishes\?community=.*#wish-"))
        offer = volunteer.locator("[data-testid=offered-to-me] .wish", has_text=title)
        assert ADDRESS not in volunteer.content()

        # 接单: the address and the call button.
        offer.locator("button[data-action$='/accept']").click()
        task = volunteer.locator("[data-testid=assigned-to-me] .wish", has_text=title)
        task.locator("[data-testid=wish-address]").wait_for()
        assert ADDRESS in task.locator("[data-testid=wish-address]").inner_text()
        task.locator("[data-testid=get-call-number]").click()
        call = volunteer.locator("[data-testid=call-requester]")
        call.wait_for()
        href = call.get_attribute("href") or ""
        assert re.fullmatch(r"tel:170\d{8}", href), href
        assert "拨打求助人电话" in call.inner_text()
        box = call.bounding_box()
        assert box is not None and box["height"] >= 44  # a thumb-sized button
        assert RESIDENT_PHONE not in volunteer.content() and RESIDENT_PHONE[-4:] not in href
        fits_width(volunteer)
        volunteer.screenshot(path="/tmp/wish22-volunteer-call.png", full_page=True)

        # The resident's home page: two notices (dispatched, accepted), the volunteer's name masked.
        resident.goto(f"{live_server}/")
        notices = resident.locator("[data-testid=home-notices]")
        text = notices.inner_text()
        assert "2 条未读" in text and "已接下您的微心愿" in text and "已派给志愿者" in text
        assert "小王" not in text and "小*" in text
        fits_width(resident)
        resident.screenshot(path="/tmp/wish22-resident-home.png", full_page=True)
        notices.locator("a", has_text="全部通知").click()
        resident.wait_for_url(f"{live_server}/notices")
        assert "未读：2 条" in resident.locator("[data-testid=notices-unread]").inner_text()
        resident.locator("[data-testid=mark-read]").first.click()
        resident.locator("[data-testid=notices-unread]", has_text="未读：1 条").wait_for()
        fits_width(resident)
        resident.screenshot(path="/tmp/wish22-resident-notices.png", full_page=True)
    finally:
        for context in contexts.values():
            context.close()
