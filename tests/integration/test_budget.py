"""The issuance budget (积分发放总量, issue 19 item 2): every issuance counts against the community's
monthly budget on every path; beyond it points wait as pending (balance unchanged, no transfer) until an
official raises the budget or the month turns; a community's own admin cannot set it."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from service import clock
from service.accounts.models import Member, Membership
from service.accounts.service import Actor
from service.activities import fastpath
from service.activities import rules as activity_rules
from service.activities import service as activities
from service.activities.models import Activity
from service.audit.models import AuditEvent
from service.db import is_postgres
from service.errors import DomainError
from service.points import jobs as points_jobs
from service.points import service as points
from service.points import views as points_views
from service.points.models import Account, Budget, IssuanceMonth, PendingIssuance, Transfer
from service.regions import service as regions
from tests.support.world import World

T0 = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
"""20 November 2026, 10:00 in Shanghai."""


async def _balance(maker: Any, w: World, member_id: uuid.UUID) -> int:
    async with maker() as db:
        found = await db.scalar(
            select(Account.balance).where(
                Account.community_id == w.cid, Account.owner_key == f"member:{member_id}"
            )
        )
        return int(found or 0)


async def _count(maker: Any, model: Any, *where: Any) -> int:
    async with maker() as db:
        return int(await db.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def _set(maker: Any, w: World, monthly_points: int) -> None:
    async with maker() as db:
        await points.set_budget(db, w.cid, monthly_points, set_by=w.members["root"].id)
        await db.commit()


async def _award(maker: Any, w: World, who: str, amount: int, key: str) -> points.AwardResult:
    async with maker() as db:
        result = await points.award(
            db, community_id=w.cid, member_id=w.members[who].id, points=amount, code="manual_award",
            idempotency_key=key,
        )  # fmt: skip
        await db.commit()
        return result


async def _street_official(maker: Any, w: World, phone: str = "13600000001") -> Actor:
    """A street over the world's community and an official of its district (one level up)."""
    async with maker() as db:
        root = w.actor("root")
        city = await regions.create_region(db, root, "杭州市", "hz", "city")
        district = await regions.create_region(db, root, "西湖区", "xh", "district", city.id)
        street = await regions.create_region(db, root, "北山街道", "bs", "street", district.id)
        await regions.set_community_region(db, root, w.cid, street.id)
        official = Member(phone=phone, name="区官员")
        db.add(official)
        await db.flush()
        await regions.add_official(db, root, district.id, phone)
        await db.commit()
        return Actor(official.id, official.name, official.phone, False)


async def test_a_community_without_a_budget_issues_nothing_until_one_is_set(world: World, maker: Any) -> None:
    async with maker() as db:
        await db.execute(Budget.__table__.delete().where(Budget.community_id == world.cid))
        await db.commit()
    result = await _award(maker, world, "alice", 30, "no-budget")
    assert result.pending and result.transfer_id is None
    assert await _balance(maker, world, world.members["alice"].id) == 0
    assert await _count(maker, Transfer, Transfer.community_id == world.cid) == 0
    again = await _award(maker, world, "alice", 30, "no-budget")  # a retry: the same pending row
    assert again.pending and again.pending_id == result.pending_id
    assert await _count(maker, PendingIssuance, PendingIssuance.community_id == world.cid) == 1

    official = await _street_official(maker, world)
    async with maker() as db:
        view = await regions.set_community_budget(db, official, world.cid, 100)
        await db.commit()
    assert (view.monthly_points, view.issued, view.pending_points) == (100, 30, 0)
    assert await _balance(maker, world, world.members["alice"].id) == 30
    async with maker() as db:
        event = await db.scalar(select(AuditEvent).where(AuditEvent.action == "budget_set"))
        assert event is not None and event.detail == {"before": None, "after": 100}
        assert event.actor_id == official.member_id
        assert (await points.verify(db, world.cid)).ok


