"""The reports' read side for pages and the API: a report the caller may see, checked before computing.

The access check runs on the request's (primary) session; the figures are read through the
:class:`~service.replica.ReportReader`: from the standby of ``JIFEN_REPLICA_URL`` while it is within its
bound, else from the primary. Each result says where it was read and the time its data is as of.
"""

from __future__ import annotations

import uuid
from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

from service.accounts.actor import Actor
from service.errors import raises
from service.replica import PRIMARY_ONLY, Read, ReportReader
from service.reports import rules, service
from service.reports.schemas import ReportOut

__all__ = ["HoursRow", "load_hours", "load_report"]

HoursRow = tuple[str, str, str, str, float, str]


@raises(service.resolve_scope, rules.parse_period)
async def load_report(
    db: AsyncSession, actor: Actor, scope: str, period: str | None, reader: ReportReader = PRIMARY_ONLY
) -> tuple[service.Scope, rules.Period, ReportOut]:
    """Check the caller may see ``scope`` first, then compute its figures (through ``reader``)."""
    resolved = await service.resolve_scope(db, actor, scope)
    parsed = rules.parse_period(period, date.fromisoformat(service.today_in(resolved)))
    read = await reader.read(db, lambda figures: service.build_report(figures, resolved, parsed))
    report = read.value
    report.as_of, report.read_from = read.as_of, read.source
    return resolved, parsed, report


@raises(service.resolve_scope, rules.parse_period)
async def load_hours(
    db: AsyncSession,
    actor: Actor,
    scope: str,
    period: str | None,
    member_id: uuid.UUID | None,
    reader: ReportReader = PRIMARY_ONLY,
) -> tuple[service.Scope, rules.Period, Read[list[HoursRow]]]:
    """The service-hour lines of ``scope`` the caller may see, over ``period`` (through ``reader``)."""
    resolved = await service.resolve_scope(db, actor, scope)
    parsed = rules.parse_period(period, date.fromisoformat(service.today_in(resolved)))
    read = await reader.read(db, lambda rows: service.hours_export(rows, resolved, parsed, member_id))
    return resolved, parsed, read
