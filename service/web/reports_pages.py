"""The officials' dashboard (/reports) and the platform administrator's region tree (/admin/regions)."""

from __future__ import annotations

import json
import re
from typing import Annotated, Any
from urllib.parse import urlencode

import msgspec
from litestar import Request, Response, get
from litestar.params import Parameter, QueryParameter
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from service.accounts import service as accounts
from service.accounts.models import Community, Membership
from service.accounts.service import Actor
from service.errors import DomainError
from service.regions import rules as region_rules
from service.regions import service as regions
from service.reports.controllers import load_report
from service.reports.exports import FIGURE_NAMES
from service.reports.service import default_scope
from service.web.pages import ADMIN_LINKS, N_
from service.web.render import locale_of, page

__all__ = ["ROUTES"]

ADMIN_LINKS.append(("/reports", N_("Reports")))

Text = Annotated[str | None, Parameter(max_length=40)]
LEVEL_NAMES = {
    "city": N_("City"),
    "district": N_("District"),
    "street": N_("Street"),
    "community": N_("Community"),
}
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


async def _scopes(db: AsyncSession, actor: Actor) -> list[tuple[str, str]]:
    """(scope, label) of every region and community the actor may report on, for the switcher."""
    tree = await regions.load_tree(db)
    out: list[tuple[str, str]] = []
    roots = (
        tree.roots() if actor.is_platform_admin else await regions.official_region_ids(db, actor.member_id)
    )
    for root in roots:
        for rid in region_rules.descendants(root, tree.children):
            depth = len(tree.ancestors(rid)) - len(tree.ancestors(root))
            item = (f"region:{rid}", "· " * depth + tree.regions[rid].name)
            if item not in out:
                out.append(item)
    admin_of = await db.scalars(
        select(Membership.community_id).where(
            Membership.member_id == actor.member_id, Membership.role == "admin"
        )
    )
    for c in await accounts.list_communities(db, list(admin_of)):
        out.append((f"community:{c.id}", c.name))
    return out


@get("/reports", include_in_schema=False)
async def reports_page(
    request: Request[Any, Any, Any],
    db: AsyncSession,
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
        return page(
            request,
            "error.html",
            actor,
            status=403,
            title="403",
            detail=N_("Reports are for community administrators and region officials."),
        )
    wanted = period or period_from_form(kind, value, start, end)
    try:
        _scope, parsed, report = await load_report(db, actor, chosen, wanted)
    except DomainError as exc:
        return page(
            request, "error.html", actor, status=exc.status, title=str(exc.status), detail=exc.template
        )
    en = locale_of(request) == "en"
    names = {k: v[0] if en else v[1] for k, v in FIGURE_NAMES.items()}
    query = {"scope": chosen, "period": parsed.label}
    return page(
        request,
        "reports/dashboard.html",
        actor,
        report=report,
        figures={f.key: f for f in report.figures},
        names=names,
        sections=SECTIONS,
        level_names=LEVEL_NAMES,
        scopes=await _scopes(db, actor),
        chosen=chosen,
        period=parsed,
        query=urlencode(query),
        data_json=json.dumps(msgspec.to_builtins(report) | {"names": names}, ensure_ascii=False).replace(
            "</", "<\\/"
        ),
    )


@get("/admin/regions", include_in_schema=False)
async def regions_page(request: Request[Any, Any, Any], db: AsyncSession, actor: Actor) -> Response[str]:
    if not actor.is_platform_admin:
        return page(
            request,
            "error.html",
            actor,
            status=403,
            title="403",
            detail=N_("Only the platform administrator manages regions."),
        )
    tree = await regions.load_tree(db, with_officials=True)
    rows: list[tuple[int, Any]] = []
    for root in tree.roots():
        base = len(tree.ancestors(root))
        rows += [
            (len(tree.ancestors(r)) - base, tree.regions[r])
            for r in region_rules.descendants(root, tree.children)
        ]
    communities = list(await db.scalars(select(Community).order_by(Community.name)))
    return page(
        request,
        "reports/regions_admin.html",
        actor,
        rows=rows,
        tree=tree,
        communities=communities,
        names={c.id: c.name for c in communities},
        level_names=LEVEL_NAMES,
        streets=[r for r in tree.regions.values() if r.level == "street"],
        parents=[r for r in tree.regions.values() if r.level != "street"],
    )


ROUTES: list[Any] = [reports_page, regions_page]
