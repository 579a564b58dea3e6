"""The read side of activities: what the API and the pages show, in bounded queries.

Each function returns exactly the view model its caller renders. Lists run a fixed number of queries
whatever their length (counts and sums are SQL aggregates), and people's names and roles come from
``service.accounts.views``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import msgspec
from sqlalchemy import Select, exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from service import clock
from service.accounts.actor import Actor
from service.accounts.views import (
    CommunityView,
    MemberView,
    Roles,
    communities_of,
    community_exists,
    community_members,
    community_view,
    holders_among,
    member_names,
    members_by_id,
    role_holders,
    roles_in,
)
from service.activities import codes, rules
from service.activities.errors import (
    ActivityNotFound,
    CardInvalid,
    CommunityNotFound,
    InvalidCursor,
    MemberNotFound,
)
from service.activities.models import (
    Activity,
    ActivityPolicy,
    ActivityScanner,
    Attendance,
    MemberCard,
    OfflineScan,
    Signup,
    Team,
    TeamMember,
)
from service.activities.schemas import (
    ActivityOut,
    ActivityStatus,
    AttendanceOut,
    AttendancePage,
    AttendanceStatus,
    Evidence,
    HoursOut,
    PolicyOut,
    TeamMemberOut,
    TeamOut,
)
from service.config import LIST_LIMIT_MAX
from service.errors import Forbidden, raises
from service.http import decode_cursor, encode_cursor
from service.kit import csv as kit_csv
from service.kit import qr
from service.kit.masking import mask_name, mask_phone
from service.kit.months import year_bounds, year_in_zone
from service.kit.stars import star_level

__all__ = [
    "ACTIVITY_DAYS_MAX",
    "COUNTED",
    "ActivitiesOverview",
    "ActivityDetail",
    "ActivityStatus",
    "AttendanceRow",
    "AttendanceStatus",
    "CardLanding",
    "Certificate",
    "CertificateCheck",
    "CommunityHours",
    "Evidence",
    "Hours",
    "MyActivity",
    "NewActivityForm",
    "OfflineScanRow",
    "ScannerRow",
    "TeamTotals",
    "TeamsOverview",
    "activities_now",
    "activities_overview",
    "activity",
    "activity_detail",
    "activity_scanners",
    "attendance_csv",
    "attendance_export",
    "attendance_list",
    "attendance_page",
    "attendance_status",
    "card_landing",
    "certificate",
    "certificate_signature",
    "check_certificate",
    "checked_in_count",
    "cumulative_minutes",
    "has_scanner_assignment",
    "home_panel",
    "hours_leaderboard",
    "hours_of",
    "hours_out",
    "is_assigned_scanner",
    "list_activities",
    "my_activities",
    "my_hours",
    "new_activity_form",
    "offline_scans_to_resolve",
    "points_cap",
    "policy",
    "require_community",
    "require_role",
    "scanner_activities",
    "scanners_of",
    "signup_count",
    "team_attendances",
    "team_hours_leaderboard",
    "team_members",
    "team_outs",
    "teams_overview",
    "teams_with_totals",
]

ACTIVITY_DAYS_MAX = 31
"""Longest activity window, in days."""
COUNTED: tuple[AttendanceStatus, ...] = ("in", "out", "pending")
"""Attendance statuses that take a place."""
CHECKED_IN: tuple[AttendanceStatus, ...] = ("in", "out")
MY_ACTIVITIES_MAX = 50
RECENT_MAX = 10
HOME_UPCOMING_MAX = 3
MEMBER_PICKER_MAX = 200
"""Members offered in the pages' pickers (the API takes any member id)."""
NOT_ALLOWED = "You do not have the role this needs in this community."


# ---------------------------------------------------------------- roles


@raises(Forbidden, CommunityNotFound)
async def require_role(db: AsyncSession, actor: Actor, community_id: uuid.UUID, *roles: str) -> Roles:
    """The caller's roles in the community, if they hold one of ``roles`` (admins hold every one);
    ``community_not_found`` for a community that does not exist, whoever asks."""
    held = await roles_in(db, actor, community_id)
    if (held.platform_admin or not held.held) and not await community_exists(db, community_id):
        raise CommunityNotFound()
    if not held.any(*roles):
        raise Forbidden(detail=NOT_ALLOWED)
    return held


@raises(CommunityNotFound)
async def require_community(db: AsyncSession, community_id: uuid.UUID) -> CommunityView:
    found = await community_view(db, community_id)
    if found is None:
        raise CommunityNotFound()
    return found


# ---------------------------------------------------------------- activities


def _counted(statuses: Sequence[str]) -> Any:
    return (
        select(func.count(Attendance.id))
        .where(Attendance.activity_id == Activity.id, Attendance.status.in_(statuses))
        .correlate(Activity)
        .scalar_subquery()
    )


