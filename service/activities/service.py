"""Business transactions of activities: create, sign up, QR codes, check-in and out, close, hours.

Every function takes the caller's open session and never commits. Refusals are DomainErrors with the
stable codes of API.md and leave the database as it was (the request's transaction rolls back).
"""

from __future__ import annotations

import base64
import secrets
import sqlite3
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any, cast

import asyncpg
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from service import clock
from service.accounts import households as household_history
from service.accounts import service as accounts
from service.accounts.actor import Actor
from service.accounts.proposals import Proposed, gate
from service.accounts.views import (
    CommunityView,
    communities_of,
    community_timezone,
    holds_role,
    is_member,
    member_holds,
    with_caller,
)
from service.activities import codes, fastpath, rules
from service.activities.errors import (
    ActivityFull,
    ActivityHasAttendance,
    ActivityNotFound,
    ActivityNotOpen,
    ActivityNotPending,
    AlreadyAttended,
    AlreadyCheckedOut,
    ApproverConflict,
    AttendanceNotFound,
    CardInvalid,
    CheckinError,
    CheckinNotOpen,
    ConfirmationPending,
    CreatorConflict,
    InvalidActivity,
    InvalidLocation,
    InvalidName,
    InvalidNote,
    InvalidPolicy,
    InvalidTimes,
    LocationRequired,
    LoginEnded,
    ManualNotPending,
    ManualPending,
    MemberNotFound,
    NotCheckedIn,
    NotSignedUp,
    OutsideArea,
    QrExpired,
    QrInvalid,
    SameAdmin,
    ScannerAlreadyAssigned,
    ScannerNotClerk,
    ScannerNotFound,
    ScannerSelf,
    SecondOrganizerRequired,
    TeamNameTaken,
    TeamNotFound,
)
from service.activities.models import (
    Activity,
    ActivityPolicy,
    ActivityScanner,
    Attendance,
    MemberCard,
    ScanUse,
    Signup,
    Team,
    TeamMember,
)
from service.activities.schemas import Mode as PointsMode
from service.activities.schemas import PointsStatus, ScanStatus
from service.activities.views import (
    ACTIVITY_DAYS_MAX,
    COUNTED,
    attendance_status,
    checked_in_count,
    hours_leaderboard,
    hours_of,
    is_assigned_scanner,
    points_cap,
    require_community,
    require_role,
    signup_count,
    team_hours_leaderboard,
    team_members,
)
from service.audit.service import record, snapshot
from service.config import POINTS_PER_AWARD_MAX, TEXT_MAX, TITLE_MAX
from service.db import fast_paths_on, is_postgres
from service.errors import DomainError, Forbidden, raises
from service.ids import new_id
from service.kit import qr
from service.points import service as points

__all__ = [
    "ACTIVITY_DAYS_MAX",
    "CATEGORIES",
    "COUNTED",
    "KNOB_POINTS_CAP",
    "ActivityDraft",
    "CardSheet",
    "CheckinError",
    "CheckinResult",
    "CloseResult",
    "CodeSheet",
    "KioskCode",
    "KioskScreen",
    "PosterSheet",
    "ScanLanding",
    "add_team_member",
    "apply_points_cap",
    "approve_activity",
    "approve_manual",
    "assign_scanner",
    "attendance_status",
    "cancel_activity",
    "card_sheet",
    "check_in",
    "check_in_with_login",
    "checked_in_count",
    "close_activity",
    "close_overdue",
    "code_sheet",
    "create_activity",
    "create_team",
    "finish_after_close",
    "get_activity",
    "hours_leaderboard",
    "hours_of",
    "kiosk_code",
    "kiosk_screen",
    "lock_for_scans",
    "member_card",
    "organizer_activity",
    "peek_token",
    "points_cap",
    "poster_code",
    "poster_sheet",
    "qr_svg",
    "reject_manual",
    "remove_scanner",
    "request_manual",
    "revoke_card",
    "revoke_poster",
    "scan_at",
    "scan_card",
    "scan_landing",
    "scanned_before_close",
    "scanner_activity",
    "set_points_cap",
    "signup",
    "team_hours_leaderboard",
    "team_members",
    "update_activity",
]
"""The commands of activities. The read side is ``views``; the reads other domains call through this
module (``hours_of``, ``hours_leaderboard``, ``team_hours_leaderboard``, ``team_members``,
``attendance_status``, ``points_cap``, ``checked_in_count``) are re-exported from it."""

CATEGORIES = ("助老", "环保", "助残", "文明劝导", "治安巡逻", "文化", "其他")
CAPACITY_MAX = 100_000
RADIUS_M_MAX = 50_000
MANUAL_NOTE_MAX = 500

SCAN_REFUSALS: dict[str, type[CheckinError]] = {
    "manual_pending": ManualPending,
    "confirmation_pending": ConfirmationPending,
    "already_checked_out": AlreadyCheckedOut,
}
"""The refusals of ``rules.decide_scan`` by code."""
SCAN_ERRORS = (
    QrInvalid,
    QrExpired,
    Forbidden,
    LocationRequired,
    InvalidLocation,
    OutsideArea,
    CheckinNotOpen,
    ActivityFull,
    NotSignedUp,
    ManualPending,
    ConfirmationPending,
    AlreadyCheckedOut,
    points.award,
)
"""What a scan can be refused with, by whichever door it comes in (a QR code, a member's card)."""


@dataclass
class ActivityDraft:
    title: str
    starts_at: datetime
    ends_at: datetime
    points_mode: PointsMode
    points: int
    description: str = ""
    category: str | None = None
    team_id: uuid.UUID | None = None
    address: str | None = None
    lat: float | None = None
    lng: float | None = None
    radius_m: int | None = None
    capacity: int | None = None
    signup_required: bool = False
    points_max: int | None = None


@dataclass(frozen=True)
class CheckinResult:
    status: ScanStatus
    activity: Activity
    attendance: Attendance
    points_awarded: int
    repeated: bool = False
    """True when the scan only reported the current status (too soon to check out)."""
    over_budget: bool = False
    """The points wait: the community's issuance budget for the month is spent (they post when an
    official raises it or the month turns)."""

    @property
    def points_status(self) -> PointsStatus:
        """``on_check_out`` (nothing posts before the minimum stay), ``awaiting_confirmation`` (an
        organizer's own attendance: another organizer must confirm), ``posted`` or ``none``."""
        a = self.attendance
        if self.over_budget:
            return "over_budget"
        if a.needs_confirmation and a.approved_by is None and a.status in ("in", "pending"):
            return "awaiting_confirmation"
        if a.status == "in":
            return "on_check_out"
        return "posted" if a.status == "out" and a.points > 0 else "none"

    @property
    def points_pending(self) -> int:
        """Points that will post later (check-out or confirmation); per-hour ones are known at check-out."""
        a = self.attendance
        if a.status == "pending" or self.over_budget:
            return a.points
        if a.status == "in" and self.activity.points_mode == "per_attendance":
            return rules.points_for("per_attendance", self.activity.points, self.activity.points_max, 0)
        return 0


@dataclass(frozen=True)
class CloseResult:
    checked_out: int
    """Attendances finished by the close (absent ones not counted)."""
    points_posted: int
    absent: int
    awaiting_confirmation: int
    """Organizers' own attendances that wait for another organizer."""
    over_budget: int = 0
    """Attendances whose points wait for the community's issuance budget (积分待发放)."""


@dataclass(frozen=True)
class KioskCode:
    url: str
    token: str
    expires_at: datetime
    refresh_after_s: int


