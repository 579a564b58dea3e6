"""Rewards tried as an attacker would: nobody mints points alone, files a deed twice, or approves their own.

Every refusal asserts the error code and that nothing changed (balances, rows, states).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.exc import IntegrityError

from service import clock
from service.accounts import service as accounts
from service.activities import service as activities
from service.activities.models import Attendance
from service.errors import DomainError
from service.points import service as points
from service.rewards import households_service as households
from service.rewards import ratings_service as ratings
from service.rewards import service as rewards
from service.rewards import views as reward_views
from service.rewards.models import ActivityRating, Claim, HouseholdLink
from service.wishes import service as wishes
from service.wishes import views as wish_views
from service.wishes.models import Wish
from tests.support.balances import available as _available
from tests.support.proposals import rule_of
from tests.support.world import World

PEOPLE = ("alice", "bob", "carol", "organizer", "organizer2", "admin")


async def _balances(db: Any, world: World) -> list[int]:
    return [(await points.balance(db, world.cid, world.members[n].id)).available for n in PEOPLE]


async def _count(db: Any, model: Any) -> int:
    return int(await db.scalar(select(func.count()).select_from(model)) or 0)


async def _row(db: Any, row: Any) -> dict[str, Any]:
    """Every column of a row as the database has it now."""
    await db.refresh(row)
    return {c.key: getattr(row, c.key) for c in sa_inspect(row).mapper.column_attrs}


async def _refused(db: Any, world: World, code: str, work: Any, *rows: Any) -> None:
    """Refused with ``code``; balances, row counts and the given rows' states are unchanged."""
    state = [await _row(db, r) for r in rows]
    before = (await _balances(db, world), [await _count(db, m) for m in (Claim, Wish, HouseholdLink)])
    with pytest.raises(DomainError) as caught:
        await work()
    assert caught.value.code == code, caught.value
    after = (await _balances(db, world), [await _count(db, m) for m in (Claim, Wish, HouseholdLink)])
    assert after == before
    assert [await _row(db, r) for r in rows] == state


# ---------------------------------------------------------------- wish points need staff, under a cap


async def _farm(
    db: Any, world: World, poster: str = "alice", taker: str = "bob", title: str = "刷分"
) -> Wish:
    """Two accounts alone: one posts, the other takes it from the pool and completes; the first rates."""
    wish = await wishes.post_wish(db, world.actor(poster), world.cid, title=title, category="errand")
    await wishes.accept_wish(db, world.actor(taker), wish.id)
    await wishes.complete_wish(db, world.actor(taker), wish.id)
    await wishes.rate_wish(db, world.actor(poster), wish.id, 5)
    return wish


async def test_two_accounts_alone_cannot_farm_wish_points(db: Any, world: World, maker: Any) -> None:
    farmed = [await _farm(db, world, title=f"刷分{i}") for i in range(5)]
    assert await _available(db, world, "bob") == 0
    assert {w.points_status for w in farmed} == {"pending"}
    assert all(w.transfer_id is None for w in farmed)
    # Unrated wishes closed by the job do not post either.
    lazy = await wishes.post_wish(db, world.actor("alice"), world.cid, title="不评", category="errand")
    await wishes.accept_wish(db, world.actor("bob"), lazy.id)
    await wishes.complete_wish(db, world.actor("bob"), lazy.id)
    lazy_id = lazy.id
    await db.commit()
    clock.advance(timedelta(days=8))
    assert await wishes.auto_award_due_wishes(maker) == 1
    closed = await db.get(Wish, lazy_id)
    await db.refresh(closed)
    assert closed is not None and (closed.status, closed.points_status) == ("closed", "pending")
    assert await _available(db, world, "bob") == 0


async def test_a_staff_confirmation_posts_a_pool_wish_once(db: Any, world: World) -> None:
    wish = await _farm(db, world)
    queue = await wish_views.awaiting_confirmation(db, world.actor("organizer"), world.cid)
    assert [v.wish.id for v in queue] == [wish.id]
    # Neither of the two accounts can confirm, nor a plain member.
    await _refused(db, world, "forbidden", lambda: wishes.confirm_wish(db, world.actor("bob"), wish.id), wish)
    await _refused(
        db, world, "forbidden", lambda: wishes.confirm_wish(db, world.actor("alice"), wish.id), wish
    )
    await wishes.confirm_wish(db, world.actor("organizer"), wish.id)
    assert (wish.points_status, await _available(db, world, "bob")) == ("posted", 10)
    await _refused(
        db,
        world,
        "wish_not_confirmable",
        lambda: wishes.confirm_wish(db, world.actor("organizer2"), wish.id),
        wish,
    )
    assert await _available(db, world, "bob") == 10


