"""Accounts services on a real database: guards, roles, constraints, imports, throttling, passwords."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from service import clock
from service.accounts import service as accounts
from service.accounts.models import Member, Membership
from service.config import LOGIN_FAILURES_MAX, LOGIN_WINDOW_SECONDS
from service.errors import Conflict, DomainError, Forbidden, NotAuthenticated, TooManyRequests
from tests.support.world import World

SECRET = "k" * 40


async def test_require_role_per_community(db: Any, world: World) -> None:
    cid = world.cid
    assert await accounts.require_role(db, world.actor("organizer"), cid, "organizer") == "organizer"
    assert await accounts.require_role(db, world.actor("admin"), cid, "clerk") == "admin"  # admin passes all
    assert await accounts.require_role(db, world.root, cid, "reviewer") == "platform_admin"
    for who, role in (("alice", "organizer"), ("clerk", "reviewer"), ("organizer", "admin")):
        with pytest.raises(Forbidden):
            await accounts.require_role(db, world.actor(who), cid, role)
    other = await accounts.create_community(db, world.root, "别处", "elsewhere")
    with pytest.raises(Forbidden):
        await accounts.require_role(db, world.actor("admin"), other.id, "member")


async def test_partner_staff_pass_only_for_their_own_shop(db: Any, world: World) -> None:
    staff = world.actor("partner")
    own = world.partner.id
    assert await accounts.require_role(db, staff, world.cid, "partner", partner_id=own) == "partner"
    other_shop = await accounts.create_partner(db, world.root, world.cid, "另一家店")
    with pytest.raises(Forbidden):
        await accounts.require_role(db, staff, world.cid, "partner", partner_id=other_shop.id)


async def test_a_phone_can_be_staff_of_only_one_partner_per_community(db: Any, world: World) -> None:
    other_shop = await accounts.create_partner(db, world.root, world.cid, "另一家店")
    with pytest.raises(Conflict):
        await accounts.add_member(
            db, world.root, world.cid, "13800000005", "x", None, "partner", other_shop.id
        )


async def test_adding_an_existing_phone_never_changes_its_password(db: Any, world: World) -> None:
    await accounts.set_password(db, world.actor("alice"), world.members["alice"].id, "alice-own-pass")
    await accounts.add_member(db, world.actor("admin"), world.cid, "13900000001", "alice", "admin-chosen-1")
    token, member = await accounts.login(db, "13900000001", "alice-own-pass", "1.2.3.4", SECRET)
    assert member.id == world.members["alice"].id and token
    with pytest.raises(NotAuthenticated):
        await accounts.login(db, "13900000001", "admin-chosen-1", "1.2.3.4", SECRET)


async def test_database_backs_the_role_rules(clean: Any, maker: Any, world: World) -> None:
    async with maker() as db:
        db.add(Membership(community_id=world.cid, member_id=world.members["alice"].id, role="partner"))
        with pytest.raises(IntegrityError):  # a partner role without a partner
            await db.flush()
    async with maker() as db:
        db.add(Membership(community_id=world.cid, member_id=world.members["alice"].id, role="member"))
        with pytest.raises(IntegrityError):  # the same role twice
            await db.flush()
    async with maker() as db:
        db.add(Membership(community_id=world.cid, member_id=world.members["alice"].id, role="mayor"))
        with pytest.raises(IntegrityError):
            await db.flush()
    async with maker() as db:
        db.add(Member(phone="13900000001", name="twin"))
        with pytest.raises(IntegrityError):
            await db.flush()


async def test_import_members_creates_and_updates(db: Any, world: World) -> None:
    rows, problems = accounts.parse_import_csv(
        "15700000001,新甲\n13900000002,bob,reviewer\n15700000001,重复\n"
    )
    assert [(p.line, p.message) for p in problems] == [(3, "phone repeats line 1")]
    ticks: list[int] = []
    report = await accounts.import_members(db, world.cid, rows, on_row=lambda: ticks.append(1))
    assert (report.created, report.updated, len(ticks)) == (1, 1, 2)
    assert await accounts.count_members(db, world.cid) == 12  # the 11 of the world, and one new
    bob_roles = {r.role for r in await accounts.roles_of(db, world.members["bob"].id)}
    assert bob_roles == {"member", "reviewer"}
    new = await db.scalar(select(Member).where(Member.phone == "15700000001"))
    assert new is not None and new.password_hash is None


async def test_login_throttle_counts_and_resets(db: Any, world: World) -> None:
    await accounts.set_password(db, world.actor("bob"), world.members["bob"].id, "bob-password-1")
    await db.commit()
    for _ in range(LOGIN_FAILURES_MAX):
        with pytest.raises(NotAuthenticated):
            await accounts.login(db, "13900000002", "wrong-pass", "9.9.9.9", SECRET)
    with pytest.raises(TooManyRequests) as caught:
        await accounts.login(db, "13900000002", "bob-password-1", "9.9.9.9", SECRET)
    assert caught.value.code == "too_many_attempts"
    assert 0 < int(caught.value.headers["Retry-After"]) <= LOGIN_WINDOW_SECONDS
    clock.set_now(clock.now() + timedelta(seconds=LOGIN_WINDOW_SECONDS + 1))
    _, member = await accounts.login(db, "13900000002", "bob-password-1", "9.9.9.9", SECRET)
    assert member.id == world.members["bob"].id
    # A success clears that phone's count: the next mistake does not lock it again.
    with pytest.raises(NotAuthenticated):
        await accounts.login(db, "13900000002", "wrong-pass", "9.9.9.9", SECRET)
    await accounts.login(db, "13900000002", "bob-password-1", "9.9.9.9", SECRET)


async def test_community_admin_cannot_take_over_a_platform_or_other_admin(db: Any, world: World) -> None:
    admin = world.actor("admin")
    # The platform admin also holds a role here.
    await accounts.add_member(db, world.root, world.cid, world.members["root"].phone, "平台", None, "member")
    other = await accounts.create_community(db, world.root, "别处", "elsewhere")
    await accounts.add_member(db, world.root, other.id, "15800000001", "别处管理员", "other-admin-1", "admin")
    await accounts.add_member(db, world.root, world.cid, "15800000001", "别处管理员", None, "member")
    other_admin = await db.scalar(select(Member).where(Member.phone == "15800000001"))
    for target in (world.members["root"], other_admin):
        version = target.token_version
        with pytest.raises(Forbidden):
            await accounts.set_password(db, admin, target.id, "taken-over-1", community_id=world.cid)
        assert target.token_version == version
    # A platform admin may.
    await accounts.set_password(db, world.root, other_admin.id, "reset-by-root-1", community_id=world.cid)


async def test_tokens_from_another_secret_are_refused(db: Any, world: World) -> None:
    token = accounts.issue_token(world.members["alice"], "another-secret-" + "y" * 30)
    with pytest.raises(NotAuthenticated) as caught:
        await accounts.authenticate_token(db, token, SECRET)
    assert caught.value.code == "token_invalid"


async def test_domain_errors_carry_stable_codes(db: Any, world: World) -> None:
    cases = [
        (accounts.create_community(db, world.actor("admin"), "x", "xx"), "forbidden"),
        (accounts.create_community(db, world.root, "x", "BAD CODE"), "invalid_code"),
        (accounts.create_community(db, world.root, "", "ok-code"), "invalid_name"),
        (accounts.add_member(db, world.root, world.cid, "123", "x"), "invalid_phone"),
        (accounts.create_partner(db, world.root, world.cid, "测试商店"), "partner_name_taken"),
    ]
    for coro, code in cases:
        with pytest.raises(DomainError) as caught:
            await coro
        assert caught.value.code == code
    assert await db.scalar(select(func.count()).select_from(Member).where(Member.phone == "123")) == 0
