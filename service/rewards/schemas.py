"""API shapes of good conduct: rules, settings, claims, photos, households, activity ratings."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Literal

import msgspec

from service.accounts.schemas import Phone
from service.config import POINTS_PER_AWARD_MAX, TEXT_MAX
from service.kit.fields import Title, trimmed_text
from service.rewards.rules import PUBLICITY_DAYS_MAX, SETTINGS_DAYS_MAX, YEARLY_LIMIT_MAX

__all__ = [
    "ActivityRatingIn",
    "ActivityRatingOut",
    "ClaimIn",
    "ClaimOut",
    "ClaimPage",
    "HouseholdLinkIn",
    "HouseholdLinkOut",
    "ObjectionIn",
    "ObjectionOut",
    "PhotoOut",
    "ReviewIn",
    "RewardsSettingsIn",
    "RewardsSettingsOut",
    "RuleIn",
    "RuleOut",
    "RulePatch",
]

Text = Annotated[str, msgspec.Meta(max_length=TEXT_MAX)]
Note = Annotated[str, msgspec.Meta(max_length=500)]
Points = Annotated[int, msgspec.Meta(ge=1, le=POINTS_PER_AWARD_MAX)]
RulePoints = Annotated[
    int,
    msgspec.Meta(
        ge=-POINTS_PER_AWARD_MAX,
        le=POINTS_PER_AWARD_MAX,
        description="Positive: the points a claim earns. Negative: a deduction (扣分) for breaking the "
        "village rules, filed by a grid worker. Never 0 (invalid_points).",
    ),
]
PublicityDays = Annotated[int, msgspec.Meta(ge=0, le=PUBLICITY_DAYS_MAX)]
YearlyLimit = Annotated[int, msgspec.Meta(ge=1, le=YEARLY_LIMIT_MAX)]
Days = Annotated[int, msgspec.Meta(ge=1, le=SETTINGS_DAYS_MAX)]
RuleCode = Annotated[str, msgspec.Meta(min_length=2, max_length=32, pattern=r"^[a-z0-9][a-z0-9_-]*$")]


class RuleIn(msgspec.Struct, forbid_unknown_fields=True):
    code: RuleCode
    title: Title
    points: RulePoints
    publicity_days: PublicityDays = 7
    description: Text = ""
    evidence_required: bool = True
    limit_per_member_per_year: YearlyLimit | None = None
    active: bool = True


class RulePatch(msgspec.Struct, forbid_unknown_fields=True):
    title: Title | None = None
    description: Text | None = None
    points: RulePoints | None = None
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
    public_summary: Annotated[str, msgspec.Meta(max_length=120)] | None = None
    """What the public board shows of the evidence (an approval): the reviewer's own words; left out, the
    evidence with every community member's name and phone or ID numbers masked (masked either way)."""


class ObjectionIn(msgspec.Struct, forbid_unknown_fields=True):
    reason: Annotated[str, trimmed_text(500)]


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
    rule_version: int | None = None
    """The version of the rule in force when the claim was filed (``/api/v1/rules/{id}/adoptions``)."""


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
    phone: Phone
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


class AdoptionIn(msgspec.Struct, forbid_unknown_fields=True):
    """The meeting that adopted the rule as it stands (村规民约 adopted in public)."""

    meeting: Literal["板凳会", "村民代表会议", "村民会议", "协商议事会", "居民代表会议"]
    held_on: date
    attendance: Annotated[int, msgspec.Meta(ge=1, le=100_000)]
    votes_for: Annotated[int, msgspec.Meta(ge=0, le=100_000)]
    votes_against: Annotated[int, msgspec.Meta(ge=0, le=100_000)]
    effective_from: date


class AdoptionOut(msgspec.Struct):
    id: uuid.UUID
    rule_id: uuid.UUID
    version: int
    title: str
    points: int
    meeting: str
    held_on: date
    attendance: int
    votes_for: int
    votes_against: int
    effective_from: date
