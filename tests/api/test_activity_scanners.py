"""Scanning helpers: an organizer names a store clerk to scan at one activity (docs/offline.md §5).

Checking people in issues points, so a clerk gets the offline kit and uploads scans only for the
activity they were named to, only while named and a clerk there; every refusal is asserted with what a
user would notice: the answer's code, the offline scans, attendances, balances and the audit log."""

from __future__ import annotations

import secrets
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from service import clock
from service.accounts import service as accounts
from service.activities import codes
from service.activities.models import ActivityScanner, Attendance, OfflineScan
from service.audit.models import AuditEvent
from service.points import service as points
from tests.support.activities import create_activity as create
from tests.support.world import SECRET, World

SEED = ""  # the tests' settings leave JIFEN_SIGNING_KEY unset: the generated key


def _scan(aid: str, code: str, at: datetime) -> dict[str, Any]:
    return {"nonce": secrets.token_hex(16), "activity_id": aid, "code": code, "scanned_at": at.isoformat()}


async def _sync(client: Any, world: World, who: str, scans: list[dict[str, Any]]) -> Any:
    body = {"device_id": f"phone-{who}", "scans": scans}
    return await client.post("/api/v1/scans/sync", json=body, headers=world.h[who])


async def _name(client: Any, world: World, aid: str, who: str = "clerk", by: str = "organizer") -> Any:
    body = {"member_id": str(world.members[who].id)}
    return await client.post(f"/api/v1/activities/{aid}/scanners", json=body, headers=world.h[by])


async def _code(maker: async_sessionmaker[AsyncSession], world: World, name: str) -> str:
    async with maker() as db, db.begin():
        return (await codes.personal_code(db, SEED, world.members[name].id))[0]


async def _state(maker: async_sessionmaker[AsyncSession], world: World) -> tuple[int, ...]:
    """Offline scans, attendances, scanning helpers, audit events, alice's and bob's balances."""
    async with maker() as db:
        counted = [
            await db.scalar(select(func.count(m.id)))
            for m in (OfflineScan, Attendance, ActivityScanner, AuditEvent)
        ]
        balances = [
            (await points.balance(db, world.cid, world.members[n].id)).available for n in ("alice", "bob")
        ]
    return (*(int(c or 0) for c in counted), *balances)


async def _clerk_scans_in_and_out(
    client: Any, world: World, maker: async_sessionmaker[AsyncSession], aid: str, whose: str
) -> None:
    """The named clerk uploads ``whose`` code scanned 40 and 5 minutes ago: both applied."""
    code = await _code(maker, world, whose)
    now = clock.now()
    scans = [_scan(aid, code, now - timedelta(minutes=40)), _scan(aid, code, now - timedelta(minutes=5))]
    r = await _sync(client, world, "clerk", scans)
    assert r.status_code == 200, r.text
    assert [x["status"] for x in r.json()["results"]] == ["applied", "applied"], r.text


async def _refused_to_scan(
    client: Any, world: World, maker: async_sessionmaker[AsyncSession], aid: str, headers: Any, code: str
) -> None:
    """The kit and an upload are refused (403 ``forbidden``) and nothing changes."""
    before = await _state(maker, world)
    kit = await client.get(f"/api/v1/activities/{aid}/offline-kit", headers=headers)
    assert kit.status_code == 403 and kit.json()["code"] == "forbidden"
    body = {"device_id": "phone-x", "scans": [_scan(aid, code, clock.now() - timedelta(minutes=1))]}
    r = await client.post("/api/v1/scans/sync", json=body, headers=headers)
    assert r.status_code == 403 and r.json()["code"] == "forbidden", r.text
    assert await _state(maker, world) == before


async def _events(maker: async_sessionmaker[AsyncSession], action: str) -> list[AuditEvent]:
    async with maker() as db:
        return list(await db.scalars(select(AuditEvent).where(AuditEvent.action == action)))


