"""The posting engine: one transfer, hold or release in one database round trip, below the ORM.

PostgreSQL runs the PL/pgSQL functions of migration 0009 (``ledger_post``, ``ledger_hold``,
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

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Table, select, text, update
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from service.accounts.models import Community
from service.db import is_postgres
from service.ids import new_id
from service.points import rules
from service.points.models import Account, Entry, Hold, Lot, Policy, Transfer

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
    """``ok``, ``replayed``, ``key_conflict``, ``insufficient`` or ``missing``."""
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
        row = (await db.execute(_POST_SQL, params)).one()
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
        row = (await db.execute(_HOLD_SQL, params)).one()
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
        row = (await db.execute(_RELEASE_SQL, params)).one()
        outcome, hold_status, account_id = str(row.status), str(row.hold_status or ""), row.account_id
    else:
        outcome, hold_status, account_id = await _release_sqlite(await db.connection(), params)
    if outcome == "ok":
        await _refresh(db, Hold, (hold_id,))
        await _refresh(db, Account, (account_id,))
    return outcome, hold_status


# ---------------------------------------------------------------- SQLite: the same steps in Python

_A = cast(Table, Account.__table__)
_T = cast(Table, Transfer.__table__)
_E = cast(Table, Entry.__table__)
_L = cast(Table, Lot.__table__)
_H = cast(Table, Hold.__table__)


async def _earlier(conn: AsyncConnection, community_id: uuid.UUID, key: str, chash: str) -> Posted | None:
    row = (
        await conn.execute(
            select(_T.c.id, _T.c.points, _T.c.content_hash).where(
                _T.c.community_id == community_id, _T.c.idempotency_key == key
            )
        )
    ).first()
    if row is None:
        return None
    return Posted("replayed" if row.content_hash == chash else "key_conflict", row.id, int(row.points))


async def _expiry(conn: AsyncConnection, community_id: uuid.UUID, now: datetime) -> datetime | None:
    policy = (
        await conn.execute(
            select(Policy.expiry_mode, Policy.expiry_value).where(Policy.community_id == community_id)
        )
    ).first()
    if policy is None or policy.expiry_mode == "never":
        return None
    from zoneinfo import ZoneInfo

    zone = await conn.scalar(select(Community.timezone).where(Community.id == community_id))
    return rules.expiry_for(now, policy.expiry_mode, policy.expiry_value, ZoneInfo(zone or "Asia/Shanghai"))


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


async def _post_sqlite(conn: AsyncConnection, p: dict[str, Any]) -> Posted:
    rows = {r.id: r for r in await conn.execute(select(_A).where(_A.c.id.in_([p["debit"], p["credit"]])))}
    src, dst = rows.get(p["debit"]), rows.get(p["credit"])
    if src is None or dst is None or src.community_id != p["community"] or dst.community_id != p["community"]:
        return Posted("missing", None, 0)
    if p["key"] is not None:
        earlier = await _earlier(conn, p["community"], p["key"], p["chash"])
        if earlier is not None:
            return earlier
    points = p["points"]
    if p["hold"] is None and src.kind == "member" and src.balance - src.held < points:
        return Posted("insufficient", None, 0, src.balance - src.held)
    now = p["now"]
    inserted = (
        await conn.execute(
            sqlite_insert(_T)
            .values(
                id=p["transfer"],
                community_id=p["community"],
                points=points,
                code=p["code"],
                memo=p["memo"],
                ref_type=p["ref_type"],
                ref_id=p["ref_id"],
                actor_id=p["actor"],
                idempotency_key=p["key"],
                content_hash=p["chash"],
                reverses_id=p["reverses"],
                created_at=now,
            )
            .on_conflict_do_nothing(index_elements=["community_id", "idempotency_key"])
            .returning(_T.c.id)
        )
    ).scalar_one_or_none()
    if inserted is None:  # unreachable with one writer; kept for symmetry with PostgreSQL
        earlier = await _earlier(conn, p["community"], p["key"], p["chash"])
        return earlier or Posted("key_conflict", None, 0)
    expires = await _expiry(conn, p["community"], now) if dst.kind == "member" else None
    if src.kind == "member":
        lots = list(
            await conn.execute(
                select(_L.c.id, _L.c.remaining, _L.c.expires_at).where(
                    _L.c.account_id == src.id, _L.c.remaining > 0
                )
            )
        )
        take = rules.allocate(
            [(lot.remaining, lot.expires_at and _utc(lot.expires_at)) for lot in lots], points
        )
        for lot, amount in zip(lots, take, strict=True):
            if amount:
                await conn.execute(
                    update(_L).where(_L.c.id == lot.id).values(remaining=_L.c.remaining - amount)
                )
    entries = []
    for account, other, pts, entry_id, entry_expiry in (
        (src, dst, -points, p["debit_entry"], None),
        (dst, src, points, p["credit_entry"], expires),
    ):
        seq = account.entry_count + 1
        prev = account.last_hash or rules.GENESIS_HASH
        digest = rules.entry_hash(
            prev,
            entry_id=entry_id,
            community_id=p["community"],
            transfer_id=p["transfer"],
            account_id=account.id,
            points=pts,
            seq=seq,
            expires_at=entry_expiry,
            created_at=now,
        )
        entries.append(
            {
                "id": entry_id,
                "community_id": p["community"],
                "transfer_id": p["transfer"],
                "account_id": account.id,
                "points": pts,
                "seq": seq,
                "prev_hash": prev,
                "hash": digest,
                "expires_at": entry_expiry,
                "created_at": now,
            }
        )
        values: dict[str, Any] = {
            "balance": _A.c.balance + pts,
            "entry_count": seq,
            "last_hash": digest,
            "version": _A.c.version + 1,
        }
        if account is src and p["hold"] is not None:
            values["held"] = _A.c.held - points
        if account.kind == "member":
            values.update(_totals(other.kind, pts))
        await conn.execute(update(_A).where(_A.c.id == account.id).values(**values))
    await conn.execute(_E.insert(), entries)
    if dst.kind == "member":
        await conn.execute(
            _L.insert().values(
                id=p["lot"],
                community_id=p["community"],
                account_id=dst.id,
                entry_id=p["credit_entry"],
                points=points,
                remaining=points,
                expires_at=expires,
            )
        )
    if p["hold"] is not None:
        await conn.execute(
            update(_H)
            .where(_H.c.id == p["hold"])
            .values(status="posted", transfer_id=p["transfer"], resolved_at=now)
        )
    return Posted("ok", p["transfer"], points)


def _totals(other_kind: str, pts: int) -> dict[str, Any]:
    """A member leg's earned/spent/expired change (the same rule as service ``_count``)."""
    amount = abs(pts)
    credit = pts > 0
    if other_kind == "expired":
        return {"expired": _A.c.expired + (-amount if credit else amount)}
    if other_kind == "issuance" or (other_kind == "member" and credit):
        return {"earned": _A.c.earned + (amount if credit else -amount)}
    return {"spent": _A.c.spent + (-amount if credit else amount)}


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
