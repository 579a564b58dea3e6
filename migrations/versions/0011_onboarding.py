"""onboarding: activation codes, SMS login codes, self-registration

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-23 12:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import advanced_alchemy.types
import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_DATETIME = advanced_alchemy.types.datetime.DateTimeUTC(timezone=True)


def upgrade() -> None:
    # The yes/no allow_registration becomes the three-way self_registration (yes -> auto, no -> off).
    # On SQLite plain ALTER TABLE (3.35+): a batch "recreate" would drop a table that others reference.
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            "ALTER TABLE communities ADD COLUMN self_registration VARCHAR(16) NOT NULL DEFAULT 'auto' "
            "CONSTRAINT ck_communities_self_registration_known "
            "CHECK (self_registration IN ('off','auto','approval'))"
        )
        op.execute("UPDATE communities SET self_registration = 'off' WHERE NOT allow_registration")
        op.execute("ALTER TABLE communities DROP COLUMN allow_registration")
    else:
        op.add_column(
            "communities",
            sa.Column("self_registration", sa.String(length=16), nullable=False, server_default="auto"),
        )
        op.execute("UPDATE communities SET self_registration = 'off' WHERE NOT allow_registration")
        op.alter_column("communities", "self_registration", server_default=None)
        op.drop_column("communities", "allow_registration")
        op.create_check_constraint(
            op.f("ck_communities_self_registration_known"),
            "communities",
            "self_registration IN ('off','auto','approval')",
        )

    op.create_table(
        "activations",
        sa.Column("community_id", sa.Uuid(), nullable=False),
        sa.Column("member_id", sa.Uuid(), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("expires_at", UTC_DATETIME, nullable=False),
        sa.Column("issued_by", sa.Uuid(), nullable=True),
        sa.Column("used_at", UTC_DATETIME, nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.CheckConstraint("status IN ('open','used','replaced')", name=op.f("ck_activations_known_status")),
        sa.ForeignKeyConstraint(
            ["community_id"], ["communities.id"], name=op.f("fk_activations_community_id_communities")
        ),
        sa.ForeignKeyConstraint(["issued_by"], ["members.id"], name=op.f("fk_activations_issued_by_members")),
        sa.ForeignKeyConstraint(["member_id"], ["members.id"], name=op.f("fk_activations_member_id_members")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_activations")),
        sa.UniqueConstraint("code_hash", name=op.f("uq_activations_code_hash")),
    )
    with op.batch_alter_table("activations", schema=None) as batch_op:
        batch_op.create_index("ix_activations_community_status", ["community_id", "status"], unique=False)
        batch_op.create_index(batch_op.f("ix_activations_member_id"), ["member_id"], unique=False)

    op.create_table(
        "sms_codes",
        sa.Column("phone", sa.String(length=11), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("expires_at", UTC_DATETIME, nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.CheckConstraint("attempts >= 0", name=op.f("ck_sms_codes_attempts_not_negative")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sms_codes")),
        sa.UniqueConstraint("phone", name=op.f("uq_sms_codes_phone")),
    )

    op.create_table(
        "registrations",
        sa.Column("community_id", sa.Uuid(), nullable=False),
        sa.Column("member_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("decided_by", sa.Uuid(), nullable=True),
        sa.Column("decided_at", UTC_DATETIME, nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.CheckConstraint(
            "status IN ('pending','approved','rejected')", name=op.f("ck_registrations_known_status")
        ),
        sa.ForeignKeyConstraint(
            ["community_id"], ["communities.id"], name=op.f("fk_registrations_community_id_communities")
        ),
        sa.ForeignKeyConstraint(
            ["decided_by"], ["members.id"], name=op.f("fk_registrations_decided_by_members")
        ),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_registrations_member_id_members")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_registrations")),
        sa.UniqueConstraint("community_id", "member_id", name="registration_once"),
    )
    with op.batch_alter_table("registrations", schema=None) as batch_op:
        batch_op.create_index("ix_registrations_community_status", ["community_id", "status"], unique=False)
        batch_op.create_index(batch_op.f("ix_registrations_member_id"), ["member_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("registrations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_registrations_member_id"))
        batch_op.drop_index("ix_registrations_community_status")
    op.drop_table("registrations")
    op.drop_table("sms_codes")
    with op.batch_alter_table("activations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_activations_member_id"))
        batch_op.drop_index("ix_activations_community_status")
    op.drop_table("activations")
    op.execute("ALTER TABLE communities ADD COLUMN allow_registration BOOLEAN NOT NULL DEFAULT TRUE")
    op.execute("UPDATE communities SET allow_registration = (self_registration <> 'off')")
    if op.get_bind().dialect.name != "sqlite":
        op.drop_constraint(op.f("ck_communities_self_registration_known"), "communities", type_="check")
        op.alter_column("communities", "allow_registration", server_default=None)
    op.execute("ALTER TABLE communities DROP COLUMN self_registration")
