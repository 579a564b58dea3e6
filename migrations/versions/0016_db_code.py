"""database code as source files: the registry of installed files

Every PL/pgSQL function and trigger now lives in ``service/<domain>/sql/*.sql`` (``*.sqlite.sql`` for
SQLite's triggers) and is installed after the versioned migrations by ``service/dbcode.py``, which
remembers each file's SHA-256 here. Migrations 0002, 0006, 0009, 0013, 0014 and 0015 no longer define
code; the per-call store functions of 0014 (``store_redeem_voucher``, ``store_reserve_order``) and
``jifen_crc32`` are gone (the batch functions answer a batch of one).

Revision ID: 0016
Revises: 0015
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "db_code",
        sa.Column("path", sa.String(length=200), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("path", name=op.f("pk_db_code")),
    )


def downgrade() -> None:
    op.drop_table("db_code")