def _validate(d: ActivityDraft) -> None:
    d.title = " ".join(d.title.split())
    if not d.title or len(d.title) > TITLE_MAX:
        raise InvalidActivity(
            detail="%(field)s: 1-%(max)s characters", params={"field": "title", "max": TITLE_MAX}
        )
    if len(d.description) > TEXT_MAX:
        raise InvalidActivity(
            detail="%(field)s: at most %(max)s characters", params={"field": "description", "max": TEXT_MAX}
        )
    if d.starts_at.tzinfo is None or d.ends_at.tzinfo is None:
        raise InvalidActivity(detail="%(field)s: times need a UTC offset", params={"field": "starts_at"})
    if d.ends_at <= d.starts_at:
        raise InvalidActivity(detail="%(field)s: must be after starts_at", params={"field": "ends_at"})
    if d.ends_at - d.starts_at > timedelta(days=ACTIVITY_DAYS_MAX):
        raise InvalidActivity(
            detail="%(field)s: an activity lasts at most %(max)s days",
            params={"field": "ends_at", "max": ACTIVITY_DAYS_MAX},
        )
    if d.points_mode not in ("per_attendance", "per_hour"):
        raise InvalidActivity(detail="%(field)s: per_attendance or per_hour", params={"field": "points_mode"})
    if not 0 <= d.points <= POINTS_PER_AWARD_MAX:
        raise InvalidActivity(
            detail="%(field)s: 0-%(max)s", params={"field": "points", "max": POINTS_PER_AWARD_MAX}
        )
    if d.points_max is not None and not 0 <= d.points_max <= POINTS_PER_AWARD_MAX:
        raise InvalidActivity(
            detail="%(field)s: 0-%(max)s", params={"field": "points_max", "max": POINTS_PER_AWARD_MAX}
        )
    if d.capacity is not None and not 1 <= d.capacity <= CAPACITY_MAX:
        raise InvalidActivity(
            detail="%(field)s: 1-%(max)s", params={"field": "capacity", "max": CAPACITY_MAX}
        )
    if d.category is not None and d.category not in CATEGORIES:
        raise InvalidActivity(
            detail="%(field)s: one of %(choices)s",
            params={"field": "category", "choices": " ".join(CATEGORIES)},
        )
    geo = (d.lat, d.lng, d.radius_m)
    if any(v is not None for v in geo):
        if d.lat is None or d.lng is None or d.radius_m is None:
            raise InvalidActivity(
                detail="%(field)s: lat, lng and radius_m go together", params={"field": "radius_m"}
            )
        if not (-90 <= d.lat <= 90 and -180 <= d.lng <= 180 and 10 <= d.radius_m <= RADIUS_M_MAX):
            raise InvalidActivity(
                detail="%(field)s: lat -90..90, lng -180..180, radius 10-%(max)s m",
                params={"field": "radius_m", "max": RADIUS_M_MAX},
            )


# ---------------------------------------------------------------- activities


@raises(require_community, require_role, InvalidActivity)
async def create_activity(
    db: AsyncSession, actor: Actor, community_id: uuid.UUID, d: ActivityDraft
) -> Activity:
    await require_community(db, community_id)
    await require_role(db, actor, community_id, "organizer")
    _validate(d)
    if d.team_id is not None:
        team = await db.get(Team, d.team_id)
        if team is None or team.community_id != community_id:
            raise InvalidActivity(
                detail="%(field)s: no such team in this community", params={"field": "team_id"}
            )
    activity = Activity(
        community_id=community_id,
        title=d.title,
        description=d.description,
        category=d.category,
        team_id=d.team_id,
        starts_at=d.starts_at,
        ends_at=d.ends_at,
        address=d.address,
        lat=d.lat,
        lng=d.lng,
        radius_m=d.radius_m,
        capacity=d.capacity,
        signup_required=d.signup_required,
        points_mode=d.points_mode,
        points=d.points,
        points_max=d.points_max,
        status="pending_approval" if await _over_cap(db, community_id, d) else "open",
        secret=secrets.token_hex(32),
        poster_version=1,
        created_by=actor.member_id,
    )
    db.add(activity)
    await db.flush()
    await _audit_activity(db, actor, activity, "activity_created", snapshot(activity, *_AUDITED_FIELDS))
    return activity


_AUDITED_FIELDS = (
    "title",
    "starts_at",
    "ends_at",
    "points_mode",
    "points",
    "points_max",
    "status",
    "capacity",
)
"""What an activity's audit events show of it (its worth, time and state)."""


async def _audit_activity(
    db: AsyncSession,
    actor: Actor,
    activity: Activity,
    action: str,
    detail: dict[str, Any] | None = None,
    *,
    subject_member_id: uuid.UUID | None = None,
) -> None:
    await record(
        db,
        actor_id=actor.member_id,
        action=action,
        community_id=activity.community_id,
        subject_member_id=subject_member_id,
        detail={"activity_id": str(activity.id), "title": activity.title, **(detail or {})},
    )


async def _activity(db: AsyncSession, activity_id: uuid.UUID, *, lock: bool = False) -> Activity:
    stmt = select(Activity).where(Activity.id == activity_id)
    if lock:
        stmt = stmt.with_for_update()
    activity = (await db.execute(stmt.execution_options(populate_existing=lock))).scalar_one_or_none()
    if activity is None:
        raise ActivityNotFound()
    return activity


@raises(ActivityNotFound, require_role)
async def get_activity(db: AsyncSession, actor: Actor, activity_id: uuid.UUID) -> Activity:
    activity = await _activity(db, activity_id)
    await require_role(db, actor, activity.community_id, "member")
    return activity


@raises(ActivityNotFound, require_role)
async def organizer_activity(
    db: AsyncSession, actor: Actor, activity_id: uuid.UUID, *, lock: bool = False
) -> Activity:
    activity = await _activity(db, activity_id, lock=lock)
    await require_role(db, actor, activity.community_id, "organizer")
    return activity


@raises(ActivityNotFound, require_role)
async def scanner_activity(
    db: AsyncSession, actor: Actor, activity_id: uuid.UUID, *, lock: bool = False
) -> Activity:
    """The activity, for a caller who may check people in at it with the offline scanner: an organizer
    of its community (admins pass every check), or a store clerk an organizer named to scan at this
    activity who still holds the clerk role there. Checking in issues points: a clerk named nowhere,
    or at another activity, is refused."""
    activity = await _activity(db, activity_id, lock=lock)
    roles = await require_role(db, actor, activity.community_id, "organizer", "clerk")
    if roles.any("organizer") or await is_assigned_scanner(db, activity.id, actor.member_id):
        return activity
    raise Forbidden(detail="An organizer has not named you to scan at this activity.")


@raises(organizer_activity, ActivityNotOpen, ScannerSelf, ScannerNotClerk, ScannerAlreadyAssigned)
async def assign_scanner(
    db: AsyncSession, actor: Actor, activity_id: uuid.UUID, member_id: uuid.UUID
) -> ActivityScanner:
    """An organizer names a store clerk of the activity's community to scan at this one activity
    (while it is open or waits for approval); audited. Nobody names themself."""
    activity = await organizer_activity(db, actor, activity_id, lock=True)
    if activity.status not in ("open", "pending_approval"):
        raise ActivityNotOpen(detail="Helpers are named only to an open activity.")
    if member_id == actor.member_id:
        raise ScannerSelf()
    if not await holds_role(db, member_id, activity.community_id, "clerk"):
        raise ScannerNotClerk()
    if await is_assigned_scanner(db, activity.id, member_id):
        raise ScannerAlreadyAssigned()
    row = ActivityScanner(
        community_id=activity.community_id,
        activity_id=activity.id,
        member_id=member_id,
        assigned_by=actor.member_id,
        created_at=clock.now(),
    )
    db.add(row)
    await db.flush()
    await _audit_activity(db, actor, activity, "scanner_assigned", subject_member_id=member_id)
    return row


@raises(organizer_activity, ScannerNotFound)
async def remove_scanner(
    db: AsyncSession, actor: Actor, activity_id: uuid.UUID, member_id: uuid.UUID
) -> None:
    """An organizer takes a clerk off the activity's scanning helpers (whatever its status); audited."""
    activity = await organizer_activity(db, actor, activity_id, lock=True)
    row = await db.scalar(
        select(ActivityScanner).where(
            ActivityScanner.activity_id == activity.id, ActivityScanner.member_id == member_id
        )
    )
    if row is None:
        raise ScannerNotFound()
    await db.delete(row)
    await db.flush()
    await _audit_activity(db, actor, activity, "scanner_removed", subject_member_id=member_id)


