"""Residents' own data (PIPL, issue 22 item 6): the privacy notice accepted at activation and sign-up,
"我的数据" as JSON and .xlsx, corrections of name and phone decided by the community, and a deletion
that an admin grants: the person's name and phone are gone while the ledger's amounts and hash chains
still verify. Every refusal changes nothing."""

from __future__ import annotations

import io
import uuid
import zipfile
from datetime import timedelta
from typing import Any

from sqlalchemy import func, or_, select

from service import clock
from service.accounts import rules
from service.accounts.models import Member, MemberRequest, Membership, PrivacyConsent
from service.audit import views as audit_views
from service.audit.models import AuditEvent
from service.points import service as points
from tests.support.balances import balance_of, fund
from tests.support.problems import problem
from tests.support.sms import texted_code
from tests.support.world import World

PASSWORD = "my-own-pass-1"


async def _count(maker: Any, model: Any, *where: Any) -> int:
    async with maker() as db:
        return int(await db.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def _snapshot(maker: Any, member_id: uuid.UUID) -> tuple[Any, ...]:
    """What a refused request must leave as it was: the person, their roles, the requests and the log."""
    async with maker() as db:
        m = await db.get(Member, member_id)
        assert m is not None
        roles = await db.scalar(
            select(func.count()).select_from(Membership).where(Membership.member_id == m.id)
        )
        requests = list(await db.scalars(select(MemberRequest.status).order_by(MemberRequest.id)))
        events = await db.scalar(select(func.count()).select_from(AuditEvent))
        return m.name, m.phone, m.password_hash, m.token_version, roles, requests, events


# ---------------------------------------------------------------- the notice


async def test_activation_records_the_notice_and_refuses_an_unticked_one(
    client: Any, world: World, maker: Any
) -> None:
    alice = world.members["alice"]
    r = await client.post(
        f"/api/v1/communities/{world.cid}/members/{alice.id}/activation", headers=world.h["admin"]
    )
    code = r.json()["code"]
    join = await client.get(f"/join/{code}", headers={"Accept-Language": "zh-CN"})
    assert 'name="privacy_accepted"' in join.text and "/privacy" in join.text

    before = await _snapshot(maker, alice.id)
    body = {"code": code, "password": PASSWORD, "privacy_accepted": False}
    refused = problem(await client.post("/api/v1/auth/activate", json=body), 422, "privacy_not_accepted")
    assert refused["errors"][0]["field"] == "privacy_accepted"
    assert await _snapshot(maker, alice.id) == before  # the code still works, no password was set
    assert await _count(maker, PrivacyConsent) == 0

    done = await client.post("/api/v1/auth/activate", json=body | {"privacy_accepted": True})
    assert done.status_code == 200, done.text
    async with maker() as db:
        consent = (await db.scalars(select(PrivacyConsent))).one()
        assert (consent.member_id, consent.version) == (alice.id, rules.PRIVACY_NOTICE_VERSION)
        event = await db.scalar(select(AuditEvent).where(AuditEvent.action == "privacy_accepted"))
        assert event is not None and event.community_id == world.cid and event.subject_member_id == alice.id


async def test_sign_up_records_the_notice_and_a_stale_version_is_asked_again(
    client: Any, world: World, maker: Any
) -> None:
    phone = "15811112222"
    code = await texted_code(client, phone)
    body = {"phone": phone, "name": "新居民", "community_id": str(world.cid), "sms_code": code}
    refused = await client.post("/api/v1/auth/register", json=body | {"privacy_accepted": False})
    problem(refused, 422, "privacy_not_accepted")
    assert await _count(maker, Member, Member.phone == phone) == 0
    client.cookies.clear()
    ok = await client.post("/api/v1/auth/register", json=body | {"privacy_accepted": True})
    assert ok.status_code == 201, ok.text
    assert await _count(maker, PrivacyConsent) == 1
    h = {"Authorization": f"Bearer {ok.json()['token']}"}
    client.cookies.clear()
    stale = await client.post("/api/v1/me/privacy-consent", json={"version": "2000-01"}, headers=h)
    problem(stale, 409, "privacy_version_stale")
    again = await client.post(
        "/api/v1/me/privacy-consent", json={"version": rules.PRIVACY_NOTICE_VERSION}, headers=h
    )
    assert again.status_code == 200 and again.json()["version"] == rules.PRIVACY_NOTICE_VERSION
    assert await _count(maker, PrivacyConsent) == 1  # once per version


# ---------------------------------------------------------------- 我的数据


async def test_my_data_holds_everything_about_the_caller_and_nothing_secret(
    client: Any, world: World, maker: Any
) -> None:
    await fund(maker, world, "alice", 30)
    await fund(maker, world, "bob", 7)
    wish = await client.post(
        f"/api/v1/communities/{world.cid}/wishes", json={"title": "换灯泡"}, headers=world.h["alice"]
    )
    assert wish.status_code == 201, wish.text
    r = await client.get("/api/v1/me/data", headers=world.h["alice"])
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    data = r.json()
    assert data["privacy_notice_version"] == rules.PRIVACY_NOTICE_VERSION
    assert data["profile"][0]["phone"] == "13900000001" and data["profile"][0]["name"] == "alice"
    assert [m["role"] for m in data["memberships"]] == ["member"]
    assert sum(e["points"] for e in data["ledger_entries"]) == 30  # alice's entries, not bob's
    assert [w["title"] for w in data["wishes"]] == ["换灯泡"]
    for section in ("attendances", "claims", "orders", "vouchers", "consents", "household_links"):
        assert section in data
    assert any(e["action"] == "role_granted" for e in data["audit_events"])
    text = r.text
    for secret in ("password_hash", "code_hash", "13900000002"):
        assert secret not in text

    sheet = await client.get("/api/v1/me/data?format=xlsx", headers=world.h["alice"])
    assert sheet.status_code == 200
    assert sheet.headers["content-type"].startswith("application/vnd.openxmlformats")
    with zipfile.ZipFile(io.BytesIO(sheet.content)) as book:
        names = book.read("xl/workbook.xml").decode()
        strings = book.read("xl/sharedStrings.xml").decode()
    assert "积分流水" in names and "个人资料" in names and "微心愿" in names
    assert "13900000001" in strings and "换灯泡" in strings
    problem(await client.get("/api/v1/me/data?format=pdf", headers=world.h["alice"]), 422, "invalid_input")
    problem(await client.get("/api/v1/me/data"), 401, "not_authenticated")
    assert await _count(maker, AuditEvent, AuditEvent.action == "personal_data_exported") == 2


# ---------------------------------------------------------------- corrections


async def test_a_correction_of_name_and_phone_goes_through_an_admin(
    client: Any, world: World, maker: Any
) -> None:
    alice = world.members["alice"]
    url = "/api/v1/me/correction-request"
    before = await _snapshot(maker, alice.id)
    problem(
        await client.post(url, json={"name": "alice"}, headers=world.h["alice"]), 422, "nothing_to_correct"
    )
    problem(
        await client.post(url, json={"phone": "13900000002"}, headers=world.h["alice"]), 409, "phone_taken"
    )
    problem(await client.post(url, json={"phone": "12345"}, headers=world.h["alice"]), 422, "invalid_phone")
    assert await _snapshot(maker, alice.id) == before

    asked = await client.post(
        url, json={"name": "王秀英", "phone": "13900000099", "reason": "登记错了"}, headers=world.h["alice"]
    )
    assert asked.status_code == 201, asked.text
    req = asked.json()
    assert req["status"] == "pending" and req["community_id"] == str(world.cid)
    due = clock.now() + timedelta(days=rules.REQUEST_DECISION_DAYS)
    assert abs((_dt(req["due_at"]) - due).total_seconds()) < 60
    problem(
        await client.post(url, json={"name": "又一个"}, headers=world.h["alice"]),
        409,
        "member_request_pending",
    )
    listed = await client.get(f"/api/v1/communities/{world.cid}/member-requests", headers=world.h["admin"])
    assert [(r["id"], r["member_name"]) for r in listed.json()] == [(req["id"], "alice")]

    decide = f"/api/v1/member-requests/{req['id']}/decide"
    pending = await _snapshot(maker, alice.id)
    for who in ("alice", "organizer", "bob"):
        problem(await client.post(decide, json={"decision": "grant"}, headers=world.h[who]), 403, "forbidden")
    problem(
        await client.post(decide, json={"decision": "maybe"}, headers=world.h["admin"]),
        422,
        "invalid_input",
    )
    assert await _snapshot(maker, alice.id) == pending

    done = await client.post(decide, json={"decision": "grant"}, headers=world.h["admin"])
    assert done.status_code == 200 and done.json()["status"] == "granted", done.text
    async with maker() as db:
        m = await db.get(Member, alice.id)
        assert m is not None and (m.name, m.phone) == ("王秀英", "13900000099")
        actions = list(
            await db.scalars(
                select(AuditEvent.action)
                .where(AuditEvent.subject_member_id == alice.id)
                .order_by(AuditEvent.seq)
            )
        )
    assert actions[-4:] == [
        "data_correction_requested",
        "name_changed",
        "phone_changed",
        "data_correction_granted",
    ]
    again = await client.post(decide, json={"decision": "refuse"}, headers=world.h["admin"])
    problem(again, 409, "member_request_decided")


def _dt(text: str) -> Any:
    from datetime import datetime

    return datetime.fromisoformat(text)


# ---------------------------------------------------------------- deletion


async def test_a_granted_deletion_pseudonymises_the_person_and_the_ledger_still_verifies(
    client: Any, world: World, maker: Any
) -> None:
    await fund(maker, world, "alice", 40)
    await fund(maker, world, "bob", 9)
    alice = world.members["alice"]
    balance_before = await balance_of(maker, world, "alice")
    bob_before = await balance_of(maker, world, "bob")

    asked = await client.post(
        "/api/v1/me/deletion-request", json={"reason": "搬走了"}, headers=world.h["alice"]
    )
    assert asked.status_code == 201, asked.text
    req = asked.json()
    assert req["kind"] == "deletion" and req["status"] == "pending"
    decide = f"/api/v1/member-requests/{req['id']}/decide"

    # Refused: not an admin, the member herself; a platform admin cannot ask; nothing changed.
    pending = await _snapshot(maker, alice.id)
    for who in ("alice", "organizer", "reviewer"):
        problem(await client.post(decide, json={"decision": "grant"}, headers=world.h[who]), 403, "forbidden")
    problem(
        await client.post("/api/v1/me/deletion-request", json={}, headers=world.h["root"]),
        403,
        "deletion_not_allowed",
    )
    problem(
        await client.post("/api/v1/me/deletion-request", json={}, headers=world.h["alice"]),
        409,
        "member_request_pending",
    )
    problem(
        await client.post(
            f"/api/v1/member-requests/{uuid.uuid4()}/decide",
            json={"decision": "grant"},
            headers=world.h["admin"],
        ),
        404,
        "member_request_not_found",
    )
    assert await _snapshot(maker, alice.id) == pending

    done = await client.post(decide, json={"decision": "grant", "note": "已核实"}, headers=world.h["admin"])
    assert done.status_code == 200 and done.json()["status"] == "granted", done.text

    async with maker() as db:
        m = await db.get(Member, alice.id)
        assert m is not None
        assert m.name == rules.pseudonym(alice.id) and m.name.startswith("已注销用户")
        assert not m.phone.isdigit() and m.password_hash is None and m.phone_verified_at is None
        left = await db.scalar(
            select(func.count())
            .select_from(Member)
            .where(or_(Member.name == "alice", Member.phone == "13900000001"))
        )
        assert left == 0
        assert (
            await db.scalar(
                select(func.count()).select_from(Membership).where(Membership.member_id == alice.id)
            )
            == 0
        )
        report = await points.verify(db, world.cid)
        assert report.ok, report
        for chain in await audit_views.chains(db):
            assert (await audit_views.verify_chain(db, chain)).ok
        granted = await db.scalar(select(AuditEvent).where(AuditEvent.action == "deletion_granted"))
        assert granted is not None and granted.actor_id == world.members["admin"].id
    assert await balance_of(maker, world, "alice") == balance_before
    assert await balance_of(maker, world, "bob") == bob_before

    # The old login is over and the old phone logs nobody in.
    problem(await client.get("/api/v1/me", headers=world.h["alice"]), 401, "token_revoked")
    client.cookies.clear()
    login = await client.post("/api/v1/auth/login", json={"phone": "13900000001", "password": "whatever-1"})
    assert login.status_code == 401
    verify = await client.get(f"/api/v1/communities/{world.cid}/ledger/verify", headers=world.h["admin"])
    assert verify.json()["ok"] is True


async def test_a_refused_deletion_changes_nothing_but_the_request(
    client: Any, world: World, maker: Any
) -> None:
    bob = world.members["bob"]
    asked = await client.post("/api/v1/me/deletion-request", json={"reason": "试试"}, headers=world.h["bob"])
    req = asked.json()
    name, phone, pw, version, roles, _requests, events = await _snapshot(maker, bob.id)
    done = await client.post(
        f"/api/v1/member-requests/{req['id']}/decide",
        json={"decision": "refuse", "note": "有未完成的订单"},
        headers=world.h["admin"],
    )
    assert done.status_code == 200 and done.json()["status"] == "refused"
    after = await _snapshot(maker, bob.id)
    assert after[:5] == (name, phone, pw, version, roles)
    assert after[5] == ["refused"] and after[6] == events + 1
    assert (await client.get("/api/v1/me", headers=world.h["bob"])).status_code == 200