async def test_a_community_admin_cannot_set_the_budget(world: World, maker: Any, client: Any) -> None:
    await _set(maker, world, 10)
    before = await _count(maker, AuditEvent)
    for who in ("admin", "organizer", "alice"):
        r = await client.put(
            f"/api/v1/communities/{world.cid}/budget",
            json={"monthly_points": 1_000_000},
            headers=world.h[who],
        )
        assert r.status_code == 403 and r.json()["code"] == "budget_not_yours", r.text
    async with maker() as db:
        assert await db.scalar(select(Budget.monthly_points).where(Budget.community_id == world.cid)) == 10
    assert await _count(maker, AuditEvent) == before
    # the admin may read it; the platform admin sets it; bad input changes nothing
    r = await client.get(f"/api/v1/communities/{world.cid}/budget", headers=world.h["admin"])
    assert r.status_code == 200 and r.json()["monthly_points"] == 10
    r = await client.put(
        f"/api/v1/communities/{world.cid}/budget", json={"monthly_points": -1}, headers=world.h["root"]
    )
    assert r.status_code == 422 and r.json()["code"] == "invalid_budget"
    r = await client.put(
        f"/api/v1/communities/{world.cid}/budget",
        json={"monthly_points": 500},
        headers={**world.h["root"], "Accept-Language": "zh-CN"},
    )
    assert r.status_code == 200 and r.json()["monthly_points"] == 500 and r.json()["remaining"] == 500
    assert await _count(maker, AuditEvent) == before + 1


async def _activity(maker: Any, w: World, points_each: int) -> str:
    async with maker() as db:
        for shard in range(points.ISSUANCE_SHARDS):
            await points.account_for(db, w.cid, "issuance", shard=shard)
        for who in ("alice", "bob", "carol"):
            await points.account_for(db, w.cid, "member", w.members[who].id)
        now = clock.now()
        draft = activities.ActivityDraft(
            "河道清理", now - timedelta(minutes=5), now + timedelta(hours=2), "per_attendance", points_each
        )
        act = await activities.create_activity(db, w.actor("organizer"), w.cid, draft)
        await db.commit()
        return activity_rules.make_token(activity_rules.KIND_POSTER, act.id, act.poster_version, act.secret)


async def _scan(maker: Any, w: World, who: str, token: str) -> activities.CheckinResult:
    async with maker() as db:
        _actor, result = await activities.check_in_with_login(db, w.members[who].id, 0, token)
        await db.commit()
        return result


async def test_an_over_budget_check_out_waits_and_posts_when_the_official_raises_the_budget(
    world: World, maker: Any
) -> None:
    """On PostgreSQL the check-outs go through the batch (jifen_scan_batch -> ledger_write), which
    sends the over-budget one to the ordinary path; on SQLite the ordinary path alone."""
    await _set(maker, world, 6)
    token = await _activity(maker, world, 6)
    for who in ("alice", "bob"):
        assert (await _scan(maker, world, who, token)).status == "checked_in"
    clock.advance(timedelta(seconds=activity_rules.MIN_STAY_SECONDS + 60))
    fastpath.RECENT.clear()
    first = await _scan(maker, world, "alice", token)
    assert (first.status, first.points_awarded, first.points_status) == ("checked_out", 6, "posted")
    second = await _scan(maker, world, "bob", token)
    assert (second.status, second.points_awarded, second.points_status) == ("checked_out", 0, "over_budget")
    assert second.points_pending == 6
    async with maker() as db:
        if is_postgres(db):
            outcomes = [o for batch in fastpath.RECENT for o in batch]
            assert "checked_out" in outcomes and any("JB001" in o for o in outcomes), outcomes
    bob = world.members["bob"].id
    assert await _balance(maker, world, bob) == 0
    assert await _count(maker, Transfer, Transfer.ref_id == str(second.attendance.id)) == 0
    async with maker() as db:
        view = await points_views.budget_of(db, world.cid)
        assert (view.issued, view.pending_points, view.pending_count) == (6, 6, 1)
        assert await points_views.pending_refs(db, world.cid, "attendance", [str(second.attendance.id)]) == {
            str(second.attendance.id)
        }

    official = await _street_official(maker, world)
    async with maker() as db:
        await regions.set_community_budget(db, official, world.cid, 12)
        await db.commit()
    assert await _balance(maker, world, bob) == 6
    assert await _count(maker, Transfer, Transfer.ref_id == str(second.attendance.id)) == 1
    async with maker() as db:
        assert (await points.verify(db, world.cid)).ok
        view = await points_views.budget_of(db, world.cid)
        assert (view.issued, view.pending_points) == (12, 0)


