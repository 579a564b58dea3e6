"""Demo data: one community with every role, so a newcomer can click through Jifen at once."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial

from sqlalchemy.ext.asyncio import AsyncSession

from service.accounts.actor import Actor
from service.accounts.demo import Demo, people
from service.accounts.proposals import Proposed
from service.activities.demo import seed as activities_seed
from service.points import service as points
from service.points.demo import DEMO_MONTHLY_BUDGET
from service.points.demo import seed as points_seed
from service.proposals import service as proposals
from service.regions.demo import seed as regions_seed
from service.reports.alliance_demo import seed as alliance_seed
from service.rewards.demo import seed as rewards_seed
from service.store.demo import seed as store_seed
from service.wishes.demo import seed as wishes_seed

__all__ = ["DEMO_STEPS", "build_demo"]


async def _second_person(demo: Demo, db: AsyncSession, result: object) -> None:
    """The platform admin approves a change the demo's admin proposed (two people for every knob)."""
    if isinstance(result, Proposed):
        root = Actor(demo.platform_admin.id, demo.platform_admin.name, demo.platform_admin.phone, True)
        await proposals.approve(db, root, result.proposal.id)


DemoStep = Callable[[AsyncSession, Demo], Awaitable[None]]


DEMO_STEPS: tuple[DemoStep, ...] = (
    points_seed,
    rewards_seed,
    wishes_seed,
    store_seed,
    activities_seed,
    regions_seed,
    alliance_seed,
)
"""Each domain's step that adds its demo data (balances, rules, products, activities), in order."""


async def build_demo(db: AsyncSession) -> Demo:
    """The demo's people (``service.accounts.demo``), then every domain's step."""
    demo = await people(db)
    demo.approver = partial(_second_person, demo)
    # A new community issues nothing until an official sets its monthly budget (积分发放总量).
    await points.set_budget(db, demo.community.id, DEMO_MONTHLY_BUDGET, set_by=demo.platform_admin.id)
    for step in DEMO_STEPS:
        await step(db, demo)
    return demo