async def test_staff_who_did_or_asked_for_the_wish_cannot_confirm_it(db: Any, world: World) -> None:
    # An organizer takes a friend's wish from the pool and tries to confirm it himself.
    taken = await _farm(db, world, poster="alice", taker="organizer")
    await _refused(
        db,
        world,
        "reviewer_conflict",
        lambda: wishes.confirm_wish(db, world.actor("organizer"), taken.id),
        taken,
    )
    # An organizer posts a wish, a friend does it; the organizer confirms: refused too.
    own = await _farm(db, world, poster="organizer", taker="bob", title="自己的")
    await _refused(
        db, world, "reviewer_conflict", lambda: wishes.confirm_wish(db, world.actor("organizer"), own.id), own
    )
    assert await _available(db, world, "organizer") == 0 and await _available(db, world, "bob") == 0


async def test_dispatch_is_staff_involvement_but_never_of_ones_own_wish_or_to_oneself(
    db: Any, world: World
) -> None:
    org = world.actor("organizer")
    own = await wishes.post_wish(db, org, world.cid, title="我的心愿", category="errand")
    await _refused(
        db,
        world,
        "reviewer_conflict",
        lambda: wishes.dispatch_wish(db, org, own.id, world.members["bob"].id),
        own,
    )
    other = await wishes.post_wish(db, world.actor("alice"), world.cid, title="帮忙", category="errand")
    await _refused(
        db,
        world,
        "reviewer_conflict",
        lambda: wishes.dispatch_wish(db, org, other.id, world.members["organizer"].id),
        other,
    )
    # A properly dispatched wish posts once, whatever is replayed.
    await wishes.dispatch_wish(db, org, other.id, world.members["bob"].id)
    await wishes.accept_wish(db, world.actor("bob"), other.id)
    await wishes.complete_wish(db, world.actor("bob"), other.id)
    await wishes.rate_wish(db, world.actor("alice"), other.id, 4)
    assert (other.points_status, await _available(db, world, "bob")) == ("posted", 10)
    await _refused(
        db, world, "wish_not_ratable", lambda: wishes.rate_wish(db, world.actor("alice"), other.id, 5), other
    )
    await _refused(
        db,
        world,
        "wish_not_confirmable",
        lambda: wishes.confirm_wish(db, world.actor("organizer2"), other.id),
        other,
    )
    assert len(await points.transfers_for_ref(db, world.cid, "wish", str(other.id))) == 1


async def _dispatched_done(db: Any, world: World, title: str) -> Wish:
    wish = await wishes.post_wish(db, world.actor("alice"), world.cid, title=title, category="errand")
    await wishes.dispatch_wish(db, world.actor("organizer"), wish.id, world.members["bob"].id)
    await wishes.accept_wish(db, world.actor("bob"), wish.id)
    await wishes.complete_wish(db, world.actor("bob"), wish.id)
    await wishes.rate_wish(db, world.actor("alice"), wish.id, 5)
    return wish


async def test_monthly_cap_stops_wish_points_with_a_clear_status(db: Any, world: World) -> None:
    clock.set_now(datetime(2026, 5, 10, 2, 0, tzinfo=UTC))
    settings = await rewards.update_settings(db, world.actor("admin"), world.cid, wish_points_monthly_cap=20)
    assert settings.wish_points_monthly_cap == 20
    done = [await _dispatched_done(db, world, f"心愿{i}") for i in range(3)]
    assert [w.points_status for w in done] == ["posted", "posted", "capped"]
    assert done[2].transfer_id is None and done[2].awarded_at is None
    assert await _available(db, world, "bob") == 20
    # A new local month starts a new allowance (June 1st 00:30 in Shanghai is still May 31st in UTC).
    clock.set_now(datetime(2026, 5, 31, 16, 30, tzinfo=UTC))
    june = await _dispatched_done(db, world, "六月")
    assert june.points_status == "posted" and await _available(db, world, "bob") == 30
    with pytest.raises(DomainError) as caught:
        await rewards.update_settings(db, world.actor("admin"), world.cid, wish_points_monthly_cap=-1)
    assert caught.value.code == "invalid_wish_points_monthly_cap"


# ---------------------------------------------------------------- 派单 -> 接单: offers, declines, time-outs


