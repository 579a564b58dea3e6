"""Foundation pages: login, home, members administration."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import quote

from litestar import Request, Response, get
from litestar.params import Parameter
from litestar.response import Redirect
from sqlalchemy.ext.asyncio import AsyncSession

from service.accounts import privacy
from service.accounts import service as accounts
from service.accounts import views as accounts_views
from service.accounts.actor import Actor
from service.accounts.models import Community
from service.config import LIST_LIMIT_DEFAULT, Settings
from service.errors import DomainError
from service.http import LANG_COOKIE
from service.kit.observe import REQUEST_ID
from service.points import views as points_views
from service.problems import add_localiser, set_error_page
from service.proposals import views as proposal_views
from service.regions import views as region_views
from service.web.guards import admin_community, lenient_cursor, next_cursor
from service.web.i18n import translator
from service.web.notices_pages import home_notices
from service.web.render import Site, context_of, env, locale_of, page

__all__ = ["ADMIN_LINKS", "LEVEL_NAMES", "N_", "ROLE_NAMES", "ROUTES", "admin_community", "scan_community"]


def N_(message: str) -> str:
    """Mark a msgid for ``pybabel extract`` without translating it here (templates translate it)."""
    return message


def pgettext(context: str, message: str) -> str:
    """Mark a msgid with its ``msgctxt`` for ``pybabel extract``; templates translate it with ``pgettext``."""
    return message


LEVEL_NAMES = {
    "city": N_("City"),
    "district": N_("District"),
    "street": N_("Street"),
    "community": N_("Community"),
}
"""Region levels in plain words (templates translate them)."""

ROLE_NAMES = {
    "admin": pgettext("role", "Administrator"),
    "organizer": pgettext("role", "Organizer"),
    "clerk": pgettext("role", "Store clerk"),
    "reviewer": pgettext("role", "Reviewer"),
    "partner": pgettext("role", "Partner staff"),
    "member": pgettext("role", "Member"),
    "platform_admin": pgettext("role", "Platform administrator"),
}
"""English role names; templates show them with ``pgettext("role", ROLE_NAMES[r])``."""
REGISTRATION_MODES = {
    "approval": N_("Yes, after an admin approves"),
    "auto": N_("Yes, at once"),
    "off": N_("No, only the office adds members"),
}
env.globals["registration_modes"] = REGISTRATION_MODES


def _localise_problem(request: Request[Any, Any, Any], text: str) -> str:
    """Problem details in the reader's language: the page's language cookie, else Accept-Language.

    API clients that ask for neither keep the English details; the ``code`` never changes.
    """
    if request.cookies.get(LANG_COOKIE):
        locale = locale_of(request)
    else:
        accept = request.headers.get("accept-language", "").strip().lower()
        locale = "zh_CN" if accept.startswith("zh") else "en"
    return text if locale == "en" else translator(locale).gettext(text)


add_localiser(_localise_problem)

STATUS_TITLES = {
    "400": N_("Something is not right"),
    "401": N_("Please log in"),
    "403": N_("Not allowed"),
    "404": N_("Page not found"),
    "405": N_("Not available here"),
    "409": N_("Cannot do that now"),
    "413": N_("Too large"),
    "422": N_("Please check the input"),
    "429": N_("Too many attempts"),
    "500": N_("Something went wrong"),
}
"""Headings of the error page by status (``error.html`` shows them translated, never a bare code)."""
env.globals["STATUS_TITLES"] = STATUS_TITLES


def _error_page(request: Request[Any, Any, Any], status: int, exc: DomainError) -> Response[str]:
    """A page visit that failed: the error page in the reader's language, not problem+json (showing
    who is logged in, when ``service.http.provide_maybe_actor`` found out before the error)."""
    actor: Actor | None = getattr(request.state, "actor", None)
    return page(
        request,
        "error.html",
        actor,
        status=status,
        title=str(status),
        detail=exc,
        request_id=REQUEST_ID.get(),
    )


set_error_page(_error_page)

ADMIN_LINKS: list[tuple[str, str]] = [("/admin", N_("Members"))]
"""This module's links of the administration sub-navigation (``service.web.site`` assembles them all)."""
REMOVABLE_BY_COMMUNITY_ADMIN = ("organizer", "clerk", "partner")
"""Roles the members page offers a community admin to remove (admin and reviewer: platform admin)."""
REMOVABLE_BY_PLATFORM_ADMIN = ("admin", "organizer", "clerk", "reviewer", "partner")


def _safe_next(target: str | None) -> str:
    # Only same-site paths: an open redirect would let a phishing link borrow our login page.
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target[:500]


