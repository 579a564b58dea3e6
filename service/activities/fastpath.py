"""The PostgreSQL fast path of a scan: one database call per batch of concurrent scans (group commit).

``check_in_with_login`` (service.py) checks what it can in memory against a per-worker copy of the
activity (``activity``: its row and fingerprint, read once) and hands the rest to ``scan``, which queues
the scan; a drain task sends everything queued as ONE call of ``jifen_scan_batch``
(service/activities/sql/scan_batch.sql) on a connection of its own, in autocommit: one round trip
and one commit for the whole batch. While a batch is in the database the next one gathers, so under
load a batch holds what arrived meanwhile (group commit) and alone a scan goes at once. The database
re-checks per scan what the worker assumed (token version, role, the activity's fingerprint); a scan
it cannot answer comes back ``slow`` (nothing written) and the
caller runs the ordinary path, which gives a refusal its code.

Nothing here raises a DomainError. ``scan`` returns ``None`` for "use the ordinary path".
"""

from __future__ import annotations

import sqlite3
import uuid
from collections import deque
from collections.abc import Hashable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from service.activities.models import Activity, Attendance
from service.activities.rules import MIN_STAY_SECONDS
from service.config import POINTS_PER_AWARD_MAX
from service.ids import new_id
from service.kit.batch import GroupCommit, group_commit
from service.kit.observe import count_points

__all__ = [
    "BATCH_MAX",
    "DRAINS",
    "RECENT",
    "SHARDS_READY",
    "STATS",
    "Scan",
    "Scanned",
    "activity",
    "forget_activity",
    "scan",
]

BATCH_MAX = 128
"""Scans per database call at most."""
DRAINS = 2
"""Batches of one worker in the database at once (one gathers while the other runs)."""
ACTIVITY_CACHE_MAX = 10_000
ISSUANCE_SHARDS = 8
"""``points.service.ISSUANCE_SHARDS``: a batch posts its check-outs from one shard no other batch holds."""

_ACTIVITY_COLUMNS = tuple(c.key for c in Activity.__table__.columns)
_ATTENDANCE_COLUMNS = tuple(c.key for c in Attendance.__table__.columns)
_LOAD_SQL = "SELECT a.*, jifen_activity_fingerprint(a) AS jifen_fp FROM activities a WHERE a.id = $1"
_BATCH_SQL = (
    "SELECT o_idx, o_outcome, o_att, o_awarded, o_name, o_phone, o_admin, o_version, o_detail"
    " FROM jifen_scan_batch($1::uuid[], $2::int[], $3::uuid[], $4::text[], $5::text[], $6::timestamptz[],"
    " $7::text[], $8::boolean[], $9::text[], $10::timestamptz[], $11::uuid[], $12::uuid[], $13::uuid[],"
    " $14::uuid[], $15::uuid[], $16::int, $17::int, $18::bigint)"
)

_activities: dict[uuid.UUID, tuple[Activity, Any]] = {}
SHARDS_READY: set[uuid.UUID] = set()
"""Communities whose issuance shards this worker saw created (``points.issuance_shards``)."""

STATS: dict[str, int] = {"batches": 0, "scans": 0, "slow": 0, "failed_batches": 0, "largest": 0}
"""This worker's counters (the bench and the tests read them)."""
RECENT: deque[list[str]] = deque(maxlen=64)
"""The outcomes of this worker's latest batches, in batch order (``slow:<why>`` for the ordinary path)."""


@dataclass(frozen=True)
class Scan:
    member_id: uuid.UUID
    token_version: int
    activity_id: uuid.UUID
    fingerprint: Any
    """PostgreSQL: ``jifen_activity_fingerprint``; SQLite: the activity row as stored."""
    evidence: str
    moment: datetime
    device_id: str | None
    plain: bool
    """A first scan may insert (no sign-up or capacity rule, inside the check-in window)."""
    memo: str
    now: datetime


@dataclass(frozen=True)
class Scanned:
    outcome: str
    """``checked_in``, ``repeated`` (too soon to check out) or ``checked_out``."""
    attendance: Attendance
    awarded: int
    name: str
    phone: str
    is_platform_admin: bool
    token_version: int


async def _driver(engine: AsyncEngine, work: Any) -> Any:
    """Run ``work(asyncpg connection)`` on a pooled connection outside any transaction (autocommit)."""
    async with engine.connect() as conn:
        raw = await conn.get_raw_connection()
        return await work(raw.driver_connection)


async def activity(engine: AsyncEngine, activity_id: uuid.UUID) -> tuple[Activity, Any] | None:
    """The worker's copy of an activity (a detached row, never added to a session) and its fingerprint;
    read once, then trusted only as far as the database's fingerprint check allows."""
    found = _activities.get(activity_id)
    if found is not None:
        return found
    if engine.dialect.name == "sqlite":
        entry = await _load_sqlite(engine, activity_id)
        if entry is None:
            return None
    else:

        async def load(apg: Any) -> Any:
            return await apg.fetchrow(_LOAD_SQL, activity_id)

        row = await _driver(engine, load)
        if row is None:
            return None
        entry = (Activity(**{k: row[k] for k in _ACTIVITY_COLUMNS}), str(row["jifen_fp"]))
    if len(_activities) >= ACTIVITY_CACHE_MAX:
        _activities.clear()
    _activities[activity_id] = entry
    return entry


