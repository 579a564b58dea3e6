"""The reports own no tables; they add the (community, time) indexes their aggregates scan.

The indexes are declared here, against the other domains' tables, so the reports' read paths stay
in one place and the other domains' models are untouched.
"""

from __future__ import annotations

from sqlalchemy import Index

from service.accounts.models import Membership
from service.activities.models import Attendance
from service.points.models import Entry
from service.rewards.models import Claim
from service.store.models import Order, Voucher

__all__ = ["REPORT_INDEXES"]

REPORT_INDEXES = (
    Index("ix_attendances_community_checked_in", Attendance.community_id, Attendance.checked_in_at),
    Index("ix_ledger_entries_community_created", Entry.community_id, Entry.created_at),
    Index("ix_memberships_community_created", Membership.community_id, Membership.created_at),
    Index("ix_orders_community_created", Order.community_id, Order.created_at),
    Index("ix_vouchers_community_redeemed", Voucher.community_id, Voucher.redeemed_at),
    Index("ix_reward_claims_community_created", Claim.community_id, Claim.created_at),
)
