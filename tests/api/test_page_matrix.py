"""Every HTML page, called by every role: the roles it names get the page (200, HTML), everyone else the
error page in Chinese (or, logged out, the way to the login page).

The pages come from the app's route table, so a new page without a line in ``PAGES`` fails
``test_every_page_has_an_expectation``. The people, community B and community A's resources are the
API matrix's (tests/api/test_route_matrix.py); every page is asked with ``?community=`` community A.

The table (``PAGES``, ``PARAMS``) lives in tests/support/pages.py, shared with the accessibility sweep
(tests/e2e/test_accessibility_browser.py): a new page gets its line there and is swept too.
"""

from __future__ import annotations

import re
from typing import Any

from tests.support.matrix import ROLES
from tests.support.matrix import people as _people
from tests.support.matrix import poster as _poster
from tests.support.matrix import resources as _resources
from tests.support.matrix import tokens as _tokens
from tests.support.pages import PAGES, Page, fill, page_routes
from tests.support.world import World

HAN = re.compile(r"[\u4e00-\u9fff]")


async def test_every_page_has_an_expectation(app: Any) -> None:
    routes = page_routes(app)
    missing = [k for k in routes if k not in PAGES]
    stale = [k for k in PAGES if k not in routes]
    assert not missing, f"pages with no line in PAGES (say who may see them): {missing}"
    assert not stale, f"PAGES names pages that no longer exist: {stale}"


def _verdict(page: Page, role: str, r: Any) -> str | None:
    html = r.headers.get("content-type", "").startswith("text/html")
    if r.status_code >= 500:
        return f"{r.status_code} (server error)"
    if page.moved_to is not None:
        moved = r.status_code in (301, 303, 307, 308)
        where = r.headers.get("location", "")
        return None if moved and where.startswith(page.moved_to) else f"{r.status_code} {where}, not moved"
    if role in page.allow:
        if r.status_code != 200:
            return f"{r.status_code}, but {role} is allowed"
        if page.html and not (html and 'lang="zh' in r.text):
            return "not an HTML page in Chinese"
        return None
    wanted = page.deny.get(role, 303 if role == "anonymous" else 403)
    if r.status_code != wanted:
        return f"{r.status_code}, expected {wanted}"
    if wanted in (302, 303):
        return None if r.headers.get("location", "").startswith("/login?next=") else "not sent to the login"
    detail = re.findall(r'data-testid="error-detail">([^<]*)<', r.text)
    if page.error_page and not detail:
        return "not the error page"
    text = detail[0] if detail else r.text
    if not (html and 'lang="zh' in r.text and HAN.search(text)):
        return f"the refusal is not in Chinese: {text[:80]!r}"
    return None


async def test_every_page_shows_its_roles_and_refuses_the_rest_in_chinese(
    client: Any, world: World, maker: Any, app: Any
) -> None:
    people, b_cid = await _people(maker, world)
    headers = await _tokens(maker, people)
    res = await _resources(client, world, b_cid)
    await _poster(client, res)
    res.ids["board_code"] = world.community.code
    problems = []
    cells = 0
    for key in page_routes(app):
        page = PAGES[key]
        url = fill(key.split(" ", 1)[1], res.ids)
        for role in ROLES:
            client.cookies.clear()
            r = await client.get(
                url, headers=headers[role], params={"community": str(world.cid)}, follow_redirects=False
            )
            cells += 1
            problem = _verdict(page, role, r)
            if problem:
                problems.append(f"{key} as {role}: {problem}")
    assert not problems, "\n".join(problems)
    assert cells >= 44 * len(ROLES)
