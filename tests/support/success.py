"""Which state-changing routes some test saw succeed: every request the in-process app answers during the
session is recorded as (method, route template, status), and at the end of a whole-suite run every
POST/PUT/PATCH/DELETE route of the app's route table must have answered a 2xx at least once.

``install()`` wraps litestar's ASGI router (every app the tests build, whichever client calls it);
``check(config, session)`` runs from ``pytest_sessionfinish`` in tests/conftest.py. A run of a subset
(paths, ``-k``, ``-m``, ``--deselect``, a stop on the first failure) is not checked, unless
``JIFEN_SUCCESS_COVERAGE=1`` asks for it; ``JIFEN_SUCCESS_LOG=path`` writes what was seen, as JSON.
Routes only a live server reaches (browser tests) are not seen here: give them an in-process test.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from typing import Any

import pytest

__all__ = ["ROUTES", "SEEN", "check", "install", "missing", "route_key"]

WRITES = {"POST", "PUT", "PATCH", "DELETE"}
SEEN: set[tuple[str, str, int]] = set()
"""(method, route template, status) of every answer the in-process app gave this session."""
ROUTES: set[str] = set()
"""``"METHOD template"`` of every state-changing route of the apps the tests built."""


def route_key(method: str, template: str) -> str:
    """``"POST /api/v1/awards/{aid}"``: the template without parameter types (the matrices' keys)."""
    return method + " " + re.sub(r"\{(\w+):\w+\}", r"{\1}", template)


def _routes(app: Any) -> Iterable[str]:
    for route in app.routes:
        for method in getattr(route, "methods", set()) & WRITES:
            yield route_key(method, route.path)


def install() -> None:
    from litestar._asgi.asgi_router import ASGIRouter

    if getattr(ASGIRouter, "_jifen_recorded", False):
        return
    original = ASGIRouter.__call__

    async def recorded(self: Any, scope: Any, receive: Any, send: Any) -> None:
        if scope.get("type") != "http":
            await original(self, scope, receive, send)
            return
        if not ROUTES or id(self.app) not in _APPS:
            _APPS.add(id(self.app))
            ROUTES.update(_routes(self.app))

        async def watched(message: Any) -> None:
            if message.get("type") == "http.response.start" and scope.get("path_template"):
                SEEN.add((scope["method"], scope["path_template"], int(message["status"])))
            await send(message)

        await original(self, scope, receive, watched)

    ASGIRouter.__call__ = recorded  # type: ignore[method-assign]
    ASGIRouter._jifen_recorded = True  # type: ignore[attr-defined]


_APPS: set[int] = set()


def missing() -> list[str]:
    """State-changing routes no test saw answer a 2xx."""
    ok = {route_key(m, t) for m, t, status in SEEN if 200 <= status < 300}
    return sorted(ROUTES - ok)


def _whole_suite(config: pytest.Config, session: pytest.Session) -> bool:
    forced = os.environ.get("JIFEN_SUCCESS_COVERAGE")
    if forced is not None:
        return forced == "1"
    roots = {os.path.normpath(str(config.rootpath / p)) for p in config.getini("testpaths")}
    args = {os.path.normpath(str(config.invocation_params.dir / a)) for a in config.args}
    subset = (
        not args <= (roots | {os.path.normpath(str(config.rootpath))})
        or config.option.keyword
        or config.option.markexpr
        or config.getoption("deselect", None)
        or config.getoption("lf", False)
        or session.shouldstop
    )
    return not subset


def check(config: pytest.Config, session: pytest.Session) -> list[str] | None:
    """The routes whose success no test reached, or None when this run is not the whole suite."""
    log = os.environ.get("JIFEN_SUCCESS_LOG")
    if log:
        with open(log, "w", encoding="utf-8") as f:
            json.dump({"routes": sorted(ROUTES), "seen": sorted(SEEN)}, f, indent=1)
    if not _whole_suite(config, session):
        return None
    return missing()
