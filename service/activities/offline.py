"""Offline check-in: what a scanner downloads while online (the kit), the sync of the scans it made
offline (exactly once per nonce), and the organizer's resolution of refused and conflicting scans.

Each uploaded scan goes through the same ``_scan`` as an online card scan (check-in, check-out with
the real minutes, the same points rules and issuance budget), at the time it was scanned. The formats
are in ``docs/offline.md``.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from service import clock
from service.accounts.actor import Actor
from service.accounts.views import community_members, is_member, member_names
from service.activities import codes, rules
from service.activities import service as svc
from service.activities.errors import (
    CardRevoked,
    ClockDrift,
    CodeInvalid,
    InvalidSync,
    NotAMember,
    OfflineScanNotFound,
    OfflineScanResolved,
    ScanConflict,
    ScanOutsideWindow,
)
from service.activities.models import (
    Activity,
    Attendance,
    CodeRevocation,
    MemberCard,
    OfflineScan,
    PersonalCode,
)
from service.audit.service import record
from service.db import is_postgres
from service.errors import DomainError, raises
from service.ids import new_id
from service.kit import signing

__all__ = [
    "CLOCK_DRIFT_MAX_SECONDS",
    "ROSTER_MAX",
    "SYNC_BATCH_MAX",
    "OfflineKit",
    "ScanIn",
    "SyncResult",
    "offline_kit",
    "resolve_scan",
    "sync_scans",
]

SYNC_BATCH_MAX = 200
"""Scans in one upload; a scanner with more sends several."""
CLOCK_DRIFT_MAX_SECONDS = 5 * 60
"""A scan dated more than this after the server's time, or an upload whose device clock (``sent_at``)
differs from the server's by more, is refused ``clock_drift``: its times cannot be trusted."""
ROSTER_MAX = 20_000
"""Members of a community a kit lists (a larger community's kit says ``roster_truncated``)."""
_NONCE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
_DEVICE = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
CODE_MAX = 200

SyncStatus = Literal["applied", "duplicate", "refused"]


@dataclass(frozen=True)
class ScanIn:
    nonce: str
    activity_id: uuid.UUID
    code: str
    scanned_at: datetime


@dataclass(frozen=True)
class SyncResult:
    nonce: str
    status: SyncStatus
    code: str | None = None
    attendance_id: uuid.UUID | None = None


@dataclass(frozen=True)
class RosterEntry:
    member_id: uuid.UUID
    name: str
    """Masked (王*成): the scanner shows it to confirm the person."""
    card_version: int | None
    code_version: int


@dataclass(frozen=True)
class Revoked:
    kind: int
    community_id: uuid.UUID | None
    member_id: uuid.UUID
    version: int


@dataclass(frozen=True)
class OfflineKit:
    activity: Activity
    server_time: datetime
    keys: dict[int, bytes]
    roster: list[RosterEntry]
    roster_truncated: bool
    revoked: list[Revoked]


@raises(svc.scanner_activity)
async def offline_kit(db: AsyncSession, actor: Actor, activity_id: uuid.UUID, seed: str) -> OfflineKit:
    """What a scanner needs to check codes with no connection (the activity's organizers and the
    clerks named to scan at it)."""
    activity = await svc.scanner_activity(db, actor, activity_id)
    people = await community_members(db, activity.community_id, ROSTER_MAX + 1)
    ids = [p.id for p in people[:ROSTER_MAX]]
    names = await member_names(db, ids, masked=True)
    cards = dict(
        (
            await db.execute(
                select(MemberCard.member_id, MemberCard.version).where(
                    MemberCard.community_id == activity.community_id
                )
            )
        ).all()
    )
    personal: dict[uuid.UUID, int] = {}
    for chunk in range(0, len(ids), 1000):
        rows = await db.execute(
            select(PersonalCode.member_id, PersonalCode.version).where(
                PersonalCode.member_id.in_(ids[chunk : chunk + 1000])
            )
        )
        personal.update(dict(rows.all()))
    roster = [RosterEntry(m, names.get(m, ""), cards.get(m), personal.get(m, 1)) for m in ids]
    revoked_rows = list(
        await db.scalars(
            select(CodeRevocation)
            .where(CodeRevocation.community_id == activity.community_id)
            .order_by(CodeRevocation.member_id, CodeRevocation.version)
        )
    )
    for chunk in range(0, len(ids), 1000):  # personal codes name no community: the roster's people's
        revoked_rows += await db.scalars(
            select(CodeRevocation)
            .where(
                CodeRevocation.kind == signing.KIND_PERSONAL,
                CodeRevocation.member_id.in_(ids[chunk : chunk + 1000]),
            )
            .order_by(CodeRevocation.member_id, CodeRevocation.version)
        )
    revoked = [Revoked(r.kind, r.community_id, r.member_id, r.version) for r in revoked_rows]
    return OfflineKit(
        activity=activity,
        server_time=clock.now(),
        keys=await _keys(db, seed),
        roster=roster,
        roster_truncated=len(people) > ROSTER_MAX,
        revoked=revoked,
    )


