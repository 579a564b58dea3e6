"""The PostgreSQL fast path of a voucher redemption: one database call (``store_redeem_voucher``,
migration 0014) instead of about ten round trips. It answers only the plain success; anything else
(``None``) runs the ordinary path in service.py, which gives each refusal its code. The call runs on the
request's connection: inside the request's transaction when one is open (an Idempotency-Key row),
else on its own (autocommit; the function is one atomic statement).

Outside a transaction (no Idempotency-Key) the calls of a worker are grouped (group commit, as the
scans in service/activities/fastpath.py): a drain task sends everything queued as ONE statement that
calls the function once per request in arrival order (``unnest ... WITH ORDINALITY`` and ``CROSS JOIN
LATERAL``), in autocommit: one round trip and one commit for the batch. Every redemption of a shop
posts to the shop's one account, so they queue on its row lock, held until commit: grouped, the batch
pays the commit (the WAL flush) once instead of each redemption paying it behind the others' (an
order likewise holds its product's row). Each call keeps its own subtransaction (the function's
EXCEPTION block): a refused one answers ``slow`` with nothing written and never fails the others; if
the statement fails as a whole, nothing is written and every request of the batch takes the ordinary
path. A redemption batch is one call of ``store_redeem_batch`` (migration 0015): it locks the vouchers,
their holds and every account it posts to in one order up front and writes one statement per table, so
batches of two workers run side by side. Order batches run one at a time across the workers (a
transaction-level advisory lock): side by side, two batches taking members' accounts and the product
in different orders deadlocked."""

from __future__ import annotations

import os
import uuid
import zlib
from collections.abc import Hashable
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from service import clock
from service.accounts.service import Actor
from service.db import is_postgres
from service.ids import new_id
from service.kit.batch import GroupCommit, group_commit
from service.store import rules
from service.store.models import Offer, Order, Voucher

__all__ = ["BATCH_MAX", "DRAINS", "ENABLED", "RECENT", "STATS", "redeem", "reserve"]

ENABLED = os.environ.get("JIFEN_FAST_PATHS", "1") != "0"
"""``JIFEN_FAST_PATHS=0``: every redemption and order on the ordinary path (A/B benches)."""
STATS: dict[str, int] = {"redeemed": 0, "reserved": 0, "slow": 0, "batches": 0, "failed_batches": 0}
"""This worker's counters (tests and benches read them)."""
RECENT: list[list[str]] = []
"""The outcomes of this worker's latest batches (at most 64), in batch order; tests read them."""
BATCH_MAX = 64
"""Calls per statement at most."""
DRAINS = 1
"""Batches of one kind per worker in the database at once: one, as the calls of a batch queue on one
row anyway (the shop's account, the product); the next batch gathers while it runs."""

_REDEEM_SQL = (
    "SELECT o_outcome, o_voucher, o_offer, o_member_name"
    " FROM store_redeem_voucher($1, $2, $3, $4, $5, $6, $7, $8)"
)


_RESERVE_SQL = (
    "SELECT o_outcome, o_order FROM store_reserve_order($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
)
HOLD_GRACE = timedelta(days=1)
"""``service.HOLD_GRACE`` (a hold outlives its order by this much)."""
HOLD_LIFETIME_MAX = timedelta(days=366)
"""``points.service.HOLD_LIFETIME_MAX``."""


_REDEEM_BATCH_SQL = (
    "SELECT o_idx AS n, o_outcome, o_voucher, o_offer, o_member_name"
    " FROM store_redeem_batch($1::text[], $2::uuid[], $3::boolean[], $4::timestamptz[], $5::uuid[],"
    " $6::uuid[], $7::uuid[], $8::uuid[])"
)
_RESERVE_BATCH_SQL = (
    "SELECT u.n, r.o_outcome, r.o_order"
    " FROM unnest($1::uuid[], $2::uuid[], $3::boolean[], $4::int[], $5::int[], $6::timestamptz[],"
    " $7::uuid[], $8::text[], $9::uuid[], $10::int[], $11::interval[], $12::interval[])"
    " WITH ORDINALITY AS u(a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, n)"
    " CROSS JOIN LATERAL store_reserve_order(u.a1, u.a2, u.a3, u.a4, u.a5, u.a6, u.a7, u.a8, u.a9, u.a10,"
    " u.a11, u.a12) AS r ORDER BY u.n"
)


_ONE_AT_A_TIME = {_RESERVE_BATCH_SQL}
"""Batched statements that run one at a time across the workers (see ``_Statement._run``). A redemption
batch (``store_redeem_batch``) locks everything it needs in one order up front, so two run side by side."""


