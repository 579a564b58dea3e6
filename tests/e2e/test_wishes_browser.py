"""In phone browsers: a resident posts a micro-wish, a volunteer takes it from the pool and completes it,
the resident rates it and the volunteer sees the points wait for a staff confirmation; the public board
opens without a login."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from service.accounts import service as accounts
from tests.support.database import seeded
from tests.support.proposals import rule_of
from tests.support.world import SECRET, World, add_person, new_world

pytestmark = pytest.mark.browser


async def _build(db: AsyncSession) -> World:
    """Fresh tables, a community with a resident (alice) and a volunteer (bob)."""
    world = await new_world(db)
    root, community = world.root, world.community
    assert root is not None
    await add_person(db, world, "alice", "13900000001", "member")
    await add_person(db, world, "bob", "13900000002", "member")
    await add_person(db, world, "王大成", "13900000003", "member")
    await add_person(db, world, "张队长", "13800000002", "organizer")
    await add_person(db, world, "钱评议", "13800000004", "reviewer")
    await add_person(db, world, "李书记", "13800000001", "admin")  # switches the new rule on
    from service.rewards import service as rewards

    await rule_of(
        db,
        world,
        await rewards.create_rule(
            db, root, community.id, code="filial-care", title="孝老爱亲", points=30, publicity_days=7
        ),
        "李书记",
    )
    return world


@pytest.fixture
def people(database_url: str) -> World:
    # Built in its own thread and event loop: Playwright's sync API owns this thread's loop.
    world: World = seeded(database_url, _build)
    return world


def _context(browser: Any, base: str, world: World, name: str | None) -> Any:
    context = browser.new_context(
        viewport={"width": 360, "height": 780},
        locale="zh-CN",
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
    )
    context.set_default_timeout(15_000)
    if name is not None:
        host = base.split("//", 1)[1].split(":")[0]
        token = accounts.issue_token(world.members[name], SECRET)
        context.add_cookies(
            [
                {"name": "jifen_token", "value": token, "domain": host, "path": "/"},
                {
                    "name": "jifen_csrf",
                    "value": f"csrf-{world.members[name].phone}",
                    "domain": host,
                    "path": "/",
                },
            ]
        )
    return context


def _fits(page: Any) -> None:
    """Nothing is wider than the phone's screen."""
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")


def test_post_accept_complete_rate_and_see_points(people: World, live_server: str, browser: Any) -> None:
    world = people
    resident_ctx = _context(browser, live_server, world, "alice")
    volunteer_ctx = _context(browser, live_server, world, "bob")
    try:
        resident = resident_ctx.new_page()
        resident.goto(f"{live_server}/wishes")
        resident.fill("#post-wish input[name=title]", "帮忙把米扛上六楼")
        resident.fill("#post-wish textarea[name=description]", "没有电梯")
        resident.select_option("#post-wish select[name=category]", "errand")
        resident.fill("#post-wish input[name=address]", "幸福里 3 号楼 2 单元 501")
        resident.click("#post-wish button[type=submit]")
        mine = resident.locator("[data-testid=my-wishes] .wish", has_text="帮忙把米扛上六楼")
        mine.wait_for()
        assert mine.locator("[data-testid=wish-status]").inner_text() == "待接单"
        _fits(resident)

        volunteer = volunteer_ctx.new_page()
        volunteer.goto(f"{live_server}/wishes")
        assert volunteer.locator("[data-testid=my-points]").inner_text() == "0"
        offer = volunteer.locator("[data-testid=open-wishes] .wish", has_text="帮忙把米扛上六楼")
        offer.locator("button[data-action$='/accept']").click()
        task = volunteer.locator("[data-testid=assigned-to-me] .wish", has_text="帮忙把米扛上六楼")
        task.locator("button[data-action$='/complete']").click()
        volunteer.locator(
            "[data-testid=assigned-to-me] .wish [data-testid=wish-status]", has_text="已完成"
        ).wait_for()
        volunteer.screenshot(path="/tmp/wishes-volunteer-done.png", full_page=True)

        resident.reload()
        form = resident.locator("[data-testid=my-wishes] form.rate")
        form.locator("select[name=stars]").select_option("5")
        form.locator("input[name=comment]").fill("小伙子很热心")
        resident.screenshot(path="/tmp/wishes-resident-rate.png", full_page=True)
        form.locator("button[type=submit]").click()
        resident.locator("[data-testid=my-wishes] [data-testid=wish-status]", has_text="已评价").wait_for()
        assert "小伙子很热心" in resident.locator("[data-testid=my-wishes]").inner_text()

        # Taken from the pool with no staff involved: the points wait for a staff confirmation.
        volunteer.reload()
        assert volunteer.locator("[data-testid=my-points]").inner_text() == "0"
        assert "待工作人员确认" in volunteer.locator("[data-testid=wish-points-status]").inner_text()
        volunteer.screenshot(path="/tmp/wishes-volunteer-points.png", full_page=True)
        _fits(volunteer)
    finally:
        resident_ctx.close()
        volunteer_ctx.close()


