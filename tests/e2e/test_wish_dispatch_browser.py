"""The full 点单-派单-接单-评单 loop in phone browsers (390x844, zh-CN): a resident posts a wish, the
organizer dispatches it to a volunteer chosen by hours and open tasks, the volunteer accepts and
completes it, the resident rates it and the volunteer's points post. Shop staff are never offered it."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tests.support.browser import fits_width, member_context
from tests.support.database import seeded
from tests.support.world import World, add_person, new_world

pytestmark = pytest.mark.browser


async def _build(db: AsyncSession) -> World:
    world = await new_world(db)
    await add_person(db, world, "李阿姨", "13900000001", "member")
    await add_person(db, world, "小王", "13900000002", "member")
    await add_person(db, world, "张队长", "13800000002", "organizer")
    await add_person(db, world, "店员", "13800000005", "partner", world.partner.id)
    return world


@pytest.fixture
def people(database_url: str) -> World:
    world: World = seeded(database_url, _build)
    return world


def test_order_dispatch_accept_rate_posts_points(people: World, live_server: str, browser: Any) -> None:
    world = people
    resident_ctx = member_context(browser, live_server, world, "李阿姨")
    organizer_ctx = member_context(browser, live_server, world, "张队长")
    volunteer_ctx = member_context(browser, live_server, world, "小王")
    title = "帮忙换灯泡"
    try:
        # 点单: the resident posts a wish.
        resident = resident_ctx.new_page()
        resident.goto(f"{live_server}/wishes")
        resident.fill("#post-wish input[name=title]", title)
        resident.select_option("#post-wish select[name=category]", "repair")
        resident.fill("#post-wish input[name=address]", "幸福里 3 号楼 2 单元 501")
        resident.click("#post-wish button[type=submit]")
        mine = resident.locator("[data-testid=my-wishes] .wish", has_text=title)
        mine.wait_for()
        assert mine.locator("[data-testid=wish-status]").inner_text() == "待接单"

        # 派单: the organizer sees volunteers with hours and open tasks, never the shop's staff.
        organizer = organizer_ctx.new_page()
        organizer.goto(f"{live_server}/wishes")
        item = organizer.locator("[data-testid=dispatch] .wish", has_text=title)
        options = item.locator("select[name=volunteer_id] option").all_inner_texts()
        assert any("小王" in o and "小时" in o and "进行中 0 件" in o for o in options), options
        assert not any("店员" in o for o in options) and not any("李阿姨" in o for o in options)
        item.locator("select[name=volunteer_id]").select_option(str(world.members["小王"].id))
        fits_width(organizer)
        organizer.screenshot(path="/tmp/wish-dispatch-organizer.png", full_page=True)
        item.locator("button[type=submit]").click()
        organizer.locator("[data-testid=dispatch] .wish", has_text="已派给 小王").wait_for()

        # 接单: the volunteer accepts the offer, then completes.
        volunteer = volunteer_ctx.new_page()
        volunteer.goto(f"{live_server}/wishes")
        offer = volunteer.locator("[data-testid=offered-to-me] .wish", has_text=title)
        assert "张队长" in offer.inner_text()
        fits_width(volunteer)
        volunteer.screenshot(path="/tmp/wish-offer-volunteer.png", full_page=True)
        offer.locator("button[data-action$='/accept']").click()
        task = volunteer.locator("[data-testid=assigned-to-me] .wish", has_text=title)
        task.locator("button[data-action$='/complete']").click()
        volunteer.locator(
            "[data-testid=assigned-to-me] .wish [data-testid=wish-status]", has_text="已完成"
        ).wait_for()

        # 评单: the resident rates; the volunteer's points post.
        resident.reload()
        form = resident.locator("[data-testid=my-wishes] form.rate")
        form.locator("select[name=stars]").select_option("5")
        form.locator("input[name=comment]").fill("很快就修好了")
        form.locator("button[type=submit]").click()
        resident.locator("[data-testid=my-wishes] [data-testid=wish-status]", has_text="已评价").wait_for()
        fits_width(resident)

        volunteer.reload()
        assert volunteer.locator("[data-testid=my-points]").inner_text() == "10"
        assert "10" in volunteer.locator("[data-testid=wish-earned]").inner_text()
        volunteer.screenshot(path="/tmp/wish-points-volunteer.png", full_page=True)
        fits_width(volunteer)
    finally:
        resident_ctx.close()
        organizer_ctx.close()
        volunteer_ctx.close()


def test_volunteer_declines_with_a_reason_and_the_wish_returns(
    people: World, live_server: str, browser: Any
) -> None:
    world = people
    resident_ctx = member_context(browser, live_server, world, "李阿姨")
    organizer_ctx = member_context(browser, live_server, world, "张队长")
    volunteer_ctx = member_context(browser, live_server, world, "小王")
    title = "陪同去医院"
    try:
        resident = resident_ctx.new_page()
        resident.goto(f"{live_server}/wishes")
        resident.fill("#post-wish input[name=title]", title)
        resident.fill("#post-wish input[name=address]", "幸福里 3 号楼 2 单元 501")
        resident.click("#post-wish button[type=submit]")
        resident.locator("[data-testid=my-wishes] .wish", has_text=title).wait_for()

        organizer = organizer_ctx.new_page()
        organizer.goto(f"{live_server}/wishes")
        item = organizer.locator("[data-testid=dispatch] .wish", has_text=title)
        item.locator("select[name=volunteer_id]").select_option(str(world.members["小王"].id))
        item.locator("button[type=submit]").click()
        organizer.locator("[data-testid=dispatch] .wish", has_text="已派给 小王").wait_for()

        volunteer = volunteer_ctx.new_page()
        volunteer.goto(f"{live_server}/wishes")
        offer = volunteer.locator("[data-testid=offered-to-me] .wish", has_text=title)
        offer.locator("summary").click()
        offer.locator("input[name=reason]").fill("这周出差")
        offer.locator("form.decline button[type=submit]").click()
        volunteer.locator("[data-testid=offered-to-me]").wait_for(state="detached")

        organizer.reload()
        back = organizer.locator("[data-testid=dispatch] .wish", has_text=title)
        assert "已被拒绝：这周出差" in back.inner_text()
    finally:
        resident_ctx.close()
        organizer_ctx.close()
        volunteer_ctx.close()
