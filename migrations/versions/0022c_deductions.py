"""village rules cut both ways: rules and claims may deduct (negative points); what a deduction cannot
take yet is owed

A deduction (扣分) never takes a balance below zero: it takes what is available and records the rest in
``ledger_owed``, taken from the member's later earnings (``points.collect_owed``).

Revision ID: 0022c
Revises: 0022b
"""

from __future__ import annotations

from collections.abc import Sequence

import advanced_alchemy.types
import sqlalchemy as sa
from alembic import op

revision: str = "0022c"
down_revision: str | None = "0022b"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    for table in ("reward_rules", "reward_claims"):
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(op.f(f"ck_{table}_points_positive"), type_="check")
            batch.create_check_constraint(op.f(f"ck_{table}_points_not_zero"), "points <> 0")
    op.create_table(
        "ledger_owed",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("community_id", sa.Uuid(), nullable=False),
        sa.Column("member_id", sa.Uuid(), nullable=False),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.Column("remaining", sa.BigInteger(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("memo", sa.String(length=500), nullable=False),
        sa.Column("ref_type", sa.String(length=32), nullable=True),
        sa.Column("ref_id", sa.String(length=64), nullable=True),
        sa.Column("settled_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
        sa.Column("created_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.CheckConstraint("points > 0", name=op.f("ck_ledger_owed_points_positive")),
        sa.CheckConstraint(
            "remaining >= 0 AND remaining <= points", name=op.f("ck_ledger_owed_remaining_range")
        ),
        sa.CheckConstraint(
            "(remaining = 0) = (settled_at IS NOT NULL)", name=op.f("ck_ledger_owed_settled_bound")
        ),
        sa.ForeignKeyConstraint(
            ["community_id"], ["communities.id"], name=op.f("fk_ledger_owed_community_id_communities")
        ),
        sa.ForeignKeyConstraint(["member_id"], ["members.id"], name=op.f("fk_ledger_owed_member_id_members")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_owed")),
    )
    op.create_index(
        "ix_ledger_owed_open",
        "ledger_owed",
        ["community_id", "member_id"],
        postgresql_where=sa.text("remaining > 0"),
    )


def downgrade() -> None:
    op.drop_index("ix_ledger_owed_open", table_name="ledger_owed")
    op.drop_table("ledger_owed")
    bind = op.get_bind()
    if bind.execute(sa.text("SELECT count(*) FROM reward_rules WHERE points < 0")).scalar():
        raise RuntimeError("deduction rules exist: the schema before 0022c cannot hold them")
    for table in ("reward_claims", "reward_rules"):
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(op.f(f"ck_{table}_points_not_zero"), type_="check")
            batch.create_check_constraint(op.f(f"ck_{table}_points_positive"), "points > 0")
