"""Hypothesis: random sequences of ledger operations never break the books.

A model kept beside the service (each member's balance, held points and lots with their expiry) says
what every step must do: points credited to the wrong member, a lot consumed out of order or a refusal
the model does not expect fail at the step that did it."""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from service import clock
from service.errors import DomainError
from service.points import service as points
from service.points.models import Account, Entry, Lot
from tests.support.database import truncate
from tests.support.world import World, populate

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


@dataclass
class Person:
    """The model of one member's account: balance (held included), held, and lots (remaining, expiry)."""

    balance: int = 0
    held: int = 0
    lots: list[list[Any]] = field(default_factory=list)

    @property
    def available(self) -> int:
        return self.balance - self.held

    def credit(self, points: int, now: datetime) -> None:
        self.balance += points
        self.lots.append([points, now + timedelta(days=EXPIRY_DAYS)])

    def debit(self, points: int, lots: list[list[Any]] | None = None) -> None:
        """Spend ``points`` from ``lots`` (default all), oldest-expiring first (never-expiring last)."""
        self.balance -= points
        left = points
        for lot in sorted(lots if lots is not None else self.lots, key=lambda x: (x[1] is None, x[1] or 0)):
            take = min(lot[0], left)
            lot[0] -= take
            left -= take
        assert left == 0, f"the model's lots hold {points - left} of {points} points"


@dataclass
class Model:
    """What the books must say after each step, kept independently of the service."""

    people: dict[str, Person] = field(default_factory=lambda: {p: Person() for p in PEOPLE})
    keys: list[tuple[str, str, int]] = field(default_factory=list)
    transfers: list[tuple[Any, str | None, str | None, int]] = field(default_factory=list)
    """(transfer id, the member debited or None, the member credited or None, points)."""
    reversed: set[Any] = field(default_factory=set)
    holds: list[tuple[Any, str, int, datetime]] = field(default_factory=list)
    hold_status: dict[Any, str] = field(default_factory=dict)


EXPIRY_DAYS = 15


async def _refused(code: str, work: Awaitable[Any]) -> str:
    """The model expects ``work`` to be refused with ``code``."""
    with pytest.raises(DomainError) as info:
        await work
    assert info.value.code == code, f"refused with {info.value.code}, the model expected {code}"
    return code


async def _apply(db: Any, world: World, op: tuple[Any, ...], model: Model) -> str | None:
    """Run ``op`` on the service and on the model; when the model expects a refusal, check the service
    gives it and return its code (the caller then checks that nothing changed)."""
    cid, name = world.cid, op[0]
    m, people, now = world.members, model.people, clock.now()
    if name == "award":
        key = f"k{len(model.keys)}"
        r = await points.award(
            db, community_id=cid, member_id=m[op[1]].id, points=op[2], code="checkin", idempotency_key=key
        )
        model.keys.append((key, op[1], op[2]))
        model.transfers.append((r.transfer_id, None, op[1], op[2]))
        people[op[1]].credit(op[2], now)
    elif name == "retry" and model.keys:
        key, person, pts = model.keys[op[1] % len(model.keys)]
        r = await points.award(
            db, community_id=cid, member_id=m[person].id, points=pts, code="checkin", idempotency_key=key
        )
        assert r.replayed
    elif name == "spend":
        work = points.spend(
            db, community_id=cid, member_id=m[op[1]].id, points=op[2], payee="store", code="order"
        )
        if people[op[1]].available < op[2]:
            return await _refused("insufficient_points", work)
        r = await work
        model.transfers.append((r.transfer_id, op[1], None, op[2]))
        people[op[1]].debit(op[2])
    elif name == "transfer" and op[1] != op[2]:
        work = points.transfer(
            db, community_id=cid, from_member_id=m[op[1]].id, to_member_id=m[op[2]].id, points=op[3]
        )
        if people[op[1]].available < op[3]:
            return await _refused("insufficient_points", work)
        r = await work
        model.transfers.append((r.transfer_id, op[1], op[2], op[3]))
        people[op[1]].debit(op[3])
        people[op[2]].credit(op[3], now)
    elif name == "hold":
        expires = now + timedelta(days=3)
        hold = points.hold(
            db,
            community_id=cid,
            member_id=m[op[1]].id,
            points=op[2],
            payee="store",
            expires_at=expires,
            code="order",
            idempotency_key=f"h{len(model.holds)}-{op}",
        )
        if people[op[1]].available < op[2]:
            return await _refused("insufficient_points", hold)
        h = await hold
        model.holds.append((h.hold_id, op[1], op[2], expires))
        model.hold_status[h.hold_id] = "pending"
        people[op[1]].held += op[2]
    elif name in {"post", "void"} and model.holds:
        hold_id, person, pts, expires = model.holds[op[1] % len(model.holds)]
        if model.hold_status[hold_id] != "pending" or (name == "post" and expires <= now):
            call = points.post_hold(db, hold_id) if name == "post" else points.void_hold(db, hold_id)
            return await _refused("hold_not_pending", call)
        if name == "post":
            await points.post_hold(db, hold_id)
            people[person].held -= pts
            people[person].debit(pts)
            model.hold_status[hold_id] = "posted"
        else:
            await points.void_hold(db, hold_id)
            people[person].held -= pts
            model.hold_status[hold_id] = "voided"
    elif name == "reverse" and model.transfers:
        tid, debited, credited, pts = model.transfers[op[1] % len(model.transfers)]
        if tid in model.reversed:
            return await _refused("already_reversed", points.reverse(db, tid))
        if credited is not None and people[credited].available < pts:
            return await _refused("insufficient_points", points.reverse(db, tid))
        await points.reverse(db, tid)
        model.reversed.add(tid)
        if credited is not None:
            people[credited].debit(pts)
        if debited is not None:
            people[debited].credit(pts, now)
    elif name == "days":
        clock.advance(timedelta(days=op[1]))
    elif name == "expire":
        await points.expire_points(db)
        for person in people.values():
            due = [lot for lot in person.lots if lot[1] is not None and lot[1] <= now and lot[0] > 0]
            amount = min(sum(lot[0] for lot in due), person.available)
            if amount > 0:
                person.debit(amount, due)
    elif name == "sweep":
        await points.sweep_holds(db)
        for hold_id, person, pts, expires in model.holds:
            if model.hold_status[hold_id] == "pending" and expires <= now:
                model.hold_status[hold_id] = "expired"
                people[person].held -= pts
    return None


