"""Login, registration, logout, throttling and CSRF over HTTP."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from service import clock
from service.accounts import service as accounts
from service.accounts.models import Member
from service.accounts.sms import last_text_to
from service.config import LOGIN_FAILURES_MAX, LOGIN_IP_FAILURES_MAX, LOGIN_WINDOW_SECONDS
from service.http import CSRF_COOKIE, CSRF_HEADER, TOKEN_COOKIE
from tests.support.problems import problem
from tests.support.world import World

PASSWORD = "correct-horse-9"


async def set_password(maker: Any, member: Member, password: str = PASSWORD) -> None:
    async with maker() as db:
        row = await db.get(Member, member.id)
        row.password_hash = await accounts.hash_password(password)
        await db.commit()


async def member_count(maker: Any) -> int:
    async with maker() as db:
        return int(await db.scalar(select(func.count()).select_from(Member)) or 0)


# ---------------------------------------------------------------- login


async def test_login_returns_a_token_that_works_as_bearer_and_a_safe_cookie(
    client: Any, world: World, maker: Any
) -> None:
    await set_password(maker, world.members["alice"])
    r = await client.post("/api/v1/auth/login", json={"phone": "+86 139-0000-0001", "password": PASSWORD})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["member"]["name"] == "alice" and body["member"]["phone"] == "13900000001"
    assert {"community_id": str(world.cid), "role": "member"} in body["member"]["roles"]
    cookies = {c.split("=", 1)[0]: c.lower() for c in r.headers.get_list("set-cookie")}
    assert "httponly" in cookies[TOKEN_COOKIE] and "samesite=lax" in cookies[TOKEN_COOKIE]
    assert "httponly" not in cookies[CSRF_COOKIE]  # the page script must read it to echo it
    client.cookies.clear()
    me = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {body['token']}"})
    assert me.status_code == 200 and me.json()["id"] == str(world.members["alice"].id)


async def test_wrong_password_and_unknown_phone_are_the_same_401(
    client: Any, world: World, maker: Any
) -> None:
    await set_password(maker, world.members["alice"])
    wrong = await client.post("/api/v1/auth/login", json={"phone": "13900000001", "password": "nope-nope-1"})
    unknown = await client.post("/api/v1/auth/login", json={"phone": "13911112222", "password": PASSWORD})
    a, b = problem(wrong, 401, "invalid_credentials"), problem(unknown, 401, "invalid_credentials")
    assert a["detail"] == b["detail"]  # no hint about which phones have accounts
    assert TOKEN_COOKIE not in wrong.headers.get("set-cookie", "")


async def test_member_without_password_cannot_log_in(client: Any, world: World) -> None:
    r = await client.post("/api/v1/auth/login", json={"phone": "13900000002", "password": PASSWORD})
    problem(r, 401, "invalid_credentials")


async def test_repeated_failures_for_one_phone_give_429_even_with_the_right_password(
    client: Any, world: World, maker: Any
) -> None:
    await set_password(maker, world.members["alice"])
    for _ in range(LOGIN_FAILURES_MAX):
        r = await client.post("/api/v1/auth/login", json={"phone": "13900000001", "password": "guess-1234"})
        problem(r, 401, "invalid_credentials")
    r = await client.post("/api/v1/auth/login", json={"phone": "13900000001", "password": PASSWORD})
    problem(r, 429, "too_many_attempts")
    wait = int(r.headers["retry-after"])
    assert 0 < wait <= LOGIN_WINDOW_SECONDS
    assert TOKEN_COOKIE not in r.headers.get("set-cookie", "")
    # Another phone from the same address is not locked out by one phone's failures.
    await set_password(maker, world.members["bob"])
    ok = await client.post("/api/v1/auth/login", json={"phone": "13900000002", "password": PASSWORD})
    assert ok.status_code == 200
    # After the window, the right password works again.
    clock.set_now(clock.now() + timedelta(seconds=LOGIN_WINDOW_SECONDS + 1))
    r = await client.post("/api/v1/auth/login", json={"phone": "13900000001", "password": PASSWORD})
    assert r.status_code == 200, r.text


async def test_failures_from_one_address_never_lock_out_a_phone_without_failures_of_its_own(
    client: Any, world: World, maker: Any
) -> None:
    """A community office or a carrier NAT shares one address: a spray of wrong guesses from it slows
    only the phones that were guessed, and a resident with the right password still gets in."""
    await set_password(maker, world.members["carol"])
    await set_password(maker, world.members["bob"])
    bob = {"phone": "13900000002", "password": "guess-1234"}
    problem(await client.post("/api/v1/auth/login", json=bob), 401, "invalid_credentials")
    for i in range(LOGIN_IP_FAILURES_MAX):
        r = await client.post(
            "/api/v1/auth/login", json={"phone": f"1370000{i:04d}", "password": "guess-1234"}
        )
        problem(r, 401, "invalid_credentials")
    # Carol never failed: the right password works from the same address.
    r = await client.post("/api/v1/auth/login", json={"phone": "13900000003", "password": PASSWORD})
    assert r.status_code == 200, r.text
    # Bob failed once from here: the address's limit now refuses him, even with the right password.
    r = await client.post("/api/v1/auth/login", json={"phone": "13900000002", "password": PASSWORD})
    problem(r, 429, "too_many_attempts")
    assert int(r.headers["retry-after"]) > 0


# ---------------------------------------------------------------- register


async def test_register_creates_a_member_who_is_logged_in(client: Any, world: World, maker: Any) -> None:
    before = await member_count(maker)
    await client.post("/api/v1/auth/sms-code", json={"phone": "15000000001"})
    code = re.findall(r"\d{6}", last_text_to("15000000001") or "")[0]
    r = await client.post(
        "/api/v1/auth/register",
        json={
            "phone": "150 0000 0001",
            "name": " 新 居民 ",
            "password": PASSWORD,
            "sms_code": code,
            "community_id": str(world.cid),
        },
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["member"]["phone"] == "15000000001" and body["member"]["name"] == "新 居民"
    assert body["member"]["roles"] == [{"community_id": str(world.cid), "role": "member"}]
    assert await member_count(maker) == before + 1
    me = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {body['token']}"})
    assert me.json()["phone"] == "15000000001"
    client.cookies.clear()
    login = await client.post("/api/v1/auth/login", json={"phone": "15000000001", "password": PASSWORD})
    assert login.status_code == 200


async def test_register_refusals_create_nothing(client: Any, world: World, maker: Any) -> None:
    before = await member_count(maker)
    base = {"name": "某人", "password": PASSWORD, "sms_code": "123456", "community_id": str(world.cid)}
    problem(await client.post("/api/v1/auth/register", json={**base, "phone": "12345"}), 422, "invalid_phone")
    for phone in ("13900000001", "15000000009"):  # an account or none: the same answer
        problem(
            await client.post("/api/v1/auth/register", json={**base, "phone": phone}), 401, "sms_code_invalid"
        )
    problem(
        await client.post(
            "/api/v1/auth/register", json={**base, "phone": "15000000002", "password": "short"}
        ),
        422,
        "invalid_password",
    )
    problem(
        await client.post(
            "/api/v1/auth/register",
            json={**base, "phone": "15000000003", "community_id": "0190a0a0-0000-7000-8000-000000000000"},
        ),
        404,
        "community_not_found",
    )
    async with maker() as db:
        c = await accounts.get_community(db, world.cid)
        c.self_registration = "off"
        await db.commit()
    problem(
        await client.post("/api/v1/auth/register", json={**base, "phone": "15000000004"}),
        403,
        "registration_closed",
    )
    assert await member_count(maker) == before


# ---------------------------------------------------------------- me and logout


async def test_me_lists_roles_per_community(client: Any, world: World) -> None:
    r = await client.get("/api/v1/me", headers=world.h["partner"])
    body = r.json()
    assert {"community_id": str(world.cid), "role": "member"} in body["roles"]
    assert {"community_id": str(world.cid), "role": "partner", "partner_id": str(world.partner.id)} in body[
        "roles"
    ]
    assert body["is_platform_admin"] is False
    assert (await client.get("/api/v1/me", headers=world.h["root"])).json()["is_platform_admin"] is True


async def test_me_without_or_with_a_forged_token_is_401(client: Any, world: World) -> None:
    problem(await client.get("/api/v1/me"), 401, "not_authenticated")
    forged = world.h["alice"]["Authorization"][:-4] + "AAAA"
    problem(await client.get("/api/v1/me", headers={"Authorization": forged}), 401, "token_invalid")


async def test_logout_revokes_the_token(client: Any, world: World) -> None:
    h = world.h["alice"]
    r = await client.post("/api/v1/auth/logout", headers=h)
    assert r.status_code == 200 and r.json()["status"] == "logged_out"
    problem(await client.get("/api/v1/me", headers=h), 401, "token_revoked")


async def test_expired_token_is_refused(client: Any, world: World) -> None:
    clock.set_now(clock.now() + timedelta(days=400))
    problem(await client.get("/api/v1/me", headers=world.h["alice"]), 401, "token_expired")


async def test_changing_password_ends_other_logins(client: Any, world: World, maker: Any) -> None:
    h = world.h["alice"]
    r = await client.post("/api/v1/me/password", headers=h, json={"password": "new-password-1"})
    assert r.status_code == 200
    problem(await client.get("/api/v1/me", headers=h), 401, "token_revoked")
    ok = await client.post("/api/v1/auth/login", json={"phone": "13900000001", "password": "new-password-1"})
    assert ok.status_code == 200


# ---------------------------------------------------------------- CSRF for cookie-authenticated writes


async def _cookie_login(client: Any, maker: Any, member: Member) -> str:
    await set_password(maker, member)
    r = await client.post("/api/v1/auth/login", json={"phone": member.phone, "password": PASSWORD})
    assert r.status_code == 200
    csrf: str = client.cookies.get(CSRF_COOKIE)
    assert csrf and client.cookies.get(TOKEN_COOKIE)
    return csrf


async def test_cookie_post_without_csrf_header_is_refused_and_changes_nothing(
    client: Any, world: World, maker: Any
) -> None:
    await _cookie_login(client, maker, world.members["admin"])
    before = await member_count(maker)
    body = {"phone": "15100000001", "name": "新人"}
    r = await client.post(f"/api/v1/communities/{world.cid}/members", json=body)
    problem(r, 403, "csrf_failed")
    r = await client.post(
        f"/api/v1/communities/{world.cid}/members", json=body, headers={CSRF_HEADER: "wrong"}
    )
    problem(r, 403, "csrf_failed")
    assert await member_count(maker) == before
    # Logout over the cookie also needs the header; without it the login stays valid.
    problem(await client.post("/api/v1/auth/logout"), 403, "csrf_failed")
    assert (await client.get("/api/v1/me")).status_code == 200


async def test_cookie_post_with_csrf_header_works(client: Any, world: World, maker: Any) -> None:
    csrf = await _cookie_login(client, maker, world.members["admin"])
    before = await member_count(maker)
    r = await client.post(
        f"/api/v1/communities/{world.cid}/members",
        json={"phone": "15100000001", "name": "新人"},
        headers={CSRF_HEADER: csrf},
    )
    assert r.status_code == 201, r.text
    assert await member_count(maker) == before + 1
    # GETs need no header.
    assert (await client.get("/api/v1/me")).status_code == 200