async def test_offer_waits_for_accept_or_decline_and_times_out(db: Any, world: World, maker: Any) -> None:
    org, bob = world.actor("organizer"), world.actor("bob")
    wish = await wishes.post_wish(db, world.actor("alice"), world.cid, title="修灯", category="repair")
    await wishes.dispatch_wish(db, org, wish.id, world.members["bob"].id)
    assert wish.status == "offered"
    await wishes.decline_wish(db, bob, wish.id, "这周出差")
    assert (wish.status, wish.volunteer_id, wish.declines, wish.decline_reason) == (
        "open",
        None,
        1,
        "这周出差",
    )
    assert wish.dispatched_at is None
    await wishes.dispatch_wish(db, org, wish.id, world.members["carol"].id)
    wish_id = wish.id
    await db.commit()
    clock.advance(timedelta(hours=23))
    assert await wishes.time_out_wishes(maker) == 0
    clock.advance(timedelta(hours=1, seconds=1))
    assert await wishes.time_out_wishes(maker) == 1
    again = await db.get(Wish, wish_id)
    await db.refresh(again)
    assert again is not None and (again.status, again.volunteer_id, again.timeouts) == ("open", None, 1)
    await db.rollback()


async def test_dispatch_offers_only_volunteers_with_hours_and_open_tasks(db: Any, world: World) -> None:
    org = world.actor("organizer")
    wish = await wishes.post_wish(db, world.actor("alice"), world.cid, title="陪诊", category="care")
    busy = await wishes.post_wish(db, world.actor("carol"), world.cid, title="买药", category="errand")
    await wishes.dispatch_wish(db, org, busy.id, world.members["bob"].id)
    found = {c.name: c for c in await wish_views.dispatch_candidates(db, org, world.cid, wish.id)}
    assert "partner" not in found and "clerk" not in found  # shop staff, a clerk who never served
    assert "alice" not in found and "organizer" not in found  # the requester, the dispatcher
    assert {"bob", "carol", "reviewer"} <= set(found)
    assert (found["bob"].open_tasks, found["carol"].open_tasks) == (1, 0)
    assert found["bob"].service_minutes == 0
    for who in ("partner", "clerk"):
        await _refused(
            db,
            world,
            "not_a_volunteer",
            lambda who=who: wishes.dispatch_wish(db, org, wish.id, world.members[who].id),
            wish,
        )
    with pytest.raises(DomainError) as caught:
        await wish_views.dispatch_candidates(db, world.actor("bob"), world.cid)
    assert caught.value.code == "forbidden"


# ---------------------------------------------------------------- one claim per rule, beneficiary and event


async def _link(db: Any, world: World, a: str, b: str) -> HouseholdLink:
    link = await households.request_link(db, world.actor(a), world.cid, world.members[b].phone, "母子")
    await households.decide_link(db, world.actor("admin"), link.id, True)
    return link


async def test_the_same_wedding_filed_twice_pays_once(db: Any, world: World, maker: Any) -> None:
    rule = await rule_of(
        db,
        world,
        await rewards.create_rule(
            db,
            world.actor("admin"),
            world.cid,
            code="zero-bride-price",
            title="零彩礼",
            points=200,
            publicity_days=1,
        ),
    )
    await _link(db, world, "carol", "alice")  # the bride's mother
    wedding = clock.now().astimezone(ZoneInfo("Asia/Shanghai")).date() - timedelta(days=3)
    first = await rewards.submit_claim(
        db,
        world.actor("carol"),
        rule.id,
        world.members["alice"].id,
        "女儿结婚零彩礼，结婚证 J-2026-0042",
        event_date=wedding,
        event_ref="J-2026-0042",
    )
    assert (first.member_id, first.submitted_by) == (world.members["alice"].id, world.members["carol"].id)
    # The organizer files the same wedding: same day, or the same certificate typed differently.
    for kw in (
        {"event_date": wedding},
        {"event_date": wedding - timedelta(days=1), "event_ref": "j 2026 0042"},
    ):
        with pytest.raises(DomainError) as caught:
            await rewards.submit_claim(
                db, world.actor("organizer"), rule.id, world.members["alice"].id, "零彩礼婚礼", **kw
            )
        assert caught.value.code == "duplicate_claim" and caught.value.status == 409
        assert str(first.id) in caught.value.detail and wedding.isoformat() in caught.value.detail
    assert await _count(db, Claim) == 1
    await rewards.review_claim(db, world.actor("reviewer"), first.id, "approve")
    await rewards.review_claim(db, world.actor("reviewer2"), first.id, "approve")  # 200 points: two
    await db.commit()
    clock.advance(timedelta(days=1, seconds=1))
    assert await rewards.settle_due_claims(maker) == 1
    assert await rewards.settle_due_claims(maker) == 0
    assert await _available(db, world, "alice") == 200
    assert await _available(db, world, "carol") == 0
    await db.rollback()


