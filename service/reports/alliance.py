"""The alliance report (联盟结算汇总): each unit x each community, vouchers and points, month over month.

For a street official (or anyone who may see the scope's report): every partner shop or unit whose
vouchers the scope's residents redeemed, a row per (unit, community), the chosen month and the months
before it, summed in SQL over the redeemed vouchers (the points the units earned, per community).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from service import clock
from service.accounts.actor import Actor
from service.accounts.models import Partner
from service.errors import raises
from service.kit.months import InvalidMonth, month_bounds, month_of, require_month
from service.replica import PRIMARY_ONLY, ReportReader
from service.reports.service import Scope, resolve_scope
from service.store.models import Voucher

__all__ = ["ALLIANCE_MONTHS", "AllianceReport", "AllianceRow", "alliance_report", "alliance_rows"]

ALLIANCE_MONTHS = 3
"""Months the report shows: the chosen one and the ones before it."""


@dataclass
class AllianceRow:
    partner_id: uuid.UUID
    partner_name: str
    kind: str
    community_id: uuid.UUID
    community_name: str
    vouchers: list[int]
    """Redeemed vouchers per month, the oldest first (the same order as the report's ``months``)."""
    points: list[int]


@dataclass
class AllianceReport:
    scope: str
    name: str
    months: list[str]
    rows: list[AllianceRow] = field(default_factory=list)
    vouchers: list[int] = field(default_factory=list)
    """Totals per month."""
    points: list[int] = field(default_factory=list)
    as_of: datetime | None = None
    """Every commit before this moment is in the figures."""
    read_from: Literal["primary", "replica"] = "primary"


def _months(last: str, n: int) -> list[tuple[int, int]]:
    """(year, month) of ``last`` and the ``n`` - 1 months before it, the oldest first."""
    year, month = require_month(last)
    out = []
    for _ in range(n):
        out.append((year, month))
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return out[::-1]


def _zone(scope: Scope) -> str:
    return next(iter(scope.communities.values())).timezone if scope.communities else "Asia/Shanghai"


@raises(resolve_scope, InvalidMonth)
async def alliance_report(
    db: AsyncSession,
    actor: Actor,
    target: str,
    month: str | None = None,
    reader: ReportReader = PRIMARY_ONLY,
) -> AllianceReport:
    """The report of ``target`` (``region:<id>`` or ``community:<id>``) for ``month`` (default: this
    month) and the :data:`ALLIANCE_MONTHS` - 1 months before it; one aggregate query per month, read
    through ``reader`` (the access check on ``db``)."""
    scope = await resolve_scope(db, actor, target)
    zone = _zone(scope)
    pairs = _months(month or month_of(clock.now(), zone), ALLIANCE_MONTHS)
    months = [f"{y:04d}-{m:02d}" for y, m in pairs]
    bounds = [month_bounds(y, m, zone) for y, m in pairs]
    read = await reader.read(db, lambda figures: _rows(figures, scope, bounds))
    ordered = read.value
    return AllianceReport(
        scope=target,
        name=scope.name,
        months=months,
        rows=ordered,
        vouchers=[sum(r.vouchers[i] for r in ordered) for i in range(len(months))],
        points=[sum(r.points[i] for r in ordered) for i in range(len(months))],
        as_of=read.as_of,
        read_from=read.source,
    )


async def _rows(db: AsyncSession, scope: Scope, bounds: list[tuple[datetime, datetime]]) -> list[AllianceRow]:
    """A row per (unit, community) with its vouchers and points per month of ``bounds``, ordered."""
    n = len(bounds)
    rows: dict[tuple[uuid.UUID, uuid.UUID], AllianceRow] = {}
    for i, (start, end) in enumerate(bounds):
        for pid, name, kind, cid, count, pts in await _sums(db, list(scope.communities), start, end):
            row = rows.setdefault(
                (pid, cid), AllianceRow(pid, name, kind, cid, scope.communities[cid].name, [0] * n, [0] * n)
            )
            row.vouchers[i], row.points[i] = count, pts
    return sorted(rows.values(), key=lambda r: (r.partner_name, r.community_name))


async def _sums(
    db: AsyncSession, cids: list[uuid.UUID], start: datetime, end: datetime
) -> list[tuple[uuid.UUID, str, str, uuid.UUID, int, int]]:
    """(unit, name, kind, community, vouchers, points) redeemed in ``[start, end)``, summed in SQL."""
    if not cids:
        return []
    stmt = (
        select(
            Partner.id,
            Partner.name,
            Partner.kind,
            Voucher.community_id,
            func.count(),
            func.sum(Voucher.points),
        )
        .join(Partner, Partner.id == Voucher.partner_id)
        .where(
            Voucher.community_id.in_(cids),
            Voucher.status == "redeemed",
            Voucher.redeemed_at >= start,
            Voucher.redeemed_at < end,
        )
        .group_by(Partner.id, Partner.name, Partner.kind, Voucher.community_id)
    )
    return [
        (pid, name, kind, cid, int(n), int(p or 0)) for pid, name, kind, cid, n, p in await db.execute(stmt)
    ]


def alliance_rows(report: AllianceReport) -> list[list[object]]:
    """The report as a table for the kit's writers: a header, a row per unit x community, the totals."""
    head: list[object] = ["联盟单位", "类型", "社区"]
    for m in report.months:
        head += [f"{m} 核销券数", f"{m} 积分"]
    out: list[list[object]] = [head]
    for r in report.rows:
        line: list[object] = [r.partner_name, r.kind, r.community_name]
        for n, p in zip(r.vouchers, r.points, strict=True):
            line += [n, p]
        out.append(line)
    total: list[object] = ["合计", "", ""]
    for n, p in zip(report.vouchers, report.points, strict=True):
        total += [n, p]
    out.append(total)
    return out