COUNTS = ("checked_in_count", "signed_up_count")
ACTIVITY_COLUMNS = tuple(name for name in ActivityOut.__struct_fields__ if name not in COUNTS)
"""The columns of ``activities`` that ``ActivityOut`` shows (it adds the two counts)."""


def _activities() -> Select[Any]:
    """Every column ``ActivityOut`` shows, with both counts as correlated aggregates (one query)."""
    signed = (
        select(func.count(Signup.id)).where(Signup.activity_id == Activity.id).correlate(Activity)
    ).scalar_subquery()
    return select(
        *(getattr(Activity, name) for name in ACTIVITY_COLUMNS),
        _counted(CHECKED_IN).label("checked_in_count"),
        signed.label("signed_up_count"),
    )


def _outs(rows: Sequence[Any]) -> list[ActivityOut]:
    return [msgspec.convert(row, ActivityOut, from_attributes=True) for row in rows]


@raises(ActivityNotFound, require_role)
async def activity(db: AsyncSession, actor: Actor, activity_id: uuid.UUID) -> ActivityOut:
    """An activity with its live counts, for members of its community."""
    row = (await db.execute(_activities().where(Activity.id == activity_id))).first()
    if row is None:
        raise ActivityNotFound()
    await require_role(db, actor, row.community_id, "member")
    return msgspec.convert(row, ActivityOut, from_attributes=True)


@raises(require_role)
async def list_activities(
    db: AsyncSession, actor: Actor, community_id: uuid.UUID, *, upcoming: bool = True, limit: int = 50
) -> list[ActivityOut]:
    """Open activities not yet over (``upcoming``), or the most recent ones; two queries in all."""
    await require_role(db, actor, community_id, "member")
    return await _listed(db, [community_id], upcoming=upcoming, limit=limit)


async def _listed(
    db: AsyncSession, community_ids: Sequence[uuid.UUID], *, upcoming: bool, limit: int
) -> list[ActivityOut]:
    stmt = _activities().where(Activity.community_id.in_(community_ids))
    if upcoming:
        stmt = stmt.where(Activity.status == "open", Activity.ends_at > clock.now()).order_by(
            Activity.starts_at
        )
    else:
        stmt = stmt.order_by(Activity.starts_at.desc())
    return _outs((await db.execute(stmt.limit(limit))).all())


async def checked_in_count(db: AsyncSession, activity_id: uuid.UUID, *, with_pending: bool = False) -> int:
    statuses = COUNTED if with_pending else CHECKED_IN
    stmt = select(func.count()).where(Attendance.activity_id == activity_id, Attendance.status.in_(statuses))
    return int(await db.scalar(stmt) or 0)


async def signup_count(db: AsyncSession, activity_id: uuid.UUID) -> int:
    return int(await db.scalar(select(func.count()).where(Signup.activity_id == activity_id)) or 0)


async def points_cap(db: AsyncSession, community_id: uuid.UUID) -> int:
    """The community's cap on an activity's points per attendance (or per hour)."""
    cap = await db.scalar(
        select(ActivityPolicy.points_cap).where(ActivityPolicy.community_id == community_id)
    )
    return rules.POINTS_CAP_DEFAULT if cap is None else int(cap)


@raises(require_role)
async def policy(db: AsyncSession, actor: Actor, community_id: uuid.UUID) -> PolicyOut:
    """The community's points cap, for its members."""
    await require_role(db, actor, community_id, "member")
    return PolicyOut(community_id=community_id, points_cap=await points_cap(db, community_id))


@dataclass(frozen=True)
class MyActivity:
    activity: ActivityOut
    attendance: Attendance | None
    signed_up: bool

    def __iter__(self) -> Any:  # templates unpack ``for a, att, s in mine``
        return iter((self.activity, self.attendance, self.signed_up))


async def my_activities(db: AsyncSession, actor: Actor, limit: int = MY_ACTIVITIES_MAX) -> list[MyActivity]:
    """Activities the caller signed up for or attended, latest first; two queries."""
    signed = select(Signup.activity_id).where(Signup.member_id == actor.member_id)
    attended = select(Attendance.activity_id).where(Attendance.member_id == actor.member_id)
    mine = (Signup.activity_id == Activity.id) & (Signup.member_id == actor.member_id)
    rows = (
        await db.execute(
            _activities()
            .add_columns(exists().where(mine).label("signed_up"))
            .where(Activity.id.in_(signed.union(attended).scalar_subquery()))
            .order_by(Activity.starts_at.desc())
            .limit(limit)
        )
    ).all()
    ids = [r.id for r in rows]
    att = {
        a.activity_id: a
        for a in await db.scalars(
            select(Attendance).where(Attendance.member_id == actor.member_id, Attendance.activity_id.in_(ids))
        )
    }
    return [
        MyActivity(msgspec.convert(r, ActivityOut, from_attributes=True), att.get(r.id), bool(r.signed_up))
        for r in rows
    ]


