"""Good conduct and micro-wishes over HTTP: problem+json codes, idempotent rating, pages."""

from __future__ import annotations

import io
import uuid
from datetime import timedelta
from typing import Any

from PIL import Image

from service import clock
from tests.support.balances import api_available as _balance
from tests.support.problems import problem as _problem
from tests.support.proposals import api_applied as _applied
from tests.support.rewards import make_rule as _rule
from tests.support.world import World


async def test_rules_catalogue(client: Any, world: World) -> None:
    rule = await _rule(client, world, limit_per_member_per_year=2)
    assert rule["active"] and rule["limit_per_member_per_year"] == 2
    _problem(
        await client.post(
            f"/api/v1/communities/{world.cid}/rules",
            json={"code": "x1", "title": "t", "points": 1},
            headers=world.h["organizer"],
        ),
        403,
        "forbidden",
    )
    _problem(
        await client.post(
            f"/api/v1/communities/{world.cid}/rules",
            json={"code": "garbage", "title": "t", "points": 1},
            headers=world.h["admin"],
        ),
        409,
        "rule_code_taken",
    )
    r = await client.post(
        f"/api/v1/communities/{world.cid}/rules",
        json={"code": "Bad Code", "title": "t", "points": 1},
        headers=world.h["admin"],
    )
    assert r.status_code == 422
    r = await client.patch(
        f"/api/v1/rules/{rule['id']}",
        json={"limit_per_member_per_year": None, "points": 30},
        headers=world.h["admin"],
    )
    # More points and no yearly limit widen what the rule pays: a second admin approves.
    assert r.status_code == 202 and r.json()["proposal"]["after"]["points"] == 30
    await _applied(client, world, r)
    r = await client.get(f"/api/v1/communities/{world.cid}/rules", headers=world.h["alice"])
    assert r.json()[0]["limit_per_member_per_year"] is None and r.json()[0]["points"] == 30
    r = await client.patch(f"/api/v1/rules/{rule['id']}", json={"active": False}, headers=world.h["admin"])
    assert r.json()["active"] is False
    r = await client.get(f"/api/v1/communities/{world.cid}/rules", headers=world.h["alice"])
    assert r.json() == []
    # The full catalogue, retired rules included, is for the community's admins and reviewers.
    r = await client.get(
        f"/api/v1/communities/{world.cid}/rules?include_inactive=true", headers=world.h["alice"]
    )
    assert r.status_code == 403 and r.json()["code"] == "forbidden"
    r = await client.get(
        f"/api/v1/communities/{world.cid}/rules?include_inactive=true", headers=world.h["admin"]
    )
    assert [x["code"] for x in r.json()] == ["garbage"]


async def test_claim_lifecycle_over_http(client: Any, world: World) -> None:
    rule = await _rule(client, world)
    alice = str(world.members["alice"].id)
    r = await client.post(
        "/api/v1/claims",
        json={"rule_id": rule["id"], "member_id": alice, "evidence": "每周分类"},
        headers=world.h["organizer"],
    )
    assert r.status_code == 201 and r.json()["status"] == "submitted"
    claim = r.json()
    cid = claim["id"]
    _problem(
        await client.post(
            f"/api/v1/claims/{cid}/review", json={"decision": "approve"}, headers=world.h["bob"]
        ),
        403,
        "forbidden",
    )
    _problem(
        await client.post(
            f"/api/v1/claims/{cid}/objections", json={"reason": "假的"}, headers=world.h["bob"]
        ),
        409,
        "claim_not_publicized",
    )
    r = await client.post(
        f"/api/v1/claims/{cid}/review",
        json={"decision": "approve", "note": "ok"},
        headers=world.h["reviewer"],
    )
    assert r.status_code == 200 and r.json()["status"] == "publicized"
    _problem(
        await client.post(
            f"/api/v1/claims/{cid}/review", json={"decision": "approve"}, headers=world.h["reviewer2"]
        ),
        409,
        "claim_not_reviewable",
    )
    r = await client.post(
        f"/api/v1/claims/{cid}/objections", json={"reason": "没看到她分类"}, headers=world.h["bob"]
    )
    assert r.status_code == 201 and r.json()["claim_status"] == "submitted"
    r = await client.get(f"/api/v1/claims/{cid}", headers=world.h["reviewer2"])
    assert r.json()["status"] == "submitted" and r.json()["objections"][0]["reason"] == "没看到她分类"
    queue = await client.get(
        f"/api/v1/communities/{world.cid}/claims/review-queue", headers=world.h["reviewer2"]
    )
    assert [c["id"] for c in queue.json()] == [cid]
    _problem(await client.get(f"/api/v1/claims/{cid}", headers=world.h["carol"]), 403, "forbidden")
    mine = await client.get(f"/api/v1/communities/{world.cid}/claims", headers=world.h["alice"])
    assert mine.status_code == 200, mine.text
    assert [c["id"] for c in mine.json()["items"]] == [cid]
    _problem(
        await client.get(f"/api/v1/communities/{world.cid}/claims?scope=all", headers=world.h["alice"]),
        403,
        "forbidden",
    )
    assert await _balance(client, world, "alice") == 0


