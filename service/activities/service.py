"""Business transactions of activities: create, sign up, QR codes, check-in and out, close, hours.

Every function takes the caller's open session and never commits. Refusals are DomainErrors with the
stable codes of API.md and leave the database as it was (the request's transaction rolls back).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import sqlite3
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

import asyncpg
from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from service import clock
from service.accounts import service as accounts
from service.accounts.models import Member, Membership
from service.accounts.service import Actor
from service.activities import fastpath, rules
from service.activities.models import (
    Activity,
    ActivityPolicy,
    Attendance,
    MemberCard,
    ScanUse,
    Signup,
    Team,
    TeamMember,
)
from service.audit.service import record
from service.config import POINTS_PER_AWARD_MAX, TEXT_MAX, TITLE_MAX
from service.db import is_postgres
from service.errors import Conflict, DomainError, Forbidden, InvalidInput, NotAuthenticated, NotFound
from service.ids import new_id
from service.kit import csv as kit_csv
from service.points import service as points

__all__ = [
    "ACTIVITY_DAYS_MAX",
    "CATEGORIES",
    "ActivityDraft",
    "AttendanceRow",
    "CheckinResult",
    "CloseResult",
    "KioskCode",
    "activities_now",
    "approve_activity",
    "approve_manual",
    "attendance_csv",
    "attendance_list",
    "attendance_status",
    "can_approve",
    "cancel_activity",
    "check_in",
    "check_in_with_login",
    "checked_in_count",
    "close_activity",
    "close_overdue",
    "create_activity",
    "create_team",
    "get_activity",
    "hours_leaderboard",
    "hours_of",
    "kiosk_code",
    "list_activities",
    "member_card",
    "member_for_card",
    "peek_token",
    "points_cap",
    "poster_code",
    "reject_manual",
    "request_manual",
    "revoke_card",
    "revoke_poster",
    "scan_card",
    "set_points_cap",
    "signup",
    "team_attendances",
    "team_hours_leaderboard",
    "team_members",
    "teams_with_totals",
]

CATEGORIES = ("助老", "环保", "助残", "文明劝导", "治安巡逻", "文化", "其他")
ACTIVITY_DAYS_MAX = 31
"""Longest activity window, in days."""
CAPACITY_MAX = 100_000
RADIUS_M_MAX = 50_000
MANUAL_NOTE_MAX = 500
COUNTED = ("in", "out", "pending")
"""Attendance statuses that take a place."""


class CheckinError(DomainError):
    status = 400
    code = "checkin_refused"


SCAN_REFUSALS = {
    "manual_pending": "Your attendance was entered by hand and is waiting for approval.",
    "confirmation_pending": "Your own attendance at an activity you organize waits for another organizer.",
    "already_checked_out": "You have already checked out of this activity.",
}


@dataclass
class ActivityDraft:
    title: str
    starts_at: datetime
    ends_at: datetime
    points_mode: str
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
    status: str
    """``checked_in`` or ``checked_out``."""
    activity: Activity
    attendance: Attendance
    points_awarded: int
    repeated: bool = False
    """True when the scan only reported the current status (too soon to check out)."""

    @property
    def points_status(self) -> str:
        """``on_check_out`` (nothing posts before the minimum stay), ``awaiting_confirmation`` (an
        organizer's own attendance: another organizer must confirm), ``posted`` or ``none``."""
        a = self.attendance
        if a.needs_confirmation and a.approved_by is None and a.status in ("in", "pending"):
            return "awaiting_confirmation"
        if a.status == "in":
            return "on_check_out"
        return "posted" if a.status == "out" and a.points > 0 else "none"

    @property
    def points_pending(self) -> int:
        """Points that will post later (check-out or confirmation); per-hour ones are known at check-out."""
        a = self.attendance
        if a.status == "pending":
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


@dataclass(frozen=True)
class KioskCode:
    url: str
    token: str
    expires_at: datetime
    refresh_after_s: int


@dataclass
class AttendanceRow:
    attendance: Attendance
    member_name: str
    member_phone: str
    flags: list[str] = field(default_factory=list)


def _bad(field_name: str, message: str, code: str = "invalid_activity", **params: object) -> InvalidInput:
    """``message`` is a msgid naming the field as ``%(field)s`` (pages show both translated)."""
    params = {"field": field_name, **params}
    return InvalidInput(code, message, params=params, errors=[{"field": field_name, "message": message}])


def _validate(d: ActivityDraft) -> None:
    d.title = " ".join(d.title.split())
    if not d.title or len(d.title) > TITLE_MAX:
        raise _bad("title", "%(field)s: 1-%(max)s characters", max=TITLE_MAX)
    if len(d.description) > TEXT_MAX:
        raise _bad("description", "%(field)s: at most %(max)s characters", max=TEXT_MAX)
    if d.starts_at.tzinfo is None or d.ends_at.tzinfo is None:
        raise _bad("starts_at", "%(field)s: times need a UTC offset")
    if d.ends_at <= d.starts_at:
        raise _bad("ends_at", "%(field)s: must be after starts_at")
    if d.ends_at - d.starts_at > timedelta(days=ACTIVITY_DAYS_MAX):
        raise _bad("ends_at", "%(field)s: an activity lasts at most %(max)s days", max=ACTIVITY_DAYS_MAX)
    if d.points_mode not in ("per_attendance", "per_hour"):
        raise _bad("points_mode", "%(field)s: per_attendance or per_hour")
    if not 0 <= d.points <= POINTS_PER_AWARD_MAX:
        raise _bad("points", "%(field)s: 0-%(max)s", max=POINTS_PER_AWARD_MAX)
    if d.points_max is not None and not 0 <= d.points_max <= POINTS_PER_AWARD_MAX:
        raise _bad("points_max", "%(field)s: 0-%(max)s", max=POINTS_PER_AWARD_MAX)
    if d.capacity is not None and not 1 <= d.capacity <= CAPACITY_MAX:
        raise _bad("capacity", "%(field)s: 1-%(max)s", max=CAPACITY_MAX)
    if d.category is not None and d.category not in CATEGORIES:
        raise _bad("category", "%(field)s: one of %(choices)s", choices=" ".join(CATEGORIES))
    geo = (d.lat, d.lng, d.radius_m)
    if any(v is not None for v in geo):
        if d.lat is None or d.lng is None or d.radius_m is None:
            raise _bad("radius_m", "%(field)s: lat, lng and radius_m go together")
        if not (-90 <= d.lat <= 90 and -180 <= d.lng <= 180 and 10 <= d.radius_m <= RADIUS_M_MAX):
            raise _bad(
                "radius_m", "%(field)s: lat -90..90, lng -180..180, radius 10-%(max)s m", max=RADIUS_M_MAX
            )


# ---------------------------------------------------------------- activities


async def create_activity(
    db: AsyncSession, actor: Actor, community_id: uuid.UUID, d: ActivityDraft
) -> Activity:
    await accounts.get_community(db, community_id)
    await accounts.require_role(db, actor, community_id, "organizer")
    _validate(d)
    if d.team_id is not None:
        team = await db.get(Team, d.team_id)
        if team is None or team.community_id != community_id:
            raise _bad("team_id", "%(field)s: no such team in this community")
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
    return activity


async def _activity(db: AsyncSession, activity_id: uuid.UUID, *, lock: bool = False) -> Activity:
    stmt = select(Activity).where(Activity.id == activity_id)
    if lock:
        stmt = stmt.with_for_update()
    activity = (await db.execute(stmt.execution_options(populate_existing=lock))).scalar_one_or_none()
    if activity is None:
        raise NotFound("activity_not_found", "No such activity.")
    return activity


async def get_activity(db: AsyncSession, actor: Actor, activity_id: uuid.UUID) -> Activity:
    activity = await _activity(db, activity_id)
    await accounts.require_role(db, actor, activity.community_id, "member")
    return activity


async def organizer_activity(
    db: AsyncSession, actor: Actor, activity_id: uuid.UUID, *, lock: bool = False
) -> Activity:
    activity = await _activity(db, activity_id, lock=lock)
    await accounts.require_role(db, actor, activity.community_id, "organizer")
    return activity


async def is_organizer(db: AsyncSession, actor: Actor, community_id: uuid.UUID) -> bool:
    try:
        await accounts.require_role(db, actor, community_id, "organizer")
    except Forbidden:
        return False
    return True


async def update_activity(
    db: AsyncSession, actor: Actor, activity_id: uuid.UUID, changes: dict[str, Any]
) -> Activity:
    activity = await organizer_activity(db, actor, activity_id, lock=True)
    if activity.status not in ("open", "pending_approval"):
        raise Conflict("activity_not_open", "A closed or cancelled activity cannot be edited.")
    fields = ActivityDraft.__dataclass_fields__
    draft = ActivityDraft(**{k: getattr(activity, k) for k in fields})
    for key, value in changes.items():
        if key not in fields:
            raise _bad(key, "%(field)s: cannot be changed")
        setattr(draft, key, value)
    _validate(draft)
    worth_changed = any(
        getattr(draft, k) != getattr(activity, k) for k in ("points", "points_max", "points_mode")
    )
    for key in fields:
        setattr(activity, key, getattr(draft, key))
    if await _over_cap(db, activity.community_id, draft):
        if worth_changed:  # an approval covers the points it saw, not a raise after it
            activity.status, activity.approved_by = "pending_approval", None
    elif activity.status == "pending_approval":
        activity.status = "open"
    await db.flush()
    return activity


# ---------------------------------------------------------------- points cap (separation of duties)


async def points_cap(db: AsyncSession, community_id: uuid.UUID) -> int:
    """The community's cap on an activity's points per attendance (or per hour)."""
    cap = await db.scalar(
        select(ActivityPolicy.points_cap).where(ActivityPolicy.community_id == community_id)
    )
    return rules.POINTS_CAP_DEFAULT if cap is None else int(cap)


async def set_points_cap(db: AsyncSession, actor: Actor, community_id: uuid.UUID, cap: int) -> int:
    """An admin sets the cap; activities created or repriced afterwards are checked against it."""
    await accounts.get_community(db, community_id)
    await accounts.require_role(db, actor, community_id, "admin")
    if not 0 <= cap <= POINTS_PER_AWARD_MAX:
        raise _bad("points_cap", "%(field)s: 0-%(max)s", "invalid_policy", max=POINTS_PER_AWARD_MAX)
    row = await db.get(ActivityPolicy, community_id, with_for_update=True)
    if row is None:
        row = ActivityPolicy(community_id=community_id, points_cap=cap, updated_at=clock.now())
        db.add(row)
    row.points_cap, row.updated_at, row.updated_by = cap, clock.now(), actor.member_id
    await db.flush()
    return cap


async def _over_cap(db: AsyncSession, community_id: uuid.UUID, d: ActivityDraft) -> bool:
    return rules.needs_approval(d.points_mode, d.points, d.points_max, await points_cap(db, community_id))


async def can_approve(db: AsyncSession, actor: Actor, activity: Activity) -> bool:
    """Whether the caller may approve this pending activity (an admin there, not its creator)."""
    if activity.status != "pending_approval" or activity.created_by == actor.member_id:
        return False
    try:
        await accounts.require_role(db, actor, activity.community_id, "admin")
    except Forbidden:
        return False
    return True


async def approve_activity(db: AsyncSession, actor: Actor, activity_id: uuid.UUID) -> Activity:
    """An admin other than its creator lets an activity above the cap open for check-in."""
    activity = await _activity(db, activity_id, lock=True)
    await accounts.require_role(db, actor, activity.community_id, "admin")
    if activity.status != "pending_approval":
        raise Conflict("activity_not_pending", "This activity is not waiting for approval.")
    if activity.created_by == actor.member_id:
        raise Forbidden("same_admin", "Another admin must approve an activity you created.")
    activity.status, activity.approved_by = "open", actor.member_id
    await db.flush()
    return activity


async def cancel_activity(db: AsyncSession, actor: Actor, activity_id: uuid.UUID) -> Activity:
    activity = await organizer_activity(db, actor, activity_id, lock=True)
    if activity.status not in ("open", "pending_approval"):
        raise Conflict("activity_not_open", "The activity is already closed or cancelled.")
    if await checked_in_count(db, activity.id, with_pending=True):
        raise Conflict("activity_has_attendance", "People have checked in: close the activity instead.")
    activity.status = "cancelled"
    activity.closed_at = clock.now()
    await db.flush()
    return activity


async def checked_in_count(db: AsyncSession, activity_id: uuid.UUID, *, with_pending: bool = False) -> int:
    statuses = COUNTED if with_pending else ("in", "out")
    stmt = select(func.count()).where(Attendance.activity_id == activity_id, Attendance.status.in_(statuses))
    return int(await db.scalar(stmt) or 0)


async def signup_count(db: AsyncSession, activity_id: uuid.UUID) -> int:
    return int(await db.scalar(select(func.count()).where(Signup.activity_id == activity_id)) or 0)


async def list_activities(
    db: AsyncSession, actor: Actor, community_id: uuid.UUID, *, upcoming: bool = True, limit: int = 50
) -> list[Activity]:
    """Open activities not yet over (``upcoming``), or the most recent ones."""
    await accounts.require_role(db, actor, community_id, "member")
    stmt = select(Activity).where(Activity.community_id == community_id)
    if upcoming:
        stmt = stmt.where(Activity.status == "open", Activity.ends_at > clock.now()).order_by(
            Activity.starts_at
        )
    else:
        stmt = stmt.order_by(Activity.starts_at.desc())
    return list(await db.scalars(stmt.limit(limit)))


async def my_activities(
    db: AsyncSession, actor: Actor, limit: int = 50
) -> list[tuple[Activity, Attendance | None, bool]]:
    """Activities the caller signed up for or attended: (activity, attendance, signed up)."""
    signed = select(Signup.activity_id).where(Signup.member_id == actor.member_id)
    attended = select(Attendance.activity_id).where(Attendance.member_id == actor.member_id)
    acts = list(
        await db.scalars(
            select(Activity)
            .where(Activity.id.in_(signed.union(attended).scalar_subquery()))
            .order_by(Activity.starts_at.desc())
            .limit(limit)
        )
    )
    ids = [a.id for a in acts]
    att = {
        a.activity_id: a
        for a in await db.scalars(
            select(Attendance).where(Attendance.member_id == actor.member_id, Attendance.activity_id.in_(ids))
        )
    }
    sig = set(
        await db.scalars(
            select(Signup.activity_id).where(Signup.member_id == actor.member_id, Signup.activity_id.in_(ids))
        )
    )
    return [(a, att.get(a.id), a.id in sig) for a in acts]


async def signup(db: AsyncSession, actor: Actor, activity_id: uuid.UUID) -> Signup:
    # The activity row is locked so two last-place sign-ups cannot both fit.
    activity = await _activity(db, activity_id, lock=True)
    await accounts.require_role(db, actor, activity.community_id, "member")
    if activity.status != "open" or activity.ends_at <= clock.now():
        raise CheckinError("activity_not_open", "This activity is not open for sign-up.")
    existing = await db.scalar(
        select(Signup).where(Signup.activity_id == activity.id, Signup.member_id == actor.member_id)
    )
    if existing is not None:
        return existing
    if activity.capacity is not None and await signup_count(db, activity.id) >= activity.capacity:
        raise Conflict("activity_full", "This activity is full.")
    row = Signup(community_id=activity.community_id, activity_id=activity.id, member_id=actor.member_id)
    db.add(row)
    await db.flush()
    return row


# ---------------------------------------------------------------- QR codes


def check_url(public_url: str, token: str) -> str:
    return f"{public_url.rstrip('/')}/c/{token}"


async def kiosk_code(db: AsyncSession, actor: Actor, activity_id: uuid.UUID, public_url: str) -> KioskCode:
    activity = await organizer_activity(db, actor, activity_id)
    now = clock.now()
    step = rules.kiosk_step(now)
    token = rules.make_token(rules.KIND_KIOSK, activity.id, step, activity.secret)
    next_step_ts = (step + 1) * rules.KIOSK_STEP_SECONDS
    expires_at = datetime.fromtimestamp(next_step_ts + rules.KIOSK_STEP_SECONDS, tz=now.tzinfo)
    refresh = max(1, int(next_step_ts - now.timestamp()) + 1)
    return KioskCode(check_url(public_url, token), token, expires_at, min(refresh, rules.KIOSK_STEP_SECONDS))


async def poster_code(db: AsyncSession, actor: Actor, activity_id: uuid.UUID, public_url: str) -> str:
    activity = await organizer_activity(db, actor, activity_id)
    token = rules.make_token(rules.KIND_POSTER, activity.id, activity.poster_version, activity.secret)
    return check_url(public_url, token)


async def revoke_poster(db: AsyncSession, actor: Actor, activity_id: uuid.UUID) -> Activity:
    """Every printed poster stops working; a new one must be printed."""
    activity = await organizer_activity(db, actor, activity_id, lock=True)
    activity.poster_version += 1
    await db.flush()
    return activity


# ---------------------------------------------------------------- check-in and out


async def _verified_activity(db: AsyncSession, token: str, moment: datetime) -> tuple[Activity, str]:
    """The activity a token belongs to and its evidence kind, or ``qr_invalid`` / ``qr_expired``."""
    parsed = rules.parse_token(token)
    activity = await db.get(Activity, parsed.activity_id) if parsed else None
    evidence = _evidence(parsed, activity, moment)
    return cast(Activity, activity), evidence


async def _activity_and_roles(
    db: AsyncSession, token: str, member_id: uuid.UUID
) -> tuple[rules.ParsedToken | None, Activity | None, list[tuple[str, uuid.UUID | None]], Any]:
    """The token's activity, the caller's memberships in its community and the caller's member row
    (token version, name, phone, platform admin; ``None`` if gone), in one round trip."""
    parsed = rules.parse_token(token)
    if parsed is None:
        return None, None, [], None
    rows = (
        await db.execute(
            select(
                Activity,
                Membership.role,
                Membership.partner_id,
                Member.token_version,
                Member.name,
                Member.phone,
                Member.is_platform_admin,
            )
            .select_from(Activity)
            .outerjoin(Member, Member.id == member_id)
            .outerjoin(
                Membership,
                (Membership.community_id == Activity.community_id) & (Membership.member_id == member_id),
            )
            .where(Activity.id == parsed.activity_id)
        )
    ).all()
    if not rows:
        return parsed, None, [], None
    member = rows[0] if rows[0].token_version is not None else None
    return parsed, rows[0][0], [(r.role, r.partner_id) for r in rows if r.role is not None], member


def _evidence(parsed: rules.ParsedToken | None, activity: Activity | None, moment: datetime) -> str:
    """The evidence kind of a genuine, current code (``kiosk``/``poster``), else the refusal."""
    if parsed is None or activity is None or not rules.mac_ok(parsed, activity.secret):
        raise CheckinError("qr_invalid", "This is not a Jifen check-in code.")
    if parsed.kind == rules.KIND_KIOSK:
        step = rules.kiosk_step(moment)
        if parsed.counter > step:
            raise CheckinError("qr_invalid", "This code is not valid yet.")
        if parsed.counter < step - 1:
            raise CheckinError("qr_expired", "This code has expired: scan the code on the screen again.")
        return "kiosk"
    if parsed.counter != activity.poster_version:
        raise CheckinError("qr_invalid", "This poster was withdrawn by the organizer.")
    if moment > activity.ends_at + timedelta(seconds=rules.POSTER_GRACE_SECONDS):
        raise CheckinError("qr_expired", "This poster's activity is over.")
    return "poster"


def _check_geofence(activity: Activity, lat: float | None, lng: float | None) -> None:
    if activity.lat is None or activity.lng is None or activity.radius_m is None:
        return
    if lat is None or lng is None:
        raise CheckinError("location_required", "This activity needs your location to check in.")
    if not (-90 <= lat <= 90 and -180 <= lng <= 180):
        raise _bad("lat", "%(field)s: not a valid location", "invalid_location")
    if rules.distance_m(lat, lng, activity.lat, activity.lng) > activity.radius_m:
        raise CheckinError("outside_area", "You are not at the activity's place.")


def _scan_moment(pending_scan: rules.PendingScan | None) -> datetime:
    """When the scan happened: a logged-out phone's first opening of the URL counts if it was at most
    ``PENDING_SCAN_SECONDS`` ago (so the login detour does not expire the code), otherwise now."""
    now = clock.now()
    if pending_scan is not None:
        scanned_at = datetime.fromtimestamp(pending_scan.first_seen, tz=now.tzinfo)
        if timedelta(0) <= now - scanned_at <= timedelta(seconds=rules.PENDING_SCAN_SECONDS):
            return scanned_at
    return now


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
    parsed, found, held, _member = await _activity_and_roles(db, token, actor.member_id)
    evidence = _evidence(parsed, found, moment)
    return await _checked_scan(
        db, actor, cast(Activity, found), held, evidence, moment, lat, lng, device_id, pending_scan
    )


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
    answer (refusals included) runs here as before."""
    if fastpath.ENABLED and pending_scan is None and not db.in_transaction():
        fast = await _fast_scan(db, member_id, token_version, token, lat, lng, device_id)
        if fast is not None:
            return fast
    moment = _scan_moment(pending_scan)
    parsed, found, held, member = await _activity_and_roles(db, token, member_id)
    if found is None:  # no such activity: the login decides the error first, as for other routes
        actor = await accounts.actor_for(db, member_id, token_version)
    elif member is None or member.token_version != token_version:
        raise NotAuthenticated("token_revoked", "This login was ended; please log in again.")
    else:
        actor = accounts.remember_token_version(
            member_id, member.token_version, member.name, member.phone, member.is_platform_admin
        )[2]
    evidence = _evidence(parsed, found, moment)
    result = await _checked_scan(
        db, actor, cast(Activity, found), held, evidence, moment, lat, lng, device_id, pending_scan
    )
    return actor, result


async def _fast_scan(
    db: AsyncSession,
    member_id: uuid.UUID,
    token_version: object,
    token: str,
    lat: float | None,
    lng: float | None,
    device_id: str | None,
) -> tuple[Actor, CheckinResult] | None:
    """The scan through ``fastpath`` when every in-memory check passes, else ``None``."""
    parsed = rules.parse_token(token)
    if parsed is None or not isinstance(token_version, int) or not isinstance(db.bind, AsyncEngine):
        return None
    try:
        cached = await fastpath.activity(db.bind, parsed.activity_id)
        if cached is None:
            return None
        activity, fingerprint = cached
        moment = clock.now()
        try:
            evidence = _evidence(parsed, activity, moment)
            _check_geofence(activity, lat, lng)
        except DomainError:
            fastpath.forget_activity(activity.id)  # maybe a new poster version: read it again next time
            return None
        if activity.status != "open":
            fastpath.forget_activity(activity.id)
            return None
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
        return None  # the batch call failed as a whole: nothing was written, the ordinary path decides
    if scanned is None:
        return None
    actor = accounts.remember_token_version(
        member_id, scanned.token_version, scanned.name, scanned.phone, scanned.is_platform_admin
    )[2]
    status = "checked_out" if scanned.outcome == "checked_out" else "checked_in"
    result = CheckinResult(
        status, activity, scanned.attendance, scanned.awarded, repeated=scanned.outcome == "repeated"
    )
    return actor, result


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
        raise CheckinError("qr_expired", "This scan was already used: scan the code on the screen again.")


async def _organizes(db: AsyncSession, activity: Activity, member_id: uuid.UUID) -> bool:
    """Whether the member created the activity or is an organizer or admin of its community."""
    if member_id == activity.created_by:
        return True
    role = await db.scalar(
        select(Membership.id)
        .where(
            Membership.member_id == member_id,
            Membership.community_id == activity.community_id,
            Membership.role.in_(("organizer", "admin")),
        )
        .limit(1)
    )
    return role is not None or bool(
        await db.scalar(select(Member.is_platform_admin).where(Member.id == member_id))
    )


async def _award(db: AsyncSession, activity: Activity, att: Attendance, actor_id: uuid.UUID | None) -> int:
    if att.points <= 0:
        return 0
    await points.award(
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
    return att.points


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
) -> CheckinResult:
    """``organizes``: whether the member organizes here (their own attendance waits for another
    organizer's confirmation); ``None`` looks it up."""
    if activity.status == "pending_approval":
        raise CheckinError("activity_not_open", "This activity is waiting for an admin's approval.")
    if activity.status != "open":
        raise CheckinError("activity_not_open", "This activity is closed.")
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
        raise CheckinError(
            str(exc), SCAN_REFUSALS.get(str(exc), SCAN_REFUSALS["already_checked_out"])
        ) from exc
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
        raise CheckinError("activity_not_open", "Check-in is open from shortly before the start to the end.")
    if activity.signup_required:
        signed = await db.scalar(
            select(Signup.id).where(Signup.activity_id == activity.id, Signup.member_id == member_id)
        )
        if signed is None:
            raise CheckinError("not_signed_up", "Sign up for this activity first.")
    elif activity.capacity is not None:
        # Lock the activity row so the last places cannot be taken twice.
        await _activity(db, activity.id, lock=True)
        if await checked_in_count(db, activity.id, with_pending=True) >= activity.capacity:
            raise Conflict("activity_full", "This activity is full.")
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
        "needs_confirmation": (
            organizes if organizes is not None else await _organizes(db, activity, member_id)
        ),
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
    awarded = 0
    if att.needs_confirmation and att.approved_by is None:
        att.status = "pending"
    else:
        awarded = await _award(db, activity, att, actor_id or att.member_id)
    await db.flush()
    return CheckinResult("checked_out", activity, att, awarded)


async def close_activity(
    db: AsyncSession, actor: Actor, activity_id: uuid.UUID, absent_member_ids: Sequence[uuid.UUID] = ()
) -> CloseResult:
    """Close: people who left early (``absent_member_ids``, still checked in) get no points; everyone
    else still in is checked out and their points post."""
    activity = await organizer_activity(db, actor, activity_id, lock=True)
    if activity.status != "open":
        raise Conflict("activity_not_open", "The activity is already closed or cancelled.")
    return await _close(db, activity, actor.member_id, set(absent_member_ids))


async def _close(
    db: AsyncSession, activity: Activity, actor_id: uuid.UUID | None, absent: set[uuid.UUID] | None = None
) -> CloseResult:
    now = clock.now()
    absent = absent or set()
    still_in = list(
        await db.scalars(
            select(Attendance)
            .where(Attendance.activity_id == activity.id, Attendance.status == "in")
            .order_by(Attendance.id)
            .with_for_update()
        )
    )
    unknown = absent - {att.member_id for att in still_in}
    if unknown:
        raise InvalidInput(
            "not_checked_in",
            "Only people still checked in can be marked absent.",
            errors=[{"field": "absent_member_ids", "message": ", ".join(sorted(str(u) for u in unknown))}],
        )
    posted = waiting = 0
    for att in still_in:
        if att.member_id in absent:
            _mark_absent(att, now)
            continue
        result = await _check_out(db, activity, att, min(now, activity.ends_at), actor_id)
        posted += result.points_awarded
        waiting += att.status == "pending"
    activity.status = "closed"
    activity.closed_at = now
    await db.flush()
    return CloseResult(len(still_in) - len(absent), posted, len(absent), waiting)


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


async def member_card(db: AsyncSession, actor: Actor, community_id: uuid.UUID) -> MemberCard:
    """The caller's card in the community (made on first use)."""
    await accounts.require_role(db, actor, community_id, "member")
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


async def revoke_card(db: AsyncSession, actor: Actor, community_id: uuid.UUID) -> MemberCard:
    """A lost card stops working: the member gets a new code to print."""
    card = await member_card(db, actor, community_id)
    card.token = secrets.token_urlsafe(24)
    await db.flush()
    return card


async def member_for_card(db: AsyncSession, actor: Actor, token: str) -> tuple[Member, MemberCard]:
    """Staff scanning a card: whose it is (the scanner must be organizer or clerk there)."""
    card = await db.scalar(select(MemberCard).where(MemberCard.token == token[:64])) if token else None
    if card is None:
        raise NotFound("card_invalid", "This member card is not valid (it may have been replaced).")
    await accounts.require_role(db, actor, card.community_id, "organizer", "clerk")
    return await accounts.get_member(db, card.member_id), card


async def scan_card(db: AsyncSession, actor: Actor, activity_id: uuid.UUID, token: str) -> CheckinResult:
    """An organizer scanned a member's card at an activity: check that member in or out."""
    activity = await organizer_activity(db, actor, activity_id)
    card = await db.scalar(select(MemberCard).where(MemberCard.token == token[:64])) if token else None
    if card is None or card.community_id != activity.community_id:
        raise NotFound("card_invalid", "This member card is not valid (it may have been replaced).")
    return await _scan(db, activity, card.member_id, "member_card", clock.now(), scanned_by=actor.member_id)


# ---------------------------------------------------------------- manual records and attendance


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
        raise CheckinError("activity_not_open", "This activity is cancelled or waiting for approval.")
    held = await db.scalar(
        select(Membership.id).where(
            Membership.member_id == member_id, Membership.community_id == activity.community_id
        )
    )
    if held is None:
        raise NotFound("member_not_found", "No such member in this community.")
    if checked_in_at.tzinfo is None or checked_out_at.tzinfo is None:
        raise _bad("checked_in_at", "%(field)s: times need a UTC offset", "invalid_times")
    if checked_out_at <= checked_in_at or checked_out_at > clock.now():
        raise _bad(
            "checked_out_at", "%(field)s: must be after checked_in_at and not in the future", "invalid_times"
        )
    if checked_out_at <= activity.starts_at or checked_in_at >= activity.ends_at:
        raise _bad("checked_in_at", "%(field)s: must overlap the activity's time", "invalid_times")
    if not note.strip() or len(note) > MANUAL_NOTE_MAX:
        raise _bad("note", "%(field)s: say why, in 1-%(max)s characters", "invalid_note", max=MANUAL_NOTE_MAX)
    exists = await db.scalar(
        select(Attendance.id).where(Attendance.activity_id == activity.id, Attendance.member_id == member_id)
    )
    if exists is not None:
        raise Conflict("already_attended", "This member already has an attendance record here.")
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
    return att


async def _pending_manual(
    db: AsyncSession, actor: Actor, attendance_id: uuid.UUID
) -> tuple[Activity, Attendance]:
    att = await db.scalar(select(Attendance).where(Attendance.id == attendance_id).with_for_update())
    if att is None:
        raise NotFound("attendance_not_found", "No such attendance record.")
    activity = await organizer_activity(db, actor, att.activity_id)
    if att.status != "pending":
        raise Conflict("manual_not_pending", "This record was already decided.")
    if att.requested_by == actor.member_id:
        raise Forbidden("second_organizer_required", "Another organizer must approve a record you entered.")
    if att.member_id == actor.member_id:
        raise Forbidden(
            "approver_conflict", "Another organizer must decide on a record of your own attendance."
        )
    return activity, att


async def approve_manual(
    db: AsyncSession, actor: Actor, attendance_id: uuid.UUID, *, client_addr: str | None = None
) -> Attendance:
    """A second organizer approves a manual record; its points post. Neither the organizer who entered
    it nor the member it is for may approve (``second_organizer_required``, ``approver_conflict``)."""
    activity, att = await _pending_manual(db, actor, attendance_id)
    if activity.status == "pending_approval":
        raise CheckinError("activity_not_open", "This activity is waiting for an admin's approval.")
    if att.checked_out_at is None:
        raise RuntimeError("a pending record always has a check-out time")
    _finish(activity, att, att.checked_out_at)
    att.approved_by = actor.member_id
    await db.flush()
    await _award(db, activity, att, actor.member_id)
    await _audit_manual(db, actor, activity, att, "manual_attendance_approved", client_addr)
    return att


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


async def attendance_list(
    db: AsyncSession,
    actor: Actor,
    activity_id: uuid.UUID,
    *,
    limit: int | None = None,
    after: uuid.UUID | None = None,
) -> list[AttendanceRow]:
    """The organizer's list (by id, so by time), with fraud flags: a device used by several members,
    manual, poster. ``limit``/``after`` page through it; the whole list when ``limit`` is None."""
    activity = await organizer_activity(db, actor, activity_id)
    stmt = (
        select(Attendance, Member.name, Member.phone)
        .join(Member, Member.id == Attendance.member_id)
        .where(Attendance.activity_id == activity.id)
        .order_by(Attendance.id)
    )
    if after is not None:
        stmt = stmt.where(Attendance.id > after)
    if limit is not None:
        stmt = stmt.limit(limit)
    rows = (await db.execute(stmt)).all()
    shared = set(
        await db.scalars(
            select(Attendance.device_id)
            .where(Attendance.activity_id == activity.id, Attendance.device_id.is_not(None))
            .group_by(Attendance.device_id)
            .having(func.count() > 1)
        )
    )
    out = []
    for att, name, phone in rows:
        flags = []
        if att.device_id in shared:
            flags.append("shared_device")
        if att.evidence == "manual":
            flags.append("manual")
        if att.evidence == "poster":
            flags.append("weak_evidence")
        if att.needs_confirmation:
            flags.append("self_attendance")
        out.append(AttendanceRow(att, name, phone, flags))
    return out


ATTENDANCE_CSV_HEADERS = (
    "Name",
    "Phone",
    "Status",
    "Evidence",
    "Checked in at",
    "Checked out at",
    "Minutes",
    "Points",
    "Entered by hand",
    "Flags",
)
"""Column titles of the attendance CSV (msgids: the reader gets them in their language)."""


def attendance_csv(
    rows: list[AttendanceRow], tz: str = "Asia/Shanghai", translate: Callable[[str], str] | None = None
) -> bytes:
    """The attendance list as a spreadsheet, by the shared writer (safe cells, BOM, local times)."""
    cells = [
        [
            r.member_name,
            r.member_phone,
            r.attendance.status,
            r.attendance.evidence,
            r.attendance.checked_in_at,
            r.attendance.checked_out_at,
            r.attendance.minutes,
            r.attendance.points,
            "yes" if r.attendance.evidence == "manual" else "no",
            " ".join(r.flags),
        ]
        for r in rows
    ]
    return kit_csv.csv_bytes(ATTENDANCE_CSV_HEADERS, cells, tz=tz, translate=translate)


# ---------------------------------------------------------------- hours, teams, certificates


@dataclass
class Hours:
    minutes: int
    attendances: int
    points: int
    manual_minutes: int
    items: list[tuple[Activity, Attendance]]


async def hours_of(
    db: AsyncSession, member_id: uuid.UUID, community_id: uuid.UUID, year: int | None = None
) -> Hours:
    """A member's service hours (finished attendances) in a community, optionally in one year."""
    stmt = (
        select(Activity, Attendance)
        .join(Attendance, Attendance.activity_id == Activity.id)
        .where(
            Attendance.member_id == member_id,
            Attendance.community_id == community_id,
            Attendance.status == "out",
        )
        .order_by(Attendance.checked_in_at.desc())
    )
    if year is not None:
        zone = ZoneInfo((await accounts.get_community(db, community_id)).timezone)
        start = datetime(year, 1, 1, tzinfo=zone)
        stmt = stmt.where(
            Attendance.checked_in_at >= start, Attendance.checked_in_at < start.replace(year=year + 1)
        )
    items = [(a, b) for a, b in (await db.execute(stmt)).all()]
    return Hours(
        sum(b.minutes for _, b in items),
        len(items),
        sum(b.points for _, b in items),
        sum(b.minutes for _, b in items if b.evidence == "manual"),
        items,
    )


async def create_team(
    db: AsyncSession, actor: Actor, community_id: uuid.UUID, name: str, leader_id: uuid.UUID
) -> Team:
    await accounts.require_role(db, actor, community_id, "organizer")
    name = " ".join(name.split())
    if not name or len(name) > TITLE_MAX:
        raise _bad("name", "%(field)s: 1-%(max)s characters", "invalid_name", max=TITLE_MAX)
    if await db.scalar(select(Team.id).where(Team.community_id == community_id, Team.name == name)):
        raise Conflict("team_name_taken", "A team with this name already exists.")
    team = Team(community_id=community_id, name=name, leader_id=leader_id)
    db.add(team)
    await db.flush()
    await add_team_member(db, actor, team.id, leader_id)
    return team


async def add_team_member(db: AsyncSession, actor: Actor, team_id: uuid.UUID, member_id: uuid.UUID) -> None:
    team = await db.get(Team, team_id)
    if team is None:
        raise NotFound("team_not_found", "No such team.")
    await accounts.require_role(db, actor, team.community_id, "organizer")
    held = await db.scalar(
        select(Membership.id).where(
            Membership.member_id == member_id, Membership.community_id == team.community_id
        )
    )
    if held is None:
        raise NotFound("member_not_found", "No such member in this community.")
    exists = await db.scalar(
        select(TeamMember.id).where(TeamMember.team_id == team.id, TeamMember.member_id == member_id)
    )
    if exists is None:
        db.add(TeamMember(community_id=team.community_id, team_id=team.id, member_id=member_id))
        await db.flush()


@dataclass
class TeamTotals:
    team: Team
    leader_name: str
    members: list[tuple[uuid.UUID, str, int]]
    """(member id, name, minutes)."""

    @property
    def minutes(self) -> int:
        return sum(m for _, _, m in self.members)


async def teams_with_totals(db: AsyncSession, actor: Actor, community_id: uuid.UUID) -> list[TeamTotals]:
    await accounts.require_role(db, actor, community_id, "member")
    teams = list(await db.scalars(select(Team).where(Team.community_id == community_id).order_by(Team.name)))
    minutes = (
        select(Attendance.member_id, func.coalesce(func.sum(Attendance.minutes), 0).label("m"))
        .where(Attendance.community_id == community_id, Attendance.status == "out")
        .group_by(Attendance.member_id)
        .subquery()
    )
    out = []
    for team in teams:
        rows = (
            await db.execute(
                select(Member.id, Member.name, func.coalesce(minutes.c.m, 0))
                .join(TeamMember, TeamMember.member_id == Member.id)
                .outerjoin(minutes, minutes.c.member_id == Member.id)
                .where(TeamMember.team_id == team.id)
                .order_by(Member.name)
            )
        ).all()
        leader = await db.get(Member, team.leader_id)
        out.append(TeamTotals(team, leader.name if leader else "", [(a, b, int(c)) for a, b, c in rows]))
    return out


# ---------------------------------------------------------------- monthly leaderboards (public board)


def _counted_minutes(community_id: uuid.UUID, start: datetime, end: datetime) -> Any:
    """Minutes served per member in [start, end): finished attendances only (``out``), so a manual
    record counts once a second organizer approved it and never while pending or once rejected.
    An attendance belongs to the period of its check-in time (as in ``hours_of``). The activity
    bound is implied (an attendance starts before its activity ends and activities last at most
    ``ACTIVITY_DAYS_MAX`` days) and lets the query use ``ix_activities_community_starts``."""
    return (
        select(Attendance.member_id, func.sum(Attendance.minutes).label("minutes"))
        .join(Activity, Activity.id == Attendance.activity_id)
        .where(
            Activity.community_id == community_id,
            Activity.starts_at >= start - timedelta(days=ACTIVITY_DAYS_MAX + 1),
            Attendance.community_id == community_id,
            Attendance.status == "out",
            Attendance.checked_in_at >= start,
            Attendance.checked_in_at < end,
            Attendance.minutes > 0,
        )
        .group_by(Attendance.member_id)
    )


async def hours_leaderboard(
    db: AsyncSession, community_id: uuid.UUID, start: datetime, end: datetime, limit: int | None = 20
) -> list[tuple[uuid.UUID, int]]:
    """Service minutes per member in [start, end), most first: ``[(member_id, minutes)]``. Read-only."""
    sub = _counted_minutes(community_id, start, end).subquery()
    stmt = select(sub.c.member_id, sub.c.minutes).order_by(sub.c.minutes.desc(), sub.c.member_id)
    if limit is not None:
        stmt = stmt.limit(limit)
    return [(mid, int(m)) for mid, m in (await db.execute(stmt)).all()]


async def team_hours_leaderboard(
    db: AsyncSession, community_id: uuid.UUID, start: datetime, end: datetime, limit: int | None = 20
) -> list[tuple[uuid.UUID, str, int]]:
    """Service minutes per team in [start, end), most first: ``[(team_id, team name, minutes)]``.

    A team's minutes are its members' minutes (a member of two teams counts for both); teams with
    no minutes in the period are left out. One aggregate query; read-only."""
    sub = _counted_minutes(community_id, start, end).subquery()
    total = func.sum(sub.c.minutes).label("minutes")
    stmt = (
        select(Team.id, Team.name, total)
        .join(TeamMember, TeamMember.team_id == Team.id)
        .join(sub, sub.c.member_id == TeamMember.member_id)
        .where(Team.community_id == community_id)
        .group_by(Team.id, Team.name)
        .order_by(total.desc(), Team.name)
    )
    if limit is not None:
        stmt = stmt.limit(limit)
    return [(tid, name, int(m)) for tid, name, m in (await db.execute(stmt)).all()]


async def team_members(db: AsyncSession, community_id: uuid.UUID) -> list[tuple[uuid.UUID, str, uuid.UUID]]:
    """Every (team id, team name, member id) of a community, in one query (for per-team sums)."""
    rows = await db.execute(
        select(Team.id, Team.name, TeamMember.member_id)
        .join(TeamMember, TeamMember.team_id == Team.id)
        .where(Team.community_id == community_id)
        .order_by(Team.name)
    )
    return [(tid, name, mid) for tid, name, mid in rows.all()]


def certificate_signature(
    key: str, member_id: uuid.UUID, community_id: uuid.UUID, minutes: int, day: str
) -> str:
    """Signs what a printed certificate states, so its QR can prove it was not edited."""
    msg = f"cert|{member_id}|{community_id}|{minutes}|{day}".encode()
    return hmac.new(key.encode(), msg, hashlib.sha256).hexdigest()[:24]


async def activities_now(db: AsyncSession, community_id: uuid.UUID) -> list[Activity]:
    """Open activities whose check-in window includes now (for scanning member cards)."""
    now = clock.now()
    early = timedelta(seconds=rules.CHECKIN_EARLY_SECONDS)
    rows = await db.scalars(
        select(Activity)
        .where(
            Activity.community_id == community_id,
            Activity.status == "open",
            Activity.starts_at <= now + early,
            Activity.ends_at >= now,
        )
        .order_by(Activity.starts_at)
    )
    return list(rows)


async def peek_token(db: AsyncSession, token: str, at: datetime | None = None) -> Activity | None:
    """The activity of a genuine code current now or ``at`` (a pending scan's time), else None."""
    try:
        activity, _evidence = await _verified_activity(db, token, at or clock.now())
    except DomainError:
        return None
    return activity


async def attendance_status(db: AsyncSession, activity_id: uuid.UUID, member_id: uuid.UUID) -> str | None:
    """The member's attendance at an activity (``in``, ``out``, ``pending``, ``rejected``), or None."""
    found = await db.scalar(
        select(Attendance.status).where(
            Attendance.activity_id == activity_id, Attendance.member_id == member_id
        )
    )
    return str(found) if found is not None else None


async def team_attendances(db: AsyncSession, community_id: uuid.UUID) -> dict[uuid.UUID, int]:
    """Completed attendances of each team's members (the same basis as the team's hours)."""
    rows = await db.execute(
        select(TeamMember.team_id, func.count(Attendance.id))
        .join(
            Attendance,
            (Attendance.member_id == TeamMember.member_id) & (Attendance.community_id == community_id),
        )
        .where(TeamMember.community_id == community_id, Attendance.status == "out")
        .group_by(TeamMember.team_id)
    )
    return {tid: int(n) for tid, n in rows.all()}
