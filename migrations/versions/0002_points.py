"""points ledger: accounts, transfers, entries, lots, holds, policies, manual awards

Written by hand (only this domain's tables). The trigger that keeps ledger entries append-only lives in
service/points/sql/ledger.sql (installed by service/dbcode.py).

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from collections.abc import Sequence

import advanced_alchemy.types
import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

def upgrade() -> None:
    op.create_table(
        "ledger_policies",
        sa.Column("community_id", sa.Uuid(), nullable=False),
        sa.Column("expiry_mode", sa.String(length=16), nullable=False),
        sa.Column("expiry_value", sa.Integer(), nullable=False),
        sa.Column("award_approval_threshold", sa.Integer(), nullable=False),
        sa.Column("updated_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
        sa.Column("updated_by", sa.Uuid(), nullable=True),
        sa.CheckConstraint(
            "expiry_mode IN ('never','days','years')", name=op.f("ck_ledger_policies_known_mode")
        ),
        sa.CheckConstraint(
            "expiry_value >= 0 AND award_approval_threshold >= 0",
            name=op.f("ck_ledger_policies_not_negative"),
        ),
        sa.ForeignKeyConstraint(
            ["community_id"], ["communities.id"], name=op.f("fk_ledger_policies_community_id_communities")
        ),
        sa.PrimaryKeyConstraint("community_id", name=op.f("pk_ledger_policies")),
    )
    op.create_table(
        "ledger_transfers",
        sa.Column("community_id", sa.Uuid(), nullable=False),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("memo", sa.String(length=500), nullable=False),
        sa.Column("ref_type", sa.String(length=32), nullable=True),
        sa.Column("ref_id", sa.String(length=64), nullable=True),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column("idempotency_key", sa.String(length=128), nullable=True),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("reverses_id", sa.Uuid(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.CheckConstraint("points > 0", name=op.f("ck_ledger_transfers_points_positive")),
        sa.ForeignKeyConstraint(
            ["community_id"], ["communities.id"], name=op.f("fk_ledger_transfers_community_id_communities")
        ),
        sa.ForeignKeyConstraint(
            ["reverses_id"],
            ["ledger_transfers.id"],
            name=op.f("fk_ledger_transfers_reverses_id_ledger_transfers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_transfers")),
        sa.UniqueConstraint("community_id", "idempotency_key", name="uq_ledger_transfers_key"),
        sa.UniqueConstraint("reverses_id", name=op.f("uq_ledger_transfers_reverses_id")),
    )
    op.create_index(
        "ix_ledger_transfers_ref", "ledger_transfers", ["community_id", "ref_type", "ref_id"], unique=False
    )
    op.create_index(
        "ix_ledger_transfers_community_created",
        "ledger_transfers",
        ["community_id", "created_at"],
        unique=False,
    )
    op.create_table(
        "ledger_accounts",
        sa.Column("community_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("owner_key", sa.String(length=64), nullable=False),
        sa.Column("member_id", sa.Uuid(), nullable=True),
        sa.Column("partner_id", sa.Uuid(), nullable=True),
        sa.Column("balance", sa.BigInteger(), nullable=False),
        sa.Column("held", sa.BigInteger(), nullable=False),
        sa.Column("earned", sa.BigInteger(), nullable=False),
        sa.Column("spent", sa.BigInteger(), nullable=False),
        sa.Column("expired", sa.BigInteger(), nullable=False),
        sa.Column("last_hash", sa.String(length=64), nullable=False),
        sa.Column("entry_count", sa.BigInteger(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.CheckConstraint(
            "(kind = 'member') = (member_id IS NOT NULL)", name=op.f("ck_ledger_accounts_member_bound")
        ),
        sa.CheckConstraint(
            "(kind = 'partner') = (partner_id IS NOT NULL)", name=op.f("ck_ledger_accounts_partner_bound")
        ),
        sa.CheckConstraint(
            "kind <> 'member' OR (held >= 0 AND balance - held >= 0)",
            name=op.f("ck_ledger_accounts_member_not_negative"),
        ),
        sa.CheckConstraint(
            "kind IN ('member','issuance','store','partner','expired')",
            name=op.f("ck_ledger_accounts_known_kind"),
        ),
        sa.ForeignKeyConstraint(
            ["community_id"], ["communities.id"], name=op.f("fk_ledger_accounts_community_id_communities")
        ),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_ledger_accounts_member_id_members")
        ),
        sa.ForeignKeyConstraint(
            ["partner_id"], ["partners.id"], name=op.f("fk_ledger_accounts_partner_id_partners")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_accounts")),
        sa.UniqueConstraint("community_id", "owner_key", name="uq_ledger_accounts_owner"),
    )
    op.create_index(op.f("ix_ledger_accounts_member_id"), "ledger_accounts", ["member_id"], unique=False)
    op.create_table(
        "ledger_awards",
        sa.Column("community_id", sa.Uuid(), nullable=False),
        sa.Column("member_id", sa.Uuid(), nullable=False),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("memo", sa.String(length=500), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("requested_by", sa.Uuid(), nullable=False),
        sa.Column("decided_by", sa.Uuid(), nullable=True),
        sa.Column("decided_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
        sa.Column("transfer_id", sa.Uuid(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('pending_approval','posted','rejected')", name=op.f("ck_ledger_awards_known_status")
        ),
        sa.CheckConstraint(
            "decided_by IS NULL OR decided_by <> requested_by", name=op.f("ck_ledger_awards_four_eyes")
        ),
        sa.CheckConstraint("points > 0", name=op.f("ck_ledger_awards_points_positive")),
        sa.ForeignKeyConstraint(
            ["community_id"], ["communities.id"], name=op.f("fk_ledger_awards_community_id_communities")
        ),
        sa.ForeignKeyConstraint(
            ["decided_by"], ["members.id"], name=op.f("fk_ledger_awards_decided_by_members")
        ),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_ledger_awards_member_id_members")
        ),
        sa.ForeignKeyConstraint(
            ["requested_by"], ["members.id"], name=op.f("fk_ledger_awards_requested_by_members")
        ),
        sa.ForeignKeyConstraint(
            ["transfer_id"],
            ["ledger_transfers.id"],
            name=op.f("fk_ledger_awards_transfer_id_ledger_transfers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_awards")),
    )
    op.create_index(
        "ix_ledger_awards_community_status", "ledger_awards", ["community_id", "status"], unique=False
    )
    op.create_table(
        "ledger_entries",
        sa.Column("community_id", sa.Uuid(), nullable=False),
        sa.Column("transfer_id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("expires_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.CheckConstraint("points <> 0", name=op.f("ck_ledger_entries_points_nonzero")),
        sa.ForeignKeyConstraint(
            ["account_id"], ["ledger_accounts.id"], name=op.f("fk_ledger_entries_account_id_ledger_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["community_id"], ["communities.id"], name=op.f("fk_ledger_entries_community_id_communities")
        ),
        sa.ForeignKeyConstraint(
            ["transfer_id"],
            ["ledger_transfers.id"],
            name=op.f("fk_ledger_entries_transfer_id_ledger_transfers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_entries")),
        sa.UniqueConstraint("account_id", "seq", name="uq_ledger_entries_seq"),
    )
    op.create_index(op.f("ix_ledger_entries_transfer_id"), "ledger_entries", ["transfer_id"], unique=False)
    op.create_table(
        "ledger_holds",
        sa.Column("community_id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("payee_account_id", sa.Uuid(), nullable=False),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("expires_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("memo", sa.String(length=500), nullable=False),
        sa.Column("ref_type", sa.String(length=32), nullable=True),
        sa.Column("ref_id", sa.String(length=64), nullable=True),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column("idempotency_key", sa.String(length=128), nullable=True),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("transfer_id", sa.Uuid(), nullable=True),
        sa.Column("resolved_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.CheckConstraint(
            "(status = 'posted') = (transfer_id IS NOT NULL)",
            name=op.f("ck_ledger_holds_posted_has_transfer"),
        ),
        sa.CheckConstraint(
            "status IN ('pending','posted','voided','expired')", name=op.f("ck_ledger_holds_known_status")
        ),
        sa.CheckConstraint("points > 0", name=op.f("ck_ledger_holds_points_positive")),
        sa.ForeignKeyConstraint(
            ["account_id"], ["ledger_accounts.id"], name=op.f("fk_ledger_holds_account_id_ledger_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["community_id"], ["communities.id"], name=op.f("fk_ledger_holds_community_id_communities")
        ),
        sa.ForeignKeyConstraint(
            ["payee_account_id"],
            ["ledger_accounts.id"],
            name=op.f("fk_ledger_holds_payee_account_id_ledger_accounts"),
        ),
        sa.ForeignKeyConstraint(
            ["transfer_id"],
            ["ledger_transfers.id"],
            name=op.f("fk_ledger_holds_transfer_id_ledger_transfers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_holds")),
        sa.UniqueConstraint("community_id", "idempotency_key", name="uq_ledger_holds_key"),
    )
    op.create_index(op.f("ix_ledger_holds_account_id"), "ledger_holds", ["account_id"], unique=False)
    op.create_index(
        "ix_ledger_holds_status_expires_at", "ledger_holds", ["status", "expires_at"], unique=False
    )
    op.create_table(
        "ledger_lots",
        sa.Column("community_id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("entry_id", sa.Uuid(), nullable=False),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.Column("remaining", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint(
            "remaining >= 0 AND remaining <= points", name=op.f("ck_ledger_lots_remaining_in_range")
        ),
        sa.ForeignKeyConstraint(
            ["account_id"], ["ledger_accounts.id"], name=op.f("fk_ledger_lots_account_id_ledger_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["community_id"], ["communities.id"], name=op.f("fk_ledger_lots_community_id_communities")
        ),
        sa.ForeignKeyConstraint(
            ["entry_id"], ["ledger_entries.id"], name=op.f("fk_ledger_lots_entry_id_ledger_entries")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_lots")),
    )
    op.create_index(op.f("ix_ledger_lots_account_id"), "ledger_lots", ["account_id"], unique=False)
    op.create_index("ix_ledger_lots_expires_at", "ledger_lots", ["expires_at"], unique=False)



def downgrade() -> None:
    op.drop_index("ix_ledger_lots_expires_at", table_name="ledger_lots")
    op.drop_index(op.f("ix_ledger_lots_account_id"), table_name="ledger_lots")
    op.drop_table("ledger_lots")
    op.drop_index("ix_ledger_holds_status_expires_at", table_name="ledger_holds")
    op.drop_index(op.f("ix_ledger_holds_account_id"), table_name="ledger_holds")
    op.drop_table("ledger_holds")
    op.drop_index(op.f("ix_ledger_entries_transfer_id"), table_name="ledger_entries")
    op.drop_table("ledger_entries")
    op.drop_index("ix_ledger_awards_community_status", table_name="ledger_awards")
    op.drop_table("ledger_awards")
    op.drop_index(op.f("ix_ledger_accounts_member_id"), table_name="ledger_accounts")
    op.drop_table("ledger_accounts")
    op.drop_index("ix_ledger_transfers_community_created", table_name="ledger_transfers")
    op.drop_index("ix_ledger_transfers_ref", table_name="ledger_transfers")
    op.drop_table("ledger_transfers")
    op.drop_table("ledger_policies")
