"""Tables of the rewards domain: good-conduct rules, claims under review and public notice,
households and activity ratings (micro-wishes live in ``service.wishes``)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Literal, get_args

from sqlalchemy import (
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from service.config import TITLE_MAX
from service.db import Base, IdMixin, TimestampMixin
from service.rewards.rules import MEETINGS

__all__ = [
    "CLAIM_STATUSES",
    "HOUSEHOLD_STATUSES",
    "MEETINGS",
    "ActivityRating",
    "Claim",
    "ClaimObjection",
    "ClaimPhoto",
    "ClaimReview",
    "ClaimStatus",
    "HouseholdLink",
    "HouseholdStatus",
    "ReviewDecision",
    "RewardRule",
    "RewardsSettings",
    "RuleAdoption",
]

ClaimStatus = Literal["submitted", "publicized", "rejected", "awarded"]
CLAIM_STATUSES: tuple[ClaimStatus, ...] = get_args(ClaimStatus)
ReviewDecision = Literal["approve", "reject"]
HouseholdStatus = Literal["pending", "confirmed", "rejected"]
HOUSEHOLD_STATUSES: tuple[HouseholdStatus, ...] = get_args(HouseholdStatus)


class RewardsSettings(Base):
    """Per-community knobs of good conduct and micro-wishes (a missing row means the defaults)."""

    __tablename__ = "rewards_settings"

    community_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("communities.id"), primary_key=True)
    two_reviewers_from_points: Mapped[int]
    """Claims worth at least this many points need two distinct reviewers' approval."""
    wish_points: Mapped[int]
    wish_auto_award_days: Mapped[int]
    """Days after completion without a rating after which the volunteer's points post anyway."""
    wish_assign_timeout_days: Mapped[int]
    """Days an assigned wish may stay uncompleted before it goes back to open."""
    wish_points_monthly_cap: Mapped[int] = mapped_column(server_default=text("100"), default=100)
    """Most wish points one volunteer can earn in a local month; wishes past it post nothing."""
    updated_at: Mapped[datetime]

    __table_args__ = (
        CheckConstraint("two_reviewers_from_points >= 1", name="threshold_positive"),
        CheckConstraint("wish_points >= 0", name="wish_points_not_negative"),
        CheckConstraint("wish_auto_award_days >= 1", name="auto_award_days_positive"),
        CheckConstraint("wish_assign_timeout_days >= 1", name="timeout_days_positive"),
        CheckConstraint("wish_points_monthly_cap >= 0", name="wish_cap_not_negative"),
    )


class RewardRule(IdMixin, TimestampMixin, Base):
    """One entry of the village rules catalogue (村规民约): what good conduct earns how many points."""

    __tablename__ = "reward_rules"

    community_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("communities.id"))
    code: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(TITLE_MAX))
    description: Mapped[str] = mapped_column(Text, default="")
    points: Mapped[int]
    evidence_required: Mapped[bool] = mapped_column(default=True)
    publicity_days: Mapped[int]
    limit_per_member_per_year: Mapped[int | None] = mapped_column(default=None)
    active: Mapped[bool] = mapped_column(default=True)

    __table_args__ = (
        UniqueConstraint("community_id", "code"),
        CheckConstraint("points <> 0", name="points_not_zero"),
        CheckConstraint("publicity_days >= 0", name="publicity_days_not_negative"),
        CheckConstraint(
            "limit_per_member_per_year IS NULL OR limit_per_member_per_year >= 1", name="limit_positive"
        ),
    )


