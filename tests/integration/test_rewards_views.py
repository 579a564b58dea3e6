"""The rewards, wishes and board read sides run a fixed number of queries whatever the list's length."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession

from service import clock
from service.board import views as board_views
from service.rewards import service as rewards
from service.rewards import views as reward_views
from service.wishes import service as wishes
from service.wishes import views as wish_views
from tests.support.proposals import rule_of

MEMBERS = ("alice", "bob", "carol")


@contextmanager
def _counted(db: AsyncSession) -> Iterator[list[str]]:
    """The SQL statements run on ``db``'s connection while the block runs."""
    seen: list[str] = []
    engine = db.get_bind()

    def hook(*args: Any) -> None:
        seen.append(str(args[2]))

    event.listen(engine, "before_cursor_execute", hook)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", hook)


async def _queries(db: AsyncSession, read: Callable[[], Awaitable[object]]) -> int:
    await read()  # warm: the first call may load the community or settings into the session
    with _counted(db) as seen:
        await read()
    return len(seen)


async def _claims(db: AsyncSession, world: Any, n: int, code: str) -> None:
    rule = await rule_of(
        db,
        world,
        await rewards.create_rule(
            db, world.actor("admin"), world.cid, code=code, title="垃圾分类", points=5, publicity_days=0
        ),
    )
    today = clock.now().date()
    for i in range(n):
        who = MEMBERS[i % len(MEMBERS)]
        claim = await rewards.submit_claim(
            db,
            world.actor("organizer"),
            rule.id,
            world.members[who].id,
            f"{world.members[who].name}分类投放合格",
            event_date=today - timedelta(days=i),
        )
        if i % 2:
            await rewards.review_claim(db, world.actor("reviewer"), claim.id, "approve")
            await rewards.object_to_claim(
                db, world.actor("bob" if who != "bob" else "alice"), claim.id, "没看到"
            )


async def test_claim_lists_and_the_board_do_not_grow_with_their_length(db: AsyncSession, world: Any) -> None:
    await _claims(db, world, 2, "few")
    staff = world.actor("reviewer2")

    async def lists() -> object:
        await reward_views.list_claims(db, staff, world.cid, mine=False)
        await reward_views.review_queue(db, staff, world.cid)
        return await board_views.board(db, world.cid)

    few = await _queries(db, lists)
    await _claims(db, world, 8, "many")
    many = await _queries(db, lists)
    assert many == few, (few, many)
    found, _ = await reward_views.list_claims(db, staff, world.cid, mine=False)
    assert len(found) == 10 and {v.rule_code for v in found} == {"few", "many"}
    assert all(v.member_name in {world.members[m].name for m in MEMBERS} for v in found)


async def test_wish_lists_do_not_grow_with_their_length(db: AsyncSession, world: Any) -> None:
    async def post(n: int) -> None:
        for i in range(n):
            wish = await wishes.post_wish(
                db, world.actor("alice"), world.cid, title=f"心愿{i}", category="errand"
            )
            if i % 2:
                await wishes.dispatch_wish(db, world.actor("organizer"), wish.id, world.members["bob"].id)

    async def lists() -> object:
        await wish_views.list_wishes(db, world.actor("organizer"), world.cid, scope="all")
        return await wish_views.list_wishes(db, world.actor("alice"), world.cid, scope="mine")

    await post(2)
    few = await _queries(db, lists)
    await post(8)
    many = await _queries(db, lists)
    assert many == few, (few, many)
    mine, _ = await wish_views.list_wishes(db, world.actor("alice"), world.cid, scope="mine")
    offered = [v for v in mine if v.wish.status == "offered"]
    assert len(mine) == 10 and offered and all(v.volunteer_name == world.members["bob"].name for v in offered)
