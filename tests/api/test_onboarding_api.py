"""Getting residents in over HTTP: invitation codes, SMS codes, self-registration, removing roles,
the platform admin's home and the favicon. Every refusal says its code and changes nothing."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from service import clock
from service.accounts import rules
from service.accounts.models import Activation, Community, Member, Membership, Registration
from service.accounts.sms import SENT, last_text_to
from tests.support.problems import problem
from tests.support.sms import texted_code
from tests.support.world import World

PASSWORD = "my-own-pass-1"


async def count(maker: Any, model: Any, *where: Any) -> int:
    async with maker() as db:
        return int(await db.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def roles(maker: Any, member_id: uuid.UUID, cid: uuid.UUID) -> set[str]:
    async with maker() as db:
        rows = await db.scalars(
            select(Membership.role).where(Membership.member_id == member_id, Membership.community_id == cid)
        )
        return set(rows)


async def password_hash(maker: Any, phone: str) -> str | None:
    async with maker() as db:
        return await db.scalar(select(Member.password_hash).where(Member.phone == phone))


async def login(client: Any, phone: str, password: str) -> Any:
    return await client.post("/api/v1/auth/login", json={"phone": phone, "password": password})


async def new_code(client: Any, world: World, name: str, who: str = "admin") -> str:
    r = await client.post(
        f"/api/v1/communities/{world.cid}/members/{world.members[name].id}/activation", headers=world.h[who]
    )
    assert r.status_code == 201, r.text
    assert r.json()["url"] == f"http://testserver/join/{r.json()['code']}"
    return str(r.json()["code"])


def printed_codes(html: str) -> list[str]:
    return re.findall(r'data-testid="invite-code">([A-Z0-9-]+)<', html)


# ---------------------------------------------------------------- invitation cards and activation


async def test_a_member_added_without_password_gets_a_printable_card_and_sets_their_own_password(
    client: Any, world: World, maker: Any
) -> None:
    r = await client.post(
        f"/api/v1/communities/{world.cid}/members",
        headers=world.h["admin"],
        json={"phone": "15600000001", "name": "王秀英"},
    )
    assert r.status_code == 201, r.text
    sheet = await client.get(f"/admin/invitations?community={world.cid}", headers=world.h["admin"])
    assert sheet.status_code == 200 and "王秀英" in sheet.text and "测试社区" in sheet.text
    [code] = printed_codes(sheet.text)
    assert len(code) == rules.ACTIVATION_CODE_LENGTH + 2  # grouped ABCD-EFGH-JKLM
    async with maker() as db:  # only a hash is stored
        stored = list(await db.scalars(select(Activation.code_hash)))
    assert stored == [rules.code_hash(code.replace("-", ""))]

    join = await client.get(f"/join/{code.replace('-', '')}")
    assert join.status_code == 200 and "王*英" in join.text and "王秀英" not in join.text
    info = await client.get(f"/api/v1/auth/activations/{code.lower()}")
    assert info.json()["masked_name"] == "王*英" and info.json()["community"] == "测试社区"

    done = await client.post("/api/v1/auth/activate", json={"code": code, "password": PASSWORD})
    assert done.status_code == 200, done.text
    assert done.json()["member"]["phone"] == "15600000001"
    assert (await login(client, "15600000001", PASSWORD)).status_code == 200
    again = await client.get(f"/admin/invitations?community={world.cid}", headers=world.h["admin"])
    assert printed_codes(again.text) == []


async def test_used_expired_replaced_and_unknown_codes_are_refused_and_change_nothing(
    client: Any, world: World, maker: Any
) -> None:
    used = await new_code(client, world, "alice")
    assert (
        await client.post("/api/v1/auth/activate", json={"code": used, "password": PASSWORD})
    ).status_code == 200
    alice_hash = await password_hash(maker, "13900000001")
    r = await client.post("/api/v1/auth/activate", json={"code": used, "password": "hijack-pass-1"})
    body = problem(r, 422, "activation_invalid")
    assert "community office" in body["detail"]
    assert await password_hash(maker, "13900000001") == alice_hash

    replaced = await new_code(client, world, "bob")
    current = await new_code(client, world, "bob")  # a lost card: the older code stops working
    problem(
        await client.post("/api/v1/auth/activate", json={"code": replaced, "password": PASSWORD}),
        422,
        "activation_invalid",
    )
    assert await password_hash(maker, "13900000002") is None

    expired = await new_code(client, world, "carol")
    clock.advance(timedelta(seconds=rules.ACTIVATION_LIFETIME_SECONDS + 1))
    problem(
        await client.post("/api/v1/auth/activate", json={"code": expired, "password": PASSWORD}),
        422,
        "activation_invalid",
    )
    problem(await client.get(f"/api/v1/auth/activations/{expired}"), 422, "activation_invalid")
    assert await password_hash(maker, "13900000003") is None
    problem(
        await client.post("/api/v1/auth/activate", json={"code": "AAAA-BBBB-CCCC", "password": PASSWORD}),
        422,
        "activation_invalid",
    )
    # The page says so in the reader's language, not as a raw code.
    page = await client.get(f"/join/{used}")
    assert page.status_code == 422 and "activation_invalid" not in page.text
    assert "社区" in page.text
    # The bad password is refused before the code is spent.
    clock.reset()
    problem(
        await client.post("/api/v1/auth/activate", json={"code": current, "password": "short"}),
        422,
        "invalid_password",
    )
    assert (
        await client.post("/api/v1/auth/activate", json={"code": current, "password": PASSWORD})
    ).status_code == 200


async def test_guessing_codes_is_throttled_per_client(client: Any, world: World) -> None:
    code = await new_code(client, world, "alice")
    for i in range(20):
        await client.get(f"/api/v1/auth/activations/ZZZZZZZZZ{i:03d}")
    r = await client.post("/api/v1/auth/activate", json={"code": code, "password": PASSWORD})
    problem(r, 429, "too_many_attempts")
    assert "retry-after" in r.headers


async def test_import_invites_everyone_who_cannot_log_in_once(client: Any, world: World, maker: Any) -> None:
    csv = "phone,name\n15700000001,赵大爷\n15700000002,钱奶奶\n13900000001,alice\n"
    url = f"/api/v1/communities/{world.cid}/members/import"
    headers = {**world.h["admin"], "Content-Type": "text/csv"}
    r = await client.post(url, headers=headers, content=csv.encode())
    assert r.status_code == 200 and r.json()["invited"] == 3, r.text
    again = await client.post(url, headers=headers, content=csv.encode())
    assert again.json()["invited"] == 0
    assert await count(maker, Activation) == 3
    sheet = await client.get(f"/admin/invitations?community={world.cid}", headers=world.h["admin"])
    assert len(printed_codes(sheet.text)) == 3
    chosen = await client.get(
        f"/admin/invitations?community={world.cid}&member={world.members['alice'].id}",
        headers=world.h["admin"],
    )
    assert len(printed_codes(chosen.text)) == 1 and "alice" in chosen.text


async def test_only_an_admin_of_every_community_of_the_person_issues_codes(
    client: Any, world: World, maker: Any
) -> None:
    alice = world.members["alice"].id
    url = f"/api/v1/communities/{world.cid}/members/{alice}/activation"
    problem(await client.post(url, headers=world.h["organizer"]), 403, "forbidden")
    problem(await client.post(url, headers=world.h["alice"]), 403, "forbidden")
    other = await client.post(
        "/api/v1/communities", headers=world.h["root"], json={"name": "别处", "code": "elsewhere"}
    )
    other_id = other.json()["id"]
    problem(
        await client.post(
            f"/api/v1/communities/{other_id}/members/{alice}/activation", headers=world.h["admin"]
        ),
        403,
        "forbidden",
    )
    await client.post(
        f"/api/v1/communities/{other_id}/members",
        headers=world.h["root"],
        json={"phone": "13900000001", "name": "alice"},
    )
    before = await count(maker, Activation)
    body = problem(await client.post(url, headers=world.h["admin"]), 403, "member_elsewhere")
    assert "platform admin" in body["detail"]
    # A fellow admin or reviewer gets a new code from a platform admin only.
    for name in ("admin2", "reviewer"):
        problem(
            await client.post(
                f"/api/v1/communities/{world.cid}/members/{world.members[name].id}/activation",
                headers=world.h["admin"],
            ),
            403,
            "role_needs_platform_admin",
        )
    problem(
        await client.post(
            f"/api/v1/communities/{world.cid}/members/{uuid.uuid4()}/activation", headers=world.h["admin"]
        ),
        404,
        "member_not_found",
    )
    assert await count(maker, Activation) == before
    assert (await client.post(url, headers=world.h["root"])).status_code == 201


# ---------------------------------------------------------------- SMS codes


async def test_sms_code_logs_in_and_the_reply_does_not_tell_who_has_an_account(
    client: Any, world: World
) -> None:
    known = await client.post("/api/v1/auth/sms-code", json={"phone": "13900000001"})
    unknown = await client.post("/api/v1/auth/sms-code", json={"phone": "13911110000"})
    assert known.status_code == unknown.status_code == 200
    assert known.json() == unknown.json() == {"status": "sent", "resend_after_s": rules.SMS_RESEND_SECONDS}
    text = last_text_to("13900000001")
    assert text is not None and "验证码" in text
    code = re.findall(r"\d{6}", text)[0]
    r = await client.post("/api/v1/auth/sms-login", json={"phone": "139 0000 0001", "code": code})
    assert r.status_code == 200, r.text
    assert r.json()["member"]["name"] == "alice"
    me = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {r.json()['token']}"})
    assert me.status_code == 200
    # A code works once.
    problem(
        await client.post("/api/v1/auth/sms-login", json={"phone": "13900000001", "code": code}),
        401,
        "sms_code_invalid",
    )


async def test_wrong_expired_and_guessed_sms_codes_are_refused(client: Any, world: World) -> None:
    await client.post("/api/v1/auth/sms-code", json={"phone": "13900000002"})
    code = re.findall(r"\d{6}", last_text_to("13900000002") or "")[0]
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    for _ in range(rules.SMS_CODE_ATTEMPTS_MAX):
        problem(
            await client.post("/api/v1/auth/sms-login", json={"phone": "13900000002", "code": wrong}),
            401,
            "sms_code_invalid",
        )
    # Used up by the guesses: even the right code no longer works.
    problem(
        await client.post("/api/v1/auth/sms-login", json={"phone": "13900000002", "code": code}),
        429,
        "too_many_attempts",
    )

    await client.post("/api/v1/auth/sms-code", json={"phone": "13900000003"})
    code = re.findall(r"\d{6}", last_text_to("13900000003") or "")[0]
    clock.advance(timedelta(seconds=rules.SMS_CODE_LIFETIME_SECONDS + 1))
    problem(
        await client.post("/api/v1/auth/sms-login", json={"phone": "13900000003", "code": code}),
        401,
        "sms_code_invalid",
    )
    problem(
        await client.post("/api/v1/auth/sms-login", json={"phone": "13900000004", "code": "123456"}),
        401,
        "sms_code_invalid",
    )


async def test_sms_codes_are_throttled_per_phone_and_per_client(client: Any, world: World) -> None:
    assert (await client.post("/api/v1/auth/sms-code", json={"phone": "13900000001"})).status_code == 200
    r = await client.post("/api/v1/auth/sms-code", json={"phone": "13900000001"})
    problem(r, 429, "sms_code_too_soon")
    assert int(r.headers["retry-after"]) <= rules.SMS_RESEND_SECONDS
    for _ in range(rules.SMS_PER_PHONE_MAX - 1):
        clock.advance(timedelta(seconds=rules.SMS_RESEND_SECONDS + 1))
        assert (await client.post("/api/v1/auth/sms-code", json={"phone": "13900000001"})).status_code == 200
    clock.advance(timedelta(seconds=rules.SMS_RESEND_SECONDS + 1))
    sent = len(SENT)
    problem(
        await client.post("/api/v1/auth/sms-code", json={"phone": "13900000001"}), 429, "too_many_attempts"
    )
    clock.reset()
    for i in range(rules.SMS_PER_CLIENT_MAX - rules.SMS_PER_PHONE_MAX):
        assert (
            await client.post("/api/v1/auth/sms-code", json={"phone": f"1360000{i:04d}"})
        ).status_code == 200
    sent = len(SENT)
    problem(
        await client.post("/api/v1/auth/sms-code", json={"phone": "13611112222"}), 429, "too_many_attempts"
    )
    assert len(SENT) == sent and last_text_to("13611112222") is None
    problem(await client.post("/api/v1/auth/sms-code", json={"phone": "12345"}), 422, "invalid_phone")


# ---------------------------------------------------------------- self-registration


async def test_self_registration_auto_joins_at_once(client: Any, world: World, maker: Any) -> None:
    body = {"phone": "15800000001", "name": "新居民", "password": PASSWORD, "community_id": str(world.cid)}
    before = await count(maker, Member)
    problem(await client.post("/api/v1/auth/register", json=body), 422, "sms_code_required")
    assert await count(maker, Member) == before  # a password alone proves nothing about the phone
    code = await texted_code(client, "15800000001")
    r = await client.post("/api/v1/auth/register", json={**body, "sms_code": code})
    assert r.status_code == 201 and r.json()["status"] == "joined", r.text
    member_id = uuid.UUID(r.json()["member"]["id"])
    assert await roles(maker, member_id, world.cid) == {"member"}
    assert (await login(client, "15800000001", PASSWORD)).status_code == 200


async def test_self_registration_with_an_sms_code_and_no_password(
    client: Any, world: World, maker: Any
) -> None:
    await client.post("/api/v1/auth/sms-code", json={"phone": "15800000002"})
    code = re.findall(r"\d{6}", last_text_to("15800000002") or "")[0]
    base = {"phone": "15800000002", "name": "李阿姨", "community_id": str(world.cid)}
    before = await count(maker, Member)
    problem(
        await client.post(
            "/api/v1/auth/register", json={**base, "sms_code": "000000" if code != "000000" else "111111"}
        ),
        401,
        "sms_code_invalid",
    )
    problem(await client.post("/api/v1/auth/register", json=base), 422, "sms_code_required")
    assert await count(maker, Member) == before
    r = await client.post("/api/v1/auth/register", json={**base, "sms_code": code})
    assert r.status_code == 201, r.text
    assert await password_hash(maker, "15800000002") is None


async def test_self_registration_pending_approval_joins_only_when_approved(
    client: Any, world: World, maker: Any
) -> None:
    r = await client.patch(
        f"/api/v1/communities/{world.cid}", headers=world.h["admin"], json={"self_registration": "approval"}
    )
    assert r.status_code == 200 and r.json()["self_registration"] == "approval"
    base = {"password": PASSWORD, "community_id": str(world.cid)}
    first = await client.post(
        "/api/v1/auth/register",
        json={
            **base,
            "phone": "15800000003",
            "name": "甲",
            "sms_code": await texted_code(client, "15800000003"),
        },
    )
    second = await client.post(
        "/api/v1/auth/register",
        json={
            **base,
            "phone": "15800000004",
            "name": "乙",
            "sms_code": await texted_code(client, "15800000004"),
        },
    )
    assert first.status_code == second.status_code == 202 and first.json()["status"] == "pending_approval"
    first_id = uuid.UUID(first.json()["member"]["id"])
    assert await roles(maker, first_id, world.cid) == set()
    home = await client.get("/", headers={"Authorization": f"Bearer {first.json()['token']}"})
    assert "您申请加入测试社区，正在等待社区办公室审核。" in home.text

    listed = await client.get(f"/api/v1/communities/{world.cid}/registrations", headers=world.h["admin"])
    by_name = {x["name"]: x["id"] for x in listed.json()}
    page = await client.get(f"/admin?community={world.cid}", headers=world.h["admin"])
    assert "甲" in page.text and f"/api/v1/registrations/{by_name['甲']}/approve" in page.text
    problem(
        await client.post(f"/api/v1/registrations/{by_name['甲']}/approve", headers=world.h["organizer"]),
        403,
        "forbidden",
    )
    problem(
        await client.post(f"/api/v1/registrations/{by_name['甲']}/approve", headers=world.h["alice"]),
        403,
        "forbidden",
    )
    assert await roles(maker, first_id, world.cid) == set()

    ok = await client.post(f"/api/v1/registrations/{by_name['甲']}/approve", headers=world.h["admin"])
    assert ok.json() == {"status": "approved"}
    assert await roles(maker, first_id, world.cid) == {"member"}
    no = await client.post(f"/api/v1/registrations/{by_name['乙']}/reject", headers=world.h["admin"])
    assert no.json() == {"status": "rejected"}
    problem(
        await client.post(f"/api/v1/registrations/{by_name['乙']}/approve", headers=world.h["admin"]),
        409,
        "registration_decided",
    )
    assert await roles(maker, uuid.UUID(second.json()["member"]["id"]), world.cid) == set()
    assert await count(maker, Registration, Registration.status == "pending") == 0


async def test_registration_refusals_create_nothing(client: Any, world: World, maker: Any) -> None:
    before = (await count(maker, Member), await count(maker, Membership))
    taken = {"phone": "13900000001", "name": "冒名", "password": PASSWORD, "community_id": str(world.cid)}
    problem(await client.post("/api/v1/auth/register", json=taken), 422, "sms_code_required")
    problem(
        await client.post("/api/v1/auth/register", json={**taken, "sms_code": "123456"}),
        401,
        "sms_code_invalid",
    )
    problem(
        await client.patch(
            f"/api/v1/communities/{world.cid}",
            headers=world.h["organizer"],
            json={"self_registration": "off"},
        ),
        403,
        "forbidden",
    )
    r = await client.patch(
        f"/api/v1/communities/{world.cid}", headers=world.h["admin"], json={"self_registration": "off"}
    )
    assert r.json()["self_registration"] == "off" and r.json()["allow_registration"] is False
    closed = {**taken, "phone": "15800000009"}
    problem(await client.post("/api/v1/auth/register", json=closed), 403, "registration_closed")
    assert (await count(maker, Member), await count(maker, Membership)) == before


# ---------------------------------------------------------------- roles


async def test_a_community_admin_removes_working_roles_but_not_admin_or_reviewer(
    client: Any, world: World, maker: Any
) -> None:
    def url(name: str, role: str) -> str:
        return f"/api/v1/communities/{world.cid}/members/{world.members[name].id}/roles/{role}"

    r = await client.delete(url("organizer", "organizer"), headers=world.h["admin"])
    assert r.status_code == 200, r.text
    assert [x["role"] for x in r.json()["roles"]] == ["member"]
    assert await roles(maker, world.members["organizer"].id, world.cid) == {"member"}
    problem(
        await client.delete(url("organizer", "organizer"), headers=world.h["admin"]), 404, "role_not_held"
    )
    problem(
        await client.delete(url("reviewer", "reviewer"), headers=world.h["admin"]),
        403,
        "role_needs_platform_admin",
    )
    problem(
        await client.delete(url("admin2", "admin"), headers=world.h["admin"]),
        403,
        "role_needs_platform_admin",
    )
    # Leaving the community is not a role change: the member keeps the points.
    problem(await client.delete(url("clerk", "member"), headers=world.h["admin"]), 422, "invalid_role")
    problem(await client.delete(url("clerk", "clerk"), headers=world.h["organizer2"]), 403, "forbidden")
    problem(await client.delete(url("clerk", "mayor"), headers=world.h["admin"]), 422, "invalid_role")
    assert await roles(maker, world.members["reviewer"].id, world.cid) == {"member", "reviewer"}
    assert await roles(maker, world.members["clerk"].id, world.cid) == {"member", "clerk"}
    assert (await client.delete(url("reviewer", "reviewer"), headers=world.h["root"])).status_code == 200
    assert await roles(maker, world.members["reviewer"].id, world.cid) == {"member"}
    page = await client.get(f"/admin?community={world.cid}", headers=world.h["admin"])
    assert url("clerk", "clerk") in page.text and url("admin2", "admin") not in page.text


# ---------------------------------------------------------------- platform admin home, favicon


async def test_platform_admin_home_lists_communities_and_creates_one(
    client: Any, world: World, maker: Any
) -> None:
    page = await client.get("/admin", headers=world.h["root"])
    assert page.status_code == 200
    assert f'href="/admin?community={world.cid}"' in page.text and "测试社区" in page.text
    assert 'data-api="/api/v1/communities"' in page.text
    r = await client.post(
        "/api/v1/communities",
        headers=world.h["root"],
        json={"name": "幸福里", "code": "xingfuli", "self_registration": "approval"},
    )
    assert r.status_code == 201 and r.json()["self_registration"] == "approval"
    async with maker() as db:
        assert (
            await db.scalar(select(Community.self_registration).where(Community.code == "xingfuli"))
            == "approval"
        )
    assert "幸福里" in (await client.get("/admin", headers=world.h["root"])).text
    home = await client.get("/", headers=world.h["root"])
    assert 'href="/admin"' in home.text


async def test_favicon_is_an_icon(client: Any) -> None:
    r = await client.get("/favicon.ico")
    assert r.status_code == 200 and r.headers["content-type"] == "image/x-icon"
    assert r.content[:4] == b"\x00\x00\x01\x00"


async def test_a_person_of_two_communities_gets_codes_only_from_a_platform_admin(
    client: Any, world: World, maker: Any
) -> None:
    """A code opens every community of the person: one community's admin may not hand it out."""
    other = await client.post(
        "/api/v1/communities", headers=world.h["root"], json={"name": "别处", "code": "elsewhere"}
    )
    other_id = other.json()["id"]
    added = await client.post(
        f"/api/v1/communities/{world.cid}/members",
        headers=world.h["admin"],
        json={"phone": "15600000009", "name": "两边住"},
    )
    assert added.status_code == 201
    sheet_url = f"/admin/invitations?community={world.cid}"
    assert "两边住" in (await client.get(sheet_url, headers=world.h["admin"])).text
    await client.post(
        f"/api/v1/communities/{other_id}/members",
        headers=world.h["root"],
        json={"phone": "15600000009", "name": "两边住"},
    )
    # Now the person also belongs elsewhere: the community admin no longer prints the card (the old
    # card is void: the person's roles changed) ...
    sheet = await client.get(sheet_url, headers=world.h["admin"])
    assert "两边住" not in sheet.text and printed_codes(sheet.text) == []
    # ... the platform admin's add gave a new one, which he prints.
    other_sheet = f"/admin/invitations?community={other_id}"
    assert "两边住" in (await client.get(other_sheet, headers=world.h["root"])).text

    # The other community's admin adding alice (of this community, no password) issues no code.
    other_admin = await client.post(
        f"/api/v1/communities/{other_id}/members",
        headers=world.h["root"],
        json={"phone": "13800000099", "name": "别处主任", "role": "admin", "password": "other-admin-1"},
    )
    assert other_admin.status_code == 201
    token = (await login(client, "13800000099", "other-admin-1")).json()["token"]
    before = await count(maker, Activation)
    r = await client.post(
        f"/api/v1/communities/{other_id}/members",
        headers={"Authorization": f"Bearer {token}"},
        json={"phone": "13900000001", "name": "alice"},
    )
    assert r.status_code == 201
    imported = await client.post(
        f"/api/v1/communities/{other_id}/members/import",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "text/csv"},
        content=b"13900000002,bob\n",
    )
    assert imported.json()["invited"] == 0
    assert await count(maker, Activation) == before


