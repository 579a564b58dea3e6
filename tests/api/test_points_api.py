"""The Points routes of the API contract, as a phone or a partner system would call them."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from service import clock
from service.points import service as points
from tests.support.balances import api_balance as _balance
from tests.support.world import World


async def _give(maker: Any, world: World, who: str, n: int, key: str, code: str = "checkin") -> None:
    async with maker() as db:
        await points.award(
            db,
            community_id=world.cid,
            member_id=world.members[who].id,
            points=n,
            code=code,
            idempotency_key=key,
        )
        await db.commit()


async def test_balance_starts_at_zero_and_shows_expiring_points(
    client: Any, world: World, maker: Any
) -> None:
    assert (await _balance(client, world, "alice"))["available"] == 0
    r = await client.put(
        f"/api/v1/communities/{world.cid}/points-policy",
        json={"expiry_mode": "days", "expiry_value": 20},
        headers=world.h["admin"],
    )
    assert r.status_code == 200, r.text
    await _give(maker, world, "alice", 12, "a")
    body = await _balance(client, world, "alice")
    assert body["available"] == 12 and body["earned"] == 12 and body["held"] == 0
    assert [e["points"] for e in body["expiring"]] == [12]


async def test_balance_of_another_community_is_forbidden(client: Any, world: World) -> None:
    r = await client.get(
        "/api/v1/me/balance", params={"community_id": str(world.partner.id)}, headers=world.h["alice"]
    )
    assert r.status_code == 404 and r.json()["code"] == "community_not_found"


async def test_entries_are_paged_newest_first_and_filtered(client: Any, world: World, maker: Any) -> None:
    for i in range(5):
        await _give(maker, world, "alice", i + 1, f"k{i}", code="checkin" if i % 2 == 0 else "claim")
    url, q = "/api/v1/me/entries", {"community_id": str(world.cid), "limit": 2}
    r = await client.get(url, params=q, headers=world.h["alice"])
    page1 = r.json()
    assert [e["points"] for e in page1["items"]] == [5, 4]
    r = await client.get(url, params={**q, "cursor": page1["next_cursor"]}, headers=world.h["alice"])
    page2 = r.json()
    assert [e["points"] for e in page2["items"]] == [3, 2]
    r = await client.get(url, params={**q, "limit": 50, "code": "claim"}, headers=world.h["alice"])
    assert [e["points"] for e in r.json()["items"]] == [4, 2]
    future = (clock.now() + timedelta(days=1)).isoformat()
    r = await client.get(url, params={**q, "since": future}, headers=world.h["alice"])
    assert r.json() == {"items": [], "next_cursor": None}
    r = await client.get(url, params={**q, "cursor": "!!nonsense"}, headers=world.h["alice"])
    assert r.status_code == 422 and r.json()["code"] == "invalid_cursor"


async def test_manual_award_small_posts_at_once_and_retry_replays(client: Any, world: World) -> None:
    url = f"/api/v1/communities/{world.cid}/awards"
    body = {"member_id": str(world.members["alice"].id), "points": 30, "reason": "Cleaned the stairwell"}
    h = {**world.h["admin"], "Idempotency-Key": "award-1"}
    r1 = await client.post(url, json=body, headers=h)
    assert r1.status_code == 201 and r1.json()["status"] == "posted", r1.text
    r2 = await client.post(url, json=body, headers=h)
    assert r2.status_code == 201 and r2.json()["id"] == r1.json()["id"]
    r3 = await client.post(url, json={**body, "points": 31}, headers=h)
    assert r3.status_code == 409 and r3.json()["code"] == "idempotency_conflict"
    assert (await _balance(client, world, "alice"))["available"] == 30
    r = await client.get(
        "/api/v1/me/entries", params={"community_id": str(world.cid)}, headers=world.h["alice"]
    )
    (entry,) = r.json()["items"]
    assert entry["code"] == "manual_award" and entry["memo"] == "Cleaned the stairwell"


async def test_big_award_waits_for_a_second_admin(client: Any, world: World) -> None:
    url = f"/api/v1/communities/{world.cid}/awards"
    body = {"member_id": str(world.members["bob"].id), "points": 500, "reason": "Flood rescue"}
    r = await client.post(url, json=body, headers=world.h["admin"])
    assert r.status_code == 202 and r.json()["status"] == "pending_approval"
    aid = r.json()["id"]
    assert (await _balance(client, world, "bob"))["available"] == 0
    r = await client.get(url, params={"status": "pending_approval"}, headers=world.h["admin2"])
    assert [a["id"] for a in r.json()["items"]] == [aid]
    r = await client.post(f"/api/v1/awards/{aid}/approve", headers=world.h["admin"])
    assert r.status_code == 403 and r.json()["code"] == "same_admin"
    r = await client.post(f"/api/v1/awards/{aid}/approve", headers=world.h["organizer"])
    assert r.status_code == 403
    assert (await _balance(client, world, "bob"))["available"] == 0
    r = await client.post(f"/api/v1/awards/{aid}/approve", headers=world.h["admin2"])
    assert r.status_code == 200 and r.json()["status"] == "posted"
    r = await client.post(f"/api/v1/awards/{aid}/approve", headers=world.h["admin2"])
    assert r.status_code == 409 and r.json()["code"] == "award_not_pending"
    assert (await _balance(client, world, "bob"))["available"] == 500


async def test_award_refusals_change_nothing(client: Any, world: World) -> None:
    url = f"/api/v1/communities/{world.cid}/awards"
    alice = str(world.members["alice"].id)
    cases = [
        (world.h["alice"], {"member_id": alice, "points": 5, "reason": "x"}, 403),
        (world.h["admin"], {"member_id": alice, "points": 0, "reason": "x"}, 422),
        (world.h["admin"], {"member_id": alice, "points": 5, "reason": ""}, 422),
        (world.h["admin"], {"member_id": str(world.members["root"].id), "points": 5, "reason": "x"}, 404),
        (world.h["admin"], {"member_id": "not-a-uuid", "points": 5, "reason": "x"}, 422),
    ]
    for headers, body, status in cases:
        r = await client.post(url, json=body, headers=headers)
        assert r.status_code == status, (body, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
    assert (await _balance(client, world, "alice"))["available"] == 0


async def test_verify_and_reverse(client: Any, world: World, maker: Any) -> None:
    await _give(maker, world, "alice", 10, "a")
    url = f"/api/v1/communities/{world.cid}/ledger/verify"
    r = await client.get(url, headers=world.h["admin"])
    assert r.status_code == 200 and r.json()["ok"] is True, r.text
    assert r.json()["entries_checked"] == 2
    r = await client.get(url, headers=world.h["alice"])
    assert r.status_code == 403
    r = await client.get(
        "/api/v1/me/entries", params={"community_id": str(world.cid)}, headers=world.h["alice"]
    )
    tid = r.json()["items"][0]["transfer_id"]
    r = await client.post(
        f"/api/v1/communities/{world.cid}/transfers/{tid}/reverse",
        json={"memo": "wrong person"},
        headers=world.h["admin"],
    )
    assert r.status_code == 201, r.text
    assert (await _balance(client, world, "alice"))["available"] == 0
    r = await client.post(
        f"/api/v1/communities/{world.cid}/transfers/{tid}/reverse", json={}, headers=world.h["admin"]
    )
    assert r.status_code == 409 and r.json()["code"] == "already_reversed"
    r = await client.get(url, headers=world.h["admin"])
    assert r.json()["ok"] is True


async def test_openapi_describes_points_routes(client: Any) -> None:
    doc = (await client.get("/schema/openapi.json")).json()
    paths = doc["paths"]
    assert "/api/v1/me/balance" in paths and "/api/v1/me/entries" in paths
    award = paths["/api/v1/communities/{cid}/awards"]["post"]
    assert {"201", "202"} <= set(award["responses"])
    assert "requestBody" in award
