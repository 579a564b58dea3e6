"""Re-running a whole transaction when the database could not serialize it.

Lock order (every writer follows it, so concurrent writers queue instead of deadlocking):

  0. the request's idempotency key row (``service/idempotency.py``; only a twin of the same key waits)
  1. the domain row the request is about: products, then offers (store); activities, claims, wishes...
  2. orders, then vouchers (their conditional ``UPDATE ... WHERE status = ...``)
  3. ledger holds
  4. ledger accounts, several at once in id order (``points.service._lock``), ``FOR NO KEY UPDATE``
     so that rows which merely reference an account (entries, holds) never wait for it

The batch functions (migration 0015) follow it for a whole batch at once: a scan batch locks its
attendances, then the members' accounts and one issuance shard; a redemption batch its vouchers, their
holds, then every account; an order batch its products, then the members' accounts; a claim batch its
offers, the units with a monthly quota (as ``accounts.service.lock_partner_quota``), then the members'
accounts, each kind in id order. Audit chain heads come last (a grouped redemption's events).

A writer that needs a row of an earlier kind after a later one takes it first instead (cancelling an
order locks its product before the order; the expiry job locks every product and offer of its batch
before any order). PostgreSQL can still pick a deadlock victim where a transaction touches several
unrelated rows of one kind in separate steps (a batch job, several awards in one request), and SQLite
can give up waiting for its write lock. Those requests are not errors of the caller: the whole
transaction is rolled back and run again, at most :data:`TRANSACTION_ATTEMPTS` times with a jittered
pause, by :class:`RetryMiddleware` (HTTP requests) and :func:`run_in_transaction` (jobs, command line).

A retried request sees nothing of the failed attempt (the rollback removed its idempotency key row
and every write), so an ``Idempotency-Key`` still answers the first *committed* response.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from litestar.utils.scope.state import CONNECTION_STATE_KEY, ScopeState
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

__all__ = [
    "RETRY_BACKOFF_SECONDS",
    "RETRY_BODY_MAX_BYTES",
    "TRANSACTION_ATTEMPTS",
    "RetryMiddleware",
    "is_retryable",
    "mark_retryable",
    "run_in_transaction",
]

log = logging.getLogger("jifen")

TRANSACTION_ATTEMPTS = 3
"""How many times one request or job transaction runs before its failure is reported."""
RETRY_BACKOFF_SECONDS = 0.05
"""Base of the pause before a retry: a random time up to base x 2^attempt (jitter spreads the twins)."""
RETRY_BODY_MAX_BYTES = 6 * 1_048_576
"""Request bodies up to this size are kept in memory so the request can be replayed (uploads included)."""
RETRYABLE_SQLSTATES = frozenset({"40P01", "40001"})
"""PostgreSQL: deadlock detected, serialization failure."""
_SQLITE_BUSY = ("database is locked", "database table is locked", "database is busy")
_SCOPE_FLAG = "jifen_retryable"
_AA_NAMESPACE = "_aa_connection_state"

T = TypeVar("T")


def is_retryable(exc: BaseException) -> bool:
    """True for a deadlock or serialization failure (PostgreSQL) or a busy database (SQLite)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        orig = current.orig if isinstance(current, DBAPIError) else current
        state = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
        if state in RETRYABLE_SQLSTATES:
            return True
        if type(orig).__name__ in {"DeadlockDetectedError", "SerializationError"}:
            return True
        if isinstance(current, DBAPIError) and any(s in str(orig).lower() for s in _SQLITE_BUSY):
            return True
        current = current.__cause__ or current.__context__
    return False


def _pause(attempt: int) -> float:
    return random.uniform(0, RETRY_BACKOFF_SECONDS * 2**attempt)


async def run_in_transaction(
    maker: async_sessionmaker[AsyncSession], work: Callable[[AsyncSession], Awaitable[T]]
) -> T:
    """Run ``work(session)`` in its own transaction and commit; re-run it on a retryable failure."""
    for attempt in range(TRANSACTION_ATTEMPTS):
        try:
            async with maker() as session, session.begin():
                return await work(session)
        except Exception as exc:
            if attempt + 1 >= TRANSACTION_ATTEMPTS or not is_retryable(exc):
                raise
            log.warning("transaction retried after %s (attempt %d)", type(exc).__name__, attempt + 1)
            await asyncio.sleep(_pause(attempt))
    raise RuntimeError("unreachable")  # pragma: no cover


def mark_retryable(scope: Any, exc: BaseException) -> bool:
    """Called by the 500 handler: flag the request for :class:`RetryMiddleware` when ``exc`` is retryable."""
    if scope.get("type") == "http" and is_retryable(exc):
        scope.setdefault("state", {})[_SCOPE_FLAG] = True
        return True
    return False