async def _keys(db: AsyncSession, seed: str) -> dict[int, bytes]:
    await codes.signer(db, seed)  # the current key is listed even before it signed anything
    return await codes.public_keys(db)


# ---------------------------------------------------------------- sync


def _check_batch(device_id: str, scans: list[ScanIn]) -> None:
    if not _DEVICE.match(device_id):
        raise InvalidSync(detail="%(field)s: 1-64 letters, digits or -_.:", params={"field": "device_id"})
    if not 1 <= len(scans) <= SYNC_BATCH_MAX:
        raise InvalidSync(
            detail="%(field)s: 1-%(max)s scans", params={"field": "scans", "max": SYNC_BATCH_MAX}
        )
    seen: set[str] = set()
    for s in scans:
        if not _NONCE.match(s.nonce) or s.nonce in seen:
            raise InvalidSync(
                detail="%(field)s: 16-64 letters, digits, - or _, each once", params={"field": "nonce"}
            )
        seen.add(s.nonce)
        if s.scanned_at.tzinfo is None:
            raise InvalidSync(detail="%(field)s: times need a UTC offset", params={"field": "scanned_at"})
        if not 1 <= len(s.code) <= CODE_MAX:
            raise InvalidSync(
                detail="%(field)s: 1-%(max)s characters", params={"field": "code", "max": CODE_MAX}
            )


@raises(InvalidSync, svc.scanner_activity, svc.finish_after_close)
async def sync_scans(
    db: AsyncSession,
    actor: Actor,
    seed: str,
    device_id: str,
    scans: list[ScanIn],
    sent_at: datetime | None = None,
) -> list[SyncResult]:
    """Apply a scanner's offline scans once each (by nonce), in the order they were scanned; answer
    in the order they came. Every scan is kept (``offline_scans``), refused ones too, for the
    organizer to resolve. The caller may scan at every activity named (``svc.scanner_activity``: an
    organizer, or a clerk named to it), or nothing is written."""
    _check_batch(device_id, scans)
    activities: dict[uuid.UUID, Activity] = {}
    for aid in sorted({s.activity_id for s in scans}):
        activities[aid] = await svc.scanner_activity(db, actor, aid)
        await svc.lock_for_scans(db, activities[aid])  # a close waits for this upload, or came before it
    now = clock.now()
    drifted = sent_at is not None and abs((sent_at - now).total_seconds()) > CLOCK_DRIFT_MAX_SECONDS
    results: dict[str, SyncResult] = {}
    audit: dict[uuid.UUID, list[dict[str, Any]]] = {}
    # One order (time, then the code: the same person's rows are taken in the same order by every upload,
    # so two scanners' uploads wait for each other instead of deadlocking).
    for s in sorted(scans, key=lambda s: (s.scanned_at, s.code, s.nonce)):
        activity = activities[s.activity_id]
        result, member_id = await _sync_one(db, actor, seed, activity, device_id, s, now, drifted)
        results[s.nonce] = result
        if result.status != "duplicate":
            audit.setdefault(activity.id, []).append(
                {
                    "nonce": s.nonce,
                    "member_id": str(member_id) if member_id else None,
                    "status": result.status,
                    "code": result.code,
                }
            )
    finished = {  # scans of a closed activity made before its close: checked out as the close did
        aid: await svc.finish_after_close(db, activities[aid], actor.member_id)
        for aid in audit
        if activities[aid].status == "closed"
    }
    for aid, lines in audit.items():  # last: the audit chain's lock after the scans' own locks
        detail: dict[str, Any] = {"activity_id": str(aid), "device_id": device_id, "scans": lines}
        if aid in finished:
            detail["after_close"] = asdict(finished[aid])
        await record(
            db,
            actor_id=actor.member_id,
            action="offline_scans_synced",
            community_id=activities[aid].community_id,
            detail=detail,
        )
    return [results[s.nonce] for s in scans]


