"""Every page of every role, in Chromium at 390 px in Chinese, in the standard pages and in 长辈版
(elder mode): axe-core finds no serious or critical violation, the size rules of issue 22 hold by
computed styles, and nothing is said by colour alone (tests/support/a11y.py).

The pages come from the page matrix (tests/support/pages.py, checked by tests/api/test_page_matrix.py):
each page its roles may see, made with the same people and resources, so a new page is swept as soon as
it has its line in ``PAGES``. A document another role already saw byte for byte is not checked twice.
One browser; one context per role, reused for both modes (the mode is the ``jifen_mode`` cookie).
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.support.a11y import AXE_SCRIPT, RULES, axe_problems, colour_problems, size_problems
from tests.support.matrix import ROLES
from tests.support.matrix import people as _people
from tests.support.matrix import poster as _poster
from tests.support.matrix import resources as _resources
from tests.support.matrix import tokens as _tokens
from tests.support.pages import PAGES, fill, page_routes
from tests.support.world import World

pytestmark = pytest.mark.browser

SHOTS = "/tmp/jifen-a11y"
SCREEN_ONLY = "['kiosk', 'poster'].some((c) => document.body.classList.contains(c))"
"""The kiosk (a projected QR code) and the posters (printed) have no header, so no mode switch."""
SHOT_PAGES = {
    ("anonymous", "GET /login"): "login",
    ("member", "GET /"): "home",
    ("member", "GET /store"): "store",
    ("member", "GET /activities/{aid}"): "activity",
    ("admin", "GET /reports"): "reports",
}
"""The main pages, kept as screenshots of both modes to look at (/tmp/jifen-a11y-<mode>-<name>.png)."""


@dataclass
class Sweep:
    cid: str
    tokens: dict[str, str]
    pages: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    """role -> [(page key, URL)] of the pages the role may see."""


@pytest.fixture
async def sweep(client: Any, world: World, maker: Any, app: Any) -> Sweep:
    people, b_cid = await _people(maker, world)
    headers = await _tokens(maker, people)
    res = await _resources(client, world, b_cid)
    await _poster(client, res)
    res.ids["board_code"] = world.community.code
    tokens = {role: h["Authorization"].split(" ", 1)[1] for role, h in headers.items() if h}
    found = Sweep(str(world.cid), tokens, {role: [] for role in ROLES})
    for key in page_routes(app):
        page = PAGES[key]
        if not page.html or page.moved_to is not None:
            continue
        url = fill(key.split(" ", 1)[1], res.ids)
        for role in page.allow:
            found.pages[role].append((key, url))
    found.pages["member"].append(("the error page", "/admin"))  # refused: the error page
    return found


def _context(browser: Any, base: str, token: str | None) -> Any:
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, locale="zh-CN", is_mobile=True, has_touch=True
    )
    context.set_default_timeout(15_000)
    context.add_init_script(script=AXE_SCRIPT)
    if token is not None:
        host = base.split("//", 1)[1].split(":")[0]
        context.add_cookies(
            [
                {"name": "jifen_token", "value": token, "domain": host, "path": "/"},
                {"name": "jifen_csrf", "value": "csrf-sweep", "domain": host, "path": "/"},
            ]
        )
    return context


def _set_mode(context: Any, base: str, mode: str) -> None:
    host = base.split("//", 1)[1].split(":")[0]
    context.add_cookies([{"name": "jifen_mode", "value": mode, "domain": host, "path": "/"}])


def test_every_page_of_every_role_passes_axe_and_the_size_rules(
    sweep: Sweep, live_server: str, browser: Any
) -> None:
    started = time.monotonic()
    problems: dict[str, list[str]] = {}
    checked: dict[tuple[str, str], list[str]] = {}
    visited = 0
    for role in ROLES:
        context = _context(browser, live_server, sweep.tokens.get(role))
        page = context.new_page()
        for mode in RULES:
            _set_mode(context, live_server, mode)
            for key, url in sweep.pages[role]:
                joiner = "&" if "?" in url else "?"
                reply = page.goto(f"{live_server}{url}{joiner}community={sweep.cid}")
                assert reply is not None
                # (the statuses are the page matrix's to check: a repeated scan page may refuse, in a page)
                assert reply.status < 500, f"{key} as {role}: {reply.status}"
                assert page.evaluate("document.documentElement.lang") == "zh-CN"
                elder = page.evaluate("document.documentElement.classList.contains('elder')")
                assert elder == (mode == "elder"), f"{key} as {role} is not in {mode} mode"
                visited += 1
                if page.locator(".chart").count():  # the dashboard draws its charts after the load
                    page.locator(".chart svg text").first.wait_for()
                if (role, key) in SHOT_PAGES:
                    page.screenshot(path=f"{SHOTS}-{mode}-{SHOT_PAGES[role, key]}.png", full_page=True)
                dom = hashlib.sha256(page.content().encode()).hexdigest()
                if (mode, dom) in checked:  # the very same document another role saw: same verdict
                    for what in checked[mode, dom]:
                        problems[what].append(role)
                    continue
                found = axe_problems(page, mode) + size_problems(page, mode) + colour_problems(page)
                if not page.evaluate(SCREEN_ONLY) and not page.get_by_test_id("mode-switch").is_visible():
                    found.append("no 长辈版 switch")
                checked[mode, dom] = [f"{mode} {key}: {problem}" for problem in found]
                for what in checked[mode, dom]:
                    problems.setdefault(what, []).append(role)
        context.close()
    seconds = time.monotonic() - started
    print(
        f"\naccessibility sweep: {visited} page views ({visited // 2} per mode), {len(checked)} distinct "
        f"documents checked, in {seconds:.0f} s"
    )
    lines = [f"{what}  [{', '.join(roles)}]" for what, roles in sorted(problems.items())]
    assert not lines, f"{len(lines)} problems:\n" + "\n".join(lines)
    assert visited >= 2 * 100  # every role's pages, not a handful
