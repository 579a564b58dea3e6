"""Demo data of the street's alliance (issue 20): 石油路街道's 20 units (药店, 诊所, 健身房, 理发店, 超市,
饭馆, 洗衣店 ...) with offers of every kind, and a month of claims and redemptions by residents of its
three communities, so each unit's settlement and the street's alliance report show real figures.

It lives beside the reports because it is their demo (and reports may use every domain); it runs after
the regions' step, which builds the street and its neighbour communities.
"""

from __future__ import annotations

import random
import uuid
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from service import clock
from service.accounts import service as accounts
from service.accounts import views as people
from service.accounts.actor import Actor
from service.accounts.demo import DEMO_PASSWORD, Demo
from service.errors import DomainError
from service.points import service as points
from service.regions import units_service as units
from service.regions.views import load_tree
from service.store import service as store
from service.store.models import Offer

__all__ = ["JIANLAN_RESIDENT", "UNITS", "UNIT_STAFF", "seed"]

UNIT_STAFF = "13500000001"
"""The staff login the demo prints: 康乐大药房."""
JIANLAN_RESIDENT = "13600000100"
"""A resident of 建兰社区 (made by the regions' step)."""
FUND_POINTS = 1_500
DAYS = 30
RESIDENTS_MAX = 50
"""Residents of each community who take part."""

# name, kind, address, opening hours, offers: (title, points, validity hours or None, monthly quota or None,
# per-member monthly limit or None, description)
DemoOffer = tuple[str, int, int | None, int | None, int | None, str]
UNITS: tuple[tuple[str, str, str, str, tuple[DemoOffer, ...]], ...] = (
    ("康乐大药房", "health", "石油路 12 号", "8:00-22:00", (
        ("免费测血压、血糖", 10, 72, None, 2, "凭券到店免费测量一次。"),
        ("常用药满 50 减 10", 60, None, 100, 2, ""),
    )),
    ("石油路社区卫生服务站", "health", "石油路 30 号", "周一至周六 8:00-17:30", (
        ("老年人免费体检预约", 20, 168, 40, 1, "65 岁以上居民优先。"),
    )),
    ("阳光健身房", "fitness", "西津西路 88 号 2 楼", "6:30-22:00", (
        ("健身月卡一张", 300, 720, 10, 1, "自激活起 30 天有效。"),
        ("体验课一次", 40, None, 60, 2, ""),
    )),
    ("悦动瑜伽馆", "fitness", "石油路 45 号", "9:00-21:00", (("瑜伽体验课", 50, None, 30, 1, ""),)),
    ("银辉游泳馆", "fitness", "体育路 6 号", "10:00-21:00", (("游泳单次票", 45, None, 50, 2, ""),)),
    ("益民理发店", "service", "石油路 17 号", "8:30-20:00", (
        ("老人免费理发", 30, None, 40, 1, "70 岁以上老人凭券免费。"),
        ("洗剪吹八折", 25, None, None, 2, ""),
    )),
    ("惠民超市", "shop", "建兰路 2 号", "7:00-22:30", (
        ("满 30 元减 5 元", 50, None, 200, 4, ""),
        ("鸡蛋一盒", 80, None, 50, 1, ""),
    )),
    ("马子禄牛肉面", "shop", "石油路 21 号", "6:30-14:30", (("牛肉面一碗", 60, None, 100, 2, ""),)),
    ("洁净洗衣店", "service", "西湖街 9 号", "8:00-20:00", (("羽绒服清洗八折", 40, 336, None, 1, ""),)),
    ("老年康养中心", "health", "建兰路 66 号", "8:00-18:00", (("日间照料体验一天", 100, 168, 20, 1, ""),)),
    ("明亮眼镜店", "shop", "石油路 52 号", "9:00-20:00", (("免费验光", 20, None, 40, 1, ""),)),
    ("济仁中医推拿", "health", "西津西路 20 号", "9:00-19:00", (("推拿 30 分钟", 120, None, 30, 1, ""),)),
    ("快修家电维修", "service", "石油路 8 号", "8:00-19:00", (("上门检修免上门费", 30, 168, 40, 1, ""),)),
    ("安心开锁配钥匙", "service", "建兰路 11 号", "24 小时", (("配钥匙两把", 15, None, None, 2, ""),)),
    ("清泉水站", "service", "西湖街 3 号", "7:00-20:00", (
        ("免费送水上门一次", 20, 168, 80, 2, "一桶 18.9L 桶装水。"),
    )),
    ("花语花店", "shop", "石油路 33 号", "8:00-21:00", (("鲜花一束九折", 30, None, None, 1, ""),)),
    ("书香书店", "shop", "体育路 15 号", "9:00-21:00", (("图书满 100 减 15", 70, None, 30, 1, ""),)),
    ("巧手裁缝铺", "service", "西湖街 21 号", "9:00-18:00", (("改裤脚一次", 20, None, None, 2, ""),)),
    ("皓齿口腔诊所", "health", "西津西路 40 号", "9:00-18:00", (("免费口腔检查", 25, 168, 30, 1, ""),)),
    ("邻里便民早餐", "other", "建兰路 5 号", "6:00-10:00", (("早餐套餐一份", 20, 48, 150, 4, ""),)),
)  # fmt: skip


