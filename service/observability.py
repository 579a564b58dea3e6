"""The operators' side of HTTP: ``GET /metrics``, the request id, and the per-route request metrics.

``/metrics`` answers only with ``Authorization: Bearer <JIFEN_METRICS_TOKEN>``; without a configured
token it does not exist (404), so a deployment that never set one publishes nothing. The metrics
themselves are defined in ``service.kit.observe`` (the domains update them too).
"""

from __future__ import annotations

import hmac
import itertools
import os
import re
import time
from typing import Any

from litestar import Request, Response, get
from litestar.enums import ScopeType
from litestar.exceptions import NotFoundException
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from service.config import Settings
from service.errors import NotAuthenticated, raises
from service.kit.observe import HTTP_REQUESTS, HTTP_SECONDS, METRICS_MEDIA_TYPE, REQUEST_ID, exposition

__all__ = ["REQUEST_IDS", "REQUEST_ID_HEADER", "MetricsTokenRequired", "metrics", "observe_middleware"]

REQUEST_ID_HEADER = "X-Request-ID"
INCOMING_ID = re.compile(r"^[A-Za-z0-9._:-]{8,64}$")
"""A request id a proxy in front already gave the request (kept, so both logs share it); anything else
is replaced by a new one."""
UNMATCHED = "unmatched"
"""The route label of a request no route took (so scanners of random paths add one series, not many)."""


class _RequestIds:
    """32 hex digits: this process's random prefix and a counter. No system call per request (``uuid4``
    reads the kernel's random source each time); unique across workers (a new prefix after a fork) and
    restarts."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.prefix = os.urandom(12).hex()
        self.counter = itertools.count()

    def new(self) -> str:
        return f"{self.prefix}{next(self.counter) & 0xFFFFFFFF:08x}"


REQUEST_IDS = _RequestIds()
os.register_at_fork(after_in_child=REQUEST_IDS.reset)


class MetricsTokenRequired(NotAuthenticated):
    code = "metrics_token_required"
    message = "The metrics need the operators' token (Authorization: Bearer)."


@raises(MetricsTokenRequired)
def _check_token(settings: Settings, authorization: str) -> None:
    if not settings.metrics_token:
        raise NotFoundException()
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        token.strip().encode(), settings.metrics_token.encode()
    ):
        raise MetricsTokenRequired(headers={"WWW-Authenticate": 'Bearer realm="metrics"'})


@get("/metrics", include_in_schema=False, sync_to_thread=False)
def metrics(request: Request[Any, Any, Any]) -> Response[bytes]:
    """Every worker's metrics in Prometheus' text format (for the operators' scraper only)."""
    settings: Settings = request.app.state.settings
    _check_token(settings, request.headers.get("authorization", ""))
    return Response(exposition(), media_type=METRICS_MEDIA_TYPE, headers={"Cache-Control": "no-store"})


def observe_middleware(app: ASGIApp) -> ASGIApp:
    """Give each request an id (the ``X-Request-ID`` header of its answer, its log lines, its error
    page) and count it with its duration under its route template: two metric writes per request."""
    series: dict[tuple[str, str, int], Any] = {}
    timers: dict[tuple[str, str], Any] = {}

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = _incoming_id(scope) or REQUEST_IDS.new()
        header = (b"x-request-id", request_id.encode())
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        token = REQUEST_ID.set(request_id)
        try:
            await app(scope, receive, send_with_id)
        finally:
            REQUEST_ID.reset(token)
            method, route = scope["method"], scope.get("path_template") or UNMATCHED
            counter = series.get((method, route, status))
            if counter is None:
                counter = series[(method, route, status)] = HTTP_REQUESTS.labels(method, route, str(status))
            timer = timers.get((method, route))
            if timer is None:
                timer = timers[(method, route)] = HTTP_SECONDS.labels(method, route)
            counter.inc()
            timer.observe(time.perf_counter() - started)

    return middleware


def _incoming_id(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            text = value.decode("latin-1")
            return text if INCOMING_ID.match(text) else None
    return None
