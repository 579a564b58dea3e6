"""Monthly leaderboards on the public board: points from the ledger, service hours, by member and team."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from service import clock
from service.activities import service as activities
from service.kit.months import month_bounds
from service.points import service as points
from tests.support.world import World

T0 = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai, March 2026


async def _month_of_work(maker: Any, world: World) -> None:
    """alice: 2 h approved manual record + 10 check-in points + a 5-point award; bob: 1 h + 10 points,
    a reversed 7-point award and 3 points sent to carol; carol: a pending manual record only."""
    clock.set_now(T0)
    async with maker() as db:
        act = await activities.create_activity(
            db,
            world.actor("organizer"),
            world.cid,
            activities.ActivityDraft("河道清洁", T0, T0 + timedelta(hours=3), "per_attendance", 10),
        )
        green = await activities.create_team(
            db, world.actor("organizer"), world.cid, "绿色家园", world.members["alice"].id
        )
        await activities.add_team_member(db, world.actor("organizer"), green.id, world.members["bob"].id)
        await activities.create_team(
            db, world.actor("organizer"), world.cid, "夕阳红", world.members["carol"].id
        )
        await db.commit()
    clock.set_now(T0 + timedelta(hours=4))
    async with maker() as db:
        for who, hours in (("alice", 2), ("bob", 1), ("carol", 3)):
            att = await activities.request_manual(
                db,
                world.actor("organizer"),
                act.id,
                world.members[who].id,
                T0,
                T0 + timedelta(hours=hours),
                "忘带手机",
            )
            if who != "carol":
                await activities.approve_manual(db, world.actor("organizer2"), att.id)
        await points.request_award(
            db,
            world.actor("admin"),
            world.cid,
            member_id=world.members["alice"].id,
            points=5,
            reason="表现突出",
        )
        wrong = await points.award(
            db,
            community_id=world.cid,
            member_id=world.members["bob"].id,
            points=7,
            code="manual_award",
            idempotency_key="lb-wrong",
        )
        await points.reverse(db, wrong.transfer_id)
        await points.transfer(
            db,
            community_id=world.cid,
            from_member_id=world.members["bob"].id,
            to_member_id=world.members["carol"].id,
            points=3,
        )
        await db.commit()


async def test_points_and_hours_leaderboards_for_the_month(client: Any, world: World, maker: Any) -> None:
    await _month_of_work(maker, world)
    r = await client.get(f"/api/v1/communities/{world.cid}/board?month=2026-03")  # no login
    assert r.status_code == 200, r.text
    board = r.json()
    assert [(x["rank"], x["name"], x["points"]) for x in board["leaderboard"]] == [
        (1, "a***e", 15),
        (2, "b*b", 10),
    ]
    assert [(x["name"], x["minutes"], x["hours"]) for x in board["hours_leaderboard"]] == [
        ("a***e", 120, 2.0),
        ("b*b", 60, 1.0),
    ]
    assert [(x["name"], x["minutes"]) for x in board["team_hours_leaderboard"]] == [("绿色家园", 180)]
    assert [(x["name"], x["points"]) for x in board["team_leaderboard"]] == [("绿色家园", 25)]
    for raw in ("alice", "carol", "13900000001", "13900000002"):
        assert raw not in r.text
    # The default month is the current one; the next month is empty.
    assert (await client.get(f"/api/v1/communities/{world.cid}/board")).json()["leaderboard"] == board[
        "leaderboard"
    ]
    after = (await client.get(f"/api/v1/communities/{world.cid}/board?month=2026-04")).json()
    assert after["leaderboard"] == after["hours_leaderboard"] == after["team_leaderboard"] == []
    assert after["team_hours_leaderboard"] == []
    page = await client.get(f"/board/{world.cid}?month=2026-03")
    assert page.status_code == 200
    assert "a***e" in page.text and "绿色家园" in page.text and "2.0 小时" in page.text
    assert "alice" not in page.text and "13900000001" not in page.text


async def test_earned_leaderboard_counts_issuance_only(world: World, maker: Any) -> None:
    await _month_of_work(maker, world)
    start, end = month_bounds(2026, 3, "Asia/Shanghai")
    async with maker() as db:
        ranked = await points.earned_leaderboard(db, world.cid, start, end, limit=None)
        assert ranked == [(world.members["alice"].id, 15), (world.members["bob"].id, 10)]
        assert await points.earned_leaderboard(db, world.cid, start, end, limit=1) == ranked[:1]
        assert await points.earned_leaderboard(db, world.cid, end, end + timedelta(days=30)) == []
        hours = await activities.hours_leaderboard(db, world.cid, start, end)
        assert hours == [(world.members["alice"].id, 120), (world.members["bob"].id, 60)]
        teams = await activities.team_hours_leaderboard(db, world.cid, start, end)
        assert [(name, minutes) for _tid, name, minutes in teams] == [("绿色家园", 180)]
