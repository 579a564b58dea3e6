"""The service records (finished attendances) that certificates and the hours export state, read from
the activities' tables in one query each (records never write them)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from service.activities.models import Activity, Attendance, Team

__all__ = ["RecordRow", "TeamRow", "records_of", "team_in"]


@dataclass(frozen=True)
class RecordRow:
    attendance_id: uuid.UUID
    member_id: uuid.UUID
    activity: str
    content: str
    team_id: uuid.UUID | None
    checked_in_at: datetime
    checked_out_at: datetime | None
    minutes: int
    evidence: str


@dataclass(frozen=True)
class TeamRow:
    id: uuid.UUID
    name: str
    leader_id: uuid.UUID


def _content(description: str, category: str | None) -> str:
    """服务内容: the activity's description (its first line), else its category."""
    first = (description or "").strip().splitlines()
    return first[0][:200] if first else (category or "")


async def records_of(
    db: AsyncSession,
    community_id: uuid.UUID,
    *,
    member_id: uuid.UUID | None = None,
    team_id: uuid.UUID | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    limit: int,
) -> list[RecordRow]:
    """Finished attendances of a community (of one member, of one team's activities, in [start, end)),
    oldest first, at most ``limit``."""
    where = [Attendance.community_id == community_id, Attendance.status == "out"]
    if member_id is not None:
        where.append(Attendance.member_id == member_id)
    if team_id is not None:
        where.append(Activity.team_id == team_id)
    if start is not None:
        where.append(Attendance.checked_in_at >= start)
    if end is not None:
        where.append(Attendance.checked_in_at < end)
    stmt = (
        select(Attendance, Activity.title, Activity.description, Activity.category, Activity.team_id)
        .join(Activity, Activity.id == Attendance.activity_id)
        .where(*where)
        .order_by(Attendance.checked_in_at, Attendance.id)
        .limit(limit)
    )
    return [
        RecordRow(
            attendance_id=att.id,
            member_id=att.member_id,
            activity=title,
            content=_content(description, category),
            team_id=team,
            checked_in_at=att.checked_in_at,
            checked_out_at=att.checked_out_at,
            minutes=att.minutes,
            evidence=att.evidence,
        )
        for att, title, description, category, team in (await db.execute(stmt)).all()
    ]


async def team_in(db: AsyncSession, community_id: uuid.UUID, team_id: uuid.UUID) -> TeamRow | None:
    """A volunteer team of the community, or None."""
    row = (
        await db.execute(
            select(Team.id, Team.name, Team.leader_id).where(
                Team.id == team_id, Team.community_id == community_id
            )
        )
    ).first()
    return None if row is None else TeamRow(row.id, row.name, row.leader_id)
