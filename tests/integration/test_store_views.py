"""The store's and the ledger's read side: lists run a fixed number of queries whatever their length,
names of people come masked from accounts' read side, and each route's documented errors come from
what its service declares."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from service.accounts import service as accounts
from service.errors import declared_errors
from service.kit.masking import mask_name
from service.points import service as points
from service.points import views as points_views
from service.store import service as store
from service.store import views


@contextmanager
def counted(engine: AsyncEngine) -> Iterator[list[str]]:
    """The SQL statements run inside the block."""
    seen: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith(("SELECT", "INSERT", "UPDATE", "DELETE", "WITH")):
            seen.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", note)


async def _fund(db: AsyncSession, world: Any, name: str, amount: int) -> None:
    await points.award(
        db,
        community_id=world.cid,
        member_id=world.members[name].id,
        points=amount,
        code="test",
        idempotency_key=f"fund-{name}-{uuid.uuid4()}",
    )


async def _orders(db: AsyncSession, world: Any, product_id: uuid.UUID, people: list[str]) -> None:
    for name in people:
        await store.reserve_order(db, world.actor(name), product_id, 1)


async def test_order_and_voucher_lists_run_a_fixed_number_of_queries(
    world: Any, maker: async_sessionmaker[AsyncSession], engine: AsyncEngine
) -> None:
    async with maker() as db:
        for name in ("alice", "bob", "carol"):
            await _fund(db, world, name, 1_000)
        product = await store.create_product(
            db, world.actor("clerk"), world.cid, name="米", points_price=10, stock=99
        )
        offer = await store.create_offer(
            db, world.actor("partner"), world.partner.id, title="九折", points_price=5
        )
        await _orders(db, world, product.id, ["alice"])
        await store.claim_voucher(db, world.actor("alice"), offer.id)
        await db.commit()

        async def queries() -> tuple[int, int, int]:
            with counted(engine) as orders_sql:
                await views.list_orders(db, world.actor("clerk"), world.cid, mine=False)
            with counted(engine) as vouchers_sql:
                await views.list_vouchers(db, world.actor("partner"), world.cid, partner_id=world.partner.id)
            with counted(engine) as offers_sql:
                await views.list_offers(db, world.actor("alice"), world.cid)
            return len(orders_sql), len(vouchers_sql), len(offers_sql)

        few = await queries()
        await _orders(db, world, product.id, ["bob", "carol", "bob", "carol", "alice"])
        for name in ("bob", "carol", "bob"):
            await store.claim_voucher(db, world.actor(name), offer.id)
        await store.create_offer(db, world.actor("partner"), world.partner.id, title="八折", points_price=8)
        await db.commit()
        many = await queries()
        assert few == many
        rows, _ = await views.list_orders(db, world.actor("clerk"), world.cid, mine=False)
        assert len(rows) == 6
        assert {r.member_name for r in rows} == {
            mask_name(n) for n in (world.members[k].name for k in ("alice", "bob", "carol"))
        }
        lines, _ = await views.list_vouchers(
            db, world.actor("partner"), world.cid, partner_id=world.partner.id
        )
        assert len(lines) == 4 and all(line.partner_name == world.partner.name for line in lines)


async def test_settlement_sums_in_sql_and_masks_names(
    world: Any, maker: async_sessionmaker[AsyncSession]
) -> None:
    async with maker() as db:
        await _fund(db, world, "alice", 100)
        offer = await store.create_offer(
            db, world.actor("partner"), world.partner.id, title="九折", points_price=7
        )
        voucher = await store.claim_voucher(db, world.actor("alice"), offer.id)
        await store.redeem_voucher(db, world.actor("partner"), voucher.code)
        await db.commit()
        st = await views.settlement(db, world.actor("partner"), world.partner.id)
        assert (st.count, st.points) == (1, 7)
        assert st.items[0].member_name == mask_name(world.members["alice"].name)
        report = await views.community_report(db, world.actor("admin"), world.cid, st.month)
        assert (report.count, report.points) == (1, 7)
        assert [(p.partner_name, p.points) for p in report.partners] == [(world.partner.name, 7)]


async def test_home_counts_in_one_query(
    world: Any, maker: async_sessionmaker[AsyncSession], engine: AsyncEngine
) -> None:
    async with maker() as db:
        await _fund(db, world, "alice", 100)
        product = await store.create_product(
            db, world.actor("clerk"), world.cid, name="米", points_price=10, stock=9
        )
        await _orders(db, world, product.id, ["alice", "alice"])
        await db.commit()
        with counted(engine) as sql:
            counts = await views.open_counts(db, world.cid, world.members["alice"].id)
        assert (counts.orders, counts.vouchers) == (2, 0) and len(sql) == 1


def _codes(fn: Any) -> set[str]:
    return {cls.code for cls in declared_errors(fn)}


def test_commands_declare_what_they_raise_including_the_ledger_s_refusals() -> None:
    assert {
        "product_not_found",
        "invalid_quantity",
        "product_unavailable",
        "out_of_stock",
        "limit_reached",
        "insufficient_points",
        "code_space_exhausted",
    } <= _codes(store.reserve_order)
    assert {"voucher_not_found", "voucher_expired", "voucher_already_redeemed", "voucher_cancelled",
            "invalid_code", "hold_not_pending"} <= _codes(store.redeem_voucher)  # fmt: skip
    assert {"insufficient_points", "idempotency_conflict", "invalid_points", "invalid_expiry"} <= _codes(
        points.hold
    )
    assert {"award_not_found", "award_not_pending", "same_admin", "approver_conflict"} <= _codes(
        points.approve_award
    )
    assert "invalid_month" in _codes(views.settlement)
    assert "forbidden" in _codes(points_views.my_entries) or not declared_errors(accounts.require_role)
