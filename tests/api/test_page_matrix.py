"""Every HTML page, called by every role: the roles it names get the page (200, HTML), everyone else the
error page in Chinese (or, logged out, the way to the login page).

The pages come from the app's route table, so a new page without a line in ``PAGES`` fails
``test_every_page_has_an_expectation``. The people, community B and community A's resources are the
API matrix's (tests/api/test_route_matrix.py); every page is asked with ``?community=`` community A.

To add a page: ``"GET /path/{param}": Page(allow=(roles...))``; ``deny`` overrides a refused role's status
(default: 303 to /login for anonymous, 403 for everyone else); a path parameter needs a line in ``PARAMS``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from tests.support.matrix import A_PEOPLE, EVERYONE, LOGGED_IN, ROLES
from tests.support.matrix import people as _people
from tests.support.matrix import poster as _poster
from tests.support.matrix import resources as _resources
from tests.support.matrix import tokens as _tokens
from tests.support.world import World

HAN = re.compile(r"[\u4e00-\u9fff]")


@dataclass
class Page:
    allow: tuple[str, ...]
    deny: dict[str, int] = field(default_factory=dict)
    html: bool = True
    """False for what is not a page (health checks, the icon): only the status is checked."""
    error_page: bool = True
    """False where a refusal is the page's own message (still in Chinese), not the error page."""
    moved_to: str | None = None
    """An old address: every role is redirected to one starting with this (the new page decides)."""


NO_SUCH = {role: 404 for role in LOGGED_IN}
"""Refusals that say "no such thing" (a code only its holders can look up)."""

