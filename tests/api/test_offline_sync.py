"""Offline scanning over HTTP: the kit, signed codes, and a sync that applies each scan exactly once.

Every refusal is asserted with what a user would notice: the answer's code, the balances, the
attendance rows, the audit log, and ``ledger verify``."""

from __future__ import annotations

import secrets
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from service import clock
from service.accounts import service as accounts
from service.accounts.actor import Actor
from service.accounts.models import Member
from service.activities import codes
from service.activities import service as svc
from service.activities.models import Attendance, OfflineScan
from service.audit.models import AuditEvent
from service.kit import signing
from service.points import service as points
from tests.support.activities import create_activity as create
from tests.support.balances import api_available as balance
from tests.support.world import World

SEED = ""  # the tests' settings leave JIFEN_SIGNING_KEY unset: the generated key


def nonce() -> str:
    return secrets.token_hex(16)


async def crowd(maker: async_sessionmaker[AsyncSession], world: World, n: int) -> list[Actor]:
    rows = [accounts.ImportRow(i, f"16{i:09d}", f"村民{i}") for i in range(n)]
    async with maker() as db, db.begin():
        await accounts.import_members(db, world.cid, rows)
        members = list(
            await db.scalars(select(Member).where(Member.phone.like("16%")).order_by(Member.phone))
        )
    return [Actor(m.id, m.name, m.phone) for m in members]


async def card_codes(maker: async_sessionmaker[AsyncSession], world: World, people: list[Actor]) -> list[str]:
    async with maker() as db, db.begin():
        return [await codes.card_code(db, SEED, await svc.member_card(db, p, world.cid)) for p in people]


async def personal_codes(maker: async_sessionmaker[AsyncSession], people: list[Actor]) -> list[str]:
    async with maker() as db, db.begin():
        return [(await codes.personal_code(db, SEED, p.member_id))[0] for p in people]


def scan(aid: str, code: str, at: datetime, n: str | None = None) -> dict[str, Any]:
    return {"nonce": n or nonce(), "activity_id": aid, "code": code, "scanned_at": at.isoformat()}


async def sync(
    client: Any, world: World, scans: list[dict[str, Any]], device: str = "phone-a", **kw: Any
) -> Any:
    return await client.post(
        "/api/v1/scans/sync", json={"device_id": device, "scans": scans, **kw}, headers=world.h["organizer"]
    )


async def counts(maker: async_sessionmaker[AsyncSession], world: World) -> tuple[int, int, int, int]:
    """Attendances, offline scans, audit events, and whether the community's ledger verifies (1)."""
    async with maker() as db:
        att = await db.scalar(select(func.count(Attendance.id)))
        rows = await db.scalar(select(func.count(OfflineScan.id)))
        audit = await db.scalar(select(func.count(AuditEvent.id)))
        ok = (await points.verify(db, world.cid)).ok
    return int(att or 0), int(rows or 0), int(audit or 0), int(ok)


async def balances(maker: async_sessionmaker[AsyncSession], world: World, people: list[Actor]) -> list[int]:
    async with maker() as db:
        return [(await points.balance(db, world.cid, p.member_id)).available for p in people]


