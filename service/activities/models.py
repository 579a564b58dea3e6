"""Tables of the activities domain: activities, sign-ups, attendance, member cards, teams."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, Float, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from service.config import TITLE_MAX
from service.db import Base, IdMixin, TimestampMixin

__all__ = [
    "Activity",
    "ActivityPolicy",
    "ActivityScanner",
    "Attendance",
    "CodeRevocation",
    "MemberCard",
    "OfflineScan",
    "PersonalCode",
    "ScanUse",
    "SigningKey",
    "Signup",
    "Team",
    "TeamMember",
]


class Team(IdMixin, TimestampMixin, Base):
    """A volunteer service team (志愿服务队) with a leader."""

    __tablename__ = "teams"

    community_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("communities.id"))
    name: Mapped[str] = mapped_column(String(TITLE_MAX))
    leader_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("members.id"))

    __table_args__ = (UniqueConstraint("community_id", "name"),)


class TeamMember(IdMixin, TimestampMixin, Base):
    __tablename__ = "team_members"

    community_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("communities.id"))
    team_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("teams.id"))
    member_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("members.id"), index=True)

    __table_args__ = (UniqueConstraint("team_id", "member_id"),)


class Activity(IdMixin, TimestampMixin, Base):
    """An event volunteers attend. ``secret`` signs its QR codes and never leaves the server.

    ``status``: ``pending_approval`` (worth more than the community's cap: nobody can check in until
    an admin other than its creator approves it), ``open``, ``closed``, ``cancelled``.
    """

    __tablename__ = "activities"

    community_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("communities.id"))
    title: Mapped[str] = mapped_column(String(TITLE_MAX))
    description: Mapped[str] = mapped_column(Text, default="")
    category: Mapped[str | None] = mapped_column(String(32), default=None)
    team_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("teams.id"), default=None)
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    address: Mapped[str | None] = mapped_column(String(200), default=None)
    lat: Mapped[float | None] = mapped_column(Float, default=None)
    lng: Mapped[float | None] = mapped_column(Float, default=None)
    radius_m: Mapped[int | None] = mapped_column(default=None)
    capacity: Mapped[int | None] = mapped_column(default=None)
    signup_required: Mapped[bool] = mapped_column(default=False)
    points_mode: Mapped[str] = mapped_column(String(16))
    points: Mapped[int]
    points_max: Mapped[int | None] = mapped_column(default=None)
    status: Mapped[str] = mapped_column(String(16), default="open")
    secret: Mapped[str] = mapped_column(String(64))
    poster_version: Mapped[int] = mapped_column(default=1)
    created_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("members.id"))
    closed_at: Mapped[datetime | None] = mapped_column(default=None)
    approved_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("members.id"), default=None)
    """The admin who let an activity above the points cap open (never its creator)."""

    __table_args__ = (
        CheckConstraint("ends_at > starts_at", name="window"),
        CheckConstraint("points >= 0", name="points_nonneg"),
        CheckConstraint("points_max IS NULL OR points_max >= 0", name="points_max_nonneg"),
        CheckConstraint("capacity IS NULL OR capacity > 0", name="capacity_pos"),
        CheckConstraint("radius_m IS NULL OR radius_m > 0", name="radius_pos"),
        CheckConstraint("points_mode IN ('per_attendance','per_hour')", name="known_mode"),
        CheckConstraint("status IN ('pending_approval','open','closed','cancelled')", name="known_status"),
        CheckConstraint("approved_by IS NULL OR approved_by <> created_by", name="approver_not_creator"),
        Index("ix_activities_community_starts", "community_id", "starts_at"),
    )


class Signup(IdMixin, TimestampMixin, Base):
    __tablename__ = "signups"

    community_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("communities.id"))
    activity_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("activities.id"))
    member_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("members.id"), index=True)

    __table_args__ = (UniqueConstraint("activity_id", "member_id"),)


class Attendance(IdMixin, TimestampMixin, Base):
    """One member at one activity: how they checked in (evidence), when, minutes and points.

    ``status``: ``in`` (checked in, no points yet), ``out`` (done, points posted), ``pending`` (a manual
    record, or an organizer's own finished attendance, waiting for a second organizer), ``rejected``
    (a refused manual record), ``absent`` (marked as gone early when the activity closed: no points).

    ``needs_confirmation``: the member organizes in this community (or created the activity), so their
    points wait for another organizer or admin (``approved_by``), never themself.
    """

    __tablename__ = "attendances"

    community_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("communities.id"))
    activity_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("activities.id"))
    member_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("members.id"), index=True)
    status: Mapped[str] = mapped_column(String(16))
    evidence: Mapped[str] = mapped_column(String(16))
    checked_in_at: Mapped[datetime]
    checked_out_at: Mapped[datetime | None] = mapped_column(default=None)
    minutes: Mapped[int] = mapped_column(default=0)
    points: Mapped[int] = mapped_column(default=0)
    device_id: Mapped[str | None] = mapped_column(String(64), default=None)
    scanned_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("members.id"), default=None)
    requested_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("members.id"), default=None)
    approved_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("members.id"), default=None)
    note: Mapped[str | None] = mapped_column(String(500), default=None)
    needs_confirmation: Mapped[bool] = mapped_column(default=False)

    __table_args__ = (
        UniqueConstraint("activity_id", "member_id", name="once_per_activity"),
        CheckConstraint("minutes >= 0", name="minutes_nonneg"),
        CheckConstraint("points >= 0", name="points_nonneg"),
        CheckConstraint("status IN ('in','out','pending','rejected','absent')", name="known_status"),
        CheckConstraint("evidence IN ('kiosk','poster','member_card','manual')", name="known_evidence"),
        CheckConstraint("evidence <> 'manual' OR requested_by IS NOT NULL", name="manual_requester"),
        CheckConstraint(
            "status <> 'out' OR evidence <> 'manual' OR approved_by <> requested_by", name="second_person"
        ),
        CheckConstraint(
            "status <> 'out' OR NOT needs_confirmation OR approved_by <> member_id",
            name="confirmed_by_another",
        ),
    )


class MemberCard(IdMixin, TimestampMixin, Base):
    """A member's printable card QR. Printed cards carry a signed code (``activities.codes``) naming
    ``version``; a reissue bumps it, lists the old version as revoked, and replaces ``token`` (the
    unsigned code of cards printed before signed codes, still accepted online)."""

    __tablename__ = "member_cards"

    community_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("communities.id"))
    member_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("members.id"))
    token: Mapped[str] = mapped_column(String(43), unique=True)
    version: Mapped[int] = mapped_column(default=1)

    __table_args__ = (
        UniqueConstraint("community_id", "member_id"),
        CheckConstraint("version >= 1", name="version_pos"),
    )


class PersonalCode(Base):
    """The version of a volunteer's personal (phone) code; a member without a row has version 1."""

    __tablename__ = "personal_codes"

    member_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("members.id"), primary_key=True)
    version: Mapped[int] = mapped_column(default=1)
    updated_at: Mapped[datetime]

    __table_args__ = (CheckConstraint("version >= 1", name="version_pos"),)