async def test_photo_upload_over_http(client: Any, world: World) -> None:
    rule = await _rule(client, world)
    r = await client.post(
        "/api/v1/claims",
        json={"rule_id": rule["id"], "member_id": str(world.members["alice"].id), "evidence": "x"},
        headers=world.h["alice"],
    )
    cid = r.json()["id"]
    buf = io.BytesIO()
    Image.new("RGB", (40, 30), (1, 2, 3)).save(buf, format="PNG")
    r = await client.post(
        f"/api/v1/claims/{cid}/photos",
        content=buf.getvalue(),
        headers={**world.h["alice"], "Content-Type": "image/png"},
    )
    assert r.status_code == 201, r.text
    photo = r.json()
    got = await client.get(photo["url"], headers=world.h["reviewer"])
    assert (
        got.status_code == 200
        and got.headers["content-type"] == "image/jpeg"
        and got.content[:2] == b"\xff\xd8"
    )
    _problem(await client.get(photo["url"], headers=world.h["bob"]), 403, "forbidden")
    r = await client.post(f"/api/v1/claims/{cid}/photos", content=b"<?php evil", headers=world.h["alice"])
    _problem(r, 422, "invalid_photo")
    r = await client.get(f"/api/v1/claims/{cid}", headers=world.h["alice"])
    assert len(r.json()["photo_ids"]) == 1


async def test_wish_loop_and_idempotent_rating(client: Any, world: World) -> None:
    r = await client.post(
        f"/api/v1/communities/{world.cid}/wishes",
        json={"title": "帮忙取药", "description": "社区医院", "category": "errand"},
        headers=world.h["alice"],
    )
    assert r.status_code == 201 and r.json()["status"] == "open"
    wid = r.json()["id"]
    _problem(await client.post(f"/api/v1/wishes/{wid}/accept", headers=world.h["alice"]), 403, "own_wish")
    r = await client.post(
        f"/api/v1/wishes/{wid}/dispatch",
        json={"volunteer_id": str(world.members["bob"].id)},
        headers=world.h["organizer"],
    )
    assert r.json()["status"] == "offered" and r.json()["volunteer_name"] == "bob"
    assert r.json()["dispatched_at"] is not None and r.json()["accepted_at"] is None
    _problem(
        await client.post(f"/api/v1/wishes/{wid}/accept", headers=world.h["carol"]), 403, "not_offered_to_you"
    )
    r = await client.post(f"/api/v1/wishes/{wid}/accept", headers=world.h["bob"])
    assert r.json()["status"] == "assigned" and r.json()["accepted_at"] is not None
    _problem(
        await client.post(f"/api/v1/wishes/{wid}/complete", headers=world.h["carol"]),
        403,
        "not_assigned_volunteer",
    )
    r = await client.post(f"/api/v1/wishes/{wid}/complete", headers=world.h["bob"])
    assert r.json()["status"] == "done"
    headers = {**world.h["alice"], "Idempotency-Key": "rate-1"}
    first = await client.post(
        f"/api/v1/wishes/{wid}/rate", json={"stars": 5, "comment": "好"}, headers=headers
    )
    assert first.status_code == 200 and first.json()["status"] == "rated"
    assert first.json()["points_status"] == "posted"
    again = await client.post(
        f"/api/v1/wishes/{wid}/rate", json={"stars": 5, "comment": "好"}, headers=headers
    )
    assert again.status_code == 200 and again.json() == first.json()
    _problem(
        await client.post(f"/api/v1/wishes/{wid}/rate", json={"stars": 1}, headers=headers),
        409,
        "idempotency_conflict",
    )
    _problem(
        await client.post(f"/api/v1/wishes/{wid}/rate", json={"stars": 1}, headers=world.h["alice"]),
        409,
        "wish_not_ratable",
    )
    assert await _balance(client, world, "bob") == 10
    r = await client.post(
        f"/api/v1/communities/{world.cid}/wishes",
        json={"title": "x", "category": "rocket"},
        headers=world.h["alice"],
    )
    _problem(r, 422, "invalid_category")
    r = await client.post(f"/api/v1/wishes/{wid}/rate", json={"stars": 9}, headers=world.h["alice"])
    assert r.status_code == 422
    _problem(
        await client.post(f"/api/v1/wishes/{uuid.uuid4()}/accept", headers=world.h["bob"]),
        404,
        "wish_not_found",
    )
    stats = await client.get(f"/api/v1/communities/{world.cid}/wishes/stats", headers=world.h["organizer"])
    assert stats.status_code == 200
    body = stats.json()
    assert (body["count"], body["completed"], body["satisfaction_rate"]) == (1, 1, 1.0)
    _problem(
        await client.get(
            f"/api/v1/communities/{world.cid}/wishes/stats?month=2026-13", headers=world.h["organizer"]
        ),
        422,
        "invalid_month",
    )


