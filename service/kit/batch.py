"""Bounded batch loops: work through a backlog in batches, one transaction each, never forever."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

__all__ = ["BATCHES_MAX", "drain", "pages"]

BATCHES_MAX = 1_000
"""Most batches one call works through: a backlog larger than this waits for the next run rather than
holding a worker (or a periodic job) for minutes."""

T = TypeVar("T")
C = TypeVar("C")


async def drain(
    step: Callable[[], Awaitable[int]], batch_size: int, *, batches_max: int = BATCHES_MAX
) -> int:
    """Call ``step`` (which handles up to ``batch_size`` items and returns how many) until a batch comes
    back short or ``batches_max`` batches ran; the total handled."""
    total = 0
    for _ in range(batches_max):
        done = await step()
        total += done
        if done < batch_size:
            break
    return total


async def pages(
    fetch: Callable[[C | None], Awaitable[tuple[list[T], C | None]]], *, pages_max: int = BATCHES_MAX
) -> AsyncIterator[T]:
    """Every item of a cursor-paginated listing: ``fetch(after)`` returns (items, next cursor or None)."""
    after: C | None = None
    for _ in range(pages_max):
        items, after = await fetch(after)
        for item in items:
            yield item
        if after is None:
            return
