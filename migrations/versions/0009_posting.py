"""posting engine: one round trip per transfer, hold and release on PostgreSQL

Introduced ``ledger_post``, ``ledger_hold`` and ``ledger_release``, which do what
service/points/ledger.py does on SQLite. Their live definitions are in service/points/sql/ledger.sql,
installed after the migrations by service/dbcode.py (migration 0016). No tables change.

Revision ID: 0009
Revises: 0007
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0009"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """No tables change: the functions this step once defined are database code now."""


def downgrade() -> None:
    """Nothing to undo: service/dbcode.py drops and installs the database code."""
