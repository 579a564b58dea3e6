"""The new rewards routes over HTTP: duplicate claims named, households, offers, ratings, the board's
short address, poster and evidence summary, and the objector's receipt."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import func, insert, select

from service import clock
from service.activities import service as activities
from service.activities.models import Attendance
from service.rewards.models import Claim
from tests.support.problems import problem as _problem
from tests.support.proposals import api_rule
from tests.support.world import World, add_person

ZH = {"Accept-Language": "zh-CN"}


async def _rule(client: Any, world: World, points: int = 200, publicity_days: int = 3) -> str:
    body = {"code": "zero-bride-price", "title": "零彩礼", "points": points, "publicity_days": publicity_days}
    return str((await api_rule(client, world, body))["id"])


async def _link(client: Any, world: World, asker: str, other: str) -> str:
    r = await client.post(
        f"/api/v1/communities/{world.cid}/household-links",
        json={"phone": world.members[other].phone, "relation": "儿子"},
        headers=world.h[asker],
    )
    assert r.status_code == 201 and r.json()["status"] == "pending", r.text
    link_id = str(r.json()["id"])
    r = await client.post(f"/api/v1/household-links/{link_id}/confirm", headers=world.h["admin"])
    assert r.json()["status"] == "confirmed"
    return link_id


async def test_household_claim_and_duplicate_named_in_zh(client: Any, world: World, maker: Any) -> None:
    rule_id = await _rule(client, world)
    body = {"rule_id": rule_id, "member_id": str(world.members["bob"].id), "evidence": "儿子结婚零彩礼"}
    _problem(
        await client.post("/api/v1/claims", json=body, headers=world.h["carol"]), 403, "not_household_member"
    )
    await _link(client, world, "carol", "bob")
    day = (clock.now() - timedelta(days=2)).date().isoformat()
    r = await client.post(
        "/api/v1/claims", json={**body, "event_date": day, "event_ref": "J-42"}, headers=world.h["carol"]
    )
    assert r.status_code == 201, r.text
    first = r.json()
    assert (first["member_id"], first["event_ref"]) == (str(world.members["bob"].id), "J42")
    # The organizer files the same wedding: 409 naming the first, in Chinese for a Chinese reader.
    r = await client.post(
        "/api/v1/claims", json={**body, "event_ref": "j42"}, headers={**world.h["organizer"], **ZH}
    )
    problem = _problem(r, 409, "duplicate_claim")
    assert first["id"] in problem["detail"] and "已为此人申报过" in problem["detail"]
    assert {"field": "first_claim_id", "message": first["id"]} in problem["errors"]
    async with maker() as db:
        assert await db.scalar(select(func.count()).select_from(Claim)) == 1
    # Both see it: the filer and the beneficiary.
    for who in ("carol", "bob"):
        r = await client.get(f"/api/v1/communities/{world.cid}/claims", headers=world.h[who])
        assert [c["id"] for c in r.json()["items"]] == [first["id"]]


async def test_offer_decline_accept_and_candidates(client: Any, world: World) -> None:
    r = await client.post(
        f"/api/v1/communities/{world.cid}/wishes",
        json={"title": "修水管", "category": "repair"},
        headers=world.h["alice"],
    )
    wid = r.json()["id"]
    r = await client.get(
        f"/api/v1/communities/{world.cid}/wishes/candidates?wish_id={wid}", headers=world.h["organizer"]
    )
    names = [c["name"] for c in r.json()]
    assert "bob" in names and "partner" not in names and "alice" not in names
    _problem(
        await client.get(f"/api/v1/communities/{world.cid}/wishes/candidates", headers=world.h["bob"]),
        403,
        "forbidden",
    )
    dispatch = {"volunteer_id": str(world.members["bob"].id)}
    r = await client.post(f"/api/v1/wishes/{wid}/dispatch", json=dispatch, headers=world.h["organizer"])
    assert r.json()["status"] == "offered"
    r = await client.post(f"/api/v1/wishes/{wid}/decline", json={"reason": "出差"}, headers=world.h["bob"])
    assert (r.json()["status"], r.json()["declines"], r.json()["decline_reason"]) == ("open", 1, "出差")
    r = await client.post(
        f"/api/v1/wishes/{wid}/dispatch",
        json={"volunteer_id": str(world.members["partner"].id)},
        headers=world.h["organizer"],
    )
    _problem(r, 409, "not_a_volunteer")
    r = await client.post(f"/api/v1/wishes/{wid}/dispatch", json=dispatch, headers=world.h["organizer"])
    r = await client.post(f"/api/v1/wishes/{wid}/accept", headers=world.h["bob"])
    assert r.json()["status"] == "assigned" and r.json()["accepted_at"] is not None


async def test_activity_rating_route(client: Any, world: World, maker: Any) -> None:
    now = clock.now()
    async with maker() as db:
        activity = await activities.create_activity(
            db,
            world.actor("organizer"),
            world.cid,
            activities.ActivityDraft(
                "义诊", now - timedelta(hours=3), now - timedelta(hours=1), "per_attendance", 5
            ),
        )
        await db.execute(
            insert(Attendance).values(
                id=uuid.uuid4(),
                community_id=world.cid,
                activity_id=activity.id,
                member_id=world.members["bob"].id,
                status="out",
                evidence="kiosk",
                checked_in_at=now - timedelta(hours=3),
                checked_out_at=now - timedelta(hours=2),
                minutes=60,
                points=5,
                created_at=now,
            )
        )
        await db.commit()
    url = f"/api/v1/activities/{activity.id}/ratings"
    _problem(await client.post(url, json={"stars": 5}, headers=world.h["alice"]), 403, "not_attended")
    r = await client.post(url, json={"stars": 5, "comment": "很好"}, headers=world.h["bob"])
    assert r.status_code == 201 and r.json()["stars"] == 5
    _problem(await client.post(url, json={"stars": 3}, headers=world.h["bob"]), 409, "already_rated")
    assert (await client.post(url, json={"stars": 6}, headers=world.h["bob"])).status_code == 422
    r = await client.get(f"/api/v1/communities/{world.cid}/satisfaction", headers=world.h["organizer"])
    assert r.json()["activities"] == {
        "rated": 1,
        "satisfied": 1,
        "average_stars": 5.0,
        "satisfaction_rate": 1.0,
    }
    page = await client.get(f"/ratings?community={world.cid}", headers=world.h["bob"])
    assert page.status_code == 200 and "义诊" not in page.text  # rated already


async def test_board_short_address_poster_evidence_and_receipt(client: Any, world: World, maker: Any) -> None:
    async with maker() as db:
        await add_person(db, world, "王大成", "13900000009", "member")
        await db.commit()
    rule_id = await _rule(client, world, points=30)
    r = await client.post(
        "/api/v1/claims",
        json={
            "rule_id": rule_id,
            "member_id": str(world.members["王大成"].id),
            "evidence": "王大成婚礼未收彩礼，联系电话13912345678",
        },
        headers=world.h["organizer"],
    )
    claim_id = r.json()["id"]
    await client.post(
        f"/api/v1/claims/{claim_id}/review", json={"decision": "approve"}, headers=world.h["reviewer"]
    )
    code = world.community.code
    for url in (f"/b/{code}", f"/board/{code}", f"/board/{world.cid}"):
        page = await client.get(url, headers=ZH)
        assert page.status_code == 200, url
        assert "王*成婚礼未收彩礼，联系电话139****5678" in page.text
        assert "王大成" not in page.text and "13912345678" not in page.text
    api = await client.get(f"/api/v1/communities/{world.cid}/board")
    assert api.json()["under_publicity"][0]["evidence_summary"].startswith("王*成婚礼")
    assert (await client.get("/b/no-such-place", headers=ZH)).status_code == 404
    poster = await client.get(f"/b/{code}/poster", headers=ZH)
    assert (
        poster.status_code == 200 and "<svg" in poster.text and f"http://testserver/b/{code}" in poster.text
    )
    # The objector gets a receipt on the board.
    r = await client.post(
        f"/api/v1/claims/{claim_id}/objections", json={"reason": "没有结婚"}, headers=world.h["alice"]
    )
    assert r.status_code == 201
    page = await client.get(f"/b/{code}", headers={**world.h["alice"], **ZH})
    assert "已收到您的异议" in page.text and "没有结婚" in page.text
    other = await client.get(f"/b/{code}", headers={**world.h["bob"], **ZH})
    assert "已收到您的异议" not in other.text


async def test_pages_render_for_organizer_and_admin(client: Any, world: World) -> None:
    await _link(client, world, "carol", "bob")
    await _rule(client, world)
    for who, url, text in (
        ("organizer", f"/wishes?community={world.cid}", "确认自行接单的心愿"),
        ("carol", f"/wishes?community={world.cid}", "为谁发布"),
        ("carol", f"/claims?community={world.cid}", "事迹发生日期"),
        ("carol", f"/households?community={world.cid}", "bob"),
        ("admin", f"/households?community={world.cid}", "待确认的家庭关联"),
    ):
        r = await client.get(url, headers={**world.h[who], **ZH})
        assert r.status_code == 200 and text in r.text, (who, url)