@raises(organizer_activity, ActivityNotOpen, InvalidActivity)
async def update_activity(
    db: AsyncSession, actor: Actor, activity_id: uuid.UUID, changes: dict[str, Any]
) -> Activity:
    activity = await organizer_activity(db, actor, activity_id, lock=True)
    if activity.status not in ("open", "pending_approval"):
        raise ActivityNotOpen(detail="A closed or cancelled activity cannot be edited.")
    fields = ActivityDraft.__dataclass_fields__
    draft = ActivityDraft(**{k: getattr(activity, k) for k in fields})
    for key, value in changes.items():
        if key not in fields:
            raise InvalidActivity(detail="%(field)s: cannot be changed", params={"field": key})
        setattr(draft, key, value)
    _validate(draft)
    worth_changed = any(
        getattr(draft, k) != getattr(activity, k) for k in ("points", "points_max", "points_mode")
    )
    changed = [k for k in fields if getattr(draft, k) != getattr(activity, k)] + ["status"]
    before = snapshot(activity, *changed)
    for key in fields:
        setattr(activity, key, getattr(draft, key))
    if await _over_cap(db, activity.community_id, draft):
        if worth_changed:  # an approval covers the points it saw, not a raise after it
            activity.status, activity.approved_by = "pending_approval", None
    elif activity.status == "pending_approval":
        activity.status = "open"
    await db.flush()
    detail = {"before": before, "after": snapshot(activity, *changed)}
    await _audit_activity(db, actor, activity, "activity_updated", detail)
    return activity


# ---------------------------------------------------------------- points cap (separation of duties)


KNOB_POINTS_CAP = "activity_points_cap"
"""The proposals' name of the cap (``service.proposals`` applies an approved change through
:func:`apply_points_cap`)."""


@raises(require_community, require_role, InvalidPolicy)
async def set_points_cap(db: AsyncSession, actor: Actor, community_id: uuid.UUID, cap: int) -> int | Proposed:
    """An admin lowers the cap at once; a higher cap waits for a second person (a :class:`Proposed`).
    Activities created or repriced afterwards are checked against the cap in force."""
    await require_community(db, community_id)
    await require_role(db, actor, community_id, "admin")
    _check_cap(cap)
    row = await db.get(ActivityPolicy, community_id, with_for_update=True)
    current = rules.POINTS_CAP_DEFAULT if row is None else row.points_cap
    before, after = {"points_cap": current}, {"points_cap": cap}
    proposed = await gate(db, actor, community_id, KNOB_POINTS_CAP, before, after, widens=cap > current)
    if proposed is not None:
        return proposed
    await _store_cap(db, community_id, row, cap, actor.member_id)
    return cap


@raises(InvalidPolicy)
async def apply_points_cap(
    db: AsyncSession,
    community_id: uuid.UUID,
    target_id: uuid.UUID | None,
    before: dict[str, Any],
    after: dict[str, Any],
    by: uuid.UUID,
) -> bool:
    """Apply an approved cap, re-validated; False (nothing changed) if the cap is no longer ``before``."""
    row = await db.get(ActivityPolicy, community_id, with_for_update=True)
    current = rules.POINTS_CAP_DEFAULT if row is None else row.points_cap
    if {"points_cap": current} != before:
        return False
    _check_cap(after["points_cap"])
    await _store_cap(db, community_id, row, after["points_cap"], by)
    return True


def _check_cap(cap: object) -> None:
    if not isinstance(cap, int) or not 0 <= cap <= POINTS_PER_AWARD_MAX:
        raise InvalidPolicy(
            detail="%(field)s: 0-%(max)s", params={"field": "points_cap", "max": POINTS_PER_AWARD_MAX}
        )


async def _store_cap(
    db: AsyncSession, community_id: uuid.UUID, row: ActivityPolicy | None, cap: int, by: uuid.UUID
) -> None:
    if row is None:
        row = ActivityPolicy(community_id=community_id, points_cap=cap, updated_at=clock.now())
        db.add(row)
    row.points_cap, row.updated_at, row.updated_by = cap, clock.now(), by
    await db.flush()


async def _over_cap(db: AsyncSession, community_id: uuid.UUID, d: ActivityDraft) -> bool:
    return rules.needs_approval(d.points_mode, d.points, d.points_max, await points_cap(db, community_id))


@raises(
    ActivityNotFound,
    require_role,
    ActivityNotPending,
    SameAdmin,
    CreatorConflict,
    household_history.conflicted,
)
async def approve_activity(db: AsyncSession, actor: Actor, activity_id: uuid.UUID) -> Activity:
    """An admin other than its creator lets an activity above the cap open for check-in."""
    activity = await _activity(db, activity_id, lock=True)
    await require_role(db, actor, activity.community_id, "admin")
    if activity.status != "pending_approval":
        raise ActivityNotPending()
    if activity.created_by == actor.member_id:
        raise SameAdmin()
    if await household_history.conflicted(
        db, activity.community_id, actor.member_id, {activity.created_by}, activity.created_at
    ):
        raise CreatorConflict()
    activity.status, activity.approved_by = "open", actor.member_id
    await db.flush()
    await _audit_activity(db, actor, activity, "activity_approved", snapshot(activity, *_AUDITED_FIELDS))
    return activity


@raises(organizer_activity, ActivityNotOpen, ActivityHasAttendance)
async def cancel_activity(db: AsyncSession, actor: Actor, activity_id: uuid.UUID) -> Activity:
    activity = await organizer_activity(db, actor, activity_id, lock=True)
    if activity.status not in ("open", "pending_approval"):
        raise ActivityNotOpen()
    if await checked_in_count(db, activity.id, with_pending=True):
        raise ActivityHasAttendance()
    activity.status = "cancelled"
    activity.closed_at = clock.now()
    await db.flush()
    await _audit_activity(db, actor, activity, "activity_cancelled")
    return activity


@raises(ActivityNotFound, require_role, CheckinNotOpen, ActivityFull)
async def signup(db: AsyncSession, actor: Actor, activity_id: uuid.UUID) -> Signup:
    # The activity row is locked so two last-place sign-ups cannot both fit.
    activity = await _activity(db, activity_id, lock=True)
    await require_role(db, actor, activity.community_id, "member")
    if activity.status != "open" or activity.ends_at <= clock.now():
        raise CheckinNotOpen(detail="This activity is not open for sign-up.")
    existing = await db.scalar(
        select(Signup).where(Signup.activity_id == activity.id, Signup.member_id == actor.member_id)
    )
    if existing is not None:
        return existing
    if activity.capacity is not None and await signup_count(db, activity.id) >= activity.capacity:
        raise ActivityFull()
    row = Signup(community_id=activity.community_id, activity_id=activity.id, member_id=actor.member_id)
    db.add(row)
    await db.flush()
    return row


# ---------------------------------------------------------------- QR codes


def check_url(public_url: str, token: str) -> str:
    return f"{public_url.rstrip('/')}/c/{token}"


@raises(organizer_activity)
async def kiosk_code(db: AsyncSession, actor: Actor, activity_id: uuid.UUID, public_url: str) -> KioskCode:
    activity = await organizer_activity(db, actor, activity_id)
    now = clock.now()
    step = rules.kiosk_step(now)
    token = rules.make_token(rules.KIND_KIOSK, activity.id, step, activity.secret)
    next_step_ts = (step + 1) * rules.KIOSK_STEP_SECONDS
    expires_at = datetime.fromtimestamp(next_step_ts + rules.KIOSK_STEP_SECONDS, tz=now.tzinfo)
    refresh = max(1, int(next_step_ts - now.timestamp()) + 1)
    return KioskCode(check_url(public_url, token), token, expires_at, min(refresh, rules.KIOSK_STEP_SECONDS))


@raises(organizer_activity)
async def poster_code(db: AsyncSession, actor: Actor, activity_id: uuid.UUID, public_url: str) -> str:
    activity = await organizer_activity(db, actor, activity_id)
    token = rules.make_token(rules.KIND_POSTER, activity.id, activity.poster_version, activity.secret)
    return check_url(public_url, token)


@raises(organizer_activity)
async def revoke_poster(db: AsyncSession, actor: Actor, activity_id: uuid.UUID) -> Activity:
    """Every printed poster stops working; a new one must be printed."""
    activity = await organizer_activity(db, actor, activity_id, lock=True)
    activity.poster_version += 1
    await db.flush()
    await _audit_activity(db, actor, activity, "poster_revoked", {"poster_version": activity.poster_version})
    return activity


