"""report summaries: per member and local month / year of attendances, per account and local month of
the ledger, kept by triggers (PostgreSQL and SQLite) and backfilled here

Written by hand. Months are the first local day of the month in the time zone of the row's community
(``AT TIME ZONE`` on PostgreSQL; on SQLite the ``jifen_local_month(ts, zone)`` function that
service/db.py registers on every connection). Only rows with status ``in`` or ``out`` count: a
check-in is +1, an ``out`` row also adds to ``done`` and its minutes. Rows are keyed by member or
account (never one hot row per community), so a trigger locks only what its transaction already
touches. ``jifen reports rebuild`` recomputes the same figures from the raw rows.

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# ---------------------------------------------------------------- PostgreSQL: statement triggers


def _pg_attendance_function(name: str, sources: Sequence[tuple[str, int]]) -> str:
    rows = " UNION ALL ".join(
        f"SELECT community_id, member_id, checked_in_at, status, minutes, {sign} AS s FROM {table} "
        "WHERE status IN ('in', 'out')"
        for table, sign in sources
    )
    return f"""
CREATE OR REPLACE FUNCTION {name}() RETURNS trigger AS $$
BEGIN
  WITH d AS (
    SELECT r.community_id, r.member_id,
           date_trunc('month', r.checked_in_at AT TIME ZONE c.timezone)::date AS month,
           sum(r.s) AS checkins,
           sum(CASE WHEN r.status = 'out' THEN r.s ELSE 0 END) AS done,
           sum(CASE WHEN r.status = 'out' THEN r.s * r.minutes ELSE 0 END) AS minutes
    FROM ({rows}) r JOIN communities c ON c.id = r.community_id
    GROUP BY 1, 2, 3
    HAVING sum(r.s) <> 0 OR sum(CASE WHEN r.status = 'out' THEN r.s ELSE 0 END) <> 0
        OR sum(CASE WHEN r.status = 'out' THEN r.s * r.minutes ELSE 0 END) <> 0
  ), m AS (
    INSERT INTO report_member_months AS t (community_id, month, member_id, checkins, done, minutes)
    SELECT community_id, month, member_id, checkins, done, minutes FROM d ORDER BY 1, 2, 3
    ON CONFLICT (community_id, month, member_id) DO UPDATE
      SET checkins = t.checkins + excluded.checkins, done = t.done + excluded.done,
          minutes = t.minutes + excluded.minutes
  )
  INSERT INTO report_member_years AS t (community_id, year, member_id, checkins, done, minutes)
  SELECT community_id, extract(year FROM month)::int, member_id, sum(checkins), sum(done), sum(minutes)
  FROM d GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
  ON CONFLICT (community_id, year, member_id) DO UPDATE
    SET checkins = t.checkins + excluded.checkins, done = t.done + excluded.done,
        minutes = t.minutes + excluded.minutes;
  RETURN NULL;
END $$ LANGUAGE plpgsql;
"""


PG_LEDGER_FUNCTION = """
CREATE OR REPLACE FUNCTION report_ledger_entries_insert() RETURNS trigger AS $$
BEGIN
  INSERT INTO report_account_months AS t (account_id, community_id, month, kind, points)
  SELECT e.account_id, e.community_id,
         date_trunc('month', e.created_at AT TIME ZONE c.timezone)::date, a.kind, sum(e.points)
  FROM new_rows e JOIN ledger_accounts a ON a.id = e.account_id JOIN communities c ON c.id = e.community_id
  GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3
  ON CONFLICT (account_id, community_id, month) DO UPDATE SET points = t.points + excluded.points;
  RETURN NULL;
END $$ LANGUAGE plpgsql;
"""

PG_FUNCTIONS = (
    _pg_attendance_function("report_attendances_insert", [("new_rows", 1)]),
    _pg_attendance_function("report_attendances_update", [("new_rows", 1), ("old_rows", -1)]),
    _pg_attendance_function("report_attendances_delete", [("old_rows", -1)]),
    PG_LEDGER_FUNCTION,
)
PG_TRIGGERS = (
    ("report_attendances_insert", "attendances", "INSERT", "NEW TABLE AS new_rows"),
    ("report_attendances_update", "attendances", "UPDATE", "OLD TABLE AS old_rows NEW TABLE AS new_rows"),
    ("report_attendances_delete", "attendances", "DELETE", "OLD TABLE AS old_rows"),
    ("report_ledger_entries_insert", "ledger_entries", "INSERT", "NEW TABLE AS new_rows"),
)

PG_MONTH = "date_trunc('month', {ts} AT TIME ZONE c.timezone)::date"
PG_YEAR = "extract(year FROM month)::int"

# ---------------------------------------------------------------- SQLite: row triggers

SQLITE_MONTH = "jifen_local_month({ts}, (SELECT timezone FROM communities WHERE id = {row}.community_id))"


def _sqlite_attendance_add(row: str, sign: int) -> str:
    """Statements adding ``sign`` x the attendance ``row`` (NEW or OLD) to both summaries."""
    month = SQLITE_MONTH.format(ts=f"{row}.checked_in_at", row=row)
    done = f"(CASE WHEN {row}.status = 'out' THEN {sign} ELSE 0 END)"
    minutes = f"(CASE WHEN {row}.status = 'out' THEN {sign} * {row}.minutes ELSE 0 END)"
    out = []
    for table, key, value in (
        ("report_member_months", "month", month),
        ("report_member_years", "year", f"CAST(substr({month}, 1, 4) AS INTEGER)"),
    ):
        out.append(
            f"INSERT INTO {table} (community_id, {key}, member_id, checkins, done, minutes) "
            f"SELECT {row}.community_id, {value}, {row}.member_id, {sign}, {done}, {minutes} "
            f"WHERE {row}.status IN ('in', 'out') "
            f"ON CONFLICT (community_id, {key}, member_id) DO UPDATE SET checkins = checkins + excluded.checkins, "
            "done = done + excluded.done, minutes = minutes + excluded.minutes;"
        )
    return "\n  ".join(out)


SQLITE_TRIGGERS = (
    f"""CREATE TRIGGER report_attendances_insert AFTER INSERT ON attendances BEGIN
  {_sqlite_attendance_add("NEW", 1)}