async def test_an_organizer_names_lists_and_removes_a_clerk_each_audited(
    client: Any, world: World, maker: async_sessionmaker[AsyncSession]
) -> None:
    a = await create(client, world)
    clerk = str(world.members["clerk"].id)
    made = await _name(client, world, a["id"])
    assert made.status_code == 201, made.text
    assert made.json()["member_id"] == clerk and made.json()["clerk"] is True
    assert made.json()["assigned_by"] == str(world.members["organizer"].id)
    listed = await client.get(f"/api/v1/activities/{a['id']}/scanners", headers=world.h["organizer2"])
    assert listed.status_code == 200 and [s["member_id"] for s in listed.json()] == [clerk]
    (named,) = await _events(maker, "scanner_assigned")
    assert str(named.subject_member_id) == clerk and named.detail["activity_id"] == a["id"]
    again = await _name(client, world, a["id"], by="organizer2")
    assert again.status_code == 409 and again.json()["code"] == "scanner_already_assigned"
    gone = await client.delete(
        f"/api/v1/activities/{a['id']}/scanners/{clerk}", headers=world.h["organizer2"]
    )
    assert gone.status_code == 204, gone.text
    listed = await client.get(f"/api/v1/activities/{a['id']}/scanners", headers=world.h["organizer"])
    assert listed.json() == []
    (removed,) = await _events(maker, "scanner_removed")
    assert removed.actor_id == world.members["organizer2"].id and str(removed.subject_member_id) == clerk
    twice = await client.delete(
        f"/api/v1/activities/{a['id']}/scanners/{clerk}", headers=world.h["organizer"]
    )
    assert twice.status_code == 404 and twice.json()["code"] == "scanner_not_found"


async def test_only_an_organizer_names_only_a_clerk_of_the_community_never_themself(
    client: Any, world: World, maker: async_sessionmaker[AsyncSession]
) -> None:
    a = await create(client, world)
    async with maker() as db, db.begin():  # a clerk of another community, and an organizer who is a clerk
        other = await accounts.create_community(db, world.root, "乙社区", "community-b")
        stranger = await accounts.add_member(
            db, world.root, other.id, "15600000003", "乙管理员", None, "clerk"
        )
        await accounts.add_member(
            db, world.root, world.cid, world.members["organizer2"].phone, "o", None, "clerk"
        )
    before = await _state(maker, world)
    for who, by, status, code in (
        ("alice", "organizer", 422, "scanner_not_clerk"),
        ("organizer", "organizer", 409, "scanner_self"),
        ("organizer2", "organizer2", 409, "scanner_self"),  # a clerk too, still not their own helper
        ("clerk", "clerk", 403, "forbidden"),
        ("clerk", "alice", 403, "forbidden"),
        ("clerk", "partner", 403, "forbidden"),
    ):
        r = await _name(client, world, a["id"], who=who, by=by)
        assert (r.status_code, r.json()["code"]) == (status, code), (who, by, r.text)
    body = {"member_id": str(stranger.id)}
    r = await client.post(f"/api/v1/activities/{a['id']}/scanners", json=body, headers=world.h["organizer"])
    assert r.status_code == 422 and r.json()["code"] == "scanner_not_clerk"
    listed = await client.get(f"/api/v1/activities/{a['id']}/scanners", headers=world.h["clerk"])
    assert listed.status_code == 403
    assert await _state(maker, world) == before
    closed = await client.post(f"/api/v1/activities/{a['id']}/close", json={}, headers=world.h["organizer"])
    assert closed.status_code == 200, closed.text
    after_close = await _state(maker, world)
    r = await _name(client, world, a["id"])
    assert r.status_code == 409 and r.json()["code"] == "activity_not_open"
    assert await _state(maker, world) == after_close


