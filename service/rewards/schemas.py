"""API shapes of good conduct (rules, claims, board) and micro-wishes."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

import msgspec

from service.config import POINTS_PER_AWARD_MAX, TEXT_MAX, TITLE_MAX
from service.rewards.rules import PUBLICITY_DAYS_MAX, SETTINGS_DAYS_MAX, YEARLY_LIMIT_MAX

__all__ = [
    "BoardClaimOut",
    "BoardHoursOut",
    "BoardOut",
    "BoardRankOut",
    "ClaimIn",
    "ClaimOut",
    "ClaimPage",
    "DispatchIn",
    "ObjectionIn",
    "ObjectionOut",
    "PhotoOut",
    "RateIn",
    "ReviewIn",
    "RewardsSettingsIn",
    "RewardsSettingsOut",
    "RuleIn",
    "RuleOut",
    "RulePatch",
    "WishIn",
    "WishOut",
    "WishPage",
    "WishStatsOut",
]

Title = Annotated[str, msgspec.Meta(min_length=1, max_length=TITLE_MAX)]
Text = Annotated[str, msgspec.Meta(max_length=TEXT_MAX)]
Note = Annotated[str, msgspec.Meta(max_length=500)]
Points = Annotated[int, msgspec.Meta(ge=1, le=POINTS_PER_AWARD_MAX)]
PublicityDays = Annotated[int, msgspec.Meta(ge=0, le=PUBLICITY_DAYS_MAX)]
YearlyLimit = Annotated[int, msgspec.Meta(ge=1, le=YEARLY_LIMIT_MAX)]
Days = Annotated[int, msgspec.Meta(ge=1, le=SETTINGS_DAYS_MAX)]
RuleCode = Annotated[str, msgspec.Meta(min_length=2, max_length=32, pattern=r"^[a-z0-9][a-z0-9_-]*$")]


class RuleIn(msgspec.Struct, forbid_unknown_fields=True):
    code: RuleCode
    title: Title
    points: Points
    publicity_days: PublicityDays = 7
    description: Text = ""
    evidence_required: bool = True
    limit_per_member_per_year: YearlyLimit | None = None
    active: bool = True


class RulePatch(msgspec.Struct, forbid_unknown_fields=True):
    title: Title | None = None
    description: Text | None = None
    points: Points | None = None
    publicity_days: PublicityDays | None = None
    evidence_required: bool | None = None
    limit_per_member_per_year: YearlyLimit | msgspec.UnsetType | None = msgspec.UNSET
    """Send null to remove the limit; leave it out to keep it."""
    active: bool | None = None


class RuleOut(msgspec.Struct):
    id: uuid.UUID
    community_id: uuid.UUID
    code: str
    title: str
    description: str
    points: int
    evidence_required: bool
    publicity_days: int
    limit_per_member_per_year: int | None
    active: bool


class RewardsSettingsIn(msgspec.Struct, forbid_unknown_fields=True):
    two_reviewers_from_points: Points | None = None
    wish_points: Annotated[int, msgspec.Meta(ge=0, le=POINTS_PER_AWARD_MAX)] | None = None
    wish_auto_award_days: Days | None = None
    wish_assign_timeout_days: Days | None = None


class RewardsSettingsOut(msgspec.Struct):
    community_id: uuid.UUID
    two_reviewers_from_points: int
    wish_points: int
    wish_auto_award_days: int
    wish_assign_timeout_days: int


class ClaimIn(msgspec.Struct, forbid_unknown_fields=True):
    rule_id: uuid.UUID
    member_id: uuid.UUID
    evidence: Text = ""


class ReviewIn(msgspec.Struct, forbid_unknown_fields=True):
    decision: Literal["approve", "reject"]
    note: Note = ""


class ObjectionIn(msgspec.Struct, forbid_unknown_fields=True):
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=500)]


class ObjectionOut(msgspec.Struct):
    id: uuid.UUID
    claim_id: uuid.UUID
    reason: str
    created_at: datetime
    claim_status: str
    member_name: str = ""
    resolved: bool = False


class ClaimOut(msgspec.Struct):
    id: uuid.UUID
    community_id: uuid.UUID
    rule_id: uuid.UUID
    rule_code: str
    rule_title: str
    member_id: uuid.UUID
    member_name: str
    submitted_by: uuid.UUID
    submitted_by_name: str
    evidence: str
    points: int
    status: str
    approvals: int
    approvals_needed: int
    review_round: int
    created_at: datetime
    publicized_at: datetime | None
    publicity_ends_at: datetime | None
    awarded_at: datetime | None
    decision_note: str
    objections: list[ObjectionOut] = []
    photo_ids: list[uuid.UUID] = []


class ClaimPage(msgspec.Struct):
    items: list[ClaimOut]
    next_cursor: str | None


class PhotoOut(msgspec.Struct):
    id: uuid.UUID
    claim_id: uuid.UUID
    content_type: str
    width: int
    height: int
    size_bytes: int
    url: str


class BoardClaimOut(msgspec.Struct):
    id: uuid.UUID
    rule_title: str
    member_name: str
    points: int
    publicized_at: datetime | None
    publicity_ends_at: datetime | None
    awarded_at: datetime | None
    objections: int


class BoardRankOut(msgspec.Struct):
    rank: int
    name: str
    """A member's masked name (王*成), or a team's name."""
    points: int


class BoardHoursOut(msgspec.Struct):
    rank: int
    name: str
    """A member's masked name (王*成), or a team's name."""
    minutes: int
    """Service minutes in the month (finished attendances; manual records once approved)."""
    hours: float
    """The same, in hours rounded to one decimal."""


class BoardOut(msgspec.Struct):
    community_id: uuid.UUID
    community_name: str
    month: str
    under_publicity: list[BoardClaimOut]
    recent_awards: list[BoardClaimOut]
    leaderboard: list[BoardRankOut]
    """Points earned in the month from every source (check-ins, good conduct, micro-wishes, manual
    awards; reversed awards left out), by member (names masked), most first."""
    hours_leaderboard: list[BoardHoursOut] = []
    """Service minutes in the month by member (names masked), most first."""
    team_leaderboard: list[BoardRankOut] = []
    """Points earned in the month by each team's members, most first."""
    team_hours_leaderboard: list[BoardHoursOut] = []
    """Service minutes in the month by each team's members, most first."""


