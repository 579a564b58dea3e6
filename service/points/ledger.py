"""The posting engine: one transfer, hold or release in one database round trip, below the ORM.

PostgreSQL runs the PL/pgSQL functions of service/points/sql/ledger.sql (``ledger_post``, ``ledger_hold``,
``ledger_release``); SQLite runs the same steps here with Core statements inside the caller's
``BEGIN IMMEDIATE`` transaction (SQLite has one writer, so no row locks are needed there). Both:

- lock both accounts (id order), refuse with ``missing`` when an account id is unknown (the caller's
  cache was wrong: it resolves the accounts again and retries);
- check the idempotency key first (same content: ``replayed``; other content: ``key_conflict``), then
  the overdraft rule (``insufficient`` with what is available), so a retry is never refused;
- insert the transfer (``ON CONFLICT DO NOTHING`` on the key, so racing twins make one transfer),
  its two entries chained exactly as ``rules.entry_hash`` and the member's lot; spend lots
  oldest-expiring first; move balances, totals (earned/spent/expired) and chain heads.

Nothing here raises a DomainError: refusals come back as a status and write nothing, so the
caller's transaction stays usable. Callers (service.py) map statuses to errors. The ORM objects a
session may already hold for the touched rows are refreshed, so callers never see stale balances.
"""

from __future__ import annotations

import sqlite3
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Table, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from service.db import is_postgres
from service.ids import new_id
from service.points import rules
from service.points.models import Account, Hold

__all__ = ["Held", "Posted", "forget_account", "hold", "known_account", "post", "release", "remember_account"]

ACCOUNT_CACHE_MAX = 200_000
"""Account ids remembered per process (``(community, owner key) -> id``; ids never change)."""

_accounts: dict[tuple[uuid.UUID, str], uuid.UUID] = {}


def known_account(community_id: uuid.UUID, owner_key: str) -> uuid.UUID | None:
    """The id of an account seen before in this process (it may belong to a rolled-back insert:
    the engine then answers ``missing`` and the caller resolves it again)."""
    return _accounts.get((community_id, owner_key))


def remember_account(community_id: uuid.UUID, owner_key: str, account_id: uuid.UUID) -> None:
    if len(_accounts) >= ACCOUNT_CACHE_MAX:
        _accounts.clear()
    _accounts[(community_id, owner_key)] = account_id


def forget_account(community_id: uuid.UUID, owner_key: str) -> None:
    _accounts.pop((community_id, owner_key), None)


@dataclass(frozen=True)
class Posted:
    status: str
    """``ok``, ``replayed``, ``key_conflict``, ``insufficient``, ``over_budget`` (the community's issuance
    budget for the month is spent: nothing written) or ``missing``."""
    transfer_id: uuid.UUID | None
    points: int
    available: int = 0


@dataclass(frozen=True)
class Held:
    status: str
    hold_id: uuid.UUID | None
    points: int
    expires_at: datetime | None
    available: int = 0


_POST_SQL = text(
    "SELECT status, transfer_id, points, available FROM ledger_post("
    ":community, :transfer, :debit, :credit, :points, :code, :memo, :ref_type, :ref_id, :actor, :key,"
    " :chash, :reverses, :hold, :now, :debit_entry, :credit_entry, :lot)"
)
_HOLD_SQL = text(
    "SELECT status, hold_id, points, expires_at, available FROM ledger_hold("
    ":community, :hold, :account, :payee, :points, :expires, :code, :memo, :ref_type, :ref_id, :actor,"
    " :key, :chash, :now)"
)
_RELEASE_SQL = text(
    "SELECT status, hold_status, account_id FROM ledger_release(:hold, :status, :reason, :now)"
)


async def _refresh(db: AsyncSession, cls: type[Any], ids: tuple[uuid.UUID | None, ...]) -> None:
    """Reload the session's copies of rows the engine changed behind the ORM's back (rare)."""
    for row_id in ids:
        if row_id is None:
            continue
        obj = db.sync_session.identity_map.get(identity_key(cls, row_id))
        if obj is not None:
            await db.refresh(obj)