@dataclass(frozen=True)
class ActivitiesOverview:
    communities: list[CommunityView]
    organizing: set[uuid.UUID]
    upcoming: dict[uuid.UUID, list[ActivityOut]]
    recent: dict[uuid.UUID, list[ActivityOut]]
    mine: list[MyActivity]
    signed: set[uuid.UUID]
    attended: set[uuid.UUID]
    now: datetime


@raises(list_activities)
async def activities_overview(db: AsyncSession, actor: Actor) -> ActivitiesOverview:
    """The activities page: upcoming ones per community, recent ones where the caller organizes, and
    the caller's own."""
    held = await communities_of(db, actor)
    upcoming = {c.id: await list_activities(db, actor, c.id) for c, _roles in held}
    organizing = {c.id for c, roles in held if roles.any("organizer")}
    recent = {cid: await _listed(db, [cid], upcoming=False, limit=RECENT_MAX) for cid in organizing}
    mine = await my_activities(db, actor)
    return ActivitiesOverview(
        communities=[c for c, _ in held],
        organizing=organizing,
        upcoming=upcoming,
        recent=recent,
        mine=mine,
        signed={m.activity.id for m in mine if m.signed_up},
        attended={m.activity.id for m in mine if m.attendance is not None},
        now=clock.now(),
    )


@dataclass(frozen=True)
class NewActivityForm:
    communities: list[CommunityView]
    chosen: CommunityView
    teams: list[Team]
    categories: tuple[str, ...]


@raises(Forbidden)
async def new_activity_form(
    db: AsyncSession, actor: Actor, community: str | None, categories: tuple[str, ...]
) -> NewActivityForm:
    """The communities where the caller may create activities (the chosen one first) and its teams."""
    allowed = [c for c, roles in await communities_of(db, actor) if roles.any("organizer")]
    if not allowed:
        raise Forbidden(detail="Only organizers can create activities.")
    chosen = next((c for c in allowed if str(c.id) == community), allowed[0])
    teams = list(await db.scalars(select(Team).where(Team.community_id == chosen.id).order_by(Team.name)))
    return NewActivityForm(allowed, chosen, teams, categories)


async def _signed_up(db: AsyncSession, activity_id: uuid.UUID, member_id: uuid.UUID) -> bool:
    found = await db.scalar(
        select(Signup.id).where(Signup.activity_id == activity_id, Signup.member_id == member_id)
    )
    return found is not None


async def _attendance_of(db: AsyncSession, activity_id: uuid.UUID, member_id: uuid.UUID) -> Attendance | None:
    found: Attendance | None = await db.scalar(
        select(Attendance).where(Attendance.activity_id == activity_id, Attendance.member_id == member_id)
    )
    return found


@dataclass(frozen=True)
class ActivityDetail:
    activity: ActivityOut
    community: CommunityView
    organizer: bool
    rows: list[AttendanceRow]
    mine: Attendance | None
    signed: bool
    members: list[MemberView]
    count: int
    signups: int
    tz: str
    cap: int
    can_approve: bool
    offline: list[OfflineScanRow]
    """Refused and conflicting offline scans waiting for an organizer (organizers only)."""
    scanners: list[ScannerRow]
    """The clerks named to scan at this activity (organizers only)."""
    clerks: list[MemberView]
    """The community's clerks an organizer may name (organizers only; not the caller, not those named)."""


@raises(activity, require_community)
async def activity_detail(db: AsyncSession, actor: Actor, activity_id: uuid.UUID) -> ActivityDetail:
    """The activity page: the caller's own attendance and sign-up at this one activity; for
    organizers the attendance list and the member picker of manual records."""
    shown = await activity(db, actor, activity_id)
    roles = await roles_in(db, actor, shown.community_id)
    community = await require_community(db, shown.community_id)
    organizer = roles.any("organizer")
    created_by = await db.scalar(select(Activity.created_by).where(Activity.id == activity_id))
    scanners = await scanners_of(db, activity_id) if organizer else []
    clerks = await role_holders(db, community.id, "clerk", MEMBER_PICKER_MAX) if organizer else []
    return ActivityDetail(
        activity=shown,
        community=community,
        organizer=organizer,
        rows=await _attendance_rows(db, activity_id) if organizer else [],
        mine=await _attendance_of(db, activity_id, actor.member_id),
        signed=await _signed_up(db, activity_id, actor.member_id),
        members=await community_members(db, community.id, MEMBER_PICKER_MAX) if organizer else [],
        count=shown.checked_in_count,
        signups=shown.signed_up_count,
        tz=community.timezone,
        cap=await points_cap(db, community.id),
        can_approve=shown.status == "pending_approval"
        and created_by != actor.member_id
        and roles.any("admin"),
        offline=await offline_scans_to_resolve(db, activity_id) if organizer else [],
        scanners=scanners,
        clerks=[c for c in clerks if c.id != actor.member_id and c.id not in {s.member_id for s in scanners}],
    )


