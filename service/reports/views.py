"""The reports' read side for pages and the API: a report the caller may see, checked before computing."""

from __future__ import annotations

from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

from service.accounts.actor import Actor
from service.errors import raises
from service.reports import rules, service
from service.reports.schemas import ReportOut

__all__ = ["load_report"]


@raises(service.resolve_scope, rules.parse_period)
async def load_report(
    db: AsyncSession, actor: Actor, scope: str, period: str | None
) -> tuple[service.Scope, rules.Period, ReportOut]:
    """Check the caller may see ``scope`` first, then compute its figures."""
    resolved = await service.resolve_scope(db, actor, scope)
    parsed = rules.parse_period(period, date.fromisoformat(service.today_in(resolved)))
    return resolved, parsed, await service.build_report(db, resolved, parsed)