# ---------------------------------------------------------------- check-in and out


async def _verified_activity(db: AsyncSession, token: str, moment: datetime) -> tuple[Activity, str]:
    """The activity a token belongs to and its evidence kind, or ``qr_invalid`` / ``qr_expired``."""
    parsed = rules.parse_token(token)
    activity = await db.get(Activity, parsed.activity_id) if parsed else None
    evidence = _evidence(parsed, activity, moment)
    return cast(Activity, activity), evidence


async def _activity_and_roles(
    db: AsyncSession, parsed: rules.ParsedToken | None, member_id: uuid.UUID
) -> tuple[Activity | None, list[tuple[str, uuid.UUID | None]], Any]:
    """The (parsed) token's activity, the caller's memberships in its community and the caller's member
    row (token version, name, phone, platform admin; ``None`` if gone), in one round trip."""
    if parsed is None:
        return None, [], None
    rows = (
        await db.execute(
            with_caller(select(Activity).select_from(Activity), member_id, Activity.community_id).where(
                Activity.id == parsed.activity_id
            )
        )
    ).all()
    if not rows:
        return None, [], None
    member = rows[0] if rows[0].token_version is not None else None
    return rows[0][0], [(r.role, r.partner_id) for r in rows if r.role is not None], member


def _evidence(parsed: rules.ParsedToken | None, activity: Activity | None, moment: datetime) -> str:
    """The evidence kind of a genuine, current code (``kiosk``/``poster``), else the refusal."""
    if parsed is None or activity is None or not rules.mac_ok(parsed, activity.secret):
        raise QrInvalid()
    if parsed.kind in (rules.KIND_KIOSK, rules.KIND_KIOSK_OFFLINE):
        step = rules.kiosk_step(moment)
        if parsed.counter > step:
            raise QrInvalid(detail="This code is not valid yet.")
        if parsed.counter < step - 1:
            raise QrExpired()
        if parsed.kind == rules.KIND_KIOSK_OFFLINE and moment.timestamp() > parsed.valid_until:
            raise QrExpired()  # the kiosk's key ran out: the kiosk page must be reloaded online
        return "kiosk"
    if parsed.counter != activity.poster_version:
        raise QrInvalid(detail="This poster was withdrawn by the organizer.")
    if moment > activity.ends_at + timedelta(seconds=rules.POSTER_GRACE_SECONDS):
        raise QrExpired(detail="This poster's activity is over.")
    return "poster"


def _token_key(activity: Activity) -> tuple[object, ...]:
    """What ``_evidence`` reads of an activity: the same key, the same answer (at the same moment)."""
    return (activity.id, activity.secret, activity.poster_version, activity.ends_at)


@dataclass(frozen=True)
class _TokenCheck:
    """A scan's token checked once (``_evidence``) against one version of its activity: the evidence
    kind, or the refusal. The fast path makes it against its copy of the activity; if it then declines,
    the ordinary path takes the answer as it is when the row it reads has the same key."""

    key: tuple[object, ...]
    evidence: str | None
    refusal: DomainError | None

    @classmethod
    def of(cls, parsed: rules.ParsedToken, activity: Activity, moment: datetime) -> _TokenCheck:
        try:
            return cls(_token_key(activity), _evidence(parsed, activity, moment), None)
        except DomainError as exc:
            return cls(_token_key(activity), None, exc)


def _evidence_once(
    parsed: rules.ParsedToken | None, activity: Activity | None, moment: datetime, done: _TokenCheck | None
) -> str:
    """``_evidence``, unless ``done`` already answered it for this version of the activity."""
    if done is None or activity is None or done.key != _token_key(activity):
        return _evidence(parsed, activity, moment)  # none yet, or the fast path's copy was out of date
    if done.refusal is not None:
        raise done.refusal
    return cast(str, done.evidence)


def _check_geofence(activity: Activity, lat: float | None, lng: float | None) -> None:
    if activity.lat is None or activity.lng is None or activity.radius_m is None:
        return
    if lat is None or lng is None:
        raise LocationRequired()
    if not (-90 <= lat <= 90 and -180 <= lng <= 180):
        raise InvalidLocation(detail="%(field)s: not a valid location", params={"field": "lat"})
    if rules.distance_m(lat, lng, activity.lat, activity.lng) > activity.radius_m:
        raise OutsideArea()


def _scan_moment(pending_scan: rules.PendingScan | None) -> datetime:
    """When the scan happened: a logged-out phone's first opening of the URL counts if it was at most
    ``PENDING_SCAN_SECONDS`` ago (so the login detour does not expire the code), otherwise now."""
    now = clock.now()
    if pending_scan is not None:
        scanned_at = datetime.fromtimestamp(pending_scan.first_seen, tz=now.tzinfo)
        if timedelta(0) <= now - scanned_at <= timedelta(seconds=rules.PENDING_SCAN_SECONDS):
            return scanned_at
    return now


@raises(ActivityNotFound, *SCAN_ERRORS)
async def check_in(
    db: AsyncSession,
    actor: Actor,
    token: str,
    *,
    lat: float | None = None,
    lng: float | None = None,
    device_id: str | None = None,
    pending_scan: rules.PendingScan | None = None,
) -> CheckinResult:
    """A member scanned an activity's code: check in, check out, or report the current status.

    ``pending_scan`` is a logged-out phone's first opening of the URL (a cookie bound to that
    browser); it is spent here: a second use, on any worker, is ``qr_expired``.
    """
    moment = _scan_moment(pending_scan)
    parsed = rules.parse_token(token)
    found, held, _member = await _activity_and_roles(db, parsed, actor.member_id)
    evidence = _evidence(parsed, found, moment)
    return await _checked_scan(
        db, actor, cast(Activity, found), held, evidence, moment, lat, lng, device_id, pending_scan
    )


@raises(LoginEnded, accounts.actor_for, check_in)  # the same scan, with the login checked here
async def check_in_with_login(
    db: AsyncSession,
    member_id: uuid.UUID,
    token_version: object,
    token: str,
    *,
    lat: float | None = None,
    lng: float | None = None,
    device_id: str | None = None,
    pending_scan: rules.PendingScan | None = None,
) -> tuple[Actor, CheckinResult]:
    """``check_in`` for a login token verified in memory (``accounts.decode_token``): the member's
    token version is checked in the same query that reads the activity and the memberships, so a
    check-in reads the database once before it writes. Raises ``token_revoked`` first, like the
    ``actor`` dependency would.

    On PostgreSQL, outside a transaction (no Idempotency-Key), the scan goes to the worker's batch
    (``fastpath``: one database call for many scans, re-checked there); whatever that path cannot
    answer (refusals included) runs here as before, with the token as the fast path parsed and
    checked it (``_TokenCheck``): once per scan."""
    parsed = rules.parse_token(token)
    moment = _scan_moment(pending_scan)
    checked: _TokenCheck | None = None
    if fast_paths_on(db) and pending_scan is None and not db.in_transaction():
        fast, checked = await _fast_scan(db, member_id, token_version, parsed, moment, lat, lng, device_id)
        if fast is not None:
            return fast
    found, held, member = await _activity_and_roles(db, parsed, member_id)
    if found is None:  # no such activity: the login decides the error first, as for other routes
        actor = await accounts.actor_for(db, member_id, token_version)
    elif member is None or member.token_version != token_version:
        raise LoginEnded()
    else:
        actor = accounts.remember_token_version(
            member_id, member.token_version, member.name, member.phone, member.is_platform_admin
        )[2]
    evidence = _evidence_once(parsed, found, moment, checked)
    result = await _checked_scan(
        db, actor, cast(Activity, found), held, evidence, moment, lat, lng, device_id, pending_scan
    )
    return actor, result


