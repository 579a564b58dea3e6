"""The public notice board: no login, names masked, publicity, awards and the monthly leaderboard."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from service import clock
from service.rewards import service as rewards
from tests.support.proposals import api_rule
from tests.support.world import World, add_person


async def _publicized_claim(client: Any, world: World, who: str, publicity_days: int = 3) -> str:
    body = {"code": f"r{publicity_days}", "title": "孝老爱亲", "points": 30, "publicity_days": publicity_days}
    rule = await api_rule(client, world, body)
    r = await client.post(
        "/api/v1/claims",
        json={"rule_id": rule["id"], "member_id": str(world.members[who].id), "evidence": "照顾老人"},
        headers=world.h["organizer"],
    )
    claim_id = str(r.json()["id"])
    r = await client.post(
        f"/api/v1/claims/{claim_id}/review", json={"decision": "approve"}, headers=world.h["reviewer"]
    )
    assert r.json()["status"] == "publicized"
    return claim_id


async def _chinese_member(maker: Any, world: World) -> None:
    async with maker() as db:
        await add_person(db, world, "wang", "13900000009", "member")
        member = world.members["wang"]
        member.name = "王大成"
        db.add(member)
        await db.commit()


async def test_board_needs_no_login_and_masks_names(client: Any, world: World, maker: Any) -> None:
    await _chinese_member(maker, world)
    claim_id = await _publicized_claim(client, world, "wang")
    r = await client.get(f"/api/v1/communities/{world.cid}/board")  # no Authorization header
    assert r.status_code == 200, r.text
    board = r.json()
    assert [(c["id"], c["member_name"], c["points"]) for c in board["under_publicity"]] == [
        (claim_id, "王*成", 30)
    ]
    assert "王大成" not in r.text and "13900000009" not in r.text
    page = await client.get(f"/board/{world.cid}")
    assert page.status_code == 200 and "王*成" in page.text and "王大成" not in page.text
    assert "孝老爱亲" in page.text


async def test_awards_reach_the_board_and_leaderboard(client: Any, world: World, maker: Any) -> None:
    await _chinese_member(maker, world)
    await _publicized_claim(client, world, "wang", publicity_days=1)
    clock.advance(timedelta(days=1, minutes=1))
    assert await rewards.settle_due_claims(maker) == 1
    board = (await client.get(f"/api/v1/communities/{world.cid}/board")).json()
    assert board["under_publicity"] == []
    assert [(a["member_name"], a["points"]) for a in board["recent_awards"]] == [("王*成", 30)]
    assert [(x["rank"], x["name"], x["points"]) for x in board["leaderboard"]] == [(1, "王*成", 30)]
    # Another month's leaderboard is empty.
    r = await client.get(f"/api/v1/communities/{world.cid}/board?month=2020-01")
    assert r.status_code == 200 and r.json()["leaderboard"] == []


async def test_objection_takes_a_claim_off_the_board(client: Any, world: World) -> None:
    claim_id = await _publicized_claim(client, world, "alice")
    r = await client.post(f"/api/v1/claims/{claim_id}/objections", json={"reason": "不属实"})
    assert r.status_code == 401  # objecting needs a login even though reading does not
    r = await client.post(
        f"/api/v1/claims/{claim_id}/objections", json={"reason": "不属实"}, headers=world.h["bob"]
    )
    assert r.status_code == 201
    board = (await client.get(f"/api/v1/communities/{world.cid}/board")).json()
    assert board["under_publicity"] == []


async def test_board_refuses_bad_input_without_500(client: Any, world: World) -> None:
    r = await client.get(f"/api/v1/communities/{uuid.uuid4()}/board")
    assert r.status_code == 404 and r.json()["code"] == "community_not_found"
    r = await client.get(f"/api/v1/communities/{world.cid}/board?month=May")
    assert r.status_code == 422 and r.json()["code"] == "invalid_month"
    assert (await client.get("/board/not-a-uuid")).status_code == 404
    assert (await client.get(f"/board/{uuid.uuid4()}")).status_code == 404
    assert (await client.get(f"/board/{world.cid}?month=garbage")).status_code == 200