async def _claim(
    db: AsyncSession, actor: Actor, activity: Activity, device_id: str, s: ScanIn
) -> uuid.UUID | None:
    """Record the scan under its nonce (as refused until decided); ``None`` if the nonce is known.
    On PostgreSQL a concurrent upload of the same nonce waits here for the first one's commit."""
    insert = pg_insert if is_postgres(db) else sqlite_insert
    stmt = (
        insert(OfflineScan)
        .values(
            id=new_id(),
            community_id=activity.community_id,
            activity_id=activity.id,
            nonce=s.nonce,
            device_id=device_id,
            uploaded_by=actor.member_id,
            code=s.code[:CODE_MAX],
            scanned_at=s.scanned_at,
            status="refused",
            refusal="deciding",
            created_at=clock.now(),
        )
        .on_conflict_do_nothing(index_elements=["nonce"])
        .returning(OfflineScan.id)
    )
    claimed: uuid.UUID | None = (await db.execute(stmt)).scalar_one_or_none()
    return claimed


async def _sync_one(
    db: AsyncSession,
    actor: Actor,
    seed: str,
    activity: Activity,
    device_id: str,
    s: ScanIn,
    now: datetime,
    drifted: bool,
) -> tuple[SyncResult, uuid.UUID | None]:
    row_id = await _claim(db, actor, activity, device_id, s)
    if row_id is None:
        known = await db.scalar(select(OfflineScan.attendance_id).where(OfflineScan.nonce == s.nonce))
        return SyncResult(s.nonce, "duplicate", attendance_id=known), None
    member_id: uuid.UUID | None = None
    try:
        _check_time(activity, s.scanned_at, now, drifted)
        member_id = await _member_of(db, seed, activity, s.code)
        att = await _apply(db, actor, activity, device_id, member_id, s.scanned_at, check_conflict=True)
    except _Refused as exc:
        member_id = member_id or exc.member_id
        status = "conflict" if exc.code == "scan_conflict" else "refused"
        await _settle(db, row_id, status, exc.code, member_id, exc.attendance_id)
        return SyncResult(s.nonce, "refused", exc.code, exc.attendance_id), member_id
    await _settle(db, row_id, "applied", None, member_id, att.id)
    return SyncResult(s.nonce, "applied", attendance_id=att.id), member_id


class _Refused(Exception):
    """A scan refused: the error (its ``code`` is the answer's), and the attendance it met if any."""

    def __init__(
        self, error: DomainError, attendance_id: uuid.UUID | None = None, member_id: uuid.UUID | None = None
    ) -> None:
        super().__init__(error.code)
        self.error = error
        self.code = error.code
        self.attendance_id = attendance_id
        self.member_id = member_id
        """Whose the code is, when that is known although it does not count (a revoked card)."""


def _check_time(activity: Activity, moment: datetime, now: datetime, drifted: bool) -> None:
    """A scan's time is believable (not after the server's time beyond the bound, from a device whose
    clock was right) and inside the activity's window: from when check-in opens to when a printed
    poster still checks out."""
    if drifted or moment > now + timedelta(seconds=CLOCK_DRIFT_MAX_SECONDS):
        raise _Refused(ClockDrift())
    if not (
        activity.starts_at - timedelta(seconds=rules.CHECKIN_EARLY_SECONDS)
        <= moment
        <= activity.ends_at + timedelta(seconds=rules.POSTER_GRACE_SECONDS)
    ):
        raise _Refused(ScanOutsideWindow())


async def _member_of(db: AsyncSession, seed: str, activity: Activity, text: str) -> uuid.UUID:
    """The member a scanned code names, if it is genuine, current and of this activity's community."""
    text = text.strip().rsplit("/m/", 1)[-1]
    if len(text) == signing.CODE_CHARS:
        check = await codes.check_code(db, text)
        if check.refusal == "card_revoked" and check.code is not None:
            raise _Refused(CardRevoked(), member_id=check.code.member_id)
        if check.refusal is not None or check.code is None:
            raise _Refused(CodeInvalid())
        if check.code.community_id not in (None, activity.community_id):
            raise _Refused(NotAMember())
        member_id = check.code.member_id
    else:  # a card printed before signed codes: its token, looked up
        card = await db.scalar(select(MemberCard).where(MemberCard.token == text[:64]))
        if card is None:
            raise _Refused(CodeInvalid())
        if card.community_id != activity.community_id:
            raise _Refused(NotAMember())
        member_id = card.member_id
    if not await is_member(db, member_id, activity.community_id):
        raise _Refused(NotAMember())
    return member_id