class CodeRevocation(IdMixin, TimestampMixin, Base):
    """A signed code version that no longer checks anybody in (a reissued card): the revocation list
    offline scanners download. ``kind``: 1 card (``community_id`` set), 2 personal code."""

    __tablename__ = "code_revocations"

    community_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("communities.id"), default=None)
    member_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("members.id"))
    kind: Mapped[int]
    version: Mapped[int]
    revoked_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("members.id"), default=None)

    __table_args__ = (
        CheckConstraint("kind IN (1, 2)", name="known_kind"),
        CheckConstraint("(kind = 1) = (community_id IS NOT NULL)", name="card_has_community"),
        Index("ix_code_revocations_community", "community_id", "member_id"),
    )


class SigningKey(Base):
    """A public key that signs member codes (kept after a rotation, so older codes still verify).
    ``private_key`` is set only for the key generated when ``JIFEN_SIGNING_KEY`` is unset (``slot``
    ``generated``: one such key, whichever worker makes it first)."""

    __tablename__ = "signing_keys"

    key_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    public_key: Mapped[str] = mapped_column(String(64))
    private_key: Mapped[str | None] = mapped_column(String(64), default=None)
    slot: Mapped[str | None] = mapped_column(String(16), unique=True, default=None)
    created_at: Mapped[datetime]


