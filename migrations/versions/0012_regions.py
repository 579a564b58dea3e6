"""regions (city > district > street), their officials, and the indexes the reports scan

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

from collections.abc import Sequence

import advanced_alchemy.types
import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = (
    ("ix_attendances_community_checked_in", "attendances", ["community_id", "checked_in_at"]),
    ("ix_ledger_entries_community_created", "ledger_entries", ["community_id", "created_at"]),
    ("ix_memberships_community_created", "memberships", ["community_id", "created_at"]),
    ("ix_orders_community_created", "orders", ["community_id", "created_at"]),
    ("ix_vouchers_community_redeemed", "vouchers", ["community_id", "redeemed_at"]),
    ("ix_reward_claims_community_created", "reward_claims", ["community_id", "created_at"]),
)


def upgrade() -> None:
    op.create_table(
        "regions",
        sa.Column("parent_id", sa.Uuid(), nullable=True),
        sa.Column("level", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.CheckConstraint("level IN ('city','district','street')", name=op.f("ck_regions_known_level")),
        sa.CheckConstraint(
            "(level = 'city') = (parent_id IS NULL)", name=op.f("ck_regions_only_cities_on_top")
        ),
        sa.ForeignKeyConstraint(["parent_id"], ["regions.id"], name=op.f("fk_regions_parent_id_regions")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_regions")),
        sa.UniqueConstraint("code", name=op.f("uq_regions_code")),
    )
    op.create_index(op.f("ix_regions_parent_id"), "regions", ["parent_id"], unique=False)
    op.create_table(
        "region_communities",
        sa.Column("community_id", sa.Uuid(), nullable=False),
        sa.Column("region_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["community_id"], ["communities.id"], name=op.f("fk_region_communities_community_id_communities")
        ),
        sa.ForeignKeyConstraint(
            ["region_id"], ["regions.id"], name=op.f("fk_region_communities_region_id_regions")
        ),
        sa.PrimaryKeyConstraint("community_id", name=op.f("pk_region_communities")),
    )
    op.create_index(
        op.f("ix_region_communities_region_id"), "region_communities", ["region_id"], unique=False
    )
    op.create_table(
        "region_memberships",
        sa.Column("region_id", sa.Uuid(), nullable=False),
        sa.Column("member_id", sa.Uuid(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.CheckConstraint("role IN ('official')", name=op.f("ck_region_memberships_known_role")),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_region_memberships_member_id_members")
        ),
        sa.ForeignKeyConstraint(
            ["region_id"], ["regions.id"], name=op.f("fk_region_memberships_region_id_regions")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_region_memberships")),
        sa.UniqueConstraint(
            "region_id", "member_id", "role", name="region_role_once"
        ),
    )
    op.create_index(
        op.f("ix_region_memberships_member_id"), "region_memberships", ["member_id"], unique=False
    )
    op.create_index("ix_region_memberships_region", "region_memberships", ["region_id"], unique=False)
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns, unique=False)


def downgrade() -> None:
    for name, table, _columns in reversed(INDEXES):
        op.drop_index(name, table_name=table)
    op.drop_index("ix_region_memberships_region", table_name="region_memberships")
    op.drop_index(op.f("ix_region_memberships_member_id"), table_name="region_memberships")
    op.drop_table("region_memberships")
    op.drop_index(op.f("ix_region_communities_region_id"), table_name="region_communities")
    op.drop_table("region_communities")
    op.drop_index(op.f("ix_regions_parent_id"), table_name="regions")
    op.drop_table("regions")
