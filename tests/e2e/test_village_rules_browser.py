"""Browser: the public board shows a deduction (扣分) apart from rewards, the person masked, and the
village rules in force with the meeting that adopted them (zh-CN, 390x844, no login)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from service import clock
from service.rewards import service as rewards
from tests.support.database import seeded
from tests.support.proposals import rule_of
from tests.support.world import populate

pytestmark = pytest.mark.browser


async def _seed(db: AsyncSession) -> dict[str, Any]:
    world = await populate(db)
    made = await rewards.create_rule(
        db, world.actor("admin"), world.cid, code="litter", title="乱扔垃圾", points=-20, publicity_days=5
    )
    rule = await rule_of(db, world, made)
    today = clock.now().date()
    await rewards.record_adoption(
        db, world.actor("admin"), rule.id, meeting="板凳会", held_on=today - timedelta(days=2),
        attendance=40, votes_for=33, votes_against=4, effective_from=today - timedelta(days=1),
    )  # fmt: skip
    reward = await rule_of(
        db,
        world,
        await rewards.create_rule(
            db, world.actor("admin"), world.cid, code="sorting", title="垃圾分类", points=10, publicity_days=5
        ),
    )
    claim = await rewards.submit_claim(
        db, world.actor("organizer"), rule.id, world.members["bob"].id, "在河边乱扔垃圾，网格员拍照为证"
    )
    await rewards.review_claim(db, world.actor("reviewer"), claim.id, "approve")
    good = await rewards.submit_claim(
        db, world.actor("alice"), reward.id, world.members["alice"].id, "分类达标"
    )
    await rewards.review_claim(db, world.actor("reviewer"), good.id, "approve")
    return {"code": world.community.code}


@pytest.fixture
def board(database_url: str) -> dict[str, Any]:
    return seeded(database_url, _seed)


def test_a_deduction_stands_apart_on_the_public_board(
    live_server: str, phone: Any, board: dict[str, Any]
) -> None:
    from playwright.sync_api import expect

    page = phone.new_page()
    page.goto(f"{live_server}/b/{board['code']}")
    deductions = page.locator("[data-testid=deductions-under-publicity]")
    expect(deductions.locator("h2")).to_have_text("扣分公示（村规民约）")
    expect(deductions.locator(".claim")).to_have_count(1)
    expect(deductions).to_contain_text("乱扔垃圾")
    expect(deductions).to_contain_text("-20")
    expect(deductions).not_to_contain_text("bob")  # the name is masked
    rewards_ = page.locator("[data-testid=under-publicity]")
    expect(rewards_.locator(".claim")).to_have_count(1)
    expect(rewards_).to_contain_text("+10")
    rules = page.locator("[data-testid=village-rules]")
    expect(rules).to_contain_text("板凳会通过（到会 40 人，赞成 33，反对 4）")
    expect(rules).to_contain_text("扣 20 分")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scrolling
    page.screenshot(path="/tmp/jifen-board-deduction.png", full_page=True)
