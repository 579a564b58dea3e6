"""The OpenAPI document as the server behaves: every error is problem+json, protected operations name
their security schemes and answer 401, validation answers 422, raw uploads describe their bodies, and a
request body's constraints are the ones its msgspec type validates.

Litestar generates the document from the route handlers; :class:`ApiDocument` serves it at
``/schema/openapi.json`` after :func:`finish_document` has brought it in line with what
``service.problems`` and ``service.http`` actually answer.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import msgspec
from litestar import Litestar, Request
from litestar.openapi.plugins import JsonRenderPlugin
from litestar.routes import HTTPRoute

from service.errors import declared_errors
from service.http import RAW_BODY, TOKEN_COOKIE, provide_actor

__all__ = [
    "SECURITY",
    "SECURITY_SCHEMES",
    "ApiDocument",
    "finish_document",
]

PROBLEM = "application/problem+json"
PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["type", "title", "status", "code", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "code": {"type": "string", "description": "Stable error code"},
        "detail": {"type": "string", "description": "For people, in the reader's language"},
        "errors": {
            "type": "array",
            "items": {"type": "object", "additionalProperties": {"type": "string"}},
            "description": "Validation errors: one {field, message} per field",
        },
        "request_id": {
            "type": "string",
            "description": "Faults on our side (5xx): the request's id (also its X-Request-ID header), "
            "for the operators' logs",
        },
    },
}
SECURITY_SCHEMES: dict[str, Any] = {
    "bearerAuth": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "The token of POST /api/v1/auth/login, as `Authorization: Bearer <token>`.",
    },
    "cookieAuth": {
        "type": "apiKey",
        "in": "cookie",
        "name": TOKEN_COOKIE,
        "description": "The login cookie of the pages; writes must echo the `jifen_csrf` cookie in the "
        "`X-CSRF-Token` header (`csrf_failed` otherwise).",
    },
}
SECURITY: list[dict[str, list[str]]] = [{"bearerAuth": []}, {"cookieAuth": []}]
"""Either scheme logs the caller in."""
METHODS = ("get", "put", "post", "delete", "patch")
SAFE = frozenset({"get"})
VALIDATION_CODE = "invalid_input"
CONSTRAINTS = (
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minLength",
    "maxLength",
    "pattern",
    "enum",
    "minItems",
    "maxItems",
)
"""The JSON Schema keywords that bound an input value."""


def _codes(description: str | None) -> set[str]:
    return {c.strip() for c in (description or "").split(",") if c.strip() and " " not in c.strip()}


def _error_response(existing: dict[str, Any] | None, codes: Iterable[str]) -> dict[str, Any]:
    """A problem+json response listing ``codes`` and whatever codes ``existing`` listed."""
    merged = _codes((existing or {}).get("description")) | set(codes)
    return {
        "description": ", ".join(sorted(merged)) or "error",
        "content": {PROBLEM: {"schema": PROBLEM_REF}},
    }


def _login_errors() -> tuple[set[str], set[str]]:
    """(401 codes, 403 codes) of a protected operation, from what ``provide_actor`` declares."""
    by_status: dict[int, set[str]] = {}
    for cls in declared_errors(provide_actor):
        by_status.setdefault(cls.status, set()).add(cls.code)
    return by_status.get(401, set()), by_status.get(403, set())


def _handlers(app: Litestar) -> dict[tuple[str, str], Any]:
    found: dict[tuple[str, str], Any] = {}
    for route in app.routes:
        if isinstance(route, HTTPRoute):
            for handler in route.route_handlers:
                for method in handler.http_methods:
                    found[(route.path_format or "/", method.lower())] = handler
    return found


def _protected(handler: Any, operation: dict[str, Any]) -> bool:
    """Whether the operation needs a login: its handler takes the ``actor`` (or checks the token itself
    and documents 401, as the check-in's hot path does)."""
    if handler is not None and "actor" in handler.parsed_fn_signature.parameters:
        return True
    return "not_authenticated" in _codes(operation.get("responses", {}).get("401", {}).get("description"))


def _optional_body(handler: Any) -> bool:
    data = handler.parsed_fn_signature.parameters.get("data") if handler is not None else None
    return data is not None and data.is_optional


def _validated(schema: dict[str, Any]) -> dict[str, Any]:
    """The bounds msgspec's own schema of a field states: its ``Meta`` constraints (in the non-null
    branch of ``X | None``) and what its ``extra_json_schema`` adds for the rules the service checks."""
    found: dict[str, Any] = {}
    for part in [schema, *schema.get("anyOf", [])]:
        if part.get("type") == "null":
            continue
        found |= {k: part[k] for k in CONSTRAINTS if k in part}
        found |= {k: v for k, v in part.get("extra", {}).items() if k in CONSTRAINTS}
    if "enum" in found and any(part.get("type") == "null" for part in schema.get("anyOf", [])):
        found["enum"] = [*found["enum"], None]  # ``X | None``: null is one of the choices
    return found


def _bind_body_constraints(doc: dict[str, Any], operation: dict[str, Any], handler: Any) -> None:
    """Put the bounds msgspec validates into the body's schema. Litestar loses some (a zero ``ge`` or
    ``min_length`` of an optional field: it tests the bound for truth); msgspec's schema of the same type
    is, by construction, what the decoder checks."""
    data = handler.parsed_fn_signature.parameters.get("data") if handler is not None else None
    body = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {})
    if data is None or "$ref" not in body:
        return
    struct = next(
        (t for t in (data.annotation, *getattr(data, "inner_types", ())) if _is_struct(t)), data.annotation
    )
    if not _is_struct(struct):
        return
    (truth,), defs = msgspec.json.schema_components([struct], ref_template="{name}")
    target = doc["components"]["schemas"].get(body["$ref"].rsplit("/", 1)[1], {})
    for name, prop in defs[truth["$ref"]].get("properties", {}).items():
        if name in target.get("properties", {}):
            documented = target["properties"][name]
            for key, value in _validated(prop).items():
                if key != "enum" or "enum" not in documented:  # Litestar's choices keep their order
                    documented[key] = value


