"""API shapes of good conduct (rules, claims, board) and micro-wishes."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Literal

import msgspec

from service.config import POINTS_PER_AWARD_MAX, TEXT_MAX, TITLE_MAX
from service.rewards.rules import PUBLICITY_DAYS_MAX, SETTINGS_DAYS_MAX, YEARLY_LIMIT_MAX

__all__ = [
    "ActivityRatingIn",
    "ActivityRatingOut",
    "BoardClaimOut",
    "BoardHoursOut",
    "BoardOut",
    "BoardRankOut",
    "ClaimIn",
    "ClaimOut",
    "ClaimPage",
    "DeclineIn",
    "DispatchCandidateOut",
    "DispatchIn",
    "HouseholdLinkIn",
    "HouseholdLinkOut",
    "ObjectionIn",
    "ObjectionOut",
    "PhotoOut",
    "RateIn",
    "RatingStatsOut",
    "ReviewIn",
    "RewardsSettingsIn",
    "RewardsSettingsOut",
    "RuleIn",
    "RuleOut",
    "RulePatch",
    "SatisfactionOut",
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
    wish_points_monthly_cap: Annotated[int, msgspec.Meta(ge=0, le=POINTS_PER_AWARD_MAX)] | None = None


class RewardsSettingsOut(msgspec.Struct):
    community_id: uuid.UUID
    two_reviewers_from_points: int
    wish_points: int
    wish_auto_award_days: int
    wish_assign_timeout_days: int
    wish_points_monthly_cap: int
    """Most wish points one volunteer earns in a local month; wishes past it post nothing (``capped``)."""


class ClaimIn(msgspec.Struct, forbid_unknown_fields=True):
    rule_id: uuid.UUID
    member_id: uuid.UUID
    """The beneficiary: the caller, a confirmed household member, or (organizers) any member."""
    evidence: Text = ""
    event_date: date | None = None
    """The local day of the deed (default today); one claim per rule, beneficiary and day."""
    event_ref: Annotated[str, msgspec.Meta(max_length=64)] | None = None
    """A reference such as a marriage certificate number; one claim per rule, beneficiary and reference."""


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
    event_date: date | None = None
    event_ref: str | None = None


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
    evidence_summary: str = ""
    """The evidence neighbours judge, with names and phone/ID numbers masked and shortened."""
    event_date: date | None = None


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
    beneficiary_id: uuid.UUID | None = None
    """A confirmed household member the wish is for (default: the caller)."""


class DispatchIn(msgspec.Struct, forbid_unknown_fields=True):
    volunteer_id: uuid.UUID


class DeclineIn(msgspec.Struct, forbid_unknown_fields=True):
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=500)]


class DispatchCandidateOut(msgspec.Struct):
    member_id: uuid.UUID
    name: str
    phone_tail: str
    service_minutes: int
    hours: float
    open_tasks: int
    """Wishes offered or assigned to them now."""


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
    beneficiary_id: uuid.UUID | None = None
    beneficiary_name: str = ""
    dispatched_by: uuid.UUID | None = None
    dispatched_at: datetime | None = None
    accepted_at: datetime | None = None
    declines: int = 0
    decline_reason: str = ""
    confirmed: bool = False
    """An organizer confirmed a pool-taken wish (dispatched wishes need no confirmation)."""
    points_status: str | None = None
    """posted, pending (awaiting a staff confirmation), capped (monthly cap reached), none (0 points)."""


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


class RatingStatsOut(msgspec.Struct):
    rated: int
    satisfied: int
    average_stars: float | None
    satisfaction_rate: float | None
    """Share of ratings with 4 or 5 stars."""


class SatisfactionOut(msgspec.Struct):
    community_id: uuid.UUID
    month: str
    wishes: RatingStatsOut
    activities: RatingStatsOut


class ActivityRatingIn(msgspec.Struct, forbid_unknown_fields=True):
    stars: Annotated[int, msgspec.Meta(ge=1, le=5)]
    comment: Note = ""


class ActivityRatingOut(msgspec.Struct):
    id: uuid.UUID
    activity_id: uuid.UUID
    stars: int
    comment: str
    created_at: datetime


class HouseholdLinkIn(msgspec.Struct, forbid_unknown_fields=True):
    phone: Annotated[str, msgspec.Meta(min_length=1, max_length=32)]
    relation: Annotated[str, msgspec.Meta(max_length=32)] = ""


class HouseholdLinkOut(msgspec.Struct):
    id: uuid.UUID
    community_id: uuid.UUID
    requester_id: uuid.UUID
    requester_name: str
    relative_id: uuid.UUID
    relative_name: str
    relation: str
    status: str
    """pending (awaiting an admin), confirmed, rejected (or removed)."""
    created_at: datetime
    decided_at: datetime | None
