"""Demo data of good conduct: a rules catalogue, a claim on public notice, a claim awaiting review."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from service.accounts.actor import Actor
from service.accounts.proposals import Proposed
from service.rewards import service as rewards
from service.rewards.models import RewardRule

__all__ = ["DEMO_RULES", "demo_actor", "seed"]

DEMO_RULES = (
    ("zero-bride-price", "零彩礼婚嫁", "婚嫁不收彩礼，经村（居）民代表公示无异议。", 200, 7, 1),
    ("garbage-sorting", "垃圾分类达标", "当月垃圾分类检查全部合格。", 10, 3, 12),
    ("filial-care", "孝老爱亲", "长期照料老人或病患家属，事迹经邻里证实。", 50, 7, 2),
    ("volunteer-star", "志愿服务之星", "年度志愿服务表现突出，由志愿服务队推荐。", 100, 7, 1),
    ("good-samaritan", "见义勇为", "制止违法行为或抢险救灾中表现突出。", 150, 7, None),
)


def demo_actor(member: Any) -> Actor:
    return Actor(member.id, member.name, member.phone)


async def _active_rule(demo: Any, made: RewardRule | Proposed, db: AsyncSession) -> RewardRule:
    """A new rule waits for a second person: the demo's platform admin switches it on."""
    if isinstance(made, Proposed):
        await demo.second_person(db, made)
        return await rewards.get_rule(db, made.proposal.target_id or made.proposal.id)
    return made


async def seed(db: AsyncSession, demo: Any) -> None:
    cid = demo.community.id
    admin, organizer, reviewer = demo_actor(demo.admin), demo_actor(demo.organizer), demo_actor(demo.reviewer)
    made = {}
    for code, title, description, points, days, limit in DEMO_RULES:
        made[code] = await _active_rule(
            demo,
            await rewards.create_rule(
                db,
                admin,
                cid,
                code=code,
                title=title,
                description=description,
                points=points,
                publicity_days=days,
                limit_per_member_per_year=limit,
            ),
            db,
        )
    _chen, liu, zhou = (demo_actor(v) for v in demo.volunteers[:3])
    # A grid worker's claim for a resident, approved by the reviewer, now on public notice.
    claim = await rewards.submit_claim(
        db,
        organizer,
        made["garbage-sorting"].id,
        zhou.member_id,
        "本月4次入户检查，厨余垃圾与其他垃圾分类投放全部合格。",
    )
    await rewards.review_claim(db, reviewer, claim.id, "approve", "网格员检查记录属实")
    # A resident's own claim, awaiting review.
    await rewards.submit_claim(
        db, liu, made["filial-care"].id, liu.member_id, "照顾瘫痪在床的母亲五年，邻居可作证。"
    )