async def post(
    db: AsyncSession,
    *,
    community_id: uuid.UUID,
    debit_id: uuid.UUID,
    credit_id: uuid.UUID,
    points: int,
    code: str,
    memo: str,
    ref_type: str | None,
    ref_id: str | None,
    actor_id: uuid.UUID | None,
    key: str | None,
    chash: str,
    now: datetime,
    reverses_id: uuid.UUID | None = None,
    hold_id: uuid.UUID | None = None,
) -> Posted:
    """Move ``points`` from ``debit_id`` to ``credit_id`` (see the module's description)."""
    params = {
        "community": community_id,
        "transfer": new_id(),
        "debit": debit_id,
        "credit": credit_id,
        "points": points,
        "code": code,
        "memo": memo,
        "ref_type": ref_type,
        "ref_id": ref_id,
        "actor": actor_id,
        "key": key,
        "chash": chash,
        "reverses": reverses_id,
        "hold": hold_id,
        "now": now,
        "debit_entry": new_id(),
        "credit_entry": new_id(),
        "lot": new_id(),
    }
    if is_postgres(db):
        row = (await (await db.connection()).execute(_POST_SQL, params)).one()
        result = Posted(row.status, row.transfer_id, int(row.points or 0), int(row.available or 0))
    else:
        result = await _post_sqlite(await db.connection(), params)
    if result.status == "ok":
        await _refresh(db, Account, (debit_id, credit_id))
        held = db.sync_session.identity_map.get(identity_key(Hold, hold_id)) if hold_id else None
        if held is not None:  # the caller locked it: tell its copy what the engine wrote (no round trip)
            set_committed_value(held, "status", "posted")
            set_committed_value(held, "transfer_id", result.transfer_id)
            set_committed_value(held, "resolved_at", now)
    return result


async def hold(
    db: AsyncSession,
    *,
    community_id: uuid.UUID,
    account_id: uuid.UUID,
    payee_id: uuid.UUID,
    points: int,
    expires_at: datetime,
    code: str,
    memo: str,
    ref_type: str | None,
    ref_id: str | None,
    actor_id: uuid.UUID | None,
    key: str,
    chash: str,
    now: datetime,
) -> Held:
    """Reserve ``points`` of a member account for a payee (status as for ``post``)."""
    params = {
        "community": community_id,
        "hold": new_id(),
        "account": account_id,
        "payee": payee_id,
        "points": points,
        "expires": expires_at,
        "code": code,
        "memo": memo,
        "ref_type": ref_type,
        "ref_id": ref_id,
        "actor": actor_id,
        "key": key,
        "chash": chash,
        "now": now,
    }
    if is_postgres(db):
        row = (await (await db.connection()).execute(_HOLD_SQL, params)).one()
        result = Held(row.status, row.hold_id, int(row.points or 0), row.expires_at, int(row.available or 0))
    else:
        result = await _hold_sqlite(await db.connection(), params)
    if result.status == "ok":
        await _refresh(db, Account, (account_id,))
    return result


async def release(
    db: AsyncSession, hold_id: uuid.UUID, status: str, reason: str, now: datetime
) -> tuple[str, str]:
    """Give a pending hold's points back (``status`` voided or expired): (``ok``/``not_found``/
    ``not_pending``, the hold's status now)."""
    params = {"hold": hold_id, "status": status, "reason": reason, "now": now}
    if is_postgres(db):
        row = (await (await db.connection()).execute(_RELEASE_SQL, params)).one()
        outcome, hold_status, account_id = str(row.status), str(row.hold_status or ""), row.account_id
    else:
        outcome, hold_status, account_id = await _release_sqlite(await db.connection(), params)
    if outcome == "ok":
        await _refresh(db, Hold, (hold_id,))
        await _refresh(db, Account, (account_id,))
    return outcome, hold_status


# ---------------------------------------------------------------- SQLite: the same steps in Python

_A = cast(Table, Account.__table__)
_H = cast(Table, Hold.__table__)


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


async def _post_sqlite(conn: AsyncConnection, p: dict[str, Any]) -> Posted:
    """All steps in the driver's thread in one hop (each statement through SQLAlchemy and aiosqlite
    would cost a thread round trip and its Python); the caller's transaction is already open."""
    raw = await conn.get_raw_connection()
    driver: Any = raw.driver_connection  # aiosqlite.Connection
    result: Posted = await driver._execute(_post_sqlite_sync, driver._conn, p)
    return result


def _hex(value: uuid.UUID | None) -> str | None:
    """A uuid as SQLAlchemy's ``Uuid`` stores it on SQLite (32 hex digits)."""
    return None if value is None else value.hex


def _stamp(moment: datetime | None) -> str | None:
    """A time as SQLAlchemy's DateTime stores it on SQLite (UTC, microseconds)."""
    if moment is None:
        return None
    return _utc(moment).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _parse_stamp(stored: str | None) -> datetime | None:
    """A time as SQLAlchemy's DateTime stores it on SQLite, back to an aware UTC datetime."""
    if stored is None:
        return None
    return datetime.fromisoformat(stored).replace(tzinfo=UTC)


