"""On a 390 px phone, in Chinese (issue 20): the street official adds a unit and invites its staff at
/alliance; a resident of the neighbour community 建兰 sees the street unit's offers with address and
hours (the one beyond her points disabled, saying why), claims one, is reminded on her home page before
it expires; the unit's staff redeem it at /partner, whose month shows 建兰社区's row."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from service.accounts import service as accounts
from service.accounts.actor import Actor
from service.points import service as points
from service.regions import service as regions
from service.regions import units_service as units
from service.store import service as store
from tests.support.browser import logged_in
from tests.support.database import seeded
from tests.support.world import GENEROUS_BUDGET, SECRET, World, new_world

pytestmark = pytest.mark.browser


async def _build(db: AsyncSession) -> dict[str, Any]:
    world = await new_world(db)
    root = world.root
    assert root is not None
    city = await regions.create_region(db, root, "兰州市", "lz", "city")
    district = await regions.create_region(db, root, "七里河区", "qlh", "district", city.id)
    street = await regions.create_region(db, root, "石油路街道", "syl", "street", district.id)
    jianlan = await accounts.create_community(db, root, "建兰社区", "jianlan")
    await points.set_budget(db, jianlan.id, GENEROUS_BUDGET, set_by=root.member_id)
    for cid in (world.cid, jianlan.id):
        await regions.set_community_region(db, root, cid, street.id)
    resident = await accounts.add_member(db, root, jianlan.id, "13500000001", "建兰居民", None, "member")
    official = await accounts.add_member(db, root, jianlan.id, "13600000001", "街道干部", None, "member")
    await regions.add_official(db, root, street.id, official.phone)
    await points.award(
        db, community_id=jianlan.id, member_id=resident.id, points=100, code="test",
        idempotency_key=f"fund-{uuid.uuid4()}",
    )  # fmt: skip
    unit = await units.create_unit(
        db, root, street.id, name="康乐药房", address="石油路 12 号", kind="health", hours="8:00-21:00"
    )
    staff = (await units.invite_staff(db, root, unit.id, "13500000009", "药房店员", SECRET)).member
    actor = Actor(staff.id, staff.name, staff.phone)
    cheap = await store.create_offer(
        db, actor, unit.id, title="免费测血压", points_price=10, voucher_hours=24
    )
    dear = await store.create_offer(db, actor, unit.id, title="推拿一次", points_price=300)
    for name, m in (("resident", resident), ("official", official), ("staff", staff)):
        world.members[name] = m
    return {"world": world, "cheap": cheap, "dear": dear, "jianlan": jianlan.id}


@pytest.fixture
def street(database_url: str) -> dict[str, Any]:
    result: dict[str, Any] = seeded(database_url, _build)
    return result


def test_a_neighbour_resident_claims_and_the_street_unit_redeems(
    live_server: str, browser: Any, phone: Any, street: dict[str, Any]
) -> None:
    world: World = street["world"]
    official = logged_in(phone, live_server, world, "official")
    official.goto(f"{live_server}/alliance")
    assert "康乐药房" in official.locator("h3").first.inner_text()
    official.fill("form[data-api$='/partners'] input[name=name]", "阳光健身房")
    official.select_option("form[data-api$='/partners'] select[name=kind]", "fitness")
    official.click("form[data-api$='/partners'] button[type=submit]")
    official.locator("h3", has_text="阳光健身房").wait_for()
    gym = official.locator(".unit", has_text="阳光健身房")
    gym.locator("summary").click()
    gym.locator("input[name=phone]").fill("13500000077")
    gym.locator("input[name=name]").fill("教练")
    gym.locator("button[type=submit]").click()
    code = gym.locator("[data-testid=activation-code]", has_text="一次性激活码")
    code.wait_for()
    assert any(ch.isdigit() for ch in code.inner_text().rsplit("：", 1)[-1])
    assert official.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scrolling
    official.screenshot(path="/tmp/alliance-units.png", full_page=True)

    phone.clear_cookies()
    resident = logged_in(phone, live_server, world, "resident")
    resident.goto(f"{live_server}/offers")
    cheap = resident.locator(f"[data-offer='{street['cheap'].id}']")
    assert "石油路 12 号" in cheap.inner_text() and "8:00-21:00" in cheap.inner_text()
    dear = resident.locator(f"[data-offer='{street['dear'].id}']")
    assert dear.locator("button").is_disabled()
    assert "积分不足" in dear.locator("[data-testid=short]").inner_text()
    resident.screenshot(path="/tmp/alliance-offers.png", full_page=True)
    cheap.locator("button[type=submit]").click()
    resident.wait_for_url("**/vouchers?**")
    voucher = resident.locator("[data-testid=voucher-code]").first.inner_text().strip()
    resident.goto(f"{live_server}/")
    assert "免费测血压" in resident.locator("[data-testid=voucher-expiring]").first.inner_text()

    phone.clear_cookies()
    staff = logged_in(phone, live_server, world, "staff")
    staff.goto(f"{live_server}/partner")
    staff.fill("#redeem input[name=code]", voucher)
    staff.click("#redeem button[type=submit]")
    staff.locator("[data-testid=month-count]", has_text="1").wait_for()
    assert "建兰社区" in staff.locator("[data-testid=by-community]").inner_text()
    staff.screenshot(path="/tmp/alliance-partner.png", full_page=True)