async def test_the_login_page_offers_sign_up_only_after_a_scan_where_the_community_takes_sign_ups(
    client: Any, world: World, maker: Any
) -> None:
    from service.activities import service as svc

    now = clock.now()
    draft = svc.ActivityDraft(
        "清扫", now - timedelta(minutes=5), now + timedelta(hours=1), "per_attendance", 5
    )
    async with maker() as db, db.begin():
        activity = await svc.create_activity(db, world.actor("organizer"), world.cid, draft)
        token = (await svc.poster_code(db, world.actor("organizer"), activity.id, "http://testserver")).split(
            "/c/"
        )[1]
    scan = await client.get(f"/c/{token}", follow_redirects=False)
    assert scan.status_code == 303 and scan.headers["location"].startswith("/login?next=")
    login_page = await client.get(scan.headers["location"])
    assert 'data-testid="register-offer"' in login_page.text and "/register?next=/c/" in login_page.text
    assert 'data-testid="register-offer"' not in (await client.get("/login")).text
    register = await client.get(f"/register?next=/c/{token}")
    assert register.status_code == 200 and f'value="{world.cid}"' in register.text
    assert (await client.get("/register?next=/c/not-a-token")).status_code == 404

    await client.patch(
        f"/api/v1/communities/{world.cid}", headers=world.h["admin"], json={"self_registration": "off"}
    )
    assert 'data-testid="register-offer"' not in (await client.get(scan.headers["location"])).text
    closed = await client.get(f"/register?next=/c/{token}")
    assert 'data-testid="registration-closed"' in closed.text and 'id="register-form"' not in closed.text