async def test_a_clerk_named_nowhere_gets_no_kit_and_uploads_nothing(
    client: Any, world: World, maker: async_sessionmaker[AsyncSession]
) -> None:
    a = await create(client, world)
    other = await create(client, world, title="另一个活动")
    assert (await _name(client, world, other["id"])).status_code == 201  # named, but to another activity
    code = await _code(maker, world, "alice")
    before = await _state(maker, world)
    kit = await client.get(f"/api/v1/activities/{a['id']}/offline-kit", headers=world.h["clerk"])
    assert kit.status_code == 403 and kit.json()["code"] == "forbidden"
    now = clock.now()
    for scans in (
        [_scan(a["id"], code, now - timedelta(minutes=1))],
        [
            _scan(other["id"], code, now - timedelta(minutes=2)),
            _scan(a["id"], code, now - timedelta(minutes=1)),
        ],
    ):
        r = await _sync(client, world, "clerk", scans)
        assert r.status_code == 403 and r.json()["code"] == "forbidden", r.text
    assert await _state(maker, world) == before


async def test_a_named_clerk_scans_with_points_until_taken_off(
    client: Any, world: World, maker: async_sessionmaker[AsyncSession]
) -> None:
    now = clock.now()
    a = await create(client, world, starts_at=(now - timedelta(hours=1)).isoformat())
    assert (await _name(client, world, a["id"])).status_code == 201
    kit = await client.get(f"/api/v1/activities/{a['id']}/offline-kit", headers=world.h["clerk"])
    assert kit.status_code == 200, kit.text
    alice = str(world.members["alice"].id)
    assert kit.json()["activity"]["id"] == a["id"] and alice in {m["member_id"] for m in kit.json()["roster"]}
    await _clerk_scans_in_and_out(client, world, maker, a["id"], "alice")
    async with maker() as db:
        att = await db.scalar(select(Attendance).where(Attendance.activity_id == uuid.UUID(a["id"])))
        uploaders = set(await db.scalars(select(OfflineScan.uploaded_by)))
        assert (await points.verify(db, world.cid)).ok
    assert att is not None and att.status == "out" and att.points == 8 and att.minutes == 35
    assert uploaders == {world.members["clerk"].id}
    (synced,) = await _events(maker, "offline_scans_synced")
    assert synced.actor_id == world.members["clerk"].id
    assert (await _state(maker, world))[4] == 8  # alice's points
    clerk = str(world.members["clerk"].id)
    gone = await client.delete(f"/api/v1/activities/{a['id']}/scanners/{clerk}", headers=world.h["organizer"])
    assert gone.status_code == 204
    await _refused_to_scan(client, world, maker, a["id"], world.h["clerk"], await _code(maker, world, "bob"))


async def test_a_named_clerk_who_loses_the_clerk_role_no_longer_scans(
    client: Any, world: World, maker: async_sessionmaker[AsyncSession]
) -> None:
    a = await create(client, world)
    assert (await _name(client, world, a["id"])).status_code == 201
    clerk = world.members["clerk"].id
    r = await client.delete(
        f"/api/v1/communities/{world.cid}/members/{clerk}/roles/clerk", headers=world.h["admin"]
    )
    assert r.status_code == 200, r.text
    alice = await _code(maker, world, "alice")
    await _refused_to_scan(client, world, maker, a["id"], world.h["clerk"], alice)
    listed = await client.get(f"/api/v1/activities/{a['id']}/scanners", headers=world.h["organizer"])
    assert [s["clerk"] for s in listed.json()] == [False]


async def test_a_clerk_of_another_community_gets_no_kit(
    client: Any, world: World, maker: async_sessionmaker[AsyncSession]
) -> None:
    a = await create(client, world)
    assert (await _name(client, world, a["id"])).status_code == 201
    async with maker() as db, db.begin():
        other = await accounts.create_community(db, world.root, "乙社区", "community-b")
        stranger = await accounts.add_member(
            db, world.root, other.id, "15600000003", "乙管理员", None, "clerk"
        )
    headers = {"Authorization": f"Bearer {accounts.issue_token(stranger, SECRET)}"}
    await _refused_to_scan(client, world, maker, a["id"], headers, await _code(maker, world, "alice"))


