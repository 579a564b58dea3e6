"""Response bodies of the reports API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

import msgspec

__all__ = [
    "AllianceOut",
    "AllianceRowOut",
    "BudgetRow",
    "ChildValue",
    "ClaimRuleOut",
    "Figure",
    "MedianOut",
    "PartnerShare",
    "ReportOut",
    "ScopeRef",
    "TopMember",
    "TopTeam",
]


class ScopeRef(msgspec.Struct, kw_only=True):
    scope: str
    """``community:<id>`` or ``region:<id>``."""
    name: str
    level: str
    """``community``, ``street``, ``district`` or ``city``."""


class ChildValue(msgspec.Struct, kw_only=True):
    scope: str
    name: str
    total: float | None
    previous: float | None


class Figure(msgspec.Struct, kw_only=True):
    key: str
    unit: str
    """``people``, ``count``, ``hours``, ``points`` or ``percent``."""
    kind: str
    """``flow`` (summed over months), ``distinct`` (counted once per period), ``stock`` (at the end),
    ``ratio`` (a percentage)."""
    total: float | None
    previous: float | None
    change_percent: float | None
    months: list[float | None]
    children: list[ChildValue]


class MedianOut(msgspec.Struct, kw_only=True):
    key: str
    """``dispatch`` (posted -> dispatched), ``accept`` (posted -> accepted), ``complete``."""
    hours: float | None
    children: list[ChildValue]


class PartnerShare(msgspec.Struct, kw_only=True):
    community: str
    partner: str
    vouchers: int
    points: int
    share_percent: float | None


class ClaimRuleOut(msgspec.Struct, kw_only=True):
    code: str
    title: str
    submitted: int
    approved: int
    objected: int
    rejected: int


class TopTeam(msgspec.Struct, kw_only=True):
    community: str
    name: str
    checkins: int
    hours: float


class TopMember(msgspec.Struct, kw_only=True):
    name: str
    """Masked (王*成): the dashboard is shown on shared screens."""
    activities: int
    hours: float


class BudgetRow(msgspec.Struct, kw_only=True):
    """One community's issuance budget (积分发放总量) this local month: set or not, issued, waiting."""

    community_id: str
    community: str
    month: str
    monthly_points: int | None
    """None: no budget set (nothing issues until an official sets one)."""
    issued: int
    pending_points: int
    pending_count: int


class ReportOut(msgspec.Struct, kw_only=True):
    scope: ScopeRef
    period: str
    period_kind: str
    previous_period: str
    first_day: str
    last_day: str
    timezone: str
    months: list[str]
    children: list[ScopeRef]
    figures: list[Figure]
    medians: list[MedianOut]
    partners: list[PartnerShare]
    claims_by_rule: list[ClaimRuleOut]
    top_teams: list[TopTeam]
    top_members: list[TopMember]
    notes: list[str]
    budgets: list[BudgetRow] = msgspec.field(default_factory=list)
    """Issued vs budget this month per community of the scope (not of the period: budgets are monthly)."""
    as_of: datetime | None = None
    """Every commit before this moment is in the figures: the time of the read on the primary, or how far
    the standby had replayed (at most ``JIFEN_REPLICA_MAX_LAG_SECONDS`` behind, else the primary answers)."""
    read_from: Literal["primary", "replica"] = "primary"
    """Where the figures were read: the primary, or the standby of ``JIFEN_REPLICA_URL``."""


class AllianceRowOut(msgspec.Struct, kw_only=True):
    partner_id: uuid.UUID
    partner_name: str
    kind: str
    community_id: uuid.UUID
    community_name: str
    vouchers: list[int]
    """Redeemed vouchers per month, in the order of the report's ``months``."""
    points: list[int]


class AllianceOut(msgspec.Struct, kw_only=True):
    scope: str
    name: str
    months: list[str]
    """The chosen month and the ones before it, the oldest first."""
    rows: list[AllianceRowOut]
    """One per unit x community whose residents redeemed there."""
    vouchers: list[int]
    points: list[int]
    as_of: datetime | None = None
    """Every commit before this moment is in the figures (see the report's ``as_of``)."""
    read_from: Literal["primary", "replica"] = "primary"
