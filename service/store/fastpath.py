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
from collections.abc import Awaitable, Callable, Hashable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from service import clock
from service.accounts.actor import Actor
from service.audit.service import CLIENT_ADDR, Event, record_many
from service.db import fast_paths_on, is_postgres
from service.ids import new_id
from service.kit.batch import GroupCommit, group_commit
from service.kit.observe import count_points
from service.points.service import HOLD_LIFETIME_MAX
from service.store import rules
from service.store.models import Offer, Order, Voucher

__all__ = ["BATCH_MAX", "DRAINS", "RECENT", "STATS", "claim", "redeem", "redeemed_detail", "reserve"]

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


After = Callable[[AsyncSession, list[tuple[Any, ...]], list[Any]], Awaitable[None]]
"""What a batch does in its own transaction after its statement: (session, calls, answers)."""


class _Statement:
    """One batched statement of a store function: the calls of a batch as arrays, one commit.

    A call is the function's arguments, then (past ``arity``) what ``after`` needs of it. With ``after``
    the statement and ``after`` share one transaction (the redemptions' audit events commit with them);
    without, the statement runs alone in autocommit."""

    def __init__(self, engine: AsyncEngine, sql: str, arity: int, after: After | None = None) -> None:
        self.engine = engine
        self.sql = sql
        self.arity = arity
        self.after = after

    async def run(self, calls: list[tuple[Any, ...]]) -> list[Any]:
        try:
            return await self._run(calls)
        except Exception:  # nothing was written: every call of the batch takes the ordinary path
            STATS["failed_batches"] += 1
            raise

    async def _run(self, calls: list[tuple[Any, ...]]) -> list[Any]:
        columns = [list(column) for column in zip(*(call[: self.arity] for call in calls), strict=True)]
        # The batch functions lock what they need in one order up front (products, then accounts, in id
        # order), so the batches of two workers queue on a shared row instead of deadlocking.
        if self.after is None:
            async with self.engine.connect() as conn:
                raw = await conn.get_raw_connection()
                driver: Any = raw.driver_connection  # asyncpg.Connection
                # One statement in autocommit: one round trip, one commit.
                rows: list[Any] = list(await driver.fetch(self.sql, *columns))
            answers = self._answers(calls, rows)
        else:
            async with AsyncSession(self.engine, expire_on_commit=False) as session, session.begin():
                result = await (await session.connection()).exec_driver_sql(self.sql, tuple(columns))
                answers = self._answers(calls, [dict(row) for row in result.mappings()])
                await self.after(session, calls, answers)  # last: after the statement's own locks
        STATS["batches"] += 1
        RECENT.append([a["o_outcome"] if a is not None else "missing" for a in answers])
        del RECENT[:-64]
        return answers

    @staticmethod
    def _answers(calls: list[tuple[Any, ...]], rows: list[Any]) -> list[Any]:
        answers: list[Any] = [None] * len(calls)
        for row in rows:
            answers[row["n"] - 1] = row
        return answers


_batchers: dict[Hashable, GroupCommit[tuple[Any, ...], Any]] = {}


async def _call(
    db: AsyncSession,
    batched: str,
    args: tuple[Any, ...],
    extra: tuple[Any, ...] = (),
    after: After | None = None,
) -> tuple[Any, bool]:
    """One call of a store function and whether ``after`` ran for it: batched when the request has no
    transaction open (``after`` then runs in the batch's transaction, given ``args + extra``), else a
    batch of one on the request's own connection (inside its transaction; ``after`` is the caller's)."""
    engine = db.bind
    if db.in_transaction() or not isinstance(engine, AsyncEngine):
        return await (await _driver(db)).fetchrow(batched, *[[value] for value in args]), False
    batcher = group_commit(
        _batchers,
        engine,
        lambda: GroupCommit(
            _Statement(engine, batched, len(args), after).run,
            batch_max=BATCH_MAX,
            drains=DRAINS,
            owner=engine,
            name=_NAMES[batched],
        ),
        batched,
    )
    try:
        return await batcher.submit(args + extra), after is not None
    except Exception:  # the batch failed as a whole and wrote nothing: the ordinary path decides
        return None, False


async def _driver(db: AsyncSession) -> Any:
    raw = await (await db.connection()).get_raw_connection()
    return raw.driver_connection  # asyncpg.Connection


def _row(model: Any, record: Any) -> Any:
    return model(**{c.key: record[c.name] for c in model.__table__.columns})


def redeemed_detail(voucher: Voucher) -> dict[str, Any]:
    """The ``voucher_redeemed`` audit event's detail (the batch's and the ordinary path's)."""
    return {
        "voucher_id": str(voucher.id),
        "offer_id": str(voucher.offer_id),
        "partner_id": str(voucher.partner_id),
        "points": voucher.points,
    }


async def _audit_redeemed(session: AsyncSession, calls: list[tuple[Any, ...]], answers: list[Any]) -> None:
    """The grouped redemptions' audit events, in the batch's own transaction (they commit with it, each
    community's events extending one of its chains): the staff member who redeemed and where from."""
    events = []
    for call, row in zip(calls, answers, strict=True):
        if row is None or row["o_outcome"] != "ok":
            continue
        voucher = _row(Voucher, row["o_voucher"])
        actor_id, client_addr = call[1], call[-1]
        detail = redeemed_detail(voucher)
        events.append(
            Event(actor_id, "voucher_redeemed", voucher.community_id, voucher.member_id, detail, client_addr)
        )
    await record_many(session, events)


async def redeem(
    db: AsyncSession, actor: Actor, code: str
) -> tuple[Voucher, Offer, str, str | None, bool] | None:
    """(voucher, offer, member's name, shop's name when the batch read it, whether the batch recorded
    the audit event) of a redemption done, or ``None``: take the ordinary path."""
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
    row, audited = await _call(db, _REDEEM_BATCH_SQL, args, (CLIENT_ADDR.get(),), _audit_redeemed)
    if row is None or row["o_outcome"] != "ok":
        STATS["slow"] += 1
        return None
    STATS["redeemed"] += 1
    voucher, offer = _row(Voucher, row["o_voucher"]), _row(Offer, row["o_offer"])
    count_points(voucher.community_id, spent=voucher.points)  # the batch committed the posting
    return voucher, offer, str(row["o_member_name"]), row["o_shop_name"], audited


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
    row, _ = await _call(db, _RESERVE_BATCH_SQL, args)
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
    row, _ = await _call(db, _CLAIM_BATCH_SQL, args)
    if row is None or row["o_outcome"] != "ok":
        STATS["slow"] += 1
        return None
    STATS["claimed"] += 1
    voucher: Voucher = _row(Voucher, row["o_voucher"])
    return voucher
