"""accounts.views: what other domains may read about people, roles and communities."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from service.accounts import service as accounts
from service.accounts import views
from service.accounts.actor import Actor
from service.accounts.models import Member


async def _outsider(db: AsyncSession) -> Actor:
    m = Member(phone="13600000009", name="路人甲")
    db.add(m)
    await db.flush()
    return Actor(m.id, m.name, m.phone)


async def test_roles_in_says_what_each_caller_holds(db: AsyncSession, world: Any) -> None:
    clerk = await views.roles_in(db, world.actor("clerk"), world.cid)
    assert clerk.held == {"clerk", "member"}
    assert clerk.member and clerk.any("clerk") and clerk.any("organizer", "clerk")
    assert not clerk.any("organizer") and not clerk.any("admin") and not clerk.platform_admin

    partner = await views.roles_in(db, world.actor("partner"), world.cid)
    assert partner.partner_ids == {world.partner.id}

    alice = await views.roles_in(db, world.actor("alice"), world.cid)
    assert alice.member and alice.any("member") and not alice.any("clerk", "organizer", "reviewer")


async def test_an_admin_passes_every_check_and_a_platform_admin_everything(
    db: AsyncSession, world: Any
) -> None:
    admin = await views.roles_in(db, world.actor("admin"), world.cid)
    assert all(admin.any(r) for r in ("organizer", "clerk", "reviewer", "partner", "member", "admin"))
    assert not admin.platform_admin

    root = await views.roles_in(db, world.root, world.cid)  # holds no membership at all
    assert root.held == frozenset() and root.platform_admin
    assert root.member and root.any("clerk") and root.any("admin")
    elsewhere = await views.roles_in(db, world.root, uuid.uuid4())
    assert elsewhere.any("admin")


async def test_no_roles_for_strangers_and_anonymous_callers(db: AsyncSession, world: Any) -> None:
    for actor in (None, await _outsider(db)):
        roles = await views.roles_in(db, actor, world.cid)
        assert not roles.member and not roles.any("member", "admin") and roles.held == frozenset()
    other_place = await views.roles_in(db, world.actor("admin"), uuid.uuid4())
    assert not other_place.member and not other_place.any("member")


async def test_is_member(db: AsyncSession, world: Any) -> None:
    assert await views.is_member(db, world.members["alice"].id, world.cid)
    assert await views.is_member(db, world.members["clerk"].id, world.cid)
    assert not await views.is_member(db, world.root.member_id, world.cid)
    assert not await views.is_member(db, world.members["alice"].id, uuid.uuid4())


async def test_member_names_plain_and_masked(db: AsyncSession, world: Any) -> None:
    alice, bob = world.members["alice"], world.members["bob"]
    unknown = uuid.uuid4()
    plain = await views.member_names(db, [alice.id, bob.id, unknown])
    assert plain == {alice.id: alice.name, bob.id: bob.name}
    masked = await views.member_names(db, [alice.id, alice.id], masked=True)
    assert list(masked) == [alice.id] and masked[alice.id] != alice.name
    assert masked[alice.id][0] == alice.name[0] and "*" in masked[alice.id]
    assert await views.member_names(db, []) == {}


async def test_members_by_id_masks_name_and_phone(db: AsyncSession, world: Any) -> None:
    alice = world.members["alice"]
    plain = await views.members_by_id(db, [alice.id, uuid.uuid4()])
    assert plain == {alice.id: views.MemberView(alice.id, alice.name, alice.phone)}
    masked = (await views.members_by_id(db, [alice.id], masked=True))[alice.id]
    assert masked.id == alice.id and masked.phone != alice.phone and "*" in masked.phone
    assert masked.phone[:3] == alice.phone[:3] and masked.phone[-4:] == alice.phone[-4:]
    assert masked.name != alice.name and "*" in masked.name
    assert await views.members_by_id(db, []) == {}


async def test_partner_names(db: AsyncSession, world: Any) -> None:
    assert await views.partner_names(db, [world.partner.id, uuid.uuid4()]) == {world.partner.id: "测试商店"}


async def test_community_timezone(db: AsyncSession, world: Any) -> None:
    assert await views.community_timezone(db, world.cid) == "Asia/Shanghai"
    elsewhere = await accounts.create_community(db, world.root, "乌鲁木齐", "urumqi", "Asia/Urumqi")
    assert await views.community_timezone(db, elsewhere.id) == "Asia/Urumqi"
    assert await views.community_timezone(db, uuid.uuid4()) == "Asia/Shanghai"


async def test_communities_where_counts_only_the_callers_own_roles(db: AsyncSession, world: Any) -> None:
    second = await accounts.create_community(db, world.root, "二号社区", "second")
    await accounts.add_member(db, world.root, second.id, world.members["clerk"].phone, "x", role="admin")
    clerk = world.actor("clerk")
    assert {c.id for c in await views.communities_where(db, clerk, "clerk")} == {world.cid, second.id}
    assert [c.id for c in await views.communities_where(db, clerk, "organizer")] == [second.id]  # admin there
    assert await views.communities_where(db, world.actor("alice"), "admin") == []
    assert await views.communities_where(db, world.root, "admin") == []  # no membership of its own


async def test_home_of_lists_communities_roles_and_waiting_sign_ups(db: AsyncSession, world: Any) -> None:
    home = await views.home_of(db, world.actor("organizer"))
    assert [c.id for c in home.communities] == [world.cid]
    assert sorted(home.roles[world.cid]) == ["member", "organizer"]
    assert home.pending_sign_ups == []
