"""Group commit of scans (PostgreSQL): many concurrent check-ins and check-outs in one database call,
each answered with its own result or error, a failing one never failing the others."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, insert, select

from service import clock
from service.accounts.models import Member, Membership
from service.activities import fastpath, rules
from service.activities import service as svc
from service.activities.models import Attendance
from service.errors import DomainError
from service.points import rules as ledger_rules
from service.points import service as points
from service.points.models import Account, Entry, Transfer
from tests.support.summaries import assert_summary_equals_rebuild

pytestmark = pytest.mark.postgres

N = 64
OUTSIDER = 32
"""The scan in the middle of the batch that must fail: a member of no community."""


async def _setup(maker: Any, world: Any) -> tuple[list[Member], str]:
    members = [
        Member(id=uuid.uuid4(), phone=f"1550000{i:04d}", name=f"v{i}", token_version=0) for i in range(N)
    ]
    async with maker() as db:
        await db.execute(insert(Member), [{"id": m.id, "phone": m.phone, "name": m.name} for m in members])
        await db.execute(
            insert(Membership),
            [
                {"community_id": world.cid, "member_id": m.id, "role": "member"}
                for i, m in enumerate(members)
                if i != OUTSIDER
            ],
        )
        now = clock.now()
        draft = svc.ActivityDraft(
            "河道清理", now - timedelta(minutes=5), now + timedelta(hours=2), "per_attendance", 6
        )
        a = await svc.create_activity(db, world.actor("organizer"), world.cid, draft)
        token = rules.make_token(rules.KIND_POSTER, a.id, a.poster_version, a.secret)
        # Volunteers who earned before have accounts; the last three have none yet (their first award
        # creates it on the ordinary path, in the same batch as the others).
        for shard in range(points.ISSUANCE_SHARDS):
            await points.account_for(db, world.cid, "issuance", shard=shard)
        for i, m in enumerate(members[: N - 3]):
            if i != OUTSIDER:
                await points.account_for(db, world.cid, "member", m.id)
        await db.commit()
    return members, token


async def _scan(maker: Any, member: Member, token: str) -> tuple[str, Any]:
    async with maker() as db:
        try:
            _actor, result = await svc.check_in_with_login(db, member.id, 0, token)
        except DomainError as exc:
            await db.rollback()
            return "error", exc.code
        await db.commit()
        return result.status, result.points_awarded


class _Together:
    """Scans reach the worker's batch queue together: each waits at a gate until ``expected`` have
    arrived, then they join the queue in member order (``order``; arrival order among one member's
    scans). Which batch a scan lands in then does not depend on how the event loop happened to
    interleave the requests (the first queued scan's batch takes all of them, up to ``BATCH_MAX``).

    One coordinator opens the gates, in order, once: when the last scan arrives, or after ``patience``
    seconds if some never do (the asserts then tell). A waiter never opens the gates itself: a scan
    that timed out and went on at once would queue ahead of every scan it had just released (which is
    how an earlier version of this gate put the outsider first on a slow CI machine)."""

    def __init__(self, monkeypatch: Any, expected: int, order: list[Member], patience: float = 120) -> None:
        self.expected = expected
        self.rank = {m.id: i for i, m in reversed(list(enumerate(order)))}
        self.waiting: list[tuple[int, int, asyncio.Event]] = []
        self.all_here = asyncio.Event()
        self.coordinator: asyncio.Task[None] | None = None
        self.opened = False
        real = fastpath.scan

        async def coordinate() -> None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.all_here.wait(), timeout=patience)
            self.opened = True
            for _rank, _arrival, gate in sorted(self.waiting, key=lambda w: w[:2]):
                gate.set()

        async def gated(engine: Any, item: fastpath.Scan) -> fastpath.Scanned | None:
            if self.opened:  # came after the coordinator gave up waiting: no gate left to wait at
                return await real(engine, item)
            gate = asyncio.Event()
            self.waiting.append((self.rank.get(item.member_id, len(self.rank)), len(self.waiting), gate))
            if self.coordinator is None:
                self.coordinator = asyncio.get_running_loop().create_task(coordinate())
            if len(self.waiting) == self.expected:
                self.all_here.set()
            await gate.wait()
            return await real(engine, item)

        monkeypatch.setattr(fastpath, "scan", gated)
        self.undo = lambda: monkeypatch.setattr(fastpath, "scan", real)


async def _all(
    maker: Any, members: list[Member], token: str, monkeypatch: Any = None
) -> list[tuple[str, Any]]:
    """Every member scans at once; with ``monkeypatch``, all in one batch in member order."""
    fastpath.RECENT.clear()
    together = _Together(monkeypatch, len(members), members) if monkeypatch is not None else None
    try:
        return list(await asyncio.gather(*(_scan(maker, m, token) for m in members)))
    finally:
        if together is not None:
            together.undo()


def _outsider_inside_a_batch() -> bool:
    for outcomes in fastpath.RECENT:
        inside = outcomes[1:-1]
        if "slow:role" in inside and any(o in ("checked_in", "checked_out") for o in outcomes):
            return True
    return False


async def test_a_batch_with_a_failing_scan_in_the_middle_posts_every_other_once(
    world: Any, maker: Any, monkeypatch: Any
) -> None:
    members, token = await _setup(maker, world)

    first = await _all(maker, members, token, monkeypatch)
    assert first[OUTSIDER] == ("error", "forbidden")
    assert [r for i, r in enumerate(first) if i != OUTSIDER] == [("checked_in", 0)] * (N - 1)
    assert _outsider_inside_a_batch(), list(fastpath.RECENT)
    assert len(fastpath.RECENT) == 1, "the gate put every scan in one batch"

    clock.advance(timedelta(seconds=rules.MIN_STAY_SECONDS + 60))
    out = await _all(maker, members, token, monkeypatch)
    assert out[OUTSIDER] == ("error", "forbidden")
    assert [r for i, r in enumerate(out) if i != OUTSIDER] == [("checked_out", 6)] * (N - 1)
    assert _outsider_inside_a_batch(), list(fastpath.RECENT)
    assert any(o.count("checked_out") > 1 for o in fastpath.RECENT), "check-outs posted in one batch"

    again = await _all(maker, members[:3], token)  # a third scan: refused on the ordinary path, no post
    assert again == [("error", "already_checked_out")] * 3

    async with maker() as db:
        transfers = list(
            await db.scalars(
                select(Transfer).where(Transfer.community_id == world.cid, Transfer.code == "checkin")
            )
        )
        assert len(transfers) == N - 1
        atts = {
            a.id: a for a in await db.scalars(select(Attendance).where(Attendance.community_id == world.cid))
        }
        assert sorted(t.ref_id for t in transfers) == sorted(str(a) for a in atts)  # once per attendance
        assert all(a.status == "out" and a.points == 6 for a in atts.values())
        # The batch computes the content hash and the issuance shard as points.award does.
        for t in transfers:
            legs = [
                (e.account_id, e.points)
                for e in await db.scalars(select(Entry).where(Entry.transfer_id == t.id))
            ]
            assert t.content_hash == ledger_rules.content_hash(
                "transfer", legs=legs, code="checkin", memo="河道清理", ref_type="attendance", ref_id=t.ref_id
            )
            assert t.idempotency_key == f"attendance:{t.ref_id}"
        balances = await db.scalar(
            select(func.sum(Account.balance)).where(
                Account.community_id == world.cid, Account.kind == "member"
            )
        )
        assert balances == 6 * (N - 1)
        assert (await points.verify(db, world.cid)).ok
        # The triggers kept the report summaries through the batches: equal to a rebuild from raw rows.
        await assert_summary_equals_rebuild(db, non_empty=True)
        await db.rollback()


async def test_organizer_scans_go_pending_and_the_summaries_stay_exact(world: Any, maker: Any) -> None:
    """A check-out that needs confirmation (an organizer's: status pending, out of the summaries) in the
    same batches as plain ones."""
    members, token = await _setup(maker, world)
    async with maker() as db:
        await db.execute(
            insert(Membership).values(community_id=world.cid, member_id=members[0].id, role="organizer")
        )
        await db.commit()
    first = await _all(maker, members[:9], token)
    assert first == [("checked_in", 0)] * 9
    clock.advance(timedelta(seconds=rules.MIN_STAY_SECONDS + 60))
    out = await _all(maker, members[:9], token)
    assert out[1:] == [("checked_out", 6)] * 8 and out[0] == ("checked_out", 0)
    async with maker() as db:
        mine = await db.scalar(
            select(Attendance).where(
                Attendance.community_id == world.cid, Attendance.member_id == members[0].id
            )
        )
        assert mine is not None and mine.status == "pending"
        assert (await points.verify(db, world.cid)).ok
        await assert_summary_equals_rebuild(db, non_empty=True)
        await db.rollback()


async def test_a_member_twice_in_one_batch_is_checked_out_once_per_attendance(
    world: Any, maker: Any, monkeypatch: Any
) -> None:
    """Two phones of one member scan the same poster at once, and some members check out of two
    activities at once: each attendance is checked out and posted exactly once; the second scan of the
    same attendance is refused as on the ordinary path."""
    members, token = await _setup(maker, world)
    async with maker() as db:
        now = clock.now()
        draft = svc.ActivityDraft(
            "垃圾分类", now - timedelta(minutes=5), now + timedelta(hours=2), "per_attendance", 4
        )
        b = await svc.create_activity(db, world.actor("organizer"), world.cid, draft)
        token_b = rules.make_token(rules.KIND_POSTER, b.id, b.poster_version, b.secret)
        await db.commit()
    both, once = members[:8], members[8:24]
    assert await _all(maker, [*both, *once], token) == [("checked_in", 0)] * 24
    fastpath.RECENT.clear()
    assert await asyncio.gather(*(_scan(maker, m, token_b) for m in both)) == [("checked_in", 0)] * 8

    clock.advance(timedelta(seconds=rules.MIN_STAY_SECONDS + 60))
    fastpath.RECENT.clear()
    scans = [(m, token) for m in once] + [(m, token) for m in once] + [(m, token) for m in both]
    scans += [(m, token_b) for m in both]
    together = _Together(monkeypatch, len(scans), members)
    answers = await asyncio.gather(*(_scan(maker, m, t) for m, t in scans))
    together.undo()
    twice = answers[: 2 * len(once)]
    for i in range(len(once)):  # each member's two scans of the same poster: one check-out, one refusal
        assert sorted([twice[i], twice[i + len(once)]]) == [
            ("checked_out", 6),
            ("error", "already_checked_out"),
        ]
    assert answers[2 * len(once) :] == [("checked_out", 6)] * 8 + [("checked_out", 4)] * 8
    seen = [o for batch in fastpath.RECENT for o in batch]
    assert "slow:twice" in seen, list(fastpath.RECENT)  # the batch sent the repeats to the ordinary path

    async with maker() as db:
        transfers = list(
            await db.scalars(
                select(Transfer).where(Transfer.community_id == world.cid, Transfer.code == "checkin")
            )
        )
        assert len(transfers) == len(once) + 2 * len(both)
        assert len({t.ref_id for t in transfers}) == len(transfers)  # one per attendance
        balances = dict(
            (
                await db.execute(
                    select(Account.member_id, Account.balance).where(
                        Account.community_id == world.cid, Account.kind == "member"
                    )
                )
            ).all()
        )
        assert all(balances[m.id] == 10 for m in both) and all(balances[m.id] == 6 for m in once)
        assert (await points.verify(db, world.cid)).ok
        await assert_summary_equals_rebuild(db, non_empty=True)
        await db.rollback()
