"""HTTP route of the public board: no login, names masked."""

from __future__ import annotations

import uuid
from typing import Any

import msgspec
from litestar import Controller, get
from sqlalchemy.ext.asyncio import AsyncSession

from service.board import views
from service.board.schemas import BoardClaimOut, BoardHoursOut, BoardOut, BoardRankOut
from service.http import MonthQuery, errors_of

__all__ = ["ROUTES", "BoardController"]

Month = MonthQuery


def _hours(r: views.BoardHours) -> BoardHoursOut:
    return BoardHoursOut(rank=r.rank, name=r.name, minutes=r.minutes, hours=r.hours, star_level=r.star_level)


def board_out(b: views.Board) -> BoardOut:
    return BoardOut(
        community_id=b.community_id,
        community_name=b.community_name,
        month=b.month,
        under_publicity=[msgspec.convert(c, BoardClaimOut, from_attributes=True) for c in b.under_publicity],
        recent_awards=[msgspec.convert(c, BoardClaimOut, from_attributes=True) for c in b.recent_awards],
        leaderboard=[msgspec.convert(r, BoardRankOut, from_attributes=True) for r in b.leaderboard],
        hours_leaderboard=[_hours(r) for r in b.hours_leaderboard],
        team_leaderboard=[msgspec.convert(r, BoardRankOut, from_attributes=True) for r in b.team_leaderboard],
        team_hours_leaderboard=[_hours(r) for r in b.team_hours_leaderboard],
    )


class BoardController(Controller):
    path = "/api/v1/communities/{cid:uuid}"
    tags = ["rewards"]

    @get(
        "/board",
        summary="Public notice board (公示栏): no login needed; names are masked",
        description="Claims under public notice, recent awards and the month's leaderboards (``month`` "
        "YYYY-MM in the community's time zone, default this month): points earned from every source "
        "and service hours, by member (names masked) and by team.",
        responses=errors_of(views.board),
    )
    async def board(self, db: AsyncSession, cid: uuid.UUID, month: Month = None) -> BoardOut:
        return board_out(await views.board(db, cid, month))


ROUTES: list[Any] = [BoardController]
