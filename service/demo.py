"""Demo data: one community with every role, so a newcomer can click through Jifen at once."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from service.accounts import service as accounts
from service.accounts.models import Community, Member, Partner
from service.activities.demo import seed as activities_seed
from service.points import service as points
from service.points.demo import DEMO_MONTHLY_BUDGET
from service.points.demo import seed as points_seed
from service.regions.demo import seed as regions_seed
from service.rewards.demo import seed as rewards_seed
from service.store.demo import seed as store_seed
from service.wishes.demo import seed as wishes_seed

__all__ = ["DEMO_PASSWORD", "DEMO_STEPS", "Demo", "build_demo"]

DEMO_PASSWORD = "jifen-demo-2026"


@dataclass
class Demo:
    community: Community
    partner: Partner
    admin: Member
    organizer: Member
    clerk: Member
    reviewer: Member
    partner_staff: Member
    volunteers: list[Member]
    platform_admin: Member
    logins: list[tuple[str, str, str]] = field(default_factory=list)
    """(role label, phone, password) printed for the newcomer."""
    extra: dict[str, Any] = field(default_factory=dict)


DemoStep = Callable[[AsyncSession, Demo], Awaitable[None]]


DEMO_STEPS: tuple[DemoStep, ...] = (
    points_seed,
    rewards_seed,
    wishes_seed,
    store_seed,
    activities_seed,
    regions_seed,
)
"""Each domain's step that adds its demo data (balances, rules, products, activities), in order."""


async def build_demo(db: AsyncSession) -> Demo:
    platform = await accounts.create_platform_admin(db, "13800000000", DEMO_PASSWORD, "平台管理员")
    root = accounts.Actor(platform.id, platform.name, platform.phone, True)
    community = await accounts.create_community(db, root, "幸福里社区", "xingfuli", "Asia/Shanghai")
    # A new community issues nothing until an official sets its monthly budget (积分发放总量).
    await points.set_budget(db, community.id, DEMO_MONTHLY_BUDGET, set_by=platform.id)
    partner = await accounts.create_partner(db, root, community.id, "老王便利店", "幸福路 18 号")

    async def person(phone: str, name: str, role: str, partner_id: Any = None) -> Member:
        return await accounts.add_member(db, root, community.id, phone, name, DEMO_PASSWORD, role, partner_id)

    admin = await person("13800000001", "李书记", "admin")
    organizer = await person("13800000002", "张队长", "organizer")
    clerk = await person("13800000003", "赵店长", "clerk")
    reviewer = await person("13800000004", "钱评议", "reviewer")
    staff = await person("13800000005", "王老板", "partner", partner.id)
    volunteers = [
        await person("13900000001", "陈小红", "member"),
        await person("13900000002", "刘建国", "member"),
        await person("13900000003", "周玉兰", "member"),
    ]
    demo = Demo(community, partner, admin, organizer, clerk, reviewer, staff, volunteers, platform)
    demo.logins = [
        ("platform admin / 平台管理员", platform.phone, DEMO_PASSWORD),
        ("community admin / 社区管理员", admin.phone, DEMO_PASSWORD),
        ("organizer / 组织者", organizer.phone, DEMO_PASSWORD),
        ("store clerk / 积分超市管理员", clerk.phone, DEMO_PASSWORD),
        ("reviewer / 评议人", reviewer.phone, DEMO_PASSWORD),
        ("partner shop staff / 联盟商家", staff.phone, DEMO_PASSWORD),
        *[("volunteer / 志愿者", v.phone, DEMO_PASSWORD) for v in volunteers],
    ]
    for step in DEMO_STEPS:
        await step(db, demo)
    return demo
