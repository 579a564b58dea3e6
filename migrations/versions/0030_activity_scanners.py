"""scanning helpers (issue 23): store clerks an organizer names to scan at one activity

Revision ID: 0030
Revises: 0028
"""

from __future__ import annotations

from collections.abc import Sequence

import advanced_alchemy.types
import sqlalchemy as sa
from alembic import op

revision: str = "0030"
down_revision: str | None = "0028"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TS = advanced_alchemy.types.datetime.DateTimeUTC(timezone=True)


def upgrade() -> None:
    op.create_table(
        "activity_scanners",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("community_id", sa.Uuid(), nullable=False),
        sa.Column("activity_id", sa.Uuid(), nullable=False),
        sa.Column("member_id", sa.Uuid(), nullable=False),
        sa.Column("assigned_by", sa.Uuid(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.CheckConstraint("assigned_by <> member_id", name=op.f("ck_activity_scanners_not_self")),
        sa.ForeignKeyConstraint(
            ["community_id"], ["communities.id"], name=op.f("fk_activity_scanners_community_id_communities")
        ),
        sa.ForeignKeyConstraint(
            ["activity_id"], ["activities.id"], name=op.f("fk_activity_scanners_activity_id_activities")
        ),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_activity_scanners_member_id_members")
        ),
        sa.ForeignKeyConstraint(
            ["assigned_by"], ["members.id"], name=op.f("fk_activity_scanners_assigned_by_members")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_activity_scanners")),
        sa.UniqueConstraint("activity_id", "member_id", name=op.f("uq_activity_scanners_activity_id")),
    )
    op.create_index("ix_activity_scanners_member", "activity_scanners", ["member_id", "community_id"])


def downgrade() -> None:
    op.drop_index("ix_activity_scanners_member", table_name="activity_scanners")
    op.drop_table("activity_scanners")
