"""Checking a refusal over HTTP: RFC 9457 problem+json with the expected status and code."""

from __future__ import annotations

from typing import Any

__all__ = ["PROBLEM", "problem"]

PROBLEM = "application/problem+json"


def problem(r: Any, status: int, code: str) -> dict[str, Any]:
    """``r`` is a problem with ``status`` and ``code`` (and every member RFC 9457 asks for); its body."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith(PROBLEM), r.headers["content-type"]
    body: dict[str, Any] = r.json()
    assert body["code"] == code, body
    assert {"type", "title", "status", "detail"} <= body.keys(), body
    assert body["status"] == status and body["title"], body
    return body