async def _fast_scan(
    db: AsyncSession,
    member_id: uuid.UUID,
    token_version: object,
    parsed: rules.ParsedToken | None,
    moment: datetime,
    lat: float | None,
    lng: float | None,
    device_id: str | None,
) -> tuple[tuple[Actor, CheckinResult] | None, _TokenCheck | None]:
    """The scan through ``fastpath`` when every in-memory check passes, else ``None``; and the token's
    check against the worker's copy of the activity, if it got that far."""
    if parsed is None or not isinstance(token_version, int) or not isinstance(db.bind, AsyncEngine):
        return None, None
    checked: _TokenCheck | None = None
    try:
        cached = await fastpath.activity(db.bind, parsed.activity_id)
        if cached is None:
            return None, None
        activity, fingerprint = cached
        checked = _TokenCheck.of(parsed, activity, moment)
        if checked.evidence is None or not _inside(activity, lat, lng) or activity.status != "open":
            fastpath.forget_activity(activity.id)  # maybe a new poster version: read it again next time
            return None, checked
        evidence = checked.evidence
        if activity.community_id not in fastpath.SHARDS_READY and is_postgres(db):
            try:
                async with db.begin():  # once per worker and community: the batch posts from any shard
                    await points.issuance_shards(db, activity.community_id)
            except DomainError:
                return None, checked
            fastpath.SHARDS_READY.add(activity.community_id)
        scanned = await fastpath.scan(
            db.bind,
            fastpath.Scan(
                member_id=member_id,
                token_version=token_version,
                activity_id=activity.id,
                fingerprint=fingerprint,
                evidence=evidence,
                moment=moment,
                device_id=device_id,
                plain=_plain_check_in(activity, moment),
                memo=activity.title[:TITLE_MAX].strip(),
                now=clock.now(),
            ),
        )
    except (OSError, SQLAlchemyError, asyncpg.PostgresError, sqlite3.Error):
        return None, checked  # the batch call failed as a whole: nothing written, the ordinary path decides
    if scanned is None:
        return None, checked
    actor = accounts.remember_token_version(
        member_id, scanned.token_version, scanned.name, scanned.phone, scanned.is_platform_admin
    )[2]
    status: ScanStatus = "checked_out" if scanned.outcome == "checked_out" else "checked_in"
    result = CheckinResult(
        status=status,
        activity=activity,
        attendance=scanned.attendance,
        points_awarded=scanned.awarded,
        repeated=scanned.outcome == "repeated",
    )
    return (actor, result), checked


def _inside(activity: Activity, lat: float | None, lng: float | None) -> bool:
    """``_check_geofence`` passes (the fast path leaves any refusal to the ordinary path)."""
    try:
        _check_geofence(activity, lat, lng)
    except DomainError:
        return False
    return True


async def _checked_scan(
    db: AsyncSession,
    actor: Actor,
    activity: Activity,
    held: list[tuple[str, uuid.UUID | None]],
    evidence: str,
    moment: datetime,
    lat: float | None,
    lng: float | None,
    device_id: str | None,
    pending_scan: rules.PendingScan | None,
) -> CheckinResult:
    accounts.has_role(actor, held, "member")
    _check_geofence(activity, lat, lng)
    if pending_scan is not None:
        await _spend_scan(db, activity, actor.member_id, pending_scan.nonce)
    organizes = (
        actor.is_platform_admin
        or activity.created_by == actor.member_id
        or any(role in ("organizer", "admin") for role, _ in held)
    )
    return await _scan(
        db, activity, actor.member_id, evidence, moment, device_id=device_id, organizes=organizes
    )


async def _spend_scan(db: AsyncSession, activity: Activity, member_id: uuid.UUID, nonce: str) -> None:
    """Record a pending scan as used; the unique nonce makes a copy or replay fail on every worker."""
    insert = pg_insert if is_postgres(db) else sqlite_insert
    stmt = (
        insert(ScanUse)
        .values(
            id=new_id(),
            community_id=activity.community_id,
            nonce=nonce,
            activity_id=activity.id,
            member_id=member_id,
            created_at=clock.now(),
        )
        .on_conflict_do_nothing()
        .returning(ScanUse.id)
    )
    if (await db.execute(stmt)).scalar_one_or_none() is None:
        raise QrExpired(detail="This scan was already used: scan the code on the screen again.")


async def _organizes(db: AsyncSession, activity: Activity, member_id: uuid.UUID) -> bool:
    """Whether the member created the activity or is an organizer or admin of its community."""
    if member_id == activity.created_by:
        return True
    return await member_holds(db, member_id, activity.community_id, "organizer", "admin")


async def _award(
    db: AsyncSession, activity: Activity, att: Attendance, actor_id: uuid.UUID | None
) -> tuple[int, bool]:
    """Post the attendance's points: (points posted, whether they wait for the month's budget)."""
    if att.points <= 0:
        return 0, False
    result = await points.award(
        db,
        community_id=activity.community_id,
        member_id=att.member_id,
        points=att.points,
        code="checkin",
        memo=activity.title[:TITLE_MAX],
        ref_type="attendance",
        ref_id=str(att.id),
        actor_id=actor_id,
        idempotency_key=f"attendance:{att.id}",
    )
    return (0, True) if result.pending else (att.points, False)


async def _closed_meanwhile(db: AsyncSession, activity: Activity) -> bool:
    """Whether the activity was closed since it was read, asked under its key-share lock (PostgreSQL).

    A close locks the activity (FOR UPDATE) before it reads who is still in, so a scan holding this
    lock is waited for and then checked out and paid by the close, and a scan that comes after a close
    sees it closed: no scan is answered "checked in" and then left ``in`` on a closed activity. The
    batch (``jifen_scan_batch``) takes the same lock. SQLite's one writer needs no lock."""
    if not is_postgres(db):
        return False
    # A place-limited activity is locked FOR UPDATE below anyway (the capacity count): take that lock
    # now, not a key-share lock first, which two scans would then both try to upgrade (a deadlock).
    limited = activity.capacity is not None and not activity.signup_required
    query = select(Activity.status).where(Activity.id == activity.id)
    status = await db.scalar(
        query.with_for_update() if limited else query.with_for_update(read=True, key_share=True)
    )
    return status != "open"


async def _scan(
    db: AsyncSession,
    activity: Activity,
    member_id: uuid.UUID,
    evidence: str,
    moment: datetime,
    *,
    device_id: str | None = None,
    scanned_by: uuid.UUID | None = None,
    organizes: bool | None = None,
    late: bool = False,
) -> CheckinResult:
    """``organizes``: whether the member organizes here (their own attendance waits for another
    organizer's confirmation); ``None`` looks it up. ``late``: a scan uploaded after the activity was
    closed counts if it was made before the close (``scanned_before_close``)."""
    if activity.status == "pending_approval":
        raise CheckinNotOpen(detail="This activity is waiting for an admin's approval.")
    if not (late and scanned_before_close(activity, moment)) and (
        activity.status != "open" or await _closed_meanwhile(db, activity)
    ):
        raise CheckinNotOpen()
    if _plain_check_in(activity, moment):
        # Most scans are first scans: try the insert first (one round trip instead of three); a
        # conflict means the member has an attendance already and the full path below decides.
        inserted = await _insert_attendance(
            db, activity, member_id, evidence, moment, device_id, scanned_by, organizes
        )
        if inserted is not None:  # nothing posts at check-in (scan-and-walk-away)
            return CheckinResult("checked_in", activity, inserted, 0)
    att = await db.scalar(
        select(Attendance)
        .where(Attendance.activity_id == activity.id, Attendance.member_id == member_id)
        .with_for_update()
    )
    try:
        decision = rules.decide_scan(
            att.status if att else None,
            att.checked_in_at if att else None,
            moment,
            manual=att is None or att.evidence == "manual",
        )
    except ValueError as exc:
        raise SCAN_REFUSALS.get(str(exc), AlreadyCheckedOut)() from exc
    if att is not None and decision == "status":
        return CheckinResult("checked_in", activity, att, 0, repeated=True)
    if att is not None:
        return await _check_out(db, activity, att, moment, scanned_by)
    return await _check_in(db, activity, member_id, evidence, moment, device_id, scanned_by, organizes)