async def test_kit_lists_the_activity_roster_keys_and_revocations(
    client: Any, world: World, maker: Any
) -> None:
    a = await create(client, world)
    card = (await client.get(f"/api/v1/me/card?community_id={world.cid}", headers=world.h["bob"])).json()
    await client.post(f"/api/v1/me/card/revoke?community_id={world.cid}", headers=world.h["bob"])
    r = await client.get(f"/api/v1/activities/{a['id']}/offline-kit", headers=world.h["organizer"])
    assert r.status_code == 200, r.text
    kit = r.json()
    assert kit["format"] == 1 and kit["activity"]["id"] == a["id"] and kit["activity"]["points"] == 8
    assert kit["limits"]["clock_drift_max_seconds"] == 300
    bob = next(m for m in kit["roster"] if m["member_id"] == str(world.members["bob"].id))
    assert bob["card_version"] == 2 and bob["code_version"] == 1 and "*" in bob["name"]
    assert kit["revoked"] == [
        {"kind": 1, "community_id": str(world.cid), "member_id": str(world.members["bob"].id), "version": 1}
    ]
    # the old card's code verifies with the kit's key (it is genuine) but names a revoked version
    keys = {k["key_id"]: signing.unb64(k["public_key"]) or b"" for k in kit["keys"]}
    old = signing.verify_code(card["code"], keys)
    assert old is not None and old.version == 1 and old.member_id == world.members["bob"].id
    for who in ("alice", "clerk"):
        refused = await client.get(f"/api/v1/activities/{a['id']}/offline-kit", headers=world.h[who])
        assert refused.status_code == 403 and refused.json()["code"] == "forbidden"


async def test_personal_code_text_and_page(client: Any, world: World) -> None:
    r = await client.get("/api/v1/me/code", headers=world.h["alice"])
    assert r.status_code == 200
    body = r.json()
    assert len(body["code"]) == signing.CODE_CHARS and body["version"] == 1
    assert body["member_id"] == str(world.members["alice"].id)
    again = (await client.get("/api/v1/me/code", headers=world.h["alice"])).json()
    assert again["code"] == body["code"]  # the same code every time: a page cached offline stays right
    page = await client.get("/me/code", headers=world.h["alice"])
    assert page.status_code == 200 and body["code"] in page.text and "<svg" in page.text
    assert "max-age" in page.headers.get("cache-control", "")
    anonymous = await client.get("/api/v1/me/code")
    assert anonymous.status_code == 401


async def test_sync_applies_40_scans_once_and_a_resync_changes_nothing(
    client: Any, world: World, maker: async_sessionmaker[AsyncSession]
) -> None:
    now = clock.now()
    a = await create(
        client,
        world,
        starts_at=(now - timedelta(hours=1)).isoformat(),
        ends_at=(now + timedelta(hours=1)).isoformat(),
    )
    people = await crowd(maker, world, 40)
    texts = await card_codes(maker, world, people[:20]) + await personal_codes(maker, people[20:])
    scans = [scan(a["id"], t, now - timedelta(minutes=50)) for t in texts]
    scans += [
        scan(a["id"], f"https://x.example/m/{t}" if i < 20 else t, now - timedelta(minutes=20))
        for i, t in enumerate(texts)
    ]
    r = await sync(client, world, scans, sent_at=now.isoformat())
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [x["nonce"] for x in results] == [s["nonce"] for s in scans]
    assert {x["status"] for x in results} == {"applied"}, results
    assert await balances(maker, world, people) == [8] * 40
    before = await counts(maker, world)
    assert before[:2] == (40, 80) and before[3] == 1
    async with maker() as db:
        outs = list(await db.scalars(select(Attendance).where(Attendance.status == "out")))
    assert (
        len(outs) == 40 and {o.minutes for o in outs} == {30} and {o.device_id for o in outs} == {"phone-a"}
    )
    again = await sync(client, world, scans)
    assert again.status_code == 200
    assert {x["status"] for x in again.json()["results"]} == {"duplicate"}
    assert {x.get("attendance_id") for x in again.json()["results"]} == {str(o.id) for o in outs}
    assert await counts(maker, world) == before
    assert await balances(maker, world, people) == [8] * 40


