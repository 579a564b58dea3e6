"""wishes carry an address; privacy-number call bindings; in-app notices

Revision ID: 0027
Revises: 0025
"""

from __future__ import annotations

from collections.abc import Sequence

import advanced_alchemy.types
import sqlalchemy as sa
from alembic import op

revision: str = "0027"
down_revision: str | None = "0029"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TS = advanced_alchemy.types.datetime.DateTimeUTC(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("wishes") as batch:
        batch.add_column(sa.Column("address", sa.String(length=200), nullable=True))
        batch.create_check_constraint(
            batch.f("ck_wishes_address_length"), "address IS NULL OR length(address) BETWEEN 1 AND 200"
        )
    op.create_table(
        "wish_call_bindings",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("wish_id", sa.Uuid(), nullable=False),
        sa.Column("volunteer_id", sa.Uuid(), nullable=False),
        sa.Column("requester_id", sa.Uuid(), nullable=False),
        sa.Column("relay_number", sa.String(length=21), nullable=False),
        sa.Column("backend", sa.String(length=16), nullable=False),
        sa.Column("expires_at", _TS, nullable=False),
        sa.Column("ended_at", _TS, nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.CheckConstraint("volunteer_id <> requester_id", name=op.f("ck_wish_call_bindings_two_people")),
        sa.ForeignKeyConstraint(
            ["wish_id"], ["wishes.id"], name=op.f("fk_wish_call_bindings_wish_id_wishes")
        ),
        sa.ForeignKeyConstraint(
            ["volunteer_id"], ["members.id"], name=op.f("fk_wish_call_bindings_volunteer_id_members")
        ),
        sa.ForeignKeyConstraint(
            ["requester_id"], ["members.id"], name=op.f("fk_wish_call_bindings_requester_id_members")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wish_call_bindings")),
    )
    op.create_index(op.f("ix_wish_call_bindings_wish_id"), "wish_call_bindings", ["wish_id"])
    op.create_table(
        "notices",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("member_id", sa.Uuid(), nullable=False),
        sa.Column("community_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("link", sa.String(length=200), nullable=False),
        sa.Column("read_at", _TS, nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.CheckConstraint(
            "kind IN ('wish_offered','wish_dispatched','wish_accepted')", name=op.f("ck_notices_known_kind")
        ),
        sa.CheckConstraint("link LIKE '/%'", name=op.f("ck_notices_link_local")),
        sa.ForeignKeyConstraint(["member_id"], ["members.id"], name=op.f("fk_notices_member_id_members")),
        sa.ForeignKeyConstraint(
            ["community_id"], ["communities.id"], name=op.f("fk_notices_community_id_communities")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notices")),
    )
    op.create_index("ix_notices_member_created", "notices", ["member_id", "created_at"])


def downgrade() -> None:
    op.drop_table("notices")
    op.drop_table("wish_call_bindings")
    with op.batch_alter_table("wishes") as batch:
        batch.drop_constraint(batch.f("ck_wishes_address_length"), type_="check")
        batch.drop_column("address")
