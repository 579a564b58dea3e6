"""Corrections of attendance records over HTTP (issue 21 item 4): the volunteer asks, with a reason; an
organizer other than them decides; the record takes the corrected times and the points follow (issued,
or taken back never below zero); both acts are in the audit log; every refusal changes nothing."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from service import clock
from service.accounts import service as accounts
from service.activities.models import Attendance, AttendanceCorrection
from service.audit.models import AuditEvent
from service.points import service as points
from tests.support.activities import create_activity
from tests.support.balances import api_available
from tests.support.problems import problem
from tests.support.summaries import assert_summary_equals_rebuild
from tests.support.world import SECRET, World


async def _card_scan(client: Any, world: World, aid: str, who: str = "alice") -> dict[str, Any]:
    card = await client.get("/api/v1/me/card", headers=world.h[who], params={"community_id": str(world.cid)})
    r = await client.post(
        f"/api/v1/activities/{aid}/card-scans",
        json={"card_token": card.json()["token"]},
        headers=world.h["organizer"],
    )
    assert r.status_code == 200, r.text
    return dict(r.json())


async def _state(maker: Any, att_id: str) -> tuple[Any, ...]:
    async with maker() as db:
        att = await db.get(Attendance, uuid.UUID(att_id))
        assert att is not None
        corrections = await db.scalar(select(func.count()).select_from(AttendanceCorrection))
        events = await db.scalar(select(func.count()).select_from(AuditEvent))
        return att.status, att.checked_in_at, att.checked_out_at, att.points, corrections, events


async def test_a_missed_check_out_is_corrected_by_another_organizer_and_paid_once(
    client: Any, world: World, maker: Any
) -> None:
    now = clock.now()
    activity = await create_activity(
        client, world, starts_at=(now - timedelta(hours=1)).isoformat(), points=8
    )
    scan = await _card_scan(client, world, activity["id"])
    att_id = scan["attendance_id"]
    url = f"/api/v1/attendance/{att_id}/corrections"
    body = {
        "checked_in_at": (now - timedelta(minutes=50)).isoformat(),
        "checked_out_at": (now - timedelta(minutes=1)).isoformat(),
        "reason": "走时忘记签退",
    }
    before = await _state(maker, att_id)
    # Refused, nothing changed: someone else's record, a check-out in the future, times out of order.
    problem(await client.post(url, json=body, headers=world.h["bob"]), 403, "not_your_attendance")
    future = body | {"checked_out_at": (now + timedelta(hours=1)).isoformat()}
    problem(await client.post(url, json=future, headers=world.h["alice"]), 422, "invalid_correction")
    backwards = body | {"checked_out_at": (now - timedelta(minutes=55)).isoformat()}
    problem(await client.post(url, json=backwards, headers=world.h["alice"]), 422, "invalid_correction")
    assert await _state(maker, att_id) == before

    asked = await client.post(url, json=body, headers=world.h["alice"])
    assert asked.status_code == 201 and asked.json()["status"] == "pending", asked.text
    cid = asked.json()["id"]
    problem(await client.post(url, json=body, headers=world.h["alice"]), 409, "correction_pending")
    listed = await client.get(
        f"/api/v1/communities/{world.cid}/corrections?status=pending", headers=world.h["organizer"]
    )
    assert [c["id"] for c in listed.json()] == [cid]
    mine = await client.get("/api/v1/me/corrections", headers=world.h["alice"])
    assert [c["id"] for c in mine.json()] == [cid]

    # Alice is no organizer; the request changes nothing until one decides.
    problem(
        await client.post(f"/api/v1/corrections/{cid}/approve", headers=world.h["alice"]), 403, "forbidden"
    )
    assert await api_available(client, world, "alice") == 0
    ok = await client.post(
        f"/api/v1/corrections/{cid}/approve", json={"note": "核实"}, headers=world.h["organizer"]
    )
    assert ok.status_code == 200 and ok.json()["status"] == "approved", ok.text
    assert ok.json()["new_points"] == 8 and ok.json()["old_points"] == 0
    again = await client.post(f"/api/v1/corrections/{cid}/approve", headers=world.h["organizer2"])
    problem(again, 409, "correction_not_pending")
    assert await api_available(client, world, "alice") == 8
    async with maker() as db:
        att = await db.get(Attendance, uuid.UUID(att_id))
        assert att is not None and (att.status, att.minutes, att.points) == ("out", 49, 8)
        actions = list(
            await db.scalars(
                select(AuditEvent.action)
                .where(AuditEvent.action.like("correction_%"))
                .order_by(AuditEvent.created_at)
            )
        )
        assert actions == ["correction_requested", "correction_approved"]
        assert len(await points.transfers_for_ref(db, world.cid, "attendance", att_id)) == 1
        assert (await points.verify(db, world.cid)).ok
        await assert_summary_equals_rebuild(db, non_empty=True)
        await db.rollback()


async def test_corrected_times_move_the_points_both_ways(client: Any, world: World, maker: Any) -> None:
    t0 = clock.now()
    clock.set_now(t0)
    activity = await create_activity(
        client,
        world,
        starts_at=(t0 - timedelta(hours=1)).isoformat(),
        ends_at=(t0 + timedelta(hours=3)).isoformat(),
        points_mode="per_hour",
        points=12,
        points_max=100,
    )
    att_id = (await _card_scan(client, world, activity["id"]))["attendance_id"]
    clock.advance(timedelta(minutes=90))
    out = await _card_scan(client, world, activity["id"])
    assert out["status"] == "checked_out" and out["points_awarded"] == 18
    url = f"/api/v1/attendance/{att_id}/corrections"

    # She came half an hour earlier than she scanned: 120 minutes, 24 points, 6 more.
    body = {
        "checked_in_at": (t0 - timedelta(minutes=30)).isoformat(),
        "checked_out_at": (t0 + timedelta(minutes=90)).isoformat(),
        "reason": "提前到场",
    }
    cid = (await client.post(url, json=body, headers=world.h["alice"])).json()["id"]
    ok = await client.post(f"/api/v1/corrections/{cid}/approve", headers=world.h["organizer2"])
    assert ok.status_code == 200 and ok.json()["new_points"] == 24, ok.text
    assert await api_available(client, world, "alice") == 24

    # Then found she left after 30 minutes: 6 points; 18 are taken back.
    body = {
        "checked_in_at": t0.isoformat(),
        "checked_out_at": (t0 + timedelta(minutes=30)).isoformat(),
        "reason": "记录有误",
    }
    cid = (await client.post(url, json=body, headers=world.h["alice"])).json()["id"]
    # The organizer who holds a grudge cannot be refused silently: a rejection needs a note.
    problem(
        await client.post(
            f"/api/v1/corrections/{cid}/reject", json={"note": ""}, headers=world.h["organizer"]
        ),
        422,
        "invalid_note",
    )
    ok = await client.post(f"/api/v1/corrections/{cid}/approve", headers=world.h["organizer"])
    assert ok.status_code == 200 and ok.json()["new_points"] == 6, ok.text
    assert await api_available(client, world, "alice") == 6
    async with maker() as db:
        codes = sorted(
            (t.code, t.points) for t in await points.transfers_for_ref(db, world.cid, "attendance", att_id)
        )
        assert codes == [("checkin", 18), ("correction", 6), ("correction", 18)]
        assert (await points.verify(db, world.cid)).ok
        await assert_summary_equals_rebuild(db, non_empty=True)
        await db.rollback()


async def _pending_correction(client: Any, world: World) -> tuple[str, str]:
    """Alice checked in an hour-long activity and asks for a check-out now: (attendance id, correction id)."""
    now = clock.now()
    activity = await create_activity(
        client, world, starts_at=(now - timedelta(hours=1)).isoformat(), points=8
    )
    att_id = (await _card_scan(client, world, activity["id"]))["attendance_id"]
    body = {
        "checked_in_at": (now - timedelta(minutes=50)).isoformat(),
        "checked_out_at": now.isoformat(),
        "reason": "忘记签退",
    }
    asked = await client.post(f"/api/v1/attendance/{att_id}/corrections", json=body, headers=world.h["alice"])
    assert asked.status_code == 201 and asked.json()["status"] == "pending", asked.text
    return att_id, str(asked.json()["id"])


async def test_a_rejected_correction_changes_nothing(client: Any, world: World, maker: Any) -> None:
    att_id, cid = await _pending_correction(client, world)
    before = await _state(maker, att_id)
    r = await client.post(
        f"/api/v1/corrections/{cid}/reject", json={"note": "当天未见到本人"}, headers=world.h["organizer"]
    )
    assert r.status_code == 200 and r.json()["status"] == "rejected", r.text
    after = await _state(maker, att_id)
    assert after[:4] == before[:4] and after[5] == before[5] + 1  # the record as it was; one more event
    assert await api_available(client, world, "alice") == 0


async def test_an_organizer_of_another_community_cannot_decide_a_real_correction(
    client: Any, world: World, maker: Any
) -> None:
    """A pending correction of this community, seen by an organizer of a neighbour community: neither
    approval nor rejection reaches it, and the record, the balance and the audit log stay as they were."""
    att_id, cid = await _pending_correction(client, world)
    async with maker() as db:
        assert world.root is not None
        other = await accounts.create_community(db, world.root, "邻居社区", "neighbour-community")
        stranger = await accounts.add_member(
            db, world.root, other.id, "13800000099", "邻社区组织者", None, "organizer"
        )
        await db.commit()
    h = {"Authorization": f"Bearer {accounts.issue_token(stranger, SECRET)}"}
    before = await _state(maker, att_id)
    for verb, payload in (("approve", {"note": "核实"}), ("reject", {"note": "不认识此人"})):
        r = await client.post(f"/api/v1/corrections/{cid}/{verb}", json=payload, headers=h)
        assert r.status_code in (403, 404), r.text
        assert r.headers["content-type"].startswith("application/problem+json")
    listed = await client.get(f"/api/v1/communities/{world.cid}/corrections", headers=h)
    assert listed.status_code == 403, listed.text
    assert await _state(maker, att_id) == before
    assert await api_available(client, world, "alice") == 0
    mine = await client.get("/api/v1/me/corrections", headers=world.h["alice"])
    assert [c["status"] for c in mine.json()] == ["pending"]
