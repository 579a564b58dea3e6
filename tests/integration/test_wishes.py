"""Micro-wishes on a real database: every transition, who may take it, points on rating, jobs, stats."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from service import clock
from service.errors import DomainError
from service.rewards import service as rewards
from service.wishes import service as wishes
from service.wishes import views as wish_views
from service.wishes.models import Wish
from tests.support.balances import available as _available
from tests.support.proposals import applied
from tests.support.world import World


async def _wish(db: Any, world: World, who: str = "alice", title: str = "帮忙买菜") -> Wish:
    return await wishes.post_wish(
        db, world.actor(who), world.cid, title=title, description="腿脚不便", category="errand"
    )


async def _refused(db: Any, world: World, wish: Wish, code: str, work: Any) -> None:
    """Refused with ``code``; the wish and every balance stay as they were."""
    fields = (
        "status",
        "volunteer_id",
        "assigned_at",
        "completed_at",
        "stars",
        "rated_at",
        "awarded_at",
        "cancelled_at",
        "dispatched_at",
        "accepted_at",
        "points_status",
        "declines",
    )
    before = tuple(getattr(wish, f) for f in fields)
    balances = [await _available(db, world, who) for who in ("alice", "bob", "carol")]
    with pytest.raises(DomainError) as caught:
        await work()
    assert caught.value.code == code
    assert tuple(getattr(wish, f) for f in fields) == before
    assert [await _available(db, world, who) for who in ("alice", "bob", "carol")] == balances


async def _dispatched(db: Any, world: World, to: str = "bob", title: str = "帮忙买菜") -> Wish:
    """点单 by alice, 派单 by the organizer, 接单 by the volunteer."""
    wish = await _wish(db, world, title=title)
    await wishes.dispatch_wish(db, world.actor("organizer"), wish.id, world.members[to].id)
    await wishes.accept_wish(db, world.actor(to), wish.id)
    return wish


async def test_full_loop_posts_the_volunteers_points_on_rating(db: Any, world: World) -> None:
    wish = await _wish(db, world)
    assert wish.status == "open"
    await wishes.dispatch_wish(db, world.actor("organizer"), wish.id, world.members["bob"].id)
    assert (wish.status, wish.volunteer_id) == ("offered", world.members["bob"].id)
    assert wish.dispatched_at is not None and wish.accepted_at is None
    await wishes.accept_wish(db, world.actor("bob"), wish.id)
    assert (wish.status, wish.volunteer_id) == ("assigned", world.members["bob"].id)
    assert wish.accepted_at is not None
    await wishes.complete_wish(db, world.actor("bob"), wish.id)
    assert wish.status == "done"
    await wishes.rate_wish(db, world.actor("alice"), wish.id, 5, "很及时")
    assert (wish.status, wish.stars, wish.points, wish.points_status) == ("rated", 5, 10, "posted")
    assert wish.completed_at is not None and wish.rated_at is not None
    assert await _available(db, world, "bob") == 10
    assert await _available(db, world, "alice") == 0


async def test_every_illegal_transition_is_refused_and_changes_nothing(db: Any, world: World) -> None:
    alice, bob, carol, org = (world.actor(n) for n in ("alice", "bob", "carol", "organizer"))
    wish = await _wish(db, world)
    # open: no completing, no rating, no accepting one's own, only organizers dispatch
    await _refused(db, world, wish, "wish_not_assigned", lambda: wishes.complete_wish(db, bob, wish.id))
    await _refused(db, world, wish, "not_requester", lambda: wishes.rate_wish(db, bob, wish.id, 5))
    await _refused(db, world, wish, "wish_not_ratable", lambda: wishes.rate_wish(db, alice, wish.id, 5))
    await _refused(db, world, wish, "own_wish", lambda: wishes.accept_wish(db, alice, wish.id))
    await _refused(
        db,
        world,
        wish,
        "forbidden",
        lambda: wishes.dispatch_wish(db, bob, wish.id, world.members["carol"].id),
    )
    await _refused(
        db,
        world,
        wish,
        "volunteer_is_requester",
        lambda: wishes.dispatch_wish(db, org, wish.id, world.members["alice"].id),
    )
    await _refused(db, world, wish, "not_requester", lambda: wishes.cancel_wish(db, bob, wish.id))
    # offered to bob: nobody else accepts it, nobody completes or rates it yet
    await wishes.dispatch_wish(db, org, wish.id, world.members["bob"].id)
    await _refused(db, world, wish, "not_offered_to_you", lambda: wishes.accept_wish(db, carol, wish.id))
    await _refused(
        db, world, wish, "not_offered_to_you", lambda: wishes.decline_wish(db, carol, wish.id, "忙")
    )
    await _refused(db, world, wish, "wish_not_assigned", lambda: wishes.complete_wish(db, bob, wish.id))
    await _refused(db, world, wish, "invalid_reason", lambda: wishes.decline_wish(db, bob, wish.id, "  "))
    # assigned to bob: nobody else accepts or completes; it cannot be rated yet
    await wishes.accept_wish(db, bob, wish.id)
    await _refused(db, world, wish, "wish_not_offered", lambda: wishes.decline_wish(db, bob, wish.id, "忙"))
    await _refused(db, world, wish, "wish_not_open", lambda: wishes.accept_wish(db, carol, wish.id))
    await _refused(
        db, world, wish, "not_assigned_volunteer", lambda: wishes.complete_wish(db, carol, wish.id)
    )
    await _refused(db, world, wish, "wish_not_ratable", lambda: wishes.rate_wish(db, alice, wish.id, 4))
    await _refused(
        db,
        world,
        wish,
        "already_assigned",
        lambda: wishes.dispatch_wish(db, org, wish.id, world.members["bob"].id),
    )
    # done: no second completion, no cancelling, no reassigning
    await wishes.complete_wish(db, bob, wish.id)
    await _refused(db, world, wish, "wish_not_assigned", lambda: wishes.complete_wish(db, bob, wish.id))
    await _refused(db, world, wish, "wish_not_cancellable", lambda: wishes.cancel_wish(db, alice, wish.id))
    await _refused(
        db,
        world,
        wish,
        "wish_not_dispatchable",
        lambda: wishes.dispatch_wish(db, org, wish.id, world.members["carol"].id),
    )
    await _refused(db, world, wish, "not_requester", lambda: wishes.rate_wish(db, bob, wish.id, 5))
    # rated: no second rating (so no second payment)
    await wishes.rate_wish(db, alice, wish.id, 3)
    await _refused(db, world, wish, "wish_not_ratable", lambda: wishes.rate_wish(db, alice, wish.id, 5))
    await _refused(db, world, wish, "wish_not_open", lambda: wishes.accept_wish(db, carol, wish.id))
    assert await _available(db, world, "bob") == 10
    # cancelled: nothing moves it again
    other = await _wish(db, world, title="修水龙头")
    await wishes.cancel_wish(db, alice, other.id)
    await _refused(db, world, other, "wish_not_open", lambda: wishes.accept_wish(db, bob, other.id))
    await _refused(db, world, other, "wish_not_cancellable", lambda: wishes.cancel_wish(db, alice, other.id))
    await _refused(
        db,
        world,
        other,
        "wish_not_dispatchable",
        lambda: wishes.dispatch_wish(db, org, other.id, world.members["bob"].id),
    )


async def test_reassign_and_cancel_while_assigned(db: Any, world: World) -> None:
    wish = await _wish(db, world)
    await wishes.accept_wish(db, world.actor("bob"), wish.id)
    await wishes.dispatch_wish(db, world.actor("organizer"), wish.id, world.members["carol"].id)
    assert (wish.status, wish.volunteer_id) == ("offered", world.members["carol"].id)
    await wishes.accept_wish(db, world.actor("carol"), wish.id)
    with pytest.raises(DomainError) as caught:
        await wishes.complete_wish(db, world.actor("bob"), wish.id)
    assert caught.value.code == "not_assigned_volunteer"
    await wishes.cancel_wish(db, world.actor("alice"), wish.id)
    assert wish.status == "cancelled"


async def test_bad_input_refused(db: Any, world: World) -> None:
    for kw, code in (
        ({"category": "spaceflight"}, "invalid_category"),
        ({"title": "  "}, "invalid_title"),
        ({"wanted_by": clock.now() - timedelta(hours=1)}, "invalid_wanted_by"),
    ):
        args: dict[str, Any] = {"title": "买菜", "category": "errand", **kw}
        with pytest.raises(DomainError) as caught:
            await wishes.post_wish(db, world.actor("alice"), world.cid, **args)
        assert caught.value.code == code
    assert await db.scalar(select(func.count()).select_from(Wish)) == 0
    wish = await _wish(db, world)
    await wishes.accept_wish(db, world.actor("bob"), wish.id)
    await wishes.complete_wish(db, world.actor("bob"), wish.id)
    with pytest.raises(DomainError) as caught:
        await wishes.rate_wish(db, world.actor("alice"), wish.id, 6)
    assert caught.value.code == "invalid_stars"
    assert wish.status == "done"


async def test_auto_award_after_days_without_rating_runs_once(db: Any, world: World, maker: Any) -> None:
    await applied(
        db,
        world,
        await rewards.update_settings(
            db, world.actor("admin"), world.cid, wish_points=15, wish_auto_award_days=3
        ),
    )
    wish = await _dispatched(db, world)
    await wishes.complete_wish(db, world.actor("bob"), wish.id)
    wish_id = wish.id
    await db.commit()
    clock.advance(timedelta(days=2))
    assert await wishes.auto_award_due_wishes(maker) == 0
    clock.advance(timedelta(days=1, seconds=1))
    assert await wishes.auto_award_due_wishes(maker) == 1
    assert await wishes.auto_award_due_wishes(maker) == 0
    closed = await db.get(Wish, wish_id)
    await db.refresh(closed)
    assert closed is not None and closed.status == "closed" and closed.points == 15
    assert await _available(db, world, "bob") == 15
    with pytest.raises(DomainError) as caught:
        await wishes.rate_wish(db, world.actor("alice"), wish_id, 5)
    assert caught.value.code == "wish_not_ratable"
    assert await _available(db, world, "bob") == 15
    await db.rollback()


async def test_assigned_wish_times_out_back_to_open(db: Any, world: World, maker: Any) -> None:
    wish = await _wish(db, world)
    await wishes.accept_wish(db, world.actor("bob"), wish.id)
    wish_id = wish.id
    await db.commit()
    clock.advance(timedelta(days=3, seconds=1))
    assert await wishes.time_out_wishes(maker) == 1
    assert await wishes.time_out_wishes(maker) == 0
    again = await db.get(Wish, wish_id)
    await db.refresh(again)
    assert again is not None and (again.status, again.volunteer_id, again.timeouts) == ("open", None, 1)
    await wishes.accept_wish(db, world.actor("carol"), wish_id)
    assert again.volunteer_id == world.members["carol"].id
    await db.rollback()


async def test_monthly_statistics(db: Any, world: World) -> None:
    clock.set_now(datetime(2026, 5, 10, 2, 0, tzinfo=UTC))
    done = [await _wish(db, world, title=f"心愿{i}") for i in range(3)]
    cancelled = await _wish(db, world, title="取消")
    await _wish(db, world, title="还开着")
    for stars, w in zip((5, 4, 2), done, strict=True):
        await wishes.accept_wish(db, world.actor("bob"), w.id)
        clock.advance(timedelta(hours=1))
        await wishes.complete_wish(db, world.actor("bob"), w.id)
        await wishes.rate_wish(db, world.actor("alice"), w.id, stars)
    await wishes.cancel_wish(db, world.actor("alice"), cancelled.id)
    label, s = await wish_views.wish_stats(db, world.actor("organizer"), world.cid, "2026-05")
    assert label == "2026-05"
    assert (s.count, s.completed, s.cancelled, s.rated, s.satisfied) == (5, 3, 1, 3, 2)
    assert s.completion_rate == 0.6 and s.satisfaction_rate == round(2 / 3, 4)
    assert s.average_handling_hours == 2.0  # 1 h, 2 h and 3 h after posting
    _label, empty = await wish_views.wish_stats(db, world.actor("organizer"), world.cid, "2026-04")
    assert empty.count == 0 and empty.completion_rate is None
    with pytest.raises(DomainError) as caught:
        await wish_views.wish_stats(db, world.actor("alice"), world.cid, "2026-05")
    assert caught.value.code == "forbidden"
    with pytest.raises(DomainError) as caught:
        await wish_views.wish_stats(db, world.actor("organizer"), world.cid, "2026-13")
    assert caught.value.code == "invalid_month"
