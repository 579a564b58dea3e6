"""People, not accounts (issue 19): a conflict of interest follows household links as they stood at any
time since the claim, wish, award or record began. Removing the link first lifts nothing, and staff never
approve, dispatch to, confirm or award a household member. Each refusal leaves balances and rows as
they were."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from service import clock
from service.accounts import households as history
from service.activities import service as svc
from service.activities.models import Attendance
from service.audit.models import AuditEvent
from service.points import service as points
from service.points.models import AwardRequest, Transfer
from service.rewards import households_service as households
from service.rewards import service as rewards
from service.rewards import views as reward_views
from service.rewards.models import Claim
from service.wishes import service as wishes
from service.wishes.models import Wish
from tests.support.activities import T0, make_activity
from tests.support.proposals import rule_of
from tests.support.refused import refused
from tests.support.world import World


async def _state(db: Any) -> tuple[int, int, list[tuple[str, str]], list[tuple[str, str]]]:
    transfers = int(await db.scalar(select(func.count()).select_from(Transfer)) or 0)
    events = int(await db.scalar(select(func.count()).select_from(AuditEvent)) or 0)
    claims = [(str(c.id), c.status) for c in await db.scalars(select(Claim).order_by(Claim.id))]
    wish_rows = [
        (str(w.id), f"{w.status}:{w.volunteer_id}") for w in await db.scalars(select(Wish).order_by(Wish.id))
    ]
    return transfers, events, claims, wish_rows


async def _link(db: Any, world: World, a: str, b: str) -> Any:
    link = await households.request_link(db, world.actor(a), world.cid, world.members[b].phone, "家人")
    decider = "admin2" if "admin" in (a, b) else "admin"
    await households.decide_link(db, world.actor(decider), link.id, True)
    return link


async def test_a_reviewer_who_unlinks_his_mother_still_may_not_review_her_claim(
    db: Any, world: World
) -> None:
    rule = await rule_of(
        db,
        world,
        await rewards.create_rule(
            db, world.actor("admin"), world.cid, code="filial", title="孝老爱亲", points=30, publicity_days=3
        ),
    )
    link = await _link(db, world, "alice", "reviewer2")
    claim = await rewards.submit_claim(
        db, world.actor("alice"), rule.id, world.members["alice"].id, "照顾婆婆"
    )
    clock.advance(timedelta(minutes=5))
    # The son ends the link himself, then reviews: the link stood while the claim was open.
    await households.remove_link(db, world.actor("reviewer2"), link.id)
    await db.commit()
    before = await _state(db)
    await refused(
        db, "reviewer_conflict", rewards.review_claim(db, world.actor("reviewer2"), claim.id, "approve")
    )
    assert await _state(db) == before
    queue = await reward_views.review_queue(db, world.actor("reviewer2"), world.cid)
    assert claim.id not in [v.claim.id for v in queue]
    assert await reward_views.review_queue_count(db, world.actor("reviewer2"), world.cid) == 0
    # A claim filed after the link ended is no conflict: he reviews it.
    clock.advance(timedelta(minutes=5))
    earlier_day = (clock.now() - timedelta(days=3)).date()
    later = await rewards.submit_claim(
        db, world.actor("alice"), rule.id, world.members["alice"].id, "照顾公公", event_date=earlier_day
    )
    assert later.id in [
        v.claim.id for v in await reward_views.review_queue(db, world.actor("reviewer2"), world.cid)
    ]
    await rewards.review_claim(db, world.actor("reviewer2"), later.id, "approve")


async def test_an_organizer_never_dispatches_to_nor_confirms_for_his_household(db: Any, world: World) -> None:
    link = await _link(db, world, "organizer", "bob")
    wish = await wishes.post_wish(db, world.actor("alice"), world.cid, title="修水管", category="errand")
    await db.commit()
    before = await _state(db)
    org = world.actor("organizer")
    await refused(db, "reviewer_conflict", wishes.dispatch_wish(db, org, wish.id, world.members["bob"].id))
    await households.remove_link(db, world.actor("organizer"), link.id)  # unlinking first changes nothing
    await db.commit()
    await refused(db, "reviewer_conflict", wishes.dispatch_wish(db, org, wish.id, world.members["bob"].id))
    assert (await _state(db))[0::2] == before[0::2]
    # bob takes it from the pool himself; his (former) household organizer may not confirm it.
    await wishes.accept_wish(db, world.actor("bob"), wish.id)
    await wishes.complete_wish(db, world.actor("bob"), wish.id)
    await wishes.rate_wish(db, world.actor("alice"), wish.id, 5)
    await db.commit()
    await refused(db, "reviewer_conflict", wishes.confirm_wish(db, org, wish.id))
    assert (await points.balance(db, world.cid, world.members["bob"].id)).available == 0
    await wishes.confirm_wish(db, world.actor("organizer2"), wish.id)
    assert (await points.balance(db, world.cid, world.members["bob"].id)).available > 0


async def test_an_admin_never_awards_nor_approves_an_award_for_his_household(db: Any, world: World) -> None:
    await _link(db, world, "admin", "carol")
    admin, admin2 = world.actor("admin"), world.actor("admin2")
    carol = world.members["carol"].id
    small = await points.request_award(db, admin, world.cid, member_id=carol, points=1, reason="帮忙")
    assert small.status == "pending_approval" and small.transfer_id is None  # as if to himself
    # admin2 is carol's household too, since the request was made; he unlinks before approving.
    clock.advance(timedelta(minutes=1))
    link2 = await _link(db, world, "admin2", "carol")
    await households.remove_link(db, admin2, link2.id)
    await db.commit()
    await refused(db, "approver_conflict", points.approve_award(db, admin2, small.id))
    row = await db.get(AwardRequest, small.id, populate_existing=True)
    assert row is not None and row.status == "pending_approval"
    assert (await points.balance(db, world.cid, carol)).available == 0


async def test_a_second_organizer_never_approves_his_households_manual_record(db: Any, world: World) -> None:
    clock.set_now(T0)
    a = await make_activity(db, world, starts_at=T0, ends_at=T0 + timedelta(hours=2), points=10)
    await _link(db, world, "organizer2", "carol")
    clock.set_now(T0 + timedelta(hours=2))
    carol = world.members["carol"].id
    att = await svc.request_manual(
        db, world.actor("organizer"), a.id, carol, T0, T0 + timedelta(hours=1), "忘带"
    )
    await db.commit()
    await refused(db, "approver_conflict", svc.approve_manual(db, world.actor("organizer2"), att.id))
    row = await db.get(Attendance, att.id, populate_existing=True)
    assert row is not None and row.status == "pending" and row.approved_by is None
    assert (await points.balance(db, world.cid, carol)).available == 0


async def test_the_span_of_a_link_is_kept_after_it_ends(db: Any, world: World) -> None:
    link = await _link(db, world, "alice", "bob")
    started = clock.now()
    clock.advance(timedelta(days=1))
    await households.remove_link(db, world.actor("alice"), link.id)
    alice, bob = world.members["alice"].id, world.members["bob"].id
    assert await history.conflicted(db, world.cid, alice, {bob}, started)
    assert not await history.conflicted(db, world.cid, alice, {bob}, clock.now() + timedelta(seconds=1))