async def test_two_devices_one_attendance_and_a_conflict_to_resolve(
    client: Any, world: World, maker: async_sessionmaker[AsyncSession]
) -> None:
    now = clock.now()
    a = await create(client, world, starts_at=(now - timedelta(hours=1)).isoformat())
    alice = world.actor("alice")
    (code,) = await personal_codes(maker, [alice])
    first = await sync(client, world, [scan(a["id"], code, now - timedelta(minutes=30))], device="door-1")
    second = await sync(client, world, [scan(a["id"], code, now - timedelta(minutes=29))], device="door-2")
    assert first.json()["results"][0]["status"] == "applied"
    refused = second.json()["results"][0]
    assert refused["status"] == "refused" and refused["code"] == "scan_conflict"
    assert refused["attendance_id"] == first.json()["results"][0]["attendance_id"]
    att, rows, _audit, ok = await counts(maker, world)
    assert (att, rows, ok) == (1, 2, 1)
    page = await client.get(f"/activities/{a['id']}", headers=world.h["organizer"])
    assert page.status_code == 200 and 'data-offline-status="conflict"' in page.text
    async with maker() as db:
        row = await db.scalar(select(OfflineScan).where(OfflineScan.status == "conflict"))
    assert row is not None
    done = await client.post(
        f"/api/v1/offline-scans/{row.id}/resolve", json={"action": "dismiss"}, headers=world.h["organizer2"]
    )
    assert done.status_code == 200 and done.json()["status"] == "dismissed"
    twice = await client.post(
        f"/api/v1/offline-scans/{row.id}/resolve", json={"action": "accept"}, headers=world.h["organizer"]
    )
    assert twice.status_code == 409 and twice.json()["code"] == "offline_scan_resolved"
    async with maker() as db:
        events = list(
            await db.scalars(select(AuditEvent).where(AuditEvent.action == "offline_scan_resolved"))
        )
    assert len(events) == 1 and events[0].detail["resolution"] == "dismissed"
    page = await client.get(f"/activities/{a['id']}", headers=world.h["organizer"])
    assert 'data-offline-status="conflict"' not in page.text


async def test_a_later_scan_on_another_device_checks_out(
    client: Any, world: World, maker: async_sessionmaker[AsyncSession]
) -> None:
    now = clock.now()
    a = await create(client, world, starts_at=(now - timedelta(hours=1)).isoformat())
    (code,) = await personal_codes(maker, [world.actor("carol")])
    await sync(client, world, [scan(a["id"], code, now - timedelta(minutes=40))], device="door-1")
    out = await sync(client, world, [scan(a["id"], code, now - timedelta(minutes=10))], device="door-2")
    assert out.json()["results"][0]["status"] == "applied"
    assert await balance(client, world, "carol") == 8


async def test_revoked_card_refused_and_nothing_posted(
    client: Any, world: World, maker: async_sessionmaker[AsyncSession]
) -> None:
    now = clock.now()
    a = await create(client, world, starts_at=(now - timedelta(hours=1)).isoformat())
    old = (await client.get(f"/api/v1/me/card?community_id={world.cid}", headers=world.h["bob"])).json()
    new = (
        await client.post(f"/api/v1/me/card/revoke?community_id={world.cid}", headers=world.h["bob"])
    ).json()
    assert new["version"] == old["version"] + 1 and new["code"] != old["code"]
    before = await counts(maker, world)
    r = await sync(
        client,
        world,
        [
            scan(a["id"], old["code"], now - timedelta(minutes=40)),
            scan(a["id"], old["code"], now - timedelta(minutes=5)),
        ],
    )
    assert [(x["status"], x.get("code")) for x in r.json()["results"]] == [("refused", "card_revoked")] * 2
    after = await counts(maker, world)
    assert after[0] == before[0] and after[1] == before[1] + 2 and after[3] == 1
    assert await balance(client, world, "bob") == 0
    online = await client.post(
        f"/api/v1/activities/{a['id']}/card-scans",
        json={"card_token": old["code"]},
        headers=world.h["organizer"],
    )
    assert online.status_code == 404 and online.json()["code"] == "card_invalid"
    ok = await client.post(
        f"/api/v1/activities/{a['id']}/card-scans",
        json={"card_token": new["code"]},
        headers=world.h["organizer"],
    )
    assert ok.status_code == 200 and ok.json()["member_id"] == str(world.members["bob"].id)
    legacy = await client.post(
        f"/api/v1/activities/{a['id']}/card-scans",
        json={"card_token": new["token"]},
        headers=world.h["organizer"],
    )
    assert legacy.status_code == 200 and legacy.json()["repeated"] is True