def forget_activity(activity_id: uuid.UUID) -> None:
    _activities.pop(activity_id, None)


async def _send(engine: AsyncEngine, scans: list[Scan]) -> list[Scanned | None]:
    """One batch of scans as one call of ``jifen_scan_batch``."""
    try:
        answers: list[Scanned | None] = await _driver(engine, lambda apg: _run(apg, scans))
        return answers
    except Exception:  # the whole call failed: every scan of the batch takes the ordinary path
        STATS["failed_batches"] += 1
        raise


async def _run(apg: Any, scans: list[Scan]) -> list[Scanned | None]:
    n = len(scans)
    rows = await apg.fetch(
        _BATCH_SQL,
        [s.member_id for s in scans],
        [s.token_version for s in scans],
        [s.activity_id for s in scans],
        [s.fingerprint for s in scans],
        [s.evidence for s in scans],
        [s.moment for s in scans],
        [s.device_id for s in scans],
        [s.plain for s in scans],
        [s.memo for s in scans],
        [s.now for s in scans],
        *([new_id() for _ in range(n)] for _ in range(5)),
        ISSUANCE_SHARDS,
        MIN_STAY_SECONDS,
        POINTS_PER_AWARD_MAX,
    )
    answers: list[Scanned | None] = [None] * n
    outcomes = [""] * n
    STATS["batches"] += 1
    STATS["scans"] += n
    STATS["largest"] = max(STATS["largest"], n)
    for row in rows:
        i = row["o_idx"] - 1
        outcomes[i] = row["o_outcome"]
        if row["o_outcome"] == "slow":
            STATS["slow"] += 1
            outcomes[i] = f"slow:{row['o_detail']}"
            if row["o_detail"] == "stale":
                forget_activity(scans[i].activity_id)
            continue
        att = row["o_att"]
        scanned = answers[i] = Scanned(
            outcome=row["o_outcome"],
            attendance=Attendance(**dict(zip(_ATTENDANCE_COLUMNS, _attendance_values(att), strict=True))),
            awarded=int(row["o_awarded"] or 0),
            name=row["o_name"],
            phone=row["o_phone"],
            is_platform_admin=bool(row["o_admin"]),
            token_version=int(row["o_version"]),
        )
        if scanned.awarded:  # the batch committed the award
            count_points(att["community_id"], issued=scanned.awarded)
    RECENT.append(outcomes)
    return answers


def _attendance_values(att: Any) -> list[Any]:
    """The composite ``attendances`` row as the model's column order (asyncpg keys it by name)."""
    return [att[k] for k in _ATTENDANCE_COLUMNS]


_batchers: dict[Hashable, GroupCommit[Scan, Scanned | None]] = {}


async def scan(engine: AsyncEngine, item: Scan) -> Scanned | None:
    """Queue a scan for this worker's next batch; ``None``: take the ordinary path."""
    if engine.dialect.name == "sqlite":
        return await _scan_sqlite(engine, item)
    batcher = group_commit(
        _batchers,
        engine,
        lambda: GroupCommit(
            partial(_send, engine), batch_max=BATCH_MAX, drains=DRAINS, owner=engine, name="scan"
        ),
    )
    return await batcher.submit(item)


# ---------------------------------------------------------------- SQLite: first scans, one hop per batch
#
# SQLite has one writer (one pooled connection). The first scans that arrive while one batch is in the
# database go together as the next (group commit, as on PostgreSQL): ONE hop to aiosqlite's thread runs
# BEGIN IMMEDIATE, per scan the same re-checks as ``jifen_scan_batch`` (token version, role, the
# activity row unchanged since the worker read it) and the attendance insert, then one COMMIT, instead
# of a thread round trip per statement through the ORM. Check-outs and everything else take the
# ordinary path (``None``). Values are stored as SQLAlchemy stores them (uuids as 32 hex digits, UTC
# times as text, booleans as 0/1).

_SQLITE_ACTIVITY = (
    "SELECT " + ", ".join(c.name for c in Activity.__table__.columns) + " FROM activities WHERE id = ?"
)
_SQLITE_INSERT = (
    "INSERT INTO attendances (id, community_id, activity_id, member_id, status, evidence, checked_in_at,"
    " checked_out_at, minutes, points, device_id, scanned_by, requested_by, approved_by, note,"
    " needs_confirmation, created_at)"
    " VALUES (?, ?, ?, ?, 'in', ?, ?, NULL, 0, 0, ?, NULL, NULL, NULL, NULL, ?, ?)"
    " ON CONFLICT DO NOTHING"
)


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