async def _apply(
    db: AsyncSession,
    actor: Actor,
    activity: Activity,
    device_id: str,
    member_id: uuid.UUID,
    moment: datetime,
    *,
    check_conflict: bool,
) -> Attendance:
    """The scan through the online path, in a savepoint: a refusal undoes only this scan."""
    existing = await db.scalar(
        select(Attendance).where(Attendance.activity_id == activity.id, Attendance.member_id == member_id)
    )
    if check_conflict and existing is not None and _conflicts(existing, device_id, moment):
        raise _Refused(ScanConflict(), existing.id)
    try:
        async with db.begin_nested():
            result = await svc.scan_at(db, activity, member_id, moment, device_id, actor.member_id)
    except DomainError as exc:
        raise _Refused(exc, existing.id if existing else None) from exc
    if check_conflict and result.repeated and result.attendance.device_id != device_id:
        # another upload checked the member in meanwhile (its row was not committed when read above)
        raise _Refused(ScanConflict(), result.attendance.id)
    return result.attendance


def _conflicts(att: Attendance, device_id: str, moment: datetime) -> bool:
    """Another device checked this member in, and this scan is no check-out of that stay (it is not
    at least the minimum stay after it): two devices both saw the member arrive."""
    if att.device_id == device_id:
        return False
    checks_out = att.status == "in" and moment - att.checked_in_at >= timedelta(
        seconds=rules.MIN_STAY_SECONDS
    )
    return not checks_out


async def _settle(
    db: AsyncSession,
    row_id: uuid.UUID,
    status: str,
    refusal: str | None,
    member_id: uuid.UUID | None,
    attendance_id: uuid.UUID | None,
) -> None:
    await db.execute(
        update(OfflineScan)
        .where(OfflineScan.id == row_id)
        .values(status=status, refusal=refusal, member_id=member_id, attendance_id=attendance_id)
    )


# ---------------------------------------------------------------- resolution


Resolution = Literal["accept", "dismiss"]


@raises(
    OfflineScanNotFound,
    svc.organizer_activity,
    svc.finish_after_close,
    OfflineScanResolved,
    ClockDrift,
    ScanOutsideWindow,
    CodeInvalid,
    CardRevoked,
    NotAMember,
    *svc.SCAN_ERRORS,
)
async def resolve_scan(
    db: AsyncSession, actor: Actor, scan_id: uuid.UUID, action: Resolution, seed: str
) -> OfflineScan:
    """An organizer decides a refused or conflicting scan. ``accept`` applies it now with its scan
    time through the same path (a conflict: without the conflict check; a refusal that still holds
    is raised and nothing changes); ``dismiss`` keeps it as it was, marked. Both are audited; nobody
    resolves a scan of themself."""
    row = await db.scalar(select(OfflineScan).where(OfflineScan.id == scan_id).with_for_update())
    if row is None:
        raise OfflineScanNotFound()
    activity = await svc.organizer_activity(db, actor, row.activity_id)
    await svc.lock_for_scans(db, activity)
    if row.status not in ("refused", "conflict") or row.member_id == actor.member_id:
        raise OfflineScanResolved(
            detail="Someone else resolves your own scan." if row.member_id == actor.member_id else ""
        )
    before = (row.status, row.refusal)
    if action == "accept":
        try:
            _check_time(activity, row.scanned_at, clock.now(), False)
            member_id = await _member_of(db, seed, activity, row.code)  # checked again: it may be revoked
            att = await _apply(
                db, actor, activity, row.device_id, member_id, row.scanned_at, check_conflict=False
            )
        except _Refused as exc:
            raise exc.error from exc
        row.member_id, row.attendance_id = member_id, att.id
        await svc.finish_after_close(db, activity, actor.member_id)
    row.status = "accepted" if action == "accept" else "dismissed"
    row.resolved_by, row.resolved_at = actor.member_id, clock.now()
    await db.flush()
    await record(
        db,
        actor_id=actor.member_id,
        action="offline_scan_resolved",
        community_id=activity.community_id,
        subject_member_id=row.member_id,
        detail={
            "activity_id": str(activity.id),
            "nonce": row.nonce,
            "was": before[0],
            "refusal": before[1],
            "resolution": row.status,
            "attendance_id": str(row.attendance_id) if row.attendance_id else None,
        },
    )
    return row
