"""rewards: good-conduct rules, claims (reviews, objections, photos), settings, micro-wishes

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from collections.abc import Sequence

import advanced_alchemy.types
import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "reward_rules",
        sa.Column("community_id", sa.Uuid(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("title", sa.String(length=120), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("evidence_required", sa.Boolean(), nullable=False),
        sa.Column("publicity_days", sa.Integer(), nullable=False),
        sa.Column("limit_per_member_per_year", sa.Integer(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.CheckConstraint(
            "limit_per_member_per_year IS NULL OR limit_per_member_per_year >= 1",
            name=op.f("ck_reward_rules_limit_positive"),
        ),
        sa.CheckConstraint("points > 0", name=op.f("ck_reward_rules_points_positive")),
        sa.CheckConstraint("publicity_days >= 0", name=op.f("ck_reward_rules_publicity_days_not_negative")),
        sa.ForeignKeyConstraint(
            ["community_id"], ["communities.id"], name=op.f("fk_reward_rules_community_id_communities")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reward_rules")),
        sa.UniqueConstraint("community_id", "code", name=op.f("uq_reward_rules_community_id")),
    )
    op.create_table(
        "rewards_settings",
        sa.Column("community_id", sa.Uuid(), nullable=False),
        sa.Column("two_reviewers_from_points", sa.Integer(), nullable=False),
        sa.Column("wish_points", sa.Integer(), nullable=False),
        sa.Column("wish_auto_award_days", sa.Integer(), nullable=False),
        sa.Column("wish_assign_timeout_days", sa.Integer(), nullable=False),
        sa.Column("updated_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.CheckConstraint(
            "two_reviewers_from_points >= 1", name=op.f("ck_rewards_settings_threshold_positive")
        ),
        sa.CheckConstraint(
            "wish_assign_timeout_days >= 1", name=op.f("ck_rewards_settings_timeout_days_positive")
        ),
        sa.CheckConstraint(
            "wish_auto_award_days >= 1", name=op.f("ck_rewards_settings_auto_award_days_positive")
        ),
        sa.CheckConstraint("wish_points >= 0", name=op.f("ck_rewards_settings_wish_points_not_negative")),
        sa.ForeignKeyConstraint(
            ["community_id"], ["communities.id"], name=op.f("fk_rewards_settings_community_id_communities")
        ),
        sa.PrimaryKeyConstraint("community_id", name=op.f("pk_rewards_settings")),
    )
    op.create_table(
        "wishes",
        sa.Column("community_id", sa.Uuid(), nullable=False),
        sa.Column("requester_id", sa.Uuid(), nullable=False),
        sa.Column("title", sa.String(length=120), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("wanted_by", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("volunteer_id", sa.Uuid(), nullable=True),
        sa.Column("assigned_by", sa.Uuid(), nullable=True),
        sa.Column("assigned_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
        sa.Column("completed_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
        sa.Column("rated_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
        sa.Column("stars", sa.Integer(), nullable=True),
        sa.Column("comment", sa.String(length=500), nullable=False),
        sa.Column("cancelled_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
        sa.Column("timeouts", sa.Integer(), nullable=False),
        sa.Column("points", sa.Integer(), nullable=True),
        sa.Column("awarded_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
        sa.Column("transfer_id", sa.Uuid(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.CheckConstraint(
            "(status = 'open' AND volunteer_id IS NULL) OR status = 'cancelled' OR (status IN ('assigned','done','rated','closed') AND volunteer_id IS NOT NULL)",
            name=op.f("ck_wishes_volunteer_bound"),
        ),
        sa.CheckConstraint(
            "status IN ('open','assigned','done','rated','closed','cancelled')",
            name=op.f("ck_wishes_known_status"),
        ),
        sa.CheckConstraint(
            "stars IS NULL OR (stars >= 1 AND stars <= 5)", name=op.f("ck_wishes_stars_range")
        ),
        sa.ForeignKeyConstraint(["assigned_by"], ["members.id"], name=op.f("fk_wishes_assigned_by_members")),
        sa.ForeignKeyConstraint(
            ["community_id"], ["communities.id"], name=op.f("fk_wishes_community_id_communities")
        ),
        sa.ForeignKeyConstraint(
            ["requester_id"], ["members.id"], name=op.f("fk_wishes_requester_id_members")
        ),
        sa.ForeignKeyConstraint(
            ["volunteer_id"], ["members.id"], name=op.f("fk_wishes_volunteer_id_members")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wishes")),
    )
    with op.batch_alter_table("wishes", schema=None) as batch_op:
        batch_op.create_index("ix_wishes_community_created", ["community_id", "created_at"], unique=False)
        batch_op.create_index("ix_wishes_community_status", ["community_id", "status"], unique=False)
        batch_op.create_index(batch_op.f("ix_wishes_requester_id"), ["requester_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_wishes_volunteer_id"), ["volunteer_id"], unique=False)

    op.create_table(
        "reward_claims",
        sa.Column("community_id", sa.Uuid(), nullable=False),
        sa.Column("rule_id", sa.Uuid(), nullable=False),
        sa.Column("member_id", sa.Uuid(), nullable=False),
        sa.Column("submitted_by", sa.Uuid(), nullable=False),
        sa.Column("evidence", sa.Text(), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("review_round", sa.Integer(), nullable=False),
        sa.Column("publicized_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
        sa.Column(
            "publicity_ends_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True
        ),
        sa.Column("decided_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
        sa.Column("decision_note", sa.String(length=500), nullable=False),
        sa.Column("awarded_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
        sa.Column("transfer_id", sa.Uuid(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.CheckConstraint(
            "(status = 'awarded') = (awarded_at IS NOT NULL)", name=op.f("ck_reward_claims_awarded_bound")
        ),
        sa.CheckConstraint(
            "(status = 'publicized') = (publicity_ends_at IS NOT NULL)",
            name=op.f("ck_reward_claims_publicity_bound"),
        ),
        sa.CheckConstraint(
            "status IN ('submitted','publicized','rejected','awarded')",
            name=op.f("ck_reward_claims_known_status"),
        ),
        sa.CheckConstraint("points > 0", name=op.f("ck_reward_claims_points_positive")),
        sa.ForeignKeyConstraint(
            ["community_id"], ["communities.id"], name=op.f("fk_reward_claims_community_id_communities")
        ),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_reward_claims_member_id_members")
        ),
        sa.ForeignKeyConstraint(
            ["rule_id"], ["reward_rules.id"], name=op.f("fk_reward_claims_rule_id_reward_rules")
        ),
        sa.ForeignKeyConstraint(
            ["submitted_by"], ["members.id"], name=op.f("fk_reward_claims_submitted_by_members")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reward_claims")),
    )
    with op.batch_alter_table("reward_claims", schema=None) as batch_op:
        batch_op.create_index("ix_reward_claims_community_status", ["community_id", "status"], unique=False)
        batch_op.create_index(
            "ix_reward_claims_limit", ["community_id", "member_id", "rule_id", "year"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_reward_claims_member_id"), ["member_id"], unique=False)

    op.create_table(
        "reward_claim_objections",
        sa.Column("community_id", sa.Uuid(), nullable=False),
        sa.Column("claim_id", sa.Uuid(), nullable=False),
        sa.Column("member_id", sa.Uuid(), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("resolved_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["claim_id"], ["reward_claims.id"], name=op.f("fk_reward_claim_objections_claim_id_reward_claims")
        ),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_reward_claim_objections_community_id_communities"),
        ),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_reward_claim_objections_member_id_members")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reward_claim_objections")),
    )
    with op.batch_alter_table("reward_claim_objections", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_reward_claim_objections_claim_id"), ["claim_id"], unique=False)

    op.create_table(
        "reward_claim_photos",
        sa.Column("community_id", sa.Uuid(), nullable=False),
        sa.Column("claim_id", sa.Uuid(), nullable=False),
        sa.Column("content_type", sa.String(length=32), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.CheckConstraint("size_bytes > 0", name=op.f("ck_reward_claim_photos_not_empty")),
        sa.ForeignKeyConstraint(
            ["claim_id"], ["reward_claims.id"], name=op.f("fk_reward_claim_photos_claim_id_reward_claims")
        ),
        sa.ForeignKeyConstraint(
            ["community_id"], ["communities.id"], name=op.f("fk_reward_claim_photos_community_id_communities")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reward_claim_photos")),
    )
    with op.batch_alter_table("reward_claim_photos", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_reward_claim_photos_claim_id"), ["claim_id"], unique=False)

    op.create_table(
        "reward_claim_reviews",
        sa.Column("community_id", sa.Uuid(), nullable=False),
        sa.Column("claim_id", sa.Uuid(), nullable=False),
        sa.Column("reviewer_id", sa.Uuid(), nullable=False),
        sa.Column("review_round", sa.Integer(), nullable=False),
        sa.Column("decision", sa.String(length=8), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.CheckConstraint(
            "decision IN ('approve','reject')", name=op.f("ck_reward_claim_reviews_known_decision")
        ),
        sa.ForeignKeyConstraint(
            ["claim_id"], ["reward_claims.id"], name=op.f("fk_reward_claim_reviews_claim_id_reward_claims")
        ),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_reward_claim_reviews_community_id_communities"),
        ),
        sa.ForeignKeyConstraint(
            ["reviewer_id"], ["members.id"], name=op.f("fk_reward_claim_reviews_reviewer_id_members")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reward_claim_reviews")),
        sa.UniqueConstraint(
            "claim_id", "reviewer_id", "review_round", name="uq_reward_claim_reviews_once_per_round"
        ),
    )
    with op.batch_alter_table("reward_claim_reviews", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_reward_claim_reviews_claim_id"), ["claim_id"], unique=False)


def downgrade() -> None:
    for table in (
        "reward_claim_reviews",
        "reward_claim_photos",
        "reward_claim_objections",
        "reward_claims",
        "wishes",
        "rewards_settings",
        "reward_rules",
    ):
        op.drop_table(table)
