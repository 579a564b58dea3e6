"""Separation of duties at activities: nobody mints points for themself with an activity they run.

Each test tries the attack and asserts the refusal and that nothing changed (balances, attendance).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from service import clock
from service.activities import rules, views
from service.activities import service as svc
from service.activities.models import Attendance
from tests.support.activities import T0, attendances, kiosk_token, make_activity
from tests.support.balances import available
from tests.support.refused import refused
from tests.support.world import World

STAY = timedelta(seconds=rules.MIN_STAY_SECONDS)


async def _row(db: AsyncSession, activity_id: Any, member_id: Any) -> Attendance:
    row = await db.scalar(
        select(Attendance)
        .where(Attendance.activity_id == activity_id, Attendance.member_id == member_id)
        .execution_options(populate_existing=True)
    )
    assert row is not None
    return row


async def test_activity_above_the_cap_opens_only_after_another_admin_approves(
    db: AsyncSession, world: World
) -> None:
    clock.set_now(T0)
    a = await make_activity(db, world, points=50_000)
    assert a.status == "pending_approval"
    # The attack: the organizer checks himself (and a friend) in at his own kiosk.
    token = await kiosk_token(db, world, a)
    await refused(db, "activity_not_open", svc.check_in(db, world.actor("organizer"), token))
    await refused(db, "activity_not_open", svc.check_in(db, world.actor("alice"), token))
    assert await attendances(db, a) == 0
    assert await available(db, world, "organizer") == 0 and await available(db, world, "alice") == 0
    # Organizers cannot approve; nor can an admin approve an activity the admin created.
    await refused(db, "forbidden", svc.approve_activity(db, world.actor("organizer2"), a.id))
    mine = await svc.create_activity(
        db,
        world.actor("admin"),
        world.cid,
        svc.ActivityDraft(
            "大额活动", T0 - timedelta(minutes=5), T0 + timedelta(hours=1), "per_attendance", 60
        ),
    )
    await db.commit()
    await refused(db, "same_admin", svc.approve_activity(db, world.actor("admin"), mine.id))
    assert (await svc.get_activity(db, world.actor("admin"), mine.id)).status == "pending_approval"
    # Another admin approves: now check-in works (and the points still post only at check-out).
    approved = await svc.approve_activity(db, world.actor("admin"), a.id)
    await db.commit()
    assert (approved.status, approved.approved_by) == ("open", world.members["admin"].id)
    await refused(db, "activity_not_pending", svc.approve_activity(db, world.actor("admin2"), a.id))
    r = await svc.check_in(db, world.actor("alice"), await kiosk_token(db, world, a))
    await db.commit()
    assert (r.status, r.points_awarded) == ("checked_in", 0)


async def test_raising_points_after_approval_needs_approval_again(db: AsyncSession, world: World) -> None:
    clock.set_now(T0)
    org = world.actor("organizer")
    a = await make_activity(db, world, points=10)
    assert a.status == "open"
    await svc.update_activity(db, org, a.id, {"title": "改个名字"})
    assert a.status == "open"
    await svc.update_activity(db, org, a.id, {"points": 5_000})
    await db.commit()
    assert a.status == "pending_approval"
    await refused(
        db, "activity_not_open", svc.check_in(db, world.actor("alice"), await kiosk_token(db, world, a))
    )
    await svc.update_activity(db, org, a.id, {"points": 20})  # back under the cap: open again
    await db.commit()
    assert a.status == "open"


async def test_the_cap_is_a_community_setting_only_admins_change(db: AsyncSession, world: World) -> None:
    clock.set_now(T0)
    assert await svc.points_cap(db, world.cid) == rules.POINTS_CAP_DEFAULT
    await refused(db, "forbidden", svc.set_points_cap(db, world.actor("organizer"), world.cid, 100_000))
    assert await svc.points_cap(db, world.cid) == rules.POINTS_CAP_DEFAULT
    await svc.set_points_cap(db, world.actor("admin"), world.cid, 5)
    await db.commit()
    assert (await make_activity(db, world, points=6)).status == "pending_approval"
    assert (await make_activity(db, world, points=5)).status == "open"
    # Per hour: the cap is on the hourly rate.
    assert (await make_activity(db, world, points_mode="per_hour", points=6)).status == "pending_approval"


async def test_organizers_own_attendance_waits_for_another_organizer(db: AsyncSession, world: World) -> None:
    clock.set_now(T0)
    a = await make_activity(db, world)
    org, org2 = world.actor("organizer"), world.actor("organizer2")
    r = await svc.check_in(db, org, await kiosk_token(db, world, a))
    await db.commit()
    assert (r.status, r.points_awarded, r.points_status) == ("checked_in", 0, "awaiting_confirmation")
    clock.advance(STAY)
    r = await svc.check_in(db, org, await kiosk_token(db, world, a))
    await db.commit()
    assert (r.status, r.points_awarded, r.points_status) == ("checked_out", 0, "awaiting_confirmation")
    assert (r.attendance.status, r.points_pending) == ("pending", 10)
    assert await available(db, world, "organizer") == 0
    # A further scan does not post either.
    await refused(db, "confirmation_pending", svc.check_in(db, org, await kiosk_token(db, world, a)))
    # He cannot confirm himself; a member cannot confirm at all.
    await refused(db, "approver_conflict", svc.approve_manual(db, org, r.attendance.id))
    await refused(db, "forbidden", svc.approve_manual(db, world.actor("alice"), r.attendance.id))
    assert await available(db, world, "organizer") == 0
    done = await svc.approve_manual(db, org2, r.attendance.id)
    await db.commit()
    assert (done.status, done.points, done.approved_by) == ("out", 10, world.members["organizer2"].id)
    assert await available(db, world, "organizer") == 10
    await refused(db, "manual_not_pending", svc.approve_manual(db, org2, r.attendance.id))
    assert await available(db, world, "organizer") == 10  # posted once
    flags = {row.member_name: row.flags for row in await views.attendance_list(db, org2, a.id)}
    assert flags[world.members["organizer"].name] == ["self_attendance"]


async def test_an_admin_checking_in_is_also_confirmed_by_someone_else(db: AsyncSession, world: World) -> None:
    clock.set_now(T0)
    a = await make_activity(db, world)
    admin = world.actor("admin")
    await svc.check_in(db, admin, await kiosk_token(db, world, a))
    await db.commit()
    clock.advance(timedelta(minutes=30))
    closed = await svc.close_activity(db, world.actor("organizer"), a.id)
    await db.commit()
    assert (closed.checked_out, closed.points_posted, closed.awaiting_confirmation) == (1, 0, 1)
    att = await _row(db, a.id, world.members["admin"].id)
    assert att.status == "pending" and await available(db, world, "admin") == 0
    await refused(db, "approver_conflict", svc.approve_manual(db, admin, att.id))
    await svc.approve_manual(db, world.actor("organizer"), att.id)
    await db.commit()
    assert await available(db, world, "admin") == 10


async def test_nobody_approves_a_manual_record_that_benefits_them(db: AsyncSession, world: World) -> None:
    clock.set_now(T0)
    a = await make_activity(db, world, starts_at=T0, ends_at=T0 + timedelta(hours=2))
    clock.set_now(T0 + timedelta(hours=2))
    att = await svc.request_manual(
        db,
        world.actor("organizer2"),
        a.id,
        world.members["organizer"].id,
        T0,
        T0 + timedelta(hours=1),
        "补录",
    )
    await db.commit()
    await refused(db, "approver_conflict", svc.approve_manual(db, world.actor("organizer"), att.id))
    assert await available(db, world, "organizer") == 0
    assert (await _row(db, a.id, world.members["organizer"].id)).status == "pending"


async def test_close_marks_people_who_left_early_absent(db: AsyncSession, world: World) -> None:
    clock.set_now(T0)
    a = await make_activity(db, world)
    for name in ("alice", "bob", "carol"):
        await svc.check_in(db, world.actor(name), await kiosk_token(db, world, a))
    await db.commit()
    clock.advance(STAY)
    await svc.check_in(db, world.actor("carol"), await kiosk_token(db, world, a))  # carol scanned out
    await db.commit()
    org = world.actor("organizer")
    # Carol already checked out (her points posted): she cannot be marked absent; nothing changes.
    carol_id, bob_id = world.members["carol"].id, world.members["bob"].id
    await refused(db, "not_checked_in", svc.close_activity(db, org, a.id, [bob_id, carol_id]))
    assert (await svc.get_activity(db, org, a.id)).status == "open"
    assert await available(db, world, "alice") == 0 and await available(db, world, "bob") == 0
    closed = await svc.close_activity(db, org, a.id, [bob_id])
    await db.commit()
    assert (closed.checked_out, closed.points_posted, closed.absent) == (1, 10, 1)
    assert await available(db, world, "alice") == 10
    assert await available(db, world, "bob") == 0
    assert await available(db, world, "carol") == 10
    bob = await _row(db, a.id, bob_id)
    assert (bob.status, bob.points, bob.minutes) == ("absent", 0, 0)
    assert (await svc.hours_of(db, bob_id, world.cid)).minutes == 0
