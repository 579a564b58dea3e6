"""Each rewards, wishes and board route lists the errors its service functions declare (``raises``)."""

from __future__ import annotations

from typing import Any

CASES = [
    ("/api/v1/claims", "post", 409, {"duplicate_claim", "yearly_limit_reached", "rule_inactive"}),
    ("/api/v1/claims", "post", 422, {"evidence_required", "invalid_event_date", "invalid_event_ref"}),
    ("/api/v1/claims", "post", 403, {"not_household_member"}),
    ("/api/v1/claims/{claim_id}/review", "post", 403, {"reviewer_conflict"}),
    (
        "/api/v1/claims/{claim_id}/photos",
        "post",
        422,
        {"invalid_photo", "photo_too_large", "image_too_large"},
    ),
    ("/api/v1/wishes/{wish_id}/dispatch", "post", 409, {"wish_not_dispatchable", "not_a_volunteer"}),
    ("/api/v1/wishes/{wish_id}/dispatch", "post", 404, {"wish_not_found", "member_not_found"}),
    ("/api/v1/wishes/{wish_id}/rate", "post", 422, {"invalid_stars"}),
    ("/api/v1/communities/{cid}/wishes", "get", 422, {"invalid_scope", "invalid_cursor"}),
    ("/api/v1/communities/{cid}/board", "get", 422, {"invalid_month"}),
    ("/api/v1/household-links/{link_id}/confirm", "post", 409, {"household_link_decided"}),
    ("/api/v1/activities/{aid}/ratings", "post", 409, {"already_rated"}),
]


async def test_routes_list_their_declared_errors(client: Any) -> None:
    doc = (await client.get("/schema/openapi.json")).json()
    for path, method, status, codes in CASES:
        op = doc["paths"][path][method]
        listed = set(op["responses"][str(status)]["description"].split(", "))
        assert codes <= listed, (path, status, listed)
        assert "Errors:" not in op.get("description", ""), path