async def test_settings_over_http(client: Any, world: World) -> None:
    url = f"/api/v1/communities/{world.cid}/rewards-settings"
    r = await client.get(url, headers=world.h["alice"])
    assert r.json()["two_reviewers_from_points"] == 50 and r.json()["wish_points"] == 10
    _problem(await client.put(url, json={"wish_points": 20}, headers=world.h["organizer"]), 403, "forbidden")
    r = await client.put(url, json={"wish_points": 20}, headers=world.h["admin"])
    assert r.status_code == 202 and r.json()["proposal"]["before"]["wish_points"] == 10
    assert (await client.get(url, headers=world.h["alice"])).json()["wish_points"] == 10
    r = await _applied(client, world, r)
    assert r.json()["after"]["wish_points"] == 20 and r.json()["after"]["two_reviewers_from_points"] == 50
    assert (await client.put(url, json={"wish_points": -1}, headers=world.h["admin"])).status_code == 422
    assert (await client.get(url, headers=world.h["alice"])).json()["wish_points"] == 20


async def test_settlement_through_the_cli_job_path(client: Any, world: World, maker: Any) -> None:
    from service.jobs import run_jobs_once

    rule = await _rule(client, world, publicity_days=1)
    r = await client.post(
        "/api/v1/claims",
        json={"rule_id": rule["id"], "member_id": str(world.members["alice"].id), "evidence": "x"},
        headers=world.h["alice"],
    )
    cid = r.json()["id"]
    await client.post(
        f"/api/v1/claims/{cid}/review", json={"decision": "approve"}, headers=world.h["reviewer"]
    )
    clock.advance(timedelta(days=1, minutes=1))
    first = await run_jobs_once(maker)
    second = await run_jobs_once(maker)
    assert first["rewards.settle_claims"] == 1 and second["rewards.settle_claims"] == 0
    assert await _balance(client, world, "alice") == 20
    r = await client.get(f"/api/v1/claims/{cid}", headers=world.h["alice"])
    assert r.json()["status"] == "awarded"


async def test_pages_render_and_need_login(client: Any, world: World) -> None:
    for path in ("/wishes", "/claims", "/admin/rules"):
        r = await client.get(path, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/login?next=")
    await _rule(client, world)
    for who, path, text in (
        ("alice", "/wishes", "发布心愿"),
        ("alice", "/claims", "提交积分申报"),
        ("reviewer", "/claims", "待我评议"),
        ("organizer", "/wishes", "派单"),
        ("admin", "/admin/rules", "垃圾分类达标"),
    ):
        r = await client.get(f"{path}?community={world.cid}", headers=world.h[who])
        assert r.status_code == 200, (who, path, r.text[:500])
        assert text in r.text, (who, path)
    r = await client.get(f"/admin/rules?community={world.cid}", headers=world.h["alice"])
    assert r.status_code == 403
    home = await client.get("/", headers=world.h["alice"])
    assert f"/wishes?community={world.cid}" in home.text and f"/claims?community={world.cid}" in home.text
