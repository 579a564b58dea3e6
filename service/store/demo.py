"""Demo data of the store: goods on the shelf of the points supermarket, an offer at the partner shop,
and one reserved order and one voucher so the counter and the partner page have something to show."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from service.accounts.actor import Actor
from service.points import service as points
from service.store import service as store

__all__ = ["DEMO_PRODUCTS", "seed"]

DEMO_PRODUCTS = (
    # name, category, points, stock, limit per member per month, description
    ("大米 5kg", "粮油", 200, 20, 1, "东北大米，每人每月限兑 1 袋。"),
    ("食用油 1.8L", "粮油", 150, 15, 1, "非转基因大豆油。"),
    ("洗衣液 2kg", "日用", 80, 30, 2, None),
    ("牙膏", "日用", 30, 50, None, None),
    ("毛巾", "日用", 25, 40, None, None),
    ("保温杯", "家居", 300, 5, 1, "志愿服务纪念款。"),
)


def _actor(member: Any) -> Actor:
    return Actor(member.id, member.name, member.phone)


async def seed(db: AsyncSession, demo: Any) -> None:
    cid = demo.community.id
    clerk, admin, staff = _actor(demo.clerk), _actor(demo.admin), _actor(demo.partner_staff)
    products = []
    for name, category, price, stock, limit, description in DEMO_PRODUCTS:
        products.append(
            await store.create_product(
                db,
                clerk,
                cid,
                name=name,
                category=category,
                points_price=price,
                stock=stock,
                limit_per_member=limit,
                description=description,
            )
        )
    rate = await store.update_settings(
        db, admin, cid, fen_per_point=10, voucher_minutes=None, order_days=None
    )
    await demo.second_person(db, rate)  # a higher value of a point waits for a second person
    offer = await store.create_offer(
        db, staff, demo.partner.id, title="满 30 元减 5 元", points_price=50,
        description="老王便利店：凭券结账时直接抵扣。", limit_per_member=4,
    )  # fmt: skip
    await store.create_offer(
        db, staff, demo.partner.id, title="免费送水上门一次", points_price=20, quota_total=30,
    )  # fmt: skip
    member = _actor(demo.volunteers[0])
    if (await points.balance(db, cid, member.member_id)).available < 300:
        await points.award(
            db, community_id=cid, member_id=member.member_id, points=300, code="demo",
            memo="演示：积分超市体验积分", idempotency_key="demo-store-gift",
        )  # fmt: skip
    await store.reserve_order(db, member, products[2].id, 1)
    await store.claim_voucher(db, member, offer.id)
