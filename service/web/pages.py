"""Foundation pages: login, home, members administration."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import quote

from litestar import Request, Response, get
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from service.accounts import onboarding
from service.accounts import service as accounts
from service.accounts.models import Community
from service.accounts.service import Actor
from service.config import LIST_LIMIT_DEFAULT, Settings
from service.errors import DomainError, add_localiser, set_error_page
from service.http import LANG_COOKIE, decode_cursor, encode_cursor
from service.web.i18n import translator
from service.web.render import env, locale_of, page

__all__ = ["ADMIN_LINKS", "HOME_PANELS", "N_", "ROLE_NAMES", "ROUTES", "admin_community", "scan_community"]


def N_(message: str) -> str:
    """Mark a msgid for ``pybabel extract`` without translating it here (templates translate it)."""
    return message


def pgettext(context: str, message: str) -> str:
    """Mark a msgid with its ``msgctxt`` for ``pybabel extract``; templates translate it with ``pgettext``."""
    return message


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
    """A page visit that failed: the error page in the reader's language, not problem+json."""
    return page(request, "error.html", None, status=status, title=str(status), detail=exc)


set_error_page(_error_page)

HomePanel = Callable[[AsyncSession, Actor, Community], Awaitable[dict[str, Any]]]
HOME_PANELS: list[tuple[str, HomePanel]] = []
"""(template, loader) pairs shown in each community card of the home page; domains add theirs."""

ADMIN_LINKS: list[tuple[str, str]] = [("/admin", N_("Members"))]
REMOVABLE_BY_COMMUNITY_ADMIN = ("organizer", "clerk", "partner")
"""Roles the members page offers a community admin to remove (admin and reviewer: platform admin)."""
REMOVABLE_BY_PLATFORM_ADMIN = ("admin", "organizer", "clerk", "reviewer", "partner")
"""Links of the administration sub-navigation; domains add theirs."""


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


@get("/", include_in_schema=False)
async def home_page(request: Request[Any, Any, Any], db: AsyncSession, actor: Actor) -> Response[str]:
    memberships = await accounts.roles_of(db, actor.member_id)
    roles: dict[uuid.UUID, list[str]] = {}
    for m in memberships:
        roles.setdefault(m.community_id, []).append(m.role)
    communities = await accounts.list_communities(db, roles)
    panel_data: dict[uuid.UUID, dict[str, Any]] = {}
    for c in communities:
        data: dict[str, Any] = {}
        for _template, loader in HOME_PANELS:
            data.update(await loader(db, actor, c))
        panel_data[c.id] = data
    return page(
        request,
        "home.html",
        actor,
        communities=communities,
        roles=roles,
        role_names=ROLE_NAMES,
        panels=[t for t, _ in HOME_PANELS],
        panel_data=panel_data,
        pending_sign_ups=await onboarding.pending_sign_ups(db, actor.member_id),
    )


async def admin_community(
    request: Request[Any, Any, Any], db: AsyncSession, actor: Actor, community: str | None, *roles: str
) -> Community | Response[str]:
    """The community an admin page is about, or the page that lets the caller choose one."""
    wanted = roles or ("admin",)
    if community:
        try:
            cid = uuid.UUID(community)
            await accounts.require_role(db, actor, cid, *wanted)
            return await accounts.get_community(db, cid)
        except (ValueError, DomainError):
            return page(
                request,
                "error.html",
                actor,
                status=403,
                title="403",
                detail=N_("You do not have the role this needs in this community."),
            )
    if actor.is_platform_admin:
        # The platform admin's home: every community, and a form to create one.
        counted = await onboarding.list_all_communities(db, actor)
        return page(
            request, "admin/choose.html", actor, communities=[c for c, _n in counted], counted=counted
        )
    held = {
        m.community_id
        for m in await accounts.roles_of(db, actor.member_id)
        if m.role in wanted or m.role == "admin"
    }
    communities = await accounts.list_communities(db, held)
    if len(communities) == 1:
        return communities[0]
    return page(request, "admin/choose.html", actor, communities=communities, counted=None)


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
    if isinstance(chosen, Response):
        return chosen
    try:
        after = decode_cursor(cursor)
        after_id = uuid.UUID(after) if after else None
    except (ValueError, DomainError):
        after_id = None
    rows, last = await accounts.list_members(db, actor, chosen.id, LIST_LIMIT_DEFAULT, after_id, q)
    return page(
        request,
        "admin/members.html",
        actor,
        community=chosen,
        members=rows,
        next_cursor=encode_cursor(str(last)) if last else None,
        q=q,
        role_names=ROLE_NAMES,
        partners=await accounts.list_partners(db, chosen.id),
        total=await accounts.count_members(db, chosen.id),
        admin_links=ADMIN_LINKS,
        invited=await onboarding.count_pending_invitations(db, chosen.id),
        registrations=await onboarding.list_registrations(db, actor, chosen.id),
        removable=REMOVABLE_BY_PLATFORM_ADMIN if actor.is_platform_admin else REMOVABLE_BY_COMMUNITY_ADMIN,
    )


ROUTES: list[Any] = [login_page, home_page, admin_members_page]
