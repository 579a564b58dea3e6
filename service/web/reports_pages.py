"""The officials' dashboard (/reports) and the platform administrator's region tree (/admin/regions)."""

from __future__ import annotations

import re
import uuid
from typing import Annotated, Any
from urllib.parse import urlencode

import msgspec
from litestar import Request, Response, get
from litestar.params import Parameter, QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from service.accounts.actor import Actor
from service.errors import Forbidden
from service.regions import service as region_service
from service.regions import views as region_views
from service.replica import ReportReader
from service.reports.alliance import alliance_report
from service.reports.exports import FIGURE_NAMES
from service.reports.service import default_scope
from service.reports.views import load_report
from service.web.pages import LEVEL_NAMES, N_
from service.web.render import context_of, locale_of, page

__all__ = ["ADMIN_LINKS", "ROUTES"]

ADMIN_LINKS = [("/reports", N_("Reports"))]

Text = Annotated[str | None, Parameter(max_length=40)]
SECTIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        N_("Volunteers and service"),
        (
            "active_volunteers",
            "new_members",
            "teams",
            "activities",
            "checkins",
            "service_hours",
            "people_served",
        ),
    ),
    (N_("Points"), ("points_issued", "points_spent", "points_expired", "points_outstanding")),
    (N_("Store and partners"), ("orders", "orders_fulfilled", "redemptions", "redemption_points")),
    (N_("Good conduct"), ("claims_submitted", "claims_approved", "claims_rejected")),
    (
        N_("Micro-wishes"),
        (
            "wishes_posted",
            "wishes_dispatched",
            "wishes_accepted",
            "wishes_completed",
            "wishes_rated",
            "wishes_fulfilled",
            "satisfaction",
        ),
    ),
)


def period_from_form(kind: str | None, value: str | None, start: str | None, end: str | None) -> str | None:
    """The period string of the picker's fields (``kind`` + one value, or a custom start and end)."""
    if kind == "custom" and start and end:
        return f"{start}..{end}"
    if value and re.fullmatch(r"[0-9Qq\-]{4,10}", value):
        return value
    return None


async def _dashboard(
    request: Request[Any, Any, Any],
    db: AsyncSession,
    reader: ReportReader,
    actor: Actor,
    chosen: str,
    period: str | None,
) -> dict[str, Any]:
    """The dashboard's template variables: the report (the caller may see it, else ``forbidden``; its
    figures read through ``reader``), the figures' names in the reader's language, and the scopes the
    switcher offers."""
    _scope, parsed, report = await load_report(db, actor, chosen, period, reader)
    en = locale_of(request) == "en"
    names = {k: v[0] if en else v[1] for k, v in FIGURE_NAMES.items()}
    return {
        "report": report,
        "figures": {f.key: f for f in report.figures},
        "names": names,
        "chosen": chosen,
        "sections": SECTIONS,
        "level_names": LEVEL_NAMES,
        "scopes": await region_views.report_scopes(db, actor),
        "period": parsed,
        "query": urlencode({"scope": chosen, "period": parsed.label}),
        "report_data": msgspec.to_builtins(report) | {"names": names},
        "alliance": await alliance_report(db, actor, chosen, reader=reader),
        "budget_setters": {
            str(c)
            for c in await region_service.budget_setters(
                db, actor, [uuid.UUID(b.community_id) for b in report.budgets]
            )
        },
    }


@get("/reports", include_in_schema=False)
async def reports_page(
    request: Request[Any, Any, Any],
    db: AsyncSession,
    reader: ReportReader,
    actor: Actor,
    target: Annotated[str | None, QueryParameter(name="scope", max_length=80)] = None,
    period: Text = None,
    kind: Text = None,
    value: Text = None,
    start: Text = None,
    end: Text = None,
    community: Annotated[str | None, Parameter(max_length=64)] = None,
) -> Response[str]:
    chosen = target or (f"community:{community}" if community else None) or await default_scope(db, actor)
    if chosen is None:
        raise Forbidden(detail="Reports are for community administrators and region officials.")
    wanted = period or period_from_form(kind, value, start, end)
    context = await _dashboard(request, db, reader, actor, chosen, wanted)
    return page(request, "reports/dashboard.html", actor, **context)


@get("/admin/regions", include_in_schema=False)
async def regions_page(request: Request[Any, Any, Any], db: AsyncSession, actor: Actor) -> Response[str]:
    if not actor.is_platform_admin:
        raise Forbidden(detail="Only the platform administrator manages regions.")
    view = await region_views.regions_admin(db)
    names = {c.id: c.name for c in view.communities}
    return page(
        request, "reports/regions_admin.html", actor, names=names, level_names=LEVEL_NAMES, **context_of(view)
    )


ROUTES: list[Any] = [reports_page, regions_page]
