"""held accounts: who else has known an account's password

An account whose password was set with a one-time code a community admin issued (or that an admin created
with a password) is *held* by that admin until the person sets a new password with an SMS code sent to
their own phone. A held account decides nothing for others, and its holder decides nothing for it
(``accounts.households.conflicted``).

Revision ID: 0022
Revises: 0021
"""

from __future__ import annotations

from collections.abc import Sequence

import advanced_alchemy.types
import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("members") as batch:
        batch.add_column(sa.Column("held_by", sa.Uuid(), nullable=True))
        batch.add_column(
            sa.Column("held_since", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True)
        )
        batch.create_foreign_key(op.f("fk_members_held_by_members"), "members", ["held_by"], ["id"])
        batch.create_index(op.f("ix_members_held_by"), ["held_by"])
    # Accounts opened with a code a community admin (not a platform admin) issued and never re-secured.
    latest = (
        "(SELECT a.{col} FROM activations a WHERE a.member_id = members.id AND a.status = 'used'"
        " ORDER BY a.used_at DESC LIMIT 1)"
    )
    op.execute(
        f"""
        UPDATE members
           SET held_by = {latest.format(col="issued_by")}, held_since = {latest.format(col="used_at")}
         WHERE {latest.format(col="issued_by")} IN (SELECT id FROM members i WHERE NOT i.is_platform_admin)
           AND {latest.format(col="issued_by")} <> members.id
        """
    )


def downgrade() -> None:
    with op.batch_alter_table("members") as batch:
        batch.drop_index(op.f("ix_members_held_by"))
        batch.drop_constraint(op.f("fk_members_held_by_members"), type_="foreignkey")
        batch.drop_column("held_since")
        batch.drop_column("held_by")