PAGES: dict[str, Page] = {
    "GET /healthz": Page(EVERYONE, html=False),
    "GET /readyz": Page(EVERYONE, html=False),
    "GET /login": Page(EVERYONE),
    # Pages about the caller's own community (an outsider sees theirs, B).
    "GET /": Page(LOGGED_IN),
    "GET /activities": Page(LOGGED_IN),
    "GET /me/card": Page(LOGGED_IN),
    "GET /me/code": Page(LOGGED_IN),  # one's own signed check-in code (issue 23)
    "GET /me/hours": Page(LOGGED_IN),
    "GET /teams": Page(LOGGED_IN),
    # B's admin creates activities in B (the form is for the caller's own community).
    "GET /activities/new": Page(("organizer", "admin", "other_admin")),
    # Community A's pages: its people.
    "GET /points": Page(A_PEOPLE),
    "GET /activities/{aid}": Page(A_PEOPLE),
    "GET /store": Page(A_PEOPLE),
    "GET /orders": Page(A_PEOPLE),
    "GET /offers": Page(A_PEOPLE),
    "GET /vouchers": Page(A_PEOPLE),
    "GET /claims": Page(A_PEOPLE),
    "GET /households": Page(A_PEOPLE),
    "GET /ratings": Page(A_PEOPLE),
    "GET /wishes": Page(A_PEOPLE),
    # A check-in QR opened by someone of another community: the landing page says why not.
    "GET /c/{token}": Page(A_PEOPLE, error_page=False),
    # Staff pages.
    "GET /kiosk/{aid}": Page(("organizer", "admin")),
    "GET /poster/{aid}": Page(("organizer", "admin")),
    "GET /m/{token}": Page(("organizer", "clerk", "admin")),  # a member's card, scanned by staff
    "GET /scan": Page(("organizer", "clerk", "admin")),  # the offline check-in scanner
    "GET /store/counter": Page(("clerk", "admin")),
    "GET /admin/store": Page(("clerk", "admin")),
    "GET /partner": Page(("partner",)),
    "GET /admin": Page(("admin",)),
    "GET /admin/awards": Page(("admin",)),
    "GET /admin/rules": Page(("admin",)),
    "GET /admin/audit": Page(("admin",)),
    "GET /admin/invitations": Page(("admin",)),
    "GET /admin/proposals": Page(("admin",)),
    "GET /reports": Page(("admin",)),
    "GET /admin/regions": Page(()),  # the platform admin's
    # Alice's certificate: hers, and her community's organizers and admins.
    "GET /certificate/{mid}": Page((), moved_to="/members/"),  # now the member's numbered certificates
    # Codes only their holders (and the staff who take them) look up.
    "GET /o/{code}": Page(("member", "clerk", "admin"), deny=NO_SUCH),
    "GET /v/{code}": Page(("member", "partner", "admin"), deny=NO_SUCH),
    # Public pages.
    "GET /board/{cid}": Page(EVERYONE),
    "GET /b/{code}": Page(EVERYONE),
    "GET /b/{code}/poster": Page(EVERYONE),
    "GET /join/{code}": Page(EVERYONE),
    "GET /favicon.ico": Page(EVERYONE, html=False),
    # The offline page the service worker keeps, its script and the scanner's web app manifest.
    "GET /offline": Page(EVERYONE),
    "GET /sw.js": Page(EVERYONE, html=False),
    "GET /scan.webmanifest": Page(EVERYONE, html=False),
    # Without a signed certificate's query ("not genuine"), or a scan to sign up after, nothing to show
    # (their successful pages are tested in tests/api/test_onboarding_api.py and the activities tests).
    "GET /certificate/verify": Page((), deny=dict.fromkeys(ROLES, 404), error_page=False),
    "GET /register": Page((), deny=dict.fromkeys(ROLES, 404)),
    # Held accounts (issue 19), residents' own data (issue 22), the street's alliance (issue 20).
    "GET /me/secure": Page(LOGGED_IN),
    "GET /me/data": Page(LOGGED_IN),
    "GET /privacy": Page(EVERYONE),
    "GET /privacy/accept": Page(LOGGED_IN),
    "GET /admin/member-requests": Page(("admin",)),
    "GET /alliance": Page(()),  # a region's officials and the platform admin
    # Records (issue 21): one's own ID document; a member's certificates (hers, her community's organizers
    # and admins); a certificate's print view (its issuers); the public check, without a number: nothing.
    "GET /me/identity": Page(LOGGED_IN),
    "GET /members/{mid}/certificates": Page(("member", "organizer", "admin")),
    "GET /certificates/{cert_id}": Page(("organizer", "admin")),
    "GET /certificates/verify": Page((), deny=dict.fromkeys(ROLES, 404), error_page=False),
}
"""``"GET path"`` (path parameters without their type) -> who gets the page. Every non-API route."""

PARAMS = {
    ("activities", "aid"): "activity",
    ("kiosk", "aid"): "activity",
    ("poster", "aid"): "activity",
    ("c", "token"): "poster_token",
    ("m", "token"): "card_token",
    ("certificate", "mid"): "member",
    ("o", "code"): "pickup_code",
    ("v", "code"): "voucher_code",
    ("board", "cid"): "cid",
    ("b", "code"): "board_code",
    ("join", "code"): "activation_code",
    ("members", "mid"): "member",
    ("certificates", "cert_id"): "certificate",
}
"""(the path segment before a parameter, the parameter) -> the resource it names."""


def page_routes(app: Any) -> list[str]:
    keys = []
    for route in app.routes:
        if route.path.startswith(("/api/", "/schema", "/static", "/assets/", "/metrics")):
            continue  # files (tests/api/test_assets.py) and Prometheus' scrape (tests/api/test_metrics.py)
        path = re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path)
        for method in sorted(getattr(route, "methods", set()) - {"OPTIONS", "HEAD"}):
            keys.append(f"{method} {path}")
    return keys


def fill(path: str, ids: dict[str, str]) -> str:
    parts = path.split("/")
    for i, part in enumerate(parts):
        if part.startswith("{"):
            parts[i] = ids[PARAMS[(parts[i - 1], part[1:-1])]]
    return "/".join(parts)


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
