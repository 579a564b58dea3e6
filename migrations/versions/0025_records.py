"""records that count (issue 21): ID documents (encrypted), volunteer numbers, issuers' details,
certificates and the service records each states

Revision ID: 0025
Revises: 0026
"""

from __future__ import annotations

from collections.abc import Sequence

import advanced_alchemy.types
import sqlalchemy as sa
from alembic import op

revision: str = "0025"
down_revision: str | None = "0026"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TS = advanced_alchemy.types.datetime.DateTimeUTC(timezone=True)


def upgrade() -> None:
    op.create_table(
        "records_identities",
        sa.Column("member_id", sa.Uuid(), nullable=False),
        sa.Column("id_type", sa.String(length=32), nullable=False),
        sa.Column("number_cipher", sa.LargeBinary(), nullable=False),
        sa.Column("number_hash", sa.String(length=64), nullable=False),
        sa.Column("number_masked", sa.String(length=32), nullable=False),
        sa.Column("volunteer_number", sa.String(length=16), nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_records_identities_member_id_members")
        ),
        sa.PrimaryKeyConstraint("member_id", name=op.f("pk_records_identities")),
        sa.UniqueConstraint("number_hash", name=op.f("uq_records_identities_number_hash")),
        sa.UniqueConstraint("volunteer_number", name=op.f("uq_records_identities_volunteer_number")),
    )
    op.create_table(
        "records_counters",
        sa.Column("key", sa.String(length=80), nullable=False),
        sa.Column("last", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_records_counters")),
    )
    op.create_table(
        "records_issuers",
        sa.Column("community_id", sa.Uuid(), nullable=False),
        sa.Column("person_in_charge", sa.String(length=64), nullable=False),
        sa.Column("handler", sa.String(length=64), nullable=False),
        sa.Column("contact", sa.String(length=64), nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.Column("updated_by", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(
            ["community_id"], ["communities.id"], name=op.f("fk_records_issuers_community_id_communities")
        ),
        sa.ForeignKeyConstraint(
            ["updated_by"], ["members.id"], name=op.f("fk_records_issuers_updated_by_members")
        ),
        sa.PrimaryKeyConstraint("community_id", name=op.f("pk_records_issuers")),
    )
    op.create_table(
        "records_certificates",
        sa.Column("community_id", sa.Uuid(), nullable=False),
        sa.Column("team_id", sa.Uuid(), nullable=True),
        sa.Column("issuer_key", sa.String(length=40), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=64), nullable=False),
        sa.Column("member_id", sa.Uuid(), nullable=False),
        sa.Column("issued_by", sa.Uuid(), nullable=False),
        sa.Column("issued_on", sa.String(length=10), nullable=False),
        sa.Column("issuer_name", sa.String(length=240), nullable=False),
        sa.Column("person_in_charge", sa.String(length=64), nullable=False),
        sa.Column("handler", sa.String(length=64), nullable=False),
        sa.Column("contact", sa.String(length=64), nullable=False),
        sa.Column("member_name", sa.String(length=64), nullable=False),
        sa.Column("id_type", sa.String(length=32), nullable=False),
        sa.Column("id_masked", sa.String(length=32), nullable=False),
        sa.Column("volunteer_number", sa.String(length=16), nullable=False),
        sa.Column("total_minutes", sa.Integer(), nullable=False),
        sa.Column("star_level", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("void_reason", sa.String(length=200), nullable=True),
        sa.Column("voided_by", sa.Uuid(), nullable=True),
        sa.Column("voided_at", _TS, nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.CheckConstraint("status IN ('valid','voided')", name=op.f("ck_records_certificates_known_status")),
        sa.CheckConstraint(
            "status = 'valid' OR void_reason IS NOT NULL",
            name=op.f("ck_records_certificates_void_has_reason"),
        ),
        sa.CheckConstraint(
            "total_minutes >= 0 AND star_level BETWEEN 0 AND 5",
            name=op.f("ck_records_certificates_sane_totals"),
        ),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_records_certificates_community_id_communities"),
        ),
        sa.ForeignKeyConstraint(
            ["team_id"], ["teams.id"], name=op.f("fk_records_certificates_team_id_teams")
        ),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_records_certificates_member_id_members")
        ),
        sa.ForeignKeyConstraint(
            ["issued_by"], ["members.id"], name=op.f("fk_records_certificates_issued_by_members")
        ),
        sa.ForeignKeyConstraint(
            ["voided_by"], ["members.id"], name=op.f("fk_records_certificates_voided_by_members")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_records_certificates")),
        sa.UniqueConstraint("number", name=op.f("uq_records_certificates_number")),
        sa.UniqueConstraint("issuer_key", "year", "seq", name="uq_records_certificates_issuer_year_seq"),
    )
    with op.batch_alter_table("records_certificates") as batch:
        batch.create_index(batch.f("ix_records_certificates_community_id"), ["community_id"], unique=False)
        batch.create_index(batch.f("ix_records_certificates_member_id"), ["member_id"], unique=False)
    op.create_table(
        "records_certificate_lines",
        sa.Column("certificate_id", sa.Uuid(), nullable=False),
        sa.Column("attendance_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("activity", sa.String(length=120), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("minutes", sa.Integer(), nullable=False),
        sa.Column("manual", sa.Boolean(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["certificate_id"],
            ["records_certificates.id"],
            name=op.f("fk_records_certificate_lines_certificate_id_records_certificates"),
        ),
        sa.ForeignKeyConstraint(
            ["attendance_id"],
            ["attendances.id"],
            name=op.f("fk_records_certificate_lines_attendance_id_attendances"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_records_certificate_lines")),
    )
    with op.batch_alter_table("records_certificate_lines") as batch:
        batch.create_index(
            batch.f("ix_records_certificate_lines_certificate_id"), ["certificate_id"], unique=False
        )


def downgrade() -> None:
    op.drop_table("records_certificate_lines")
    op.drop_table("records_certificates")
    op.drop_table("records_issuers")
    op.drop_table("records_counters")
    op.drop_table("records_identities")
