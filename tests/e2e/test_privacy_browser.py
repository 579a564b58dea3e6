"""Browser (390 px, Chinese): the privacy notice at activation (unticked is refused in Chinese, ticked is
recorded), then "我的数据" with its counts, the downloads, and a deletion request with the stated time."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from service.accounts import onboarding
from service.accounts import service as accounts
from service.accounts.rules import PRIVACY_NOTICE_VERSION, REQUEST_DECISION_DAYS
from service.points import service as points
from tests.support.database import seeded
from tests.support.world import SECRET, add_person, new_world

pytestmark = pytest.mark.browser
PASSWORD = "my-own-pass-1"


async def _seed(db: AsyncSession) -> dict[str, Any]:
    world = await new_world(db)
    office = await add_person(db, world, "社区主任", "13800000001", "admin")
    admin = world.actor("社区主任")
    resident = await accounts.add_member(db, admin, world.cid, "13911110001", "陈秀红", secret_key=SECRET)
    await points.award(
        db,
        community_id=world.cid,
        member_id=resident.id,
        points=25,
        code="test",
        memo="扫雪",
        idempotency_key="seed-privacy",
    )
    _row, code = await onboarding.issue_activation(db, admin, world.cid, resident.id, SECRET)
    return {"code": code, "cid": str(world.cid), "admin_token": accounts.issue_token(office, SECRET)}


@pytest.fixture
def seeded_code(database_url: str) -> dict[str, Any]:
    return seeded(database_url, _seed)


def test_the_notice_at_activation_and_my_data(
    live_server: str, browser: Any, phone: Any, seeded_code: dict[str, Any]
) -> None:
    from playwright.sync_api import expect

    page = phone.new_page()
    page.goto(f"{live_server}/join/{seeded_code['code']}")
    form = page.locator("#join-form")
    expect(form).to_contain_text("我已阅读并同意")
    expect(form).to_contain_text(f"版本 {PRIVACY_NOTICE_VERSION}")
    page.fill("input[name=password]", PASSWORD)
    page.fill("#password-repeat", PASSWORD)
    page.click("#join-form button[type=submit]")
    expect(form.locator("[data-error]")).to_contain_text("请阅读并勾选同意《隐私政策》后继续。")
    box = page.locator("[data-testid=privacy-accept]").bounding_box()
    assert box is not None and box["width"] >= 20 and box["height"] >= 20
    page.screenshot(path="/tmp/jifen-privacy-join.png", full_page=True)

    # The notice opens from the form, in Chinese.
    notice = phone.new_page()
    notice.goto(f"{live_server}/privacy")
    expect(notice.locator("[data-testid=privacy-text]")).to_contain_text("个人信息保护法")
    expect(notice.locator("[data-testid=privacy-text]")).to_contain_text(f"{REQUEST_DECISION_DAYS} 天内")
    notice.screenshot(path="/tmp/jifen-privacy-notice.png", full_page=True)
    notice.close()

    page.check("[data-testid=privacy-accept]")
    page.click("#join-form button[type=submit]")
    expect(page.locator("h1.hello")).to_contain_text("陈秀红")
    expect(page.locator("[data-testid=privacy-ask]")).to_have_count(0)  # accepted at activation

    page.click("[data-testid=my-data-link]")
    expect(page.locator("[data-testid=my-data] h1")).to_have_text("我的数据")
    expect(page.locator("[data-testid=my-name]")).to_have_text("陈秀红")
    expect(page.locator("[data-testid=my-phone]")).to_have_text("13911110001")
    expect(page.locator("[data-section=ledger_entries] td").first).to_have_text("积分流水")
    expect(page.locator("[data-section=ledger_entries] td").nth(1)).to_have_text("1")
    expect(page.locator("[data-section=consents] td").nth(1)).to_have_text("1")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, width  # nothing wider than the phone

    with page.expect_download() as got:
        page.click("[data-testid=download-xlsx]")
    assert got.value.suggested_filename == "my-data.xlsx"

    deletion = page.locator("[data-testid=deletion-form]")
    expect(deletion).to_contain_text(f"社区管理员将在 {REQUEST_DECISION_DAYS} 天内处理")
    deletion.locator("input[name=reason]").fill("搬到外地")
    deletion.locator("button[type=submit]").click()
    expect(page.locator("[data-testid=my-requests]")).to_contain_text("注销账号")
    expect(page.locator("[data-testid=my-requests]")).to_contain_text("待处理")
    expect(page.locator("[data-testid=my-requests]")).to_contain_text("社区将于")
    page.screenshot(path="/tmp/jifen-my-data.png", full_page=True)

    # The community's admin grants it (on a phone too); the resident's login ends and the name is gone.
    office = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN")
    office.add_cookies([{"name": "jifen_token", "value": seeded_code["admin_token"], "url": live_server}])
    admin = office.new_page()
    admin.goto(f"{live_server}/admin/member-requests?community={seeded_code['cid']}")
    listed = admin.locator("[data-testid=member-requests] li")
    expect(listed).to_have_count(1)
    expect(listed).to_contain_text("陈秀红")
    expect(listed).to_contain_text("搬到外地")
    admin.screenshot(path="/tmp/jifen-member-requests.png", full_page=True)
    listed.locator("button.primary").click()
    expect(admin.locator("[data-testid=member-requests]")).to_contain_text("没有申请。")
    admin.goto(f"{live_server}/admin?community={seeded_code['cid']}")
    expect(admin.locator("main")).not_to_contain_text("陈秀红")
    page.goto(f"{live_server}/me/data")
    assert "/login" in page.url
    office.close()
