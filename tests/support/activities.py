"""Activities for tests: created through the API or the service, kiosk codes, check-in counts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from service import clock
from service.activities import service as svc
from service.activities.models import Activity, Attendance
from tests.support.world import World

__all__ = [
    "T0",
    "URL",
    "attendances",
    "checked_in_count",
    "create_activity",
    "freeze_at_step_start",
    "kiosk_token",
    "make_activity",
]

URL = "http://testserver"
T0 = datetime.fromtimestamp((1_800_000_000 // 15) * 15, tz=UTC)
"""A moment at the start of a kiosk step, so step arithmetic in the tests is exact."""


def freeze_at_step_start() -> datetime:
    """Freeze the clock at the start of the current kiosk step (real time: login tokens stay valid)."""
    moment = datetime.fromtimestamp((int(clock.now().timestamp()) // 15) * 15, tz=UTC)
    clock.set_now(moment)
    return moment


async def create_activity(client: Any, world: World, **kw: Any) -> dict[str, Any]:
    """An activity open now, created by the organizer over the API; ``kw`` overrides fields."""
    now = clock.now()
    body = {
        "title": "敬老院探访",
        "starts_at": (now - timedelta(minutes=5)).isoformat(),
        "ends_at": (now + timedelta(hours=2)).isoformat(),
        "points_mode": "per_attendance",
        "points": 8,
        "category": "助老",
    }
    body.update(kw)
    r = await client.post(
        f"/api/v1/communities/{world.cid}/activities", json=body, headers=world.h["organizer"]
    )
    assert r.status_code == 201, r.text
    return dict(r.json())


async def checked_in_count(client: Any, world: World, aid: str) -> int:
    r = await client.get(f"/api/v1/activities/{aid}", headers=world.h["alice"])
    return int(r.json()["checked_in_count"])


async def make_activity(db: AsyncSession, world: World, **kw: Any) -> Activity:
    """An activity open now, created by the organizer through the service (committed)."""
    now = clock.now()
    fields: dict[str, Any] = {
        "title": "清扫小区",
        "starts_at": now - timedelta(minutes=10),
        "ends_at": now + timedelta(hours=2),
        "points_mode": "per_attendance",
        "points": 10,
    }
    fields.update(kw)
    activity = await svc.create_activity(db, world.actor("organizer"), world.cid, svc.ActivityDraft(**fields))
    await db.commit()
    return activity


async def kiosk_token(db: AsyncSession, world: World, activity: Activity) -> str:
    return (await svc.kiosk_code(db, world.actor("organizer"), activity.id, URL)).token


async def attendances(db: AsyncSession, activity: Activity) -> int:
    return int(await db.scalar(select(func.count()).where(Attendance.activity_id == activity.id)) or 0)
