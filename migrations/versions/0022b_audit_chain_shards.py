"""audit chains per community, sharded: a chain's name may carry ``#<shard>`` (up to 40 characters)

An append locks one chain head until its transaction ends; with one chain per community every staff act
of the community waited for the one before it (a shop's redemptions at the counter: 0.34x -> 0.09x of
pgbench). PostgreSQL appends now take the first of 16 heads no other transaction holds
(``service.audit.service._lock_head``); existing chains keep their names and events.

Revision ID: 0022b
Revises: 0022
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022b"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


SHARDS = 16


def upgrade() -> None:
    for table in ("audit_chains", "audit_events"):
        with op.batch_alter_table(table) as batch:
            batch.alter_column(
                "chain", type_=sa.String(40), existing_type=sa.String(36), existing_nullable=False
            )
    if op.get_bind().dialect.name != "postgresql":
        return  # SQLite has one writer and one chain per community
    # Every existing chain gets its other heads now (a new community makes all of them on its first event).
    genesis = "0" * 64
    for k in range(1, SHARDS):
        op.execute(
            sa.text(
                "INSERT INTO audit_chains (chain, seq, last_hash)"
                " SELECT chain || :suffix, 0, :genesis FROM audit_chains WHERE chain NOT LIKE '%#%'"
            ).bindparams(suffix=f"#{k}", genesis=genesis)
        )


def downgrade() -> None:
    # Events of a community's other chains cannot be put back into one chain: they stay, and the column
    # keeps its width (a downgrade narrows nothing that holds longer names).
    pass
