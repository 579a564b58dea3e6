"""The OpenAPI error lists of the accounts, audit, regions and reports routes come from the services'
declarations (``raises``), not from hand-typed description text."""

from __future__ import annotations

from typing import Any

import pytest

from service.app import create_app
from service.config import Settings

TAGS = {"accounts", "audit", "regions", "reports"}


@pytest.fixture(scope="module")
def schema(settings: Settings) -> dict[str, Any]:
    app = create_app(settings)
    doc: dict[str, Any] = app.openapi_schema.to_schema()
    return doc


def _ops(schema: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (method.upper(), path): op
        for path, item in schema["paths"].items()
        for method, op in item.items()
        if isinstance(op, dict) and "responses" in op and TAGS.intersection(op.get("tags", ()))
    }


def _codes(op: dict[str, Any], status: int) -> set[str]:
    described = op["responses"].get(str(status), {}).get("description", "")
    return {c.strip() for c in described.split(",") if c.strip()}


def test_no_route_types_its_errors_by_hand(schema: dict[str, Any]) -> None:
    ops = _ops(schema)
    assert len(ops) > 25
    typed = [
        key
        for key, op in ops.items()
        if "Errors:" in op.get("description", "") or "Error:" in op.get("description", "")
    ]
    assert not typed


@pytest.mark.parametrize(
    ("method", "path", "status", "codes"),
    [
        ("POST", "/api/v1/auth/login", 401, {"invalid_credentials"}),
        ("POST", "/api/v1/auth/login", 429, {"too_many_attempts"}),
        ("POST", "/api/v1/auth/register", 422, {"sms_code_required"}),
        ("POST", "/api/v1/auth/register", 401, {"sms_code_invalid"}),
        ("POST", "/api/v1/auth/register", 403, {"registration_closed"}),
        ("POST", "/api/v1/auth/sms-code", 429, {"sms_code_too_soon", "too_many_attempts"}),
        ("POST", "/api/v1/auth/sms-login", 401, {"sms_code_invalid", "no_account"}),
        ("POST", "/api/v1/auth/activate", 422, {"activation_invalid", "invalid_password"}),
        ("POST", "/api/v1/auth/activate", 429, {"too_many_attempts"}),
        ("POST", "/api/v1/communities/{cid}/members", 409, {"unverified_account"}),
        ("POST", "/api/v1/communities", 409, {"community_code_taken"}),
        ("POST", "/api/v1/communities/{cid}/members", 403, {"forbidden", "role_needs_platform_admin"}),
        ("PATCH", "/api/v1/communities/{cid}/members/{mid}", 403, {"member_elsewhere", "forbidden"}),
        ("PATCH", "/api/v1/communities/{cid}/members/{mid}", 409, {"phone_taken"}),
        ("DELETE", "/api/v1/communities/{cid}/members/{mid}/roles/{role}", 404, {"role_not_held"}),
        ("POST", "/api/v1/communities/{cid}/members/{mid}/password", 403, {"reset_by_code"}),
        ("POST", "/api/v1/communities/{cid}/members/import", 422, {"import_rejected", "import_not_utf8"}),
        ("GET", "/api/v1/communities/{cid}/members", 422, {"invalid_cursor"}),
        ("POST", "/api/v1/registrations/{rid}/approve", 409, {"registration_decided"}),
        ("POST", "/api/v1/regions", 409, {"region_code_taken"}),
        ("POST", "/api/v1/regions", 422, {"invalid_region_level", "invalid_region_code"}),
        ("POST", "/api/v1/regions/{region_id}/officials", 404, {"member_not_found", "region_not_found"}),
        ("GET", "/api/v1/reports", 422, {"invalid_scope", "invalid_period"}),
        ("GET", "/api/v1/reports", 403, {"forbidden"}),
        ("GET", "/api/v1/reports/export", 422, {"invalid_format", "invalid_scope"}),
        ("GET", "/api/v1/communities/{cid}/audit", 403, {"forbidden"}),
        ("GET", "/api/v1/audit", 422, {"invalid_cursor"}),
    ],
)
def test_each_route_lists_the_codes_its_service_raises(
    schema: dict[str, Any], method: str, path: str, status: int, codes: set[str]
) -> None:
    op = _ops(schema)[(method, path)]
    assert codes <= _codes(op, status), op["responses"]
