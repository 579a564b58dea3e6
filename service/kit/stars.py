"""Star levels of volunteers (星级志愿者) from their cumulative recorded service hours.

The thresholds are those of the national volunteer-service rules as local platforms apply them: one star
at 100 hours, two at 300, three at 600, four at 1,000 and five at 1,500. Activities (the hours API),
the board (its leaderboard) and records (certificates) all read this one table.
"""

from __future__ import annotations

__all__ = ["STAR_HOURS", "STAR_LEVEL_MAX", "star_level"]

STAR_HOURS: tuple[int, ...] = (100, 300, 600, 1_000, 1_500)
"""Cumulative hours for 1 to 5 stars."""
STAR_LEVEL_MAX = len(STAR_HOURS)


def star_level(minutes: int) -> int:
    """0-5 stars for ``minutes`` of recorded service (whole hours reached, never rounded up)."""
    return sum(1 for hours in STAR_HOURS if minutes >= hours * 60)