def _budget_sqlite(sq: sqlite3.Connection, community: uuid.UUID, delta: int, now: datetime) -> bool:
    """Count ``delta`` (``rules.budget_delta``) against the community's issuance budget for the local
    month of ``now``, as step 5 of ``ledger_write`` does; ``False`` (nothing written) when it does not fit.
    SQLite has one writer (``BEGIN IMMEDIATE``): the read and the write cannot interleave with another's."""
    if delta == 0:
        return True
    zone = sq.execute("SELECT timezone FROM communities WHERE id = ?", (community.hex,)).fetchone()
    month = rules.budget_month(now, zone[0] if zone else "Asia/Shanghai").isoformat()
    budget = sq.execute(
        "SELECT monthly_points FROM community_budgets WHERE community_id = ?", (community.hex,)
    ).fetchone()
    issued = sq.execute(
        "SELECT issued FROM issuance_months WHERE community_id = ? AND month = ?", (community.hex, month)
    ).fetchone()
    if issued is None and delta < 0:  # nothing counted that month: nothing to give back
        return True
    after = rules.budget_issued(issued[0] if issued else 0, delta, budget[0] if budget else None)
    if after is None:
        return False
    sq.execute(
        "INSERT INTO issuance_months (community_id, month, issued) VALUES (?, ?, ?)"
        " ON CONFLICT (community_id, month) DO UPDATE SET issued = excluded.issued",
        (community.hex, month, after),
    )
    return True


def _sqlite_expiry(sq: sqlite3.Connection, community: uuid.UUID, now: datetime) -> datetime | None:
    policy = sq.execute(
        "SELECT expiry_mode, expiry_value FROM ledger_policies WHERE community_id = ?", (community.hex,)
    ).fetchone()
    if policy is None or policy[0] == "never":
        return None
    from zoneinfo import ZoneInfo

    zone = sq.execute("SELECT timezone FROM communities WHERE id = ?", (community.hex,)).fetchone()
    return rules.expiry_for(now, policy[0], policy[1], ZoneInfo(zone[0] if zone else "Asia/Shanghai"))


_ACCOUNT_COLUMNS = "id, community_id, kind, balance, held, entry_count, last_hash"


def _post_sqlite_sync(sq: sqlite3.Connection, p: dict[str, Any]) -> Posted:
    """``ledger_post`` (service/points/sql/ledger.sql) for SQLite, run in aiosqlite's thread
    (see ``_post_sqlite``)."""
    community = p["community"].hex
    found = {
        row[0]: row
        for row in sq.execute(
            f"SELECT {_ACCOUNT_COLUMNS} FROM ledger_accounts WHERE id IN (?, ?)",
            (p["debit"].hex, p["credit"].hex),
        )
    }
    src, dst = found.get(p["debit"].hex), found.get(p["credit"].hex)
    if src is None or dst is None or src[1] != community or dst[1] != community:
        return Posted("missing", None, 0)
    if p["key"] is not None:
        earlier = sq.execute(
            "SELECT id, points, content_hash FROM ledger_transfers"
            " WHERE community_id = ? AND idempotency_key = ?",
            (community, p["key"]),
        ).fetchone()
        if earlier is not None:
            status = "replayed" if earlier[2] == p["chash"] else "key_conflict"
            return Posted(status, uuid.UUID(earlier[0]), int(earlier[1]))
    points = p["points"]
    if p["hold"] is None and src[2] == "member" and src[3] - src[4] < points:
        return Posted("insufficient", None, 0, src[3] - src[4])
    now = p["now"]
    if not _budget_sqlite(sq, p["community"], rules.budget_delta(src[2], dst[2], points), now):
        return Posted("over_budget", None, 0)
    sq.execute(
        "INSERT INTO ledger_transfers (id, community_id, points, code, memo, ref_type, ref_id, actor_id,"
        " idempotency_key, content_hash, reverses_id, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            p["transfer"].hex, community, points, p["code"], p["memo"], p["ref_type"], p["ref_id"],
            _hex(p["actor"]), p["key"], p["chash"], _hex(p["reverses"]), _stamp(now),
        ),
    )  # fmt: skip
    expires = _sqlite_expiry(sq, p["community"], now) if dst[2] == "member" else None
    if src[2] == "member":
        lots = sq.execute(
            "SELECT id, remaining, expires_at FROM ledger_lots WHERE account_id = ? AND remaining > 0",
            (src[0],),
        ).fetchall()
        takes = rules.allocate([(r[1], _parse_stamp(r[2]), uuid.UUID(r[0])) for r in lots], points)
        for (lot_id, _remaining, _expires), take in zip(lots, takes, strict=True):
            if take:
                sq.execute("UPDATE ledger_lots SET remaining = remaining - ? WHERE id = ?", (take, lot_id))
    for account, other, pts, entry_id, entry_expiry in (
        (src, dst, -points, p["debit_entry"], None),
        (dst, src, points, p["credit_entry"], expires),
    ):
        seq = account[5] + 1
        prev = account[6] or rules.GENESIS_HASH
        digest = rules.entry_hash(
            prev,
            entry_id=entry_id,
            community_id=p["community"],
            transfer_id=p["transfer"],
            account_id=uuid.UUID(account[0]),
            points=pts,
            seq=seq,
            expires_at=entry_expiry,
            created_at=now,
        )
        sq.execute(
            "INSERT INTO ledger_entries (id, community_id, transfer_id, account_id, points, seq, prev_hash,"
            " hash, expires_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (entry_id.hex, community, p["transfer"].hex, account[0], pts, seq, prev, digest,
             _stamp(entry_expiry), _stamp(now)),
        )  # fmt: skip
        totals = ""
        if account[2] == "member":
            column, delta = rules.member_total(other[2], pts)
            totals = f", {column} = {column} + {delta}"
        held = f", held = held - {points}" if account is src and p["hold"] is not None else ""
        sq.execute(
            f"UPDATE ledger_accounts SET balance = balance + ?, entry_count = ?, last_hash = ?,"
            f" version = version + 1{totals}{held} WHERE id = ?",
            (pts, seq, digest, account[0]),
        )
    if dst[2] == "member":
        sq.execute(
            "INSERT INTO ledger_lots (id, community_id, account_id, entry_id, points, remaining, expires_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (p["lot"].hex, community, dst[0], p["credit_entry"].hex, points, points, _stamp(expires)),
        )
    if p["hold"] is not None:
        sq.execute(
            "UPDATE ledger_holds SET status = 'posted', transfer_id = ?, resolved_at = ? WHERE id = ?",
            (p["transfer"].hex, _stamp(now), p["hold"].hex),
        )
    return Posted("ok", p["transfer"], points)


