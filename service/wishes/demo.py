"""Demo data of micro-wishes: an open wish, one dispatched, fulfilled and rated, and one in progress whose
volunteer (刘建国) sees its address and a privacy-number call button, and whose requester (周玉兰) has
notices."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from service.rewards.demo import demo_actor
from service.wishes import service as wishes

__all__ = ["seed"]


async def seed(db: AsyncSession, demo: Any) -> None:
    cid = demo.community.id
    organizer = demo_actor(demo.organizer)
    chen, liu, zhou = (demo_actor(v) for v in demo.volunteers[:3])
    # An open wish, and one dispatched, fulfilled and rated (the volunteer's points posted).
    await wishes.post_wish(
        db,
        chen,
        cid,
        title="帮忙把米扛上六楼",
        description="家里没有电梯，腰不好。",
        category="errand",
        address="幸福里 6 号楼 1 单元 601",
    )
    done = await wishes.post_wish(
        db,
        zhou,
        cid,
        title="修理漏水的水龙头",
        description="厨房水龙头一直滴水。",
        category="repair",
        address="幸福里 2 号楼 3 单元 302",
    )
    await wishes.dispatch_wish(db, organizer, done.id, liu.member_id)  # 派单, then 接单
    await wishes.accept_wish(db, liu, done.id)
    await wishes.complete_wish(db, liu, done.id)
    await wishes.rate_wish(db, zhou, done.id, 5, "师傅很热心，半小时就修好了")
    # In progress: dispatched and accepted (the address comes from 周玉兰's last wish).
    doing = await wishes.post_wish(db, zhou, cid, title="陪同去社区医院取药", category="companionship")
    await wishes.dispatch_wish(db, organizer, doing.id, liu.member_id)
    await wishes.accept_wish(db, liu, doing.id)