class Claim(IdMixin, TimestampMixin, Base):
    """A claim that a member did what a rule rewards; reviewed, shown publicly, then paid once."""

    __tablename__ = "reward_claims"

    community_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("communities.id"))
    rule_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("reward_rules.id"))
    member_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("members.id"), index=True)
    submitted_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("members.id"))
    evidence: Mapped[str] = mapped_column(Text, default="")
    event_date: Mapped[date | None] = mapped_column(Date, default=None)
    """The local day the good deed happened (a wedding's date); one claim per rule, member and day.
    Always set on new claims; None only on claims filed before events were recorded."""
    event_ref: Mapped[str | None] = mapped_column(String(64), default=None)
    """A reference such as a certificate number, normalised; one claim per rule, member and reference."""
    points: Mapped[int]
    """The rule's points when submitted: later edits to the rule do not change a claim in flight."""
    year: Mapped[int]
    """Calendar year of submission in the community's time zone (for the yearly limit)."""
    public_summary: Mapped[str | None] = mapped_column(String(120), default=None)
    """What the public board shows of the evidence, fixed when the claim is approved for the notice: the
    reviewer's words or the masked evidence, names of the community's members masked either way."""
    rule_version: Mapped[int | None] = mapped_column(default=None)
    """The version of the rule (:class:`RuleAdoption`) in force when the claim was filed: the one it is
    judged under (None: no adoption of the rule was recorded yet)."""
    status: Mapped[ClaimStatus] = mapped_column(String(16), default="submitted")
    review_round: Mapped[int] = mapped_column(default=1)
    """Bumped by each objection: approvals of an earlier round no longer count."""
    publicized_at: Mapped[datetime | None] = mapped_column(default=None)
    publicity_ends_at: Mapped[datetime | None] = mapped_column(default=None)
    decided_at: Mapped[datetime | None] = mapped_column(default=None)
    decision_note: Mapped[str] = mapped_column(String(500), default="")
    awarded_at: Mapped[datetime | None] = mapped_column(default=None)
    transfer_id: Mapped[uuid.UUID | None] = mapped_column(default=None)

    __table_args__ = (
        CheckConstraint("status IN ('submitted','publicized','rejected','awarded')", name="known_status"),
        CheckConstraint("points <> 0", name="points_not_zero"),
        CheckConstraint("(status = 'publicized') = (publicity_ends_at IS NOT NULL)", name="publicity_bound"),
        CheckConstraint("(status = 'awarded') = (awarded_at IS NOT NULL)", name="awarded_bound"),
        Index("ix_reward_claims_community_status", "community_id", "status"),
        Index("ix_reward_claims_limit", "community_id", "member_id", "rule_id", "year"),
        # One live claim per rule, beneficiary and event (a rejected claim frees the event again).
        Index(
            "uq_reward_claims_event_date",
            "rule_id",
            "member_id",
            "event_date",
            unique=True,
            sqlite_where=text("status <> 'rejected'"),
            postgresql_where=text("status <> 'rejected'"),
        ),
        Index(
            "uq_reward_claims_event_ref",
            "rule_id",
            "member_id",
            "event_ref",
            unique=True,
            sqlite_where=text("status <> 'rejected' AND event_ref IS NOT NULL"),
            postgresql_where=text("status <> 'rejected' AND event_ref IS NOT NULL"),
        ),
    )


class ClaimReview(IdMixin, TimestampMixin, Base):
    """One reviewer's decision on one review round of a claim."""

    __tablename__ = "reward_claim_reviews"

    community_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("communities.id"))
    claim_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("reward_claims.id"), index=True)
    reviewer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("members.id"))
    review_round: Mapped[int]
    decision: Mapped[ReviewDecision] = mapped_column(String(8))
    note: Mapped[str] = mapped_column(String(500), default="")

    __table_args__ = (
        UniqueConstraint(
            "claim_id", "reviewer_id", "review_round", name="uq_reward_claim_reviews_once_per_round"
        ),
        CheckConstraint("decision IN ('approve','reject')", name="known_decision"),
    )