async def _hold_sqlite(conn: AsyncConnection, p: dict[str, Any]) -> Held:
    acc = (
        await conn.execute(
            select(_A.c.balance, _A.c.held).where(
                _A.c.id == p["account"], _A.c.community_id == p["community"]
            )
        )
    ).first()
    payee = await conn.scalar(
        select(_A.c.id).where(_A.c.id == p["payee"], _A.c.community_id == p["community"])
    )
    if acc is None or payee is None:
        return Held("missing", None, 0, None)
    earlier = (
        await conn.execute(
            select(_H.c.id, _H.c.points, _H.c.expires_at, _H.c.content_hash).where(
                _H.c.community_id == p["community"], _H.c.idempotency_key == p["key"]
            )
        )
    ).first()
    if earlier is not None:
        status = "replayed" if earlier.content_hash == p["chash"] else "key_conflict"
        return Held(status, earlier.id, int(earlier.points), earlier.expires_at)
    if acc.balance - acc.held < p["points"]:
        return Held("insufficient", None, 0, None, acc.balance - acc.held)
    await conn.execute(
        _H.insert().values(
            id=p["hold"],
            community_id=p["community"],
            account_id=p["account"],
            payee_account_id=p["payee"],
            points=p["points"],
            status="pending",
            expires_at=p["expires"],
            code=p["code"],
            memo=p["memo"],
            ref_type=p["ref_type"],
            ref_id=p["ref_id"],
            actor_id=p["actor"],
            idempotency_key=p["key"],
            content_hash=p["chash"],
            transfer_id=None,
            resolved_at=None,
            reason="",
            created_at=p["now"],
        )
    )
    await conn.execute(
        update(_A)
        .where(_A.c.id == p["account"])
        .values(held=_A.c.held + p["points"], version=_A.c.version + 1)
    )
    return Held("ok", p["hold"], p["points"], p["expires"])


async def _release_sqlite(conn: AsyncConnection, p: dict[str, Any]) -> tuple[str, str, uuid.UUID | None]:
    found = (
        await conn.execute(select(_H.c.status, _H.c.points, _H.c.account_id).where(_H.c.id == p["hold"]))
    ).first()
    if found is None:
        return "not_found", "", None
    if found.status != "pending":
        return "not_pending", str(found.status), None
    await conn.execute(
        update(_A)
        .where(_A.c.id == found.account_id)
        .values(held=_A.c.held - found.points, version=_A.c.version + 1)
    )
    await conn.execute(
        update(_H)
        .where(_H.c.id == p["hold"])
        .values(status=p["status"], resolved_at=p["now"], reason=p["reason"])
    )
    return "ok", p["status"], found.account_id
