"""the street's alliance: units of a region (a partner belongs to a community or to a region), their
kind, opening hours and monthly quota; offers of a region's unit have no community, and offers get a
monthly quota and a per-member monthly limit

Revision ID: 0023
Revises: 0022f
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023"
down_revision: str | None = "0022f"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("partners", schema=None) as batch_op:
        batch_op.add_column(sa.Column("region_id", sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column("kind", sa.String(length=16), nullable=False, server_default="shop"))
        batch_op.add_column(sa.Column("hours", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("monthly_quota", sa.Integer(), nullable=True))
        batch_op.alter_column("community_id", existing_type=sa.Uuid(), nullable=True)
        batch_op.create_foreign_key(
            batch_op.f("fk_partners_region_id_regions"), "regions", ["region_id"], ["id"]
        )
        batch_op.create_index(batch_op.f("ix_partners_region_id"), ["region_id"], unique=False)
        batch_op.create_unique_constraint(batch_op.f("uq_partners_region_id"), ["region_id", "name"])
        batch_op.create_check_constraint(
            batch_op.f("ck_partners_one_owner"), "(community_id IS NULL) <> (region_id IS NULL)"
        )
        batch_op.create_check_constraint(
            batch_op.f("ck_partners_known_kind"), "kind IN ('shop','service','health','fitness','other')"
        )
        batch_op.create_check_constraint(
            batch_op.f("ck_partners_quota_positive"), "monthly_quota IS NULL OR monthly_quota > 0"
        )
    with op.batch_alter_table("partners", schema=None) as batch_op:
        batch_op.alter_column("kind", existing_type=sa.String(length=16), server_default=None)
    with op.batch_alter_table("offers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("monthly_quota", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("member_month_limit", sa.Integer(), nullable=True))
        batch_op.alter_column("community_id", existing_type=sa.Uuid(), nullable=True)
        batch_op.create_check_constraint(
            batch_op.f("ck_offers_monthly_quota_positive"), "monthly_quota IS NULL OR monthly_quota > 0"
        )
        batch_op.create_check_constraint(
            batch_op.f("ck_offers_member_month_positive"), "member_month_limit IS NULL OR member_month_limit > 0"
        )


def downgrade() -> None:
    with op.batch_alter_table("offers", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_offers_member_month_positive"), type_="check")
        batch_op.drop_constraint(batch_op.f("ck_offers_monthly_quota_positive"), type_="check")
        batch_op.alter_column("community_id", existing_type=sa.Uuid(), nullable=False)
        batch_op.drop_column("member_month_limit")
        batch_op.drop_column("monthly_quota")
    with op.batch_alter_table("partners", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_partners_quota_positive"), type_="check")
        batch_op.drop_constraint(batch_op.f("ck_partners_known_kind"), type_="check")
        batch_op.drop_constraint(batch_op.f("ck_partners_one_owner"), type_="check")
        batch_op.drop_constraint(batch_op.f("uq_partners_region_id"), type_="unique")
        batch_op.drop_index(batch_op.f("ix_partners_region_id"))
        batch_op.drop_constraint(batch_op.f("fk_partners_region_id_regions"), type_="foreignkey")
        batch_op.alter_column("community_id", existing_type=sa.Uuid(), nullable=False)
        batch_op.drop_column("monthly_quota")
        batch_op.drop_column("hours")
        batch_op.drop_column("kind")
        batch_op.drop_column("region_id")
