"""One member ordering, cancelling, claiming and giving back vouchers all at once: never a 500.

Runs on both databases (on PostgreSQL this used to deadlock about half the requests); afterwards the
points, stock, claims and holds are exactly as before and the ledger verifies.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import Counter
from typing import Any

import httpx
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from service.points import service as points
from service.points.models import Hold
from service.retry import TRANSACTION_ATTEMPTS, is_retryable
from service.store import service as store
from service.store.models import Offer, Order, Product
from tests.support.world import World

FUNDS = 100_000
STOCK = 500
CHURN_TASKS = 60


async def _setup(maker: async_sessionmaker[AsyncSession], world: World) -> tuple[uuid.UUID, uuid.UUID]:
    async with maker() as db, db.begin():
        await points.award(
            db,
            community_id=world.cid,
            member_id=world.members["alice"].id,
            points=FUNDS,
            code="test",
            idempotency_key="fund-alice",
        )
        product = await store.create_product(
            db, world.actor("clerk"), world.cid, name="大米", points_price=10, stock=STOCK
        )
        offer = await store.create_offer(
            db, world.actor("partner"), world.partner.id, title="理发", points_price=7
        )
        return product.id, offer.id


async def _churn(
    client: httpx.AsyncClient, h: dict[str, str], pid: uuid.UUID, oid: uuid.UUID
) -> Counter[int]:
    statuses: Counter[int] = Counter()

    async def one(i: int) -> None:
        await asyncio.sleep(random.random() / 50)
        key = {**h, "Idempotency-Key": f"churn-{i}"}
        if i % 2:
            made = await client.post(
                "/api/v1/orders", json={"product_id": str(pid), "quantity": 1}, headers=key
            )
            statuses[made.status_code] += 1
            if made.status_code == 201:
                gone = await client.post(f"/api/v1/orders/{made.json()['id']}/cancel", headers=h)
                statuses[gone.status_code] += 1
        else:
            made = await client.post(f"/api/v1/offers/{oid}/vouchers", headers=key)
            statuses[made.status_code] += 1
            if made.status_code == 201:
                gone = await client.post(f"/api/v1/vouchers/{made.json()['id']}/cancel", headers=h)
                statuses[gone.status_code] += 1

    await asyncio.gather(*(one(i) for i in range(CHURN_TASKS)))
    return statuses


async def test_order_and_voucher_churn_of_one_member_never_answers_500(
    app: Any, world: World, maker: async_sessionmaker[AsyncSession]
) -> None:
    pid, oid = await _setup(maker, world)
    # httpx's ASGI transport runs the requests really at once on this loop (the test client's portal
    # would take them one after another). Before the lock order, about 70% of these answered 500.
    transport = httpx.ASGITransport(app=app)
    async with app.lifespan(), httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        statuses = await _churn(client, world.h["alice"], pid, oid)
    assert not [s for s in statuses if s >= 500], statuses
    assert statuses[201] == CHURN_TASKS and statuses[200] == CHURN_TASKS, statuses
    async with maker() as db:
        bal = await points.balance(db, world.cid, world.members["alice"].id)
        assert (bal.available, bal.held) == (FUNDS, 0)
        assert (await db.get(Product, pid)).stock == STOCK  # type: ignore[union-attr]
        assert (await db.get(Offer, oid)).claimed_count == 0  # type: ignore[union-attr]
        assert await db.scalar(select(func.count()).select_from(Hold).where(Hold.status == "pending")) == 0
        assert (
            await db.scalar(select(func.count()).select_from(Order).where(Order.status != "cancelled")) == 0
        )
        assert (await points.verify(db, world.cid)).ok


def _deadlock() -> OperationalError:
    class DeadlockDetectedError(Exception):
        sqlstate = "40P01"

    return OperationalError("UPDATE ...", {}, DeadlockDetectedError("deadlock detected"))


def test_retryable_failures_are_recognised() -> None:
    assert is_retryable(_deadlock())
    assert is_retryable(OperationalError("BEGIN IMMEDIATE", {}, Exception("database is locked")))
    assert not is_retryable(OperationalError("SELECT", {}, Exception("no such table: x")))
    assert not is_retryable(ValueError("deadlock"))


async def test_a_deadlocked_request_is_run_again_whole_and_counts_once(
    client: AsyncTestClient[Any], world: World, maker: async_sessionmaker[AsyncSession], monkeypatch: Any
) -> None:
    """The first attempt writes (hold, stock, idempotency key), then deadlocks: nothing of it stays."""
    pid, _ = await _setup(maker, world)
    real = store.reserve
    calls = 0

    async def flaky(db: AsyncSession, *args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        order = await real(db, *args, **kwargs)
        if calls == 1:
            raise _deadlock()
        return order

    monkeypatch.setattr(store, "reserve", flaky)
    h = {**world.h["alice"], "Idempotency-Key": "retry-1"}
    body = {"product_id": str(pid), "quantity": 2}
    first = await client.post("/api/v1/orders", json=body, headers=h)
    assert first.status_code == 201, first.text
    again = await client.post("/api/v1/orders", json=body, headers=h)
    assert again.json() == first.json() and calls == 2
    async with maker() as db:
        assert (await db.get(Product, pid)).stock == STOCK - 2  # type: ignore[union-attr]
        assert await db.scalar(select(func.count()).select_from(Order)) == 1
        bal = await points.balance(db, world.cid, world.members["alice"].id)
        assert (bal.available, bal.held) == (FUNDS - 20, 20)
        assert (await points.verify(db, world.cid)).ok


async def test_a_request_that_keeps_deadlocking_gives_up_with_a_problem_and_changes_nothing(
    client: AsyncTestClient[Any], world: World, maker: async_sessionmaker[AsyncSession], monkeypatch: Any
) -> None:
    pid, _ = await _setup(maker, world)
    real = store.reserve
    calls = 0

    async def stuck(db: AsyncSession, *args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        await real(db, *args, **kwargs)
        raise _deadlock()

    monkeypatch.setattr(store, "reserve", stuck)
    h = {**world.h["alice"], "Idempotency-Key": "retry-2"}
    answer = await client.post("/api/v1/orders", json={"product_id": str(pid), "quantity": 1}, headers=h)
    assert answer.status_code == 500 and answer.json()["code"] == "internal_error"
    assert calls == TRANSACTION_ATTEMPTS
    async with maker() as db:
        assert (await db.get(Product, pid)).stock == STOCK  # type: ignore[union-attr]
        assert await db.scalar(select(func.count()).select_from(Order)) == 0
        assert (await points.balance(db, world.cid, world.members["alice"].id)).held == 0


async def test_a_commit_that_fails_is_retried_not_acknowledged_unstored(
    client: AsyncTestClient[Any], world: World, maker: async_sessionmaker[AsyncSession], monkeypatch: Any
) -> None:
    """The failure comes at COMMIT, after the handler answered 201: the client must not get that 201."""
    pid, _ = await _setup(maker, world)
    real_commit, real_reserve = AsyncSession.commit, store.reserve
    armed, failures = False, 0

    async def reserve(db: AsyncSession, *args: Any, **kwargs: Any) -> Any:
        nonlocal armed
        armed = True
        return await real_reserve(db, *args, **kwargs)

    async def commit_once_failing(self: AsyncSession) -> None:
        nonlocal failures
        if armed and failures == 0:
            failures += 1
            raise _deadlock()
        await real_commit(self)

    monkeypatch.setattr(store, "reserve", reserve)
    monkeypatch.setattr(AsyncSession, "commit", commit_once_failing)
    h = {**world.h["alice"], "Idempotency-Key": "commit-1"}
    r = await client.post("/api/v1/orders", json={"product_id": str(pid), "quantity": 3}, headers=h)
    assert r.status_code == 201, r.text
    assert failures == 1
    async with maker() as db:
        orders = list(await db.scalars(select(Order)))
        assert [str(o.id) for o in orders] == [r.json()["id"]]
        assert (await db.get(Product, pid)).stock == STOCK - 3  # type: ignore[union-attr]
        assert (await points.balance(db, world.cid, world.members["alice"].id)).held == 30
