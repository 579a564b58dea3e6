"""The report summaries (migration 0013) against a rebuild from raw rows."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from service.reports import summary

__all__ = ["assert_summary_equals_rebuild", "summary_rows"]


async def summary_rows(db: Any) -> dict[str, list[tuple[str, ...]]]:
    """The non-zero rows of the three summaries (a row netted to zero is the same as no row)."""
    out = {}
    for table in summary.SUMMARY_TABLES:
        value = (
            "points <> 0"
            if table == "report_account_months"
            else "(checkins <> 0 OR done <> 0 OR minutes <> 0)"
        )
        rows = await db.execute(text(f"SELECT * FROM {table} WHERE {value}"))
        out[table] = sorted(tuple(str(v) for v in r) for r in rows)
    return out


async def assert_summary_equals_rebuild(db: Any, *, non_empty: bool = False) -> None:
    """What the triggers kept equals what ``jifen reports rebuild`` computes from the raw rows."""
    await db.flush()
    kept = await summary_rows(db)
    if non_empty:
        assert kept["report_account_months"] and kept["report_member_months"], kept
    # No lock: the test is the only writer, and its session is the app role's, which may not take
    # the SHARE lock on ledger_entries that `jifen reports rebuild` (run as the owner) takes.
    await summary.rebuild(db, lock=False)
    assert await summary_rows(db) == kept
