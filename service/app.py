"""The application factory: the only place that wires things together."""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from advanced_alchemy.extensions.litestar import AsyncSessionConfig, SQLAlchemyAsyncConfig, SQLAlchemyPlugin
from litestar import Litestar, MediaType, Request, get
from litestar.datastructures import State
from litestar.di import Provide
from litestar.enums import ScopeType
from litestar.logging import LoggingConfig
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import ScalarRenderPlugin
from litestar.static_files import create_static_files_router
from litestar.types import ASGIApp, Receive, Scope, Send

from service.accounts.controllers import (
    AuthController,
    CommunityController,
    MeController,
    RegistrationController,
)
from service.activities.controllers import ROUTES as ACTIVITY_ROUTES
from service.audit.controllers import ROUTES as AUDIT_ROUTES
from service.audit.service import CLIENT_ADDR
from service.board.controllers import ROUTES as BOARD_ROUTES
from service.config import BODY_MAX_BYTES, Settings
from service.db import create_engine, create_session_maker
from service.http import (
    client_address,
    errors_of,
    provide_actor,
    provide_maybe_actor,
    provide_reader,
    provide_settings,
)
from service.jobs import run_jobs_forever
from service.kit.observe import POOL_SIZE, watch_pool
from service.notices.controllers import ROUTES as NOTICE_ROUTES
from service.observability import metrics, observe_middleware
from service.openapi import ApiDocument
from service.points.controllers import ROUTES as POINTS_ROUTES
from service.privacy.controllers import ROUTES as PRIVACY_ROUTES
from service.problems import exception_handlers
from service.proposals.controllers import ROUTES as PROPOSAL_ROUTES
from service.readiness import Readiness
from service.records.controllers import ROUTES as RECORDS_ROUTES
from service.regions.controllers import ROUTES as REGION_ROUTES
from service.replica import ReportReader
from service.reports.controllers import ROUTES as REPORT_ROUTES
from service.retry import RetryMiddleware
from service.rewards.controllers import ROUTES as REWARDS_ROUTES
from service.store.controllers import ROUTES as STORE_ROUTES
from service.web.guards import ShowPage, show_page
from service.web.site import build_site
from service.wishes.controllers import ROUTES as WISHES_ROUTES

__all__ = ["create_app"]

STATIC_DIR = Path(__file__).parent / "web" / "static"

ERROR_CODES_DOC = """
Errors are RFC 9457 `application/problem+json` bodies with `status`, `title`, `detail` and a stable
`code`; validation errors add `errors: [{field, message}]`. Codes used across the API include:
`invalid_input`, `not_authenticated`, `token_invalid`, `token_expired`, `token_revoked`, `csrf_failed`,
`forbidden`, `not_found`, `invalid_credentials`, `too_many_attempts`, `invalid_phone`, `invalid_name`,
`invalid_password`, `invalid_role`, `phone_taken`, `registration_closed`, `community_code_taken`,
`partner_required`, `import_rejected`, `invalid_cursor`, `idempotency_conflict`, `request_too_large`,
`method_not_allowed`, `internal_error`, `member_elsewhere`, `role_needs_platform_admin`, `role_not_held`,
`approver_conflict`, and the codes each route lists in its description.
"""


@get("/healthz", summary="Liveness (no database)", tags=["ops"], media_type=MediaType.JSON)
async def healthz(request: Request[Any, Any, Any]) -> dict[str, str]:
    # No session: a liveness probe must not queue behind the connection pool or a busy database.
    return {"status": "ok", "database": request.app.state.engine.dialect.name}


@get(
    "/readyz",
    summary="Readiness: the database answers (asked at most once a second per worker)",
    tags=["ops"],
    media_type=MediaType.JSON,
    responses=errors_of(Readiness.check),
)
async def readyz(request: Request[Any, Any, Any]) -> dict[str, str]:
    readiness: Readiness = request.app.state.readiness
    await readiness.check()
    return {"status": "ok", "database": readiness.engine.dialect.name}


LOG_JSON = {"()": "service.kit.observe.JsonFormatter"}
"""One JSON object per line, with the request id (``JIFEN_LOG_JSON=1``, the default)."""
LOG_TEXT = {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}

GC_YOUNG_THRESHOLD = 10_000
"""Allocations between young-generation collections (CPython's default is 700)."""