async def test_a_rejected_claim_frees_its_event_and_dates_are_bounded(db: Any, world: World) -> None:
    rule = await rule_of(
        db,
        world,
        await rewards.create_rule(
            db, world.actor("admin"), world.cid, code="garbage", title="垃圾分类", points=20, publicity_days=1
        ),
    )
    alice = world.actor("alice")
    claim = await rewards.submit_claim(db, alice, rule.id, alice.member_id, "分类")
    await rewards.review_claim(db, world.actor("reviewer"), claim.id, "reject", "照片不清楚")
    again = await rewards.submit_claim(db, alice, rule.id, alice.member_id, "重新提交")
    assert again.event_date == claim.event_date
    today = clock.now().astimezone(ZoneInfo("Asia/Shanghai")).date()
    for bad in (today + timedelta(days=1), today - timedelta(days=400)):
        with pytest.raises(DomainError) as caught:
            await rewards.submit_claim(db, alice, rule.id, alice.member_id, "x", event_date=bad)
        assert caught.value.code == "invalid_event_date"
    assert await _count(db, Claim) == 2


async def test_the_database_refuses_a_second_live_claim_of_one_event(db: Any, world: World) -> None:
    rule = await rule_of(
        db,
        world,
        await rewards.create_rule(
            db, world.actor("admin"), world.cid, code="garbage", title="垃圾分类", points=20, publicity_days=1
        ),
    )
    first = await rewards.submit_claim(db, world.actor("alice"), rule.id, world.members["alice"].id, "分类")
    await db.commit()
    row = {
        c: getattr(first, c)
        for c in ("community_id", "rule_id", "member_id", "submitted_by", "points", "year", "event_date")
    }
    with pytest.raises(IntegrityError):
        await db.execute(insert(Claim).values(**row, evidence="", status="submitted", review_round=1))
    await db.rollback()
    assert await _count(db, Claim) == 1


# ---------------------------------------------------------------- separation of duties on claims


async def test_the_beneficiarys_household_and_an_objector_never_decide(db: Any, world: World) -> None:
    rule = await rule_of(
        db,
        world,
        await rewards.create_rule(
            db, world.actor("admin"), world.cid, code="filial", title="孝老爱亲", points=30, publicity_days=3
        ),
    )
    # reviewer2 is alice's son: he may not review his mother's claim.
    link = await households.request_link(
        db, world.actor("alice"), world.cid, world.members["reviewer2"].phone
    )
    await households.decide_link(db, world.actor("admin"), link.id, True)
    claim = await rewards.submit_claim(
        db, world.actor("alice"), rule.id, world.members["alice"].id, "照顾婆婆"
    )
    await _refused(
        db,
        world,
        "reviewer_conflict",
        lambda: rewards.review_claim(db, world.actor("reviewer2"), claim.id, "approve"),
        claim,
    )
    assert claim.id not in [
        v.claim.id for v in await reward_views.review_queue(db, world.actor("reviewer2"), world.cid)
    ]
    assert await reward_views.review_queue_count(db, world.actor("reviewer2"), world.cid) == 0
    await rewards.review_claim(db, world.actor("reviewer"), claim.id, "approve")
    # The reviewer objects during publicity; the objection's outcome is decided by someone else.
    await rewards.object_to_claim(db, world.actor("reviewer"), claim.id, "听说没有照顾")
    assert claim.status == "submitted"
    await _refused(
        db,
        world,
        "reviewer_conflict",
        lambda: rewards.review_claim(db, world.actor("reviewer"), claim.id, "reject"),
        claim,
    )
    receipts = await reward_views.my_objections(db, world.actor("reviewer"), world.cid)
    assert [(r.claim_id, r.resolved) for r in receipts] == [(claim.id, False)]


# ---------------------------------------------------------------- households


