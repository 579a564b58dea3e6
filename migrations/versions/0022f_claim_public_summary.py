"""the public board shows a claim's summary as the reviewer approved it, names masked

Revision ID: 0022f
Revises: 0022e
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022f"
down_revision: str | None = "0022e"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("reward_claims") as batch:
        batch.add_column(sa.Column("public_summary", sa.String(length=120), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("reward_claims") as batch:
        batch.drop_column("public_summary")
