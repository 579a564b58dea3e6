"""The demo's people: a platform admin, one community with a partner shop, and a member for every role.

``service.demo`` builds them here, then hands the :class:`Demo` to each domain's ``demo.seed`` step;
those steps import this module (never ``service.demo``, which imports them).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from service.accounts import service as accounts
from service.accounts.actor import Actor
from service.accounts.models import Community, Member, Partner

__all__ = ["DEMO_PASSWORD", "Demo", "people"]

DEMO_PASSWORD = "jifen-demo-2026"
RESIDENT_LABEL = "幸福里 resident, volunteer / 幸福里社区居民、志愿者"


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
    approver: Callable[[AsyncSession, object], Awaitable[None]] | None = None
    """Set by ``service.demo``: how a second person approves what the demo's admin proposed."""

    async def second_person(self, db: AsyncSession, result: object) -> None:
        """Two people for every knob: the demo's platform admin approves ``result`` when it is a proposal."""
        if self.approver is not None:
            await self.approver(db, result)


async def people(db: AsyncSession) -> Demo:
    """The platform admin, the community 幸福里 and its partner shop, one member per role, three
    volunteers; every login with :data:`DEMO_PASSWORD`."""
    platform = await accounts.create_platform_admin(db, "13800000000", DEMO_PASSWORD, "平台管理员")
    root = Actor(platform.id, platform.name, platform.phone, True)
    community = await accounts.create_community(db, root, "幸福里社区", "xingfuli", "Asia/Shanghai")
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
        *[(RESIDENT_LABEL, v.phone, DEMO_PASSWORD) for v in volunteers],
    ]
    return demo
