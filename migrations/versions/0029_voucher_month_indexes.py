"""voucher claims count this month's vouchers of an offer and of a unit (issue 20): an index on each, so
the count reads the month, not every voucher the offer or the unit ever gave

Revision ID: 0029
Revises: 0025
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0029"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_vouchers_offer_created", "vouchers", ["offer_id", "created_at"], unique=False)
    op.create_index("ix_vouchers_partner_created", "vouchers", ["partner_id", "created_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_vouchers_partner_created", table_name="vouchers")
    op.drop_index("ix_vouchers_offer_created", table_name="vouchers")