NO_TRANSACTION_PATHS = ("/healthz", "/readyz", "/static/", "/assets/", "/favicon.ico")
"""Paths that never write (liveness, readiness, static files): served without buffering or a retry loop."""


class RetryMiddleware:
    """Runs a request again, with a fresh session, when its transaction hit a retryable failure.

    Litestar turns the handler's exception into a 500 response before it reaches a middleware, so the
    500 handler flags the scope (:func:`mark_retryable`) and this middleware drops that response and
    replays the buffered request. It also commits the session itself before the response starts: a
    failed commit is retried (or reported as a 500) instead of being swallowed after a 2xx was sent.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"].startswith(NO_TRANSACTION_PATHS):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        size, complete, disconnected = 0, False, False
        while size <= RETRY_BODY_MAX_BYTES:
            message = await receive()
            if message["type"] == "http.disconnect":
                disconnected = True
                break
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if not message.get("more_body", False):
                complete = True
                break
        body = b"".join(chunks)
        if not complete:  # too big to keep, or the client left: run once, as without this middleware
            await self.app(scope, _replay(body, receive, more=not disconnected), send)
            return
        routed = _snapshot(ScopeState.from_scope(scope))  # what routing put there, before the handler
        for attempt in range(TRANSACTION_ATTEMPTS):
            if attempt:
                await _fresh_state(scope, routed)
            if await self._attempt(scope, _replay(body, receive, more=False), send, attempt):
                return
            log.warning("request %s %s retried (attempt %d)", scope["method"], scope["path"], attempt + 1)
            await asyncio.sleep(_pause(attempt))

    async def _attempt(self, scope: Any, receive: Any, send: Any, attempt: int) -> bool:
        """One run of the request; False when it failed retryably and nothing was sent."""
        last = attempt + 1 >= TRANSACTION_ATTEMPTS
        scope.setdefault("state", {}).pop(_SCOPE_FLAG, None)
        started = retry = False

        async def guarded_send(message: Any) -> None:
            nonlocal started, retry
            if retry or (started and message["type"] == "http.response.start"):
                return
            if message["type"] == "http.response.start":
                started = True
                if scope["state"].get(_SCOPE_FLAG):
                    if not last:
                        retry = True
                        return
                    log.error(
                        "request %s %s failed %d times; gave up", scope["method"], scope["path"], 1 + attempt
                    )
                committed = await _commit(scope) if 200 <= message["status"] < 300 else True
                if committed is not True:
                    if committed == "retry" and not last:
                        retry = True
                        return
                    await _send_failure(send)
                    started, retry = True, True  # swallow the rest of the 2xx that was not stored
                    return
            await send(message)

        await self.app(scope, receive, guarded_send)
        return not retry or last


async def _send_failure(send: Any) -> None:
    body = (
        b'{"type":"about:blank","title":"Internal server error","status":500,'
        b'"code":"internal_error","detail":"Something went wrong on our side."}'
    )
    headers = [(b"content-type", b"application/problem+json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 500, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


async def _commit(scope: Any) -> bool | str:
    """Commit the request's session (if any) now: True, or (rolled back) "retry" or False."""
    session = _session(scope)
    if session is None:
        return True
    try:
        await session.commit()
    except Exception as exc:  # a commit error is never passed over in silence
        retryable = is_retryable(exc)
        log.warning("commit failed: %s", type(exc).__name__, exc_info=not retryable)
        await _discard(session)
        return "retry" if retryable else False
    return True


def _session(scope: Any) -> AsyncSession | None:
    for value in (scope.get(_AA_NAMESPACE) or {}).values():
        if isinstance(value, AsyncSession):
            return value
    return None


async def _discard(session: AsyncSession) -> None:
    try:
        await session.rollback()
    finally:
        await session.close()


def _snapshot(state: ScopeState) -> dict[str, Any]:
    return {name: copy.copy(getattr(state, name)) for name in ScopeState.__slots__}


async def _fresh_state(scope: Any, routed: dict[str, Any]) -> None:
    """Forget the failed attempt: its session (rolled back) and Litestar's per-request caches
    (parsed body and form with its upload files, resolved dependencies), back to just after routing."""
    namespace = scope.get(_AA_NAMESPACE) or {}
    for key, value in list(namespace.items()):
        if isinstance(value, AsyncSession):
            await _discard(value)
            del namespace[key]
    fresh = ScopeState()
    for name, value in routed.items():
        setattr(fresh, name, copy.copy(value))
    scope.setdefault("state", {})[CONNECTION_STATE_KEY] = fresh


def _replay(body: bytes, receive: Any, *, more: bool) -> Callable[[], Awaitable[Any]]:
    """A ``receive`` that hands out the buffered body first (``more``: the rest is still unread)."""
    sent = False

    async def replayed() -> Any:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": more}
        # After the body, waiting on the real channel reports the client leaving (streamed responses).
        return await receive()

    return replayed
