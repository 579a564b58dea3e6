"""offline check-in: signed member codes (card versions, personal codes, revocations, signing keys)
and the scans offline scanners upload

Revision ID: 0028
Revises: 0025
"""

from __future__ import annotations

from collections.abc import Sequence

import advanced_alchemy.types
import sqlalchemy as sa
from alembic import op

revision: str = "0028"
down_revision: str | None = "0027"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TS = advanced_alchemy.types.datetime.DateTimeUTC(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("member_cards") as batch:
        batch.add_column(sa.Column("version", sa.Integer(), nullable=False, server_default="1"))
        batch.create_check_constraint(op.f("ck_member_cards_version_pos"), "version >= 1")
    op.create_table(
        "personal_codes",
        sa.Column("member_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.CheckConstraint("version >= 1", name=op.f("ck_personal_codes_version_pos")),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_personal_codes_member_id_members")
        ),
        sa.PrimaryKeyConstraint("member_id", name=op.f("pk_personal_codes")),
    )
    op.create_table(
        "code_revocations",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("community_id", sa.Uuid(), nullable=True),
        sa.Column("member_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("revoked_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.CheckConstraint("kind IN (1, 2)", name=op.f("ck_code_revocations_known_kind")),
        sa.CheckConstraint(
            "(kind = 1) = (community_id IS NOT NULL)", name=op.f("ck_code_revocations_card_has_community")
        ),
        sa.ForeignKeyConstraint(
            ["community_id"], ["communities.id"], name=op.f("fk_code_revocations_community_id_communities")
        ),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_code_revocations_member_id_members")
        ),
        sa.ForeignKeyConstraint(
            ["revoked_by"], ["members.id"], name=op.f("fk_code_revocations_revoked_by_members")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_code_revocations")),
    )
    op.create_index("ix_code_revocations_community", "code_revocations", ["community_id", "member_id"])
    op.create_table(
        "signing_keys",
        sa.Column("key_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("public_key", sa.String(length=64), nullable=False),
        sa.Column("private_key", sa.String(length=64), nullable=True),
        sa.Column("slot", sa.String(length=16), nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("key_id", name=op.f("pk_signing_keys")),
        sa.UniqueConstraint("slot", name=op.f("uq_signing_keys_slot")),
    )
    op.create_table(
        "offline_scans",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("community_id", sa.Uuid(), nullable=False),
        sa.Column("activity_id", sa.Uuid(), nullable=False),
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("uploaded_by", sa.Uuid(), nullable=False),
        sa.Column("code", sa.String(length=200), nullable=False),
        sa.Column("scanned_at", _TS, nullable=False),
        sa.Column("member_id", sa.Uuid(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("refusal", sa.String(length=40), nullable=True),
        sa.Column("attendance_id", sa.Uuid(), nullable=True),
        sa.Column("resolved_by", sa.Uuid(), nullable=True),
        sa.Column("resolved_at", _TS, nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.CheckConstraint(
            "status IN ('applied','refused','conflict','accepted','dismissed')",
            name=op.f("ck_offline_scans_known_status"),
        ),
        sa.CheckConstraint(
            "(status = 'applied') = (refusal IS NULL)", name=op.f("ck_offline_scans_refusal_bound")
        ),
        sa.CheckConstraint(
            "resolved_by IS NULL OR member_id IS NULL OR resolved_by <> member_id",
            name=op.f("ck_offline_scans_not_own_scan"),
        ),
        sa.ForeignKeyConstraint(
            ["community_id"], ["communities.id"], name=op.f("fk_offline_scans_community_id_communities")
        ),
        sa.ForeignKeyConstraint(
            ["activity_id"], ["activities.id"], name=op.f("fk_offline_scans_activity_id_activities")
        ),
        sa.ForeignKeyConstraint(
            ["uploaded_by"], ["members.id"], name=op.f("fk_offline_scans_uploaded_by_members")
        ),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_offline_scans_member_id_members")
        ),
        sa.ForeignKeyConstraint(
            ["attendance_id"], ["attendances.id"], name=op.f("fk_offline_scans_attendance_id_attendances")
        ),
        sa.ForeignKeyConstraint(
            ["resolved_by"], ["members.id"], name=op.f("fk_offline_scans_resolved_by_members")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_offline_scans")),
        sa.UniqueConstraint("nonce", name=op.f("uq_offline_scans_nonce")),
    )
    op.create_index("ix_offline_scans_activity_status", "offline_scans", ["activity_id", "status"])


def downgrade() -> None:
    op.drop_index("ix_offline_scans_activity_status", table_name="offline_scans")
    op.drop_table("offline_scans")
    op.drop_table("signing_keys")
    op.drop_index("ix_code_revocations_community", table_name="code_revocations")
    op.drop_table("code_revocations")
    op.drop_table("personal_codes")
    with op.batch_alter_table("member_cards") as batch:
        batch.drop_constraint(op.f("ck_member_cards_version_pos"), type_="check")
        batch.drop_column("version")
