"""signups: verified phones, household history, activation roles snapshots

- ``members.phone_verified_at``: when the person proved the phone is theirs (an SMS code, an invitation
  card from the office, or an account staff created). Existing members count as verified from their
  creation, except accounts that look self-registered with a password (a password, only ``member``
  roles, no used invitation, not a platform admin): those log in once with an SMS code.
- ``household_periods``: every span of time two members were a confirmed household, kept after the link
  ends, so a conflict of interest follows the link "at any time since" a claim, wish or award began.
  Backfilled from today's confirmed links.
- ``activations.roles_snapshot``: a hash of the person's roles when the code was issued; a code whose
  person's roles changed since is void. NULL for codes issued before (the issuing rule is re-checked).

Revision ID: 0019
Revises: 0018
"""

from __future__ import annotations

from collections.abc import Sequence

import advanced_alchemy.types
import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_DATETIME = advanced_alchemy.types.datetime.DateTimeUTC(timezone=True)


def upgrade() -> None:
    # Plain ADD COLUMN on both databases (a SQLite batch "recreate" would drop referenced tables).
    op.add_column("members", sa.Column("phone_verified_at", UTC_DATETIME, nullable=True))
    op.execute(
        "UPDATE members SET phone_verified_at = created_at WHERE NOT ("
        " password_hash IS NOT NULL AND NOT is_platform_admin"
        " AND NOT EXISTS (SELECT 1 FROM memberships m WHERE m.member_id = members.id AND m.role <> 'member')"
        " AND NOT EXISTS (SELECT 1 FROM activations a WHERE a.member_id = members.id AND a.status = 'used'))"
    )
    op.add_column("activations", sa.Column("roles_snapshot", sa.String(length=64), nullable=True))
    op.create_table(
        "household_periods",
        sa.Column("community_id", sa.Uuid(), nullable=False),
        sa.Column("member_a", sa.Uuid(), nullable=False),
        sa.Column("member_b", sa.Uuid(), nullable=False),
        sa.Column("linked_at", UTC_DATETIME, nullable=False),
        sa.Column("unlinked_at", UTC_DATETIME, nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.CheckConstraint("member_a <> member_b", name=op.f("ck_household_periods_two_people")),
        sa.CheckConstraint(
            "unlinked_at IS NULL OR unlinked_at >= linked_at", name=op.f("ck_household_periods_ordered")
        ),
        sa.ForeignKeyConstraint(
            ["community_id"], ["communities.id"], name=op.f("fk_household_periods_community_id_communities")
        ),
        sa.ForeignKeyConstraint(["member_a"], ["members.id"], name=op.f("fk_household_periods_member_a_members")),
        sa.ForeignKeyConstraint(["member_b"], ["members.id"], name=op.f("fk_household_periods_member_b_members")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_household_periods")),
    )
    op.create_index("ix_household_periods_a", "household_periods", ["community_id", "member_a"])
    op.create_index("ix_household_periods_b", "household_periods", ["community_id", "member_b"])
    op.execute(
        "INSERT INTO household_periods (id, created_at, community_id, member_a, member_b, linked_at)"
        " SELECT id, decided_at, community_id, requester_id, relative_id, decided_at"
        " FROM household_links WHERE status = 'confirmed'"
    )


def downgrade() -> None:
    op.drop_index("ix_household_periods_b", table_name="household_periods")
    op.drop_index("ix_household_periods_a", table_name="household_periods")
    op.drop_table("household_periods")
    op.execute("ALTER TABLE activations DROP COLUMN roles_snapshot")
    op.execute("ALTER TABLE members DROP COLUMN phone_verified_at")
