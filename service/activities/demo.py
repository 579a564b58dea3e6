"""Demo data of activities: a team, an activity happening now (the kiosk works), an upcoming one,
and a finished one with attendance, so hours and the certificate show something."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from service import clock
from service.accounts.actor import Actor
from service.accounts.demo import Demo
from service.activities import service as svc

__all__ = ["seed"]


async def seed(db: AsyncSession, demo: Demo) -> None:
    org = Actor(demo.organizer.id, demo.organizer.name, demo.organizer.phone)
    admin = Actor(demo.admin.id, demo.admin.name, demo.admin.phone)
    cid = demo.community.id
    team = await svc.create_team(db, org, cid, "幸福里红马甲志愿服务队", demo.organizer.id)
    for v in demo.volunteers:
        await svc.add_team_member(db, org, team.id, v.id)
    now = clock.now()
    live = await svc.create_activity(
        db,
        org,
        cid,
        svc.ActivityDraft(
            "社区环境大扫除",
            now - timedelta(minutes=30),
            now + timedelta(hours=3),
            "per_hour",
            10,
            description="清理楼道杂物、捡拾垃圾。请到社区广场集合，扫大屏二维码签到。",
            category="环保",
            team_id=team.id,
            address="幸福里社区广场",
            points_max=30,
        ),
    )
    upcoming = await svc.create_activity(
        db,
        org,
        cid,
        svc.ActivityDraft(
            "敬老院陪伴探访",
            now + timedelta(days=2),
            now + timedelta(days=2, hours=2),
            "per_attendance",
            15,
            description="陪老人聊天、读报、理发。",
            category="助老",
            address="幸福里敬老院",
            capacity=20,
            signup_required=True,
        ),
    )
    past = await svc.create_activity(
        db,
        org,
        cid,
        svc.ActivityDraft(
            "文明交通劝导",
            now - timedelta(days=3, hours=2),
            now - timedelta(days=3),
            "per_hour",
            10,
            category="文明劝导",
            address="幸福路口",
        ),
    )
    first, second, third = demo.volunteers[:3]
    await svc._scan(db, past, first.id, "kiosk", past.starts_at + timedelta(minutes=2))
    await svc._scan(db, past, second.id, "poster", past.starts_at + timedelta(minutes=10))
    manual = await svc.request_manual(
        db,
        org,
        past.id,
        third.id,
        past.starts_at,
        past.starts_at + timedelta(hours=1),
        "老人没有智能手机，现场登记",
    )
    await svc.approve_manual(db, admin, manual.id)
    await svc.close_activity(db, org, past.id)
    await svc.signup(db, Actor(first.id, first.name, first.phone), upcoming.id)
    demo.extra["activities"] = {"live": live.id, "upcoming": upcoming.id, "past": past.id, "team": team.id}
