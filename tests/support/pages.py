"""The page matrix's table: every HTML page and the roles that get it (``PAGES``), the resources its path
parameters name (``PARAMS``), and the app's page routes. Shared by the page matrix
(tests/api/test_page_matrix.py) and the accessibility sweep (tests/e2e/test_accessibility_browser.py).

To add a page: ``"GET /path/{param}": Page(allow=(roles...))``; ``deny`` overrides a refused role's status
(default: 303 to /login for anonymous, 403 for everyone else); a path parameter needs a line in ``PARAMS``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from tests.support.matrix import A_PEOPLE, EVERYONE, LOGGED_IN, ROLES

__all__ = ["NO_SUCH", "PAGES", "PARAMS", "Page", "fill", "page_routes"]


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
    # Without a signed certificate's query ("not genuine"), or a scan to sign up after, nothing to show
    # (their successful pages are tested in tests/api/test_onboarding_api.py and the activities tests).
    "GET /certificate/verify": Page((), deny=dict.fromkeys(ROLES, 404), error_page=False),
    "GET /register": Page((), deny=dict.fromkeys(ROLES, 404)),
    # Held accounts (issue 19), residents' own data (issue 22), the street's alliance (issue 20).
    "GET /me/secure": Page(LOGGED_IN),
    "GET /me/data": Page(LOGGED_IN),
    "GET /notices": Page(LOGGED_IN),  # one's own notices (issue 22)
    "GET /me/code": Page(LOGGED_IN),  # one's own signed check-in code (issue 23)
    "GET /scan": Page(("organizer", "admin")),  # the offline check-in scanner
    # The offline page the service worker keeps, its script and the scanner's web app manifest.
    "GET /offline": Page(EVERYONE),
    "GET /sw.js": Page(EVERYONE, html=False),
    "GET /scan.webmanifest": Page(EVERYONE, html=False),
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