@dataclass(frozen=True)
class OfflineScanRow:
    id: uuid.UUID
    nonce: str
    device_id: str
    status: str
    refusal: str
    scanned_at: datetime
    member_id: uuid.UUID | None
    name: str
    attendance_id: uuid.UUID | None


async def offline_scans_to_resolve(
    db: AsyncSession, activity_id: uuid.UUID, limit: int = 200
) -> list[OfflineScanRow]:
    """The activity's refused and conflicting offline scans nobody resolved yet, oldest first."""
    rows = list(
        await db.scalars(
            select(OfflineScan)
            .where(OfflineScan.activity_id == activity_id, OfflineScan.status.in_(("refused", "conflict")))
            .order_by(OfflineScan.scanned_at, OfflineScan.id)
            .limit(limit)
        )
    )
    names = await member_names(db, [r.member_id for r in rows if r.member_id], masked=False)
    return [
        OfflineScanRow(
            id=r.id,
            nonce=r.nonce,
            device_id=r.device_id,
            status=r.status,
            refusal=r.refusal or "",
            scanned_at=r.scanned_at,
            member_id=r.member_id,
            name=names.get(r.member_id, "") if r.member_id else "",
            attendance_id=r.attendance_id,
        )
        for r in rows
    ]


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


SCANNER_AHEAD_SECONDS = 2 * 24 * 3600
"""How far ahead the offline scanner lists activities: a kit is fetched in the office, used in the village."""
SCANNER_ROWS = 50


@raises(require_role)
async def scanner_activities(db: AsyncSession, actor: Actor, community_id: uuid.UUID) -> list[Activity]:
    """Open activities of the community that have not ended and start within two days, soonest first
    (the offline scanner's choice): all of them for an organizer, for a clerk only those an organizer
    named them to scan at; a clerk named nowhere is refused."""
    roles = await require_role(db, actor, community_id, "organizer", "clerk")
    now = clock.now()
    query = (
        select(Activity)
        .where(
            Activity.community_id == community_id,
            Activity.status == "open",
            Activity.starts_at <= now + timedelta(seconds=SCANNER_AHEAD_SECONDS),
            Activity.ends_at >= now,
        )
        .order_by(Activity.starts_at)
        .limit(SCANNER_ROWS)
    )
    if not roles.any("organizer"):
        if not await has_scanner_assignment(db, actor.member_id, community_id):
            raise Forbidden(detail=NOT_NAMED)
        named = select(ActivityScanner.activity_id).where(ActivityScanner.member_id == actor.member_id)
        query = query.where(Activity.id.in_(named))
    return list(await db.scalars(query))


# ---------------------------------------------------------------- scanning helpers


NOT_NAMED = "An organizer has not named you to scan at any open activity."
SCANNABLE = ("open", "pending_approval")
"""Statuses of an activity helpers are named to (and that count as "named somewhere")."""


@dataclass(frozen=True)
class ScannerRow:
    member_id: uuid.UUID
    name: str
    assigned_by: uuid.UUID
    created_at: datetime
    clerk: bool
    """Still holds the clerk role in the community (a clerk who lost it no longer scans)."""


async def scanners_of(
    db: AsyncSession, activity_id: uuid.UUID, member_id: uuid.UUID | None = None
) -> list[ScannerRow]:
    """The clerks named to scan at the activity (or just ``member_id``), in the order they were named
    (the caller's role was checked by the caller of this function)."""
    query = select(ActivityScanner).where(ActivityScanner.activity_id == activity_id)
    if member_id is not None:
        query = query.where(ActivityScanner.member_id == member_id)
    rows = list(
        await db.scalars(
            query.order_by(ActivityScanner.created_at, ActivityScanner.id).limit(MEMBER_PICKER_MAX)
        )
    )
    if not rows:
        return []
    names = await member_names(db, [r.member_id for r in rows])
    clerks = await holders_among(db, rows[0].community_id, "clerk", [r.member_id for r in rows])
    return [
        ScannerRow(
            r.member_id, names.get(r.member_id, ""), r.assigned_by, r.created_at, r.member_id in clerks
        )
        for r in rows
    ]


@raises(ActivityNotFound, require_role)
async def activity_scanners(db: AsyncSession, actor: Actor, activity_id: uuid.UUID) -> list[ScannerRow]:
    """:func:`scanners_of` for an organizer of the activity's community."""
    community_id = await db.scalar(select(Activity.community_id).where(Activity.id == activity_id))
    if community_id is None:
        raise ActivityNotFound()
    await require_role(db, actor, community_id, "organizer")
    return await scanners_of(db, activity_id)


async def is_assigned_scanner(db: AsyncSession, activity_id: uuid.UUID, member_id: uuid.UUID) -> bool:
    """Whether the person is named to scan at the activity (their clerk role is checked apart)."""
    found = await db.scalar(
        select(ActivityScanner.id).where(
            ActivityScanner.activity_id == activity_id, ActivityScanner.member_id == member_id
        )
    )
    return found is not None


