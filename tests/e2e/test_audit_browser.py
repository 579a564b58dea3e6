"""In a phone browser: an admin reads the community's audit log at /admin/audit, in Chinese and English,
on a 360 px wide screen, and reaches it from the admin navigation."""

from __future__ import annotations

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
    await add_person(db, world, "alice", "13900000001", "member")
    await points.request_award(
        db,
        world.actor("admin"),
        world.cid,
        member_id=world.members["alice"].id,
        points=30,
        reason="照顾孤寡老人，连续三个月每周上门送餐并陪同就医",
        client_addr="203.0.113.45",
    )
    return world


@pytest.fixture
def audit_world(database_url: str) -> World:
    world: World = seeded(database_url, _build)
    return world


def test_admin_reads_the_audit_log_on_a_phone(live_server: str, browser: Any, audit_world: World) -> None:
    context = _new_context(browser)
    try:
        page = _login(context, live_server, audit_world, "admin")
        page.goto(f"{live_server}/admin?community={audit_world.cid}")
        page.locator("nav.subnav a", has_text="操作日志").click()
        page.wait_for_url("**/admin/audit**")
        rows = page.locator("[data-testid=audit] li")
        first = rows.first.inner_text()
        assert "申请奖励积分" in first and "admin → alice" in first and "203.0.113.45" in first
        assert rows.filter(has_text="授予角色").count() >= 1  # the roles that built the world
        width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        assert width[0] <= width[1], f"the page scrolls sideways on a phone: {width}"
        page.screenshot(path="/tmp/audit-phone.png", full_page=True)
        page.goto(f"{live_server}/admin/audit?community={audit_world.cid}&lang=en")
        assert "Award requested" in page.locator("[data-testid=audit] li").first.inner_text()
    finally:
        context.close()