def _is_struct(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, msgspec.Struct)


def _finish_operation(operation: dict[str, Any], handler: Any, method: str) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    for status, response in list(responses.items()):
        if status.isdigit() and int(status) >= 400:
            content = response.get("content") or {}
            if set(content) != {PROBLEM}:  # Litestar's own {status_code, detail, extra}
                responses[status] = _error_response(None, [VALIDATION_CODE] if status == "400" else [])
            else:
                responses[status] = _error_response(response, [])
    opt = getattr(handler, "opt", None) or {}
    if RAW_BODY in opt:
        operation["requestBody"] = opt[RAW_BODY]
    elif "requestBody" in operation and _optional_body(handler):
        operation["requestBody"]["required"] = False  # ``data: X | None``: no body is fine
    if operation.get("parameters") or operation.get("requestBody"):
        responses["400"] = _error_response(responses.get("400"), [VALIDATION_CODE, "bad_request"])
        responses["422"] = _error_response(responses.get("422"), [VALIDATION_CODE])
    if _protected(handler, operation):
        unauthenticated, forbidden = _login_errors()
        operation["security"] = SECURITY
        responses["401"] = _error_response(responses.get("401"), unauthenticated)
        if method not in SAFE:
            responses["403"] = _error_response(responses.get("403"), forbidden)
    operation["responses"] = dict(sorted(responses.items()))


def finish_document(doc: dict[str, Any], app: Litestar) -> dict[str, Any]:
    """Bring Litestar's generated document in line with the answers (in place; returns ``doc``)."""
    handlers = _handlers(app)
    components = doc.setdefault("components", {})
    components.setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
    components["securitySchemes"] = SECURITY_SCHEMES
    for path, item in doc.get("paths", {}).items():
        for method in METHODS:
            if method in item:
                _bind_body_constraints(doc, item[method], handlers.get((path, method)))
                _finish_operation(item[method], handlers.get((path, method)), method)
    return doc


class ApiDocument(JsonRenderPlugin):
    """``/schema/openapi.json``: the generated document, finished once per app."""

    def __init__(self) -> None:
        super().__init__()
        self._finished: set[int] = set()

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        if id(openapi_schema) not in self._finished:  # the plugin caches the dict: finish it once
            finish_document(openapi_schema, request.app)
            self._finished.add(id(openapi_schema))
        return self.render_json(request, openapi_schema)