async def has_scanner_assignment(db: AsyncSession, member_id: uuid.UUID, community_id: uuid.UUID) -> bool:
    """Whether the person is named to scan at an open (or pending) activity of the community."""
    found = await db.scalar(
        select(ActivityScanner.id)
        .join(Activity, Activity.id == ActivityScanner.activity_id)
        .where(
            ActivityScanner.member_id == member_id,
            ActivityScanner.community_id == community_id,
            Activity.status.in_(SCANNABLE),
        )
        .limit(1)
    )
    return found is not None


async def attendance_status(db: AsyncSession, activity_id: uuid.UUID, member_id: uuid.UUID) -> str | None:
    """The member's attendance at an activity (``in``, ``out``, ``pending``, ``rejected``), or None."""
    found = await db.scalar(
        select(Attendance.status).where(
            Attendance.activity_id == activity_id, Attendance.member_id == member_id
        )
    )
    return str(found) if found is not None else None


# ---------------------------------------------------------------- attendance lists


@dataclass
class AttendanceRow:
    attendance: Attendance
    member_name: str
    member_phone: str
    flags: list[str] = field(default_factory=list)


@raises(ActivityNotFound, require_role)
async def _organizer_community(db: AsyncSession, actor: Actor, activity_id: uuid.UUID) -> uuid.UUID:
    community_id = await db.scalar(select(Activity.community_id).where(Activity.id == activity_id))
    if community_id is None:
        raise ActivityNotFound()
    await require_role(db, actor, community_id, "organizer")
    return community_id


@raises(_organizer_community)
async def attendance_list(
    db: AsyncSession,
    actor: Actor,
    activity_id: uuid.UUID,
    *,
    limit: int | None = None,
    after: uuid.UUID | None = None,
) -> list[AttendanceRow]:
    """The organizer's list (by id, so by time), with fraud flags: a device used by several members,
    manual, poster, and ``new_account`` (signed up at this event). ``limit``/``after`` page through it;
    the whole list when ``limit`` is None."""
    await _organizer_community(db, actor, activity_id)
    return await _attendance_rows(db, activity_id, limit=limit, after=after)


async def _attendance_rows(
    db: AsyncSession, activity_id: uuid.UUID, *, limit: int | None = None, after: uuid.UUID | None = None
) -> list[AttendanceRow]:
    stmt = select(Attendance).where(Attendance.activity_id == activity_id).order_by(Attendance.id)
    if after is not None:
        stmt = stmt.where(Attendance.id > after)
    if limit is not None:
        stmt = stmt.limit(limit)
    rows = list(await db.scalars(stmt))
    people = await members_by_id(db, {a.member_id for a in rows})
    published = await db.scalar(select(Activity.created_at).where(Activity.id == activity_id)) or clock.now()
    shared = set(
        await db.scalars(
            select(Attendance.device_id)
            .where(
                Attendance.activity_id == activity_id,
                Attendance.device_id.is_not(None),
                Attendance.evidence != "member_card",  # an organizer's scanner scans everybody
            )
            .group_by(Attendance.device_id)
            .having(func.count() > 1)
        )
    )
    out = []
    for att in rows:
        person = people.get(att.member_id)
        flags = []
        if att.device_id in shared:
            flags.append("shared_device")
        if att.evidence == "manual":
            flags.append("manual")
        if att.evidence == "poster":
            flags.append("weak_evidence")
        if att.needs_confirmation:
            flags.append("self_attendance")
        if person is not None and rules.signed_up_at_event(person.created_at, published, att.checked_in_at):
            flags.append("new_account")
        out.append(AttendanceRow(att, person.name if person else "", person.phone if person else "", flags))
    return out


def _attendance_out(r: AttendanceRow) -> AttendanceOut:
    a = r.attendance
    return AttendanceOut(
        id=a.id,
        member_id=a.member_id,
        member_name=r.member_name,
        status=msgspec.convert(a.status, AttendanceStatus),
        evidence=msgspec.convert(a.evidence, Evidence),
        checked_in_at=a.checked_in_at,
        checked_out_at=a.checked_out_at,
        minutes=a.minutes,
        points=a.points,
        manual=a.evidence == "manual",
        flags=r.flags,
        note=a.note,
        new_account="new_account" in r.flags,
    )


@raises(InvalidCursor, decode_cursor, attendance_list)
async def attendance_page(
    db: AsyncSession, actor: Actor, activity_id: uuid.UUID, limit: int, cursor: str | None
) -> AttendancePage:
    """One page of the attendance list for the API, with the cursor of the next one."""
    after = decode_cursor(cursor)
    try:
        after_id = uuid.UUID(after) if after else None
    except ValueError as exc:
        raise InvalidCursor() from exc
    rows = await attendance_list(db, actor, activity_id, limit=limit + 1, after=after_id)
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor(str(rows[-1].attendance.id)) if more else None
    return AttendancePage([_attendance_out(r) for r in rows], next_cursor)


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