async def test_closing_an_activity_beyond_the_budget_leaves_the_rest_pending(
    world: World, maker: Any
) -> None:
    await _set(maker, world, 10)
    token = await _activity(maker, world, 4)
    for who in ("alice", "bob", "carol"):
        await _scan(maker, world, who, token)
    async with maker() as db:
        act = await db.scalar(select(Activity).where(Activity.community_id == world.cid))
        assert act is not None
        closed = await activities.close_activity(db, world.actor("organizer"), act.id)
        await db.commit()
    assert (closed.checked_out, closed.points_posted, closed.over_budget) == (3, 8, 1)
    async with maker() as db:
        assert await db.scalar(select(func.sum(PendingIssuance.points))) == 4


async def test_a_reversal_gives_the_month_its_points_back(world: World, maker: Any) -> None:
    await _set(maker, world, 10)
    posted = await _award(maker, world, "alice", 10, "r1")
    assert not posted.pending and posted.transfer_id is not None
    assert (await _award(maker, world, "bob", 1, "r2")).pending
    async with maker() as db:
        await points.reverse(db, posted.transfer_id, memo="更正")
        await db.commit()
    assert not (await _award(maker, world, "carol", 10, "r3")).pending
    assert await _balance(maker, world, world.members["carol"].id) == 10


async def test_the_month_turn_releases_what_waits(world: World, maker: Any) -> None:
    clock.set_now(T0)
    try:
        await _set(maker, world, 10)
        assert not (await _award(maker, world, "alice", 8, "m1")).pending
        assert (await _award(maker, world, "bob", 5, "m2")).pending
        assert (await _award(maker, world, "carol", 4, "m3")).pending  # younger: waits behind bob's
        assert await points_jobs.release_pending(maker) == 0  # same month: nothing fits in order
        assert await _balance(maker, world, world.members["carol"].id) == 0
        clock.set_now(datetime(2026, 11, 30, 16, 0, tzinfo=UTC))  # 1 December, 00:00 in Shanghai
        await points_jobs.release_pending(
            maker
        )  # raising the budget released them already; the job finds none
        assert await _balance(maker, world, world.members["bob"].id) == 5
        assert await _balance(maker, world, world.members["carol"].id) == 4
        async with maker() as db:
            months = {
                m.month.isoformat(): m.issued
                for m in await db.scalars(
                    select(IssuanceMonth).where(IssuanceMonth.community_id == world.cid)
                )
            }
            assert months == {"2026-11-01": 8, "2026-12-01": 9}
            assert await db.scalar(select(func.count()).where(PendingIssuance.posted_at.is_(None))) == 0
    finally:
        clock.reset()


async def test_an_award_that_waits_for_approval_then_over_budget_is_pending(world: World, maker: Any) -> None:
    """A manual award (two admins) beyond the budget: posted status, no transfer, the points wait."""
    await _set(maker, world, 5)
    async with maker() as db:
        req = await points.request_award(
            db, world.actor("admin"), world.cid, member_id=world.members["alice"].id, points=50, reason="扫雪"
        )
        await db.commit()
    assert req.transfer_id is None
    assert await _balance(maker, world, world.members["alice"].id) == 0
    assert await _count(maker, PendingIssuance, PendingIssuance.ref_type == "award") == 1


@pytest.mark.postgres
async def test_forty_concurrent_awards_pass_a_budget_of_twenty_exactly(world: World, maker: Any) -> None:
    await _set(maker, world, 20 * 7)
    async with maker() as db:
        extra = [Member(id=uuid.uuid4(), phone=f"1570000{i:04d}", name=f"v{i}") for i in range(40)]
        db.add_all(extra)
        await db.flush()
        db.add_all([Membership(community_id=world.cid, member_id=m.id, role="member") for m in extra])
        for shard in range(points.ISSUANCE_SHARDS):
            await points.account_for(db, world.cid, "issuance", shard=shard)
        await db.commit()

    async def one(member: Member) -> bool:
        for _attempt in range(5):
            try:
                async with maker() as db:
                    r = await points.award(
                        db, community_id=world.cid, member_id=member.id, points=7, code="manual_award",
                        idempotency_key=f"c:{member.id}",
                    )  # fmt: skip
                    await db.commit()
                    return r.pending
            except DomainError:
                raise
            except Exception:  # a deadlock or serialization failure: the request would be retried
                await asyncio.sleep(0.05)
        raise AssertionError("never committed")

    pending = await asyncio.gather(*(one(m) for m in extra))
    assert pending.count(False) == 20 and pending.count(True) == 20
    async with maker() as db:
        issued = await db.scalar(
            select(func.sum(Account.balance)).where(
                Account.community_id == world.cid, Account.kind == "member"
            )
        )
        assert issued == 20 * 7
        assert await db.scalar(select(func.count()).select_from(Transfer)) == 20
        assert await db.scalar(select(func.count()).where(PendingIssuance.posted_at.is_(None))) == 20
        view = await points_views.budget_of(db, world.cid)
        assert (view.issued, view.pending_count) == (140, 20)
        assert (await points.verify(db, world.cid)).ok


