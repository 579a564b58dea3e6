"""Activities and check-in on a real database: one test per rule, refusals change nothing."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from service import clock
from service.activities import rules, views
from service.activities import service as svc
from service.activities.models import Activity
from tests.support.activities import T0, URL, attendances, kiosk_token, make_activity
from tests.support.balances import available
from tests.support.refused import refused
from tests.support.world import World


async def test_scan_in_repeat_then_out_posts_points_once(db: AsyncSession, world: World) -> None:
    clock.set_now(T0)
    a = await make_activity(db, world)
    alice = world.actor("alice")
    r = await svc.check_in(db, alice, await kiosk_token(db, world, a))
    await db.commit()
    # Scan-and-walk-away earns nothing: the points post at check-out, after the minimum stay.
    assert (r.status, r.points_awarded, r.repeated) == ("checked_in", 0, False)
    assert (r.points_pending, r.points_status) == (10, "on_check_out")
    assert await available(db, world, "alice") == 0
    clock.advance(timedelta(minutes=1))
    r = await svc.check_in(db, alice, await kiosk_token(db, world, a))
    await db.commit()
    assert (r.status, r.repeated, r.points_awarded) == ("checked_in", True, 0)
    clock.advance(timedelta(seconds=rules.MIN_STAY_SECONDS - 120))  # still short of the minimum stay
    r = await svc.check_in(db, alice, await kiosk_token(db, world, a))
    await db.commit()
    assert (r.status, r.repeated) == ("checked_in", True) and await available(db, world, "alice") == 0
    clock.advance(timedelta(minutes=1))
    r = await svc.check_in(db, alice, await kiosk_token(db, world, a))
    await db.commit()
    minutes = rules.MIN_STAY_SECONDS // 60
    assert (r.status, r.attendance.minutes, r.points_awarded) == ("checked_out", minutes, 10)
    assert r.points_status == "posted"
    assert await available(db, world, "alice") == 10
    clock.advance(timedelta(minutes=5))
    await refused(db, "already_checked_out", svc.check_in(db, alice, await kiosk_token(db, world, a)))
    assert await attendances(db, a) == 1
    assert await available(db, world, "alice") == 10


async def test_per_hour_points_pro_rata_and_capped(db: AsyncSession, world: World) -> None:
    clock.set_now(T0)
    a = await make_activity(
        db,
        world,
        starts_at=T0,
        ends_at=T0 + timedelta(hours=3),
        points_mode="per_hour",
        points=10,
        points_max=15,
    )
    bob = world.actor("bob")
    await svc.check_in(db, bob, await kiosk_token(db, world, a))
    await db.commit()
    assert await available(db, world, "bob") == 0
    clock.advance(timedelta(hours=2))
    r = await svc.check_in(db, bob, await kiosk_token(db, world, a))
    await db.commit()
    assert (r.status, r.attendance.minutes, r.points_awarded) == ("checked_out", 120, 15)
    assert await available(db, world, "bob") == 15


async def test_kiosk_code_rotates_and_expires_after_two_steps(db: AsyncSession, world: World) -> None:
    clock.set_now(T0)
    a = await make_activity(db, world)
    first = await kiosk_token(db, world, a)
    clock.advance(timedelta(seconds=rules.KIOSK_STEP_SECONDS))
    second = await kiosk_token(db, world, a)
    assert first != second
    clock.advance(timedelta(seconds=rules.KIOSK_STEP_SECONDS))  # T0+30 s: `first` is two steps old
    await refused(db, "qr_expired", svc.check_in(db, world.actor("alice"), first))
    assert await attendances(db, a) == 0
    r = await svc.check_in(db, world.actor("alice"), second)  # the previous step is still fine
    await db.commit()
    assert r.status == "checked_in"


async def test_code_from_the_future_or_another_activity_is_invalid(db: AsyncSession, world: World) -> None:
    clock.set_now(T0)
    a = await make_activity(db, world)
    b = await make_activity(db, world, title="另一个")
    future = rules.make_token(rules.KIND_KIOSK, a.id, rules.kiosk_step(T0) + 1, a.secret)
    await refused(db, "qr_invalid", svc.check_in(db, world.actor("alice"), future))
    borrowed = rules.make_token(rules.KIND_KIOSK, a.id, rules.kiosk_step(T0), b.secret)
    await refused(db, "qr_invalid", svc.check_in(db, world.actor("alice"), borrowed))
    for junk in ["", "abc", "A" * 42, "../../etc/passwd", "é" * 42]:
        await refused(db, "qr_invalid", svc.check_in(db, world.actor("alice"), junk))
    assert await attendances(db, a) == 0 and await available(db, world, "alice") == 0


async def test_screenshot_forwarded_home_earns_nothing(db: AsyncSession, world: World) -> None:
    clock.set_now(T0)
    a = await make_activity(db, world)
    token = await kiosk_token(db, world, a)
    clock.advance(timedelta(seconds=31))
    await refused(db, "qr_expired", svc.check_in(db, world.actor("carol"), token))
    assert await attendances(db, a) == 0 and await available(db, world, "carol") == 0


async def test_poster_window_and_revocation(db: AsyncSession, world: World) -> None:
    clock.set_now(T0)
    a = await make_activity(db, world, starts_at=T0 + timedelta(hours=2), ends_at=T0 + timedelta(hours=3))
    url = await svc.poster_code(db, world.actor("organizer"), a.id, URL)
    token = url.rsplit("/", 1)[1]
    await refused(db, "activity_not_open", svc.check_in(db, world.actor("alice"), token))
    clock.set_now(T0 + timedelta(hours=2))
    r = await svc.check_in(db, world.actor("alice"), token)
    await db.commit()
    assert r.attendance.evidence == "poster"
    await svc.revoke_poster(db, world.actor("organizer"), a.id)
    await db.commit()
    await refused(db, "qr_invalid", svc.check_in(db, world.actor("bob"), token))
    clock.set_now(T0 + timedelta(hours=4))
    fresh = (await svc.poster_code(db, world.actor("organizer"), a.id, URL)).rsplit("/", 1)[1]
    await refused(db, "qr_expired", svc.check_in(db, world.actor("bob"), fresh))
    assert await attendances(db, a) == 1
    rows = await views.attendance_list(db, world.actor("organizer"), a.id)
    assert rows[0].flags == ["weak_evidence"]


async def test_geofence(db: AsyncSession, world: World) -> None:
    a = await make_activity(db, world, lat=36.061, lng=103.834, radius_m=200)
    token = await kiosk_token(db, world, a)
    alice = world.actor("alice")
    await refused(db, "location_required", svc.check_in(db, alice, token))
    await refused(db, "outside_area", svc.check_in(db, alice, token, lat=36.1, lng=103.834))
    assert await attendances(db, a) == 0
    r = await svc.check_in(db, alice, token, lat=36.0615, lng=103.834)
    await db.commit()
    assert r.status == "checked_in"


async def test_signup_required_and_capacity(db: AsyncSession, world: World) -> None:
    a = await make_activity(db, world, signup_required=True, capacity=1)
    token = await kiosk_token(db, world, a)
    await refused(db, "not_signed_up", svc.check_in(db, world.actor("alice"), token))
    await svc.signup(db, world.actor("alice"), a.id)
    await db.commit()
    await refused(db, "activity_full", svc.signup(db, world.actor("bob"), a.id))
    assert await views.signup_count(db, a.id) == 1
    r = await svc.check_in(db, world.actor("alice"), token)
    await db.commit()
    assert r.status == "checked_in"
    open_a = await make_activity(db, world, capacity=1)
    token = await kiosk_token(db, world, open_a)
    await svc.check_in(db, world.actor("alice"), token)
    await db.commit()
    await refused(db, "activity_full", svc.check_in(db, world.actor("bob"), token))
    assert await attendances(db, open_a) == 1 and await available(db, world, "bob") == 0


async def test_not_open_before_window_after_close_and_for_strangers(db: AsyncSession, world: World) -> None:
    clock.set_now(T0)
    later = await make_activity(db, world, starts_at=T0 + timedelta(hours=1), ends_at=T0 + timedelta(hours=2))
    await refused(
        db, "activity_not_open", svc.check_in(db, world.actor("alice"), await kiosk_token(db, world, later))
    )
    a = await make_activity(db, world)
    await svc.close_activity(db, world.actor("organizer"), a.id)
    await db.commit()
    await refused(
        db, "activity_not_open", svc.check_in(db, world.actor("alice"), await kiosk_token(db, world, a))
    )
    b = await make_activity(db, world)
    root_only = world.actor("root")
    stranger = type(root_only)(uuid.uuid4(), "x", "13000000000", False)
    await refused(db, "forbidden", svc.check_in(db, stranger, await kiosk_token(db, world, b)))
    await refused(db, "forbidden", svc.kiosk_code(db, world.actor("alice"), b.id, URL))


async def test_close_checks_everyone_out_and_posts_per_hour_points(db: AsyncSession, world: World) -> None:
    clock.set_now(T0)
    a = await make_activity(
        db, world, starts_at=T0, ends_at=T0 + timedelta(hours=2), points_mode="per_hour", points=6
    )
    for name in ("alice", "bob"):
        await svc.check_in(db, world.actor(name), await kiosk_token(db, world, a))
    await db.commit()
    clock.set_now(T0 + timedelta(hours=3))  # closed an hour after the end: only the window counts
    closed = await svc.close_activity(db, world.actor("organizer"), a.id)
    await db.commit()
    assert (closed.checked_out, closed.points_posted, closed.absent) == (2, 24, 0)
    assert await available(db, world, "alice") == 12 and await available(db, world, "bob") == 12
    await refused(db, "activity_not_open", svc.close_activity(db, world.actor("organizer"), a.id))
    assert await available(db, world, "alice") == 12


async def test_manual_record_needs_a_second_organizer(db: AsyncSession, world: World) -> None:
    clock.set_now(T0)
    a = await make_activity(
        db, world, starts_at=T0, ends_at=T0 + timedelta(hours=2), points_mode="per_hour", points=10
    )
    clock.set_now(T0 + timedelta(hours=2))
    org, org2 = world.actor("organizer"), world.actor("organizer2")
    carol = world.members["carol"].id
    att = await svc.request_manual(db, org, a.id, carol, T0, T0 + timedelta(hours=1), "忘带手机")
    await db.commit()
    assert att.status == "pending" and await available(db, world, "carol") == 0
    await refused(db, "second_organizer_required", svc.approve_manual(db, org, att.id))
    await refused(db, "forbidden", svc.approve_manual(db, world.actor("alice"), att.id))
    assert await available(db, world, "carol") == 0
    await refused(
        db, "already_attended", svc.request_manual(db, org2, a.id, carol, T0, T0 + timedelta(hours=1), "再来")
    )
    done = await svc.approve_manual(db, org2, att.id)
    await db.commit()
    assert (done.status, done.minutes, done.points) == ("out", 60, 10)
    assert await available(db, world, "carol") == 10
    await refused(db, "manual_not_pending", svc.approve_manual(db, org2, att.id))
    rows = await views.attendance_list(db, org, a.id)
    assert rows[0].flags == ["manual"]
    csv_text = views.attendance_csv(rows).decode("utf-8-sig")
    assert "manual" in csv_text and ",yes," in csv_text
    hours = await svc.hours_of(db, carol, world.cid)
    assert (hours.minutes, hours.manual_minutes) == (60, 60)


async def test_member_card_checks_in_and_revoked_card_fails(db: AsyncSession, world: World) -> None:
    a = await make_activity(db, world)
    card = await svc.member_card(db, world.actor("carol"), world.cid)
    token = card.token
    await db.commit()
    r = await svc.scan_card(db, world.actor("organizer"), a.id, token)
    await db.commit()
    assert (r.status, r.attendance.evidence, r.points_awarded) == ("checked_in", "member_card", 0)
    clock.advance(timedelta(seconds=rules.MIN_STAY_SECONDS))
    r = await svc.scan_card(db, world.actor("organizer"), a.id, token)  # the second scan checks out
    await db.commit()
    assert (r.status, r.points_awarded) == ("checked_out", 10)
    await refused(db, "forbidden", svc.scan_card(db, world.actor("bob"), a.id, token))
    await svc.revoke_card(db, world.actor("carol"), world.cid)
    await db.commit()
    await refused(db, "card_invalid", svc.scan_card(db, world.actor("organizer"), a.id, token))
    await refused(db, "card_invalid", views.card_landing(db, world.actor("organizer"), token))
    assert await available(db, world, "carol") == 10


async def test_one_device_checking_in_several_members_is_flagged(db: AsyncSession, world: World) -> None:
    a = await make_activity(db, world)
    token = await kiosk_token(db, world, a)
    for name in ("alice", "bob"):
        await svc.check_in(db, world.actor(name), token, device_id="D" * 32)
    await svc.check_in(db, world.actor("carol"), token, device_id="E" * 32)
    await db.commit()
    flags = {r.member_name: r.flags for r in await views.attendance_list(db, world.actor("organizer"), a.id)}
    assert flags[world.members["alice"].name] == ["shared_device"]
    assert flags[world.members["bob"].name] == ["shared_device"]
    assert flags[world.members["carol"].name] == []


async def test_scan_before_login_completes_within_ten_minutes(db: AsyncSession, world: World) -> None:
    clock.set_now(T0)
    a = await make_activity(db, world)
    token = await kiosk_token(db, world, a)
    clock.advance(timedelta(minutes=9))  # the code itself expired long ago
    scan = rules.PendingScan(int(T0.timestamp()), "a" * rules.SCAN_NONCE_CHARS)
    r = await svc.check_in(db, world.actor("alice"), token, pending_scan=scan)
    await db.commit()
    assert r.status == "checked_in" and r.attendance.checked_in_at == T0
    late = rules.PendingScan(int(T0.timestamp()), "b" * rules.SCAN_NONCE_CHARS)
    clock.advance(timedelta(minutes=2))
    await refused(db, "qr_expired", svc.check_in(db, world.actor("bob"), token, pending_scan=late))
    assert await attendances(db, a) == 1


async def test_a_pending_scan_checks_in_one_member_once(db: AsyncSession, world: World) -> None:
    clock.set_now(T0)
    a = await make_activity(db, world)
    token = await kiosk_token(db, world, a)
    clock.advance(timedelta(minutes=3))  # the kiosk code expired while the phone logged in
    scan = rules.PendingScan(int(T0.timestamp()), "c" * rules.SCAN_NONCE_CHARS)
    await svc.check_in(db, world.actor("alice"), token, pending_scan=scan)
    await db.commit()
    # The same scan (a copied cookie) cannot check in anybody else, nor alice again.
    await refused(db, "qr_expired", svc.check_in(db, world.actor("bob"), token, pending_scan=scan))
    await refused(db, "qr_expired", svc.check_in(db, world.actor("alice"), token, pending_scan=scan))
    assert await attendances(db, a) == 1 and await available(db, world, "bob") == 0


async def test_hours_and_team_totals(db: AsyncSession, world: World) -> None:
    clock.set_now(T0)
    org = world.actor("organizer")
    team = await svc.create_team(db, org, world.cid, "红马甲志愿服务队", world.members["alice"].id)
    await svc.add_team_member(db, org, team.id, world.members["bob"].id)
    await db.commit()
    await refused(
        db,
        "team_name_taken",
        svc.create_team(db, org, world.cid, "红马甲志愿服务队", world.members["bob"].id),
    )
    a = await make_activity(db, world, starts_at=T0, ends_at=T0 + timedelta(hours=2))
    for name in ("alice", "bob"):
        await svc.check_in(db, world.actor(name), await kiosk_token(db, world, a))
    await db.commit()
    clock.advance(timedelta(minutes=45))
    await svc.close_activity(db, org, a.id)
    await db.commit()
    (totals,) = await views.teams_with_totals(db, org, world.cid)
    assert totals.minutes == 90 and totals.leader_name == world.members["alice"].name
    assert (await svc.hours_of(db, world.members["alice"].id, world.cid, T0.year)).minutes == 45
    assert (await svc.hours_of(db, world.members["alice"].id, world.cid, T0.year + 1)).minutes == 0


async def test_invalid_activity_input_is_refused(db: AsyncSession, world: World) -> None:
    now = clock.now()
    bad = [
        {"ends_at": now - timedelta(hours=1)},
        {"points_mode": "per_day"},
        {"points": -1},
        {"lat": 36.0},
        {"category": "赌博"},
        {"title": "   "},
        {"ends_at": now + timedelta(days=40)},
    ]
    for change in bad:
        await refused(db, "invalid_activity", make_activity(db, world, **change))
    assert int(await db.scalar(select(func.count()).select_from(Activity)) or 0) == 0
    await refused(
        db,
        "forbidden",
        svc.create_activity(
            db,
            world.actor("alice"),
            world.cid,
            svc.ActivityDraft("x", now, now + timedelta(hours=1), "per_attendance", 1),
        ),
    )


async def test_forgotten_activity_closes_itself_and_posts(
    db: AsyncSession, world: World, maker: async_sessionmaker[AsyncSession]
) -> None:
    clock.set_now(T0)
    a = await make_activity(
        db, world, starts_at=T0, ends_at=T0 + timedelta(hours=1), points_mode="per_hour", points=6
    )
    await svc.check_in(db, world.actor("alice"), await kiosk_token(db, world, a))
    await db.commit()
    clock.set_now(T0 + timedelta(hours=2))
    assert await svc.close_overdue(maker) == 0  # not yet: the organizer may still close it
    clock.set_now(T0 + timedelta(hours=8))
    assert await svc.close_overdue(maker) == 1
    assert await svc.close_overdue(maker) == 0
    assert await available(db, world, "alice") == 6