class OfflineScan(IdMixin, TimestampMixin, Base):
    """One scan an offline scanner uploaded (``POST /api/v1/scans/sync``): the unique ``nonce`` makes a
    second upload change nothing. ``status``: ``applied``, ``refused`` (``refusal`` says why),
    ``conflict`` (the member was checked in on another device), then ``accepted`` or ``dismissed`` once
    an organizer resolves a refused or conflicting one."""

    __tablename__ = "offline_scans"

    community_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("communities.id"))
    activity_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("activities.id"))
    nonce: Mapped[str] = mapped_column(String(64), unique=True)
    device_id: Mapped[str] = mapped_column(String(64))
    uploaded_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("members.id"))
    code: Mapped[str] = mapped_column(String(200))
    scanned_at: Mapped[datetime]
    member_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("members.id"), default=None)
    status: Mapped[str] = mapped_column(String(16))
    refusal: Mapped[str | None] = mapped_column(String(40), default=None)
    attendance_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("attendances.id"), default=None)
    resolved_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("members.id"), default=None)
    resolved_at: Mapped[datetime | None] = mapped_column(default=None)

    __table_args__ = (
        CheckConstraint(
            "status IN ('applied','refused','conflict','accepted','dismissed')", name="known_status"
        ),
        CheckConstraint("(status = 'applied') = (refusal IS NULL)", name="refusal_bound"),
        CheckConstraint(
            "resolved_by IS NULL OR member_id IS NULL OR resolved_by <> member_id", name="not_own_scan"
        ),
        Index("ix_offline_scans_activity_status", "activity_id", "status"),
    )


class ActivityScanner(IdMixin, TimestampMixin, Base):
    """A store clerk an organizer of the activity's community named to scan at this one activity (the
    offline scanner's kit and sync). Checking people in issues points, so a clerk scans only where named,
    and only while they still hold the ``clerk`` role there; nobody names themself."""

    __tablename__ = "activity_scanners"

    community_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("communities.id"))
    activity_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("activities.id"))
    member_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("members.id"))
    assigned_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("members.id"))

    __table_args__ = (
        UniqueConstraint("activity_id", "member_id"),
        CheckConstraint("assigned_by <> member_id", name="not_self"),
        Index("ix_activity_scanners_member", "member_id", "community_id"),
    )


class ActivityPolicy(Base):
    """A community's check-in rules (a missing row means the defaults of ``rules.py``)."""

    __tablename__ = "activity_policies"

    community_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("communities.id"), primary_key=True)
    points_cap: Mapped[int]
    """Activities worth more than this per attendance (or per hour) need an admin's approval to open."""
    updated_at: Mapped[datetime]
    updated_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("members.id"), default=None)

    __table_args__ = (CheckConstraint("points_cap >= 0", name="points_cap_nonneg"),)


class ScanUse(IdMixin, TimestampMixin, Base):
    """A pending-scan cookie that was spent: its nonce can never check anybody in again (any worker)."""

    __tablename__ = "scan_uses"

    community_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("communities.id"))
    nonce: Mapped[str] = mapped_column(String(32), unique=True)
    activity_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("activities.id"))
    member_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("members.id"))


class AttendanceCorrection(IdMixin, TimestampMixin, Base):
    """A volunteer's request to correct their own attendance record (wrong times, a missed check-out),
    decided by an organizer other than them. The record keeps what it was (``old_*``) and what it became
    (``new_*``); the points follow (``activities.corrections``)."""

    __tablename__ = "attendance_corrections"

    community_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("communities.id"))
    attendance_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("attendances.id"), index=True)
    member_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("members.id"))
    checked_in_at: Mapped[datetime]
    checked_out_at: Mapped[datetime]
    reason: Mapped[str] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    decided_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("members.id"), default=None)
    decided_at: Mapped[datetime | None] = mapped_column(default=None)
    decision_note: Mapped[str | None] = mapped_column(String(500), default=None)
    old_checked_in_at: Mapped[datetime | None] = mapped_column(default=None)
    old_checked_out_at: Mapped[datetime | None] = mapped_column(default=None)
    old_minutes: Mapped[int] = mapped_column(default=0)
    old_points: Mapped[int] = mapped_column(default=0)
    new_minutes: Mapped[int | None] = mapped_column(default=None)
    new_points: Mapped[int | None] = mapped_column(default=None)

    __table_args__ = (
        CheckConstraint("status IN ('pending','approved','rejected')", name="known_status"),
        CheckConstraint("checked_out_at > checked_in_at", name="times_in_order"),
        CheckConstraint("(status = 'pending') = (decided_at IS NULL)", name="decided_bound"),
        CheckConstraint("decided_by IS NULL OR decided_by <> member_id", name="second_person"),
        Index("ix_attendance_corrections_community_status", "community_id", "status"),
    )