async def _check_in(
    db: AsyncSession,
    activity: Activity,
    member_id: uuid.UUID,
    evidence: str,
    moment: datetime,
    device_id: str | None,
    scanned_by: uuid.UUID | None,
    organizes: bool | None = None,
) -> CheckinResult:
    if not (
        activity.starts_at - timedelta(seconds=rules.CHECKIN_EARLY_SECONDS) <= moment <= activity.ends_at
    ):
        raise CheckinNotOpen(detail="Check-in is open from shortly before the start to the end.")
    if activity.signup_required:
        signed = await db.scalar(
            select(Signup.id).where(Signup.activity_id == activity.id, Signup.member_id == member_id)
        )
        if signed is None:
            raise NotSignedUp()
    elif activity.capacity is not None:
        # Lock the activity row so the last places cannot be taken twice.
        await _activity(db, activity.id, lock=True)
        if await checked_in_count(db, activity.id, with_pending=True) >= activity.capacity:
            raise ActivityFull()
    inserted = await _insert_attendance(
        db, activity, member_id, evidence, moment, device_id, scanned_by, organizes
    )
    if inserted is not None:  # nothing posts at check-in (scan-and-walk-away)
        return CheckinResult("checked_in", activity, inserted, 0)
    # a concurrent scan of the same member won: report its result
    att = await db.scalar(
        select(Attendance)
        .where(Attendance.activity_id == activity.id, Attendance.member_id == member_id)
        .execution_options(populate_existing=True)
    )
    if att is None:
        raise RuntimeError("attendance vanished after insert")
    return CheckinResult("checked_in", activity, att, 0, repeated=True)


def _plain_check_in(activity: Activity, moment: datetime) -> bool:
    """A first scan needing no sign-up or capacity check, inside the check-in window."""
    return (
        not activity.signup_required
        and activity.capacity is None
        and activity.starts_at - timedelta(seconds=rules.CHECKIN_EARLY_SECONDS) <= moment <= activity.ends_at
    )


async def _insert_attendance(
    db: AsyncSession,
    activity: Activity,
    member_id: uuid.UUID,
    evidence: str,
    moment: datetime,
    device_id: str | None,
    scanned_by: uuid.UUID | None,
    organizes: bool | None = None,
) -> Attendance | None:
    """Insert the member's attendance (status ``in``) and return it; ``None`` if one exists already."""
    values = {
        "id": new_id(),
        "community_id": activity.community_id,
        "activity_id": activity.id,
        "member_id": member_id,
        "status": "in",
        "evidence": evidence,
        "checked_in_at": moment,
        "device_id": device_id,
        "scanned_by": scanned_by,
        "minutes": 0,
        "points": 0,  # nothing posts at check-in: scan-and-walk-away earns nothing
        # A scanner's own attendance (a clerk named to scan, scanning their own code) waits for an
        # organizer like an organizer's own: whoever checks people in does not pay themself.
        "needs_confirmation": scanned_by == member_id
        or (organizes if organizes is not None else await _organizes(db, activity, member_id)),
        "created_at": clock.now(),
    }
    insert = pg_insert if is_postgres(db) else sqlite_insert
    stmt = insert(Attendance).values(**values).on_conflict_do_nothing().returning(Attendance)
    inserted: Attendance | None = await db.scalar(stmt)
    return inserted


def _finish(activity: Activity, att: Attendance, out_at: datetime) -> None:
    att.checked_out_at = max(out_at, att.checked_in_at)
    att.minutes = rules.minutes_inside(
        att.checked_in_at, att.checked_out_at, activity.starts_at, activity.ends_at
    )
    att.points = rules.points_for(activity.points_mode, activity.points, activity.points_max, att.minutes)
    att.status = "out"


async def _check_out(
    db: AsyncSession, activity: Activity, att: Attendance, moment: datetime, actor_id: uuid.UUID | None
) -> CheckinResult:
    """Finish an attendance and post its points, unless it is an organizer's own (then it waits)."""
    _finish(activity, att, moment)
    awarded, over_budget = 0, False
    if att.needs_confirmation and att.approved_by is None:
        att.status = "pending"
    else:
        awarded, over_budget = await _award(db, activity, att, actor_id or att.member_id)
    await db.flush()
    return CheckinResult("checked_out", activity, att, awarded, over_budget=over_budget)


@raises(organizer_activity, ActivityNotOpen, NotCheckedIn, points.award)
async def close_activity(
    db: AsyncSession, actor: Actor, activity_id: uuid.UUID, absent_member_ids: Sequence[uuid.UUID] = ()
) -> CloseResult:
    """Close: people who left early (``absent_member_ids``, still checked in) get no points; everyone
    else still in is checked out and their points post."""
    activity = await organizer_activity(db, actor, activity_id, lock=True)
    if activity.status != "open":
        raise ActivityNotOpen()
    result = await _close(db, activity, actor.member_id, set(absent_member_ids))
    detail = {"absent_member_ids": sorted(str(m) for m in absent_member_ids), **asdict(result)}
    await _audit_activity(db, actor, activity, "activity_closed", detail)
    return result


async def _close(
    db: AsyncSession, activity: Activity, actor_id: uuid.UUID | None, absent: set[uuid.UUID] | None = None
) -> CloseResult:
    now = clock.now()
    absent = absent or set()
    still_in = await _still_in(db, activity)
    unknown = absent - {att.member_id for att in still_in}
    if unknown:
        raise NotCheckedIn(
            errors=[{"field": "absent_member_ids", "message": ", ".join(sorted(str(u) for u in unknown))}],
        )
    result = await _check_out_all(db, activity, still_in, actor_id, min(now, activity.ends_at), absent, now)
    activity.status = "closed"
    activity.closed_at = now
    await db.flush()
    return result


async def _still_in(db: AsyncSession, activity: Activity) -> list[Attendance]:
    """The activity's attendances still checked in, locked, in id order."""
    return list(
        await db.scalars(
            select(Attendance)
            .where(Attendance.activity_id == activity.id, Attendance.status == "in")
            .order_by(Attendance.id)
            .with_for_update()
        )
    )


async def _check_out_all(
    db: AsyncSession,
    activity: Activity,
    still_in: list[Attendance],
    actor_id: uuid.UUID | None,
    until: datetime,
    absent: set[uuid.UUID],
    now: datetime,
) -> CloseResult:
    """Everyone ``still_in`` is checked out at ``until`` and paid, but the ``absent`` (no points)."""
    posted = waiting = over = 0
    for att in still_in:
        if att.member_id in absent:
            _mark_absent(att, now)
            continue
        result = await _check_out(db, activity, att, until, actor_id)
        posted += result.points_awarded
        waiting += att.status == "pending"
        over += result.over_budget
    await db.flush()
    return CloseResult(len(still_in) - len(absent), posted, len(absent), waiting, over)


def _mark_absent(att: Attendance, now: datetime) -> None:
    """The organizer saw this person leave early: the record stays (evidence), no minutes, no points."""
    att.status, att.minutes, att.points = "absent", 0, 0
    att.checked_out_at = max(now, att.checked_in_at)


AUTO_CLOSE_AFTER_SECONDS = 6 * 3600
"""An activity nobody closed is closed this long after its end, so its volunteers get their points."""
AUTO_CLOSE_BATCH = 50


async def close_overdue(maker: async_sessionmaker[AsyncSession]) -> int:
    """Periodic job: close open activities that ended long ago; one transaction per activity."""
    cutoff = clock.now() - timedelta(seconds=AUTO_CLOSE_AFTER_SECONDS)
    closed = 0
    async with maker() as db:
        ids = list(
            await db.scalars(
                select(Activity.id)
                .where(Activity.status == "open", Activity.ends_at < cutoff)
                .order_by(Activity.ends_at)
                .limit(AUTO_CLOSE_BATCH)
            )
        )
    for aid in ids:
        async with maker() as db, db.begin():
            activity = await _activity(db, aid, lock=True)
            if activity.status == "open":  # another worker may have closed it meanwhile
                await _close(db, activity, None)
                closed += 1
    return closed


# ---------------------------------------------------------------- member cards


@raises(require_role)
async def member_card(db: AsyncSession, actor: Actor, community_id: uuid.UUID) -> MemberCard:
    """The caller's card in the community (made on first use)."""
    await require_role(db, actor, community_id, "member")
    card = await db.scalar(
        select(MemberCard).where(
            MemberCard.community_id == community_id, MemberCard.member_id == actor.member_id
        )
    )
    if card is None:
        card = MemberCard(
            community_id=community_id, member_id=actor.member_id, token=secrets.token_urlsafe(24)
        )
        db.add(card)
        await db.flush()
    return card