class WishIn(msgspec.Struct, forbid_unknown_fields=True):
    title: Title
    description: Text = ""
    category: Annotated[str, msgspec.Meta(max_length=32)] = "other"
    wanted_by: datetime | None = None


class DispatchIn(msgspec.Struct, forbid_unknown_fields=True):
    volunteer_id: uuid.UUID


class RateIn(msgspec.Struct, forbid_unknown_fields=True):
    stars: Annotated[int, msgspec.Meta(ge=1, le=5)]
    comment: Note = ""


class WishOut(msgspec.Struct):
    id: uuid.UUID
    community_id: uuid.UUID
    title: str
    description: str
    category: str
    status: str
    requester_id: uuid.UUID
    requester_name: str
    volunteer_id: uuid.UUID | None
    volunteer_name: str
    wanted_by: datetime | None
    created_at: datetime
    assigned_at: datetime | None
    completed_at: datetime | None
    rated_at: datetime | None
    stars: int | None
    comment: str
    points: int | None
    awarded_at: datetime | None


class WishPage(msgspec.Struct):
    items: list[WishOut]
    next_cursor: str | None


class WishStatsOut(msgspec.Struct):
    community_id: uuid.UUID
    month: str
    count: int
    completed: int
    cancelled: int
    rated: int
    satisfied: int
    completion_rate: float | None
    satisfaction_rate: float | None
    """Share of ratings with 4 or 5 stars."""
    average_handling_hours: float | None
    """Mean time from posting to completion, in hours."""