async def test_the_member_sees_points_waiting_for_the_budget(world: World, maker: Any, client: Any) -> None:
    await _set(maker, world, 5)
    assert (await _award(maker, world, "alice", 9, "page")).pending
    r = await client.get(
        f"/points?community={world.cid}", headers={**world.h["alice"], "Accept-Language": "zh-CN"}
    )
    assert r.status_code == 200, r.text
    assert "积分待发放（超出本月发放额度）" in r.text and 'data-testid="pending-issuances"' in r.text
    r = await client.get(f"/points?community={world.cid}&lang=en", headers=world.h["bob"])
    assert r.status_code == 200 and "pending-issuances" not in r.text


async def test_claim_and_wish_pages_say_their_points_wait_for_the_budget(
    world: World, maker: Any, client: Any
) -> None:
    """A claim settled and a wish rated beyond the month's budget: the member's /claims and the
    volunteer's /wishes say 积分待发放 (not the points); once the official raises the budget and the job
    posts them, the label is gone and the points are there."""
    from service.rewards import service as rewards
    from service.wishes import service as wishes
    from tests.support.proposals import rule_of

    await _set(maker, world, 5)
    async with maker() as db:
        made = await rewards.create_rule(
            db, world.actor("admin"), world.cid, code="garbage", title="垃圾分类达标", points=20,
            publicity_days=0,
        )  # fmt: skip
        rule = await rule_of(db, world, made)
        claim = await rewards.submit_claim(
            db, world.actor("alice"), rule.id, world.members["alice"].id, "分类达标", event_ref="r-1"
        )
        await rewards.review_claim(db, world.actor("reviewer"), claim.id, "approve")
        await rewards.settle_claim(db, claim.id)
        wish = await wishes.post_wish(
            db, world.actor("carol"), world.cid, title="帮忙买菜", description="腿脚不便", category="errand"
        )
        await wishes.dispatch_wish(db, world.actor("organizer"), wish.id, world.members["bob"].id)
        await wishes.accept_wish(db, world.actor("bob"), wish.id)
        await wishes.complete_wish(db, world.actor("bob"), wish.id)
        await wishes.rate_wish(db, world.actor("carol"), wish.id, 5)
        await db.commit()
    zh = {"Accept-Language": "zh-CN"}
    claims = await client.get(f"/claims?community={world.cid}", headers={**world.h["alice"], **zh})
    assert 'data-testid="claim-over-budget"' in claims.text and "积分待发放" in claims.text, claims.text
    done = await client.get(f"/wishes?community={world.cid}", headers={**world.h["bob"], **zh})
    assert 'data-testid="wish-over-budget"' in done.text
    assert await _balance(maker, world, world.members["alice"].id) == 0
    assert await _balance(maker, world, world.members["bob"].id) == 0

    await _set(maker, world, 1000)
    await points_jobs.release_pending(maker)  # raising the budget released them already; the job finds none
    claims = await client.get(f"/claims?community={world.cid}", headers={**world.h["alice"], **zh})
    assert claims.status_code == 200 and "claim-over-budget" not in claims.text
    done = await client.get(f"/wishes?community={world.cid}", headers={**world.h["bob"], **zh})
    assert done.status_code == 200 and "wish-over-budget" not in done.text
    assert await _balance(maker, world, world.members["alice"].id) == 20
    assert await _balance(maker, world, world.members["bob"].id) == 10
