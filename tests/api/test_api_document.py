"""/schema/openapi.json says what the server does, checked against the route table and real answers.

Generic over the routes (a route added later is checked without a line here): every error response is
problem+json, a route that needs a login names both security schemes and 401 (and an anonymous call of
it answers 401), every operation that takes input documents the 400/422 ``invalid_input`` answers, raw
uploads describe their bodies, and the phone pattern accepts what the service accepts.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from litestar.types import Empty

from service.accounts.rules import PHONE_PATTERN, normalise_phone

METHODS = ("get", "put", "post", "delete", "patch")


async def _document(client: Any) -> dict[str, Any]:
    r = await client.get("/schema/openapi.json")
    assert r.status_code == 200
    doc: dict[str, Any] = r.json()
    return doc


def _operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(m, p, op) for p, item in doc["paths"].items() for m, op in item.items() if m in METHODS]


def _handlers(app: Any) -> dict[tuple[str, str], Any]:
    found = {}
    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            for method in handler.http_methods - {"OPTIONS", "HEAD"}:
                found[(method.lower(), route.path_format)] = handler
    return found


async def test_every_error_response_is_problem_json(client: Any) -> None:
    doc = await _document(client)
    assert doc["components"]["schemas"]["Problem"]["required"] == [
        "type",
        "title",
        "status",
        "code",
        "detail",
    ]
    wrong = []
    for method, path, op in _operations(doc):
        for status, response in op["responses"].items():
            if int(status) >= 400 and set(response.get("content", {})) != {"application/problem+json"}:
                wrong.append(f"{method} {path} {status}: {sorted(response.get('content', {}))}")
    assert not wrong, "\n".join(wrong)


async def test_protected_operations_name_the_login_schemes_and_401(client: Any, app: Any) -> None:
    doc = await _document(client)
    schemes = doc["components"]["securitySchemes"]
    assert schemes["bearerAuth"] == {**schemes["bearerAuth"], "type": "http", "scheme": "bearer"}
    assert schemes["cookieAuth"] == {
        **schemes["cookieAuth"],
        "type": "apiKey",
        "in": "cookie",
        "name": "jifen_token",
    }
    handlers = _handlers(app)
    wrong, protected = [], 0
    for method, path, op in _operations(doc):
        handler = handlers[(method, path)]
        if "actor" not in handler.parsed_fn_signature.parameters and not op.get("security"):
            continue
        protected += 1
        if op.get("security") != [{"bearerAuth": []}, {"cookieAuth": []}]:
            wrong.append(f"{method} {path}: security {op.get('security')}")
        codes = op["responses"].get("401", {}).get("description", "")
        if "not_authenticated" not in codes or "token_expired" not in codes:
            wrong.append(f"{method} {path}: 401 lists {codes!r}")
    assert protected >= 100, protected
    assert not wrong, "\n".join(wrong)


async def test_an_anonymous_call_answers_401_exactly_where_the_document_says_a_login_is_needed(
    client: Any, world: Any
) -> None:
    doc = await _document(client)
    wrong = []
    for method, path, op in _operations(doc):
        if not path.startswith("/api/"):
            continue
        url = re.sub(r"\{\w+\}", lambda _m: str(uuid.uuid4()), path)
        client.cookies.clear()
        kwargs: dict[str, Any] = {} if method == "get" else {"json": {}}
        r = await client.request(method.upper(), url, **kwargs)
        documented = bool(op.get("security"))
        if r.status_code == 401 and (not documented or "401" not in op["responses"]):
            wrong.append(f"{method} {path}: 401 for an anonymous call, but the document names no login")
        if documented and r.status_code < 400:
            wrong.append(f"{method} {path}: {r.status_code} for an anonymous call of a protected operation")
    assert not wrong, "\n".join(wrong)


async def test_operations_that_take_input_document_invalid_input(client: Any) -> None:
    doc = await _document(client)
    wrong = []
    for method, path, op in _operations(doc):
        if not (op.get("parameters") or op.get("requestBody")):
            continue
        for status in ("400", "422"):
            if "invalid_input" not in op["responses"].get(status, {}).get("description", ""):
                wrong.append(f"{method} {path}: no {status} invalid_input")
    assert not wrong, "\n".join(wrong)


async def test_a_bad_query_value_answers_a_documented_422(client: Any, world: Any) -> None:
    doc = await _document(client)
    r = await client.get(
        f"/api/v1/communities/{world.cid}/members", params={"limit": "lots"}, headers=world.h["admin"]
    )
    assert r.status_code == 422, r.text
    assert r.json()["code"] == "invalid_input"
    assert "422" in doc["paths"]["/api/v1/communities/{cid}/members"]["get"]["responses"]


async def test_uploads_describe_their_request_bodies(client: Any, app: Any) -> None:
    """A handler that reads its body itself sets its own body limit; the document describes that body."""
    doc = await _document(client)
    handlers = _handlers(app)
    uploads = [
        (method, path)
        for method, path, _op in _operations(doc)
        if handlers[(method, path)].request_max_body_size not in (None, Empty, app.request_max_body_size)
    ]
    assert len(uploads) >= 3, uploads
    for method, path in uploads:
        body = doc["paths"][path][method].get("requestBody")
        assert body and body["content"], f"{method} {path} documents no request body"
    image = doc["paths"]["/api/v1/products/{pid}/image"]["put"]["requestBody"]["content"]
    assert {"image/jpeg", "image/png", "multipart/form-data"} <= set(image)
    csv = doc["paths"]["/api/v1/communities/{cid}/members/import"]["post"]["requestBody"]["content"]
    assert set(csv) == {"text/csv"}


async def test_the_documented_phone_pattern_accepts_what_the_service_accepts(client: Any) -> None:
    doc = await _document(client)
    documented = doc["components"]["schemas"]["LoginIn"]["properties"]["phone"]["pattern"]
    assert documented == PHONE_PATTERN
    samples = [
        "13800000001",
        "+86 138 0000 0001",
        "0086-138-0000-0001",
        "８６１３８０００００００１",
        "138 0000 0001",
        "1380000000",
        "12800000001",
        "138000000012",
        "+1 138 0000 0001",
        "phone",
        "",
    ]
    for sample in samples:
        assert bool(re.match(documented, sample)) == (normalise_phone(sample) is not None), sample


async def test_documented_choices_are_the_ones_the_service_takes(client: Any) -> None:
    doc = await _document(client)
    schemas = doc["components"]["schemas"]
    assert schemas["MemberIn"]["properties"]["role"]["enum"] == [
        "admin",
        "organizer",
        "clerk",
        "reviewer",
        "partner",
        "member",
    ]
    assert schemas["RegionIn"]["properties"]["level"]["enum"] == ["city", "district", "street"]
    assert schemas["points_schemas_PolicyIn"]["properties"]["expiry_mode"]["enum"] == [
        "never",
        "days",
        "years",
    ]
