"""duties: activity points cap and approval, organizers' own attendance, absences, spent scan cookies

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

from collections.abc import Sequence

import advanced_alchemy.types
import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_TIME = advanced_alchemy.types.datetime.DateTimeUTC(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("activities", schema=None) as batch_op:
        batch_op.add_column(sa.Column("approved_by", sa.Uuid(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_activities_approved_by_members"), "members", ["approved_by"], ["id"]
        )
        batch_op.drop_constraint(batch_op.f("ck_activities_known_status"), type_="check")
        batch_op.create_check_constraint(
            batch_op.f("ck_activities_known_status"),
            "status IN ('pending_approval','open','closed','cancelled')",
        )
        batch_op.create_check_constraint(
            batch_op.f("ck_activities_approver_not_creator"),
            "approved_by IS NULL OR approved_by <> created_by",
        )
    with op.batch_alter_table("attendances", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("needs_confirmation", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.drop_constraint(batch_op.f("ck_attendances_known_status"), type_="check")
        batch_op.create_check_constraint(
            batch_op.f("ck_attendances_known_status"), "status IN ('in','out','pending','rejected','absent')"
        )
        batch_op.create_check_constraint(
            batch_op.f("ck_attendances_confirmed_by_another"),
            "status <> 'out' OR NOT needs_confirmation OR approved_by <> member_id",
        )
    with op.batch_alter_table("attendances", schema=None) as batch_op:
        batch_op.alter_column("needs_confirmation", server_default=None)

    op.create_table(
        "activity_policies",
        sa.Column("community_id", sa.Uuid(), nullable=False),
        sa.Column("points_cap", sa.Integer(), nullable=False),
        sa.Column("updated_at", UTC_TIME, nullable=False),
        sa.Column("updated_by", sa.Uuid(), nullable=True),
        sa.CheckConstraint("points_cap >= 0", name=op.f("ck_activity_policies_points_cap_nonneg")),
        sa.ForeignKeyConstraint(
            ["community_id"], ["communities.id"], name=op.f("fk_activity_policies_community_id_communities")
        ),
        sa.ForeignKeyConstraint(
            ["updated_by"], ["members.id"], name=op.f("fk_activity_policies_updated_by_members")
        ),
        sa.PrimaryKeyConstraint("community_id", name=op.f("pk_activity_policies")),
    )
    op.create_table(
        "scan_uses",
        sa.Column("community_id", sa.Uuid(), nullable=False),
        sa.Column("nonce", sa.String(length=32), nullable=False),
        sa.Column("activity_id", sa.Uuid(), nullable=False),
        sa.Column("member_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["activity_id"], ["activities.id"], name=op.f("fk_scan_uses_activity_id_activities")
        ),
        sa.ForeignKeyConstraint(
            ["community_id"], ["communities.id"], name=op.f("fk_scan_uses_community_id_communities")
        ),
        sa.ForeignKeyConstraint(["member_id"], ["members.id"], name=op.f("fk_scan_uses_member_id_members")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scan_uses")),
        sa.UniqueConstraint("nonce", name=op.f("uq_scan_uses_nonce")),
    )


def downgrade() -> None:
    op.drop_table("scan_uses")
    op.drop_table("activity_policies")
    with op.batch_alter_table("attendances", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_attendances_confirmed_by_another"), type_="check")
        batch_op.drop_constraint(batch_op.f("ck_attendances_known_status"), type_="check")
        batch_op.create_check_constraint(
            batch_op.f("ck_attendances_known_status"), "status IN ('in','out','pending','rejected')"
        )
        batch_op.drop_column("needs_confirmation")
    with op.batch_alter_table("activities", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_activities_approver_not_creator"), type_="check")
        batch_op.drop_constraint(batch_op.f("ck_activities_known_status"), type_="check")
        batch_op.create_check_constraint(
            batch_op.f("ck_activities_known_status"), "status IN ('open','closed','cancelled')"
        )
        batch_op.drop_constraint(batch_op.f("fk_activities_approved_by_members"), type_="foreignkey")
        batch_op.drop_column("approved_by")
