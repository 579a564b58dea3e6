"""Communities and their members over HTTP: who may create, add, list, import and reset."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, select

from service.accounts.models import Community, Member, Membership
from tests.support.problems import problem
from tests.support.world import World


async def count(maker: Any, model: Any) -> int:
    async with maker() as db:
        return int(await db.scalar(select(func.count()).select_from(model)) or 0)


async def roles(maker: Any, phone: str, cid: uuid.UUID) -> set[str]:
    async with maker() as db:
        rows = await db.scalars(
            select(Membership.role)
            .join(Member, Member.id == Membership.member_id)
            .where(Member.phone == phone, Membership.community_id == cid)
        )
        return set(rows)


# ---------------------------------------------------------------- communities


async def test_platform_admin_creates_a_community(client: Any, world: World) -> None:
    r = await client.post(
        "/api/v1/communities",
        headers=world.h["root"],
        json={"name": "石油路街道", "code": "shiyoulu", "timezone": "Asia/Shanghai"},
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["name"] == "石油路街道" and body["code"] == "shiyoulu" and body["timezone"] == "Asia/Shanghai"
    shown = await client.get(f"/api/v1/communities/{body['id']}")
    assert shown.json()["name"] == "石油路街道"


async def test_only_a_platform_admin_creates_communities(client: Any, world: World, maker: Any) -> None:
    before = await count(maker, Community)
    for who in ("admin", "organizer", "alice"):
        r = await client.post(
            "/api/v1/communities", headers=world.h[who], json={"name": "X", "code": "x-town"}
        )
        problem(r, 403, "forbidden")
    problem(
        await client.post("/api/v1/communities", json={"name": "X", "code": "x-town"}),
        401,
        "not_authenticated",
    )
    assert await count(maker, Community) == before


async def test_community_code_taken_and_bad_timezone(client: Any, world: World, maker: Any) -> None:
    before = await count(maker, Community)
    r = await client.post(
        "/api/v1/communities", headers=world.h["root"], json={"name": "另一个", "code": "test-community"}
    )
    problem(r, 409, "community_code_taken")
    r = await client.post(
        "/api/v1/communities",
        headers=world.h["root"],
        json={"name": "时区", "code": "tz", "timezone": "Mars/Base"},
    )
    problem(r, 422, "invalid_timezone")
    r = await client.post(
        "/api/v1/communities", headers=world.h["root"], json={"name": "大写", "code": "UPPER"}
    )
    problem(r, 422, "invalid_input")
    assert await count(maker, Community) == before


# ---------------------------------------------------------------- adding members


async def test_admin_adds_a_new_member_who_can_log_in(client: Any, world: World, maker: Any) -> None:
    r = await client.post(
        f"/api/v1/communities/{world.cid}/members",
        headers=world.h["admin"],
        json={"phone": "152 0000 0001", "name": "周玉兰", "password": "first-pass-1", "role": "organizer"},
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["phone"] == "15200000001" and body["name"] == "周玉兰"
    assert {x["role"] for x in body["roles"]} == {"organizer", "member"}
    assert await roles(maker, "15200000001", world.cid) == {"organizer", "member"}
    login = await client.post("/api/v1/auth/login", json={"phone": "15200000001", "password": "first-pass-1"})
    assert login.status_code == 200


async def test_existing_phone_gains_a_role_without_a_second_account(
    client: Any, world: World, maker: Any
) -> None:
    before = await count(maker, Member)
    r = await client.post(
        f"/api/v1/communities/{world.cid}/members",
        headers=world.h["admin"],
        json={"phone": "13900000001", "name": "ignored", "role": "clerk"},
    )
    assert r.status_code == 201, r.text
    assert r.json()["id"] == str(world.members["alice"].id)
    assert r.json()["name"] == "ignored"  # the reply echoes what was typed, never the account's data
    async with maker() as db:
        assert (await db.get(Member, world.members["alice"].id)).name == "alice"  # the account keeps it
    assert await count(maker, Member) == before
    assert await roles(maker, "13900000001", world.cid) == {"clerk", "member"}
    # Adding the same role again is harmless.
    again = await client.post(
        f"/api/v1/communities/{world.cid}/members",
        headers=world.h["admin"],
        json={"phone": "13900000001", "name": "alice", "role": "clerk"},
    )
    assert again.status_code == 201
    assert await roles(maker, "13900000001", world.cid) == {"clerk", "member"}


async def test_partner_role_requires_a_partner_of_this_community(
    client: Any, world: World, maker: Any
) -> None:
    url = f"/api/v1/communities/{world.cid}/members"
    before = (await count(maker, Member), await count(maker, Membership))
    body = problem(
        await client.post(
            url, headers=world.h["admin"], json={"phone": "15300000001", "name": "店员", "role": "partner"}
        ),
        422,
        "partner_required",
    )
    assert body["errors"][0]["field"] == "partner_id"
    problem(
        await client.post(
            url,
            headers=world.h["admin"],
            json={
                "phone": "15300000001",
                "name": "店员",
                "role": "member",
                "partner_id": str(world.partner.id),
            },
        ),
        422,
        "partner_not_allowed",
    )
    problem(
        await client.post(
            url, headers=world.h["admin"], json={"phone": "15300000001", "name": "x", "role": "mayor"}
        ),
        422,
        "invalid_role",
    )
    assert (await count(maker, Member), await count(maker, Membership)) == before
    ok = await client.post(
        url,
        headers=world.h["admin"],
        json={"phone": "15300000001", "name": "店员", "role": "partner", "partner_id": str(world.partner.id)},
    )
    assert ok.status_code == 201
    assert {
        "role": "partner",
        "community_id": str(world.cid),
        "partner_id": str(world.partner.id),
    } in ok.json()["roles"]


async def test_non_admins_cannot_add_members_and_nothing_is_created(
    client: Any, world: World, maker: Any
) -> None:
    before = (await count(maker, Member), await count(maker, Membership))
    for who in ("organizer", "clerk", "reviewer", "partner", "alice"):
        r = await client.post(
            f"/api/v1/communities/{world.cid}/members",
            headers=world.h[who],
            json={"phone": "15400000001", "name": "某人", "role": "admin"},
        )
        problem(r, 403, "forbidden")
    assert (await count(maker, Member), await count(maker, Membership)) == before


async def test_admin_of_one_community_has_no_power_in_another(client: Any, world: World, maker: Any) -> None:
    other = await client.post(
        "/api/v1/communities", headers=world.h["root"], json={"name": "别处", "code": "elsewhere"}
    )
    oid = other.json()["id"]
    before = await count(maker, Membership)
    r = await client.post(
        f"/api/v1/communities/{oid}/members",
        headers=world.h["admin"],
        json={"phone": "15400000002", "name": "x"},
    )
    problem(r, 403, "forbidden")
    problem(
        await client.get(f"/api/v1/communities/{oid}/members", headers=world.h["admin"]), 403, "forbidden"
    )
    assert await count(maker, Membership) == before


async def test_adding_to_a_missing_community_is_404(client: Any, world: World) -> None:
    r = await client.post(
        f"/api/v1/communities/{uuid.uuid4()}/members",
        headers=world.h["root"],
        json={"phone": "15400000003", "name": "x"},
    )
    problem(r, 404, "community_not_found")


# ---------------------------------------------------------------- listing


async def test_members_list_pages_with_a_cursor(client: Any, world: World) -> None:
    url = f"/api/v1/communities/{world.cid}/members"
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 4}
        if cursor:
            params["cursor"] = cursor
        r = await client.get(url, headers=world.h["admin"], params=params)
        assert r.status_code == 200, r.text
        body = r.json()
        assert len(body["items"]) <= 4
        seen += [m["phone"] for m in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        if not cursor:
            break
    everyone = {m.phone for name, m in world.members.items() if name != "root"}
    assert len(seen) == len(set(seen)) == len(everyone)
    assert set(seen) == everyone
    assert pages == 3
    # Search by name or phone.
    found = (await client.get(url, headers=world.h["admin"], params={"q": "alice"})).json()["items"]
    assert [m["phone"] for m in found] == ["13900000001"]
    assert found[0]["roles"] == [{"community_id": str(world.cid), "role": "member"}]


async def test_members_list_refuses_bad_paging_and_plain_members(client: Any, world: World) -> None:
    url = f"/api/v1/communities/{world.cid}/members"
    problem(
        await client.get(url, headers=world.h["admin"], params={"cursor": "!!not-ours"}),
        422,
        "invalid_cursor",
    )
    problem(
        await client.get(url, headers=world.h["admin"], params={"cursor": "bm90LWEtdXVpZA"}),
        422,
        "invalid_cursor",
    )
    problem(await client.get(url, headers=world.h["admin"], params={"limit": 0}), 422, "invalid_input")
    problem(await client.get(url, headers=world.h["admin"], params={"limit": 201}), 422, "invalid_input")
    problem(await client.get(url, headers=world.h["alice"]), 403, "forbidden")


# ---------------------------------------------------------------- import


async def test_import_with_bad_rows_is_refused_with_line_numbers_and_imports_nothing(
    client: Any, world: World, maker: Any
) -> None:
    before = (await count(maker, Member), await count(maker, Membership))
    csv = "phone,name,role\n15500000001,好人\n12345,坏号码\n15500000003,某人,mayor\n"
    r = await client.post(
        f"/api/v1/communities/{world.cid}/members/import",
        headers={**world.h["admin"], "Content-Type": "text/csv"},
        content=csv.encode(),
    )
    body = problem(r, 422, "import_rejected")
    assert [e["field"] for e in body["errors"]] == ["line 3", "line 4"]
    assert (await count(maker, Member), await count(maker, Membership)) == before


async def test_import_skip_bad_imports_the_good_rows(client: Any, world: World, maker: Any) -> None:
    before = await count(maker, Member)
    csv = "\ufeffphone,name,role\n15500000001,好人\n12345,坏号码\n13900000001,alice,organizer\n"
    r = await client.post(
        f"/api/v1/communities/{world.cid}/members/import?skip_bad=true",
        headers={**world.h["admin"], "Content-Type": "text/csv"},
        content=csv.encode("utf-8"),
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["created"] == 1 and body["updated"] == 1
    assert body["errors"] == [{"line": 3, "message": "not a mainland mobile number: '12345'"}]
    assert await count(maker, Member) == before + 1
    assert await roles(maker, "15500000001", world.cid) == {"member"}
    assert await roles(maker, "13900000001", world.cid) == {"member", "organizer"}


async def test_import_refusals(client: Any, world: World, maker: Any) -> None:
    url = f"/api/v1/communities/{world.cid}/members/import"
    before = await count(maker, Member)
    problem(
        await client.post(
            url, headers={**world.h["organizer"], "Content-Type": "text/csv"}, content=b"15500000001,x\n"
        ),
        403,
        "forbidden",
    )
    problem(
        await client.post(
            url,
            headers={**world.h["admin"], "Content-Type": "text/csv"},
            content="15500000001,王\n".encode("gbk"),
        ),
        422,
        "import_not_utf8",
    )
    assert await count(maker, Member) == before


# ---------------------------------------------------------------- password reset


async def test_platform_admin_resets_a_members_password(client: Any, world: World) -> None:
    mid = world.members["alice"].id
    r = await client.post(
        f"/api/v1/communities/{world.cid}/members/{mid}/password",
        headers=world.h["root"],
        json={"password": "reset-by-admin-1"},
    )
    assert r.status_code == 200 and r.json()["status"] == "changed"
    problem(await client.get("/api/v1/me", headers=world.h["alice"]), 401, "token_revoked")
    login = await client.post(
        "/api/v1/auth/login", json={"phone": "13900000001", "password": "reset-by-admin-1"}
    )
    assert login.status_code == 200


async def test_password_reset_refusals_leave_the_login_working(client: Any, world: World) -> None:
    mid = world.members["alice"].id
    url = f"/api/v1/communities/{world.cid}/members/{mid}/password"
    problem(
        await client.post(url, headers=world.h["organizer"], json={"password": "hijack-pass-1"}),
        403,
        "forbidden",
    )
    problem(
        await client.post(url, headers=world.h["root"], json={"password": "short"}), 422, "invalid_password"
    )
    # A community admin issues a one-time code instead (tests/api/test_onboarding_api.py).
    problem(
        await client.post(url, headers=world.h["admin"], json={"password": "hijack-pass-1"}),
        403,
        "reset_by_code",
    )
    stranger = await client.post(
        "/api/v1/communities", headers=world.h["root"], json={"name": "别处", "code": "elsewhere"}
    )
    other_url = f"/api/v1/communities/{stranger.json()['id']}/members/{mid}/password"
    problem(
        await client.post(other_url, headers=world.h["admin"], json={"password": "hijack-pass-1"}),
        403,
        "forbidden",
    )
    assert (await client.get("/api/v1/me", headers=world.h["alice"])).status_code == 200
    bad = await client.post("/api/v1/auth/login", json={"phone": "13900000001", "password": "hijack-pass-1"})
    problem(bad, 401, "invalid_credentials")
