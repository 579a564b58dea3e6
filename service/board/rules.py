"""Pure rules of the board: ranking rows and team sums. No I/O."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

__all__ = ["BOARD_ITEMS_MAX", "team_points"]

BOARD_ITEMS_MAX = 20
"""Claims, awards and leaderboard rows shown on the public board."""


def team_points(
    earned: dict[uuid.UUID, int],
    team_members: Iterable[tuple[uuid.UUID, str, uuid.UUID]],
    limit: int = BOARD_ITEMS_MAX,
) -> list[tuple[str, int]]:
    """Each team's points as the sum of its members' (a member of two teams counts for both), most
    first then by name; teams that earned nothing are left out. ``team_members`` are (team id, team
    name, member id) rows."""
    totals: dict[uuid.UUID, tuple[str, int]] = {}
    for team_id, team_name, member_id in team_members:
        name, total = totals.get(team_id, (team_name, 0))
        totals[team_id] = (name, total + earned.get(member_id, 0))
    ranked = sorted(((n, t) for n, t in totals.values() if t > 0), key=lambda row: (-row[1], row[0]))
    return ranked[:limit]
