"""Village rules cut both ways (issue 21 item 6): a deduction rule (扣分) is filed by a grid worker with
evidence, reviewed by someone else, on the public board apart from rewards for the objection period,
then taken; never below zero: what the balance cannot give is owed and taken from later earnings."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from service import clock
from service.board import views as board_views
from service.errors import DomainError
from service.points import jobs as points_jobs
from service.points import service as points
from service.points import views as points_views
from service.points.models import Owed, Transfer
from service.rewards import service as rewards
from service.rewards.models import Claim
from tests.support.balances import available
from tests.support.proposals import rule_of
from tests.support.world import World


async def _deduction_rule(db: Any, world: World, pts: int = -20, days: int = 3) -> Any:
    made = await rewards.create_rule(
        db, world.actor("admin"), world.cid, code="litter", title="乱扔垃圾", points=pts, publicity_days=days,
        evidence_required=False,
    )  # fmt: skip
    return await rule_of(db, world, made)


async def _earn(db: Any, world: World, who: str, pts: int, key: str) -> None:
    await points.award(
        db, community_id=world.cid, member_id=world.members[who].id, points=pts, code="manual_award",
        idempotency_key=key,
    )  # fmt: skip


async def _filed_and_publicized(db: Any, world: World, rule: Any, who: str = "alice") -> Claim:
    claim = await rewards.submit_claim(
        db, world.actor("organizer"), rule.id, world.members[who].id, "在河边乱扔垃圾，网格员拍照为证"
    )
    await rewards.review_claim(db, world.actor("reviewer"), claim.id, "approve")
    assert claim.status == "publicized" and claim.points == rule.points
    return claim


async def _owed_rows(db: Any, world: World, who: str) -> list[tuple[int, int]]:
    rows = await db.execute(
        select(Owed.points, Owed.remaining)
        .where(Owed.community_id == world.cid, Owed.member_id == world.members[who].id)
        .order_by(Owed.created_at)
    )
    return [(int(p), int(r)) for p, r in rows]


async def test_a_deduction_is_noticed_apart_then_taken(db: Any, world: World) -> None:
    await _earn(db, world, "alice", 30, "earn-1")
    rule = await _deduction_rule(db, world)
    claim = await _filed_and_publicized(db, world, rule)
    board = await board_views.board(db, world.cid)
    [noticed] = [c for c in board.under_publicity if c.id == claim.id]
    assert noticed.points == -20 and "*" in noticed.member_name  # masked, and a deduction (negative)
    assert await available(db, world, "alice") == 30  # nothing taken during the notice
    clock.advance(timedelta(days=3, seconds=1))
    assert await rewards.settle_claim(db, claim.id) == "awarded"
    assert await available(db, world, "alice") == 10
    assert await rewards.settle_claim(db, claim.id) == "skipped"  # once
    assert await available(db, world, "alice") == 10
    taken = await points.transfers_for_ref(db, world.cid, "claim", str(claim.id))
    assert len(taken) == 1
    transfer = await db.get(Transfer, claim.transfer_id)
    assert transfer is not None and (transfer.code, transfer.points) == ("deduction", 20)
    assert await _owed_rows(db, world, "alice") == []
    assert (await points.verify(db, world.cid)).ok
    board = await board_views.board(db, world.cid)
    assert [c.points for c in board.recent_awards if c.id == claim.id] == [-20]


async def test_a_deduction_never_takes_a_balance_below_zero_the_rest_is_owed_from_later_earnings(
    db: Any, world: World, maker: Any
) -> None:
    await _earn(db, world, "alice", 5, "earn-1")
    rule = await _deduction_rule(db, world, pts=-20, days=0)
    claim = await _filed_and_publicized(db, world, rule)
    assert await rewards.settle_claim(db, claim.id) == "awarded"
    assert await available(db, world, "alice") == 0
    assert await _owed_rows(db, world, "alice") == [(15, 15)]
    assert (await points_views.balance(db, world.cid, world.members["alice"].id)).owed == 15
    # She earns 10: they go to what she owes, at once.
    await _earn(db, world, "alice", 10, "earn-2")
    assert await available(db, world, "alice") == 0
    assert await _owed_rows(db, world, "alice") == [(15, 5)]
    # Earnings that skip the award path (a check-out batch) are collected by the periodic job.
    await points.award(
        db, community_id=world.cid, member_id=world.members["bob"].id, points=40, code="manual_award",
        idempotency_key="bob-1",
    )  # fmt: skip
    await points.transfer(
        db, community_id=world.cid, from_member_id=world.members["bob"].id,
        to_member_id=world.members["alice"].id, points=8, idempotency_key="gift-1",
    )  # fmt: skip
    await db.commit()
    await db.close()  # SQLite's one connection: the job takes it
    assert await points_jobs.collect_owed(maker) >= 1
    assert await available(db, world, "alice") == 3
    assert await _owed_rows(db, world, "alice") == [(15, 0)]
    assert (await points_views.balance(db, world.cid, world.members["alice"].id)).owed == 0
    await db.close()
    assert await points_jobs.collect_owed(maker) == 0  # nothing owed any more
    deducted = await db.scalar(
        select(func.sum(Transfer.points)).where(
            Transfer.community_id == world.cid, Transfer.code == "deduction"
        )
    )
    assert deducted == 20  # exactly the deduction, in three takes
    assert (await points.verify(db, world.cid)).ok


async def _refused(db: Any, code: str, work: Any) -> None:
    before = await db.scalar(select(func.count()).select_from(Claim))
    with pytest.raises(DomainError) as caught:
        await work()
    assert caught.value.code == code
    await db.rollback()
    assert await db.scalar(select(func.count()).select_from(Claim)) == before


async def test_who_may_file_a_deduction_and_what_a_rule_may_be(db: Any, world: World) -> None:
    rule = await _deduction_rule(db, world)
    rule_id = rule.id
    await db.commit()
    alice, bob, organizer = (world.members[n].id for n in ("alice", "bob", "organizer"))

    def file(by: str, member: Any, evidence: str) -> Any:
        return lambda: rewards.submit_claim(db, world.actor(by), rule_id, member, evidence)

    # A resident cannot file a deduction (not even against a neighbour), nor a grid worker for himself.
    await _refused(db, "forbidden", file("alice", alice, "我"))
    await _refused(db, "forbidden", file("alice", bob, "邻居乱扔垃圾"))
    await _refused(db, "deduction_filer", file("organizer", organizer, "x"))
    # Evidence is required for every deduction, whatever the rule says.
    await _refused(db, "evidence_required", file("organizer", alice, " "))
    # A rule of 0 points is neither.
    await _refused(
        db,
        "invalid_points",
        lambda: rewards.create_rule(
            db, world.actor("admin"), world.cid, code="zero", title="零", points=0, publicity_days=0
        ),
    )
    # Any change of a deduction's weight waits for a second person: heavier weighs on the resident,
    # lighter lets them keep more points (like a bigger reward).
    heavier = await rewards.update_rule(db, world.actor("admin"), rule_id, points=-50)
    assert isinstance(heavier, rewards.Proposed)
    lighter = await rewards.update_rule(db, world.actor("admin"), rule_id, points=-10)
    assert isinstance(lighter, rewards.Proposed)
    assert (await rewards.get_rule(db, rule_id)).points == -20


async def test_the_resident_objects_and_the_deduction_goes_back_to_review(db: Any, world: World) -> None:
    await _earn(db, world, "alice", 30, "earn-1")
    rule = await _deduction_rule(db, world)
    claim = await _filed_and_publicized(db, world, rule)
    await rewards.object_to_claim(db, world.actor("alice"), claim.id, "当天我不在村里")
    assert claim.status == "submitted"
    clock.advance(timedelta(days=3, seconds=1))
    assert await rewards.settle_claim(db, claim.id) == "skipped"
    assert await available(db, world, "alice") == 30
    await rewards.review_claim(db, world.actor("reviewer2"), claim.id, "reject", "证据不足")
    assert claim.status == "rejected" and await available(db, world, "alice") == 30