async def test_resolving_offline_scans_stays_the_organizers(
    client: Any, world: World, maker: async_sessionmaker[AsyncSession]
) -> None:
    a = await create(client, world)
    assert (await _name(client, world, a["id"])).status_code == 201
    r = await _sync(
        client, world, "clerk", [_scan(a["id"], "unknown-card", clock.now() - timedelta(minutes=1))]
    )
    assert r.status_code == 200 and r.json()["results"][0]["code"] == "code_invalid"
    listed = await client.get(f"/api/v1/activities/{a['id']}/offline-scans", headers=world.h["clerk"])
    assert listed.status_code == 403
    async with maker() as db:
        row = await db.scalar(select(OfflineScan))
    assert row is not None and row.uploaded_by == world.members["clerk"].id
    before = await _state(maker, world)
    for action in ("accept", "dismiss"):
        r = await client.post(
            f"/api/v1/offline-scans/{row.id}/resolve", json={"action": action}, headers=world.h["clerk"]
        )
        assert r.status_code == 403 and r.json()["code"] == "forbidden"
    assert await _state(maker, world) == before
    ok = await client.post(
        f"/api/v1/offline-scans/{row.id}/resolve", json={"action": "dismiss"}, headers=world.h["organizer"]
    )
    assert ok.status_code == 200


async def test_the_scanner_page_lists_a_named_clerk_only_their_activities(
    client: Any, world: World, maker: async_sessionmaker[AsyncSession]
) -> None:
    named = await create(client, world, title="敬老院探访")
    other = await create(client, world, title="河道清理")
    refused = await client.get(f"/scan?community={world.cid}", headers=world.h["clerk"])
    assert refused.status_code == 403  # named nowhere yet
    home = await client.get("/", headers=world.h["clerk"])
    assert 'href="/scan?' not in home.text
    assert (await _name(client, world, named["id"])).status_code == 201
    page = await client.get(f"/scan?community={world.cid}", headers=world.h["clerk"])
    assert page.status_code == 200
    assert named["id"] in page.text and other["id"] not in page.text
    home = await client.get("/", headers=world.h["clerk"])
    assert f'href="/scan?community={world.cid}"' in home.text
    organizer = await client.get(f"/scan?community={world.cid}", headers=world.h["organizer"])
    assert named["id"] in organizer.text and other["id"] in organizer.text
    detail = await client.get(f"/activities/{named['id']}", headers=world.h["organizer2"])
    assert "扫码协助" in detail.text and f'data-scanner="{world.members["clerk"].id}"' in detail.text
    assert 'data-testid="scanner-form"' not in detail.text  # the only clerk is named already
    detail = await client.get(f"/activities/{other['id']}", headers=world.h["organizer2"])
    assert 'data-testid="scanner-clerk"' in detail.text and world.members["clerk"].name in detail.text
    assert "扫码协助" not in (await client.get(f"/activities/{named['id']}", headers=world.h["clerk"])).text


async def test_a_named_clerks_own_scans_wait_for_an_organizer(
    client: Any, world: World, maker: async_sessionmaker[AsyncSession]
) -> None:
    """Whoever checks people in does not pay themself: the clerk's own code, scanned on the clerk's
    phone, checks in and out, but the points wait for an organizer (like an organizer's own)."""
    now = clock.now()
    a = await create(client, world, starts_at=(now - timedelta(hours=1)).isoformat())
    assert (await _name(client, world, a["id"])).status_code == 201
    await _clerk_scans_in_and_out(client, world, maker, a["id"], "clerk")
    clerk = world.members["clerk"].id
    async with maker() as db:
        att = await db.scalar(select(Attendance).where(Attendance.member_id == clerk))
        assert (await points.balance(db, world.cid, clerk)).available == 0
    assert att is not None and att.status == "pending" and att.needs_confirmation
    refused = await client.post(f"/api/v1/attendance/{att.id}/approve", headers=world.h["clerk"])
    assert refused.status_code == 403
    ok = await client.post(f"/api/v1/attendance/{att.id}/approve", headers=world.h["organizer"])
    assert ok.status_code == 200, ok.text
    async with maker() as db:
        assert (await points.balance(db, world.cid, clerk)).available == 8
