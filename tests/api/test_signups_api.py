"""Verified sign-ups over HTTP (issue 19): a sign-up needs the phone's SMS code, the answers do not tell
whether a phone has an account, an unverified account is never joined by an admin's add, and an
invitation code is re-checked when it is used. Every refusal changes nothing."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select, update

from service import clock
from service.accounts.models import Activation, Member, Membership
from service.activities.models import Activity
from service.audit.models import AuditEvent
from tests.support.activities import create_activity, freeze_at_step_start
from tests.support.problems import problem
from tests.support.sms import texted_code
from tests.support.world import World

PASSWORD = "my-own-pass-1"


async def snapshot(maker: Any) -> tuple[int, int, int, list[tuple[str, str | None]]]:
    async with maker() as db:
        members = int(await db.scalar(select(func.count()).select_from(Member)) or 0)
        roles = int(await db.scalar(select(func.count()).select_from(Membership)) or 0)
        events = int(await db.scalar(select(func.count()).select_from(AuditEvent)) or 0)
        people = [(m.phone, m.password_hash) for m in await db.scalars(select(Member).order_by(Member.phone))]
        return members, roles, events, people


def without_volatile(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k not in {"token", "member"}}


async def test_register_answers_alike_for_a_phone_with_or_without_an_account(
    client: Any, world: World, maker: Any
) -> None:
    other = await client.post(
        "/api/v1/communities", headers=world.h["root"], json={"name": "第二社区", "code": "second"}
    )
    assert other.status_code == 201, other.text
    cid2 = other.json()["id"]
    base = {"name": "冒名", "password": "attacker-pass-1", "community_id": cid2}
    before = await snapshot(maker)
    refusals = []
    for phone in ("13900000001", "15800000101"):  # alice has an account; the other phone has none
        for extra in ({}, {"sms_code": "000000"}):
            r = await client.post("/api/v1/auth/register", json={**base, "phone": phone, **extra})
            refusals.append((r.status_code, r.json()["code"], r.json()["detail"]))
    assert refusals[0] == refusals[2] and refusals[1] == refusals[3], refusals
    assert [r[1] for r in refusals[:2]] == ["sms_code_required", "sms_code_invalid"]
    assert await snapshot(maker) == before

    known = await client.post(
        "/api/v1/auth/register",
        json={**base, "phone": "13900000001", "sms_code": await texted_code(client, "13900000001")},
    )
    unknown = await client.post(
        "/api/v1/auth/register",
        json={**base, "phone": "15800000101", "sms_code": await texted_code(client, "15800000101")},
    )
    assert known.status_code == unknown.status_code == 201, (known.text, unknown.text)
    assert without_volatile(known.json()) == without_volatile(unknown.json()) == {"status": "joined"}
    # The real alice is not stuck: the code proved the phone is hers, she is logged in and joined; her
    # name and password stay what they were (the sign-up form's are ignored for an existing account).
    assert known.json()["member"]["name"] == "alice"
    ok = await client.post("/api/v1/auth/login", json={"phone": "13900000001", "password": "attacker-pass-1"})
    assert ok.status_code == 401
    roles = {(r["community_id"], r["role"]) for r in known.json()["member"]["roles"]}
    assert (cid2, "member") in roles and (str(world.cid), "member") in roles


async def test_an_unverified_account_is_never_joined_by_an_admins_add(
    client: Any, world: World, maker: Any
) -> None:
    """An account made by a password-only sign-up (before codes were required) for a phone its maker
    never proved: adding that phone as clerk would hand him the clerk's login."""
    async with maker() as db:
        db.add(Member(phone="15800000202", name="抢注", password_hash="x", phone_verified_at=None))
        await db.commit()
    before = await snapshot(maker)
    url = f"/api/v1/communities/{world.cid}/members"
    body = {"phone": "15800000202", "name": "王店员", "role": "clerk"}
    for who in ("admin", "root"):
        problem(await client.post(url, headers=world.h[who], json=body), 409, "unverified_account")
    csv = "phone,name\n15800000202,王店员\n"
    r = await client.post(
        f"{url}/import", headers={**world.h["admin"], "Content-Type": "text/csv"}, content=csv.encode()
    )
    assert r.status_code == 200 and r.json()["created"] == r.json()["updated"] == 0, r.text
    after = await snapshot(maker)
    assert after[:2] == before[:2] and after[3] == before[3]  # nobody joined; the import's own event only
    # The person who really holds the phone logs in by SMS once; then the add works.
    login = await client.post(
        "/api/v1/auth/sms-login",
        json={"phone": "15800000202", "code": await texted_code(client, "15800000202")},
    )
    assert login.status_code == 200, login.text
    assert (await client.post(url, headers=world.h["admin"], json=body)).status_code == 201


async def _issue_code(client: Any, world: World, name: str) -> str:
    r = await client.post(
        f"/api/v1/communities/{world.cid}/members/{world.members[name].id}/activation",
        headers=world.h["admin"],
    )
    assert r.status_code == 201, r.text
    return str(r.json()["code"])


async def _password_of(maker: Any, member_id: uuid.UUID) -> str | None:
    async with maker() as db:
        return await db.scalar(select(Member.password_hash).where(Member.id == member_id))


