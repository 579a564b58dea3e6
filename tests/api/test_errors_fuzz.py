"""Schemathesis over the accounts routes of /schema/openapi.json: generated input never gets a 500.

Schemathesis (with Hypothesis) generates valid and invalid requests from the OpenAPI document; they are
then sent through the test client as the community admin, so the app runs on the test's own event loop
and database. Examples per route are bounded so the run stays within seconds.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, given  # noqa: E402
from hypothesis import settings as hsettings  # noqa: E402
from hypothesis.errors import Unsatisfiable  # noqa: E402
from schemathesis import GenerationMode  # noqa: E402

from tests.support.world import World  # noqa: E402

ACCOUNTS = r"^/api/v1/(auth|me|communities)"
EXAMPLES_PER_ROUTE = 15


def _generate(app: Any) -> list[dict[str, Any]]:
    schema = schemathesis.openapi.from_asgi("/schema/openapi.json", app).include(path_regex=ACCOUNTS)
    requests: list[dict[str, Any]] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(operation.as_strategy(generation_mode=mode))
            @hsettings(
                max_examples=EXAMPLES_PER_ROUTE,
                deadline=None,
                database=None,
                derandomize=True,
                suppress_health_check=list(HealthCheck),
            )
            def collect(case: Any) -> None:
                requests.append({"path_template": case.path, **case.as_transport_kwargs(base_url="")})

            try:
                collect()
            except Unsatisfiable:  # no invalid variant exists (a route without parameters or body)
                continue
    return requests


async def test_accounts_routes_never_answer_500(app: Any, client: Any, world: World) -> None:
    with ThreadPoolExecutor(1) as pool:  # Hypothesis runs its own loop of examples; keep it off ours
        requests = pool.submit(_generate, app).result()
    assert len({r["path_template"] for r in requests}) >= 10
    statuses: dict[int, int] = {}
    for i, req in enumerate(requests):
        url = req["url"]
        if i % 2 == 0 and "{cid}" in req["path_template"]:
            # Half the cases aim at the real community, so the generated bodies reach the services.
            prefix = "/api/v1/communities/"
            rest = url[len(prefix) :].split("/", 1)
            url = prefix + str(world.cid) + ("/" + rest[1] if len(rest) > 1 else "")
        headers = {k: v for k, v in req["headers"].items() if k.lower() not in {"authorization", "cookie"}}
        kwargs: dict[str, Any] = {"headers": {**headers, **world.h["admin"]}, "params": req.get("params")}
        if "json" in req:
            kwargs["content"] = json.dumps(req["json"]).encode()
            kwargs["headers"]["Content-Type"] = "application/json"
        elif req.get("data") is not None:
            kwargs["content"] = req["data"]
        client.cookies.clear()
        r = await client.request(req["method"], url, **kwargs)
        assert r.status_code < 500, (req["method"], url, kwargs.get("content"), r.text)
        statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
        if r.status_code >= 400:
            assert r.headers["content-type"].startswith("application/problem+json"), r.text
    # The generated input reached the services: some requests succeeded and some were refused as invalid.
    assert any(200 <= s < 300 for s in statuses), statuses
    assert statuses.get(422, 0) > 0, statuses
