"""Demo data of regions: 兰州市 > 七里河区 > 石油路街道 with the demo community and two neighbours,
a few months of activity in each, and a street official who sees them rolled up on /reports."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from service import clock
from service.accounts import service as accounts
from service.accounts.actor import Actor
from service.accounts.demo import DEMO_PASSWORD, Demo
from service.accounts.models import Member
from service.activities.models import Activity, Attendance, Team
from service.points import service as points
from service.points.demo import DEMO_MONTHLY_BUDGET
from service.regions import service as regions
from service.wishes.models import Wish

__all__ = ["OFFICIAL_PHONE", "XIHU_RESIDENT", "seed"]

OFFICIAL_PHONE = "13600000001"
XIHU_RESIDENT = "13600000200"
"""A resident of 西湖社区 whose login the demo prints (the first of its people below)."""
NEIGHBOURS = (("建兰社区", "jianlan", "136000001"), ("西湖社区", "xihu", "136000002"))
NAMES = ("马文", "杨帆", "何静", "郭强", "罗敏", "梁伟", "宋佳", "韩雪")


async def _busy_community(db: AsyncSession, demo: Demo, name: str, code: str, phones: str) -> None:
    """A neighbour community with volunteers, a team, an activity a month and some wishes."""
    root = Actor(
        member_id=demo.platform_admin.id,
        name=demo.platform_admin.name,
        phone=demo.platform_admin.phone,
        is_platform_admin=True,
    )

    community = await accounts.create_community(db, root, name, code, "Asia/Shanghai")
    await points.set_budget(db, community.id, DEMO_MONTHLY_BUDGET, set_by=root.member_id)
    people = [
        await accounts.add_member(db, root, community.id, f"{phones}{i:02d}", n, DEMO_PASSWORD, "member")
        for i, n in enumerate(NAMES[: 5 if code == "xihu" else 8])
    ]
    team = Team(community_id=community.id, name=f"{name}志愿服务队", leader_id=people[0].id)
    db.add(team)
    await db.flush()
    now = clock.now()
    for months_ago in range(3):
        starts = now - timedelta(days=30 * months_ago + 3)
        activity = Activity(
            community_id=community.id,
            title=f"{name}邻里守望",
            team_id=team.id,
            starts_at=starts,
            ends_at=starts + timedelta(hours=2),
            points_mode="per_attendance",
            points=10,
            status="closed",
            secret=code * 4,
            created_by=people[0].id,
            closed_at=starts + timedelta(hours=2),
        )
        db.add(activity)
        await db.flush()
        for i, person in enumerate(people[: len(people) - months_ago]):
            minutes = 60 + 15 * i
            db.add(
                Attendance(
                    community_id=community.id,
                    activity_id=activity.id,
                    member_id=person.id,
                    status="out",
                    evidence="kiosk",
                    checked_in_at=starts,
                    minutes=minutes,
                    checked_out_at=starts + timedelta(minutes=minutes),
                )
            )
        created = now - timedelta(days=30 * months_ago + 5)
        db.add(
            Wish(
                community_id=community.id,
                requester_id=people[-1].id,
                title="帮忙买药",
                category="errand",
                status="rated",
                volunteer_id=people[1].id,
                assigned_by=people[0].id,
                dispatched_by=people[0].id,
                dispatched_at=created + timedelta(hours=1),
                assigned_at=created + timedelta(hours=3),
                accepted_at=created + timedelta(hours=3),
                completed_at=created + timedelta(hours=20),
                rated_at=created + timedelta(hours=22),
                stars=5 - months_ago % 2,
                created_at=created,
            )
        )
    await db.flush()
    street = next(r for r in (await regions.load_tree(db)).regions.values() if r.code == "shiyoulu")
    await regions.set_community_region(db, root, community.id, street.id)


async def seed(db: AsyncSession, demo: Demo) -> None:
    root = Actor(
        member_id=demo.platform_admin.id,
        name=demo.platform_admin.name,
        phone=demo.platform_admin.phone,
        is_platform_admin=True,
    )
    city = await regions.create_region(db, root, "兰州市", "lanzhou", "city")
    district = await regions.create_region(db, root, "七里河区", "qilihe", "district", city.id)
    street = await regions.create_region(db, root, "石油路街道", "shiyoulu", "street", district.id)
    await regions.set_community_region(db, root, demo.community.id, street.id)
    for name, code, phones in NEIGHBOURS:
        await _busy_community(db, demo, name, code, phones)

    db.add(
        Member(
            phone=OFFICIAL_PHONE,
            name="石油路街道干部",
            password_hash=await accounts.hash_password(DEMO_PASSWORD),
        )
    )
    await db.flush()
    await regions.add_official(db, root, street.id, OFFICIAL_PHONE)
    demo.logins.append(("street official / 街道干部 (/reports)", OFFICIAL_PHONE, DEMO_PASSWORD))
    demo.logins.append(("西湖 resident / 西湖社区居民", XIHU_RESIDENT, DEMO_PASSWORD))