END""",
    f"""CREATE TRIGGER report_attendances_update
AFTER UPDATE OF status, minutes, checked_in_at, community_id, member_id ON attendances BEGIN
  {_sqlite_attendance_add("OLD", -1)}
  {_sqlite_attendance_add("NEW", 1)}
END""",
    f"""CREATE TRIGGER report_attendances_delete AFTER DELETE ON attendances BEGIN
  {_sqlite_attendance_add("OLD", -1)}
END""",
    f"""CREATE TRIGGER report_ledger_entries_insert AFTER INSERT ON ledger_entries BEGIN
  INSERT INTO report_account_months (account_id, community_id, month, kind, points)
  SELECT NEW.account_id, NEW.community_id, {SQLITE_MONTH.format(ts="NEW.created_at", row="NEW")}, a.kind, NEW.points
  FROM ledger_accounts a WHERE a.id = NEW.account_id
  ON CONFLICT (account_id, community_id, month) DO UPDATE SET points = points + excluded.points;
END""",
)
SQLITE_MONTH_OF = "jifen_local_month({ts}, c.timezone)"
SQLITE_YEAR = "CAST(substr(month, 1, 4) AS INTEGER)"

# ---------------------------------------------------------------- backfill (both dialects)

BACKFILL = (
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
FROM ledger_entries e JOIN ledger_accounts a ON a.id = e.account_id JOIN communities c ON c.id = e.community_id
GROUP BY e.account_id, e.community_id, {month_entry}""",
)


def backfill_statements(dialect: str) -> list[str]:
    if dialect == "postgresql":
        month, year = PG_MONTH, PG_YEAR
    else:
        month, year = SQLITE_MONTH_OF, SQLITE_YEAR
    return [
        s.format(
            month_att=month.format(ts="a.checked_in_at"),
            month_entry=month.format(ts="e.created_at"),
            year=year,
        )
        for s in BACKFILL
    ]


def _member_table(name: str, key: str, key_type: sa.types.TypeEngine[object]) -> None:
    op.create_table(
        name,
        sa.Column("community_id", sa.Uuid(), nullable=False),
        sa.Column(key, key_type, nullable=False),
        sa.Column("member_id", sa.Uuid(), nullable=False),
        sa.Column("checkins", sa.Integer(), nullable=False),
        sa.Column("done", sa.Integer(), nullable=False),
        sa.Column("minutes", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("community_id", key, "member_id", name=op.f(f"pk_{name}")),
    )


def upgrade() -> None:
    _member_table("report_member_months", "month", sa.Date())
    _member_table("report_member_years", "year", sa.Integer())
    op.create_table(
        "report_account_months",
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("community_id", sa.Uuid(), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("account_id", "community_id", "month", name=op.f("pk_report_account_months")),
    )
    op.create_index(
        "ix_report_account_months_community_month", "report_account_months", ["community_id", "month"]
    )
    dialect = op.get_bind().dialect.name
    for statement in backfill_statements(dialect):
        op.execute(statement)
    if dialect == "postgresql":
        for function in PG_FUNCTIONS:
            op.execute(function)
        for name, table, event, referencing in PG_TRIGGERS:
            op.execute(
                f"CREATE TRIGGER {name} AFTER {event} ON {table} REFERENCING {referencing} "
                f"FOR EACH STATEMENT EXECUTE FUNCTION {name}()"
            )
        op.execute("ANALYZE report_member_months")
        op.execute("ANALYZE report_member_years")
        op.execute("ANALYZE report_account_months")
    else:
        for trigger in SQLITE_TRIGGERS:
            op.execute(trigger)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for name, table, _event, _ref in PG_TRIGGERS:
        if dialect == "postgresql":
            op.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
            op.execute(f"DROP FUNCTION IF EXISTS {name}()")
        else:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.drop_index("ix_report_account_months_community_month", table_name="report_account_months")
    op.drop_table("report_account_months")
    op.drop_table("report_member_years")
    op.drop_table("report_member_months")
