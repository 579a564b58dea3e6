"""Issue 9 on a real database: approver conflicts on manual attendance, login bursts, append-only audit."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import delete, func, select, text, update
from sqlalchemy.exc import DBAPIError

from service import clock
from service.accounts import service as accounts
from service.activities import service as svc
from service.activities.models import Attendance
from service.audit.models import AuditEvent
from service.audit.service import record
from service.config import LOGIN_FAILURES_MAX
from service.db import create_session_maker
from service.errors import DomainError, NotAuthenticated, TooManyRequests
from service.points import service as points
from service.points.models import Transfer
from tests.support.activities import T0, make_activity
from tests.support.refused import refused
from tests.support.world import SECRET, World


async def test_manual_attendance_is_never_approved_by_its_beneficiary(db: Any, world: World) -> None:
    clock.set_now(T0)
    a = await make_activity(db, world, starts_at=T0, ends_at=T0 + timedelta(hours=2), points=10)
    clock.set_now(T0 + timedelta(hours=2))
    org, org2 = world.actor("organizer"), world.actor("organizer2")
    # The second organizer records the first one's own attendance: the first may not approve it.
    att = await svc.request_manual(db, org2, a.id, org.member_id, T0, T0 + timedelta(hours=1), "主持活动")
    await db.commit()
    await refused(db, "approver_conflict", svc.approve_manual(db, org, att.id, client_addr="10.1.1.1"))
    await refused(db, "approver_conflict", svc.reject_manual(db, org, att.id))
    await db.commit()
    row = await db.get(Attendance, att.id, populate_existing=True)
    assert row is not None and row.status == "pending" and row.approved_by is None
    assert (await points.balance(db, world.cid, org.member_id)).available == 0
    assert await db.scalar(select(func.count()).select_from(Transfer)) == 0
    # A third person (the admin) approves; the act is in the audit log with its address.
    await svc.approve_manual(db, world.actor("admin"), att.id, client_addr="10.1.1.2")
    await db.commit()
    assert (await points.balance(db, world.cid, org.member_id)).available == 10
    [event] = await db.scalars(select(AuditEvent).where(AuditEvent.action == "manual_attendance_approved"))
    assert (event.actor_id, event.subject_member_id, event.client_addr) == (
        world.members["admin"].id,
        org.member_id,
        "10.1.1.2",
    )
    assert event.detail["points"] == 10 and event.detail["requested_by"] == str(org2.member_id)


async def test_an_award_to_oneself_waits_whatever_the_amount(db: Any, world: World) -> None:
    admin = world.actor("admin")
    a = await points.request_award(db, admin, world.cid, member_id=admin.member_id, points=1, reason="自己")
    assert a.status == "pending_approval" and a.transfer_id is None
    await db.commit()
    await refused(db, "same_admin", points.approve_award(db, admin, a.id))
    assert (await points.balance(db, world.cid, admin.member_id)).available == 0
    # A platform admin is a person too: he cannot approve an award to himself either.
    root = world.root
    await accounts.add_member(db, root, world.cid, root.phone, "平台", None, "member")
    b = await points.request_award(db, admin, world.cid, member_id=root.member_id, points=500, reason="x")
    await db.commit()
    await refused(db, "approver_conflict", points.approve_award(db, root, b.id))
    assert (await points.balance(db, world.cid, root.member_id)).available == 0


async def test_a_burst_of_wrong_guesses_checks_at_most_the_limit_and_never_fails(
    clean: Any, maker: Any, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with maker() as db:
        await accounts.set_password(db, world.actor("alice"), world.members["alice"].id, "alice-secret-1")
        await db.commit()
    checked = 0
    real_verify = accounts._verify_password

    async def counting_verify(stored: str | None, password: str) -> bool:
        nonlocal checked
        checked += 1
        return await real_verify(stored, password)

    monkeypatch.setattr(accounts, "_verify_password", counting_verify)

    async def guess(i: int) -> str:
        async with maker() as db:
            try:
                await accounts.login(db, "13900000001", f"guess-{i:04d}", f"198.51.100.{i}", SECRET)
            except DomainError as exc:
                await db.rollback()
                return exc.code
            return "ok"

    outcomes = await asyncio.gather(*(guess(i) for i in range(20)))
    assert set(outcomes) <= {"invalid_credentials", "too_many_attempts"}, outcomes
    assert checked <= LOGIN_FAILURES_MAX
    assert outcomes.count("invalid_credentials") == checked
    # The right password is refused now too: the phone is locked for the window, not the address.
    async with maker() as db:
        with pytest.raises(TooManyRequests):
            await accounts.login(db, "13900000001", "alice-secret-1", "203.0.113.1", SECRET)
        with pytest.raises(NotAuthenticated):
            await accounts.login(db, "13900000002", "not-bobs-1", "198.51.100.1", SECRET)


async def test_a_burst_over_http_answers_401_or_429_never_500(client: Any, world: World, maker: Any) -> None:
    async with maker() as db:
        await accounts.set_password(db, world.actor("bob"), world.members["bob"].id, "bob-secret-12")
        await db.commit()
    body = {"phone": "13900000002", "password": "wrong-guess-1"}
    replies = await asyncio.gather(*(client.post("/api/v1/auth/login", json=body) for _ in range(20)))
    statuses = [r.status_code for r in replies]
    assert set(statuses) <= {401, 429}, statuses
    assert statuses.count(401) <= LOGIN_FAILURES_MAX


@pytest.mark.postgres
async def test_audit_events_cannot_be_changed_or_deleted(
    clean: Any, maker: Any, owner_engine: Any, world: World
) -> None:
    """The app's role may not update or delete them at all; the owner's meets the append-only trigger."""
    async with maker() as db:
        event = await record(
            db, actor_id=world.members["admin"].id, action="award_approved", community_id=world.cid
        )
        await db.commit()
    for statement in (
        update(AuditEvent).where(AuditEvent.id == event.id).values(action="nothing_happened"),
        delete(AuditEvent).where(AuditEvent.id == event.id),
    ):
        for session_maker, refusal in (
            (maker, "permission denied"),
            (create_session_maker(owner_engine), "append-only"),
        ):
            async with session_maker() as db:
                with pytest.raises(DBAPIError, match=refusal):
                    await db.execute(statement)
                await db.rollback()
    async with maker() as db:
        assert await db.scalar(select(AuditEvent.action).where(AuditEvent.id == event.id)) == "award_approved"
        assert await db.scalar(text("SELECT count(*) FROM audit_events")) >= 1


async def test_a_reversal_is_recorded_with_the_member_it_touched(db: Any, world: World) -> None:
    admin, alice = world.actor("admin"), world.members["alice"]
    award = await points.request_award(db, admin, world.cid, member_id=alice.id, points=8, reason="误发")
    await db.commit()
    assert award.transfer_id is not None
    await points.reverse_as_admin(db, admin, world.cid, award.transfer_id, "发错人", client_addr="10.2.2.2")
    await db.commit()
    [event] = await db.scalars(select(AuditEvent).where(AuditEvent.action == "transfer_reversed"))
    assert (event.actor_id, event.subject_member_id, event.client_addr) == (
        admin.member_id,
        alice.id,
        "10.2.2.2",
    )
    assert event.detail["points"] == 8 and event.detail["transfer_id"] == str(award.transfer_id)
    assert (await points.balance(db, world.cid, alice.id)).available == 0