async def test_a_mother_files_her_sons_claim_once_the_link_is_confirmed(db: Any, world: World) -> None:
    rule = await rule_of(
        db,
        world,
        await rewards.create_rule(
            db,
            world.actor("admin"),
            world.cid,
            code="zero-bride-price",
            title="零彩礼",
            points=200,
            publicity_days=1,
        ),
    )
    mother, son = world.actor("carol"), world.members["bob"]

    def file() -> Any:
        return rewards.submit_claim(db, mother, rule.id, son.id, "儿子结婚不要彩礼")

    await _refused(db, world, "not_household_member", file)
    link = await households.request_link(db, mother, world.cid, "139 0000 0002", "儿子")
    assert link.status == "pending"
    await _refused(db, world, "not_household_member", file)  # pending is not confirmed
    # Neither of the two confirms it, even as an admin.
    await accounts.add_member(db, world.root, world.cid, world.members["carol"].phone, "carol", None, "admin")
    await _refused(
        db, world, "reviewer_conflict", lambda: households.decide_link(db, mother, link.id, True), link
    )
    await households.decide_link(db, world.actor("admin"), link.id, True)
    claim = await file()
    assert (claim.member_id, claim.submitted_by) == (son.id, mother.member_id)
    for who in ("carol", "bob"):
        mine, _ = await reward_views.list_claims(db, world.actor(who), world.cid, mine=True)
        assert [v.claim.id for v in mine] == [claim.id]
    # A stranger still cannot file for the son.
    await _refused(
        db,
        world,
        "not_household_member",
        lambda: rewards.submit_claim(db, world.actor("alice"), rule.id, son.id, "x"),
    )


async def test_a_wish_for_a_household_member_is_visible_to_both(db: Any, world: World) -> None:
    await _link(db, world, "carol", "alice")
    wish = await wishes.post_wish(
        db,
        world.actor("carol"),
        world.cid,
        title="给妈妈修水管",
        category="repair",
        beneficiary_id=world.members["alice"].id,
    )
    for who in ("carol", "alice"):
        mine, _ = await wish_views.list_wishes(db, world.actor(who), world.cid, scope="mine")
        assert [v.wish.id for v in mine] == [wish.id]
    await _refused(
        db,
        world,
        "own_wish",
        lambda: wishes.accept_wish(db, world.actor("alice"), wish.id),
        wish,
    )
    await _refused(
        db,
        world,
        "not_household_member",
        lambda: wishes.post_wish(
            db,
            world.actor("bob"),
            world.cid,
            title="x",
            category="other",
            beneficiary_id=world.members["alice"].id,
        ),
    )


async def test_household_requests_are_bounded_and_not_duplicated(db: Any, world: World) -> None:
    carol = world.actor("carol")
    await households.request_link(db, carol, world.cid, world.members["alice"].phone)
    await _refused(
        db,
        world,
        "household_link_exists",
        lambda: households.request_link(db, world.actor("alice"), world.cid, world.members["carol"].phone),
    )
    await _refused(
        db,
        world,
        "household_self",
        lambda: households.request_link(db, carol, world.cid, world.members["carol"].phone),
    )
    await _refused(
        db, world, "member_not_found", lambda: households.request_link(db, carol, world.cid, "13999999999")
    )


# ---------------------------------------------------------------- activity ratings


async def _activity_attended_by(db: Any, world: World, who: str) -> Any:
    now = clock.now()
    activity = await activities.create_activity(
        db,
        world.actor("organizer"),
        world.cid,
        activities.ActivityDraft(
            "清扫楼道", now - timedelta(hours=2), now - timedelta(hours=1), "per_attendance", 5
        ),
    )
    await db.execute(
        insert(Attendance).values(
            id=uuid.uuid4(),
            community_id=world.cid,
            activity_id=activity.id,
            member_id=world.members[who].id,
            status="out",
            evidence="kiosk",
            checked_in_at=now - timedelta(hours=2),
            checked_out_at=now - timedelta(hours=1),
            minutes=60,
            points=5,
            created_at=now,
        )
    )
    return activity


async def test_only_attendees_rate_an_activity_once_feeding_satisfaction(db: Any, world: World) -> None:
    activity = await _activity_attended_by(db, world, "bob")
    assert [a.id for a in await reward_views.unrated_attended(db, world.actor("bob"), world.cid)] == [
        activity.id
    ]
    with pytest.raises(DomainError) as caught:
        await ratings.rate_activity(db, world.actor("alice"), activity.id, 5)
    assert caught.value.code == "not_attended"
    await ratings.rate_activity(db, world.actor("bob"), activity.id, 4, "组织得好")
    with pytest.raises(DomainError) as caught:
        await ratings.rate_activity(db, world.actor("bob"), activity.id, 1)
    assert caught.value.code == "already_rated"
    assert await _count(db, ActivityRating) == 1
    assert await reward_views.unrated_attended(db, world.actor("bob"), world.cid) == []
    s = await wish_views.satisfaction(db, world.actor("organizer"), world.cid, None)
    assert (s.activities.rated, s.activities.satisfied, s.activities.average_stars) == (1, 1, 4.0)
    assert s.wishes.rated == 0
