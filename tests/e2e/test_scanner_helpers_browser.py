"""Browser: scanning helpers (issue 23). On a 390 px phone in Chinese, an organizer names a store clerk
to scan at one activity from the activity page (扫码协助); the clerk then finds the check-in scanner on
the home page, and it lists that activity only, with its roster downloaded onto the phone."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from service import clock
from service.activities import service as svc
from tests.support.browser import fits_width, logged_in
from tests.support.database import seeded
from tests.support.world import add_person, new_world

pytestmark = pytest.mark.browser


async def _helpers_world(db: AsyncSession) -> dict[str, Any]:
    world = await new_world(db)
    await add_person(db, world, "organizer", "13800000002", "organizer")
    await add_person(db, world, "clerk", "13800000003", "clerk")
    await add_person(db, world, "alice", "13900000001", "member")
    now = clock.now()
    ids = {}
    for title in ("村口广场义诊", "河道清理"):
        draft = svc.ActivityDraft(
            title, now - timedelta(minutes=5), now + timedelta(hours=3), "per_attendance", 10
        )
        ids[title] = str((await svc.create_activity(db, world.actor("organizer"), world.cid, draft)).id)
    return {"world": world, "named": ids["村口广场义诊"], "other": ids["河道清理"]}


@pytest.fixture
def helpers(database_url: str) -> dict[str, Any]:
    return seeded(database_url, _helpers_world)


def test_an_organizer_names_a_clerk_who_then_scans_only_that_activity(
    live_server: str, browser: Any, phone: Any, helpers: dict[str, Any]
) -> None:
    from playwright.sync_api import expect

    world, named, other = helpers["world"], helpers["named"], helpers["other"]
    clerk = world.members["clerk"]
    page = logged_in(phone, live_server, world, "organizer")
    page.goto(f"{live_server}/activities/{named}")
    section = page.locator("[data-testid=scanners]")
    expect(page.get_by_role("heading", name="扫码协助")).to_be_visible()
    section.locator("[data-testid=scanner-clerk]").select_option(str(clerk.id))
    section.locator("[data-testid=scanner-add]").click()
    expect(section.locator(f'[data-scanner="{clerk.id}"]')).to_contain_text(clerk.name)
    fits_width(page)
    page.get_by_role("heading", name="扫码协助").locator("xpath=..").screenshot(
        path="/tmp/jifen-scanner-helpers.png"
    )

    clerk_context = browser.new_context(
        viewport={"width": 390, "height": 844}, locale="zh-CN", is_mobile=True
    )
    clerk_context.set_default_timeout(15_000)
    mine = logged_in(clerk_context, live_server, world, "clerk")
    mine.goto(f"{live_server}/")
    mine.locator("[data-testid=scanner-link]").click()
    expect(mine.locator("[data-testid=scanner]")).to_have_attribute("data-ready", "1")
    options = mine.locator("[data-testid=activity] option")
    expect(options).to_have_count(1)
    expect(options.first).to_have_attribute("value", named)
    expect(options.first).to_contain_text("村口广场义诊")
    assert other not in mine.content()
    expect(mine.locator("[data-testid=kit-status]")).to_contain_text("本机已有")
    fits_width(mine)
    clerk_context.close()
