"""A scan's token is parsed and checked once, also when the fast path declines and the ordinary path
answers (both databases: the batch on PostgreSQL, the one-hop insert on SQLite)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from service import clock
from service.accounts.models import Member
from service.activities import fastpath, rules
from service.activities import service as svc
from service.activities.models import Activity, Attendance
from service.errors import DomainError
from tests.support.world import World


def _counted(monkeypatch: pytest.MonkeyPatch, owner: Any, name: str) -> list[int]:
    calls: list[int] = []
    real: Callable[..., Any] = getattr(owner, name)

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, counting)
    return calls


async def _activity(maker: Any, world: World) -> Activity:
    now = clock.now()
    starts, ends = now - timedelta(minutes=5), now + timedelta(hours=2)
    draft = svc.ActivityDraft("河道清理", starts, ends, "per_attendance", 6)
    async with maker() as db:
        activity = await svc.create_activity(db, world.actor("organizer"), world.cid, draft)
        await db.commit()
    return activity


async def _outsider(maker: Any) -> Member:
    """A member of no community: every in-memory check passes, the database's role check does not."""
    async with maker() as db:
        member = Member(phone="15500000999", name="路人")
        db.add(member)
        await db.commit()
    return member


async def _scan(maker: Any, member: Member, token: str) -> str:
    async with maker() as db:
        try:
            _actor, result = await svc.check_in_with_login(db, member.id, member.token_version, token)
        except DomainError as exc:
            await db.rollback()
            return exc.code
        await db.commit()
        return result.status


async def _attendances(maker: Any, activity: Activity) -> int:
    async with maker() as db:
        found = await db.scalar(select(func.count()).where(Attendance.activity_id == activity.id))
        return int(found or 0)


@pytest.mark.parametrize("case", ["declined_by_the_database", "refused_in_memory"])
async def test_a_declined_fast_scan_is_parsed_and_checked_once(
    maker: Any, world: World, monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    activity = await _activity(maker, world)
    if case == "declined_by_the_database":
        member, step = await _outsider(maker), rules.kiosk_step(clock.now())
    else:  # a kiosk code two steps old: the fast path refuses it on its copy, the ordinary path answers
        member, step = world.members["alice"], rules.kiosk_step(clock.now()) - 2
    token = rules.make_token(rules.KIND_KIOSK, activity.id, step, activity.secret)
    parses = _counted(monkeypatch, rules, "parse_token")
    checks = _counted(monkeypatch, svc, "_evidence")
    before = dict(fastpath.STATS)

    code = await _scan(maker, member, token)

    assert code == ("forbidden" if case == "declined_by_the_database" else "qr_expired")
    assert (len(parses), len(checks)) == (1, 1)
    reached_the_database = fastpath.STATS["batches"] > before["batches"]
    assert reached_the_database is (case == "declined_by_the_database")
    assert await _attendances(maker, activity) == 0


async def test_a_fast_scan_and_an_ordinary_one_each_check_the_token_once(
    maker: Any, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    activity = await _activity(maker, world)
    token = rules.make_token(rules.KIND_POSTER, activity.id, activity.poster_version, activity.secret)
    parses = _counted(monkeypatch, rules, "parse_token")
    checks = _counted(monkeypatch, svc, "_evidence")

    assert await _scan(maker, world.members["alice"], token) == "checked_in"
    assert (len(parses), len(checks)) == (1, 1)
    async with maker() as db:  # inside a transaction: the ordinary path alone
        await db.begin()
        _actor, result = await svc.check_in_with_login(db, world.members["bob"].id, 0, token)
        await db.commit()
    assert result.status == "checked_in"
    assert (len(parses), len(checks)) == (2, 2)
    assert await _attendances(maker, activity) == 2


async def test_a_stale_copy_is_checked_again_against_the_row(maker: Any, world: World) -> None:
    """The worker's copy had the old poster version: the new poster's code is still accepted."""
    activity = await _activity(maker, world)
    old = rules.make_token(rules.KIND_POSTER, activity.id, activity.poster_version, activity.secret)
    assert await _scan(maker, world.members["alice"], old) == "checked_in"  # the copy is cached now
    async with maker() as db:
        renewed = await svc.revoke_poster(db, world.actor("organizer"), activity.id)
        await db.commit()
    new = rules.make_token(rules.KIND_POSTER, activity.id, renewed.poster_version, activity.secret)
    assert await _scan(maker, world.members["bob"], new) == "checked_in"
    assert await _scan(maker, world.members["carol"], old) == "qr_invalid"
    assert await _attendances(maker, activity) == 2
