"""The PostgreSQL fast path of a voucher redemption: one database call (``store_redeem_voucher``,
migration 0014) instead of about ten round trips. It answers only the plain success; anything else
(``None``) runs the ordinary path in service.py, which gives each refusal its code. The call runs on the
request's connection: inside the request's transaction when one is open (an Idempotency-Key row),
else on its own (autocommit; the function is one atomic statement)."""

from __future__ import annotations

import os
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from service import clock
from service.accounts.service import Actor
from service.db import is_postgres
from service.ids import new_id
from service.store import rules
from service.store.models import Offer, Order, Voucher

__all__ = ["ENABLED", "STATS", "redeem", "reserve"]

ENABLED = os.environ.get("JIFEN_FAST_PATHS", "1") != "0"
"""``JIFEN_FAST_PATHS=0``: every redemption and order on the ordinary path (A/B benches)."""
STATS: dict[str, int] = {"redeemed": 0, "reserved": 0, "slow": 0}
"""This worker's counters (tests and benches read them)."""

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
    row = await (await _driver(db)).fetchrow(
        _REDEEM_SQL,
        normal,
        actor.member_id,
        actor.is_platform_admin,
        clock.now(),
        new_id(),
        new_id(),
        new_id(),
        new_id(),
    )
    if row is None or row["o_outcome"] != "ok":
        STATS["slow"] += 1
        return None
    STATS["redeemed"] += 1
    return _row(Voucher, row["o_voucher"]), _row(Offer, row["o_offer"]), str(row["o_member_name"])


async def reserve(db: AsyncSession, actor: Actor, product_id: uuid.UUID, quantity: int) -> Order | None:
    """The order reserved (stock taken, points held), or ``None``: take the ordinary path."""
    if not ENABLED or not is_postgres(db) or not isinstance(quantity, int):
        return None
    row = await (await _driver(db)).fetchrow(
        _RESERVE_SQL,
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
    if row is None or row["o_outcome"] != "ok":
        STATS["slow"] += 1
        return None
    STATS["reserved"] += 1
    order: Order = _row(Order, row["o_order"])
    return order
