"""In a phone browser: the home page shows a member's points in plain words; admins award by hand and a
second admin approves a large award from /admin/awards."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from service.points import service as points
from tests.support.browser import logged_in as _login
from tests.support.browser import phone_context as _new_context
from tests.support.database import seeded
from tests.support.world import World, add_person, new_world

pytestmark = pytest.mark.browser


async def _build(db: AsyncSession) -> World:
    world = await new_world(db)
    await add_person(db, world, "admin", "13800000001", "admin")
    await add_person(db, world, "admin2", "13800000011", "admin")
    await add_person(db, world, "alice", "13900000001", "member")
    await points.set_policy(db, world.actor("admin"), world.cid, expiry_mode="days", expiry_value=20)
    await points.award(
        db, community_id=world.cid, member_id=world.members["alice"].id, points=40, code="checkin",
        memo="社区大扫除", idempotency_key=f"k-{uuid.uuid4()}",
    )  # fmt: skip
    await points.request_award(
        db,
        world.actor("admin"),
        world.cid,
        member_id=world.members["alice"].id,
        points=30,
        reason="照顾孤寡老人",
    )
    await points.request_award(
        db,
        world.actor("admin"),
        world.cid,
        member_id=world.members["alice"].id,
        points=150,
        reason="防汛巡堤",
    )
    return world


@pytest.fixture
def ledger_world(database_url: str) -> World:
    world: World = seeded(database_url, _build)
    return world


def test_home_shows_points_and_second_admin_approves(
    live_server: str, browser: Any, phone: Any, ledger_world: World
) -> None:
    world = ledger_world
    me = _login(phone, live_server, world, "alice")
    me.goto(f"{live_server}/")
    panel = me.locator("[data-testid=points-panel]")
    assert panel.locator("[data-testid=available]").inner_text() == "70"
    assert panel.locator("[data-testid=expiring]").inner_text() == "70"
    assert "志愿活动" in panel.inner_text() and "社区奖励（人工）" in panel.inner_text()
    me.screenshot(path="/tmp/points-home.png", full_page=True)

    second = _new_context(browser)
    try:
        admin2 = _login(second, live_server, world, "admin2")
        admin2.goto(f"{live_server}/admin/awards?community={world.cid}")
        row = admin2.locator("[data-testid=pending] li").filter(has_text="防汛巡堤")
        row.locator("button.primary").click()
        admin2.locator("[data-testid=pending] li").first.wait_for(state="detached")
        admin2.screenshot(path="/tmp/points-awards.png", full_page=True)
        # The award form: a manual award below the threshold posts at once.
        alice = str(world.members["alice"].id)
        admin2.select_option("#award-form select[name=member_id]", alice)
        admin2.fill("#award-form input[name=points]", "10")
        admin2.fill("#award-form input[name=reason]", "义务理发")
        admin2.click("#award-form button[type=submit]")
        admin2.locator("[data-testid=decided]").filter(has_text="义务理发").wait_for()
        # Above the threshold: it waits, and its own author is not offered the approve button.
        admin2.select_option("#award-form select[name=member_id]", alice)
        admin2.fill("#award-form input[name=points]", "500")
        admin2.fill("#award-form input[name=reason]", "抗洪抢险")
        admin2.click("#award-form button[type=submit]")
        admin2.locator("[data-testid=pending] li").filter(has_text="抗洪抢险").wait_for()
        assert admin2.locator("[data-testid=pending] button").count() == 0
    finally:
        second.close()

    me.goto(f"{live_server}/")
    assert panel.locator("[data-testid=available]").inner_text() == "230"
    me.goto(f"{live_server}/points?community={world.cid}")
    assert me.locator("[data-testid=history] li").count() == 4
    me.screenshot(path="/tmp/points-history.png", full_page=True)
