"""Good-conduct rules for tests, over the API."""

from __future__ import annotations

from typing import Any

from tests.support.proposals import api_rule
from tests.support.world import World

__all__ = ["make_rule"]


async def make_rule(client: Any, world: World, **kw: Any) -> dict[str, Any]:
    body = {"code": "garbage", "title": "垃圾分类达标", "points": 20, "publicity_days": 3, **kw}
    return await api_rule(client, world, body)
