"""Good-conduct rules for tests, over the API."""

from __future__ import annotations

from typing import Any

from tests.support.world import World

__all__ = ["make_rule"]


async def make_rule(client: Any, world: World, **kw: Any) -> dict[str, Any]:
    body = {"code": "garbage", "title": "垃圾分类达标", "points": 20, "publicity_days": 3, **kw}
    r = await client.post(f"/api/v1/communities/{world.cid}/rules", json=body, headers=world.h["admin"])
    assert r.status_code == 201, r.text
    return dict(r.json())
