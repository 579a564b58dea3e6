"""audit chain: audit events hash-chained per community; append-only on SQLite too

Each event gets ``chain`` (its community's id, or ``platform``), ``seq``, ``prev_hash`` and ``hash``
(``service.audit.rules.event_hash``); ``audit_chains`` holds each chain's head, locked by every append.
Events already written are chained here in the order they were written (``created_at``, then id).
The append-only triggers are database code: ``service/audit/sql/audit.sql`` (PostgreSQL) and
``audit.sqlite.sql`` (SQLite, new), installed by service/dbcode.py.

Revision ID: 0017
Revises: 0016
"""

from __future__ import annotations

from collections.abc import Sequence

import advanced_alchemy.types
import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

EVENTS = sa.table(
    "audit_events",
    sa.column("id", sa.Uuid()),
    sa.column("community_id", sa.Uuid()),
    sa.column("actor_id", sa.Uuid()),
    sa.column("action", sa.String()),
    sa.column("subject_member_id", sa.Uuid()),
    sa.column("detail", sa.JSON()),
    sa.column("client_addr", sa.String()),
    sa.column("created_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True)),
    sa.column("chain", sa.String()),
    sa.column("seq", sa.Integer()),
    sa.column("prev_hash", sa.String()),
    sa.column("hash", sa.String()),
)
HEADS = sa.table(
    "audit_chains",
    sa.column("chain", sa.String()),
    sa.column("seq", sa.Integer()),
    sa.column("last_hash", sa.String()),
)


def _chain_existing(bind: sa.Connection) -> None:
    from service.audit import rules

    heads: dict[str, tuple[int, str]] = {}
    rows = bind.execute(sa.select(EVENTS).order_by(EVENTS.c.created_at, EVENTS.c.id)).all()
    for e in rows:
        chain = rules.chain_of(e.community_id)
        seq, prev = heads.get(chain, (0, rules.GENESIS_HASH))
        digest = rules.event_hash(
            prev,
            event_id=e.id,
            chain=chain,
            seq=seq + 1,
            community_id=e.community_id,
            actor_id=e.actor_id,
            action=e.action,
            subject_member_id=e.subject_member_id,
            detail=e.detail,
            client_addr=e.client_addr,
            created_at=e.created_at,
        )
        bind.execute(
            EVENTS.update()
            .where(EVENTS.c.id == e.id)
            .values(chain=chain, seq=seq + 1, prev_hash=prev, hash=digest)
        )
        heads[chain] = (seq + 1, digest)
    if heads:
        bind.execute(HEADS.insert(), [{"chain": c, "seq": s, "last_hash": h} for c, (s, h) in heads.items()])


def upgrade() -> None:
    bind = op.get_bind()
    op.create_table(
        "audit_chains",
        sa.Column("chain", sa.String(length=36), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("last_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("chain", name=op.f("pk_audit_chains")),
    )
    with op.batch_alter_table("audit_events") as batch:
        batch.add_column(sa.Column("chain", sa.String(length=36), nullable=True))
        batch.add_column(sa.Column("seq", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("prev_hash", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("hash", sa.String(length=64), nullable=True))
    # The append-only triggers are not there while versioned steps run (service/dbcode.py drops the
    # database code before them and installs it again after), so the backfill may update the events.
    _chain_existing(bind)
    with op.batch_alter_table("audit_events") as batch:
        for name in ("chain", "seq", "prev_hash", "hash"):
            batch.alter_column(name, nullable=False)
        batch.create_unique_constraint("uq_audit_events_chain_seq", ["chain", "seq"])


def downgrade() -> None:
    with op.batch_alter_table("audit_events") as batch:
        batch.drop_constraint("uq_audit_events_chain_seq", type_="unique")
        for name in ("hash", "prev_hash", "seq", "chain"):
            batch.drop_column(name)
    op.drop_table("audit_chains")
