"""The OpenAPI document describes every API route, with its request and response schemas."""

from __future__ import annotations

import re
from typing import Any


async def test_every_api_route_is_in_the_openapi_document(client: Any, app: Any) -> None:
    r = await client.get("/schema/openapi.json")
    assert r.status_code == 200
    doc = r.json()
    paths = doc["paths"]
    missing = []
    for route in app.routes:
        if not route.path.startswith("/api/"):
            continue
        # Litestar writes {cid:uuid} as {cid} in the document.
        documented = re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path)
        for method in getattr(route, "methods", set()) - {"OPTIONS", "HEAD"}:
            operation = paths.get(documented, {}).get(method.lower())
            if operation is None:
                missing.append(f"{method} {route.path}")
                continue
            assert operation.get("responses"), f"{method} {route.path} documents no response"
    assert not missing, f"routes missing from OpenAPI: {missing}"


async def test_writes_document_their_request_bodies(client: Any) -> None:
    doc = (await client.get("/schema/openapi.json")).json()
    login = doc["paths"]["/api/v1/auth/login"]["post"]
    assert "requestBody" in login
    schema_ref = login["requestBody"]["content"]["application/json"]["schema"]
    assert schema_ref
