"""policy proposals: a change that widens what can be issued or who can act waits for a second person

Revision ID: 0018
Revises: 0017
"""

from __future__ import annotations

from collections.abc import Sequence

import advanced_alchemy.types
import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_DATETIME = advanced_alchemy.types.datetime.DateTimeUTC(timezone=True)


def upgrade() -> None:
    op.create_table(
        "policy_proposals",
        sa.Column("community_id", sa.Uuid(), nullable=False),
        sa.Column("proposed_by", sa.Uuid(), nullable=False),
        sa.Column("knob", sa.String(length=40), nullable=False),
        sa.Column("target_id", sa.Uuid(), nullable=True),
        sa.Column("before", sa.JSON(), nullable=False),
        sa.Column("after", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("decided_by", sa.Uuid(), nullable=True),
        sa.Column("decided_at", UTC_DATETIME, nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.CheckConstraint(
            "status IN ('pending','approved','rejected','withdrawn','superseded')",
            name=op.f("ck_policy_proposals_known_status"),
        ),
        sa.CheckConstraint(
            "decided_by IS NULL OR decided_by <> proposed_by", name=op.f("ck_policy_proposals_not_own")
        ),
        sa.ForeignKeyConstraint(
            ["community_id"], ["communities.id"], name=op.f("fk_policy_proposals_community_id_communities")
        ),
        sa.ForeignKeyConstraint(
            ["proposed_by"], ["members.id"], name=op.f("fk_policy_proposals_proposed_by_members")
        ),
        sa.ForeignKeyConstraint(
            ["decided_by"], ["members.id"], name=op.f("fk_policy_proposals_decided_by_members")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_policy_proposals")),
    )
    op.create_index(
        "ix_policy_proposals_community_status", "policy_proposals", ["community_id", "status"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_policy_proposals_community_status", table_name="policy_proposals")
    op.drop_table("policy_proposals")
