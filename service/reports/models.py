"""The reports' summary tables (kept by triggers) and the (community, time) indexes their aggregates scan.

The indexes are declared here, against the other domains' tables, so the reports' read paths stay
in one place and the other domains' models are untouched. The summary tables are filled by database
triggers (migration 0013) on every write of attendances and ledger entries, whatever code path writes.
"""

from __future__ import annotations

import uuid
from datetime import date

from sqlalchemy import BigInteger, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from service.accounts.models import Membership
from service.activities.models import Attendance
from service.db import Base
from service.points.models import Entry
from service.rewards.models import Claim
from service.store.models import Order, Voucher

__all__ = ["REPORT_INDEXES", "AccountMonth", "MemberMonth", "MemberYear"]

REPORT_INDEXES = (
    Index("ix_attendances_community_checked_in", Attendance.community_id, Attendance.checked_in_at),
    Index("ix_ledger_entries_community_created", Entry.community_id, Entry.created_at),
    Index("ix_memberships_community_created", Membership.community_id, Membership.created_at),
    Index("ix_orders_community_created", Order.community_id, Order.created_at),
    Index("ix_vouchers_community_redeemed", Voucher.community_id, Voucher.redeemed_at),
    Index("ix_reward_claims_community_created", Claim.community_id, Claim.created_at),
)


class MemberMonth(Base):
    """Attendances (status ``in`` or ``out``) of a member per local month of their community.

    Kept by database triggers (migration 0013) on every insert, update and delete of attendances;
    ``jifen reports rebuild`` recomputes it from the raw rows.
    """

    __tablename__ = "report_member_months"

    community_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    month: Mapped[date] = mapped_column(primary_key=True)
    """The first local day of the month, in the community's time zone."""
    member_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    checkins: Mapped[int] = mapped_column(Integer)
    """Rows with status ``in`` or ``out``."""
    done: Mapped[int] = mapped_column(Integer)
    """Rows with status ``out``."""
    minutes: Mapped[int] = mapped_column(BigInteger)
    """Minutes of the ``out`` rows."""


class MemberYear(Base):
    """The same per local calendar year (the exact distinct volunteers of a year are its rows)."""

    __tablename__ = "report_member_years"

    community_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    member_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    checkins: Mapped[int] = mapped_column(Integer)
    done: Mapped[int] = mapped_column(Integer)
    minutes: Mapped[int] = mapped_column(BigInteger)


class AccountMonth(Base):
    """Net points of the ledger entries of an account per local month of the entry's community.

    Kept by a trigger on inserts of ledger entries (which are append-only).
    """

    __tablename__ = "report_account_months"

    account_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    community_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    month: Mapped[date] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    points: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (Index("ix_report_account_months_community_month", "community_id", "month"),)
