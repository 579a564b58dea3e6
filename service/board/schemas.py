"""API shapes of the public board."""

from __future__ import annotations

import uuid
from datetime import date, datetime

import msgspec

__all__ = ["BoardClaimOut", "BoardHoursOut", "BoardOut", "BoardRankOut"]


class BoardClaimOut(msgspec.Struct):
    id: uuid.UUID
    rule_title: str
    member_name: str
    points: int
    publicized_at: datetime | None
    publicity_ends_at: datetime | None
    awarded_at: datetime | None
    objections: int
    evidence_summary: str = ""
    """The evidence neighbours judge, with names and phone/ID numbers masked and shortened."""
    event_date: date | None = None


class BoardRankOut(msgspec.Struct):
    rank: int
    name: str
    """A member's masked name (王*成), or a team's name."""
    points: int


class BoardHoursOut(msgspec.Struct):
    rank: int
    name: str
    """A member's masked name (王*成), or a team's name."""
    minutes: int
    """Service minutes in the month (finished attendances; manual records once approved)."""
    hours: float
    """The same, in hours rounded to one decimal."""
    star_level: int = 0
    """星级志愿者 (0-5) from the member's cumulative recorded hours in every community; 0 for a team."""


class BoardOut(msgspec.Struct):
    community_id: uuid.UUID
    community_name: str
    month: str
    under_publicity: list[BoardClaimOut]
    recent_awards: list[BoardClaimOut]
    leaderboard: list[BoardRankOut]
    """Points earned in the month from every source (check-ins, good conduct, micro-wishes, manual
    awards; reversed awards left out), by member (names masked), most first."""
    hours_leaderboard: list[BoardHoursOut] = []
    """Service minutes in the month by member (names masked), most first."""
    team_leaderboard: list[BoardRankOut] = []
    """Points earned in the month by each team's members, most first."""
    team_hours_leaderboard: list[BoardHoursOut] = []
    """Service minutes in the month by each team's members, most first."""
