"""Recompute the report summaries from the raw rows (``jifen reports rebuild``).

The database triggers (service/reports/sql/summaries.sql and summaries.sqlite.sql) keep
``report_member_months``, ``report_member_years`` and
``report_account_months`` up to date on every write. A rebuild is for what triggers cannot see: a
community's time zone changed (its rows move between local months), rows restored by hand with the
triggers disabled, or a doubt to settle. It runs in one transaction; on PostgreSQL it first takes
SHARE locks on attendances and ledger entries, so writes wait for it instead of racing it.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from service.db import is_postgres

__all__ = ["SUMMARY_TABLES", "fill_statements", "rebuild"]

SUMMARY_TABLES = ("report_member_months", "report_member_years", "report_account_months")

_PG_MONTH = "date_trunc('month', {ts} AT TIME ZONE c.timezone)::date"
_PG_YEAR = "extract(year FROM month)::int"
_SQLITE_MONTH = "jifen_local_month({ts}, c.timezone)"
_SQLITE_YEAR = "CAST(substr(month, 1, 4) AS INTEGER)"

_FILL = (
    """INSERT INTO report_member_months (community_id, month, member_id, checkins, done, minutes)
SELECT a.community_id, {month_att}, a.member_id, count(*),
       sum(CASE WHEN a.status = 'out' THEN 1 ELSE 0 END),
       sum(CASE WHEN a.status = 'out' THEN a.minutes ELSE 0 END)
FROM attendances a JOIN communities c ON c.id = a.community_id
WHERE a.status IN ('in', 'out')
GROUP BY a.community_id, {month_att}, a.member_id""",
    """INSERT INTO report_member_years (community_id, year, member_id, checkins, done, minutes)
SELECT community_id, {year}, member_id, sum(checkins), sum(done), sum(minutes)
FROM report_member_months GROUP BY community_id, {year}, member_id""",
    """INSERT INTO report_account_months (account_id, community_id, month, kind, points)
SELECT e.account_id, e.community_id, {month_entry}, max(a.kind), sum(e.points)
FROM ledger_entries e JOIN ledger_accounts a ON a.id = e.account_id
JOIN communities c ON c.id = e.community_id
GROUP BY e.account_id, e.community_id, {month_entry}""",
)


def fill_statements(postgres: bool) -> list[str]:
    """The statements that fill the (empty) summaries from the raw rows: the rebuild's, and migration
    0013's backfill."""
    month, year = (_PG_MONTH, _PG_YEAR) if postgres else (_SQLITE_MONTH, _SQLITE_YEAR)
    return [
        s.format(
            month_att=month.format(ts="a.checked_in_at"),
            month_entry=month.format(ts="e.created_at"),
            year=year,
        )
        for s in _FILL
    ]


async def rebuild(db: AsyncSession, *, lock: bool = True) -> dict[str, int]:
    """Empty the summaries and fill them again from attendances and ledger entries (the caller
    commits); returns the rows of each summary table.

    On PostgreSQL writers of attendances and ledger entries wait meanwhile (a SHARE lock, which only
    a role that may update or delete ledger entries may take: ``jifen reports rebuild`` runs as the
    owner). ``lock=False`` is for a caller that knows nobody else writes (the tests, as the app role)."""
    postgres = is_postgres(db)
    if postgres and lock:
        await db.execute(text("LOCK TABLE attendances, ledger_entries IN SHARE MODE"))
    for table in SUMMARY_TABLES:
        await db.execute(text(f"DELETE FROM {table}"))
    for statement in fill_statements(postgres):
        await db.execute(text(statement))
    if postgres and lock:  # ANALYZE too is the owner's (the app's role would only get a warning)
        for table in SUMMARY_TABLES:
            await db.execute(text(f"ANALYZE {table}"))  # the planner's statistics of the new rows
    out = {}
    for table in SUMMARY_TABLES:
        out[table] = int(await db.scalar(text(f"SELECT count(*) FROM {table}")) or 0)
    return out