async def test_refusals_drift_window_forged_and_not_a_member(
    client: Any, world: World, maker: async_sessionmaker[AsyncSession]
) -> None:
    now = clock.now()
    a = await create(client, world)
    (code,) = await personal_codes(maker, [world.actor("alice")])
    assert world.root is not None  # the platform admin: a member of no community
    (root_code,) = await personal_codes(maker, [world.root])
    forged = code[:-4] + ("AAAA" if not code.endswith("AAAA") else "BBBB")
    before = await counts(maker, world)
    r = await sync(
        client,
        world,
        [
            scan(a["id"], code, now + timedelta(minutes=20)),
            scan(a["id"], code, now - timedelta(hours=3)),
            scan(a["id"], forged, now),
            scan(a["id"], "not-a-card", now),
            scan(a["id"], root_code, now),
        ],
    )
    assert [x.get("code") for x in r.json()["results"]] == [
        "clock_drift",
        "outside_window",
        "code_invalid",
        "code_invalid",
        "not_a_member",
    ]
    drift = await sync(
        client, world, [scan(a["id"], code, now)], sent_at=(now + timedelta(hours=1)).isoformat()
    )
    assert drift.json()["results"][0]["code"] == "clock_drift"
    after = await counts(maker, world)
    assert after[0] == before[0] == 0 and after[1] == 6 and after[3] == 1
    assert await balance(client, world, "alice") == 0


