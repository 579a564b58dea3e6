"""residents' own data (PIPL): privacy notice consents, correction and deletion requests

Revision ID: 0026
Revises: 0023
"""

from __future__ import annotations

from collections.abc import Sequence

import advanced_alchemy.types
import sqlalchemy as sa
from alembic import op

revision: str = "0026"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TS = advanced_alchemy.types.datetime.DateTimeUTC(timezone=True)


def upgrade() -> None:
    op.create_table(
        "privacy_consents",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("member_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.String(length=16), nullable=False),
        sa.Column("accepted_at", _TS, nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_privacy_consents_member_id_members")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_privacy_consents")),
        sa.UniqueConstraint("member_id", "version", name="consent_once"),
    )
    op.create_index(op.f("ix_privacy_consents_member_id"), "privacy_consents", ["member_id"])
    op.create_table(
        "member_requests",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("community_id", sa.Uuid(), nullable=False),
        sa.Column("member_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("new_name", sa.String(length=64), nullable=True),
        sa.Column("new_phone", sa.String(length=11), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("due_at", _TS, nullable=False),
        sa.Column("decided_by", sa.Uuid(), nullable=True),
        sa.Column("decided_at", _TS, nullable=True),
        sa.Column("decision_note", sa.String(length=500), nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.CheckConstraint("kind IN ('correction','deletion')", name=op.f("ck_member_requests_known_kind")),
        sa.CheckConstraint(
            "status IN ('pending','granted','refused')", name=op.f("ck_member_requests_known_status")
        ),
        sa.CheckConstraint(
            "(status = 'pending') = (decided_at IS NULL)", name=op.f("ck_member_requests_decided_bound")
        ),
        sa.CheckConstraint(
            "decided_by IS NULL OR decided_by <> member_id", name=op.f("ck_member_requests_second_person")
        ),
        sa.ForeignKeyConstraint(
            ["community_id"], ["communities.id"], name=op.f("fk_member_requests_community_id_communities")
        ),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_member_requests_member_id_members")
        ),
        sa.ForeignKeyConstraint(
            ["decided_by"], ["members.id"], name=op.f("fk_member_requests_decided_by_members")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_member_requests")),
    )
    op.create_index(op.f("ix_member_requests_member_id"), "member_requests", ["member_id"])
    op.create_index("ix_member_requests_community_status", "member_requests", ["community_id", "status"])


def downgrade() -> None:
    op.drop_table("member_requests")
    op.drop_table("privacy_consents")