def test_organizer_claims_reviewer_approves_board_shows_it_masked(
    people: World, live_server: str, browser: Any
) -> None:
    world = people
    organizer_ctx = _context(browser, live_server, world, "张队长")
    reviewer_ctx = _context(browser, live_server, world, "钱评议")
    anonymous = _context(browser, live_server, world, None)
    try:
        organizer = organizer_ctx.new_page()
        organizer.goto(f"{live_server}/claims")
        organizer.select_option("#submit-claim select[name=member_id]", str(world.members["王大成"].id))
        organizer.fill("#submit-claim textarea[name=evidence]", "照顾瘫痪的母亲五年")
        organizer.click("#submit-claim button[type=submit]")
        organizer.locator("[data-testid=my-claims] .claim", has_text="王大成").wait_for()
        assert (
            organizer.locator("[data-testid=my-claims] [data-testid=claim-status]").inner_text() == "评议中"
        )
        # The organizer who submitted it has no review queue (not a reviewer); the reviewer does.
        assert organizer.locator("[data-testid=review-queue] .claim").count() == 0

        reviewer = reviewer_ctx.new_page()
        reviewer.goto(f"{live_server}/claims")
        item = reviewer.locator("[data-testid=review-queue] .claim", has_text="照顾瘫痪的母亲五年")
        item.locator("input[name=note]").fill("邻居证实")
        reviewer.screenshot(path="/tmp/claims-reviewer.png", full_page=True)
        _fits(reviewer)
        item.locator("button[type=submit]").click()
        reviewer.locator("[data-testid=review-queue] .claim").first.wait_for(state="detached")

        board = anonymous.new_page()
        board.goto(f"{live_server}/board/{world.cid}")
        notice = board.locator("[data-testid=under-publicity] .claim")
        assert "王*成" in notice.inner_text() and "孝老爱亲" in notice.inner_text()
        assert "王大成" not in board.content()
        assert (
            board.locator("[data-testid=under-publicity] details").count() == 0
        )  # no login: no objection form
        board.screenshot(path="/tmp/board-with-notice.png", full_page=True)
    finally:
        organizer_ctx.close()
        reviewer_ctx.close()
        anonymous.close()


def test_board_opens_without_login_on_a_small_phone(people: World, live_server: str, browser: Any) -> None:
    world = people
    anonymous = _context(browser, live_server, world, None)
    try:
        page = anonymous.new_page()
        page.goto(f"{live_server}/board/{world.cid}")
        assert "/login" not in page.url
        page.locator("[data-testid=leaderboard]").wait_for()
        assert page.locator("[data-testid=under-publicity]").count() == 1
        _fits(page)
        page.screenshot(path="/tmp/board-anonymous.png", full_page=True)
    finally:
        anonymous.close()
