"""report summaries: per member and local month / year of attendances, per account and local month of
the ledger, kept by triggers (PostgreSQL and SQLite) and backfilled here

Written by hand. The triggers live in service/reports/sql/summaries.sql and summaries.sqlite.sql
(installed by service/dbcode.py); the backfill is ``service.reports.summary.fill_statements``, the same
statements as ``jifen reports rebuild``. Months are the first local day of the month in the time zone
of the row's community (``AT TIME ZONE`` on PostgreSQL; on SQLite the ``jifen_local_month(ts, zone)`` function that
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

from service.reports.summary import fill_statements

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

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
    for statement in fill_statements(dialect == "postgresql"):
        op.execute(statement)
    if dialect == "postgresql":
        op.execute("ANALYZE report_member_months")
        op.execute("ANALYZE report_member_years")
        op.execute("ANALYZE report_account_months")


def downgrade() -> None:
    op.drop_index("ix_report_account_months_community_month", table_name="report_account_months")
    op.drop_table("report_account_months")
    op.drop_table("report_member_years")
    op.drop_table("report_member_months")
