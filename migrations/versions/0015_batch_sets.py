"""scan, redemption and order batches in a few set-based statements each (PostgreSQL only)

Rewrote the batches as set-based statements. The live definitions are in
service/activities/sql/scan_batch.sql and service/store/sql/batches.sql, installed after the migrations
by service/dbcode.py (migration 0016). No tables change.

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """No tables change: the functions this step once defined are database code now."""


def downgrade() -> None:
    """Nothing to undo: service/dbcode.py drops and installs the database code."""