async def test_bad_uploads_are_problems_and_change_nothing(
    client: Any, world: World, maker: async_sessionmaker[AsyncSession]
) -> None:
    a = await create(client, world)
    now = clock.now()
    same = nonce()
    bad = [
        {"device_id": "d", "scans": [scan(a["id"], "x", now, "short")]},
        {"device_id": "d", "scans": [scan(a["id"], "x", now, same), scan(a["id"], "y", now, same)]},
        {"device_id": "d", "scans": [scan(a["id"], "x", now) for _ in range(201)]},
        {"device_id": "d", "scans": []},
        {"device_id": "a b", "scans": [scan(a["id"], "x", now)]},
        {"device_id": "d", "scans": [{**scan(a["id"], "x", now), "scanned_at": "2026-01-01T10:00:00"}]},
        {"device_id": "d", "scans": [{**scan(a["id"], "x", now), "extra": 1}]},
        {"scans": [scan(a["id"], "x", now)]},
    ]
    for body in bad:
        r = await client.post("/api/v1/scans/sync", json=body, headers=world.h["organizer"])
        assert r.status_code in (400, 422), (body, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
    unknown = await sync(client, world, [scan(str(uuid.uuid4()), "x", now)])
    assert unknown.status_code == 404 and unknown.json()["code"] == "activity_not_found"
    member = await client.post(
        "/api/v1/scans/sync",
        json={"device_id": "d", "scans": [scan(a["id"], "x", now)]},
        headers=world.h["alice"],
    )
    assert member.status_code == 403
    assert (await counts(maker, world))[:2] == (0, 0)


async def test_accepting_a_refusal_that_still_holds_changes_nothing(
    client: Any, world: World, maker: async_sessionmaker[AsyncSession]
) -> None:
    now = clock.now()
    a = await create(client, world, starts_at=(now - timedelta(hours=1)).isoformat())
    old = (await client.get(f"/api/v1/me/card?community_id={world.cid}", headers=world.h["bob"])).json()
    await client.post(f"/api/v1/me/card/revoke?community_id={world.cid}", headers=world.h["bob"])
    await sync(client, world, [scan(a["id"], old["code"], now - timedelta(minutes=40))])
    listed = await client.get(f"/api/v1/activities/{a['id']}/offline-scans", headers=world.h["organizer"])
    assert listed.status_code == 200
    (row,) = listed.json()
    assert row["status"] == "refused" and row["code"] == "card_revoked" and row["name"] == "bob"
    before = await counts(maker, world)
    r = await client.post(
        f"/api/v1/offline-scans/{row['id']}/resolve", json={"action": "accept"}, headers=world.h["organizer2"]
    )
    assert r.status_code == 409 and r.json()["code"] == "card_revoked"
    assert await counts(maker, world) == before
    assert (
        len(
            (
                await client.get(f"/api/v1/activities/{a['id']}/offline-scans", headers=world.h["organizer"])
            ).json()
        )
        == 1
    )
    assert await balance(client, world, "bob") == 0


async def test_a_conflict_of_ones_own_scan_is_resolved_by_another_organizer(
    client: Any, world: World, maker: async_sessionmaker[AsyncSession]
) -> None:
    now = clock.now()
    a = await create(client, world, starts_at=(now - timedelta(hours=1)).isoformat())
    (code,) = await personal_codes(maker, [world.actor("organizer")])
    first = await sync(client, world, [scan(a["id"], code, now - timedelta(minutes=30))], device="door-1")
    await sync(client, world, [scan(a["id"], code, now - timedelta(minutes=28))], device="door-2")
    (row,) = (
        await client.get(f"/api/v1/activities/{a['id']}/offline-scans", headers=world.h["organizer"])
    ).json()
    assert row["status"] == "conflict" and row["code"] == "scan_conflict"
    own = await client.post(
        f"/api/v1/offline-scans/{row['id']}/resolve", json={"action": "accept"}, headers=world.h["organizer"]
    )
    assert own.status_code == 409 and own.json()["code"] == "offline_scan_resolved"
    ok = await client.post(
        f"/api/v1/offline-scans/{row['id']}/resolve", json={"action": "accept"}, headers=world.h["organizer2"]
    )
    assert ok.status_code == 200 and ok.json()["status"] == "accepted"
    assert ok.json()["attendance_id"] == first.json()["results"][0]["attendance_id"]
    att, rows, _audit, verified = await counts(maker, world)
    assert (att, rows, verified) == (1, 2, 1)
    bad = await client.post(
        f"/api/v1/offline-scans/{row['id']}/resolve", json={"action": "maybe"}, headers=world.h["organizer2"]
    )
    assert bad.status_code in (400, 422)
    missing = await client.post(
        f"/api/v1/offline-scans/{uuid.uuid4()}/resolve",
        json={"action": "dismiss"},
        headers=world.h["organizer2"],
    )
    assert missing.status_code == 404 and missing.json()["code"] == "offline_scan_not_found"


async def test_a_replaced_personal_code_is_revoked(
    client: Any, world: World, maker: async_sessionmaker[AsyncSession]
) -> None:
    now = clock.now()
    a = await create(client, world, starts_at=(now - timedelta(hours=1)).isoformat())
    old = (await client.get("/api/v1/me/code", headers=world.h["carol"])).json()
    new = (await client.post("/api/v1/me/code/revoke", headers=world.h["carol"])).json()
    assert new["version"] == old["version"] + 1 and new["code"] != old["code"]
    kit = (await client.get(f"/api/v1/activities/{a['id']}/offline-kit", headers=world.h["organizer"])).json()
    carol = str(world.members["carol"].id)
    assert {"kind": 2, "community_id": None, "member_id": carol, "version": 1} in kit["revoked"]
    assert next(m for m in kit["roster"] if m["member_id"] == carol)["code_version"] == 2
    r = await sync(
        client,
        world,
        [
            scan(a["id"], old["code"], now - timedelta(minutes=40)),
            scan(a["id"], new["code"], now - timedelta(minutes=39)),
        ],
    )
    assert [(x["status"], x.get("code")) for x in r.json()["results"]] == [
        ("refused", "card_revoked"),
        ("applied", None),
    ]
    page = await client.get("/me/code", headers=world.h["carol"])
    assert new["code"] in page.text and old["code"] not in page.text


async def test_scans_uploaded_after_the_close_count_if_made_before_it(
    client: Any, world: World, maker: async_sessionmaker[AsyncSession]
) -> None:
    """The organizer closes while the scanner still holds its queue (no signal at the square): what was
    scanned before the close counts on upload, with its own times; someone it left checked in is
    checked out as the close did and paid; a scan after the close is refused with nothing posted."""
    now = clock.now()
    a = await create(
        client,
        world,
        starts_at=(now - timedelta(hours=2)).isoformat(),
        ends_at=(now + timedelta(hours=1)).isoformat(),
    )
    people = await crowd(maker, world, 3)
    stays, stays_in, too_late = await personal_codes(maker, people)
    closed = await client.post(f"/api/v1/activities/{a['id']}/close", headers=world.h["organizer"])
    assert closed.status_code == 200 and closed.json()["checked_out"] == 0
    clock.advance(timedelta(minutes=30))  # the scanner finds a signal half an hour later
    scans = [
        scan(a["id"], stays, now - timedelta(minutes=100)),
        scan(a["id"], stays, now - timedelta(minutes=40)),
        scan(a["id"], stays_in, now - timedelta(minutes=70)),
        scan(a["id"], too_late, now + timedelta(minutes=10)),
    ]
    before_audit = (await counts(maker, world))[2]
    r = await sync(client, world, scans)
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [x["status"] for x in results] == ["applied", "applied", "applied", "refused"], results
    assert results[3]["code"] == "activity_not_open"
    assert await balances(maker, world, people) == [8, 8, 0]
    async with maker() as db:
        atts = {
            att.member_id: att
            for att in await db.scalars(
                select(Attendance).where(Attendance.activity_id == uuid.UUID(a["id"]))
            )
        }
        events = list(await db.scalars(select(AuditEvent).where(AuditEvent.action == "offline_scans_synced")))
    assert set(atts) == {people[0].member_id, people[1].member_id}
    first, second = atts[people[0].member_id], atts[people[1].member_id]
    assert (first.status, first.minutes, first.points) == ("out", 60, 8)
    assert (second.status, second.minutes, second.points) == ("out", 70, 8)  # out at the close
    assert len(events) == 1 and events[0].detail["after_close"]["checked_out"] == 1
    after = await counts(maker, world)
    assert after[:2] == (2, 4) and after[2] == before_audit + 1 and after[3] == 1
    again = await sync(client, world, scans)
    assert [x["status"] for x in again.json()["results"]] == ["duplicate"] * 4
    assert await counts(maker, world) == after and await balances(maker, world, people) == [8, 8, 0]


async def test_scans_of_an_activity_closed_for_nobody_count_the_next_morning(
    client: Any, world: World, maker: async_sessionmaker[AsyncSession]
) -> None:
    """Nobody closed it: the periodic job closes it six hours after its end; the scanner uploads the
    next morning and its volunteers are paid up to the end."""
    now = clock.now()
    a = await create(
        client,
        world,
        starts_at=(now - timedelta(hours=2)).isoformat(),
        ends_at=(now - timedelta(minutes=30)).isoformat(),
    )
    (code,) = await personal_codes(maker, [world.actor("carol")])
    clock.advance(timedelta(seconds=svc.AUTO_CLOSE_AFTER_SECONDS + 3600))
    assert await svc.close_overdue(maker) == 1
    r = await sync(client, world, [scan(a["id"], code, now - timedelta(minutes=90))])
    assert r.json()["results"][0]["status"] == "applied", r.text
    assert await balance(client, world, "carol") == 8
    async with maker() as db:
        att = await db.scalar(select(Attendance).where(Attendance.activity_id == uuid.UUID(a["id"])))
    assert att is not None and (att.status, att.minutes) == ("out", 60)
