"""The PostgreSQL fast path of a scan: one database call per batch of concurrent scans (group commit).

``check_in_with_login`` (service.py) checks what it can in memory against a per-worker copy of the
activity (``activity``: its row and fingerprint, read once) and hands the rest to ``scan``, which queues
the scan; a drain task sends everything queued as ONE call of ``jifen_scan_batch`` (migration 0014) on a
connection of its own, in autocommit: one round trip and one commit for the whole batch. While a batch
is in the database the next one gathers, so under load a batch holds what arrived meanwhile (group
commit) and alone a scan goes at once. The database re-checks per scan what the worker assumed (token
version, role, the activity's fingerprint) and runs each scan in its own subtransaction, so one failing
scan never fails the others; a scan it cannot answer comes back ``slow`` (nothing written) and the
caller runs the ordinary path, which gives a refusal its code.

Nothing here raises a DomainError. ``scan`` returns ``None`` for "use the ordinary path".
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections import deque
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from service.activities.models import Activity, Attendance
from service.activities.rules import MIN_STAY_SECONDS
from service.ids import new_id

__all__ = [
    "BATCH_MAX",
    "DRAINS",
    "ENABLED",
    "RECENT",
    "STATS",
    "Scan",
    "Scanned",
    "activity",
    "forget_activity",
    "scan",
]

ENABLED = os.environ.get("JIFEN_FAST_PATHS", "1") != "0"
"""``JIFEN_FAST_PATHS=0``: every scan on the ordinary path (A/B benches; the store's fast paths too)."""
BATCH_MAX = 128
"""Scans per database call at most."""
DRAINS = 2
"""Batches of one worker in the database at once (one gathers while the other runs)."""
ACTIVITY_CACHE_MAX = 10_000
ISSUANCE_SHARDS = 8
"""``points.service.ISSUANCE_SHARDS`` (the award's shard follows from its key's crc32)."""

_ACTIVITY_COLUMNS = tuple(c.key for c in Activity.__table__.columns)
_ATTENDANCE_COLUMNS = tuple(c.key for c in Attendance.__table__.columns)
_LOAD_SQL = "SELECT a.*, jifen_activity_fingerprint(a) AS jifen_fp FROM activities a WHERE a.id = $1"
_BATCH_SQL = (
    "SELECT o_idx, o_outcome, o_att, o_awarded, o_name, o_phone, o_admin, o_version, o_detail"
    " FROM jifen_scan_batch($1::uuid[], $2::int[], $3::uuid[], $4::text[], $5::text[], $6::timestamptz[],"
    " $7::text[], $8::boolean[], $9::text[], $10::timestamptz[], $11::uuid[], $12::uuid[], $13::uuid[],"
    " $14::uuid[], $15::uuid[], $16::int, $17::int)"
)

_activities: dict[uuid.UUID, tuple[Activity, str]] = {}

STATS: dict[str, int] = {"batches": 0, "scans": 0, "slow": 0, "failed_batches": 0, "largest": 0}
"""This worker's counters (the bench and the tests read them)."""
RECENT: deque[list[str]] = deque(maxlen=64)
"""The outcomes of this worker's latest batches, in batch order (``slow:<why>`` for the ordinary path)."""


@dataclass(frozen=True)
class Scan:
    member_id: uuid.UUID
    token_version: int
    activity_id: uuid.UUID
    fingerprint: str
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


async def activity(engine: AsyncEngine, activity_id: uuid.UUID) -> tuple[Activity, str] | None:
    """The worker's copy of an activity (a detached row, never added to a session) and its fingerprint;
    read once, then trusted only as far as the database's fingerprint check allows."""
    found = _activities.get(activity_id)
    if found is not None:
        return found

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


class _Batcher:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.pending: list[tuple[Scan, asyncio.Future[Scanned | None]]] = []
        self.draining = 0

    async def submit(self, item: Scan) -> Scanned | None:
        future: asyncio.Future[Scanned | None] = asyncio.get_running_loop().create_future()
        self.pending.append((item, future))
        if self.draining < DRAINS:
            self.draining += 1
            asyncio.get_running_loop().create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        try:
            await asyncio.sleep(0)  # let the scans that arrived in the same tick join
            while self.pending:
                batch, self.pending = self.pending[:BATCH_MAX], self.pending[BATCH_MAX:]
                try:
                    answers = await _driver(self.engine, lambda apg, b=batch: _run(apg, [s for s, _ in b]))
                except Exception as exc:  # the whole call failed: every scan takes the ordinary path
                    STATS["failed_batches"] += 1
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                for (_, future), answer in zip(batch, answers, strict=True):
                    if not future.done():
                        future.set_result(answer)
        finally:
            self.draining -= 1


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
        [json.dumps(s.memo, ensure_ascii=False) for s in scans],
        [s.now for s in scans],
        *([new_id() for _ in range(n)] for _ in range(5)),
        ISSUANCE_SHARDS,
        MIN_STAY_SECONDS,
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
        answers[i] = Scanned(
            outcome=row["o_outcome"],
            attendance=Attendance(**dict(zip(_ATTENDANCE_COLUMNS, _attendance_values(att), strict=True))),
            awarded=int(row["o_awarded"] or 0),
            name=row["o_name"],
            phone=row["o_phone"],
            is_platform_admin=bool(row["o_admin"]),
            token_version=int(row["o_version"]),
        )
    RECENT.append(outcomes)
    return answers


def _attendance_values(att: Any) -> list[Any]:
    """The composite ``attendances`` row as the model's column order (asyncpg keys it by name)."""
    return [att[k] for k in _ATTENDANCE_COLUMNS]


_batchers: dict[tuple[int, int], _Batcher] = {}


async def scan(engine: AsyncEngine, item: Scan) -> Scanned | None:
    """Queue a scan for this worker's next batch; ``None``: take the ordinary path."""
    key = (id(engine), id(asyncio.get_running_loop()))
    batcher = _batchers.get(key)
    if batcher is None or batcher.engine is not engine:
        if len(_batchers) > 64:
            _batchers.clear()
        batcher = _batchers[key] = _Batcher(engine)
    return await batcher.submit(item)
