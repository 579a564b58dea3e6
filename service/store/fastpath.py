"""The PostgreSQL fast paths of a voucher redemption, an order and a voucher claim: the plain success in one
database call instead of about ten round trips. Anything else (``None``) runs the ordinary path in
service.py, which gives each refusal its code.

Outside a transaction (no Idempotency-Key) the calls of a worker are grouped (group commit, as the scans
in service/activities/fastpath.py): a drain task sends everything queued as ONE call of a batch function
(service/store/sql/batches.sql), in autocommit: one round trip and one commit for the batch.
``store_redeem_batch`` finds each code's voucher the caller is staff for, locks the vouchers, their holds
and every account it posts to in one order up front, chains the entries in a loop and writes one statement
per table; ``store_reserve_batch`` locks the products, then the members' accounts, in id order, decides
each order in arrival order against what the batch took before it (stock, the monthly limit, free points)
and writes one statement per table; ``store_claim_batch`` locks the offers, the units with a monthly
quota, then the members' accounts, in id order, decides each claim in arrival order against what the batch
took before it (the offer's total and monthly quotas, the unit's monthly quota, the member's limits, free
points) and writes one statement per table. Each answers one row per call: ``ok`` with the rows, or
``slow`` (nothing of that call written; the ordinary path decides). If the batch's writes fail as a whole,
nothing is written and every call takes the ordinary path. Every redemption of a shop posts to the shop's
one account and every order of a product takes its row, so batches of two workers queue on that row (every
claim of an offer, its offer's row); locking in one order keeps them from deadlocking.

Inside a transaction (an Idempotency-Key row) the same function runs on the request's connection with a
batch of one: one redemption path, one order path and one claim path on PostgreSQL
(service/store/sql/batches.sql)."""

from __future__ import annotations

import uuid
from collections.abc import Hashable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from service import clock
from service.accounts.actor import Actor
from service.db import fast_paths_on, is_postgres
from service.ids import new_id
from service.kit.batch import GroupCommit, group_commit
from service.kit.observe import count_points
from service.points.service import HOLD_LIFETIME_MAX
from service.store import rules
from service.store.models import Offer, Order, Voucher

__all__ = ["BATCH_MAX", "DRAINS", "RECENT", "STATS", "claim", "redeem", "reserve"]

STATS: dict[str, int] = {
    "redeemed": 0,
    "reserved": 0,
    "claimed": 0,
    "slow": 0,
    "batches": 0,
    "failed_batches": 0,
}
"""This worker's counters (tests and benches read them)."""
RECENT: list[list[str]] = []
"""The outcomes of this worker's latest batches (at most 64), in batch order; tests read them."""
BATCH_MAX = 64
"""Calls per statement at most."""
DRAINS = 1
"""Batches of one kind per worker in the database at once: one, as the calls of a batch queue on one
row anyway (the shop's account, the product); the next batch gathers while it runs."""


_REDEEM_BATCH_SQL = (
    "SELECT o_idx AS n, o_outcome, o_voucher, o_offer, o_member_name, o_shop_name"
    " FROM store_redeem_batch($1::text[], $2::uuid[], $3::int[], $4::boolean[], $5::timestamptz[],"
    " $6::uuid[], $7::uuid[], $8::uuid[], $9::uuid[])"
)
_RESERVE_BATCH_SQL = (
    "SELECT o_idx AS n, o_outcome, o_order, o_product_name"
    " FROM store_reserve_batch($1::uuid[], $2::uuid[], $3::int[], $4::boolean[], $5::int[], $6::int[],"
    " $7::timestamptz[], $8::uuid[], $9::text[], $10::uuid[], $11::int[], $12::interval[], $13::interval[])"
)
_CLAIM_BATCH_SQL = (
    "SELECT o_idx AS n, o_outcome, o_voucher"
    " FROM store_claim_batch($1::uuid[], $2::uuid[], $3::int[], $4::boolean[], $5::uuid[], $6::timestamptz[],"
    " $7::uuid[], $8::uuid[], $9::text[], $10::int[], $11::interval[], $12::interval[])"
)
_NAMES = {
    _REDEEM_BATCH_SQL: "store.redeem",
    _RESERVE_BATCH_SQL: "store.reserve",
    _CLAIM_BATCH_SQL: "store.claim",
}
"""The group commits' names (the batch metrics' ``path`` label)."""