@raises(_organizer_community, require_community)
async def attendance_export(
    db: AsyncSession, actor: Actor, activity_id: uuid.UUID, translate: Callable[[str], str]
) -> bytes:
    """The whole attendance list as CSV, times in the community's zone (organizers)."""
    community_id = await _organizer_community(db, actor, activity_id)
    rows = await _attendance_rows(db, activity_id)
    zone = (await require_community(db, community_id)).timezone
    return attendance_csv(rows, zone, translate)


# ---------------------------------------------------------------- hours and certificates


@dataclass
class Hours:
    minutes: int
    attendances: int
    points: int
    manual_minutes: int
    items: list[tuple[Activity, Attendance]] = field(default_factory=list)
    """The attendances themselves (latest first), when asked for."""


@raises(require_community)
async def hours_of(
    db: AsyncSession,
    member_id: uuid.UUID,
    community_id: uuid.UUID,
    year: int | None = None,
    *,
    with_items: bool = True,
) -> Hours:
    """A member's service hours (finished attendances) in a community, optionally in one year of the
    community's time zone. The totals are one SQL aggregate; ``with_items`` also loads the rows."""
    where = [
        Attendance.member_id == member_id,
        Attendance.community_id == community_id,
        Attendance.status == "out",
    ]
    if year is not None:
        start, end = year_bounds(year, (await _community_zone(db, community_id)))
        where += [Attendance.checked_in_at >= start, Attendance.checked_in_at < end]
    manual = func.sum(Attendance.minutes).filter(Attendance.evidence == "manual")
    totals = (
        await db.execute(
            select(
                func.coalesce(func.sum(Attendance.minutes), 0),
                func.count(Attendance.id),
                func.coalesce(func.sum(Attendance.points), 0),
                func.coalesce(manual, 0),
            ).where(*where)
        )
    ).one()
    items: list[tuple[Activity, Attendance]] = []
    if with_items:
        stmt = (
            select(Activity, Attendance)
            .join(Attendance, Attendance.activity_id == Activity.id)
            .where(*where)
            .order_by(Attendance.checked_in_at.desc())
        )
        items = [(a, b) for a, b in (await db.execute(stmt)).all()]
    return Hours(int(totals[0]), int(totals[1]), int(totals[2]), int(totals[3]), items)


async def _community_zone(db: AsyncSession, community_id: uuid.UUID) -> str:
    return (await require_community(db, community_id)).timezone


@raises(require_role, hours_of)
async def hours_out(db: AsyncSession, actor: Actor, community_id: uuid.UUID, year: int | None) -> HoursOut:
    """The caller's hours in a community for the API."""
    await require_role(db, actor, community_id, "member")
    h = await hours_of(db, actor.member_id, community_id, year, with_items=False)
    lifetime = (await cumulative_minutes(db, [actor.member_id])).get(actor.member_id, 0)
    return HoursOut(
        community_id=community_id,
        year=year,
        minutes=h.minutes,
        hours=round(h.minutes / 60, 2),
        attendances=h.attendances,
        points=h.points,
        manual_minutes=h.manual_minutes,
        star_level=star_level(lifetime),
    )


async def cumulative_minutes(db: AsyncSession, member_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, int]:
    """Each member's recorded service minutes in every community, all years (star levels count these)."""
    if not member_ids:
        return {}
    rows = await db.execute(
        select(Attendance.member_id, func.sum(Attendance.minutes))
        .where(Attendance.member_id.in_(list(member_ids)[:LIST_LIMIT_MAX]), Attendance.status == "out")
        .group_by(Attendance.member_id)
    )
    return {mid: int(total or 0) for mid, total in rows.all()}


@dataclass(frozen=True)
class CommunityHours:
    community: CommunityView
    total: Hours
    this_year: Hours

    def __iter__(self) -> Any:  # templates unpack ``for c, total, year in data``
        return iter((self.community, self.total, self.this_year))


@raises(hours_of)
async def my_hours(db: AsyncSession, actor: Actor) -> tuple[list[CommunityHours], int]:
    """The caller's hours in each of their communities, in all and this year (the year of the
    community's time zone, as ``hours_of`` counts it); the year shown is that of the first community."""
    now = clock.now()
    data = []
    for c, _roles in await communities_of(db, actor):
        year = year_in_zone(now, c.timezone)
        data.append(
            CommunityHours(
                c,
                await hours_of(db, actor.member_id, c.id),
                await hours_of(db, actor.member_id, c.id, year),
            )
        )
    return data, (year_in_zone(now, data[0].community.timezone) if data else now.year)


