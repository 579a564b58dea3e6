"""The ledger's service API, one rule per test, on a real database."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from service import clock
from service.errors import Conflict, InvalidInput, NotFound
from service.points import service as points
from service.points.models import Entry, Hold, Transfer
from tests.support.balances import available as _available
from tests.support.world import World


async def _award(db: Any, world: World, who: str, n: int, key: str, **kw: Any) -> points.TransferResult:
    return await points.award(
        db,
        community_id=world.cid,
        member_id=world.members[who].id,
        points=n,
        code=kw.pop("code", "checkin"),
        idempotency_key=key,
        **kw,
    )


async def _hold(db: Any, world: World, who: str, n: int, key: str, **kw: Any) -> points.HoldResult:
    return await points.hold(
        db,
        community_id=world.cid,
        member_id=world.members[who].id,
        points=n,
        payee=kw.pop("payee", "store"),
        expires_at=kw.pop("expires_at", clock.now() + timedelta(minutes=30)),
        code=kw.pop("code", "order"),
        idempotency_key=key,
        **kw,
    )


async def test_award_credits_the_member_and_balances_the_books(db: Any, world: World) -> None:
    result = await _award(db, world, "alice", 10, "k1", memo="clean-up day")
    await db.commit()
    bal = await points.balance(db, world.cid, world.members["alice"].id)
    assert (bal.available, bal.held, bal.earned, bal.spent, bal.expired) == (10, 0, 10, 0, 0)
    assert result.points == 10 and not result.replayed
    total = await db.scalar(select(func.sum(Entry.points)).where(Entry.community_id == world.cid))
    assert total == 0


async def test_award_retry_replays_and_other_content_conflicts(db: Any, world: World) -> None:
    first = await _award(db, world, "alice", 10, "k1")
    again = await _award(db, world, "alice", 10, "k1")
    assert again.replayed and again.transfer_id == first.transfer_id
    with pytest.raises(Conflict) as err:
        await _award(db, world, "alice", 11, "k1")
    assert err.value.code == "idempotency_conflict" and err.value.status == 409
    await db.commit()
    assert await _available(db, world, "alice") == 10
    assert await db.scalar(select(func.count()).select_from(Transfer)) == 1


async def test_award_refuses_bad_input_and_strangers(db: Any, world: World) -> None:
    for bad in (0, -5, 10**9):
        with pytest.raises(InvalidInput):
            await _award(db, world, "alice", bad, "k")
    with pytest.raises(InvalidInput):
        await _award(db, world, "alice", 5, "k", code="Not A Code")
    world.members["stranger"] = world.members["root"]  # the platform admin is in no community
    with pytest.raises(NotFound):
        await _award(db, world, "stranger", 5, "k")


async def test_hold_post_moves_points_to_the_store_exactly_once(db: Any, world: World) -> None:
    await _award(db, world, "alice", 10, "a")
    h = await _hold(db, world, "alice", 7, "h1")
    bal = await points.balance(db, world.cid, world.members["alice"].id)
    assert (bal.available, bal.held) == (3, 7)
    posted = await points.post_hold(db, h.hold_id)
    assert posted.points == 7
    with pytest.raises(Conflict) as err:
        await points.post_hold(db, h.hold_id)
    assert err.value.code == "hold_not_pending"
    with pytest.raises(Conflict):
        await points.void_hold(db, h.hold_id)
    await db.commit()
    bal = await points.balance(db, world.cid, world.members["alice"].id)
    assert (bal.available, bal.held, bal.spent) == (3, 0, 7)


async def test_hold_refused_when_available_is_short_changes_nothing(db: Any, world: World) -> None:
    await _award(db, world, "alice", 10, "a")
    await _hold(db, world, "alice", 6, "h1")
    await db.commit()
    with pytest.raises(Conflict) as err:
        await _hold(db, world, "alice", 5, "h2")
    assert err.value.code == "insufficient_points" and err.value.status == 409
    await db.rollback()
    bal = await points.balance(db, world.cid, world.members["alice"].id)
    assert (bal.available, bal.held) == (4, 6)
    assert await db.scalar(select(func.count()).select_from(Hold)) == 1
    with pytest.raises(Conflict):
        await _hold(db, world, "bob", 1, "h3")  # bob never earned anything


async def test_void_hold_gives_points_back(db: Any, world: World) -> None:
    await _award(db, world, "alice", 10, "a")
    h = await _hold(db, world, "alice", 10, "h1")
    again = await _hold(db, world, "alice", 10, "h1")
    assert again.replayed and again.hold_id == h.hold_id
    assert await _available(db, world, "alice") == 0
    await points.void_hold(db, h.hold_id, reason="cancelled")
    await db.commit()
    assert await _available(db, world, "alice") == 10
    with pytest.raises(Conflict) as err:
        await points.void_hold(db, h.hold_id)
    assert err.value.code == "hold_not_pending"


async def test_expired_holds_are_swept_and_cannot_be_posted(db: Any, world: World) -> None:
    await _award(db, world, "alice", 10, "a")
    h = await _hold(db, world, "alice", 8, "h1", expires_at=clock.now() + timedelta(minutes=5))
    await db.commit()
    clock.advance(timedelta(minutes=6))
    with pytest.raises(Conflict) as err:
        await points.post_hold(db, h.hold_id)
    assert err.value.code == "hold_not_pending"
    await db.rollback()
    assert await points.sweep_holds(db) == 1
    assert await points.sweep_holds(db) == 0
    await db.commit()
    assert await _available(db, world, "alice") == 10
    assert (await db.get(Hold, h.hold_id)).status == "expired"


async def test_points_expire_oldest_first_and_held_points_are_spared(db: Any, world: World) -> None:
    await points.set_policy(db, world.actor("admin"), world.cid, expiry_mode="days", expiry_value=10)
    await _award(db, world, "alice", 5, "old")
    clock.advance(timedelta(days=5))
    await _award(db, world, "alice", 7, "new")
    bal = await points.balance(db, world.cid, world.members["alice"].id)
    assert [p for p, _ in bal.expiring] == [5, 7]
    # Spending 3 takes them from the lot that expires first.
    await points.spend(
        db, community_id=world.cid, member_id=world.members["alice"].id, points=3, payee="store", code="order"
    )
    h = await _hold(db, world, "alice", 8, "h", expires_at=clock.now() + timedelta(days=30))
    await db.commit()
    clock.advance(timedelta(days=6))  # the first lot (2 left) is past its date; 8 of 9 are held
    assert await points.expire_points(db) == 1
    await db.commit()
    bal = await points.balance(db, world.cid, world.members["alice"].id)
    assert (bal.available, bal.held, bal.expired) == (0, 8, 1)
    await points.void_hold(db, h.hold_id)
    assert await points.expire_points(db) == 1
    await db.commit()
    bal = await points.balance(db, world.cid, world.members["alice"].id)
    assert (bal.available, bal.held, bal.expired, bal.spent) == (7, 0, 2, 3)
    assert (await points.verify(db, world.cid)).ok


async def test_reverse_posts_a_mirror_once(db: Any, world: World) -> None:
    t = await _award(db, world, "alice", 10, "a")
    r = await points.reverse(db, t.transfer_id, memo="typo")
    with pytest.raises(Conflict) as err:
        await points.reverse(db, t.transfer_id)
    assert err.value.code == "already_reversed"
    with pytest.raises(Conflict):
        await points.reverse(db, r.transfer_id)
    await db.commit()
    bal = await points.balance(db, world.cid, world.members["alice"].id)
    assert (bal.available, bal.earned) == (0, 0)
    assert (await points.verify(db, world.cid)).ok


async def test_reverse_refused_when_the_points_are_spent(db: Any, world: World) -> None:
    t = await _award(db, world, "alice", 10, "a")
    await points.spend(
        db, community_id=world.cid, member_id=world.members["alice"].id, points=6, payee="store", code="order"
    )
    await db.commit()
    with pytest.raises(Conflict) as err:
        await points.reverse(db, t.transfer_id)
    assert err.value.code == "insufficient_points"
    await db.rollback()
    assert await _available(db, world, "alice") == 4


async def test_verify_is_clean_after_mixed_work(db: Any, world: World) -> None:
    await _award(db, world, "alice", 10, "a")
    await _award(db, world, "bob", 4, "b")
    await points.transfer(
        db,
        community_id=world.cid,
        from_member_id=world.members["alice"].id,
        to_member_id=world.members["bob"].id,
        points=3,
    )
    h = await _hold(db, world, "bob", 5, "h")
    await points.post_hold(db, h.hold_id)
    await _hold(db, world, "alice", 2, "h2", payee="partner", payee_partner_id=world.partner.id)
    await db.commit()
    report = await points.verify(db, world.cid)
    assert report.ok, report.problems
    # 2 members, the store, the partner, and 1 or 2 issuance shards (the awards' keys pick them).
    from service.points.models import Account

    accounts = await db.scalar(
        select(func.count()).select_from(Account).where(Account.community_id == world.cid)
    )
    assert accounts in (5, 6)
    assert report.entries_checked == 8 and report.accounts_checked == accounts


async def test_manual_award_above_threshold_needs_another_admin(db: Any, world: World) -> None:
    admin, admin2 = world.actor("admin"), world.actor("admin2")
    small = await points.request_award(
        db, admin, world.cid, member_id=world.members["alice"].id, points=100, reason="clean-up"
    )
    assert small.status == "posted"
    big = await points.request_award(
        db, admin, world.cid, member_id=world.members["alice"].id, points=101, reason="flood help"
    )
    assert big.status == "pending_approval"
    big_id = big.id
    await db.commit()
    assert await _available(db, world, "alice") == 100
    from service.errors import Forbidden

    with pytest.raises(Forbidden) as err:
        await points.approve_award(db, admin, big_id)
    assert err.value.code == "same_admin"
    await db.rollback()
    approved = await points.approve_award(db, admin2, big_id)
    assert approved.status == "posted"
    await db.commit()
    assert await _available(db, world, "alice") == 201
    with pytest.raises(Conflict):
        await points.approve_award(db, admin2, big_id)
    with pytest.raises(Forbidden):
        await points.request_award(
            db, world.actor("organizer"), world.cid, member_id=world.members["bob"].id, points=1, reason="x"
        )