@raises(member_card)
async def revoke_card(db: AsyncSession, actor: Actor, community_id: uuid.UUID) -> MemberCard:
    """A lost card stops working: the member gets a new code to print (the old signed code's version
    goes on the revocation list offline scanners download; the old unsigned token is gone)."""
    card = await member_card(db, actor, community_id)
    card.token = secrets.token_urlsafe(24)
    await codes.revoke_card_version(db, card, actor.member_id)
    await db.flush()
    return card


@raises(organizer_activity, CardInvalid, *SCAN_ERRORS)
async def scan_card(db: AsyncSession, actor: Actor, activity_id: uuid.UUID, token: str) -> CheckinResult:
    """An organizer scanned a member's card (or personal code) at an activity: check them in or out."""
    activity = await organizer_activity(db, actor, activity_id)
    card = await codes.card_of(db, token)
    member_id = card.member_id if card is not None and card.community_id == activity.community_id else None
    if member_id is None:
        member_id = await codes.personal_member(db, token)
        if member_id is None or not await is_member(db, member_id, activity.community_id):
            raise CardInvalid()
    result = await _scan(db, activity, member_id, "member_card", clock.now(), scanned_by=actor.member_id)
    await record(
        db,
        actor_id=actor.member_id,
        action="card_scanned",
        community_id=activity.community_id,
        subject_member_id=member_id,
        detail={"activity_id": str(activity.id), "result": result.status, "points": result.points_awarded},
    )
    return result


@raises(ActivityNotFound, *SCAN_ERRORS)
async def scan_at(
    db: AsyncSession,
    activity: Activity,
    member_id: uuid.UUID,
    moment: datetime,
    device_id: str,
    scanned_by: uuid.UUID,
) -> CheckinResult:
    """A member's card or personal code scanned at ``moment`` by a scanner that was offline then
    (``activities.offline``): the same check-in or check-out as an online card scan."""
    return await _scan(
        db, activity, member_id, "member_card", moment, device_id=device_id, scanned_by=scanned_by, late=True
    )


def scanned_before_close(activity: Activity, moment: datetime) -> bool:
    """An offline scan of a closed activity made before its close: the scanner had no signal then and
    the organizer closed before its upload (or the activity was closed for them hours after its end).
    It counts as if it had arrived in time; ``finish_after_close`` then checks out whoever it left in."""
    return activity.status == "closed" and activity.closed_at is not None and moment <= activity.closed_at


@raises(points.award)
async def finish_after_close(db: AsyncSession, activity: Activity, actor_id: uuid.UUID) -> CloseResult:
    """Offline scans of a closed activity were applied: everyone they left checked in is checked out
    as the close did (at the close, or the end if it came first) and their points post; the close's
    own record is unchanged."""
    if activity.status != "closed" or activity.closed_at is None:
        return CloseResult(0, 0, 0, 0)
    closed_at = activity.closed_at
    still_in = await _still_in(db, activity)
    return await _check_out_all(
        db, activity, still_in, actor_id, min(closed_at, activity.ends_at), set(), closed_at
    )


async def lock_for_scans(db: AsyncSession, activity: Activity) -> None:
    """Re-read the activity's status under the lock a scan takes (``_closed_meanwhile``): a close waits
    for the scans of this transaction, and they see the status it had when they began."""
    if not is_postgres(db):
        return
    limited = activity.capacity is not None and not activity.signup_required
    query = select(Activity).where(Activity.id == activity.id).execution_options(populate_existing=True)
    await db.scalar(query.with_for_update() if limited else query.with_for_update(read=True, key_share=True))


# ---------------------------------------------------------------- manual records and attendance


@raises(organizer_activity, CheckinNotOpen, MemberNotFound, InvalidTimes, InvalidNote, AlreadyAttended)
async def request_manual(
    db: AsyncSession,
    actor: Actor,
    activity_id: uuid.UUID,
    member_id: uuid.UUID,
    checked_in_at: datetime,
    checked_out_at: datetime,
    note: str,
) -> Attendance:
    """An organizer records someone who could not scan; a second organizer must approve it."""
    activity = await organizer_activity(db, actor, activity_id, lock=True)
    if activity.status in ("cancelled", "pending_approval"):
        raise CheckinNotOpen(detail="This activity is cancelled or waiting for approval.")
    if not await is_member(db, member_id, activity.community_id):
        raise MemberNotFound()
    if checked_in_at.tzinfo is None or checked_out_at.tzinfo is None:
        raise InvalidTimes(detail="%(field)s: times need a UTC offset", params={"field": "checked_in_at"})
    if checked_out_at <= checked_in_at or checked_out_at > clock.now():
        raise InvalidTimes(
            detail="%(field)s: must be after checked_in_at and not in the future",
            params={"field": "checked_out_at"},
        )
    if checked_out_at <= activity.starts_at or checked_in_at >= activity.ends_at:
        raise InvalidTimes(
            detail="%(field)s: must overlap the activity's time", params={"field": "checked_in_at"}
        )
    if not note.strip() or len(note) > MANUAL_NOTE_MAX:
        raise InvalidNote(
            detail="%(field)s: say why, in 1-%(max)s characters",
            params={"field": "note", "max": MANUAL_NOTE_MAX},
        )
    exists = await db.scalar(
        select(Attendance.id).where(Attendance.activity_id == activity.id, Attendance.member_id == member_id)
    )
    if exists is not None:
        raise AlreadyAttended()
    att = Attendance(
        community_id=activity.community_id,
        activity_id=activity.id,
        member_id=member_id,
        status="pending",
        evidence="manual",
        checked_in_at=checked_in_at,
        checked_out_at=checked_out_at,
        requested_by=actor.member_id,
        note=note.strip(),
    )
    db.add(att)
    await db.flush()
    await _audit_manual(db, actor, activity, att, "manual_attendance_requested", None)
    return att


async def _pending_manual(
    db: AsyncSession, actor: Actor, attendance_id: uuid.UUID
) -> tuple[Activity, Attendance]:
    att = await db.scalar(select(Attendance).where(Attendance.id == attendance_id).with_for_update())
    if att is None:
        raise AttendanceNotFound()
    activity = await organizer_activity(db, actor, att.activity_id)
    if att.status != "pending":
        raise ManualNotPending()
    if att.requested_by == actor.member_id:
        raise SecondOrganizerRequired()
    if await household_history.conflicted(
        db, att.community_id, actor.member_id, {att.member_id, att.requested_by}, att.created_at
    ):
        raise ApproverConflict()  # the member, or their household at any time since the record
    return activity, att


@raises(
    AttendanceNotFound,
    organizer_activity,
    ManualNotPending,
    SecondOrganizerRequired,
    ApproverConflict,
    CheckinNotOpen,
    points.award,
)
async def approve_manual(
    db: AsyncSession, actor: Actor, attendance_id: uuid.UUID, *, client_addr: str | None = None
) -> Attendance:
    """A second organizer approves a manual record; its points post. Neither the organizer who entered
    it nor the member it is for may approve (``second_organizer_required``, ``approver_conflict``)."""
    activity, att = await _pending_manual(db, actor, attendance_id)
    if activity.status == "pending_approval":
        raise CheckinNotOpen(detail="This activity is waiting for an admin's approval.")
    if att.checked_out_at is None:
        raise RuntimeError("a pending record always has a check-out time")
    _finish(activity, att, att.checked_out_at)
    att.approved_by = actor.member_id
    await db.flush()
    await _award(db, activity, att, actor.member_id)
    await _audit_manual(db, actor, activity, att, "manual_attendance_approved", client_addr)
    return att


@raises(AttendanceNotFound, organizer_activity, ManualNotPending, SecondOrganizerRequired, ApproverConflict)
async def reject_manual(
    db: AsyncSession, actor: Actor, attendance_id: uuid.UUID, *, client_addr: str | None = None
) -> Attendance:
    activity, att = await _pending_manual(db, actor, attendance_id)
    att.status = "rejected"
    att.approved_by = actor.member_id
    await db.flush()
    await _audit_manual(db, actor, activity, att, "manual_attendance_rejected", client_addr)
    return att