def settle_heap() -> None:
    """Once per worker, when the app has started: what startup built (routes, OpenAPI, templates,
    SQLAlchemy's metadata and caches) moves to the collector's permanent generation, so the full
    collections that load triggers no longer walk it (each took tens of milliseconds: a stall of every
    request in flight, the p99 tail), and young collections run 14x less often."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, middle, old)


def audit_client_middleware(app: ASGIApp) -> ASGIApp:
    """Make the caller's address what every audit event of this request records (``CLIENT_ADDR``)."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        token = CLIENT_ADDR.set(client_address(Request(scope)))
        try:
            await app(scope, receive, send)
        finally:
            CLIENT_ADDR.reset(token)

    return middleware


def create_app(settings: Settings | None = None) -> Litestar:
    """Build the Litestar app for ``settings`` (default: from the environment)."""
    settings = settings or Settings.from_env()
    engine = create_engine(settings.database_url)
    maker = create_session_maker(engine, fast_paths=settings.fast_paths)
    db_config = SQLAlchemyAsyncConfig(
        engine_instance=engine,
        session_maker=maker,
        session_config=AsyncSessionConfig(expire_on_commit=False),
        session_dependency_key="db",
        before_send_handler="autocommit",
        set_default_exception_handler=False,
    )

    reader = ReportReader(settings.replica_url, max_lag_seconds=settings.replica_max_lag_seconds)
    pool_size = getattr(engine.pool, "size", lambda: 1)()
    watch_pool(engine.sync_engine.pool, pool_size)

    @contextlib.asynccontextmanager
    async def jobs(app: Litestar) -> AsyncIterator[None]:
        settle_heap()
        task = None
        if settings.jobs_interval_seconds:
            task = asyncio.create_task(run_jobs_forever(maker, settings.jobs_interval_seconds))
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await engine.dispose()
            await reader.dispose()
            POOL_SIZE.dec(pool_size)

    site = build_site()  # the pages' routes, home panels and administration links, assembled once
    route_handlers: list[Any] = [
        healthz,
        readyz,
        metrics,
        AuthController,
        MeController,
        CommunityController,
        RegistrationController,
        *POINTS_ROUTES,
        *ACTIVITY_ROUTES,
        *STORE_ROUTES,
        *REWARDS_ROUTES,
        *WISHES_ROUTES,
        *BOARD_ROUTES,
        *AUDIT_ROUTES,
        *REGION_ROUTES,
        *REPORT_ROUTES,
        *PROPOSAL_ROUTES,
        *PRIVACY_ROUTES,
        *RECORDS_ROUTES,
        *NOTICE_ROUTES,
        *site.routes,
        create_static_files_router(
            path="/static", directories=[STATIC_DIR], include_in_schema=False, cache_control=None
        ),
    ]
    return Litestar(
        route_handlers=route_handlers,
        plugins=[SQLAlchemyPlugin(config=db_config)],
        dependencies={
            "settings": Provide(provide_settings, sync_to_thread=False),
            "actor": Provide(provide_actor),
            "maybe_actor": Provide(provide_maybe_actor),
            "reader": Provide(provide_reader, sync_to_thread=False),
        },
        exception_handlers={**exception_handlers, ShowPage: show_page},
        # Re-runs a request whose transaction deadlocked or found SQLite busy; commits before 2xx.
        # The request id and the request metrics outermost: a retried request counts once.
        middleware=[observe_middleware, audit_client_middleware, RetryMiddleware],
        lifespan=[jobs],
        request_max_body_size=BODY_MAX_BYTES,
        openapi_config=OpenAPIConfig(
            title="Jifen API",
            version="1.0.0",
            description=ERROR_CODES_DOC,
            path="/schema",
            render_plugins=[ScalarRenderPlugin(), ApiDocument()],
        ),
        logging_config=LoggingConfig(
            root={"level": settings.log_level, "handlers": ["queue_listener"]},
            formatters={"standard": LOG_JSON if settings.log_json else LOG_TEXT},
            log_exceptions="debug",
        ),
        state=State(
            {
                "settings": settings,
                "session_maker": maker,
                "engine": engine,
                "site": site,
                "readiness": Readiness(engine),
                "report_reader": reader,
            }
        ),
        debug=False,
    )
