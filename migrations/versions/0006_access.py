"""access: the append-only audit log of staff acts

Written by hand (only this change's table). The trigger that refuses UPDATE and DELETE of audit events
lives in service/audit/sql/audit.sql (installed by service/dbcode.py).

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

from collections.abc import Sequence

import advanced_alchemy.types
import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

def upgrade() -> None:
    op.create_table(
        "audit_events",
        sa.Column("community_id", sa.Uuid(), nullable=True),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("subject_member_id", sa.Uuid(), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("client_addr", sa.String(length=64), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["community_id"], ["communities.id"], name=op.f("fk_audit_events_community_id_communities")
        ),
        sa.ForeignKeyConstraint(["actor_id"], ["members.id"], name=op.f("fk_audit_events_actor_id_members")),
        sa.ForeignKeyConstraint(
            ["subject_member_id"], ["members.id"], name=op.f("fk_audit_events_subject_member_id_members")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
    )
    op.create_index("ix_audit_events_community_id_id", "audit_events", ["community_id", "id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_audit_events_community_id_id", table_name="audit_events")
    op.drop_table("audit_events")
