"""Bad input is a 4xx problem+json with a stable code and changes nothing; never a 500."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import func, select

from service.accounts.models import Member
from service.config import BODY_MAX_BYTES, NAME_MAX
from tests.support.problems import PROBLEM, problem
from tests.support.world import World


async def members(maker: Any) -> int:
    async with maker() as db:
        return int(await db.scalar(select(func.count()).select_from(Member)) or 0)


@pytest.mark.parametrize(
    "raw",
    [b"{", b"not json", b"[]", b"null", b'"string"', b'{"phone": }', b"\xff\xfe\x00", b""],
)
async def test_malformed_json_is_a_4xx(client: Any, world: World, maker: Any, raw: bytes) -> None:
    before = await members(maker)
    r = await client.post(
        f"/api/v1/communities/{world.cid}/members",
        headers={**world.h["admin"], "Content-Type": "application/json"},
        content=raw,
    )
    assert 400 <= r.status_code < 500, r.text
    assert r.headers["content-type"].startswith(PROBLEM)
    assert r.json()["code"] in {"invalid_input", "bad_request"}
    assert await members(maker) == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"phone": 13900000009, "name": "x"}, "phone"),
        ({"phone": "15600000001", "name": ["x"]}, "name"),
        ({"phone": "15600000001", "name": "x" * (NAME_MAX + 1)}, "name"),
        ({"phone": "15600000001", "name": ""}, "name"),
        ({"phone": "15600000001", "name": "x", "surprise": 1}, "surprise"),
        ({"phone": "15600000001", "name": "x", "partner_id": "not-a-uuid"}, "partner_id"),
        ({"phone": "15600000001", "name": "x", "password": "p" * 129}, "password"),
        ({"phone": "1" * 21, "name": "x"}, "phone"),
        ({"name": "x"}, "phone"),
    ],
)
async def test_wrong_types_long_strings_and_unknown_fields_name_the_field(
    client: Any, world: World, maker: Any, body: dict[str, Any], field: str
) -> None:
    before = await members(maker)
    r = await client.post(f"/api/v1/communities/{world.cid}/members", headers=world.h["admin"], json=body)
    err = problem(r, 422, "invalid_input")
    assert [e["field"] for e in err["errors"]] == [field], err
    assert await members(maker) == before


async def test_name_of_only_spaces_is_invalid_name(client: Any, world: World, maker: Any) -> None:
    before = await members(maker)
    r = await client.post(
        f"/api/v1/communities/{world.cid}/members",
        headers=world.h["admin"],
        json={"phone": "15600000001", "name": "   "},
    )
    assert problem(r, 422, "invalid_name")["errors"][0]["field"] == "name"
    assert await members(maker) == before


async def test_oversized_body_is_413(client: Any, world: World, maker: Any) -> None:
    before = await members(maker)
    big = json.dumps({"phone": "15600000001", "name": "x", "pad": "y" * BODY_MAX_BYTES}).encode()
    r = await client.post(
        f"/api/v1/communities/{world.cid}/members",
        headers={**world.h["admin"], "Content-Type": "application/json"},
        content=big,
    )
    problem(r, 413, "request_too_large")
    r = await client.post(
        "/api/v1/auth/login",
        headers={"Content-Type": "application/json"},
        content=b'{"phone":"' + b"1" * BODY_MAX_BYTES + b'"}',
    )
    problem(r, 413, "request_too_large")
    assert await members(maker) == before


async def test_unknown_routes_methods_and_ids(client: Any, world: World) -> None:
    problem(await client.get("/api/v1/nothing-here"), 404, "not_found")
    problem(await client.delete("/api/v1/me", headers=world.h["alice"]), 405, "method_not_allowed")
    r = await client.get("/api/v1/communities/not-a-uuid/members", headers=world.h["admin"])
    assert 400 <= r.status_code < 500 and r.headers["content-type"].startswith(PROBLEM)


async def test_weird_authorization_headers_are_401_not_500(client: Any, world: World) -> None:
    for value in ("Bearer", "Bearer ", "Bearer a.b.c", "Basic Zm9vOmJhcg==", "Bearer " + "x" * 5000):
        r = await client.get("/api/v1/me", headers={"Authorization": value})
        assert r.status_code == 401, (value[:20], r.text)
        assert r.headers["content-type"].startswith(PROBLEM)


async def test_weird_login_input_is_never_a_500(client: Any, world: World) -> None:
    for body in (
        {"phone": "\u0000", "password": "x"},
        {"phone": "１３９００００００００１", "password": "x" * 128},
        {"phone": "13900000001", "password": "密码" * 60},
        {"phone": "13900000001", "password": ""},
        {"phone": [], "password": {}},
    ):
        r = await client.post("/api/v1/auth/login", json=body)
        assert r.status_code in {401, 422}, (body, r.text)
        assert r.headers["content-type"].startswith(PROBLEM)


async def test_every_route_in_openapi_with_bad_json_is_4xx(client: Any, world: World) -> None:
    """Post garbage to every JSON write of the API: nothing may answer 500."""
    schema = (await client.get("/schema/openapi.json")).json()
    fake = "0190a0a0-0000-7000-8000-000000000000"
    for path, ops in schema["paths"].items():
        for method in ("post", "put", "patch"):
            if method not in ops:
                continue
            url = path
            for part in [p for p in path.split("/") if p.startswith("{")]:
                url = url.replace(part, str(world.cid) if "cid" in part else fake)
            for raw in (b"{", b'{"x": 1}', b"[1,2]"):
                r = await client.request(
                    method.upper(),
                    url,
                    headers={**world.h["admin"], "Content-Type": "application/json"},
                    content=raw,
                )
                assert r.status_code < 500, (method, url, raw, r.text)


async def test_problem_details_follow_the_readers_language_and_codes_do_not(
    client: Any, world: World
) -> None:
    body = {"phone": "13900000001", "password": "wrong-password"}
    english = (await client.post("/api/v1/auth/login", json=body)).json()
    assert english["code"] == "invalid_credentials" and english["detail"] == "Wrong phone number or password."
    chinese = await client.post(
        "/api/v1/auth/login", json=body, headers={"Accept-Language": "zh-CN,zh;q=0.9"}
    )
    assert chinese.json()["code"] == "invalid_credentials"
    assert chinese.json()["detail"] == "手机号或密码错误。"
    client.cookies.set("jifen_lang", "en")  # the page's language switch wins over the browser's
    again = await client.post("/api/v1/auth/login", json=body, headers={"Accept-Language": "zh-CN"})
    assert again.json()["detail"] == "Wrong phone number or password."
    client.cookies.clear()
    r = await client.post(
        f"/api/v1/communities/{world.cid}/members",
        headers={**world.h["admin"], "Accept-Language": "zh-CN"},
        json={"phone": "123", "name": "x"},
    )
    assert r.json()["code"] == "invalid_phone"
    assert r.json()["detail"].startswith("请输入 11 位中国大陆手机号")
    assert r.json()["errors"] == [{"field": "phone", "message": "不是中国大陆手机号"}]


async def test_throttled_detail_is_translated_with_its_number(client: Any, world: World) -> None:
    from service.config import LOGIN_FAILURES_MAX

    for _ in range(LOGIN_FAILURES_MAX):
        await client.post("/api/v1/auth/login", json={"phone": "13900000001", "password": "wrong-password"})
    r = await client.post(
        "/api/v1/auth/login",
        json={"phone": "13900000001", "password": "wrong-password"},
        headers={"Accept-Language": "zh-CN"},
    )
    assert r.status_code == 429
    assert r.json()["detail"] == f"登录失败次数过多，请 {r.headers['retry-after']} 秒后再试。"
    en = await client.post("/api/v1/auth/login", json={"phone": "13900000001", "password": "wrong-password"})
    assert en.json()["detail"].startswith("Too many failed logins; try again in ")


async def test_nul_characters_are_refused_not_a_500(client: Any, world: World, maker: Any) -> None:
    """PostgreSQL text cannot hold NUL; SQLite can. Either way the caller gets a 4xx."""
    before = await members(maker)
    r = await client.post(
        f"/api/v1/communities/{world.cid}/members",
        headers=world.h["admin"],
        json={"phone": "15600000001", "name": "坏\u0000名字"},
    )
    assert r.status_code in {201, 422}, r.text
    assert r.status_code == 201 or (r.json()["code"] == "invalid_input" and await members(maker) == before)
    r = await client.post("/api/v1/auth/login", json={"phone": "\u0000", "password": "x"})
    problem(r, 422, "invalid_phone")  # no mobile number: refused before any attempt is counted