async def scan_community(
    request: Request[Any, Any, Any], db: AsyncSession, settings: Settings, target: str
) -> Community | None:
    """The community running the activity of a check-in URL ``/c/<token>`` this phone opened logged out.

    A kiosk code rotates within seconds, so it is checked at the time the pending-scan cookie remembers.
    """
    from service.activities import service as activities
    from service.activities.http import pending_scan_of
    from service.errors import DomainError

    if not target.startswith("/c/"):
        return None
    token = target[3:][:100]
    try:
        scan = pending_scan_of(request, settings, token)
    except DomainError:  # a copied or forged scan cookie: the code is judged as of now
        scan = None
    at = datetime.fromtimestamp(scan.first_seen, tz=UTC) if scan is not None else None
    activity = await activities.peek_token(db, token, at)
    return None if activity is None else await accounts.get_community(db, activity.community_id)


@get("/login", include_in_schema=False)
async def login_page(
    request: Request[Any, Any, Any],
    db: AsyncSession,
    settings: Settings,
    maybe_actor: Actor | None,
    next: Annotated[str | None, Parameter(max_length=500)] = None,
) -> Response[str]:
    target = _safe_next(next)
    community = await scan_community(request, db, settings, target)
    offer = community is not None and community.self_registration != "off"
    register_url = f"/register?next={quote(target)}" if offer else None
    return page(request, "login.html", maybe_actor, next=target, register_url=register_url)


async def _panels(
    request: Request[Any, Any, Any], db: AsyncSession, actor: Actor, communities: list[Community]
) -> dict[str, Any]:
    """The home panels' templates and each community card's panel data (each domain's loader)."""
    site: Site = request.app.state.site
    data: dict[uuid.UUID, dict[str, Any]] = {c.id: {} for c in communities}
    for c in communities:
        for _template, loader in site.home_panels:
            data[c.id].update(await loader(db, actor, c))
    return {"panels": [t for t, _ in site.home_panels], "panel_data": data}


@dataclasses.dataclass(frozen=True)
class RegionHeadline:
    """An official's region on the home page: its headline figures this month and where to read more."""

    scope: str
    name: str
    level: str
    communities: int
    members: int
    issued: int
    budget: int
    budgets_missing: int
    """Communities with no budget set yet (nothing issues there)."""


async def _regions_of(db: AsyncSession, actor: Actor) -> list[RegionHeadline]:
    """The regions the caller is an official of (every root region for the platform admin); residents and
    community staff cost one query."""
    ids = [] if actor.is_platform_admin else await region_views.official_region_ids(db, actor.member_id)
    if not ids and not actor.is_platform_admin:
        return []
    tree = await region_views.load_tree(db)
    ids = tree.roots() if actor.is_platform_admin else ids
    out = []
    for rid in ids:
        region = tree.regions[rid]
        cids = tree.communities_under(rid)
        budgets = await points_views.budgets_of(db, cids) if cids else {}
        out.append(
            RegionHeadline(
                scope=f"region:{rid}",
                name=region.name,
                level=region.level,
                communities=len(cids),
                members=await accounts.count_members_in(db, cids),
                issued=sum(b.issued for b in budgets.values()),
                budget=sum(b.monthly_points or 0 for b in budgets.values()),
                budgets_missing=sum(1 for b in budgets.values() if b.monthly_points is None),
            )
        )
    return out


@get("/", include_in_schema=False)
async def home_page(request: Request[Any, Any, Any], db: AsyncSession, actor: Actor) -> Response[Any]:
    consent = await privacy.consent_state(db, actor.member_id)
    if consent == "stale":  # the notice changed since it was accepted: ask again first
        return Redirect("/privacy/accept?next=/")
    home = await accounts_views.home_of(db, actor)
    panels = await _panels(request, db, actor, home.communities)
    extra = {"official_regions": await _regions_of(db, actor), "consent": consent}
    extra |= await home_notices(db, actor)
    names = {"role_names": ROLE_NAMES, "level_names": LEVEL_NAMES}
    return page(request, "home.html", actor, **(context_of(home) | panels | extra | names))


@get("/admin", include_in_schema=False)
async def admin_members_page(
    request: Request[Any, Any, Any],
    db: AsyncSession,
    actor: Actor,
    community: Annotated[str | None, Parameter(max_length=64)] = None,
    cursor: Annotated[str | None, Parameter(max_length=200)] = None,
    q: Annotated[str | None, Parameter(max_length=64)] = None,
) -> Response[str]:
    chosen = await admin_community(request, db, actor, community)
    after = lenient_cursor(cursor)
    view = await accounts_views.members_admin(db, actor, chosen.id, LIST_LIMIT_DEFAULT, after, q)
    waiting = await proposal_views.pending_knobs(db, chosen.id)
    context = _members_context(actor, view, q) | {"waiting": waiting}
    return page(request, "admin/members.html", actor, community=chosen, **context)


def _members_context(actor: Actor, view: accounts_views.MembersAdminView, q: str | None) -> dict[str, Any]:
    return {
        "next_cursor": next_cursor(view.last),
        "q": q,
        "role_names": ROLE_NAMES,
        "removable": REMOVABLE_BY_PLATFORM_ADMIN if actor.is_platform_admin else REMOVABLE_BY_COMMUNITY_ADMIN,
        **context_of(view),
    }


ROUTES: list[Any] = [login_page, home_page, admin_members_page]