async def test_a_code_is_void_once_its_persons_roles_change(client: Any, world: World, maker: Any) -> None:
    """The admin issues alice a code while she is a plain member; a platform admin then makes her a
    reviewer. The admin would hold a reviewer's login: the code no longer opens the account."""
    code = await _issue_code(client, world, "alice")
    r = await client.post(
        f"/api/v1/communities/{world.cid}/members",
        headers=world.h["root"],
        json={"phone": "13900000001", "name": "alice", "role": "reviewer"},
    )
    assert r.status_code == 201, r.text
    alice = world.members["alice"].id
    before = await _password_of(maker, alice)
    shown = await client.get(f"/api/v1/auth/activations/{code}")
    problem(shown, 422, "activation_invalid")
    problem(
        await client.post("/api/v1/auth/activate", json={"code": code, "password": "admin-chose-1"}),
        422,
        "activation_invalid",
    )
    assert await _password_of(maker, alice) == before
    # A code a platform admin issues now works (and is issued for her roles as they are).
    fresh = await client.post(
        f"/api/v1/communities/{world.cid}/members/{alice}/activation", headers=world.h["root"]
    )
    done = await client.post(
        "/api/v1/auth/activate", json={"code": fresh.json()["code"], "password": PASSWORD}
    )
    assert done.status_code == 200, done.text


async def test_a_code_is_rechecked_against_the_rule_it_was_issued_under(
    client: Any, world: World, maker: Any
) -> None:
    """The admin who issued bob's card is no longer an admin when bob uses it: the card is void."""
    code = await _issue_code(client, world, "bob")
    r = await client.delete(
        f"/api/v1/communities/{world.cid}/members/{world.members['admin'].id}/roles/admin",
        headers=world.h["root"],
    )
    assert r.status_code == 200, r.text
    bob = world.members["bob"].id
    before = await _password_of(maker, bob)
    problem(
        await client.post("/api/v1/auth/activate", json={"code": code, "password": "admin-chose-1"}),
        422,
        "activation_invalid",
    )
    assert await _password_of(maker, bob) == before


async def test_a_code_is_void_when_roles_change_by_any_path(client: Any, world: World, maker: Any) -> None:
    """The roles snapshot stored with the code is compared when it is used: a membership that appears
    without the service's grant (another community's import, a batch) voids the code too."""
    code = await _issue_code(client, world, "carol")
    other = await client.post(
        "/api/v1/communities", headers=world.h["root"], json={"name": "第二社区", "code": "second"}
    )
    async with maker() as db:
        db.add(
            Membership(
                community_id=uuid.UUID(other.json()["id"]), member_id=world.members["carol"].id, role="member"
            )
        )
        await db.commit()
    carol = world.members["carol"].id
    before = await _password_of(maker, carol)
    problem(await client.get(f"/api/v1/auth/activations/{code}"), 422, "activation_invalid")
    problem(
        await client.post("/api/v1/auth/activate", json={"code": code, "password": "admin-chose-1"}),
        422,
        "activation_invalid",
    )
    assert await _password_of(maker, carol) == before
    async with maker() as db:
        statuses = list(await db.scalars(select(Activation.status).where(Activation.member_id == carol)))
    assert statuses == ["open"]  # void by its snapshot, not by a status change


async def test_sign_ups_are_limited_per_device(client: Any, world: World, maker: Any) -> None:
    device = {"Cookie": "jifen_device=" + "k" * 24}
    base = {"name": "路人", "community_id": str(world.cid)}
    for i in range(2):
        phone = f"1580000030{i}"
        r = await client.post(
            "/api/v1/auth/register",
            json={**base, "phone": phone, "sms_code": await texted_code(client, phone, device)},
            headers=device,
        )
        assert r.status_code == 201, r.text
        client.cookies.clear()
    before = await snapshot(maker)
    phone = "15800000309"
    code = await texted_code(client, phone)
    r = await client.post(
        "/api/v1/auth/register", json={**base, "phone": phone, "sms_code": code}, headers=device
    )
    problem(r, 429, "too_many_attempts")
    assert "retry-after" in r.headers
    assert (await snapshot(maker))[:2] == before[:2]


async def test_attendances_of_accounts_made_at_the_event_are_marked_new(
    client: Any, world: World, maker: Any
) -> None:
    async with maker() as db:  # everyone of the world joined long before the event
        await db.execute(update(Member).values(created_at=clock.now() - timedelta(days=30)))
        await db.commit()
    freeze_at_step_start()
    a = await create_activity(client, world)
    async with maker() as db:  # published an hour ago (the clock stays: login tokens use real time)
        await db.execute(
            update(Activity)
            .where(Activity.id == uuid.UUID(a["id"]))
            .values(created_at=clock.now() - timedelta(hours=1))
        )
        await db.commit()
    token = (await client.get(f"/api/v1/activities/{a['id']}/kiosk", headers=world.h["organizer"])).json()[
        "token"
    ]
    assert 'data-status="checked_in"' in (await client.get(f"/c/{token}", headers=world.h["alice"])).text
    client.cookies.clear()
    # A passer-by scans logged out, signs up with the texted code on the same phone, and is checked in.
    scan = await client.get(f"/c/{token}", follow_redirects=False)
    assert scan.status_code == 303
    code = await texted_code(client, "15800000401")
    r = await client.post(
        "/api/v1/auth/register",
        json={"phone": "15800000401", "name": "路人甲", "community_id": str(world.cid), "sms_code": code},
    )
    assert r.status_code == 201, r.text
    newcomer = r.json()["member"]["id"]
    done = await client.get(f"/c/{token}")
    assert 'data-status="checked_in"' in done.text, re.findall(r"<main.*?</main>", done.text, re.S)
    client.cookies.clear()
    listed = await client.get(f"/api/v1/activities/{a['id']}/attendance", headers=world.h["organizer"])
    marks = {i["member_id"]: (i["new_account"], "new_account" in i["flags"]) for i in listed.json()["items"]}
    assert marks == {newcomer: (True, True), str(world.members["alice"].id): (False, False)}
    page = await client.get(f"/activities/{a['id']}", headers=world.h["organizer"])
    assert page.status_code == 200
    # Marked in the attendance table and in the close form's list of people still checked in.
    assert page.text.count('data-testid="new-account"') == 2 and "新注册" in page.text
