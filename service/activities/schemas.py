"""API shapes of the activities domain."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

import msgspec

from service.config import NAME_MAX, POINTS_PER_AWARD_MAX, TEXT_MAX
from service.kit.fields import Title, trimmed_text

__all__ = [
    "ActivityIn",
    "ActivityOut",
    "ActivityPatch",
    "ActivityStatus",
    "AttendanceOut",
    "AttendancePage",
    "AttendanceStatus",
    "CardOut",
    "CardScanIn",
    "CheckinIn",
    "CheckinOut",
    "CloseIn",
    "CloseOut",
    "Evidence",
    "HoursOut",
    "KioskOut",
    "KitActivity",
    "KitKey",
    "KitLimits",
    "KitMember",
    "KitRevoked",
    "ManualIn",
    "ManualOut",
    "OfflineKitOut",
    "OfflineScanOut",
    "PendingScanOut",
    "PersonalCodeOut",
    "PointsStatus",
    "PolicyIn",
    "PolicyOut",
    "ResolveIn",
    "ScanStatus",
    "ScannerIn",
    "ScannerOut",
    "SignupOut",
    "SyncIn",
    "SyncOut",
    "SyncResultOut",
    "SyncScanIn",
    "TeamIn",
    "TeamMemberIn",
    "TeamOut",
]

Text = Annotated[str, msgspec.Meta(max_length=TEXT_MAX)]
Points = Annotated[int, msgspec.Meta(ge=0, le=POINTS_PER_AWARD_MAX)]
Lat = Annotated[float, msgspec.Meta(ge=-90, le=90)]
Lng = Annotated[float, msgspec.Meta(ge=-180, le=180)]
Radius = Annotated[int, msgspec.Meta(ge=10, le=50_000)]
Capacity = Annotated[int, msgspec.Meta(ge=1, le=100_000)]
Category = Annotated[str, msgspec.Meta(max_length=32)]
Address = Annotated[str, msgspec.Meta(max_length=200)]
Mode = Literal["per_attendance", "per_hour"]
ActivityStatus = Literal["pending_approval", "open", "closed", "cancelled"]
AttendanceStatus = Literal["in", "out", "pending", "rejected", "absent"]
Evidence = Literal["kiosk", "poster", "member_card", "manual"]
ScanStatus = Literal["checked_in", "checked_out"]
PointsStatus = Literal["on_check_out", "awaiting_confirmation", "over_budget", "posted", "none"]
ABSENT_MAX = 10_000
AwareTime = Annotated[datetime, msgspec.Meta(tz=True, description="ISO 8601 with a UTC offset")]


class ActivityIn(msgspec.Struct, forbid_unknown_fields=True):
    title: Title
    starts_at: AwareTime
    ends_at: AwareTime
    points_mode: Mode
    points: Points
    description: Text = ""
    category: Category | None = None
    team_id: uuid.UUID | None = None
    address: Address | None = None
    lat: Lat | None = None
    lng: Lng | None = None
    radius_m: Radius | None = None
    capacity: Capacity | None = None
    signup_required: bool = False
    points_max: Points | None = None


class ActivityPatch(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    title: Title | msgspec.UnsetType = msgspec.UNSET
    description: Text | msgspec.UnsetType = msgspec.UNSET
    starts_at: AwareTime | msgspec.UnsetType = msgspec.UNSET
    ends_at: AwareTime | msgspec.UnsetType = msgspec.UNSET
    address: Address | msgspec.UnsetType | None = msgspec.UNSET
    capacity: Capacity | msgspec.UnsetType | None = msgspec.UNSET
    category: Category | msgspec.UnsetType | None = msgspec.UNSET
    points: Points | msgspec.UnsetType = msgspec.UNSET
    points_max: Points | msgspec.UnsetType | None = msgspec.UNSET


class ActivityOut(msgspec.Struct):
    id: uuid.UUID
    community_id: uuid.UUID
    title: str
    description: str
    category: str | None
    team_id: uuid.UUID | None
    starts_at: AwareTime
    ends_at: AwareTime
    address: str | None
    lat: float | None
    lng: float | None
    radius_m: int | None
    capacity: int | None
    signup_required: bool
    points_mode: Mode
    points: int
    points_max: int | None
    status: ActivityStatus
    checked_in_count: int
    signed_up_count: int


class SignupOut(msgspec.Struct):
    activity_id: uuid.UUID
    member_id: uuid.UUID
    status: Literal["signed_up"] = "signed_up"


class KioskOut(msgspec.Struct):
    url: str
    token: str
    expires_at: datetime
    refresh_after_s: int
    checked_in_count: int


class CheckinIn(msgspec.Struct, forbid_unknown_fields=True):
    token: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    lat: Lat | None = None
    lng: Lng | None = None


class CheckinOut(msgspec.Struct):
    status: ScanStatus
    activity_id: uuid.UUID
    activity_title: str
    member_id: uuid.UUID
    evidence: Evidence
    checked_in_at: AwareTime
    checked_out_at: datetime | None
    minutes: int | None
    points_awarded: int
    repeated: bool
    points_pending: int = 0
    """Points that post later: at check-out (after the minimum stay) or close, or on confirmation."""
    points_status: PointsStatus = "none"
    """on_check_out, awaiting_confirmation (an organizer's own attendance), over_budget (the points wait:
    the community's issuance budget for the month is spent), posted or none."""
    attendance_id: uuid.UUID | None = None
    """The attendance record (a volunteer asks to correct it: POST /api/v1/attendance/{id}/corrections)."""


class CardScanIn(msgspec.Struct, forbid_unknown_fields=True):
    card_token: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class CloseIn(msgspec.Struct, forbid_unknown_fields=True):
    absent_member_ids: Annotated[list[uuid.UUID], msgspec.Meta(max_length=ABSENT_MAX)] = []
    """People still checked in whom the organizer saw leave early: no points for them."""


class CloseOut(msgspec.Struct):
    checked_out: int
    points_posted: int
    status: Literal["closed"] = "closed"
    absent: int = 0
    awaiting_confirmation: int = 0
    over_budget: int = 0
    """Attendances whose points wait for the community's issuance budget (积分待发放)."""


class PolicyIn(msgspec.Struct, forbid_unknown_fields=True):
    points_cap: Points


class PolicyOut(msgspec.Struct):
    community_id: uuid.UUID
    points_cap: int
    """Activities worth more per attendance (or per hour) wait for an admin's approval."""


class AttendanceOut(msgspec.Struct):
    id: uuid.UUID
    member_id: uuid.UUID
    member_name: str
    status: AttendanceStatus
    evidence: Evidence
    checked_in_at: AwareTime
    checked_out_at: datetime | None
    minutes: int
    points: int
    manual: bool
    flags: list[str]
    """``shared_device``, ``manual``, ``weak_evidence``, ``self_attendance``, ``new_account``."""
    note: str | None
    new_account: bool = False
    """The member's account was made at this event (a sign-up from its poster or kiosk): 新注册."""


class AttendancePage(msgspec.Struct):
    items: list[AttendanceOut]
    next_cursor: str | None = None


class ManualIn(msgspec.Struct, forbid_unknown_fields=True):
    member_id: uuid.UUID
    checked_in_at: AwareTime
    checked_out_at: AwareTime
    note: Annotated[str, trimmed_text(500)]


class ManualOut(msgspec.Struct):
    id: uuid.UUID
    status: Literal["pending_approval", "approved", "rejected"]
    points: int = 0


class CardOut(msgspec.Struct):
    community_id: uuid.UUID
    token: str
    """The card's unsigned code (cards printed before signed codes; still accepted online)."""
    url: str
    """What the printed QR encodes: ``{public_url}/m/{code}``."""
    code: str
    """The card's signed code (docs/offline.md): offline scanners verify it with no connection."""
    version: int


class PersonalCodeOut(msgspec.Struct):
    code: str
    """The volunteer's signed personal code (docs/offline.md); their QR shows exactly this text."""
    member_id: uuid.UUID
    version: int
    key_id: int


class KitActivity(msgspec.Struct):
    id: uuid.UUID
    community_id: uuid.UUID
    title: str
    status: str
    starts_at: datetime
    ends_at: datetime
    checkin_opens_at: datetime
    """Scans before this are refused ``outside_window``."""
    scans_until: datetime
    """Scans after this are refused ``outside_window`` (check-out stays possible until then)."""
    points_mode: Mode
    points: int
    points_max: int | None
    min_stay_seconds: int
    """A second scan at least this long after check-in checks out (and posts the points)."""
    signup_required: bool
    capacity: int | None


class KitKey(msgspec.Struct):
    key_id: int
    public_key: str
    """The raw 32-byte Ed25519 public key, base64url without padding."""
    alg: str = "Ed25519"


class KitMember(msgspec.Struct):
    member_id: uuid.UUID
    name: str
    """Masked (王*成)."""
    card_version: int | None
    """The current version of the member's card here (``None``: no card issued)."""
    code_version: int
    """The current version of the member's personal code."""


class KitRevoked(msgspec.Struct):
    kind: int
    """1 card, 2 personal code."""
    community_id: uuid.UUID | None
    member_id: uuid.UUID
    version: int


class KitLimits(msgspec.Struct):
    clock_drift_max_seconds: int
    sync_batch_max: int


class OfflineKitOut(msgspec.Struct):
    format: int
    server_time: datetime
    activity: KitActivity
    keys: list[KitKey]
    roster: list[KitMember]
    roster_truncated: bool
    revoked: list[KitRevoked]
    limits: KitLimits


Nonce = Annotated[str, msgspec.Meta(min_length=16, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


class SyncScanIn(msgspec.Struct, forbid_unknown_fields=True):
    nonce: Nonce
    activity_id: uuid.UUID
    code: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    scanned_at: datetime
    """When the device scanned it, with a UTC offset."""


class SyncIn(msgspec.Struct, forbid_unknown_fields=True):
    device_id: Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
    scans: Annotated[list[SyncScanIn], msgspec.Meta(min_length=1, max_length=200)]
    sent_at: datetime | None = None
    """The device's clock when it sent the batch: off by more than the bound, every scan is refused
    ``clock_drift``."""


class SyncResultOut(msgspec.Struct, omit_defaults=True):
    nonce: str
    status: Literal["applied", "duplicate", "refused"]
    code: str | None = None
    """A refusal's error code."""
    attendance_id: uuid.UUID | None = None


class SyncOut(msgspec.Struct):
    results: list[SyncResultOut]


class ResolveIn(msgspec.Struct, forbid_unknown_fields=True):
    action: Literal["accept", "dismiss"]


class PendingScanOut(msgspec.Struct):
    id: uuid.UUID
    nonce: str
    device_id: str
    status: Literal["refused", "conflict"]
    code: str
    """The refusal's error code (``scan_conflict`` for a conflict)."""
    scanned_at: datetime
    member_id: uuid.UUID | None
    name: str
    attendance_id: uuid.UUID | None


class OfflineScanOut(msgspec.Struct):
    id: uuid.UUID
    nonce: str
    status: Literal["accepted", "dismissed"]
    attendance_id: uuid.UUID | None


class HoursOut(msgspec.Struct):
    community_id: uuid.UUID
    year: int | None
    minutes: int
    hours: float
    attendances: int
    points: int
    manual_minutes: int
    star_level: int = 0
    """星级志愿者, 0-5, from the member's cumulative recorded hours in every community (service.kit.stars)."""


class TeamIn(msgspec.Struct, forbid_unknown_fields=True):
    name: Title
    leader_id: uuid.UUID


class ScannerIn(msgspec.Struct, forbid_unknown_fields=True):
    member_id: uuid.UUID
    """A store clerk of the activity's community (not the caller)."""


class ScannerOut(msgspec.Struct):
    member_id: uuid.UUID
    name: Annotated[str, msgspec.Meta(max_length=NAME_MAX)]
    assigned_by: uuid.UUID
    created_at: datetime
    clerk: bool
    """Still holds the clerk role (a clerk who lost it no longer scans, though still listed)."""


class TeamMemberIn(msgspec.Struct, forbid_unknown_fields=True):
    member_id: uuid.UUID


class TeamMemberOut(msgspec.Struct):
    member_id: uuid.UUID
    name: Annotated[str, msgspec.Meta(max_length=NAME_MAX)]
    minutes: int


class TeamOut(msgspec.Struct):
    id: uuid.UUID
    name: str
    leader_id: uuid.UUID
    leader_name: str
    members: list[TeamMemberOut]
    total_minutes: int


class CorrectionIn(msgspec.Struct, forbid_unknown_fields=True):
    """The record as it should be: check-in and check-out times (with a zone), and why."""

    checked_in_at: AwareTime
    checked_out_at: AwareTime
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=500)]


class DecisionIn(msgspec.Struct, forbid_unknown_fields=True):
    note: Annotated[str, msgspec.Meta(max_length=500)] = ""


class CorrectionOut(msgspec.Struct):
    id: uuid.UUID
    attendance_id: uuid.UUID
    activity_id: uuid.UUID
    activity_title: str
    member_id: uuid.UUID
    status: Literal["pending", "approved", "rejected"]
    reason: str
    checked_in_at: datetime
    checked_out_at: datetime
    old_checked_in_at: datetime | None
    old_checked_out_at: datetime | None
    old_minutes: int
    old_points: int
    new_minutes: int | None = None
    new_points: int | None = None
    decision_note: str | None = None
    decided_at: datetime | None = None
    created_at: datetime | None = None
