"""issuance budgets (积分发放总量): per community and month, and the issuances waiting for one

Existing communities keep issuing: each gets a budget equal to the most it issued in one (UTC) month so
far (none: no budget, so an official must set one before its first point issues), and the current
month's counter starts at what it issued this (UTC) month.

Revision ID: 0021
Revises: 0019
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime

import advanced_alchemy.types
import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ISSUED_BY_MONTH = """
SELECT a.community_id, {month} AS month, sum(-e.points) AS issued
  FROM ledger_entries e JOIN ledger_accounts a ON a.id = e.account_id
 WHERE a.kind = 'issuance'
 GROUP BY a.community_id, {month}
"""


def upgrade() -> None:
    op.create_table(
        "community_budgets",
        sa.Column("community_id", sa.Uuid(), nullable=False),
        sa.Column("monthly_points", sa.BigInteger(), nullable=False),
        sa.Column("set_by", sa.Uuid(), nullable=True),
        sa.Column("updated_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.CheckConstraint("monthly_points >= 0", name=op.f("ck_community_budgets_not_negative")),
        sa.ForeignKeyConstraint(
            ["community_id"], ["communities.id"], name=op.f("fk_community_budgets_community_id_communities")
        ),
        sa.ForeignKeyConstraint(["set_by"], ["members.id"], name=op.f("fk_community_budgets_set_by_members")),
        sa.PrimaryKeyConstraint("community_id", name=op.f("pk_community_budgets")),
    )
    op.create_table(
        "issuance_months",
        sa.Column("community_id", sa.Uuid(), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("issued", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("issued >= 0", name=op.f("ck_issuance_months_not_negative")),
        sa.ForeignKeyConstraint(
            ["community_id"], ["communities.id"], name=op.f("fk_issuance_months_community_id_communities")
        ),
        sa.PrimaryKeyConstraint("community_id", "month", name=op.f("pk_issuance_months")),
    )
    op.create_table(
        "pending_issuances",
        sa.Column("community_id", sa.Uuid(), nullable=False),
        sa.Column("member_id", sa.Uuid(), nullable=False),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("memo", sa.String(length=500), nullable=False),
        sa.Column("ref_type", sa.String(length=32), nullable=True),
        sa.Column("ref_id", sa.String(length=64), nullable=True),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column("idempotency_key", sa.String(length=128), nullable=False),
        sa.Column("posted_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
        sa.Column("transfer_id", sa.Uuid(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.CheckConstraint("points > 0", name=op.f("ck_pending_issuances_points_positive")),
        sa.CheckConstraint(
            "(posted_at IS NULL) = (transfer_id IS NULL)",
            name=op.f("ck_pending_issuances_posted_has_transfer"),
        ),
        sa.ForeignKeyConstraint(
            ["community_id"], ["communities.id"], name=op.f("fk_pending_issuances_community_id_communities")
        ),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_pending_issuances_member_id_members")
        ),
        sa.ForeignKeyConstraint(
            ["transfer_id"],
            ["ledger_transfers.id"],
            name=op.f("fk_pending_issuances_transfer_id_ledger_transfers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pending_issuances")),
        sa.UniqueConstraint("community_id", "idempotency_key", name="uq_pending_issuances_key"),
    )
    op.create_index(
        "ix_pending_issuances_open",
        "pending_issuances",
        ["community_id", "posted_at", "created_at"],
        unique=False,
    )
    _budgets_for_existing_communities()


def _budgets_for_existing_communities() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        month = "to_char(e.created_at AT TIME ZONE 'UTC', 'YYYY-MM')"
    else:
        month = "strftime('%Y-%m', e.created_at)"
    rows = bind.execute(sa.text(_ISSUED_BY_MONTH.format(month=month))).all()
    now = datetime.now(UTC)
    this_month = now.strftime("%Y-%m")
    most: dict[uuid.UUID, int] = {}
    current: dict[uuid.UUID, int] = {}
    for raw_id, month_text, issued in rows:
        community_id = raw_id if isinstance(raw_id, uuid.UUID) else uuid.UUID(str(raw_id))
        most[community_id] = max(most.get(community_id, 0), int(issued or 0))
        if month_text == this_month:
            current[community_id] = max(0, int(issued or 0))
    budgets = sa.table(
        "community_budgets",
        sa.column("community_id", sa.Uuid()),
        sa.column("monthly_points", sa.BigInteger()),
        sa.column("set_by", sa.Uuid()),
        sa.column("updated_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True)),
    )
    months = sa.table(
        "issuance_months",
        sa.column("community_id", sa.Uuid()),
        sa.column("month", sa.Date()),
        sa.column("issued", sa.BigInteger()),
    )
    given = [
        {"community_id": c, "monthly_points": p, "set_by": None, "updated_at": now}
        for c, p in most.items()
        if p > 0
    ]
    if given:
        op.bulk_insert(budgets, given)
    first = date(now.year, now.month, 1)
    counted = [{"community_id": c, "month": first, "issued": p} for c, p in current.items()]
    if counted:
        op.bulk_insert(months, counted)


def downgrade() -> None:
    op.drop_index("ix_pending_issuances_open", table_name="pending_issuances")
    op.drop_table("pending_issuances")
    op.drop_table("issuance_months")
    op.drop_table("community_budgets")
