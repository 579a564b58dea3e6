"""The read side of activities over HTTP: lists in a fixed number of queries, and the pages' defects
found on the way (a sign-up older than the latest 50, the year of the hours page near New Year)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncSession

from service import clock
from service.activities import service as svc
from service.activities import views

EN = {"lang": "en"}


@contextmanager
def statements() -> Iterator[list[str]]:
    """The SQL statements every engine runs inside the block."""
    seen: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    event.listen(Engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(Engine, "before_cursor_execute", count)


async def add_activities(db: AsyncSession, world: Any, n: int, *, start: datetime | None = None) -> list[Any]:
    first = start or clock.now() + timedelta(hours=1)
    made = []
    for i in range(n):
        draft = svc.ActivityDraft(
            title=f"活动{i}",
            starts_at=first + timedelta(minutes=i),
            ends_at=first + timedelta(hours=2, minutes=i),
            points_mode="per_attendance",
            points=5,
        )
        made.append(await svc.create_activity(db, world.actor("organizer"), world.cid, draft))
    await db.commit()
    return made


async def queries_of(client: Any, url: str, headers: dict[str, str]) -> tuple[int, Any]:
    await client.get(url, headers=headers)  # warm up: connections and caches
    with statements() as seen:
        r = await client.get(url, headers=headers)
    assert r.status_code == 200, r.text
    return len(seen), r


async def test_activity_lists_run_as_many_queries_for_twenty_activities_as_for_one(
    client: Any, db: AsyncSession, world: Any
) -> None:
    (first,) = await add_activities(db, world, 1)
    await svc.signup(db, world.actor("alice"), first.id)
    await db.commit()
    urls = [
        f"/api/v1/communities/{world.cid}/activities",
        f"/api/v1/communities/{world.cid}/activities?upcoming=false",
    ]
    one = {url: await queries_of(client, url, world.h["alice"]) for url in urls}
    page_one, _r = await queries_of(client, "/activities", world.h["organizer"])
    await add_activities(db, world, 19, start=clock.now() + timedelta(hours=3))
    for url in urls:
        n, r = await queries_of(client, url, world.h["alice"])
        assert len(r.json()) == 20
        assert n == one[url][0], f"{url}: {one[url][0]} queries for 1 activity, {n} for 20"
        assert one[url][1].json()[0]["signed_up_count"] == 1
    page_twenty, r = await queries_of(client, "/activities", world.h["organizer"])
    assert page_twenty == page_one and "活动18" in r.text


async def test_teams_list_runs_as_many_queries_for_five_teams_as_for_one(
    client: Any, db: AsyncSession, world: Any
) -> None:
    org = world.actor("organizer")
    await svc.create_team(db, org, world.cid, "队0", world.members["alice"].id)
    await db.commit()
    url = f"/api/v1/communities/{world.cid}/teams"
    one, _r = await queries_of(client, url, world.h["alice"])
    for i in range(1, 5):
        team = await svc.create_team(db, org, world.cid, f"队{i}", world.members["bob"].id)
        await svc.add_team_member(db, org, team.id, world.members["carol"].id)
    await db.commit()
    five, r = await queries_of(client, url, world.h["alice"])
    assert five == one and len(r.json()) == 5
    assert {len(t["members"]) for t in r.json()} == {1, 2}


async def test_activity_page_knows_a_sign_up_older_than_the_latest_fifty(
    client: Any, db: AsyncSession, world: Any
) -> None:
    now = clock.now()
    (old,) = await add_activities(db, world, 1, start=now + timedelta(hours=1))
    newer = await add_activities(db, world, 50, start=now + timedelta(days=1))
    for a in [old, *newer]:
        await svc.signup(db, world.actor("alice"), a.id)
    await db.commit()
    assert old.id not in {m.activity.id for m in await views.my_activities(db, world.actor("alice"))}
    await db.commit()  # end the test's read before the request writes
    r = await client.get(f"/activities/{old.id}", params=EN, headers=world.h["alice"])
    assert r.status_code == 200, r.text
    assert "You are signed up." in r.text
    assert (await views.activity_detail(db, world.actor("alice"), old.id)).signed


async def test_hours_page_counts_the_year_of_the_community_after_its_new_year(
    client: Any, db: AsyncSession, world: Any
) -> None:
    # 31 Dec, 22:25-23:30 in Shanghai (UTC+8); then it is 1 Jan 00:30 there, still 31 Dec in UTC.
    # (A past New Year: the test's login tokens were issued now.)
    clock.set_now(datetime(2025, 12, 31, 14, 25, tzinfo=UTC))
    (a,) = await add_activities(db, world, 1, start=datetime(2025, 12, 31, 14, 20, tzinfo=UTC))
    token = (await svc.kiosk_code(db, world.actor("organizer"), a.id, "http://testserver")).token
    await svc.check_in(db, world.actor("alice"), token)
    await db.commit()
    clock.set_now(datetime(2025, 12, 31, 15, 30, tzinfo=UTC))  # 23:30 local: check out
    token = (await svc.kiosk_code(db, world.actor("organizer"), a.id, "http://testserver")).token
    out = await svc.check_in(db, world.actor("alice"), token)
    await db.commit()
    assert out.status == "checked_out" and out.attendance.minutes == 65
    clock.set_now(datetime(2025, 12, 31, 16, 30, tzinfo=UTC))  # 1 Jan 2026, 00:30 local
    r = await client.get("/me/hours", params=EN, headers=world.h["alice"])
    assert r.status_code == 200, r.text
    assert "Hours in 2026" in r.text and "Hours in 2025" not in r.text
    year_stat = re.search(r"<b>([^<]*)</b><span class=\"small muted\">Hours in 2026", r.text)
    assert year_stat is not None and float(year_stat.group(1)) == 0
    (mine,) = (await views.my_hours(db, world.actor("alice")))[0]
    assert mine.total.minutes == 65 and mine.this_year.minutes == 0


async def test_hours_are_summed_in_sql_and_the_api_matches_the_page(
    client: Any, db: AsyncSession, world: Any
) -> None:
    clock.set_now(datetime(2025, 6, 1, 2, 0, tzinfo=UTC))
    made = await add_activities(db, world, 3, start=datetime(2025, 6, 1, 2, 0, tzinfo=UTC))
    for a in made:
        token = (await svc.kiosk_code(db, world.actor("organizer"), a.id, "http://testserver")).token
        await svc.check_in(db, world.actor("bob"), token)
    await db.commit()
    clock.advance(timedelta(minutes=40))
    for a in made:
        await svc.close_activity(db, world.actor("organizer"), a.id)
    await db.commit()
    with statements() as seen:
        hours = await views.hours_of(db, world.members["bob"].id, world.cid, with_items=False)
    assert (hours.minutes, hours.attendances, hours.points, hours.items) == (117, 3, 15, [])
    selects = [q for q in seen if q.lstrip().upper().startswith("SELECT")]
    assert len(selects) == 1 and "sum(" in selects[0].lower()
    await db.commit()
    r = await client.get(f"/api/v1/me/hours?community_id={world.cid}&year=2025", headers=world.h["bob"])
    assert r.status_code == 200, r.text
    assert r.json()["minutes"] == 117 and r.json()["attendances"] == 3


async def test_activity_routes_document_their_errors_from_the_service_declarations(client: Any) -> None:
    spec = (await client.get("/schema/openapi.json")).json()
    checkin = spec["paths"]["/api/v1/checkins"]["post"]["responses"]
    assert set(checkin["400"]["description"].split(", ")) >= {
        "qr_invalid",
        "qr_expired",
        "activity_not_open",
        "not_signed_up",
        "outside_area",
        "location_required",
        "already_checked_out",
        "manual_pending",
        "confirmation_pending",
    }
    assert {"activity_full", "idempotency_conflict"} <= set(checkin["409"]["description"].split(", "))
    assert "token_revoked" in checkin["401"]["description"].split(", ")
    approve = spec["paths"]["/api/v1/attendance/{att_id}/approve"]["post"]["responses"]
    assert set(approve["403"]["description"].split(", ")) == {
        "approver_conflict",
        "csrf_failed",  # a cookie-authenticated write without its CSRF header
        "forbidden",
        "second_organizer_required",
    }
    for path, ops in spec["paths"].items():
        for op in ops.values():
            if isinstance(op, dict) and "activities" in op.get("tags", []):
                assert "Errors:" not in op.get("description", ""), path
