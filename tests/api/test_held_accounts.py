"""The second person is a person (issue 19): an account whose password was set with a code a community
admin issued is *held* by that admin. It decides nothing for others (``account_held``) and its holder
decides nothing for it (an award to it waits for another admin, a dispatch or an approval is refused),
until the person sets a new password with an SMS code sent to their own phone. Every refusal changes
nothing: the record stays pending, no points move, no audit event is written."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from service import clock
from service.accounts.models import Member
from service.activities.models import Activity, Attendance
from service.audit.models import AuditEvent
from service.points import service as points
from tests.support.activities import create_activity
from tests.support.problems import problem
from tests.support.sms import texted_code
from tests.support.world import World

PHONE = "15900000301"
PASSWORD = "my-own-pass-1"


async def _open_with_admins_code(client: Any, world: World, issuer: str = "admin") -> tuple[uuid.UUID, str]:
    """``issuer`` adds an organizer and issues the code; the person opens the account with it."""
    r = await client.post(
        f"/api/v1/communities/{world.cid}/members",
        headers=world.h[issuer],
        json={"phone": PHONE, "name": "小马", "role": "organizer"},
    )
    assert r.status_code == 201, r.text
    mid = uuid.UUID(r.json()["id"])
    code = await client.post(
        f"/api/v1/communities/{world.cid}/members/{mid}/activation", headers=world.h[issuer]
    )
    assert code.status_code == 201, code.text
    opened = await client.post(
        "/api/v1/auth/activate", json={"code": code.json()["code"], "password": PASSWORD}
    )
    assert opened.status_code == 200, opened.text
    return mid, str(opened.json()["token"])


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _state(maker: Any, world: World, att_id: str, mid: uuid.UUID) -> tuple[Any, ...]:
    async with maker() as db:
        att = await db.get(Attendance, uuid.UUID(att_id))
        assert att is not None
        events = int(await db.scalar(select(func.count()).select_from(AuditEvent)) or 0)
        carol = (await points.balance(db, world.cid, world.members["carol"].id)).available
        mine = (await points.balance(db, world.cid, mid)).available
        return att.status, att.approved_by, events, carol, mine


async def test_a_held_organizer_decides_nothing_until_they_secure_the_account_by_sms(
    client: Any, world: World, maker: Any
) -> None:
    mid, token = await _open_with_admins_code(client, world)
    me = await client.get("/api/v1/me", headers=_bearer(token))
    assert me.json()["held"] is True
    async with maker() as db:
        assert await db.scalar(select(Member.held_by).where(Member.id == mid)) == world.members["admin"].id

    activity = await create_activity(client, world, points=8)
    now = clock.now()
    body = {
        "member_id": str(world.members["carol"].id),
        "checked_in_at": (now - timedelta(minutes=30)).isoformat(),
        "checked_out_at": now.isoformat(),
        "note": "老人没有手机",
    }
    r = await client.post(
        f"/api/v1/activities/{activity['id']}/manual-checkins", json=body, headers=world.h["organizer"]
    )
    assert r.status_code == 202, r.text
    att_id = r.json()["id"]

    # The held organizer is the "second organizer": refused, nothing changed.
    before = await _state(maker, world, att_id, mid)
    refused = await client.post(f"/api/v1/attendance/{att_id}/approve", headers=_bearer(token))
    problem(refused, 403, "account_held")
    assert await _state(maker, world, att_id, mid) == before

    # The holder awards the held account: it waits for another admin, however small.
    award = await client.post(
        f"/api/v1/communities/{world.cid}/awards",
        json={"member_id": str(mid), "points": 5, "reason": "表彰"},
        headers=world.h["admin"],
    )
    assert award.status_code == 202 and award.json()["status"] == "pending_approval", award.text
    assert (await _state(maker, world, att_id, mid))[4] == 0

    # A wrong SMS code secures nothing.
    code = await texted_code(client, PHONE)
    wrong = await client.post(
        "/api/v1/me/password/sms", json={"code": "000000", "password": "new-pass-22"}, headers=_bearer(token)
    )
    problem(wrong, 401, "sms_code_invalid")
    assert (await client.get("/api/v1/me", headers=_bearer(token))).json()["held"] is True

    # The person sets a new password with the code texted to their own phone.
    secured = await client.post(
        "/api/v1/me/password/sms", json={"code": code, "password": "new-pass-22"}, headers=_bearer(token)
    )
    assert secured.status_code == 200, secured.text
    assert secured.json()["member"]["held"] is False
    stale = await client.get("/api/v1/me", headers=_bearer(token))
    assert stale.status_code == 401, stale.text  # the old login ended
    fresh = _bearer(secured.json()["token"])
    login = await client.post("/api/v1/auth/login", json={"phone": PHONE, "password": PASSWORD})
    assert login.status_code == 401  # the password the code set (which its issuer could know) is gone

    ok = await client.post(f"/api/v1/attendance/{att_id}/approve", headers=fresh)
    assert ok.status_code == 200, ok.text
    status, approved_by, *_, carol, _mine = await _state(maker, world, att_id, mid)
    assert (status, approved_by) == ("out", mid) and carol > 0
    again = await client.post(
        f"/api/v1/communities/{world.cid}/awards",
        json={"member_id": str(mid), "points": 5, "reason": "表彰"},
        headers=world.h["admin"],
    )
    assert again.status_code == 201 and again.json()["status"] == "posted", again.text
    async with maker() as db:
        assert await db.scalar(select(Member.held_by).where(Member.id == mid)) is None
        secured_events = await db.scalar(
            select(func.count()).where(AuditEvent.action == "account_secured", AuditEvent.actor_id == mid)
        )
        assert secured_events == 1


async def test_the_holder_approves_no_activity_the_held_account_created(
    client: Any, world: World, maker: Any
) -> None:
    """The held organizer creates an activity over the cap; the admin who holds it may not approve it
    (another admin may)."""
    _mid, token = await _open_with_admins_code(client, world)
    now = clock.now()
    body = {
        "title": "大扫除",
        "starts_at": (now - timedelta(minutes=5)).isoformat(),
        "ends_at": (now + timedelta(hours=2)).isoformat(),
        "points_mode": "per_attendance",
        "points": 1000,
    }
    r = await client.post(f"/api/v1/communities/{world.cid}/activities", json=body, headers=_bearer(token))
    assert r.status_code == 201 and r.json()["status"] == "pending_approval", r.text
    aid = r.json()["id"]
    refused = await client.post(f"/api/v1/activities/{aid}/approve", headers=world.h["admin"])
    problem(refused, 403, "creator_conflict")
    async with maker() as db:
        row = await db.get(Activity, uuid.UUID(aid))
        assert row is not None and (row.status, row.approved_by) == ("pending_approval", None)
    ok = await client.post(f"/api/v1/activities/{aid}/approve", headers=world.h["admin2"])
    assert ok.status_code == 200 and ok.json()["status"] == "open", ok.text


async def test_a_platform_admins_code_holds_nobody(client: Any, world: World) -> None:
    """The platform admin is the root of trust: an account opened with its code is the person's own."""
    _mid, token = await _open_with_admins_code(client, world, issuer="root")
    assert (await client.get("/api/v1/me", headers=_bearer(token))).json()["held"] is False
