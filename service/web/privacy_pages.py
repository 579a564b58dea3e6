"""Pages of residents' own data (PIPL): the privacy notice, accepting it after login when it changed, and
"我的数据" (what Jifen holds, its downloads, and the requests to correct or delete it)."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, Response, get
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from service.accounts import privacy
from service.accounts import rules as account_rules
from service.accounts.actor import Actor
from service.privacy import views as privacy_views
from service.web.guards import admin_community
from service.web.pages import N_
from service.web.render import page

__all__ = ["ADMIN_LINKS", "ROUTES"]

ADMIN_LINKS = [("/admin/member-requests", N_("Data requests"))]


def _safe_next(raw: str | None) -> str:
    """Only a path of this site (never ``//host`` or a full URL)."""
    return raw if raw and raw.startswith("/") and not raw.startswith("//") else "/"


@get("/privacy", include_in_schema=False)
async def notice_page(request: Request[Any, Any, Any], maybe_actor: Actor | None) -> Response[str]:
    """The privacy notice in force, for anyone (linked from the join and sign-up forms)."""
    version, days = account_rules.PRIVACY_NOTICE_VERSION, account_rules.REQUEST_DECISION_DAYS
    return page(request, "privacy/notice.html", maybe_actor, version=version, days=days)


@get("/privacy/accept", include_in_schema=False)
async def accept_page(
    request: Request[Any, Any, Any],
    actor: Actor,
    next: Annotated[str | None, Parameter(max_length=500)] = None,
) -> Response[str]:
    """After login: the notice again, with the button that accepts it (it changed, or was never asked)."""
    version, days = account_rules.PRIVACY_NOTICE_VERSION, account_rules.REQUEST_DECISION_DAYS
    return page(request, "privacy/accept.html", actor, version=version, days=days, next=_safe_next(next))


@get("/me/data", include_in_schema=False)
async def my_data_page(request: Request[Any, Any, Any], db: AsyncSession, actor: Actor) -> Response[str]:
    """我的数据: how many records of each kind, the downloads, and the correction and deletion requests."""
    data = await privacy_views.my_data(db, actor.member_id)
    return page(
        request,
        "privacy/data.html",
        actor,
        data=data,
        sections=privacy_views.SECTIONS,
        days=account_rules.REQUEST_DECISION_DAYS,
        version=account_rules.PRIVACY_NOTICE_VERSION,
    )


@get("/admin/member-requests", include_in_schema=False)
async def requests_page(
    request: Request[Any, Any, Any],
    db: AsyncSession,
    actor: Actor,
    community: Annotated[str | None, Parameter(max_length=64)] = None,
) -> Response[str]:
    """Residents' open correction and deletion requests, due first, each granted or refused here."""
    chosen = await admin_community(request, db, actor, community)
    rows = await privacy.list_requests(db, actor, chosen.id)
    tz = chosen.timezone
    return page(request, "privacy/requests_admin.html", actor, community=chosen, rows=rows, tz=tz)


ROUTES: list[Any] = [notice_page, accept_page, my_data_page, requests_page]