async def _audit_manual(
    db: AsyncSession, actor: Actor, activity: Activity, att: Attendance, action: str, client_addr: str | None
) -> None:
    await record(
        db,
        actor_id=actor.member_id,
        action=action,
        community_id=activity.community_id,
        subject_member_id=att.member_id,
        detail={
            "activity_id": str(activity.id),
            "attendance_id": str(att.id),
            "requested_by": str(att.requested_by) if att.requested_by else None,
            "points": att.points,
            "minutes": att.minutes,
        },
        client_addr=client_addr,
    )


# ---------------------------------------------------------------- teams


@raises(TeamNotFound, require_role, MemberNotFound)
async def add_team_member(db: AsyncSession, actor: Actor, team_id: uuid.UUID, member_id: uuid.UUID) -> None:
    team = await db.get(Team, team_id)
    if team is None:
        raise TeamNotFound()
    await require_role(db, actor, team.community_id, "organizer")
    await _join_team(db, team, member_id)
    await record(
        db,
        actor_id=actor.member_id,
        action="team_member_added",
        community_id=team.community_id,
        subject_member_id=member_id,
        detail={"team_id": str(team.id), "team": team.name},
    )


@raises(MemberNotFound)
async def _join_team(db: AsyncSession, team: Team, member_id: uuid.UUID) -> None:
    if not await is_member(db, member_id, team.community_id):
        raise MemberNotFound()
    exists = await db.scalar(
        select(TeamMember.id).where(TeamMember.team_id == team.id, TeamMember.member_id == member_id)
    )
    if exists is None:
        db.add(TeamMember(community_id=team.community_id, team_id=team.id, member_id=member_id))
        await db.flush()


@raises(require_role, InvalidName, TeamNameTaken, MemberNotFound, _join_team)
async def create_team(
    db: AsyncSession, actor: Actor, community_id: uuid.UUID, name: str, leader_id: uuid.UUID
) -> Team:
    await require_role(db, actor, community_id, "organizer")
    name = " ".join(name.split())
    if not name or len(name) > TITLE_MAX:
        raise InvalidName(
            detail="%(field)s: 1-%(max)s characters", params={"field": "name", "max": TITLE_MAX}
        )
    if await db.scalar(select(Team.id).where(Team.community_id == community_id, Team.name == name)):
        raise TeamNameTaken()
    if not await is_member(db, leader_id, community_id):  # checked before the team row is written
        raise MemberNotFound()
    team = Team(community_id=community_id, name=name, leader_id=leader_id)
    db.add(team)
    await db.flush()
    await _join_team(db, team, leader_id)
    await record(
        db,
        actor_id=actor.member_id,
        action="team_created",
        community_id=community_id,
        subject_member_id=leader_id,
        detail={"team_id": str(team.id), "team": name},
    )
    return team


# ---------------------------------------------------------------- the check-in landing page


async def peek_token(db: AsyncSession, token: str, at: datetime | None = None) -> Activity | None:
    """The activity of a genuine code current now or ``at`` (a pending scan's time), else None."""
    try:
        activity, _evidence = await _verified_activity(db, token, at or clock.now())
    except DomainError:
        return None
    return activity


@dataclass(frozen=True)
class ScanLanding:
    """What the check-in page shows after a scan: the result, or the refusal, with the balance."""

    result: CheckinResult | None
    error: DomainError | None = None
    balance: points.Balance | None = None
    tz: str = "Asia/Shanghai"


async def scan_landing(
    db: AsyncSession,
    actor: Actor,
    token: str,
    device_id: str,
    pending_scan: Callable[[], rules.PendingScan | None],
) -> ScanLanding:
    """A logged-in phone opened a check-in URL: scan, and say what happened. A refusal is part of
    the page (``error``), not an error page; ``pending_scan`` reads this browser's scan cookie (a
    copied one is refused ``qr_expired`` like a scan)."""
    try:
        result = await check_in(db, actor, token, device_id=device_id, pending_scan=pending_scan())
    except DomainError as exc:
        return ScanLanding(None, exc)
    community_id = result.activity.community_id
    return ScanLanding(
        result,
        balance=await points.balance(db, community_id, actor.member_id),
        tz=await community_timezone(db, community_id),
    )


# ---------------------------------------------------------------- screens organizers and members print


@dataclass(frozen=True)
class KioskKey:
    """What a kiosk page needs to make its rotating codes itself (docs/offline.md)."""

    kiosk_id: int
    valid_until: int
    key: str
    """base64url, 32 bytes."""
    server_ms: int
    renewable: bool
    """Whether a key given later would last longer (this one ends before the activity's end + grace)."""


@dataclass(frozen=True)
class KioskScreen:
    activity: Activity
    code: KioskCode
    count: int
    offline: KioskKey
    public_url: str
    step_seconds: int = rules.KIOSK_STEP_SECONDS


@raises(organizer_activity)
async def kiosk_screen(
    db: AsyncSession, actor: Actor, activity_id: uuid.UUID, public_url: str
) -> KioskScreen:
    """The kiosk page: the rotating code, the live count, and a key of its own so that it keeps
    rotating its code while the network is down (organizers)."""
    activity = await organizer_activity(db, actor, activity_id)
    code = await kiosk_code(db, actor, activity_id, public_url)
    now = clock.now()
    kiosk_id = secrets.randbits(32)
    until = rules.kiosk_key_until(activity.ends_at, now)
    key = rules.kiosk_key(activity.secret, activity.id, kiosk_id, until)
    offline = KioskKey(
        kiosk_id,
        until,
        base64.urlsafe_b64encode(key).decode().rstrip("="),
        int(now.timestamp() * 1000),
        until < rules.kiosk_key_until(activity.ends_at, activity.ends_at),
    )
    return KioskScreen(
        activity, code, await checked_in_count(db, activity_id), offline, public_url.rstrip("/")
    )


def qr_svg(url: str) -> str:
    """An inline SVG QR of ``url`` (our own generated markup, without the XML prolog)."""
    text = qr.svg(url).decode()
    return text[text.index("<svg") :]


@dataclass(frozen=True)
class PosterSheet:
    activity: Activity
    svg: str
    tz: str


@raises(organizer_activity)
async def poster_sheet(
    db: AsyncSession, actor: Actor, activity_id: uuid.UUID, public_url: str
) -> PosterSheet:
    """The printable poster with its long-lived code (organizers)."""
    activity = await organizer_activity(db, actor, activity_id)
    url = await poster_code(db, actor, activity_id, public_url)
    return PosterSheet(activity, qr_svg(url), await community_timezone(db, activity.community_id))


@dataclass(frozen=True)
class CardSheet:
    community: CommunityView
    communities: list[CommunityView]
    svg: str


@raises(Forbidden, member_card)
async def card_sheet(
    db: AsyncSession, actor: Actor, community: str | None, public_url: str, seed: str
) -> CardSheet:
    """The caller's printable member card in the chosen community (the first one by default): its QR
    is the card's signed code (``/m/<code>``), which offline scanners verify with no connection."""
    held = [c for c, _roles in await communities_of(db, actor)]
    if not held:
        raise Forbidden(detail="You are not a member of any community yet.")
    chosen = next((c for c in held if str(c.id) == community), held[0])
    card = await member_card(db, actor, chosen.id)
    return CardSheet(chosen, held, qr_svg(f"{public_url}/m/{await codes.card_code(db, seed, card)}"))


@dataclass(frozen=True)
class CodeSheet:
    code: str
    version: int
    svg: str


async def code_sheet(db: AsyncSession, actor: Actor, seed: str) -> CodeSheet:
    """The caller's personal code page: the signed code as text and as a QR (the bare code, which
    offline scanners read; it names no community, so it works at any activity the member may join)."""
    code, version = await codes.personal_code(db, seed, actor.member_id)
    return CodeSheet(code, version, qr_svg(code))


@raises(AttendanceNotFound)
async def activity_of_attendance(db: AsyncSession, attendance_id: uuid.UUID) -> Activity:
    """The activity an attendance record belongs to (the record exists)."""
    found = await db.scalar(
        select(Activity)
        .join(Attendance, Attendance.activity_id == Activity.id)
        .where(Attendance.id == attendance_id)
    )
    if found is None:
        raise AttendanceNotFound()
    return found
