"""The insider of issue 19 over HTTP: one community admin alone cannot get 100,000 points to a member.

He raises the activity cap, the award threshold and adds a 5,000-point rule; each answers 202 with a
proposal and changes nothing; his 100,000-point activity and award still wait; he cannot approve his own
proposals (own_proposal, in Chinese). Only a second admin's approval applies a change.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from service import clock
from tests.support.balances import api_available as balance
from tests.support.world import World

ZH = {"Accept-Language": "zh-CN"}


def _as(world: World, who: str) -> dict[str, str]:
    return {**world.h[who], **ZH}


async def _activity(client: Any, world: World, points: int) -> dict[str, Any]:
    now = clock.now()
    body = {
        "title": "大额活动",
        "starts_at": (now - timedelta(minutes=5)).isoformat(),
        "ends_at": (now + timedelta(hours=2)).isoformat(),
        "points_mode": "per_attendance",
        "points": points,
    }
    r = await client.post(f"/api/v1/communities/{world.cid}/activities", json=body, headers=world.h["admin"])
    assert r.status_code == 201, r.text
    return dict(r.json())


async def test_one_admin_alone_cannot_get_100000_points_to_a_member(client: Any, world: World) -> None:
    cid = world.cid
    # 1. The cap: 202, a proposal, the cap unchanged.
    r = await client.put(
        f"/api/v1/communities/{cid}/activity-policy",
        json={"points_cap": 100_000},
        headers=_as(world, "admin"),
    )
    assert r.status_code == 202, r.text
    cap = r.json()["proposal"]
    assert (
        cap["status"] == "pending"
        and cap["before"] == {"points_cap": 50}
        and cap["after"]["points_cap"] == 100_000
    )
    policy = await client.get(f"/api/v1/communities/{cid}/activity-policy", headers=world.h["alice"])
    assert policy.json()["points_cap"] == 50
    # ... so his 100,000-point activity still waits for another admin, and he cannot open it.
    activity = await _activity(client, world, 100_000)
    assert activity["status"] == "pending_approval"
    r = await client.post(f"/api/v1/activities/{activity['id']}/approve", headers=world.h["admin"])
    assert r.status_code == 403 and r.json()["code"] == "same_admin"
    # 2. The award threshold: 202; a 100,000-point award to alice still waits.
    r = await client.put(
        f"/api/v1/communities/{cid}/points-policy",
        json={"expiry_mode": "never", "award_approval_threshold": 100_000},
        headers=world.h["admin"],
    )
    assert r.status_code == 202, r.text
    threshold = r.json()["proposal"]
    r = await client.post(
        f"/api/v1/communities/{cid}/awards",
        json={"member_id": str(world.members["alice"].id), "points": 100_000, "reason": "表彰"},
        headers=world.h["admin"],
    )
    assert r.status_code in (201, 202) and r.json()["status"] == "pending_approval", r.text
    # 3. A new 5,000-point rule is created switched off.
    r = await client.post(
        f"/api/v1/communities/{cid}/rules",
        json={"code": "hero", "title": "见义勇为", "points": 5000, "publicity_days": 0},
        headers=world.h["admin"],
    )
    assert r.status_code == 202, r.text
    rule = r.json()["proposal"]
    r = await client.post(
        "/api/v1/claims",
        json={"rule_id": rule["target_id"], "member_id": str(world.members["alice"].id), "evidence": "救人"},
        headers=world.h["alice"],
    )
    assert r.status_code == 409 and r.json()["code"] == "rule_inactive", r.text
    # 4. He cannot approve any of his own proposals, in Chinese, and nothing changes.
    for proposal in (cap, threshold, rule):
        r = await client.post(f"/api/v1/proposals/{proposal['id']}/approve", headers=_as(world, "admin"))
        assert r.status_code == 403 and r.json()["code"] == "own_proposal"
        assert r.json()["detail"] == "您提出的变更须由另一人审批。"
    listed = await client.get(
        f"/api/v1/communities/{cid}/proposals?status=pending", headers=world.h["admin2"]
    )
    assert {p["id"] for p in listed.json()} == {cap["id"], threshold["id"], rule["id"]}
    assert all(p["proposed_by_name"] for p in listed.json())
    assert await balance(client, world, "alice") == 0
    policy = await client.get(f"/api/v1/communities/{cid}/points-policy", headers=world.h["alice"])
    assert policy.json()["award_approval_threshold"] == 100
    # 5. A second admin approves the cap: now (and only now) it applies.
    r = await client.post(f"/api/v1/proposals/{cap['id']}/approve", headers=world.h["admin2"])
    assert r.status_code == 200 and r.json()["status"] == "approved"
    policy = await client.get(f"/api/v1/communities/{cid}/activity-policy", headers=world.h["alice"])
    assert policy.json()["points_cap"] == 100_000
    again = await client.post(f"/api/v1/proposals/{cap['id']}/approve", headers=_as(world, "admin2"))
    assert again.status_code == 409 and again.json()["code"] == "proposal_not_pending"


async def test_lowering_applies_at_once_and_bad_input_is_a_422(client: Any, world: World) -> None:
    url = f"/api/v1/communities/{world.cid}/activity-policy"
    r = await client.put(url, json={"points_cap": 20}, headers=world.h["admin"])
    assert r.status_code == 200 and r.json()["points_cap"] == 20
    r = await client.put(url, json={"points_cap": -1}, headers=_as(world, "admin"))
    assert r.status_code == 422
    r = await client.get(
        f"/api/v1/communities/{world.cid}/proposals?status=bogus", headers=_as(world, "admin")
    )
    assert r.status_code == 422 and r.json()["code"] == "invalid_proposal_status"
    listed = await client.get(f"/api/v1/communities/{world.cid}/proposals", headers=world.h["admin"])
    assert listed.json() == []


async def test_an_admin_of_the_proposers_household_cannot_approve(
    client: Any, world: World, maker: Any
) -> None:
    """Two admins who are one household are one interest: the second cannot approve the first's
    proposal (proposer_conflict, in Chinese), nothing changes; an official or platform admin can."""
    from service.accounts import households

    async with maker() as db:
        await households.start_link(db, world.cid, world.members["admin"].id, world.members["admin2"].id)
        await db.commit()
    r = await client.put(
        f"/api/v1/communities/{world.cid}/activity-policy",
        json={"points_cap": 5000},
        headers=world.h["admin"],
    )
    assert r.status_code == 202, r.text
    proposal = r.json()["proposal"]
    refused = await client.post(f"/api/v1/proposals/{proposal['id']}/approve", headers=_as(world, "admin2"))
    assert refused.status_code == 403 and refused.json()["code"] == "proposer_conflict", refused.text
    assert refused.json()["detail"].startswith("此项变更须由其他人审批")
    policy = await client.get(f"/api/v1/communities/{world.cid}/activity-policy", headers=world.h["alice"])
    assert policy.json()["points_cap"] == 50
    listed = await client.get(
        f"/api/v1/communities/{world.cid}/proposals?status=pending", headers=world.h["admin"]
    )
    assert [p["id"] for p in listed.json()] == [proposal["id"]]
    ok = await client.post(f"/api/v1/proposals/{proposal['id']}/approve", headers=world.h["root"])
    assert ok.status_code == 200 and ok.json()["status"] == "approved", ok.text
