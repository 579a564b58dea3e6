"""Two people for every knob that widens what can be issued or who can act (issue 19, item 1).

The knobs are one table (:data:`KNOBS`): each row says how its proposer widens and narrows it and how to
read it. For every row: one admin's widening change does not take effect (the value is unchanged and a
pending proposal is listed); a different admin's approval applies exactly the proposed value; the
proposer cannot approve their own (``own_proposal``, nothing changed); a narrowing change applies at
once. A new knob is one more line in the table.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from service.accounts import onboarding
from service.accounts import service as accounts
from service.accounts.proposals import PolicyProposal, Proposed
from service.activities import service as activities
from service.activities import views as activity_views
from service.points import service as points
from service.proposals import service as proposals
from service.regions import service as regions
from service.rewards import service as rewards
from service.store import service as store
from service.store import views as store_views
from service.store.models import Product
from tests.support.activities import make_activity
from tests.support.proposals import applied, audit_count, pending_count
from tests.support.refused import refused
from tests.support.world import World

Step = Callable[[AsyncSession, World, Any], Awaitable[Any]]


async def _nothing(db: AsyncSession, world: World) -> Any:
    return None


async def _policy(db: AsyncSession, world: World, ctx: Any, **kw: Any) -> Any:
    values = {"expiry_mode": "never", "expiry_value": 0, "award_approval_threshold": 100} | kw
    return await points.set_policy(db, world.actor("admin"), world.cid, **values)


async def _rule(db: AsyncSession, world: World) -> Any:
    rule = await rewards.create_rule(
        db, world.actor("admin"), world.cid, code="help", title="助人为乐", points=10, publicity_days=3,
        limit_per_member_per_year=2, active=False,
    )  # fmt: skip
    return rule


async def _product(db: AsyncSession, world: World) -> Any:
    return await store.create_product(
        db, world.actor("clerk"), world.cid, name="大米", points_price=100, stock=5
    )


async def _rate_20(db: AsyncSession, world: World) -> Any:
    await applied(db, world, await _rate(db, world, None, 20))


async def _rate(db: AsyncSession, world: World, ctx: Any, fen: int) -> Any:
    return await store.update_settings(
        db, world.actor("admin"), world.cid, fen_per_point=fen, voucher_minutes=None, order_days=None
    )


async def _approval_mode(db: AsyncSession, world: World) -> Any:
    return await onboarding.set_self_registration(db, world.actor("admin"), world.cid, "approval")


async def _settings(db: AsyncSession, world: World, ctx: Any, **kw: Any) -> Any:
    return await rewards.update_settings(db, world.actor("admin"), world.cid, **kw)


async def _read_settings(db: AsyncSession, world: World, ctx: Any, name: str) -> Any:
    return getattr(await rewards.get_settings(db, world.cid), name)


async def _read_rule(db: AsyncSession, world: World, rule: Any) -> Any:
    return (await rewards.get_rule(db, rule.id)).points


async def _read_price(db: AsyncSession, world: World, product: Any) -> Any:
    row = await db.scalar(
        select(Product.points).where(Product.id == product.id).execution_options(populate_existing=True)
    )
    return row


async def _read_policy(db: AsyncSession, world: World, ctx: Any) -> Any:
    p = await points.get_policy(db, world.cid)
    return (p.expiry_mode, p.expiry_value, p.award_approval_threshold)


async def _read_mode(db: AsyncSession, world: World, ctx: Any) -> Any:
    return (await accounts.get_community(db, world.cid)).self_registration


async def _read_rate(db: AsyncSession, world: World, ctx: Any) -> Any:
    return (await store_views.settings_for(db, world.actor("admin"), world.cid)).fen_per_point


def _setting(name: str, wide: int, narrow: int) -> Knob:
    return Knob(
        f"rewards_settings.{name}", "admin",
        wide=lambda db, w, c: _settings(db, w, c, **{name: wide}),
        narrow=lambda db, w, c: _settings(db, w, c, **{name: narrow}),
        read=lambda db, w, c: _read_settings(db, w, c, name), wide_value=wide, narrow_value=narrow,
    )  # fmt: skip


@dataclass(frozen=True)
class Knob:
    name: str
    proposer: str
    wide: Step
    narrow: Step
    read: Step
    wide_value: Any
    narrow_value: Any
    setup: Callable[[AsyncSession, World], Awaitable[Any]] = _nothing


KNOBS = (
    Knob(
        "activity_points_cap", "admin",
        wide=lambda db, w, c: accounts_cap(db, w, 100_000), narrow=lambda db, w, c: accounts_cap(db, w, 5),
        read=lambda db, w, c: activity_views.points_cap(db, w.cid), wide_value=100_000, narrow_value=5,
    ),
    Knob(
        "points_policy.award_approval_threshold", "admin",
        wide=lambda db, w, c: _policy(db, w, c, award_approval_threshold=5000),
        narrow=lambda db, w, c: _policy(db, w, c, award_approval_threshold=50),
        read=_read_policy, wide_value=("never", 0, 5000), narrow_value=("never", 0, 50),
    ),
    Knob(
        "points_policy.expiry", "admin",
        wide=lambda db, w, c: _policy(db, w, c, expiry_mode="never"),
        narrow=lambda db, w, c: _policy(db, w, c, expiry_mode="days", expiry_value=10),
        read=_read_policy, wide_value=("never", 0, 100), narrow_value=("days", 10, 100),
        setup=lambda db, w: _policy(db, w, None, expiry_mode="days", expiry_value=30),
    ),
    _setting("two_reviewers_from_points", 5000, 10),
    _setting("wish_points", 500, 5),
    _setting("wish_points_monthly_cap", 5000, 20),
    _setting("wish_auto_award_days", 1, 14),
    Knob(
        "reward_rule.points", "admin",
        wide=lambda db, w, rule: rewards.update_rule(db, w.actor("admin"), rule.id, points=500),
        narrow=lambda db, w, rule: rewards.update_rule(db, w.actor("admin"), rule.id, points=5),
        read=_read_rule, wide_value=500, narrow_value=5, setup=_rule,
    ),
    Knob(
        "store_settings.fen_per_point", "admin",
        wide=lambda db, w, c: _rate(db, w, c, 50), narrow=lambda db, w, c: _rate(db, w, c, 5),
        read=_read_rate, wide_value=50, narrow_value=5, setup=_rate_20,
    ),
    Knob(
        "product_price", "clerk",
        wide=lambda db, w, p: store.update_product(db, w.actor("clerk"), p.id, {"points": 10}),
        narrow=lambda db, w, p: store.update_product(db, w.actor("clerk"), p.id, {"points": 200}),
        read=_read_price, wide_value=10, narrow_value=200, setup=_product,
    ),
    Knob(
        "self_registration", "admin",
        wide=lambda db, w, c: onboarding.set_self_registration(db, w.actor("admin"), w.cid, "auto"),
        narrow=lambda db, w, c: onboarding.set_self_registration(db, w.actor("admin"), w.cid, "off"),
        read=_read_mode, wide_value="auto", narrow_value="off", setup=_approval_mode,
    ),
)  # fmt: skip
"""Every knob that widens what can be issued or who can act, as its proposer turns it."""


async def accounts_cap(db: AsyncSession, world: World, cap: int) -> Any:
    return await activities.set_points_cap(db, world.actor("admin"), world.cid, cap)


async def _ready(db: AsyncSession, world: World, knob: Knob) -> tuple[Any, Any]:
    ctx = await knob.setup(db, world)
    await db.commit()
    return ctx, await knob.read(db, world, ctx)


@pytest.mark.parametrize("knob", KNOBS, ids=[k.name for k in KNOBS])
async def test_one_persons_widening_waits_and_a_second_admin_applies_it(
    db: AsyncSession, world: World, knob: Knob
) -> None:
    ctx, start = await _ready(db, world, knob)
    proposed_before = await audit_count(db, "policy_change_proposed")
    result = await knob.wide(db, world, ctx)
    await db.commit()
    assert isinstance(result, Proposed), "a widening change took effect on one person's word"
    assert await knob.read(db, world, ctx) == start
    assert await pending_count(db) == 1
    assert await audit_count(db, "policy_change_proposed") == proposed_before + 1
    await proposals.approve(db, world.actor("admin2"), result.proposal.id)
    await db.commit()
    assert await knob.read(db, world, ctx) == knob.wide_value
    row = await db.get(PolicyProposal, result.proposal.id, populate_existing=True)
    assert row is not None and row.status == "approved" and row.decided_by == world.members["admin2"].id
    assert await audit_count(db, "policy_change_approved") >= 1


@pytest.mark.parametrize("knob", KNOBS, ids=[k.name for k in KNOBS])
async def test_nobody_approves_their_own_proposal(db: AsyncSession, world: World, knob: Knob) -> None:
    ctx, start = await _ready(db, world, knob)
    result = await knob.wide(db, world, ctx)
    await db.commit()
    assert isinstance(result, Proposed)
    await refused(db, "own_proposal", proposals.approve(db, world.actor(knob.proposer), result.proposal.id))
    await refused(db, "own_proposal", proposals.reject(db, world.actor(knob.proposer), result.proposal.id))
    # Members and organizers decide nothing either.
    await refused(db, "not_approver", proposals.approve(db, world.actor("organizer"), result.proposal.id))
    await db.commit()
    assert await knob.read(db, world, ctx) == start
    assert await pending_count(db) == 1
    row = await db.get(PolicyProposal, result.proposal.id, populate_existing=True)
    assert row is not None and row.status == "pending" and row.decided_by is None


@pytest.mark.parametrize("knob", KNOBS, ids=[k.name for k in KNOBS])
async def test_narrowing_applies_at_once_and_is_audited(db: AsyncSession, world: World, knob: Knob) -> None:
    ctx, _start = await _ready(db, world, knob)
    narrowed_before = await audit_count(db, "policy_narrowed")
    result = await knob.narrow(db, world, ctx)
    await db.commit()
    assert not isinstance(result, Proposed)
    assert await knob.read(db, world, ctx) == knob.narrow_value
    assert await pending_count(db) == 0
    assert await audit_count(db, "policy_narrowed") == narrowed_before + 1


# ---------------------------------------------------------------- what can be issued stays unchanged


async def test_a_raised_cap_pending_approval_still_holds_a_100000_point_activity(
    db: AsyncSession, world: World
) -> None:
    proposed = await accounts_cap(db, world, 100_000)
    await db.commit()
    assert isinstance(proposed, Proposed)
    activity = await make_activity(db, world, points=100_000)
    assert activity.status == "pending_approval"


async def test_a_raised_award_threshold_pending_approval_still_holds_a_5000_point_award(
    db: AsyncSession, world: World
) -> None:
    proposed = await _policy(db, world, None, award_approval_threshold=5000)
    assert isinstance(proposed, Proposed)
    award = await points.request_award(
        db, world.actor("admin"), world.cid, member_id=world.members["alice"].id, points=5000, reason="表彰"
    )
    await db.commit()
    assert award.status == "pending_approval"


async def test_a_new_active_rule_is_off_until_a_second_admin_switches_it_on(
    db: AsyncSession, world: World
) -> None:
    made = await rewards.create_rule(
        db, world.actor("admin"), world.cid, code="hero", title="见义勇为", points=5000, publicity_days=0
    )
    await db.commit()
    assert isinstance(made, Proposed) and made.proposal.target_id is not None
    rule = await rewards.get_rule(db, made.proposal.target_id)
    assert rule.active is False
    await refused(
        db,
        "rule_inactive",
        rewards.submit_claim(db, world.actor("alice"), rule.id, world.members["alice"].id, "救人"),
    )
    await refused(db, "own_proposal", proposals.approve(db, world.actor("admin"), made.proposal.id))
    await proposals.approve(db, world.actor("admin2"), made.proposal.id)
    await db.commit()
    assert (await rewards.get_rule(db, rule.id)).active is True


# ---------------------------------------------------------------- stale, superseded, withdrawn, rejected


async def test_a_proposal_whose_setting_changed_meanwhile_is_stale_and_changes_nothing(
    db: AsyncSession, world: World
) -> None:
    proposed = await accounts_cap(db, world, 100_000)
    assert isinstance(proposed, Proposed)
    assert await accounts_cap(db, world, 20) == 20  # narrowed at once by the other admin
    await db.commit()
    await refused(db, "proposal_stale", proposals.approve(db, world.actor("admin2"), proposed.proposal.id))
    assert await activity_views.points_cap(db, world.cid) == 20


async def test_a_newer_proposal_supersedes_and_the_proposer_may_withdraw(
    db: AsyncSession, world: World
) -> None:
    first = await accounts_cap(db, world, 1000)
    second = await accounts_cap(db, world, 2000)
    await db.commit()
    assert isinstance(first, Proposed) and isinstance(second, Proposed)
    await refused(db, "proposal_not_pending", proposals.approve(db, world.actor("admin2"), first.proposal.id))
    await refused(db, "not_proposer", proposals.withdraw(db, world.actor("admin2"), second.proposal.id))
    await proposals.withdraw(db, world.actor("admin"), second.proposal.id)
    await db.commit()
    await refused(
        db, "proposal_not_pending", proposals.approve(db, world.actor("admin2"), second.proposal.id)
    )
    assert await activity_views.points_cap(db, world.cid) == 50 and await pending_count(db) == 0


async def test_a_rejected_proposal_changes_nothing(db: AsyncSession, world: World) -> None:
    proposed = await accounts_cap(db, world, 100_000)
    assert isinstance(proposed, Proposed)
    await proposals.reject(db, world.actor("admin2"), proposed.proposal.id)
    await db.commit()
    assert await activity_views.points_cap(db, world.cid) == 50
    assert await audit_count(db, "policy_change_rejected") == 1


async def test_an_official_of_a_region_above_approves_and_one_elsewhere_cannot(
    db: AsyncSession, world: World
) -> None:
    root = world.root
    assert root is not None
    city = await regions.create_region(db, root, "测试市", "city-x", "city")
    district = await regions.create_region(db, root, "东区", "district-x", "district", city.id)
    other = await regions.create_region(db, root, "西区", "district-y", "district", city.id)
    street = await regions.create_region(db, root, "东街道", "street-x", "street", district.id)
    await regions.set_community_region(db, root, world.cid, street.id)
    await regions.add_official(db, root, district.id, world.members["carol"].phone)
    await regions.add_official(db, root, other.id, world.members["bob"].phone)
    proposed = await accounts_cap(db, world, 100_000)
    await db.commit()
    assert isinstance(proposed, Proposed)
    await refused(db, "not_approver", proposals.approve(db, world.actor("bob"), proposed.proposal.id))
    assert await activity_views.points_cap(db, world.cid) == 50
    await proposals.approve(db, world.actor("carol"), proposed.proposal.id)
    await db.commit()
    assert await activity_views.points_cap(db, world.cid) == 100_000
