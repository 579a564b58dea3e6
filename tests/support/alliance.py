"""A street for the alliance tests (issue 20): the world's community and 建兰 under 石油路街道, 外街 under
another street, an official of the street, residents of each, and a unit of the street with its staff."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from service.accounts import service as accounts
from service.accounts.actor import Actor
from service.accounts.models import Member
from service.points import service as points
from service.points.models import Account
from service.regions import service as regions
from service.regions import units_service as units
from service.store import service as store
from tests.support.world import GENEROUS_BUDGET, SECRET, World

__all__ = ["Street", "assert_conserved", "fund_in", "make_street", "new_residents", "unit_offer"]


@dataclass
class Street:
    world: World
    street_id: uuid.UUID
    jianlan: uuid.UUID
    outside: uuid.UUID
    unit_id: uuid.UUID
    other_unit_id: uuid.UUID
    people: dict[str, Member] = field(default_factory=dict)
    h: dict[str, dict[str, str]] = field(default_factory=dict)


def _header(member: Member) -> dict[str, str]:
    return {"Authorization": f"Bearer {accounts.issue_token(member, SECRET)}"}


async def make_street(maker: async_sessionmaker[AsyncSession], world: World) -> Street:
    """The tree, the communities, the people (``official``, ``jl`` of 建兰, ``out`` of 外街, ``staff`` of
    the unit 康乐药房, ``staff2`` of the unit 阳光健身), committed."""
    root = world.root
    assert root is not None
    async with maker() as db:
        city = await regions.create_region(db, root, "兰州市", "lz", "city")
        district = await regions.create_region(db, root, "七里河区", "qlh", "district", city.id)
        street = await regions.create_region(db, root, "石油路街道", "syl", "street", district.id)
        far = await regions.create_region(db, root, "敦煌路街道", "dhl", "street", district.id)
        jianlan = await accounts.create_community(db, root, "建兰社区", "jianlan")
        outside = await accounts.create_community(db, root, "外街社区", "waijie")
        for cid in (jianlan.id, outside.id):
            await points.set_budget(db, cid, GENEROUS_BUDGET, set_by=root.member_id)
        await regions.set_community_region(db, root, world.cid, street.id)
        await regions.set_community_region(db, root, jianlan.id, street.id)
        await regions.set_community_region(db, root, outside.id, far.id)
        people = {
            "jl": await accounts.add_member(db, root, jianlan.id, "13500000001", "建兰居民", None, "member"),
            "out": await accounts.add_member(db, root, outside.id, "13500000002", "外街居民", None, "member"),
            "official": await accounts.add_member(
                db, root, jianlan.id, "13600000001", "街道干部", None, "member"
            ),
        }
        await regions.add_official(db, root, street.id, "13600000001")
        unit = await units.create_unit(
            db, root, street.id, name="康乐药房", address="石油路 12 号", kind="health", hours="8:00-21:00"
        )
        other = await units.create_unit(db, root, street.id, name="阳光健身", address=None, kind="fitness")
        people["staff"] = (
            await units.invite_staff(db, root, unit.id, "13500000009", "药房店员", SECRET)
        ).member
        people["staff2"] = (
            await units.invite_staff(db, root, other.id, "13500000008", "健身教练", SECRET)
        ).member
        await db.commit()
    s = Street(world, street.id, jianlan.id, outside.id, unit.id, other.id, people)
    s.h = {name: _header(m) for name, m in people.items()}
    return s


async def fund_in(
    maker: async_sessionmaker[AsyncSession], cid: uuid.UUID, member_id: uuid.UUID, n: int
) -> None:
    """Award ``n`` points to the member in community ``cid`` (committed)."""
    async with maker() as db:
        await points.award(
            db, community_id=cid, member_id=member_id, points=n, code="test",
            idempotency_key=f"fund-{uuid.uuid4()}",
        )  # fmt: skip
        await db.commit()


async def unit_offer(
    maker: async_sessionmaker[AsyncSession], s: Street, staff: str = "staff", **fields: Any
) -> uuid.UUID:
    """An offer of the unit ``staff`` works for (the first unit by default), committed."""
    pid = s.unit_id if staff == "staff" else s.other_unit_id
    m = s.people[staff]
    from service.accounts.actor import Actor

    body: dict[str, Any] = {"title": "免费测血压", "points_price": 30, **fields}
    async with maker() as db:
        offer = await store.create_offer(db, Actor(m.id, m.name, m.phone), pid, **body)
        await db.commit()
    return offer.id


async def new_residents(
    maker: async_sessionmaker[AsyncSession], s: Street, n: int, amount: int = 100, phones: str = "1340000"
) -> list[tuple[uuid.UUID, Actor]]:
    """``n`` residents, alternately of the world's community and of 建兰, each with ``amount`` points there
    (phones ``phones`` + four digits)."""
    out = []
    root = s.world.root
    assert root is not None
    async with maker() as db:
        for i in range(n):
            cid = s.world.cid if i % 2 else s.jianlan
            m = await accounts.add_member(db, root, cid, f"{phones}{i:04d}", f"居民{i}", None, "member")
            out.append((cid, Actor(m.id, m.name, m.phone)))
        await db.commit()
    for cid, a in out:
        await fund_in(maker, cid, a.member_id, amount)
    return out


async def assert_conserved(maker: async_sessionmaker[AsyncSession], *cids: uuid.UUID) -> None:
    """Each community's accounts sum to zero on their own and its ledger verifies."""
    async with maker() as db:
        for cid in cids:
            total = await db.scalar(select(func.sum(Account.balance)).where(Account.community_id == cid))
            assert int(total or 0) == 0, f"community {cid}: accounts sum to {total}"
            report = await points.verify(db, cid)
            assert report.ok, report.problems