class ClaimObjection(IdMixin, TimestampMixin, Base):
    """A neighbour's objection during public notice; it stays open until the next review decision."""

    __tablename__ = "reward_claim_objections"

    community_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("communities.id"))
    claim_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("reward_claims.id"), index=True)
    member_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("members.id"))
    reason: Mapped[str] = mapped_column(String(500))
    resolved_at: Mapped[datetime | None] = mapped_column(default=None)


class ClaimPhoto(IdMixin, TimestampMixin, Base):
    """A photo of a claim's evidence, re-encoded (so without EXIF) and bounded in size."""

    __tablename__ = "reward_claim_photos"

    community_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("communities.id"))
    claim_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("reward_claims.id"), index=True)
    content_type: Mapped[str] = mapped_column(String(32))
    width: Mapped[int]
    height: Mapped[int]
    size_bytes: Mapped[int]
    data: Mapped[bytes] = mapped_column(LargeBinary)

    __table_args__ = (CheckConstraint("size_bytes > 0", name="not_empty"),)


class HouseholdLink(IdMixin, TimestampMixin, Base):
    """Two members of one household (户), linked at one's request once an admin confirmed it.

    A confirmed link lets either file claims and wishes for the other (credited to the beneficiary).
    """

    __tablename__ = "household_links"

    community_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("communities.id"))
    requester_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("members.id"), index=True)
    relative_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("members.id"), index=True)
    relation: Mapped[str] = mapped_column(String(32), default="")
    status: Mapped[HouseholdStatus] = mapped_column(String(16), default="pending")
    decided_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("members.id"), default=None)
    decided_at: Mapped[datetime | None] = mapped_column(default=None)

    __table_args__ = (
        UniqueConstraint("community_id", "requester_id", "relative_id", name="uq_household_links_pair"),
        CheckConstraint("status IN ('pending','confirmed','rejected')", name="known_status"),
        CheckConstraint("requester_id <> relative_id", name="two_people"),
        CheckConstraint("(status = 'pending') = (decided_at IS NULL)", name="decided_bound"),
        Index("ix_household_links_community_status", "community_id", "status"),
    )


class ActivityRating(IdMixin, TimestampMixin, Base):
    """A resident's 1-5 star rating of an activity they attended (once per member and activity)."""

    __tablename__ = "activity_ratings"

    community_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("communities.id"))
    activity_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("activities.id"))
    member_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("members.id"))
    stars: Mapped[int]
    comment: Mapped[str] = mapped_column(String(500), default="")

    __table_args__ = (
        UniqueConstraint("activity_id", "member_id", name="uq_activity_ratings_once"),
        CheckConstraint("stars >= 1 AND stars <= 5", name="stars_range"),
        Index("ix_activity_ratings_community_created", "community_id", "created_at"),
    )


class RuleAdoption(IdMixin, TimestampMixin, Base):
    """One version of a village rule as a meeting adopted it: what it said (title, points), which meeting
    (板凳会, 村民代表会议...), when, how many came and voted for and against, and from when it applies.
    Versions are never changed; the public board lists the version in force and the past ones."""

    __tablename__ = "reward_rule_adoptions"

    community_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("communities.id"))
    rule_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("reward_rules.id"), index=True)
    version: Mapped[int]
    title: Mapped[str] = mapped_column(String(TITLE_MAX))
    points: Mapped[int]
    meeting: Mapped[str] = mapped_column(String(32))
    held_on: Mapped[date]
    attendance: Mapped[int]
    votes_for: Mapped[int]
    votes_against: Mapped[int]
    effective_from: Mapped[date]
    recorded_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("members.id"), default=None)

    __table_args__ = (
        UniqueConstraint("rule_id", "version"),
        CheckConstraint("votes_for >= 0 AND votes_against >= 0", name="votes_not_negative"),
        CheckConstraint("votes_for + votes_against <= attendance", name="votes_within_attendance"),
        CheckConstraint("2 * votes_for > attendance", name="adopted_by_majority"),
        CheckConstraint("effective_from >= held_on", name="effective_after_meeting"),
    )
