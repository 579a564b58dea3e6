"""Races on PostgreSQL: settlement workers, yearly limits and ratings stay exactly-once under concurrency."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from service import clock
from service.db import transaction
from service.errors import DomainError
from service.points import service as points
from service.rewards import service as rewards
from service.rewards import wishes_service as wishes
from service.rewards.models import Claim

pytestmark = pytest.mark.postgres


async def _rule(maker: Any, world: Any, **kw: Any) -> Any:
    async with transaction(maker) as db:
        return await rewards.create_rule(
            db, world.actor("admin"), world.cid, code="garbage", title="垃圾分类达标", points=20, **kw
        )


async def test_parallel_settlement_workers_pay_each_claim_once(world: Any, maker: Any) -> None:
    rule = await _rule(maker, world, publicity_days=1)
    async with transaction(maker) as db:
        for who in ("alice", "bob", "carol"):
            claim = await rewards.submit_claim(db, world.actor(who), rule.id, world.members[who].id, "合格")
            await rewards.review_claim(db, world.actor("reviewer"), claim.id, "approve")
    clock.advance(timedelta(days=1, seconds=1))
    results = await asyncio.gather(*(rewards.settle_due_claims(maker) for _ in range(4)))
    assert sum(results) == 3
    async with maker() as db:
        for who in ("alice", "bob", "carol"):
            assert (await points.balance(db, world.cid, world.members[who].id)).available == 20


async def test_parallel_submissions_respect_the_yearly_limit(world: Any, maker: Any) -> None:
    rule = await _rule(maker, world, publicity_days=1, limit_per_member_per_year=1)

    async def submit() -> str:
        try:
            async with transaction(maker) as db:
                await rewards.submit_claim(
                    db, world.actor("alice"), rule.id, world.members["alice"].id, "合格"
                )
            return "ok"
        except DomainError as exc:
            return exc.code

    outcomes = sorted(await asyncio.gather(*(submit() for _ in range(5))))
    assert outcomes == ["ok"] + ["yearly_limit_reached"] * 4
    async with maker() as db:
        assert await db.scalar(select(func.count()).select_from(Claim)) == 1


async def test_parallel_ratings_pay_the_volunteer_once(world: Any, maker: Any) -> None:
    async with transaction(maker) as db:
        wish = await wishes.post_wish(db, world.actor("alice"), world.cid, title="买菜", category="errand")
        await wishes.accept_wish(db, world.actor("bob"), wish.id)
        await wishes.complete_wish(db, world.actor("bob"), wish.id)

    async def rate() -> str:
        try:
            async with transaction(maker) as db:
                await wishes.rate_wish(db, world.actor("alice"), wish.id, 5)
            return "ok"
        except DomainError as exc:
            return exc.code

    outcomes = sorted(await asyncio.gather(*(rate() for _ in range(4))))
    assert outcomes == ["ok"] + ["wish_not_ratable"] * 3
    async with maker() as db:
        assert (await points.balance(db, world.cid, world.members["bob"].id)).available == 10