class _Statement:
    """One batched statement of a store function: the calls of a batch as arrays, one commit."""

    def __init__(self, engine: AsyncEngine, sql: str) -> None:
        self.engine = engine
        self.sql = sql
        self.lock_key = zlib.crc32(sql.encode()) if sql in _ONE_AT_A_TIME else None

    async def run(self, calls: list[tuple[Any, ...]]) -> list[Any]:
        try:
            return await self._run(calls)
        except Exception:  # nothing was written: every call of the batch takes the ordinary path
            STATS["failed_batches"] += 1
            raise

    async def _run(self, calls: list[tuple[Any, ...]]) -> list[Any]:
        async with self.engine.connect() as conn:
            raw = await conn.get_raw_connection()
            driver: Any = raw.driver_connection  # asyncpg.Connection
            columns = [list(column) for column in zip(*calls, strict=True)]
            if self.lock_key is None:  # one statement in autocommit: one round trip, one commit
                rows = await driver.fetch(self.sql, *columns)
            else:
                # One batch of a kind at a time across the workers: the calls of an order batch take
                # their row locks one after another (a member's account, the product's), so two batches
                # side by side could each hold what the other needs next (a deadlock: one second, then
                # the whole batch on the ordinary path). They queue on the product's row anyway.
                async with driver.transaction():
                    await driver.execute("SELECT pg_advisory_xact_lock($1)", self.lock_key)
                    rows = await driver.fetch(self.sql, *columns)
        answers: list[Any] = [None] * len(calls)
        for row in rows:
            answers[row["n"] - 1] = row
        STATS["batches"] += 1
        RECENT.append([a["o_outcome"] if a is not None else "missing" for a in answers])
        del RECENT[:-64]
        return answers


_batchers: dict[Hashable, GroupCommit[tuple[Any, ...], Any]] = {}


async def _call(db: AsyncSession, single: str, batched: str, args: tuple[Any, ...]) -> Any:
    """One call of a store function: batched when the request has no transaction open, else on the
    request's own connection (inside its transaction)."""
    engine = db.bind
    if db.in_transaction() or not isinstance(engine, AsyncEngine):
        return await (await _driver(db)).fetchrow(single, *args)
    batcher = group_commit(
        _batchers,
        engine,
        lambda: GroupCommit(
            _Statement(engine, batched).run, batch_max=BATCH_MAX, drains=DRAINS, owner=engine
        ),
        batched,
    )
    try:
        return await batcher.submit(args)
    except Exception:  # the batch failed as a whole and wrote nothing: the ordinary path decides
        return None


async def _driver(db: AsyncSession) -> Any:
    raw = await (await db.connection()).get_raw_connection()
    return raw.driver_connection  # asyncpg.Connection


def _row(model: Any, record: Any) -> Any:
    return model(**{c.key: record[c.name] for c in model.__table__.columns})


async def redeem(db: AsyncSession, actor: Actor, code: str) -> tuple[Voucher, Offer, str] | None:
    """(voucher, offer, member's name) of a redemption done, or ``None``: take the ordinary path."""
    normal = rules.normalise_code(code)
    if normal is None or not ENABLED or not is_postgres(db):
        return None
    args = (
        normal,
        actor.member_id,
        actor.is_platform_admin,
        clock.now(),
        new_id(),
        new_id(),
        new_id(),
        new_id(),
    )
    row = await _call(db, _REDEEM_SQL, _REDEEM_BATCH_SQL, args)
    if row is None or row["o_outcome"] != "ok":
        STATS["slow"] += 1
        return None
    STATS["redeemed"] += 1
    return _row(Voucher, row["o_voucher"]), _row(Offer, row["o_offer"]), str(row["o_member_name"])


async def reserve(db: AsyncSession, actor: Actor, product_id: uuid.UUID, quantity: int) -> Order | None:
    """The order reserved (stock taken, points held), or ``None``: take the ordinary path."""
    if not ENABLED or not is_postgres(db) or not isinstance(quantity, int):
        return None
    args = (
        product_id,
        actor.member_id,
        actor.is_platform_admin,
        quantity,
        rules.ORDER_QUANTITY_MAX,
        clock.now(),
        new_id(),
        rules.new_code(),
        new_id(),
        rules.ORDER_DAYS_DEFAULT,
        HOLD_GRACE,
        HOLD_LIFETIME_MAX,
    )
    row = await _call(db, _RESERVE_SQL, _RESERVE_BATCH_SQL, args)
    if row is None or row["o_outcome"] != "ok":
        STATS["slow"] += 1
        return None
    STATS["reserved"] += 1
    order: Order = _row(Order, row["o_order"])
    return order
