"""A phone (Chromium at 390x844) logs in, sees the home page in Chinese, switches to English, administers."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from service.accounts import service as accounts
from service.accounts.models import Member
from service.db import create_engine, create_session_maker
from tests.support.database import in_thread as _in_thread
from tests.support.database import seeded
from tests.support.world import new_world

pytestmark = pytest.mark.browser

PASSWORD = "browser-pass-1"
SHOTS = "/tmp/jifen-foundation"


async def _build(db: AsyncSession) -> dict[str, Any]:
    """Fresh tables; a community with an admin and a volunteer who have real passwords."""
    world = await new_world(db)
    root, community = world.root, world.community
    assert root is not None
    await accounts.add_member(db, root, community.id, "15000000001", "李书记", PASSWORD, "admin")
    await accounts.add_member(db, root, community.id, "15000000002", "陈小红", PASSWORD)
    await accounts.add_member(db, root, community.id, "13900000001", "alice")
    return {"cid": community.id}


@pytest.fixture
def people(database_url: str) -> dict[str, Any]:
    # Built in its own thread and event loop: Playwright's sync API owns this thread's loop.
    result: dict[str, Any] = seeded(database_url, _build)
    return result


def log_in(page: Any, base: str, phone: str, next_path: str = "/") -> None:
    page.goto(f"{base}/login?next={next_path}")
    page.fill("input[name=phone]", phone)
    page.fill("input[name=password]", PASSWORD)
    page.click("#login-form button[type=submit]")
    page.wait_for_url(re.compile(re.escape(base) + re.escape(next_path) + r"(\?.*)?$"))


def stored_phones(database_url: str) -> set[str]:
    """Read the database from another thread: Playwright's sync API owns this thread's event loop."""

    async def read() -> set[str]:
        engine = create_engine(database_url)
        try:
            async with create_session_maker(engine)() as db:
                return set(await db.scalars(select(Member.phone)))
        finally:
            await engine.dispose()

    return set(_in_thread(asyncio.run, read()))


def no_sideways_scroll(page: Any) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], f"page is {width}px wide at {page.viewport_size['width']}px"


def test_login_home_and_language_switch(people: Any, live_server: str, phone: Any) -> None:
    page = phone.new_page()
    page.goto(live_server + "/")
    assert "/login" in page.url  # not logged in: sent to the login page
    assert page.locator("h1").inner_text() == "登录"
    page.screenshot(path=f"{SHOTS}-login.png", full_page=True)
    no_sideways_scroll(page)

    page.fill("input[name=phone]", "150 0000 0002")
    page.fill("input[name=password]", "wrong-password")
    page.click("#login-form button[type=submit]")
    error = page.locator("[data-error]")
    error.wait_for(state="visible")
    assert "手机号或密码错误" in error.inner_text()  # the API's refusal, in the page's language
    assert "/login" in page.url

    log_in(page, live_server, "15000000002")
    assert page.locator("h1.hello").inner_text() == "陈小红，您好"
    card = page.locator("section.community")
    assert "测试社区" in card.inner_text()
    assert "居民/志愿者" in card.inner_text()
    tabs = page.locator("nav.tabs").inner_text()
    for word in ("首页", "活动", "积分超市", "商家优惠", "微心愿"):
        assert word in tabs
    assert page.locator("[data-logout]").inner_text() == "退出"
    assert page.get_by_role("link", name="首页").get_attribute("aria-current") == "page"
    page.screenshot(path=f"{SHOTS}-home-zh.png", full_page=True)
    no_sideways_scroll(page)

    page.click("[data-testid=lang-switch]")
    page.wait_for_url(re.compile(r"lang=en"))
    assert page.locator("h1.hello").inner_text() == "Hello, 陈小红"
    assert page.locator("[data-logout]").inner_text() == "Log out"
    assert "Home" in page.locator("nav.tabs").inner_text()
    assert page.locator("html").get_attribute("lang") == "en"
    page.goto(live_server + "/")  # the choice is remembered without ?lang=
    page.reload()
    assert page.locator("h1.hello").inner_text() == "Hello, 陈小红"
    assert "Member" in page.locator("section.community").inner_text()
    page.screenshot(path=f"{SHOTS}-home-en.png", full_page=True)

    page.click("[data-testid=lang-switch]")  # and back to Chinese
    page.wait_for_url(re.compile(r"lang=zh_CN"))
    assert page.locator("h1.hello").inner_text() == "陈小红，您好"

    page.click("[data-logout]")
    page.wait_for_url(re.compile(r"/login"))
    page.goto(live_server + "/")
    assert "/login" in page.url  # the logout ended the session


def test_admin_lists_and_adds_members(people: Any, database_url: str, live_server: str, phone: Any) -> None:
    page = phone.new_page()
    log_in(page, live_server, "15000000001")
    page.click("a[href^='/admin']")
    page.wait_for_url(re.compile(r"/admin\?community="))
    table = page.locator("[data-testid=members]")
    assert "陈小红" in table.inner_text() and "alice" in table.inner_text()
    assert "管理 · 测试社区" in page.locator("h1").inner_text()
    page.screenshot(path=f"{SHOTS}-admin.png", full_page=True)
    no_sideways_scroll(page)

    form = page.locator("#add-member")
    form.locator("input[name=phone]").fill("151 0000 0009")
    form.locator("input[name=name]").fill("周玉兰")
    form.locator("select[name=role]").select_option("organizer")
    with page.expect_navigation():
        form.locator("button[type=submit]").click()
    row = page.locator("[data-testid=members] tr", has_text="周玉兰")
    row.wait_for()
    assert "15100000009" in row.inner_text()
    assert "组织者" in row.inner_text() and "居民/志愿者" in row.inner_text()
    assert "已邀请" in row.inner_text()  # no password: she chooses her own with the invitation card

    # A bad phone shows the reason on the form and adds nobody.
    form = page.locator("#add-member")
    form.locator("input[name=phone]").fill("12345")
    form.locator("input[name=name]").fill("坏号码")
    form.locator("button[type=submit]").click()
    error = form.locator("[data-error]")
    error.wait_for(state="visible")
    assert "请输入 11 位中国大陆手机号" in error.inner_text()
    page.screenshot(path=f"{SHOTS}-admin-error.png", full_page=True)
    assert page.locator("[data-testid=members] tr", has_text="坏号码").count() == 0

    # Import a spreadsheet with one bad row: refused with its line number, then imported with skip-bad.
    csv = "phone,name\n15100000021,吴一\n12345,坏号码\n".encode()
    upload = page.locator("#import-members")
    upload.locator("input[name=file]").set_input_files(
        files=[{"name": "members.csv", "mimeType": "text/csv", "buffer": csv}]
    )
    upload.locator("button[type=submit]").click()
    refused = upload.locator("[data-error]")
    refused.wait_for(state="visible")
    assert (
        "第 3 行：不是有效的大陆手机号" in refused.inner_text() and "未导入任何数据" in refused.inner_text()
    )
    assert "15100000021" not in stored_phones(database_url)
    upload.locator("input[name=skip_bad]").check()
    upload.locator("button[type=submit]").click()
    report = upload.locator("[data-report]")
    report.wait_for(state="visible")
    assert report.inner_text().startswith("新增 1 人，更新 0 人")
    assert refused.is_hidden()  # the earlier refusal no longer shows
    assert "15100000021" in stored_phones(database_url)

    page.set_viewport_size({"width": 360, "height": 740})  # the narrowest phones we promise
    page.reload()
    no_sideways_scroll(page)
    search = page.locator("form.search button").bounding_box()
    assert search is not None and search["height"] < 60  # its label stays on one line
    page.screenshot(path=f"{SHOTS}-admin-360.png", full_page=True)
    assert "15100000009" in stored_phones(database_url)
    assert "12345" not in stored_phones(database_url)


def test_members_page_is_for_admins_only(people: Any, live_server: str, phone: Any) -> None:
    page = phone.new_page()
    log_in(page, live_server, "15000000002")
    response = page.goto(f"{live_server}/admin?community={people['cid']}")
    assert response is not None and response.status == 403
    assert "没有执行此操作所需的角色" in page.locator("main").inner_text()
    page.goto(f"{live_server}/admin")
    assert "您不是任何社区的管理员" in page.locator("main").inner_text()
