"""Browser: an organizer whose account was opened with the office's code is asked, on the home page, to
secure it, and does so with an SMS code to their own phone (zh-CN, 390x844)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from service.accounts import onboarding
from service.accounts import service as accounts
from tests.support.database import seeded
from tests.support.sms import plant_sms_code
from tests.support.world import SECRET, add_person, new_world

pytestmark = pytest.mark.browser
PHONE = "15900000301"


async def _seed(db: AsyncSession) -> dict[str, Any]:
    world = await new_world(db)
    await add_person(db, world, "社区主任", "13800000001", "admin")
    admin = world.actor("社区主任")
    member = await accounts.add_member(db, admin, world.cid, PHONE, "马志强", None, "organizer")
    _row, code = await onboarding.issue_activation(db, admin, world.cid, member.id, SECRET)
    token, _ = await onboarding.activate(db, code, "card-pass-11", "127.0.0.1", SECRET)
    return {"token": token}


@pytest.fixture
def held(database_url: str) -> dict[str, Any]:
    return seeded(database_url, _seed)


def test_a_held_organizer_secures_the_account_from_the_home_page(
    live_server: str, phone: Any, held: dict[str, Any], database_url: str
) -> None:
    from playwright.sync_api import expect

    phone.add_cookies([{"name": "jifen_token", "value": held["token"], "url": live_server}])
    page = phone.new_page()
    page.goto(live_server + "/")
    banner = page.locator("[data-testid=account-held]")
    expect(banner).to_contain_text("请先用发到本人手机的短信验证码重设密码")
    page.screenshot(path="/tmp/jifen-held-home.png", full_page=True)
    banner.locator("a").click()
    form = page.locator("#secure-form")
    expect(form.locator("#phone")).to_have_value(PHONE)
    form.locator("[data-send-sms]").click()
    expect(page.locator("#toast")).to_have_text("验证码已发送，5 分钟内有效。")
    plant_sms_code(database_url, PHONE, "135790")
    form.locator("input[name=code]").fill("135790")
    form.locator("input[name=password]").fill("my-own-pass-2")
    form.locator("#password-repeat").fill("my-own-pass-2")
    page.screenshot(path="/tmp/jifen-held-secure.png", full_page=True)
    with page.expect_navigation():
        form.locator("button[type=submit]").click()
    expect(page.locator("h1.hello")).to_contain_text("马志强")
    expect(page.locator("[data-testid=account-held]")).to_have_count(0)
