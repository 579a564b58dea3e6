"""The reports: who may see which scope, and the figures of a scope and period (read-only).

Every figure is computed per community by ``queries`` (SQL aggregates), then summed into the
scope's children and total here: at most (communities x months) numbers come into Python.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from service import clock
from service.accounts import service as accounts
from service.accounts.actor import Actor
from service.accounts.models import Community, Membership
from service.activities.models import Activity, Team
from service.db import is_postgres
from service.errors import Forbidden, NotFound, raises
from service.kit.masking import mask_name
from service.points import views as points_views
from service.regions import service as regions
from service.reports import queries, rules
from service.reports.errors import InvalidScope
from service.reports.queries import Counts, Group
from service.reports.schemas import (
    BudgetRow,
    ChildValue,
    ClaimRuleOut,
    Figure,
    MedianOut,
    PartnerShare,
    ReportOut,
    ScopeRef,
    TopMember,
    TopTeam,
)
from service.rewards.models import ActivityRating, Claim
from service.store.models import Order, Voucher
from service.wishes.models import Wish

__all__ = ["HOURS_EXPORT_MAX", "Scope", "build_report", "default_scope", "hours_export", "resolve_scope"]

REPORT_WORK_MEM = "64MB"
"""PostgreSQL memory per sort or hash of a report's queries (SET LOCAL, this transaction only): a
city-year report groups about a million (community, month, member) rows, which the default 4 MB
would sort on disk."""
HOURS_EXPORT_MAX = 100_000
"""Most lines of one service-hours export."""
PARTNERS_MAX = 50

Series = list[float]
"""[previous period, this period, month 1, month 2, ...] of one community or part."""


@dataclass
class Scope:
    kind: str
    id: uuid.UUID
    name: str
    level: str
    communities: dict[uuid.UUID, Community] = field(default_factory=dict)
    parts: list[tuple[ScopeRef, list[uuid.UUID]]] = field(default_factory=list)
    """The child regions (or the communities of a street), each with its communities."""

    @property
    def ref(self) -> ScopeRef:
        return ScopeRef(scope=f"{self.kind}:{self.id}", name=self.name, level=self.level)


def _parse_scope(raw: str) -> tuple[str, uuid.UUID]:
    found = rules.SCOPE_RE.fullmatch(raw or "")
    if found is None:
        raise InvalidScope()
    return found[1], uuid.UUID(found[2])


async def _communities(db: AsyncSession, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Community]:
    return {c.id: c for c in await accounts.list_communities(db, ids)}


@raises(InvalidScope, regions.require_official, NotFound, accounts.require_role)
async def resolve_scope(db: AsyncSession, actor: Actor, raw: str) -> Scope:
    """The scope ``raw`` names, if the actor may see it (else ``forbidden``, with no figures).

    A community: its admins, officials of its street or any region above, the platform admin.
    A region: its officials and those of regions above it, the platform admin.
    """
    kind, ident = _parse_scope(raw)
    tree = await regions.load_tree(db)
    if kind == "region":
        region = await regions.require_official(db, actor, tree, ident)
        scope = Scope("region", region.id, region.name, region.level)
        scope.communities = await _communities(db, tree.communities_under(region.id))
        for child in tree.children.get(region.id, []):
            sub = tree.regions[child]
            ref = ScopeRef(scope=f"region:{sub.id}", name=sub.name, level=sub.level)
            scope.parts.append((ref, tree.communities_under(child)))
        for cid in tree.communities.get(region.id, []):
            ref = ScopeRef(scope=f"community:{cid}", name=scope.communities[cid].name, level="community")
            scope.parts.append((ref, [cid]))
        return scope
    community = await db.get(Community, ident)
    if community is None:
        raise NotFound(detail="No such community.")
    region_id = tree.region_of.get(ident)
    try:
        await accounts.require_role(db, actor, ident, "admin")
    except Forbidden:
        if region_id is None:
            raise
        await regions.require_official(db, actor, tree, region_id)
    return Scope("community", community.id, community.name, "community", {community.id: community})


async def default_scope(db: AsyncSession, actor: Actor) -> str | None:
    """What /reports opens with: the first region the actor is an official of, else an admin community."""
    held = await regions.official_region_ids(db, actor.member_id)
    if held:
        return f"region:{held[0]}"
    admin_of = await db.scalar(
        select(Membership.community_id)
        .where(Membership.member_id == actor.member_id, Membership.role == "admin")
        .order_by(Membership.created_at)
        .limit(1)
    )
    if admin_of is not None:
        return f"community:{admin_of}"
    if actor.is_platform_admin:
        tree = await regions.load_tree(db)
        if tree.roots():
            return f"region:{tree.roots()[0]}"
        first = await db.scalar(select(Community.id).order_by(Community.created_at).limit(1))
        return f"community:{first}" if first else None
    return None


def _groups(scope: Scope, period: rules.Period) -> list[Group]:
    by_zone: dict[str, list[uuid.UUID]] = {}
    for c in scope.communities.values():
        by_zone.setdefault(c.timezone, []).append(c.id)
    return [Group(ids, rules.edges_utc(period, zone)) for zone, ids in sorted(by_zone.items())]


# ---------------------------------------------------------------- per-community series


def _flow(counts: Counts, column: int, n: int, cids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Series]:
    out = {}
    for cid in cids:
        months = [counts.get((cid, b), [0.0] * (column + 1))[column] for b in range(n)]
        out[cid] = [counts.get((cid, -1), [0.0] * (column + 1))[column], sum(months), *months]
    return out


def _distinct(months: Counts, totals: Counts, n: int, cids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Series]:
    return {
        cid: [
            totals.get((cid, -1), [0.0])[0],
            totals.get((cid, 0), [0.0])[0],
            *(months.get((cid, b), [0.0])[0] for b in range(n)),
        ]
        for cid in cids
    }


def _stock(
    made: Counts, before: dict[uuid.UUID, float], n: int, cids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, Series]:
    out = {}
    for cid in cids:
        level = before.get(cid, 0.0) + made.get((cid, -1), [0.0])[0]
        prev, months = level, []
        for b in range(n):
            level += made.get((cid, b), [0.0])[0]
            months.append(level)
        out[cid] = [prev, level, *months]
    return out


def _combine(
    a: dict[uuid.UUID, Series], b: dict[uuid.UUID, Series], op: Callable[[float, float], float]
) -> dict[uuid.UUID, Series]:
    return {cid: [op(x, y) for x, y in zip(a[cid], b[cid], strict=True)] for cid in a}


def _summary_months(period: rules.Period, cids: list[uuid.UUID]) -> Group | None:
    """The local month edges of ``period`` when the summary tables can answer it, else None.

    The summaries hold whole local months: every edge (previous start, start, end) must be the first
    of a month, which months, quarters, years and month-aligned custom periods are.
    """
    edges = [period.previous_start, *period.months, period.end]
    if any(day.day != 1 for day in edges):
        return None
    return Group(cids, edges)


def _calendar_year(period: rules.Period) -> int | None:
    """The year when ``period`` and the previous period are calendar years (member-year rows answer)."""
    start, end, prev = period.start, period.end, period.previous_start
    whole = start.month == 1 and start.day == 1 and end == start.replace(year=start.year + 1)
    return start.year if whole and prev == start.replace(year=start.year - 1) else None


async def _series(
    db: AsyncSession, groups: list[Group], n: int, cids: list[uuid.UUID], period: rules.Period
) -> dict[str, dict[uuid.UUID, Series]]:
    """Every additive figure per community (ratios are built from two of them afterwards)."""
    s: dict[str, dict[uuid.UUID, Series]] = {}
    summary = _summary_months(period, cids)
    if summary is not None:
        year = _calendar_year(period)
        months, totals, top = await queries.attendance_rollup_summary(db, summary, year, rules.TOP_MAX)
    else:
        months, totals, top = await queries.attendance_rollup(db, groups, rules.TOP_MAX)
    s["active_volunteers"] = _distinct(months, totals, n, cids)
    s["checkins"] = _flow(months, 1, n, cids)
    s["service_hours"] = {k: [m / 60.0 for m in v] for k, v in _flow(months, 2, n, cids).items()}
    s["_top"] = {member: [float(a), float(m)] for member, (a, m) in top.items()}
    months, totals = await queries.distinct_members(
        db, groups, Membership.community_id, Membership.created_at, Membership.member_id
    )
    s["new_members"] = _distinct(months, totals, n, cids)
    made, before = await queries.stock(db, groups, Team.community_id, Team.created_at)
    s["teams"] = _stock(made, before, n, cids)
    c = await queries.additive(
        db, groups, Activity.community_id, Activity.starts_at, [func.count()], Activity.status != "cancelled"
    )
    s["activities"] = _flow(c, 0, n, cids)
    c = await queries.additive(
        db,
        groups,
        Wish.community_id,
        Wish.completed_at,
        [func.count()],
        Wish.status.in_(("done", "rated", "closed")),
    )
    s["wishes_fulfilled"] = _flow(c, 0, n, cids)
    s["people_served"] = _combine(s["checkins"], s["wishes_fulfilled"], lambda x, y: x + y)
    if summary is not None:
        c = await queries.points_flows_summary(db, summary)
        held = await queries.outstanding_summary(db, summary)
    else:
        c = await queries.points_flows(db, groups)
        held = await queries.outstanding(db, groups)
    for i, key in enumerate(("points_issued", "points_spent", "points_expired")):
        s[key] = _flow(c, i, n, cids)
    s["points_outstanding"] = {
        cid: [
            held.get((cid, -1), 0.0),
            held.get((cid, n - 1), 0.0),
            *(held.get((cid, b), 0.0) for b in range(n)),
        ]
        for cid in cids
    }
    fulfilled = func.sum(func.cast(Order.status == "fulfilled", Order.quantity.type))
    c = await queries.additive(
        db,
        groups,
        Order.community_id,
        Order.created_at,
        [func.count(), fulfilled],
        Order.status != "cancelled",
    )
    s["orders"], s["orders_fulfilled"] = _flow(c, 0, n, cids), _flow(c, 1, n, cids)
    c = await queries.additive(
        db,
        groups,
        Voucher.community_id,
        Voucher.redeemed_at,
        [func.count(), func.sum(Voucher.points)],
        Voucher.status == "redeemed",
    )
    s["redemptions"], s["redemption_points"] = _flow(c, 0, n, cids), _flow(c, 1, n, cids)
    await _wishes_and_claims(db, groups, n, cids, s)
    return s


async def _wishes_and_claims(
    db: AsyncSession,
    groups: list[Group],
    n: int,
    cids: list[uuid.UUID],
    s: dict[str, dict[uuid.UUID, Series]],
) -> None:
    def flag(condition: Any) -> Any:
        return func.sum(func.cast(condition, Wish.timeouts.type))

    funnel = [
        func.count(),
        flag(queries.MATCHED_AT.is_not(None)),
        flag(queries.ACCEPTED_AT.is_not(None)),
        flag(Wish.completed_at.is_not(None)),
        flag(Wish.stars.is_not(None)),
    ]
    c = await queries.additive(db, groups, Wish.community_id, Wish.created_at, funnel)
    for i, key in enumerate(
        ("wishes_posted", "wishes_dispatched", "wishes_accepted", "wishes_completed", "wishes_rated")
    ):
        s[key] = _flow(c, i, n, cids)
    c = await queries.additive(
        db,
        groups,
        Wish.community_id,
        Wish.rated_at,
        [func.count(), flag(Wish.stars >= 4)],
        Wish.stars.is_not(None),
    )
    wish_ratings, wish_good = _flow(c, 0, n, cids), _flow(c, 1, n, cids)
    good_activity = func.sum(func.cast(ActivityRating.stars >= 4, ActivityRating.stars.type))
    c = await queries.additive(
        db,
        groups,
        ActivityRating.community_id,
        ActivityRating.created_at,
        [func.count(), good_activity],
    )
    # satisfaction: wish ratings and activity ratings together
    s["_ratings"] = _combine(wish_ratings, _flow(c, 0, n, cids), lambda x, y: x + y)
    s["_good_ratings"] = _combine(wish_good, _flow(c, 1, n, cids), lambda x, y: x + y)
    approved = func.sum(func.cast(Claim.status.in_(("publicized", "awarded")), Claim.points.type))
    rejected = func.sum(func.cast(Claim.status == "rejected", Claim.points.type))
    c = await queries.additive(
        db, groups, Claim.community_id, Claim.created_at, [func.count(), approved, rejected]
    )
    s["claims_submitted"], s["claims_approved"], s["claims_rejected"] = (
        _flow(c, i, n, cids) for i in range(3)
    )


FIGURES: tuple[tuple[str, str, str], ...] = (
    ("active_volunteers", "people", "distinct"),
    ("new_members", "people", "distinct"),
    ("teams", "count", "stock"),
    ("activities", "count", "flow"),
    ("checkins", "count", "flow"),
    ("service_hours", "hours", "flow"),
    ("people_served", "people", "flow"),
    ("points_issued", "points", "flow"),
    ("points_spent", "points", "flow"),
    ("points_expired", "points", "flow"),
    ("points_outstanding", "points", "stock"),
    ("orders", "count", "flow"),
    ("orders_fulfilled", "count", "flow"),
    ("redemptions", "count", "flow"),
    ("redemption_points", "points", "flow"),
    ("claims_submitted", "count", "flow"),
    ("claims_approved", "count", "flow"),
    ("claims_rejected", "count", "flow"),
    ("wishes_posted", "count", "flow"),
    ("wishes_dispatched", "count", "flow"),
    ("wishes_accepted", "count", "flow"),
    ("wishes_completed", "count", "flow"),
    ("wishes_rated", "count", "flow"),
    ("wishes_fulfilled", "count", "flow"),
    ("satisfaction", "percent", "ratio"),
)
"""(key, unit, kind) in the order the dashboard and the spreadsheets show them."""


def _sum(series: dict[uuid.UUID, Series], cids: Sequence[uuid.UUID], width: int) -> Series:
    out = [0.0] * width
    for cid in cids:
        for i, v in enumerate(series[cid]):
            out[i] += v
    return out


def _value(v: float | None, unit: str) -> float | None:
    if v is None:
        return None
    return round(v, 1) if unit in {"hours", "percent"} else round(v)


def _figure(
    key: str, unit: str, kind: str, s: dict[str, dict[uuid.UUID, Series]], scope: Scope, width: int
) -> Figure:
    everyone = list(scope.communities)

    def of(cids: Sequence[uuid.UUID]) -> list[float | None]:
        if kind == "ratio":
            good, all_ = _sum(s["_good_ratings"], cids, width), _sum(s["_ratings"], cids, width)
            return [rules.percent(int(g), int(a)) for g, a in zip(good, all_, strict=True)]
        return list(_sum(s[key], cids, width))

    total = of(everyone)
    prev, cur = total[0], total[1]
    change = None
    if prev not in (None, 0) and cur is not None:
        change = round(100.0 * (cur - prev) / prev, 1)
    children = []
    for ref, cids in scope.parts:
        part = of(cids)
        children.append(
            ChildValue(
                scope=ref.scope, name=ref.name, total=_value(part[1], unit), previous=_value(part[0], unit)
            )
        )
    return Figure(
        key=key,
        unit=unit,
        kind=kind,
        total=_value(cur, unit),
        previous=_value(prev, unit),
        change_percent=change,
        months=[_value(v, unit) for v in total[2:]],
        children=children,
    )


async def build_report(db: AsyncSession, scope: Scope, period: rules.Period) -> ReportOut:
    """Every figure of ``scope`` over ``period``, its months, the previous period and the children."""
    groups = _groups(scope, period)
    n = len(period.months)
    cids = list(scope.communities)
    if is_postgres(db):
        await db.execute(text(f"SET LOCAL work_mem = '{REPORT_WORK_MEM}'"))
    s = await _series(db, groups, n, cids, period) if cids else {}
    width = n + 2
    if not cids:
        s = {
            key: dict[uuid.UUID, Series]()
            for key in [*(k for k, _u, _x in FIGURES), "_ratings", "_good_ratings"]
        }
    figures = [_figure(key, unit, kind, s, scope, width) for key, unit, kind in FIGURES]
    part_of = {cid: i for i, (_ref, part) in enumerate(scope.parts) for cid in part}
    medians = await queries.medians_hours(db, groups, part_of) if cids else {}
    median_out = [
        MedianOut(
            key=key,
            hours=medians.get(key, {}).get(-1),
            children=[
                ChildValue(scope=ref.scope, name=ref.name, total=medians.get(key, {}).get(i), previous=None)
                for i, (ref, _p) in enumerate(scope.parts)
            ],
        )
        for key in ("dispatch", "accept", "complete")
    ]
    names = {c.id: c.name for c in scope.communities.values()}
    partners = await queries.partner_shares(db, groups, PARTNERS_MAX) if cids else []
    redeemed = sum(p for *_x, p in partners)
    claims = await queries.claims_by_rule(db, groups) if cids else []
    teams = await queries.top_teams(db, groups, rules.TOP_MAX) if cids else []
    leaders = s.get("_top", {})
    named = await queries.member_names(db, list(leaders)) if leaders else {}
    members = sorted(
        ((named.get(m, ""), int(a), int(v)) for m, (a, v) in leaders.items()), key=lambda r: (-r[2], r[0])
    )
    zone = next(iter(scope.communities.values())).timezone if cids else "Asia/Shanghai"
    budgets = await points_views.budgets_of(db, cids)
    return ReportOut(
        budgets=[
            BudgetRow(
                community_id=str(cid),
                community=names.get(cid, ""),
                month=b.month.strftime("%Y-%m"),
                monthly_points=b.monthly_points,
                issued=b.issued,
                pending_points=b.pending_points,
                pending_count=b.pending_count,
            )
            for cid, b in sorted(budgets.items(), key=lambda item: names.get(item[0], ""))
        ],
        scope=scope.ref,
        period=period.label,
        period_kind=period.kind,
        previous_period=period.previous_label,
        first_day=period.start.isoformat(),
        last_day=period.last_day.isoformat(),
        timezone=zone,
        months=period.month_labels,
        children=[ref for ref, _p in scope.parts],
        figures=figures,
        medians=median_out,
        partners=[
            PartnerShare(
                community=names.get(cid, ""),
                partner=name,
                vouchers=v,
                points=p,
                share_percent=rules.percent(p, redeemed),
            )
            for cid, name, v, p in partners
        ],
        claims_by_rule=[
            ClaimRuleOut(code=code, title=title, submitted=a, approved=b, objected=c, rejected=d)
            for code, title, (a, b, c, d) in claims
        ],
        top_teams=[
            TopTeam(community=names.get(cid, ""), name=name, checkins=v, hours=round(m / 60, 1))
            for cid, name, v, m in teams
        ],
        top_members=[
            TopMember(name=mask_name(name), activities=a, hours=round(m / 60, 1)) for name, a, m in members
        ],
        notes=[
            "派单 is a staff offer or a volunteer taking a wish from the pool; 接单 is the acceptance.",
            "Satisfaction is the share of 4-5 star ratings, of wishes and of activities together.",
            "A person active in two communities counts once in each.",
        ],
    )


def today_in(scope: Scope) -> str:
    zone = next(iter(scope.communities.values())).timezone if scope.communities else "Asia/Shanghai"
    return clock.now().astimezone(ZoneInfo(zone)).date().isoformat()


async def hours_export(
    db: AsyncSession, scope: Scope, period: rules.Period, member_id: uuid.UUID | None = None
) -> list[tuple[str, str, str, str, float, str]]:
    """Service-hour lines (name, masked phone, activity, local date, hours, organizer) for the period."""
    from service.kit.masking import mask_phone

    groups = _groups(scope, period)
    if not scope.communities:
        return []
    zone = ZoneInfo(next(iter(scope.communities.values())).timezone)
    rows = await queries.hours_rows(db, groups, member_id, HOURS_EXPORT_MAX)
    return [
        (
            name,
            mask_phone(phone),
            title,
            at.astimezone(zone).date().isoformat(),
            round(minutes / 60, 2),
            organizer,
        )
        for name, phone, title, at, minutes, organizer in rows
    ]