def certificate_signature(
    key: str, member_id: uuid.UUID, community_id: uuid.UUID, minutes: int, day: str
) -> str:
    """Signs what a printed certificate states, so its QR can prove it was not edited."""
    msg = f"cert|{member_id}|{community_id}|{minutes}|{day}".encode()
    return hmac.new(key.encode(), msg, hashlib.sha256).hexdigest()[:24]


@dataclass(frozen=True)
class Certificate:
    member: MemberView
    community: CommunityView
    hours: Hours
    day: str
    svg: str
    tz: str


CERTIFICATE_REFUSED = "You cannot see this certificate."


@raises(Forbidden, hours_of)
async def certificate(
    db: AsyncSession, actor: Actor, member_id: uuid.UUID, community: str | None, key: str, public_url: str
) -> Certificate:
    """A service certificate (志愿服务证明) with a QR that verifies it: for the member themself or an
    organizer of the community; anything else is ``forbidden``."""
    try:
        cid = uuid.UUID(community or "")
    except ValueError as exc:
        raise Forbidden(detail=CERTIFICATE_REFUSED) from exc
    chosen = await community_view(db, cid)
    roles = await roles_in(db, actor, cid)
    person = (await members_by_id(db, [member_id])).get(member_id)
    if (
        chosen is None
        or person is None
        or not roles.any("member" if member_id == actor.member_id else "organizer")
    ):
        raise Forbidden(detail=CERTIFICATE_REFUSED)
    hours = await hours_of(db, member_id, cid)
    day = clock.now().astimezone(ZoneInfo(chosen.timezone)).strftime("%Y%m%d")
    sig = certificate_signature(key, member_id, cid, hours.minutes, day)
    query = urlencode({"m": str(member_id), "c": str(cid), "min": hours.minutes, "d": day, "s": sig})
    svg = qr.svg(f"{public_url}/certificate/verify?{query}").decode()
    return Certificate(person, chosen, hours, day, svg, chosen.timezone)


@dataclass(frozen=True)
class CertificateCheck:
    genuine: bool
    member_name: str = ""
    community_name: str = ""


async def check_certificate(
    db: AsyncSession, key: str, member: str, community: str, minutes: int, day: str, signature: str
) -> CertificateCheck:
    """Whether a scanned certificate is genuine; the name is masked for whoever scans it."""
    try:
        mid, cid = uuid.UUID(member), uuid.UUID(community)
    except ValueError:
        return CertificateCheck(False)
    expected = certificate_signature(key, mid, cid, minutes, day)
    if not secrets.compare_digest(expected, signature):
        return CertificateCheck(False)
    names = await members_by_id(db, [mid])
    place = await community_view(db, cid)
    if mid not in names or place is None:
        return CertificateCheck(False)
    return CertificateCheck(True, mask_name(names[mid].name), place.name)


# ---------------------------------------------------------------- member cards


@dataclass(frozen=True)
class CardLanding:
    member: MemberView
    phone: str
    card: MemberCard
    activities: list[Activity]


@raises(CardInvalid, MemberNotFound, require_role)
async def card_landing(db: AsyncSession, actor: Actor, token: str) -> CardLanding:
    """Staff scanning a card: whose it is and the activities open for check-in now (organizers and
    clerks of the card's community)."""
    card = await codes.card_of(db, token)
    if card is None:
        raise CardInvalid()
    await require_role(db, actor, card.community_id, "organizer", "clerk")
    person = (await members_by_id(db, [card.member_id])).get(card.member_id)
    if person is None:
        raise MemberNotFound(detail="No such member.")
    return CardLanding(person, mask_phone(person.phone), card, await activities_now(db, card.community_id))


# ---------------------------------------------------------------- teams


@dataclass
class TeamTotals:
    team: Team
    leader_name: str
    members: list[tuple[uuid.UUID, str, int]]
    """(member id, name, minutes)."""

    @property
    def minutes(self) -> int:
        return sum(m for _, _, m in self.members)


@raises(require_role)
async def teams_with_totals(db: AsyncSession, actor: Actor, community_id: uuid.UUID) -> list[TeamTotals]:
    """The community's teams with their members and served minutes: three queries in all."""
    await require_role(db, actor, community_id, "member")
    teams = list(await db.scalars(select(Team).where(Team.community_id == community_id).order_by(Team.name)))
    minutes = (
        select(Attendance.member_id, func.coalesce(func.sum(Attendance.minutes), 0).label("m"))
        .where(Attendance.community_id == community_id, Attendance.status == "out")
        .group_by(Attendance.member_id)
        .subquery()
    )
    rows = (
        await db.execute(
            select(TeamMember.team_id, TeamMember.member_id, func.coalesce(minutes.c.m, 0))
            .join(Team, Team.id == TeamMember.team_id)
            .outerjoin(minutes, minutes.c.member_id == TeamMember.member_id)
            .where(Team.community_id == community_id)
        )
    ).all()
    names = {
        m.id: m.name
        for m in (await members_by_id(db, {r[1] for r in rows} | {t.leader_id for t in teams})).values()
    }
    per_team: dict[uuid.UUID, list[tuple[uuid.UUID, str, int]]] = {t.id: [] for t in teams}
    for team_id, member_id, served in rows:
        per_team[team_id].append((member_id, names.get(member_id, ""), int(served)))
    return [
        TeamTotals(t, names.get(t.leader_id, ""), sorted(per_team[t.id], key=lambda m: (m[1], m[0])))
        for t in teams
    ]


