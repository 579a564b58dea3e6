"""Races on PostgreSQL: settlement workers, yearly limits and ratings stay exactly-once under concurrency."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from service import clock
from service.db import transaction
from service.errors import DomainError
from service.points import service as points
from service.rewards import households_service as households
from service.rewards import service as rewards
from service.rewards.models import Claim
from service.wishes import service as wishes
from tests.support.proposals import rule_of
from tests.support.world import World

pytestmark = pytest.mark.postgres


async def _rule(maker: Any, world: World, **kw: Any) -> Any:
    async with transaction(maker) as db:
        return await rule_of(
            db,
            world,
            await rewards.create_rule(
                db, world.actor("admin"), world.cid, code="garbage", title="垃圾分类达标", points=20, **kw
            ),
        )


async def test_parallel_settlement_workers_pay_each_claim_once(world: World, maker: Any) -> None:
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


async def test_parallel_submissions_respect_the_yearly_limit(world: World, maker: Any) -> None:
    rule = await _rule(maker, world, publicity_days=1, limit_per_member_per_year=1)

    today = clock.now().astimezone(ZoneInfo("Asia/Shanghai")).date()

    async def submit(days_ago: int) -> str:
        try:
            async with transaction(maker) as db:
                await rewards.submit_claim(
                    db,
                    world.actor("alice"),
                    rule.id,
                    world.members["alice"].id,
                    "合格",
                    event_date=today - timedelta(days=days_ago),
                )
            return "ok"
        except DomainError as exc:
            return exc.code

    outcomes = sorted(await asyncio.gather(*(submit(i) for i in range(5))))
    assert outcomes == ["ok"] + ["yearly_limit_reached"] * 4
    async with maker() as db:
        assert await db.scalar(select(func.count()).select_from(Claim)) == 1


async def test_parallel_ratings_pay_the_volunteer_once(world: World, maker: Any) -> None:
    async with transaction(maker) as db:
        wish = await wishes.post_wish(db, world.actor("alice"), world.cid, title="买菜", category="errand")
        await wishes.dispatch_wish(db, world.actor("organizer"), wish.id, world.members["bob"].id)
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


async def test_the_same_event_filed_at_once_by_family_and_organizer_is_claimed_once(
    world: World, maker: Any
) -> None:
    """The bride's family and the organizer press submit together: one claim, one 409, never a 500."""
    rule = await _rule(maker, world, publicity_days=1)
    async with transaction(maker) as db:
        link = await households.request_link(
            db, world.actor("carol"), world.cid, world.members["alice"].phone
        )
        await households.decide_link(db, world.actor("admin"), link.id, True)

    async def submit(who: str) -> str:
        try:
            async with transaction(maker) as db:
                await rewards.submit_claim(
                    db, world.actor(who), rule.id, world.members["alice"].id, "婚礼", event_ref="J-1"
                )
            return "ok"
        except DomainError as exc:
            return exc.code

    outcomes = sorted(
        await asyncio.gather(*(submit(w) for w in ("carol", "organizer", "carol", "organizer")))
    )
    assert outcomes == ["duplicate_claim"] * 3 + ["ok"]
    async with maker() as db:
        assert await db.scalar(select(func.count()).select_from(Claim)) == 1


async def test_parallel_wish_awards_never_pass_the_monthly_cap(world: World, maker: Any) -> None:
    async with transaction(maker) as db:
        await rewards.update_settings(
            db, world.actor("admin"), world.cid, wish_points_monthly_cap=30
        )  # lower
        ids = []
        for i in range(6):
            wish = await wishes.post_wish(
                db, world.actor("alice"), world.cid, title=f"心愿{i}", category="errand"
            )
            await wishes.dispatch_wish(db, world.actor("organizer"), wish.id, world.members["bob"].id)
            await wishes.accept_wish(db, world.actor("bob"), wish.id)
            await wishes.complete_wish(db, world.actor("bob"), wish.id)
            ids.append(wish.id)

    async def rate(wish_id: Any) -> str:
        async with transaction(maker) as db:
            wish = await wishes.rate_wish(db, world.actor("alice"), wish_id, 5)
            return str(wish.points_status)

    outcomes = sorted(await asyncio.gather(*(rate(i) for i in ids)))
    assert outcomes == ["capped"] * 3 + ["posted"] * 3
    async with maker() as db:
        assert (await points.balance(db, world.cid, world.members["bob"].id)).available == 30
