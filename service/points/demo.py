"""Demo data of the ledger: a points policy, history for every volunteer, an award awaiting approval."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from service import clock
from service.accounts.actor import Actor
from service.accounts.demo import Demo
from service.points import service as points

__all__ = ["DEMO_MONTHLY_BUDGET", "seed"]

DEMO_MONTHLY_BUDGET = 100_000
"""The monthly issuance budget (积分发放总量) the demo's officials set for each demo community."""
DEMO_EXPIRY_DAYS = 365
EARNED_DAYS_AGO = 340
"""The first demo points were earned this long ago, so they show as expiring within 30 days."""


async def seed(db: AsyncSession, demo: Demo) -> None:
    cid = demo.community.id
    admin = Actor(demo.admin.id, demo.admin.name, demo.admin.phone)
    await points.set_policy(db, admin, cid, expiry_mode="days", expiry_value=DEMO_EXPIRY_DAYS)
    now = clock.now()
    clock.set_now(now - timedelta(days=EARNED_DAYS_AGO))
    try:
        for i, v in enumerate(demo.volunteers):
            await points.award(
                db, community_id=cid, member_id=v.id, points=20 + 5 * i, code="checkin",
                memo="社区环境大扫除", ref_type="demo", ref_id=f"cleanup-{i}",
                idempotency_key=f"demo-cleanup-{i}",
            )  # fmt: skip
    finally:
        clock.set_now(None)
    for v in demo.volunteers:
        await points.request_award(db, admin, cid, member_id=v.id, points=30, reason="协助疫苗接种点维持秩序")
    await points.request_award(
        db, admin, cid, member_id=demo.volunteers[1].id, points=200, reason="汛期连续三晚巡堤",
        memo="待另一位管理员审批",
    )  # fmt: skip
