"""village rules adopted in public: each version of a rule with the meeting that adopted it, and the
version a claim was filed under

Revision ID: 0022e
Revises: 0022d
"""

from __future__ import annotations

from collections.abc import Sequence

import advanced_alchemy.types
import sqlalchemy as sa
from alembic import op

revision: str = "0022e"
down_revision: str | None = "0022d"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "reward_rule_adoptions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("community_id", sa.Uuid(), nullable=False),
        sa.Column("rule_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=120), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("meeting", sa.String(length=32), nullable=False),
        sa.Column("held_on", sa.Date(), nullable=False),
        sa.Column("attendance", sa.Integer(), nullable=False),
        sa.Column("votes_for", sa.Integer(), nullable=False),
        sa.Column("votes_against", sa.Integer(), nullable=False),
        sa.Column("effective_from", sa.Date(), nullable=False),
        sa.Column("recorded_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.CheckConstraint(
            "votes_for >= 0 AND votes_against >= 0", name=op.f("ck_reward_rule_adoptions_votes_not_negative")
        ),
        sa.CheckConstraint(
            "votes_for + votes_against <= attendance",
            name=op.f("ck_reward_rule_adoptions_votes_within_attendance"),
        ),
        sa.CheckConstraint("2 * votes_for > attendance", name=op.f("ck_reward_rule_adoptions_adopted_by_majority")),
        sa.CheckConstraint(
            "effective_from >= held_on", name=op.f("ck_reward_rule_adoptions_effective_after_meeting")
        ),
        sa.ForeignKeyConstraint(
            ["community_id"], ["communities.id"], name=op.f("fk_reward_rule_adoptions_community_id_communities")
        ),
        sa.ForeignKeyConstraint(
            ["rule_id"], ["reward_rules.id"], name=op.f("fk_reward_rule_adoptions_rule_id_reward_rules")
        ),
        sa.ForeignKeyConstraint(
            ["recorded_by"], ["members.id"], name=op.f("fk_reward_rule_adoptions_recorded_by_members")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reward_rule_adoptions")),
        sa.UniqueConstraint("rule_id", "version", name=op.f("uq_reward_rule_adoptions_rule_id")),
    )
    op.create_index(op.f("ix_reward_rule_adoptions_rule_id"), "reward_rule_adoptions", ["rule_id"])
    with op.batch_alter_table("reward_claims") as batch:
        batch.add_column(sa.Column("rule_version", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("reward_claims") as batch:
        batch.drop_column("rule_version")
    op.drop_index(op.f("ix_reward_rule_adoptions_rule_id"), table_name="reward_rule_adoptions")
    op.drop_table("reward_rule_adoptions")