def _root(demo: Demo) -> Actor:
    return Actor(demo.platform_admin.id, demo.platform_admin.name, demo.platform_admin.phone, True)


async def seed(db: AsyncSession, demo: Demo) -> None:
    """The 20 units, their staff and offers, then a month of claims and redemptions."""
    tree = await load_tree(db)
    street = next(r for r in tree.regions.values() if r.code == "shiyoulu")
    communities = tree.communities_under(street.id)
    root = _root(demo)
    offers: list[tuple[Actor, Offer]] = []
    for i, (name, kind, address, hours, unit_offers) in enumerate(UNITS):
        unit = await units.create_unit(
            db, root, street.id, name=name, address=address, kind=kind, hours=hours
        )
        phone = f"135000000{i + 1:02d}"
        staff = (await units.invite_staff(db, root, unit.id, phone, f"{name[:2]}店员", "demo")).member
        staff.password_hash = await accounts.hash_password(DEMO_PASSWORD)
        actor = Actor(staff.id, staff.name, staff.phone)
        for title, price, hours_valid, quota, per_month, description in unit_offers:
            offer = await store.create_offer(
                db, actor, unit.id, title=title, points_price=price, description=description or None,
                voucher_hours=hours_valid, monthly_quota=quota, member_month_limit=per_month,
            )  # fmt: skip
            offers.append((actor, offer))
    await db.flush()
    demo.logins.append(("建兰 resident / 建兰社区居民 (/offers)", JIANLAN_RESIDENT, DEMO_PASSWORD))
    demo.logins.append(("alliance unit staff / 联盟单位店员 (/partner)", UNIT_STAFF, DEMO_PASSWORD))
    await _month(db, communities, offers)


async def _month(db: AsyncSession, communities: list[uuid.UUID], offers: list[tuple[Actor, Offer]]) -> None:
    """Residents of every community of the street claim over the past month; most redeem within hours."""
    residents = [
        (cid, Actor(m.id, m.name, m.phone))
        for cid in communities
        for m in await people.community_members(db, cid, RESIDENTS_MAX)
    ]
    start = clock.now() - timedelta(days=DAYS)
    rng = random.Random(20)
    clock.set_now(start)
    try:
        for cid, a in residents:
            await points.award(
                db, community_id=cid, member_id=a.member_id, points=FUND_POINTS, code="demo",
                memo="演示：志愿服务积分", idempotency_key=f"demo-alliance-{a.member_id}",
            )  # fmt: skip
        for day in range(DAYS):
            clock.set_now(start + timedelta(days=day, hours=9))
            for cid, a in rng.sample(residents, k=min(len(residents), 6)):
                staff, offer = rng.choice(offers)
                try:
                    async with db.begin_nested():
                        voucher = await store.claim_voucher(db, a, offer.id, cid)
                except DomainError:
                    continue  # a quota or a limit: the demo's residents meet them too
                clock.advance(timedelta(hours=rng.randint(1, 8)))
                if rng.random() < 0.85:
                    async with db.begin_nested():
                        await store.redeem_voucher(db, staff, voucher.code)
                clock.set_now(start + timedelta(days=day, hours=9))
    finally:
        clock.reset()
    await db.flush()
