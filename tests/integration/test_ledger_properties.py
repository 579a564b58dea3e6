"""Hypothesis: random sequences of ledger operations never break the books."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from service import clock
from service.errors import DomainError
from service.points import service as points
from service.points.models import Account, Entry
from tests.support.world import World

PEOPLE = ("alice", "bob", "carol")
who = st.sampled_from(PEOPLE)
amount = st.integers(min_value=1, max_value=60)
OPS = st.lists(
    st.one_of(
        st.tuples(st.just("award"), who, amount),
        st.tuples(st.just("spend"), who, amount),
        st.tuples(st.just("transfer"), who, who, amount),
        st.tuples(st.just("hold"), who, amount),
        st.tuples(st.just("post"), st.integers(0, 20)),
        st.tuples(st.just("void"), st.integers(0, 20)),
        st.tuples(st.just("reverse"), st.integers(0, 40)),
        st.tuples(st.just("days"), st.integers(0, 40)),
        st.tuples(st.just("expire")),
        st.tuples(st.just("sweep")),
        st.tuples(st.just("retry"), st.integers(0, 40)),
    ),
    max_size=25,
)


async def _apply(db: Any, world: World, op: tuple[Any, ...], state: dict[str, list[Any]]) -> None:
    cid, name = world.cid, op[0]
    m = world.members
    if name == "award":
        key = f"k{len(state['keys'])}"
        r = await points.award(
            db, community_id=cid, member_id=m[op[1]].id, points=op[2], code="checkin", idempotency_key=key
        )
        state["keys"].append((key, op[1], op[2]))
        state["transfers"].append(r.transfer_id)
    elif name == "retry" and state["keys"]:
        key, person, pts = state["keys"][op[1] % len(state["keys"])]
        r = await points.award(
            db, community_id=cid, member_id=m[person].id, points=pts, code="checkin", idempotency_key=key
        )
        assert r.replayed
    elif name == "spend":
        r = await points.spend(
            db, community_id=cid, member_id=m[op[1]].id, points=op[2], payee="store", code="order"
        )
        state["transfers"].append(r.transfer_id)
    elif name == "transfer" and op[1] != op[2]:
        r = await points.transfer(
            db, community_id=cid, from_member_id=m[op[1]].id, to_member_id=m[op[2]].id, points=op[3]
        )
        state["transfers"].append(r.transfer_id)
    elif name == "hold":
        h = await points.hold(
            db,
            community_id=cid,
            member_id=m[op[1]].id,
            points=op[2],
            payee="store",
            expires_at=clock.now() + timedelta(days=3),
            code="order",
            idempotency_key=f"h{len(state['holds'])}-{op}",
        )
        state["holds"].append(h.hold_id)
    elif name in {"post", "void"} and state["holds"]:
        hold_id = state["holds"][op[1] % len(state["holds"])]
        if name == "post":
            await points.post_hold(db, hold_id)
        else:
            await points.void_hold(db, hold_id)
    elif name == "reverse" and state["transfers"]:
        await points.reverse(db, state["transfers"][op[1] % len(state["transfers"])])
    elif name == "days":
        clock.advance(timedelta(days=op[1]))
    elif name == "expire":
        await points.expire_points(db)
    elif name == "sweep":
        await points.sweep_holds(db)


async def _snapshot(db: Any, world: World) -> list[tuple[int, int]]:
    out = []
    for p in PEOPLE:
        b = await points.balance(db, world.cid, world.members[p].id)
        out.append((b.available, b.held))
    return out


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=OPS)
async def test_random_operations_keep_every_invariant(
    world: World, maker: Any, ops: list[tuple[Any, ...]]
) -> None:
    clock.reset()
    async with maker() as db:
        await points.set_policy(db, world.actor("admin"), world.cid, expiry_mode="days", expiry_value=15)
        await db.commit()
    state: dict[str, list[Any]] = {"keys": [], "transfers": [], "holds": []}
    for op in ops:
        async with maker() as db:
            before = await _snapshot(db, world)
            try:
                await _apply(db, world, op, state)
                await db.commit()
            except DomainError:
                await db.rollback()
                assert await _snapshot(db, world) == before  # a refusal changes nothing
                await db.rollback()
    async with maker() as db:
        report = await points.verify(db, world.cid)
        assert report.ok, report.problems
        assert (
            await db.scalar(
                select(func.coalesce(func.sum(Entry.points), 0)).where(Entry.community_id == world.cid)
            )
            == 0
        )
        for a in await db.scalars(select(Account).where(Account.community_id == world.cid)):
            if a.kind == "member":
                assert a.balance >= a.held >= 0
    clock.reset()
