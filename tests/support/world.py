"""The world tests run in: a community with a member of every role, and a bearer header for each."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession

from service import clock
from service.accounts import service as accounts
from service.accounts.actor import Actor
from service.accounts.models import Community, Member, Partner
from service.points import service as points

__all__ = [
    "GENEROUS_BUDGET",
    "METRICS_TOKEN",
    "PEOPLE",
    "SECRET",
    "World",
    "add_person",
    "new_world",
    "populate",
]

SECRET = "test-secret-" + "x" * 40
METRICS_TOKEN = "test-metrics-" + "m" * 20
"""What the test servers' ``/metrics`` answers to (``JIFEN_METRICS_TOKEN``)."""
GENEROUS_BUDGET = 50_000_000
"""The world's monthly issuance budget: more than any test issues (tests of the budget set a small one)."""
PEOPLE: tuple[tuple[str, str, str], ...] = (
    ("admin", "13800000001", "admin"),
    ("admin2", "13800000011", "admin"),
    ("organizer", "13800000002", "organizer"),
    ("organizer2", "13800000012", "organizer"),
    ("clerk", "13800000003", "clerk"),
    ("reviewer", "13800000004", "reviewer"),
    ("reviewer2", "13800000014", "reviewer"),
    ("partner", "13800000005", "partner"),
    ("alice", "13900000001", "member"),
    ("bob", "13900000002", "member"),
    ("carol", "13900000003", "member"),
)
"""The ``world`` fixture's people: (name, phone, role); ``partner`` works for ``World.partner``."""


@dataclass
class World:
    """A community with a member of every role; ``h[name]`` are bearer headers."""

    community: Community
    partner: Partner
    members: dict[str, Member] = field(default_factory=dict)
    h: dict[str, dict[str, str]] = field(default_factory=dict)
    root: Actor | None = None

    @property
    def cid(self) -> uuid.UUID:
        return self.community.id

    def actor(self, name: str) -> Actor:
        m = self.members[name]
        return Actor(m.id, m.name, m.phone, m.is_platform_admin)


async def add_person(
    db: AsyncSession, world: World, name: str, phone: str, role: str, partner_id: uuid.UUID | None = None
) -> Member:
    assert world.root is not None
    member = await accounts.add_member(db, world.root, world.cid, phone, name, None, role, partner_id)
    world.members[name] = member
    world.h[name] = {"Authorization": f"Bearer {accounts.issue_token(member, SECRET)}"}
    return member


async def new_world(db: AsyncSession) -> World:
    """A platform admin, a community and a partner shop; people are added with :func:`add_person`."""
    # As `jifen create-admin` makes one: a platform admin's phone counts as verified.
    root_member = Member(
        phone="13700000000", name="平台", is_platform_admin=True, phone_verified_at=clock.now()
    )
    db.add(root_member)
    await db.flush()
    root = Actor(root_member.id, root_member.name, root_member.phone, True)
    community = await accounts.create_community(db, root, "测试社区", "test-community")
    await points.set_budget(db, community.id, GENEROUS_BUDGET, set_by=root_member.id)
    partner = await accounts.create_partner(db, root, community.id, "测试商店")
    w = World(community, partner, root=root)
    w.members["root"] = root_member
    w.h["root"] = {"Authorization": f"Bearer {accounts.issue_token(root_member, SECRET)}"}
    return w


async def populate(db: AsyncSession) -> World:
    """:func:`new_world` with everyone in :data:`PEOPLE` (what the ``world`` fixture gives)."""
    w = await new_world(db)
    for name, phone, role in PEOPLE:
        await add_person(db, w, name, phone, role, w.partner.id if role == "partner" else None)
    return w
