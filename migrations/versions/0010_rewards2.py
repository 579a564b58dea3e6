"""rewards 2: households, activity ratings, claim events (one claim per event), wish offers and
staff-gated, capped wish points

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

from collections.abc import Sequence

import advanced_alchemy.types
import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_STATUS = "status IN ('open','assigned','done','rated','closed','cancelled')"
NEW_STATUS = "status IN ('open','offered','assigned','done','rated','closed','cancelled')"
OLD_VOLUNTEER = (
    "(status = 'open' AND volunteer_id IS NULL) OR status = 'cancelled' "
    "OR (status IN ('assigned','done','rated','closed') AND volunteer_id IS NOT NULL)"
)
NEW_VOLUNTEER = (
    "(status = 'open' AND volunteer_id IS NULL) OR status = 'cancelled' "
    "OR (status IN ('offered','assigned','done','rated','closed') AND volunteer_id IS NOT NULL)"
)


def upgrade() -> None:
    op.create_table(
        "household_links",
        sa.Column("community_id", sa.Uuid(), nullable=False),
        sa.Column("requester_id", sa.Uuid(), nullable=False),
        sa.Column("relative_id", sa.Uuid(), nullable=False),
        sa.Column("relation", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("decided_by", sa.Uuid(), nullable=True),
        sa.Column("decided_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.CheckConstraint(
            "(status = 'pending') = (decided_at IS NULL)", name=op.f("ck_household_links_decided_bound")
        ),
        sa.CheckConstraint(
            "status IN ('pending','confirmed','rejected')", name=op.f("ck_household_links_known_status")
        ),
        sa.CheckConstraint("requester_id <> relative_id", name=op.f("ck_household_links_two_people")),
        sa.ForeignKeyConstraint(
            ["community_id"], ["communities.id"], name=op.f("fk_household_links_community_id_communities")
        ),
        sa.ForeignKeyConstraint(
            ["decided_by"], ["members.id"], name=op.f("fk_household_links_decided_by_members")
        ),
        sa.ForeignKeyConstraint(
            ["relative_id"], ["members.id"], name=op.f("fk_household_links_relative_id_members")
        ),
        sa.ForeignKeyConstraint(
            ["requester_id"], ["members.id"], name=op.f("fk_household_links_requester_id_members")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_household_links")),
        sa.UniqueConstraint("community_id", "requester_id", "relative_id", name="uq_household_links_pair"),
    )
    with op.batch_alter_table("household_links", schema=None) as batch_op:
        batch_op.create_index("ix_household_links_community_status", ["community_id", "status"], unique=False)
        batch_op.create_index(batch_op.f("ix_household_links_relative_id"), ["relative_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_household_links_requester_id"), ["requester_id"], unique=False)

    op.create_table(
        "activity_ratings",
        sa.Column("community_id", sa.Uuid(), nullable=False),
        sa.Column("activity_id", sa.Uuid(), nullable=False),
        sa.Column("member_id", sa.Uuid(), nullable=False),
        sa.Column("stars", sa.Integer(), nullable=False),
        sa.Column("comment", sa.String(length=500), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.CheckConstraint("stars >= 1 AND stars <= 5", name=op.f("ck_activity_ratings_stars_range")),
        sa.ForeignKeyConstraint(
            ["activity_id"], ["activities.id"], name=op.f("fk_activity_ratings_activity_id_activities")
        ),
        sa.ForeignKeyConstraint(
            ["community_id"], ["communities.id"], name=op.f("fk_activity_ratings_community_id_communities")
        ),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_activity_ratings_member_id_members")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_activity_ratings")),
        sa.UniqueConstraint("activity_id", "member_id", name="uq_activity_ratings_once"),
    )
    with op.batch_alter_table("activity_ratings", schema=None) as batch_op:
        batch_op.create_index(
            "ix_activity_ratings_community_created", ["community_id", "created_at"], unique=False
        )

    with op.batch_alter_table("reward_claims", schema=None) as batch_op:
        batch_op.add_column(sa.Column("event_date", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("event_ref", sa.String(length=64), nullable=True))
        batch_op.create_index(
            "uq_reward_claims_event_date",
            ["rule_id", "member_id", "event_date"],
            unique=True,
            sqlite_where=sa.text("status <> 'rejected'"),
            postgresql_where=sa.text("status <> 'rejected'"),
        )
        batch_op.create_index(
            "uq_reward_claims_event_ref",
            ["rule_id", "member_id", "event_ref"],
            unique=True,
            sqlite_where=sa.text("status <> 'rejected' AND event_ref IS NOT NULL"),
            postgresql_where=sa.text("status <> 'rejected' AND event_ref IS NOT NULL"),
        )

    with op.batch_alter_table("rewards_settings", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("wish_points_monthly_cap", sa.Integer(), server_default=sa.text("100"), nullable=False)
        )

    with op.batch_alter_table("wishes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("beneficiary_id", sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column("dispatched_by", sa.Uuid(), nullable=True))
        batch_op.add_column(
            sa.Column(
                "dispatched_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True
            )
        )
        batch_op.add_column(
            sa.Column(
                "accepted_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True
            )
        )
        batch_op.add_column(sa.Column("declines", sa.Integer(), server_default=sa.text("0"), nullable=False))
        batch_op.add_column(
            sa.Column("decline_reason", sa.String(length=500), server_default=sa.text("''"), nullable=False)
        )
        batch_op.add_column(sa.Column("confirmed_by", sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column("points_status", sa.String(length=16), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_wishes_beneficiary_id_members"), "members", ["beneficiary_id"], ["id"]
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_wishes_dispatched_by_members"), "members", ["dispatched_by"], ["id"]
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_wishes_confirmed_by_members"), "members", ["confirmed_by"], ["id"]
        )
        batch_op.drop_constraint(batch_op.f("ck_wishes_known_status"), type_="check")
        batch_op.drop_constraint(batch_op.f("ck_wishes_volunteer_bound"), type_="check")
        batch_op.create_check_constraint(op.f("ck_wishes_known_status"), NEW_STATUS)
        batch_op.create_check_constraint(op.f("ck_wishes_volunteer_bound"), NEW_VOLUNTEER)
        batch_op.create_check_constraint(
            op.f("ck_wishes_known_points_status"),
            "points_status IS NULL OR points_status IN ('posted','pending','capped','none')",
        )
        batch_op.create_check_constraint(
            op.f("ck_wishes_posted_bound"), "points_status <> 'posted' OR transfer_id IS NOT NULL"
        )
    # Wishes already paid before points_status existed.
    op.execute("UPDATE wishes SET points_status = 'posted' WHERE transfer_id IS NOT NULL")
    with op.batch_alter_table("rewards_settings", schema=None) as batch_op:
        batch_op.create_check_constraint(
            op.f("ck_rewards_settings_wish_cap_not_negative"), "wish_points_monthly_cap >= 0"
        )


def downgrade() -> None:
    op.execute("UPDATE wishes SET status = 'open', volunteer_id = NULL WHERE status = 'offered'")
    with op.batch_alter_table("rewards_settings", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_rewards_settings_wish_cap_not_negative"), type_="check")
    with op.batch_alter_table("wishes", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_wishes_posted_bound"), type_="check")
        batch_op.drop_constraint(op.f("ck_wishes_known_points_status"), type_="check")
        batch_op.drop_constraint(op.f("ck_wishes_volunteer_bound"), type_="check")
        batch_op.drop_constraint(op.f("ck_wishes_known_status"), type_="check")
        batch_op.create_check_constraint(op.f("ck_wishes_known_status"), OLD_STATUS)
        batch_op.create_check_constraint(op.f("ck_wishes_volunteer_bound"), OLD_VOLUNTEER)
    with op.batch_alter_table("wishes", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_wishes_confirmed_by_members"), type_="foreignkey")
        batch_op.drop_constraint(batch_op.f("fk_wishes_dispatched_by_members"), type_="foreignkey")
        batch_op.drop_constraint(batch_op.f("fk_wishes_beneficiary_id_members"), type_="foreignkey")
        batch_op.drop_column("points_status")
        batch_op.drop_column("confirmed_by")
        batch_op.drop_column("decline_reason")
        batch_op.drop_column("declines")
        batch_op.drop_column("accepted_at")
        batch_op.drop_column("dispatched_at")
        batch_op.drop_column("dispatched_by")
        batch_op.drop_column("beneficiary_id")

    with op.batch_alter_table("rewards_settings", schema=None) as batch_op:
        batch_op.drop_column("wish_points_monthly_cap")

    with op.batch_alter_table("reward_claims", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_reward_claims_event_ref",
            sqlite_where=sa.text("status <> 'rejected' AND event_ref IS NOT NULL"),
            postgresql_where=sa.text("status <> 'rejected' AND event_ref IS NOT NULL"),
        )
        batch_op.drop_index(
            "uq_reward_claims_event_date",
            sqlite_where=sa.text("status <> 'rejected'"),
            postgresql_where=sa.text("status <> 'rejected'"),
        )
        batch_op.drop_column("event_ref")
        batch_op.drop_column("event_date")

    with op.batch_alter_table("activity_ratings", schema=None) as batch_op:
        batch_op.drop_index("ix_activity_ratings_community_created")

    op.drop_table("activity_ratings")
    with op.batch_alter_table("household_links", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_household_links_requester_id"))
        batch_op.drop_index(batch_op.f("ix_household_links_relative_id"))
        batch_op.drop_index("ix_household_links_community_status")

    op.drop_table("household_links")
