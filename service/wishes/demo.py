"""Demo data of micro-wishes: an open wish, and one dispatched, fulfilled and rated."""

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
        db, chen, cid, title="帮忙把米扛上六楼", description="家里没有电梯，腰不好。", category="errand"
    )
    done = await wishes.post_wish(
        db, zhou, cid, title="修理漏水的水龙头", description="厨房水龙头一直滴水。", category="repair"
    )
    await wishes.dispatch_wish(db, organizer, done.id, liu.member_id)  # 派单, then 接单
    await wishes.accept_wish(db, liu, done.id)
    await wishes.complete_wish(db, liu, done.id)
    await wishes.rate_wish(db, zhou, done.id, 5, "师傅很热心，半小时就修好了")
