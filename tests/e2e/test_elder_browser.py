"""长辈版 (elder mode) in a phone browser: chosen at the login page or with ``?mode=elder``, remembered in
a cookie as the language is, switched back from the header of any page; its home is four large tiles
(balance, my card, scan, store). Invitation cards and the member card print at 12 pt or more, with the
whole join address (the one the card's QR code carries)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from service.accounts import service as accounts
from service.points import service as points
from tests.support.a11y import size_problems
from tests.support.browser import logged_in as _login
from tests.support.database import seeded
from tests.support.qr import read_qr
from tests.support.world import SECRET, World, add_person, new_world

pytestmark = pytest.mark.browser
SHOTS = "/tmp/jifen-elder"
TWELVE_POINTS_PX = 16.0


async def _build(db: AsyncSession) -> World:
    world = await new_world(db)
    await add_person(db, world, "李书记", "13800000001", "admin")
    await add_person(db, world, "王奶奶", "13900000001", "member")
    await points.award(
        db, community_id=world.cid, member_id=world.members["王奶奶"].id, points=85, code="checkin",
        memo="社区大扫除", idempotency_key=f"k-{uuid.uuid4()}",
    )  # fmt: skip
    assert world.root is not None
    for i in range(2):  # imported residents without a password: they get invitation cards
        await accounts.add_member(
            db, world.actor("李书记"), world.cid, f"1392222000{i}", f"居民{i}", secret_key=SECRET
        )
    return world


@pytest.fixture
def elder_world(database_url: str) -> World:
    world: World = seeded(database_url, _build)
    return world


def _mode_cookie(context: Any) -> str | None:
    return next((c["value"] for c in context.cookies() if c["name"] == "jifen_mode"), None)


def _font_px(page: Any, selector: str) -> float:
    return float(page.eval_on_selector(selector, "(el) => parseFloat(getComputedStyle(el).fontSize)"))


def test_a_grandmother_turns_on_elder_mode_at_login_and_it_stays(
    live_server: str, phone: Any, elder_world: World
) -> None:
    world = elder_world
    page = phone.new_page()
    page.goto(f"{live_server}/login")
    assert _font_px(page, "body") == 16
    switch = page.get_by_test_id("login-mode-switch")
    assert switch.inner_text() == "字太小？切换到长辈版（大字）"
    switch.click()
    page.wait_for_url("**/login?mode=elder")
    assert page.evaluate("document.documentElement.className") == "elder"
    assert _mode_cookie(phone) == "elder"
    assert _font_px(page, "body") >= 18 and _font_px(page, "label") >= 18
    assert page.get_by_test_id("login-mode-switch").count() == 0  # the header's switch says 标准版 now
    assert page.get_by_test_id("mode-switch").inner_text() == "标准版"
    assert size_problems(page, "elder") == []
    page.screenshot(path=f"{SHOTS}-login.png", full_page=True)

    # Logged in (the cookie, not the address, carries the mode): the simple home.
    home = _login(phone, live_server, world, "王奶奶")
    home.goto(f"{live_server}/")
    tiles = home.get_by_test_id("elder-home")
    assert tiles.get_by_test_id("available").inner_text() == "85"
    for tile in ("elder-balance", "elder-card", "elder-scan", "elder-store"):
        box = tiles.get_by_test_id(tile).bounding_box()
        assert box is not None and box["width"] >= 60 and box["height"] >= 60, (tile, box)
    assert "扫码签到" in tiles.get_by_test_id("elder-scan").inner_text()
    assert home.get_by_test_id("points-panel").count() == 0  # no long history in elder mode
    assert size_problems(home, "elder") == []
    home.screenshot(path=f"{SHOTS}-home.png", full_page=True)

    tiles.get_by_test_id("elder-store").click()
    home.wait_for_url("**/store?community=*")
    assert home.evaluate("document.documentElement.className") == "elder"

    # Back to the standard pages from the header: the community stays chosen, the cookie changes.
    home.get_by_test_id("mode-switch").click()
    home.wait_for_url(f"**/store?community={world.cid}&mode=standard")
    assert home.evaluate("document.documentElement.className") == ""
    assert _mode_cookie(phone) == "standard"
    home.goto(f"{live_server}/")
    assert home.get_by_test_id("points-panel").get_by_test_id("available").inner_text() == "85"
    assert home.get_by_test_id("elder-home").count() == 0
    assert home.get_by_test_id("mode-switch").inner_text() == "长辈版"
    assert size_problems(home, "standard") == []
    home.screenshot(path=f"{SHOTS}-home-standard.png", full_page=True)


def _printed_text_sizes(page: Any, selector: str) -> list[tuple[str, float]]:
    """(text, font size in px) of every visible text inside ``selector`` as printed."""
    return list(
        page.evaluate(
            """(selector) => {
              const out = [];
              for (const root of document.querySelectorAll(selector)) {
                const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
                while (walker.nextNode()) {
                  const text = walker.currentNode.textContent.trim();
                  const el = walker.currentNode.parentElement;
                  if (!text || el.closest("svg") || !el.getClientRects().length) continue;
                  out.push([text, parseFloat(getComputedStyle(el).fontSize)]);
                }
              }
              return out;
            }""",
            selector,
        )
    )


@pytest.mark.parametrize("mode", ["standard", "elder"])
def test_invitation_cards_and_the_member_card_print_at_12_points(
    live_server: str, browser: Any, elder_world: World, mode: str
) -> None:
    world = elder_world
    context = browser.new_context(viewport={"width": 900, "height": 1200}, locale="zh-CN")
    try:
        office = _login(context, live_server, world, "李书记")
        office.goto(f"{live_server}/admin/invitations?community={world.cid}&mode={mode}")
        office.emulate_media(media="print")
        sizes = _printed_text_sizes(office, "[data-testid=invite-card]")
        assert len(sizes) >= 2 * 6, sizes
        small = [(text, px) for text, px in sizes if px < TWELVE_POINTS_PX - 0.01]
        assert not small, f"printed below 12 pt: {small}"
        cards = office.get_by_test_id("invite-card")
        assert cards.count() == 2
        for i in range(2):
            card = cards.nth(i)
            url = card.get_by_test_id("invite-url").inner_text().strip()
            assert "…" not in url and url.startswith(f"{live_server}/join/"), url
            box = card.get_by_test_id("invite-url").bounding_box()
            card_box = card.bounding_box()
            assert box is not None and card_box is not None
            assert box["y"] + box["height"] <= card_box["y"] + card_box["height"], "the address is cut off"
            qr = card.locator(".invite-qr svg").screenshot()
            assert read_qr(qr) == url  # what is printed is what the phone opens
        office.screenshot(path=f"{SHOTS}-invitations-print-{mode}.png", full_page=True)

        member = _login(context, live_server, world, "王奶奶")
        member.goto(f"{live_server}/me/card?community={world.cid}&mode={mode}")
        member.emulate_media(media="print")
        sizes = _printed_text_sizes(member, ".member-card")
        assert any("王奶奶" in text for text, _ in sizes)
        small = [(text, px) for text, px in sizes if px < TWELVE_POINTS_PX - 0.01]
        assert not small, f"printed below 12 pt: {small}"
    finally:
        context.close()


async def test_mode_query_sets_the_cookie_and_the_cookie_keeps_it(client: Any, world: World) -> None:
    r = await client.get("/login?mode=elder")
    assert r.status_code == 200 and '<html lang="zh-CN" class="elder">' in r.text
    assert "jifen_mode=elder" in r.headers["set-cookie"]
    client.cookies.set("jifen_mode", "elder")
    again = await client.get("/login")
    assert 'class="elder"' in again.text and "set-cookie" not in again.headers  # remembered, not re-set
    assert "标准版" in again.text
    odd = await client.get("/login?mode=huge")  # an unknown mode: the standard pages, no error
    assert odd.status_code == 200 and 'class="elder"' not in odd.text
    assert "jifen_mode=standard" in odd.headers["set-cookie"]
