"""Issue 9 as an attacker: tenant isolation of people, separation of duties, and the audit log.

Each attack is tried over HTTP and must be refused with its code while nothing changes.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, select

from service.accounts import service as accounts
from service.accounts.models import Member, Membership
from service.audit.models import AuditEvent
from service.points import service as points
from service.points.models import Transfer
from tests.support.world import SECRET, World

PASSWORD = "b-own-pass-1"
"""The password each person of community B chose."""


async def community_b(maker: Any, world: World) -> dict[str, Member]:
    """Community B, with its own clerk, organizer, partner staff and resident, each with a password."""
    people: dict[str, Member] = {}
    async with maker() as db:
        b = await accounts.create_community(db, world.root, "别的社区", "community-b")
        shop = await accounts.create_partner(db, world.root, b.id, "别处小店")
        for name, phone, role, pid in (
            ("B店员", "15600000001", "clerk", None),
            ("B组织者", "15600000002", "organizer", None),
            ("B商家", "15600000003", "partner", shop.id),
            ("B居民", "15600000004", "member", None),
        ):
            people[role] = await accounts.add_member(db, world.root, b.id, phone, name, PASSWORD, role, pid)
        await db.commit()
    return people


async def rows(maker: Any, model: Any, *where: Any) -> int:
    async with maker() as db:
        return int(await db.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def audit(maker: Any, action: str) -> list[AuditEvent]:
    """Events of ``action`` by anyone but the platform admin who built the test world."""
    async with maker() as db:
        rows = await db.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id))
        return [e for e in rows if e.detail.get("role") != "member" or e.action != "role_granted"]


# ---------------------------------------------------------------- 1. tenant isolation of people


async def test_admin_of_a_cannot_take_over_people_of_b(client: Any, world: World, maker: Any) -> None:
    people = await community_b(maker, world)
    url = f"/api/v1/communities/{world.cid}/members"
    for role, person in people.items():
        # Adding B's phone to A works (a person may live in two places)...
        r = await client.post(
            url, headers=world.h["admin"], json={"phone": person.phone, "name": "随便写", "role": "member"}
        )
        assert r.status_code == 201, r.text
        # ...but the reply echoes what the admin typed, never B's data.
        assert r.json()["name"] == "随便写" and person.name not in r.text
        mid = person.id
        attacks = [
            ("post", f"{url}/{mid}/password", {"password": "taken-over-1"}),
            ("patch", f"{url}/{mid}", {"name": "改掉"}),
            ("patch", f"{url}/{mid}", {"phone": "13312345678"}),
        ]
        for method, target, body in attacks:
            r = await getattr(client, method)(target, headers=world.h["admin"], json=body)
            assert r.status_code == 403 and r.json()["code"] == "member_elsewhere", (role, target, r.text)
        # Nothing changed: the person logs in with their own password, under their own name and phone.
        async with maker() as db:
            _, member = await accounts.login(db, person.phone, PASSWORD, f"10.0.0.{len(role)}", SECRET)
            await db.commit()
            assert (member.name, member.phone) == (person.name, person.phone)
    assert await audit(maker, "password_set") == []
    assert await audit(maker, "name_changed") == [] and await audit(maker, "phone_changed") == []


async def test_admin_manages_people_only_of_his_community_and_platform_admin_all(
    client: Any, world: World, maker: Any
) -> None:
    people = await community_b(maker, world)
    alice = world.members["alice"]
    url = f"/api/v1/communities/{world.cid}/members"
    r = await client.patch(
        f"{url}/{alice.id}", headers=world.h["admin"], json={"name": "王爱丽", "phone": "13300000001"}
    )
    assert r.status_code == 200, r.text
    assert (r.json()["name"], r.json()["phone"]) == ("王爱丽", "13300000001")
    taken = await client.patch(f"{url}/{alice.id}", headers=world.h["admin"], json={"phone": "13900000002"})
    assert taken.status_code == 409 and taken.json()["code"] == "phone_taken"
    # An admin of A cannot reach someone only in B through A's routes (not in A: 404).
    r = await client.post(
        f"{url}/{people['member'].id}/password", headers=world.h["admin"], json={"password": "x-pass-123"}
    )
    assert r.status_code == 404 and r.json()["code"] == "member_not_found"
    # The platform admin (the street office) may reset anyone, and it is recorded.
    await client.post(
        url, headers=world.h["admin"], json={"phone": people["clerk"].phone, "name": "x", "role": "member"}
    )
    r = await client.post(
        f"{url}/{people['clerk'].id}/password", headers=world.h["root"], json={"password": "reset-by-root"}
    )
    assert r.status_code == 200, r.text
    [event] = await audit(maker, "password_set")
    assert (event.actor_id, event.subject_member_id) == (world.members["root"].id, people["clerk"].id)
    assert event.client_addr == "testclient"
    names = await audit(maker, "name_changed")
    assert [(e.detail["old"], e.detail["new"]) for e in names] == [("alice", "王爱丽")]
    assert [e.detail["new"] for e in await audit(maker, "phone_changed")] == ["13300000001"]


# ---------------------------------------------------------------- 2. separation of duties


async def test_community_admin_cannot_make_a_second_admin_or_reviewer(
    client: Any, world: World, maker: Any
) -> None:
    url = f"/api/v1/communities/{world.cid}/members"
    before = (await rows(maker, Member), await rows(maker, Membership))
    for role in ("admin", "reviewer"):
        for phone in ("15900000001", world.members["bob"].phone):  # a new account and an existing one
            r = await client.post(
                url,
                headers=world.h["admin"],
                json={"phone": phone, "name": "帮手", "role": role, "password": "i-chose-it-1"},
            )
            assert r.status_code == 403 and r.json()["code"] == "role_needs_platform_admin", r.text
    imported = await client.post(
        f"{url}/import", headers=world.h["admin"], content="15900000002,帮手,admin\n".encode()
    )
    assert imported.status_code == 403 and imported.json()["code"] == "role_needs_platform_admin"
    # Nor take those roles away (an admin could otherwise remove the colleague who checks him).
    admin2 = world.members["admin2"].id
    for role in ("admin", "reviewer"):
        target = admin2 if role == "admin" else world.members["reviewer"].id
        r = await client.delete(f"{url}/{target}/roles/{role}", headers=world.h["admin"])
        assert r.status_code == 403 and r.json()["code"] == "role_needs_platform_admin"
    assert (await rows(maker, Member), await rows(maker, Membership)) == before
    # He grants and removes the other roles; the platform admin grants admin; all of it is recorded.
    bob = world.members["bob"]
    r = await client.post(
        url, headers=world.h["admin"], json={"phone": bob.phone, "name": "b", "role": "clerk"}
    )
    assert r.status_code == 201
    r = await client.delete(f"{url}/{bob.id}/roles/clerk", headers=world.h["admin"])
    assert r.status_code == 200 and {x["role"] for x in r.json()["roles"]} == {"member"}
    r = await client.delete(f"{url}/{bob.id}/roles/member", headers=world.h["admin"])
    assert r.status_code == 422 and r.json()["code"] == "invalid_role"
    r = await client.post(
        url, headers=world.h["root"], json={"phone": bob.phone, "name": "b", "role": "admin"}
    )
    assert r.status_code == 201
    r = await client.delete(f"{url}/{bob.id}/roles/admin", headers=world.h["root"])
    assert r.status_code == 200
    granted = [
        (e.detail["role"], e.actor_id)
        for e in await audit(maker, "role_granted")
        if e.subject_member_id == bob.id
    ]
    assert granted == [("clerk", world.members["admin"].id), ("admin", world.members["root"].id)]
    removed = [e.detail["role"] for e in await audit(maker, "role_removed")]
    assert removed == ["clerk", "admin"]


async def test_admin_cannot_award_himself(client: Any, world: World, maker: Any) -> None:
    admin = world.members["admin"]
    awards = f"/api/v1/communities/{world.cid}/awards"
    # Even a small award to oneself waits for another admin.
    small = await client.post(
        awards, headers=world.h["admin"], json={"member_id": str(admin.id), "points": 5, "reason": "加班"}
    )
    assert small.status_code == 202 and small.json()["status"] == "pending_approval", small.text
    # A colleague asks 50,000 for him: he may not approve an award to himself...
    big = await client.post(
        awards,
        headers=world.h["admin2"],
        json={"member_id": str(admin.id), "points": 50_000, "reason": "奖励"},
    )
    assert big.status_code == 202
    for award, code in ((small, "same_admin"), (big, "approver_conflict")):
        r = await client.post(f"/api/v1/awards/{award.json()['id']}/approve", headers=world.h["admin"])
        assert r.status_code == 403 and r.json()["code"] == code, r.text
        r = await client.post(f"/api/v1/awards/{award.json()['id']}/reject", headers=world.h["admin"])
        assert r.status_code == 403 and r.json()["code"] == code
    # ...and nothing was posted: no transfer, balance unchanged, both still pending.
    assert await rows(maker, Transfer) == 0
    async with maker() as db:
        assert (await points.balance(db, world.cid, admin.id)).available == 0
    listed = await client.get(awards, headers=world.h["admin2"], params={"status": "pending_approval"})
    assert len(listed.json()["items"]) == 2
    # The other admin decides the small one; the platform admin, not a beneficiary, the big one.
    r = await client.post(f"/api/v1/awards/{small.json()['id']}/approve", headers=world.h["admin2"])
    assert r.status_code == 200 and r.json()["status"] == "posted"
    r = await client.post(f"/api/v1/awards/{big.json()['id']}/reject", headers=world.h["root"])
    assert r.status_code == 200 and r.json()["status"] == "rejected"
    async with maker() as db:
        assert (await points.balance(db, world.cid, admin.id)).available == 5
    actions = [(e.action, e.actor_id) for e in await _all_audit(maker)]
    assert actions == [
        ("award_requested", admin.id),
        ("award_requested", world.members["admin2"].id),
        ("award_approved", world.members["admin2"].id),
        ("award_rejected", world.members["root"].id),
    ]


WORLD_BUILDING = frozenset({"role_granted", "community_created", "partner_created"})


async def _all_audit(maker: Any) -> list[AuditEvent]:
    """Every event except those that built the test world (its community, shop and role grants)."""
    async with maker() as db:
        return [
            e
            for e in await db.scalars(select(AuditEvent).order_by(AuditEvent.id))
            if e.action not in WORLD_BUILDING
        ]


# ---------------------------------------------------------------- 5. the audit log over HTTP


async def test_audit_log_is_read_by_the_communitys_admins_and_platform_admins(
    client: Any, world: World, maker: Any
) -> None:
    await community_b(maker, world)
    for who in ("bob", "carol", "alice"):
        r = await client.post(
            f"/api/v1/communities/{world.cid}/awards",
            headers={**world.h["admin"], "x-forwarded-for": "1.2.3.4"},  # ignored: no trusted proxies
            json={"member_id": str(world.members[who].id), "points": 3, "reason": "帮忙"},
        )
        assert r.status_code == 201
    url = f"/api/v1/communities/{world.cid}/audit"
    page1 = (await client.get(url, headers=world.h["admin2"], params={"limit": 2})).json()
    assert [e["subject_name"] for e in page1["items"]] == ["alice", "carol"]
    first = page1["items"][0]
    assert (first["action"], first["actor_name"], first["client_addr"]) == (
        "award_requested",
        "admin",
        "testclient",
    )
    assert first["detail"]["points"] == 3
    page2 = (
        await client.get(url, headers=world.h["admin2"], params={"limit": 2, "cursor": page1["next_cursor"]})
    ).json()
    # Newest first, no repeats: the third award, then the role grants that built the world.
    assert (page2["items"][0]["subject_name"], page2["items"][0]["action"]) == ("bob", "award_requested")
    assert page2["items"][1]["action"] == "role_granted" and page2["next_cursor"]
    # An admin of B, the community's own staff and members are refused; so is A's admin for everything.
    async with maker() as db:
        b = await accounts.get_community_by_code(db, "community-b")
        b_admin = await accounts.add_member(db, world.root, b.id, "15600000009", "B管理员", None, "admin")
        await db.commit()
    b_headers = {"Authorization": f"Bearer {accounts.issue_token(b_admin, SECRET)}"}
    for headers in (b_headers, world.h["organizer"], world.h["alice"]):
        r = await client.get(url, headers=headers)
        assert r.status_code == 403 and r.json()["code"] == "forbidden"
    r = await client.get("/api/v1/audit", headers=world.h["admin"])
    assert r.status_code == 403
    everything = (await client.get("/api/v1/audit", headers=world.h["root"])).json()["items"]
    assert {e["action"] for e in everything} == {"award_requested", *WORLD_BUILDING}
    assert (await client.get(url, headers=b_headers)).status_code == 403
    assert (
        await client.get(f"/api/v1/communities/{uuid.uuid4()}/audit", headers=world.h["root"])
    ).status_code == 404


async def test_audit_page_in_both_languages_for_admins_only(client: Any, world: World, maker: Any) -> None:
    people = await community_b(maker, world)
    r = await client.post(
        f"/api/v1/communities/{world.cid}/awards",
        headers=world.h["admin"],
        json={"member_id": str(world.members["bob"].id), "points": 7, "reason": "搬运物资"},
    )
    assert r.status_code == 201
    zh = await client.get("/admin/audit", headers=world.h["admin"])
    assert zh.status_code == 200 and "操作日志" in zh.text and "申请奖励积分" in zh.text
    assert "搬运物资" in zh.text and "testclient" in zh.text and "B店员" not in zh.text
    en = await client.get("/admin/audit?lang=en", headers=world.h["admin"])
    assert "Audit log" in en.text and "Award requested" in en.text
    assert 'href="/admin/audit?community=' in zh.text  # linked from the admin navigation
    # The platform admin sees every community's acts, B's role grants included.
    everything = await client.get("/admin/audit?lang=en", headers=world.h["root"])
    assert (
        everything.status_code == 200 and "All communities" in everything.text and "B店员" in everything.text
    )
    # A member, and an admin of B asking for A's log, are refused.
    assert (await client.get("/admin/audit", headers=world.h["alice"])).status_code in (200, 403)
    assert "搬运物资" not in (await client.get("/admin/audit", headers=world.h["alice"])).text
    async with maker() as db:
        b = await accounts.get_community_by_code(db, "community-b")
        b_admin = await accounts.add_member(db, world.root, b.id, "15600000009", "B管理员", None, "admin")
        await db.commit()
    b_headers = {"Authorization": f"Bearer {accounts.issue_token(b_admin, SECRET)}"}
    refused = await client.get(f"/admin/audit?community={world.cid}", headers=b_headers)
    assert refused.status_code == 403 and "搬运物资" not in refused.text
    own = await client.get("/admin/audit", headers=b_headers)
    assert own.status_code == 200 and "搬运物资" not in own.text and people["clerk"].name in own.text


async def test_admin_cannot_take_over_a_fellow_admin_or_reviewer(
    client: Any, world: World, maker: Any
) -> None:
    """Setting the other admin's password would let one admin approve his own awards as the other."""
    url = f"/api/v1/communities/{world.cid}/members"
    async with maker() as db:
        for name in ("admin2", "reviewer"):
            await accounts.set_password(
                db, world.root, world.members[name].id, PASSWORD, community_id=world.cid
            )
        await db.commit()
    for name in ("admin2", "reviewer"):
        mid = world.members[name].id
        for method, target, body in (
            ("post", f"{url}/{mid}/password", {"password": "taken-over-1"}),
            ("patch", f"{url}/{mid}", {"phone": "13312345670"}),
        ):
            r = await getattr(client, method)(target, headers=world.h["admin"], json=body)
            assert r.status_code == 403 and r.json()["code"] == "role_needs_platform_admin", r.text
        async with maker() as db:
            _, member = await accounts.login(db, world.members[name].phone, PASSWORD, "10.9.9.9", SECRET)
            await db.commit()
            assert member.phone == world.members[name].phone
    # His own name he may correct.
    r = await client.patch(
        f"{url}/{world.members['admin'].id}", headers=world.h["admin"], json={"name": "老王"}
    )
    assert r.status_code == 200 and r.json()["name"] == "老王"
