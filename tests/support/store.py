"""The store for tests: products and partner offers over the API."""

from __future__ import annotations

from typing import Any

from tests.support.world import World

__all__ = ["claim_voucher", "make_offer", "make_product", "stock_of"]


async def make_product(client: Any, world: World, **fields: Any) -> dict[str, Any]:
    body = {"name": "大米 5kg", "points": 100, "stock": 3, **fields}
    r = await client.post(f"/api/v1/communities/{world.cid}/products", json=body, headers=world.h["clerk"])
    assert r.status_code == 201, r.text
    return dict(r.json())


async def stock_of(client: Any, world: World, pid: str) -> int:
    r = await client.get(f"/api/v1/communities/{world.cid}/products?all=true", headers=world.h["clerk"])
    return int(next(p["stock"] for p in r.json() if p["id"] == pid))


async def make_offer(client: Any, world: World, who: str = "partner", **fields: Any) -> dict[str, Any]:
    body = {"title": "满 50 减 10", "points": 80, **fields}
    r = await client.post(f"/api/v1/partners/{world.partner.id}/offers", json=body, headers=world.h[who])
    assert r.status_code == 201, r.text
    return dict(r.json())


async def claim_voucher(client: Any, world: World, offer: dict[str, Any], who: str = "alice") -> Any:
    return await client.post(f"/api/v1/offers/{offer['id']}/vouchers", headers=world.h[who])
