"""attendance corrections: a volunteer asks, an organizer other than them decides, the record remembers

Revision ID: 0022d
Revises: 0022c
"""

from __future__ import annotations

from collections.abc import Sequence

import advanced_alchemy.types
import sqlalchemy as sa
from alembic import op

revision: str = "0022d"
down_revision: str | None = "0022c"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TS = advanced_alchemy.types.datetime.DateTimeUTC(timezone=True)


def upgrade() -> None:
    op.create_table(
        "attendance_corrections",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("community_id", sa.Uuid(), nullable=False),
        sa.Column("attendance_id", sa.Uuid(), nullable=False),
        sa.Column("member_id", sa.Uuid(), nullable=False),
        sa.Column("checked_in_at", _TS, nullable=False),
        sa.Column("checked_out_at", _TS, nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("decided_by", sa.Uuid(), nullable=True),
        sa.Column("decided_at", _TS, nullable=True),
        sa.Column("decision_note", sa.String(length=500), nullable=True),
        sa.Column("old_checked_in_at", _TS, nullable=True),
        sa.Column("old_checked_out_at", _TS, nullable=True),
        sa.Column("old_minutes", sa.Integer(), nullable=False),
        sa.Column("old_points", sa.Integer(), nullable=False),
        sa.Column("new_minutes", sa.Integer(), nullable=True),
        sa.Column("new_points", sa.Integer(), nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.CheckConstraint(
            "status IN ('pending','approved','rejected')", name=op.f("ck_attendance_corrections_known_status")
        ),
        sa.CheckConstraint(
            "checked_out_at > checked_in_at", name=op.f("ck_attendance_corrections_times_in_order")
        ),
        sa.CheckConstraint(
            "(status = 'pending') = (decided_at IS NULL)", name=op.f("ck_attendance_corrections_decided_bound")
        ),
        sa.CheckConstraint(
            "decided_by IS NULL OR decided_by <> member_id", name=op.f("ck_attendance_corrections_second_person")
        ),
        sa.ForeignKeyConstraint(
            ["community_id"], ["communities.id"], name=op.f("fk_attendance_corrections_community_id_communities")
        ),
        sa.ForeignKeyConstraint(
            ["attendance_id"], ["attendances.id"], name=op.f("fk_attendance_corrections_attendance_id_attendances")
        ),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_attendance_corrections_member_id_members")
        ),
        sa.ForeignKeyConstraint(
            ["decided_by"], ["members.id"], name=op.f("fk_attendance_corrections_decided_by_members")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_attendance_corrections")),
    )
    op.create_index(
        op.f("ix_attendance_corrections_attendance_id"), "attendance_corrections", ["attendance_id"]
    )
    op.create_index(
        "ix_attendance_corrections_community_status", "attendance_corrections", ["community_id", "status"]
    )


def downgrade() -> None:
    op.drop_index("ix_attendance_corrections_community_status", table_name="attendance_corrections")
    op.drop_index(op.f("ix_attendance_corrections_attendance_id"), table_name="attendance_corrections")
    op.drop_table("attendance_corrections")
