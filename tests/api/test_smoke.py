from __future__ import annotations

from typing import Any

from tests.support.world import World


async def test_health(client: Any) -> None:
    r = await client.get("/healthz")
    assert r.status_code == 200
    assert r.json()["status"] == "ok"


async def test_me(client: Any, world: World) -> None:
    r = await client.get("/api/v1/me", headers=world.h["alice"])
    assert r.status_code == 200
    body = r.json()
    assert body["phone"] == "13900000001"
    assert {"community_id": str(world.cid), "role": "member"} in body["roles"]


async def test_validation_names_the_field(client: Any) -> None:
    r = await client.post("/api/v1/auth/login", json={"phone": "13900000001"})
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == "invalid_input"
    assert r.json()["errors"][0]["field"] == "password"