async def _sqlite_hop(engine: AsyncEngine, fn: Any, *args: Any) -> Any:
    """Run ``fn(sqlite3 connection, *args)`` in aiosqlite's thread, outside SQLAlchemy's transactions."""
    async with engine.connect() as conn:
        raw = await conn.get_raw_connection()
        driver: Any = raw.driver_connection  # aiosqlite.Connection
        return await driver._execute(fn, driver._conn, *args)


async def _load_sqlite(engine: AsyncEngine, activity_id: uuid.UUID) -> tuple[Activity, Any] | None:
    table = Activity.__table__
    async with engine.connect() as conn:
        typed = (await conn.execute(select(table).where(table.c.id == activity_id))).first()
        await conn.rollback()
    if typed is None:
        return None
    stored = await _sqlite_hop(engine, lambda sq: sq.execute(_SQLITE_ACTIVITY, (activity_id.hex,)).fetchone())
    return Activity(**dict(typed._mapping)), tuple(stored) if stored is not None else None


def _scan_sqlite_one(
    sq: sqlite3.Connection, item: Scan, activity_row: tuple[Any, ...], att_id: uuid.UUID
) -> Any:
    """One first scan inside the batch's transaction: its row inserted, or nothing written."""
    member = sq.execute(
        "SELECT token_version, name, phone, is_platform_admin FROM members WHERE id = ?",
        (item.member_id.hex,),
    ).fetchone()
    if member is None or member[0] != item.token_version:
        return None
    now_row = sq.execute(_SQLITE_ACTIVITY, (item.activity_id.hex,)).fetchone()
    if now_row is None or tuple(now_row) != activity_row:
        return "stale"
    community, created_by = activity_row[_COMMUNITY], activity_row[_CREATED_BY]
    roles = {
        r[0]
        for r in sq.execute(
            "SELECT role FROM memberships WHERE community_id = ? AND member_id = ?",
            (community, item.member_id.hex),
        )
    }
    admin = bool(member[3])
    if not (admin or "member" in roles or "admin" in roles):
        return None
    organizes = admin or created_by == item.member_id.hex or bool(roles & {"organizer", "admin"})
    inserted = sq.execute(
        _SQLITE_INSERT,
        (att_id.hex, community, item.activity_id.hex, item.member_id.hex, item.evidence,
         _stamp(item.moment), item.device_id, int(organizes), _stamp(item.now)),
    ).rowcount  # fmt: skip
    if inserted != 1:
        return None
    return member, uuid.UUID(community), organizes


def _scan_sqlite_batch(sq: sqlite3.Connection, batch: list[tuple[Scan, uuid.UUID]]) -> list[Any]:
    """The first scans of a batch in ONE write transaction (group commit). Each scan's only write is a
    single INSERT, atomic on its own, so a scan that fails leaves nothing and never fails the others."""
    sq.execute("BEGIN IMMEDIATE")
    try:
        out: list[Any] = []
        for item, att_id in batch:
            try:
                out.append(_scan_sqlite_one(sq, item, item.fingerprint, att_id))
            except sqlite3.Error:
                out.append(None)  # the ordinary path decides (and gives a refusal its code)
        sq.execute("COMMIT")
        return out
    except BaseException:
        sq.execute("ROLLBACK")
        raise


_COLUMN_NAMES = [c.name for c in Activity.__table__.columns]
_COMMUNITY = _COLUMN_NAMES.index("community_id")
_CREATED_BY = _COLUMN_NAMES.index("created_by")


_sqlite_batchers: dict[Hashable, GroupCommit[tuple[Scan, uuid.UUID], Any]] = {}


async def _send_sqlite(engine: AsyncEngine, batch: list[tuple[Scan, uuid.UUID]]) -> list[Any]:
    answers: list[Any] = await _sqlite_hop(engine, _scan_sqlite_batch, batch)
    STATS["batches"] += 1
    STATS["largest"] = max(STATS["largest"], len(batch))
    return answers


async def _scan_sqlite(engine: AsyncEngine, item: Scan) -> Scanned | None:
    if not item.plain or item.fingerprint is None:
        return None
    att_id = new_id()
    batcher = group_commit(
        _sqlite_batchers,
        engine,
        lambda: GroupCommit(
            partial(_send_sqlite, engine), batch_max=BATCH_MAX, drains=1, owner=engine, name="scan.sqlite"
        ),
    )
    got = await batcher.submit((item, att_id))
    if got == "stale":
        forget_activity(item.activity_id)
        return None
    if got is None:
        return None
    member, community, organizes = got
    STATS["scans"] += 1
    attendance = Attendance(
        id=att_id,
        community_id=community,
        activity_id=item.activity_id,
        member_id=item.member_id,
        status="in",
        evidence=item.evidence,
        checked_in_at=item.moment,
        checked_out_at=None,
        minutes=0,
        points=0,
        device_id=item.device_id,
        scanned_by=None,
        requested_by=None,
        approved_by=None,
        note=None,
        needs_confirmation=organizes,
        created_at=item.now,
    )
    return Scanned(
        outcome="checked_in",
        attendance=attendance,
        awarded=0,
        name=member[1],
        phone=member[2],
        is_platform_admin=bool(member[3]),
        token_version=int(member[0]),
    )