class _Statement:
    """One batched statement of a store function: the calls of a batch as arrays, one commit."""

    def __init__(self, engine: AsyncEngine, sql: str) -> None:
        self.engine = engine
        self.sql = sql

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
            # One statement in autocommit: one round trip, one commit. The batch functions lock what they
            # need in one order up front (products, then accounts, in id order), so the batches of two
            # workers queue on a shared row instead of deadlocking.
            rows = await driver.fetch(self.sql, *columns)
        answers: list[Any] = [None] * len(calls)
        for row in rows:
            answers[row["n"] - 1] = row
        STATS["batches"] += 1
        RECENT.append([a["o_outcome"] if a is not None else "missing" for a in answers])
        del RECENT[:-64]
        return answers


_batchers: dict[Hashable, GroupCommit[tuple[Any, ...], Any]] = {}


async def _call(db: AsyncSession, batched: str, args: tuple[Any, ...]) -> Any:
    """One call of a store function: batched when the request has no transaction open, else a batch of
    one on the request's own connection (inside its transaction)."""
    engine = db.bind
    if db.in_transaction() or not isinstance(engine, AsyncEngine):
        return await (await _driver(db)).fetchrow(batched, *[[value] for value in args])
    batcher = group_commit(
        _batchers,
        engine,
        lambda: GroupCommit(
            _Statement(engine, batched).run,
            batch_max=BATCH_MAX,
            drains=DRAINS,
            owner=engine,
            name=_NAMES[batched],
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


async def redeem(db: AsyncSession, actor: Actor, code: str) -> tuple[Voucher, Offer, str, str | None] | None:
    """(voucher, offer, member's name, shop's name when the batch read it) of a redemption done, or
    ``None``: take the ordinary path."""
    normal = rules.normalise_code(code)
    if normal is None or not fast_paths_on(db) or not is_postgres(db):
        return None
    args = (
        normal,
        actor.member_id,
        actor.token_version,
        actor.is_platform_admin,
        clock.now(),
        new_id(),
        new_id(),
        new_id(),
        new_id(),
    )
    row = await _call(db, _REDEEM_BATCH_SQL, args)
    if row is None or row["o_outcome"] != "ok":
        STATS["slow"] += 1
        return None
    STATS["redeemed"] += 1
    voucher, offer = _row(Voucher, row["o_voucher"]), _row(Offer, row["o_offer"])
    count_points(voucher.community_id, spent=voucher.points)  # the batch committed the posting
    return voucher, offer, str(row["o_member_name"]), row["o_shop_name"]


async def reserve(
    db: AsyncSession, actor: Actor, product_id: uuid.UUID, quantity: int
) -> tuple[Order, str | None] | None:
    """The order reserved (stock taken, points held) and the product's name when the batch read it, or
    ``None``: take the ordinary path."""
    if not fast_paths_on(db) or not is_postgres(db) or not isinstance(quantity, int):
        return None
    args = (
        product_id,
        actor.member_id,
        actor.token_version,
        actor.is_platform_admin,
        quantity,
        rules.ORDER_QUANTITY_MAX,
        clock.now(),
        new_id(),
        rules.new_code(),
        new_id(),
        rules.ORDER_DAYS_DEFAULT,
        rules.HOLD_GRACE,
        HOLD_LIFETIME_MAX,
    )
    row = await _call(db, _RESERVE_BATCH_SQL, args)
    if row is None or row["o_outcome"] != "ok":
        STATS["slow"] += 1
        return None
    STATS["reserved"] += 1
    order: Order = _row(Order, row["o_order"])
    return order, row["o_product_name"]


async def claim(
    db: AsyncSession, actor: Actor, offer_id: uuid.UUID, community_id: uuid.UUID | None
) -> Voucher | None:
    """The voucher issued (the offer's points held), or ``None``: take the ordinary path."""
    if not fast_paths_on(db) or not is_postgres(db):
        return None
    args = (
        offer_id,
        actor.member_id,
        actor.token_version,
        actor.is_platform_admin,
        community_id,
        clock.now(),
        new_id(),
        new_id(),
        rules.new_code(),
        rules.VOUCHER_MINUTES_DEFAULT,
        rules.HOLD_GRACE,
        HOLD_LIFETIME_MAX,
    )
    row = await _call(db, _CLAIM_BATCH_SQL, args)
    if row is None or row["o_outcome"] != "ok":
        STATS["slow"] += 1
        return None
    STATS["claimed"] += 1
    voucher: Voucher = _row(Voucher, row["o_voucher"])
    return voucher
