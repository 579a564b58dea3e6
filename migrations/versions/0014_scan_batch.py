"""check-in and check-out in one round trip, many per transaction (group commit), PostgreSQL only

Introduced ``jifen_scan_batch`` and the store's per-call functions. The live definitions are in
service/activities/sql/scan_batch.sql and service/store/sql/batches.sql, installed after the migrations
by service/dbcode.py (migration 0016). No tables change.

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """No tables change: the functions this step once defined are database code now."""


def downgrade() -> None:
    """Nothing to undo: service/dbcode.py drops and installs the database code."""