def _team_out(t: TeamTotals) -> TeamOut:
    return TeamOut(
        id=t.team.id,
        name=t.team.name,
        leader_id=t.team.leader_id,
        leader_name=t.leader_name,
        members=[TeamMemberOut(member_id=m, name=n, minutes=minutes) for m, n, minutes in t.members],
        total_minutes=t.minutes,
    )


@raises(teams_with_totals)
async def team_outs(db: AsyncSession, actor: Actor, community_id: uuid.UUID) -> list[TeamOut]:
    return [_team_out(t) for t in await teams_with_totals(db, actor, community_id)]


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


@dataclass(frozen=True)
class TeamsOverview:
    community: CommunityView
    communities: list[CommunityView]
    teams: list[TeamTotals]
    mine: set[uuid.UUID]
    attendances: dict[uuid.UUID, int]
    members: list[tuple[uuid.UUID, str]]
    organizer: bool


@raises(Forbidden, teams_with_totals)
async def teams_overview(db: AsyncSession, actor: Actor, community: str | None) -> TeamsOverview:
    """The teams page: the caller's teams first; organizers also get the member picker."""
    held = await communities_of(db, actor)
    if not held:
        raise Forbidden(detail="You are not a member of any community yet.")
    chosen, roles = next(((c, r) for c, r in held if str(c.id) == community), held[0])
    teams = await teams_with_totals(db, actor, chosen.id)
    organizer = roles.any("organizer")
    members: list[tuple[uuid.UUID, str]] = []
    if organizer:
        picker = await community_members(db, chosen.id, MEMBER_PICKER_MAX)
        members = [(m.id, f"{m.name} · {mask_phone(m.phone)}") for m in picker]
    mine = {t.team.id for t in teams if any(mid == actor.member_id for mid, _n, _m in t.members)}
    return TeamsOverview(
        community=chosen,
        communities=[c for c, _ in held],
        teams=sorted(teams, key=lambda t: t.team.id not in mine),
        mine=mine,
        attendances=await team_attendances(db, chosen.id),
        members=members,
        organizer=organizer,
    )


# ---------------------------------------------------------------- monthly leaderboards (public board)


def _counted_minutes(community_id: uuid.UUID, start: datetime, end: datetime) -> Select[uuid.UUID, int]:
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


# ---------------------------------------------------------------- home page panel


@raises(list_activities, hours_of)
async def home_panel(db: AsyncSession, actor: Actor, community: Any) -> dict[str, Any]:
    """The home page's activities panel of one community: the next activities and the caller's hours."""
    upcoming = await list_activities(db, actor, community.id, limit=HOME_UPCOMING_MAX)
    hours = await hours_of(db, actor.member_id, community.id, with_items=False)
    open_rows = await db.execute(
        select(Attendance, Activity)
        .join(Activity, Activity.id == Attendance.activity_id)
        .where(
            Attendance.community_id == community.id,
            Attendance.member_id == actor.member_id,
            Attendance.status == "in",
            Activity.status == "open",
        )
        .order_by(Attendance.checked_in_at.desc())
        .limit(HOME_UPCOMING_MAX)
    )
    open_checkins = [
        OpenCheckin(
            activity=act,
            checked_in_at=att.checked_in_at,
            check_out_from=att.checked_in_at + timedelta(seconds=rules.MIN_STAY_SECONDS),
            expected_points=expected_points(act),
        )
        for att, act in open_rows.all()
    ]
    return {
        "activity_panel_upcoming": upcoming,
        "activity_panel_minutes": hours.minutes,
        "activity_panel_open": open_checkins,
        "activity_panel_scanner": await has_scanner_assignment(db, actor.member_id, community.id),
    }


@dataclass(frozen=True)
class OpenCheckin:
    """A check-in of the caller still open (no check-out yet): the home page's reminder to scan out."""

    activity: Activity
    checked_in_at: datetime
    check_out_from: datetime
    """When a second scan checks out (the minimum stay after checking in)."""
    expected_points: int
    """What checking out when the activity ends would pay (a flat activity: its points)."""


def expected_points(activity: Activity) -> int:
    """The points an attendance of the whole activity earns (by the activity's own rule)."""
    minutes = int((activity.ends_at - activity.starts_at).total_seconds() // 60)
    return rules.points_for(activity.points_mode, activity.points, activity.points_max, minutes)