def _stamp(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).replace(microsecond=0).isoformat()


async def _books(db: Any, world: World) -> dict[str, Any]:
    """Each member's balance, held and remaining lots as the database has them."""
    out: dict[str, Any] = {}
    for p in PEOPLE:
        b = await points.balance(db, world.cid, world.members[p].id)
        account = await db.scalar(
            select(Account.id).where(
                Account.community_id == world.cid,
                Account.kind == "member",
                Account.member_id == world.members[p].id,
            )
        )
        lots = (
            sorted(
                (int(lot.remaining), _stamp(lot.expires_at))
                for lot in await db.scalars(select(Lot).where(Lot.account_id == account, Lot.remaining > 0))
            )
            if account is not None
            else []
        )
        out[p] = (b.available + b.held, b.held, lots)
    return out


def _expected(model: Model) -> dict[str, Any]:
    return {
        p: (x.balance, x.held, sorted((int(lot[0]), _stamp(lot[1])) for lot in x.lots if lot[0] > 0))
        for p, x in model.people.items()
    }


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=OPS)
async def test_random_operations_keep_every_invariant(
    clean: Any, owner_engine: Any, maker: Any, ops: list[tuple[Any, ...]]
) -> None:
    # Each example starts from empty books (the fixtures are set up once for all examples), on a clock
    # that moves one second per step (distinct lot expiries, compared to the second) and by "days".
    await truncate(owner_engine)  # the app's role may not TRUNCATE
    async with maker() as db:
        world = await populate(db)
        await db.commit()
    clock.reset()
    clock.set_now(clock.now().replace(microsecond=0))
    async with maker() as db:
        await points.set_policy(db, world.actor("admin"), world.cid, expiry_mode="days", expiry_value=15)
        await db.commit()
    model = Model()
    for step, op in enumerate(ops):
        clock.advance(timedelta(seconds=1))
        async with maker() as db:
            before = await _books(db, world)
            try:
                refusal = await _apply(db, world, op, model)
            except DomainError as exc:
                pytest.fail(f"step {step} {op}: refused with {exc.code}, the model expected it to pass")
            if refusal is None:
                await db.commit()
            else:  # refused as the model expected: and it changed nothing
                await db.rollback()
                assert await _books(db, world) == before, (step, op)
                await db.rollback()
        async with maker() as db:
            assert await _books(db, world) == _expected(model), f"after step {step} {op} of {ops}"
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
