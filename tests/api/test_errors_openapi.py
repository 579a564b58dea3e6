"""The OpenAPI document describes every /api route; /healthz checks the database."""

from __future__ import annotations

from typing import Any


async def test_healthz_checks_the_database(client: Any) -> None:
    r = await client.get("/healthz")
    assert r.status_code == 200
    assert r.json()["status"] == "ok"
    assert r.json()["database"] in {"sqlite", "postgresql"}


async def test_openapi_lists_every_api_route_with_schemas(app: Any, client: Any) -> None:
    r = await client.get("/schema/openapi.json")
    assert r.status_code == 200
    doc = r.json()
    paths = doc["paths"]
    served: set[tuple[str, str]] = set()
    for route in app.routes:
        if not route.path.startswith("/api/"):
            continue
        for method in getattr(route, "methods", ()):
            if method in {"HEAD", "OPTIONS"}:
                continue
            served.add((method.lower(), route.path))
    assert len(served) >= 10
    described = {(m, p) for p, ops in paths.items() for m in ops}
    normalise = {(m, _plain(p)) for m, p in described}
    missing = {(m, p) for m, p in served if (m, _plain(p)) not in normalise}
    assert not missing, f"routes missing from /schema/openapi.json: {sorted(missing)}"
    for path, ops in paths.items():
        if not path.startswith("/api/"):
            continue
        for method, op in ops.items():
            assert op.get("summary") or op.get("description"), (method, path)
            ok = [code for code in op["responses"] if code.startswith("2")]
            assert ok, (method, path, "no success response")
    # The accounts contract of API.md, with request bodies.
    for path in ("/api/v1/auth/login", "/api/v1/auth/register", "/api/v1/communities"):
        assert "requestBody" in paths[path]["post"], path
    assert "requestBody" in paths["/api/v1/communities/{cid}/members"]["post"]
    assert "get" in paths["/api/v1/me"]
    assert (
        "invalid_credentials"
        in doc["info"]["description"] + paths["/api/v1/auth/login"]["post"]["description"]
    )


def _plain(path: str) -> str:
    """/x/{cid:uuid} (Litestar) and /x/{cid} (OpenAPI) name the same route."""
    import re

    return re.sub(r"\{([^}:]+)(:[^}]+)?\}", r"{\1}", path)
