"""Bounded batch loops: work through a backlog in batches, one transaction each, never forever."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from typing import Generic, TypeVar

from service.kit.observe import BATCH_SIZE, BATCH_WAIT

__all__ = ["BATCHES_MAX", "GROUP_COMMITS_MAX", "GroupCommit", "drain", "group_commit", "pages"]

BATCHES_MAX = 1_000
"""Most batches one call works through: a backlog larger than this waits for the next run rather than
holding a worker (or a periodic job) for minutes."""

T = TypeVar("T")
C = TypeVar("C")
R = TypeVar("R")


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


class GroupCommit(Generic[T, R]):
    """Group commit: what concurrent requests of one worker submit goes to ``run`` in batches, one
    database call (and one commit) per batch, each caller answered with its own result.

    Alone, an item goes at once; under load, a batch holds what arrived while the previous one was in the
    database (at most ``drains`` batches in flight, ``batch_max`` items each). ``run`` returns one result
    per item, in order; if it raises, every caller of that batch gets the exception (nothing of the
    batch was written, by ``run``'s contract) and decides for itself (e.g. the ordinary path).
    """

    def __init__(
        self,
        run: Callable[[list[T]], Awaitable[list[R]]],
        *,
        batch_max: int,
        drains: int,
        owner: object,
        name: str = "other",
    ) -> None:
        self.run = run
        self.batch_max = batch_max
        self.drains = drains
        self.owner = owner
        """What the batches run on (an engine): a registry entry for another owner is replaced."""
        self.pending: list[tuple[T, asyncio.Future[R]]] = []
        self.draining = 0
        self.since = 0.0
        """When the oldest pending item arrived (``time.perf_counter``)."""
        self.size_metric = BATCH_SIZE.labels(name)
        self.wait_metric = BATCH_WAIT.labels(name)

    async def submit(self, item: T) -> R:
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        if not self.pending:
            self.since = time.perf_counter()
        self.pending.append((item, future))
        if self.draining < self.drains:
            self.draining += 1
            asyncio.get_running_loop().create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        try:
            await asyncio.sleep(0)  # let what arrived in the same tick join
            while self.pending:
                batch, self.pending = self.pending[: self.batch_max], self.pending[self.batch_max :]
                started = time.perf_counter()
                # One observation per batch: its size and how long its oldest item waited.
                self.size_metric.observe(len(batch))
                self.wait_metric.observe(started - self.since)
                self.since = started
                try:
                    results = await self.run([item for item, _ in batch])
                except Exception as exc:  # the whole call failed: each caller decides
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                for (_, future), result in zip(batch, results, strict=True):
                    if not future.done():
                        future.set_result(result)
        finally:
            self.draining -= 1


GROUP_COMMITS_MAX = 64
"""Registered group commits per registry before it is emptied (engines of finished tests, old loops)."""


def group_commit(
    registry: dict[Hashable, GroupCommit[T, R]],
    owner: object,
    make: Callable[[], GroupCommit[T, R]],
    *key: Hashable,
) -> GroupCommit[T, R]:
    """The registry's group commit for ``owner`` on the running event loop (made on first use)."""
    full = (id(owner), id(asyncio.get_running_loop()), *key)
    found = registry.get(full)
    if found is None or found.owner is not owner:
        if len(registry) >= GROUP_COMMITS_MAX:
            registry.clear()
        found = registry[full] = make()
    return found
