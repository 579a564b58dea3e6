"""Real ids of one community's resources, made through the API, for tests that feed them into requests
(the missing-id test and the schemathesis run), and what an id path parameter or field names."""

from __future__ import annotations

import io
import uuid
from datetime import timedelta
from typing import Any

from PIL import Image
from sqlalchemy import func, select, union_all, update
from sqlalchemy.ext.asyncio import AsyncEngine

from service import clock
from service.accounts.models import SmsCode
from service.accounts.rules import sms_code_hash
from service.db import Base
from tests.support.world import SECRET, World

__all__ = ["FIELD_IDS", "PATH_IDS", "a_missing_id", "png", "row_counts", "seed_ids"]

PATH_IDS: dict[tuple[str, str], str] = {
    ("communities", "cid"): "cid",
    ("communities", "community_id"): "cid",
    ("members", "mid"): "carol",
    ("awards", "aid"): "award",
    ("activities", "aid"): "activity",
    ("attendance", "att_id"): "attendance",
    ("transfers", "tid"): "transfer",
    ("teams", "tid"): "team",
    ("products", "pid"): "product",
    ("partners", "pid"): "partner",
    ("orders", "oid"): "order",
    ("offers", "oid"): "offer",
    ("vouchers", "vid"): "voucher",
    ("rules", "rule_id"): "rule",
    ("claims", "claim_id"): "claim",
    ("photos", "photo_id"): "photo",
    ("wishes", "wish_id"): "wish",
    ("notices", "notice_id"): "notice",
    ("registrations", "rid"): "registration",
    ("household-links", "link_id"): "household_link",
    ("regions", "region_id"): "region",
    ("officials", "member_id"): "bob",
}
"""(the path segment before a parameter, the parameter) -> the key of its real id in ``seed_ids``."""

FIELD_IDS: dict[str, str] = {
    "community_id": "cid",
    "member_id": "bob",
    "leader_id": "carol",
    "volunteer_id": "organizer",
    "beneficiary_id": "bob",
    "product_id": "product",
    "rule_id": "rule",
    "team_id": "team",
    "partner_id": "partner",
    "region_id": "region",
    "parent_id": "region",
    "wish_id": "wish",
}
"""An id field or query parameter -> the key of a real id for it in ``seed_ids``."""


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 40, 40)).save(out, format="PNG")
    return out.getvalue()


def _t(minutes: int) -> str:
    return (clock.now() + timedelta(minutes=minutes)).isoformat()


async def _ok(r: Any, what: str) -> Any:
    assert r.status_code < 300, f"{what}: {r.status_code} {r.text}"
    body: Any = r.json() if r.headers.get("content-type", "").startswith("application/json") else {}
    return body


async def row_counts(engine: AsyncEngine) -> dict[str, int]:
    """Rows in every table, in one query: a refused request must leave them all as they were."""
    tables = Base.metadata.sorted_tables
    query = union_all(*(select(func.count().label("n")).select_from(t) for t in tables))
    async with engine.connect() as conn:
        counts = [row[0] for row in await conn.execute(query)]
    return {t.name: n for t, n in zip(tables, counts, strict=True)}


async def seed_ids(client: Any, world: World, engine: AsyncEngine) -> dict[str, str]:
    """One of each resource in the world's community, made through the API; their ids by name."""
    h, cid = world.h, world.cid
    ids: dict[str, str] = {"cid": str(cid), "partner": str(world.partner.id)}
    for name, member in world.members.items():
        ids[name] = str(member.id)
    post = client.post

    async def ok(r: Any, what: str) -> Any:
        return await _ok(await r, what)

    award = await ok(
        post(
            f"/api/v1/communities/{cid}/awards",
            headers=h["admin"],
            json={"member_id": ids["alice"], "points": 90, "reason": "启动"},
        ),
        "award",
    )
    ids["transfer"] = award["transfer_id"]
    pending = await ok(
        post(
            f"/api/v1/communities/{cid}/awards",
            headers=h["admin2"],
            json={"member_id": ids["bob"], "points": 500, "reason": "大额"},
        ),
        "pending award",
    )
    ids["award"] = pending["id"]
    activity_body = {
        "title": "清扫",
        "starts_at": _t(-60),
        "ends_at": _t(60),
        "points_mode": "per_attendance",
        "points": 5,
    }
    activity = await ok(
        post(f"/api/v1/communities/{cid}/activities", headers=h["organizer"], json=activity_body), "activity"
    )
    ids["activity"] = activity["id"]
    manual = await ok(
        post(
            f"/api/v1/activities/{activity['id']}/manual-checkins",
            headers=h["organizer2"],
            json={
                "member_id": ids["alice"],
                "checked_in_at": _t(-50),
                "checked_out_at": _t(-10),
                "note": "补录",
            },
        ),
        "manual check-in",
    )
    ids["attendance"] = manual["id"]
    team = await ok(
        post(
            f"/api/v1/communities/{cid}/teams",
            headers=h["organizer"],
            json={"name": "一队", "leader_id": ids["carol"]},
        ),
        "team",
    )
    ids["team"] = team["id"]
    product = await ok(
        post(
            f"/api/v1/communities/{cid}/products",
            headers=h["clerk"],
            json={"name": "大米", "points": 5, "stock": 50},
        ),
        "product",
    )
    ids["product"] = product["id"]
    await ok(
        client.put(
            f"/api/v1/products/{product['id']}/image",
            headers={**h["clerk"], "content-type": "image/png"},
            content=png(),
        ),
        "image",
    )
    order = await ok(post("/api/v1/orders", headers=h["alice"], json={"product_id": product["id"]}), "order")
    ids["order"] = order["id"]
    to_pick_up = await ok(
        post("/api/v1/orders", headers=h["alice"], json={"product_id": product["id"]}), "order"
    )
    ids["pickup_code"] = to_pick_up["pickup_code"]
    offer = await ok(
        post(
            f"/api/v1/partners/{world.partner.id}/offers",
            headers=h["admin"],
            json={"title": "九折", "points": 5},
        ),
        "offer",
    )
    ids["offer"] = offer["id"]
    ids["voucher"] = (
        await ok(post(f"/api/v1/offers/{offer['id']}/vouchers", headers=h["alice"]), "voucher")
    )["id"]
    ids["voucher_code"] = (
        await ok(post(f"/api/v1/offers/{offer['id']}/vouchers", headers=h["alice"]), "voucher")
    )["code"]
    card = await ok(
        client.get("/api/v1/me/card", headers=h["alice"], params={"community_id": str(cid)}), "card"
    )
    ids["card_token"] = card["token"]
    rule = await ok(
        post(
            f"/api/v1/communities/{cid}/rules",
            headers=h["admin"],
            json={"code": "zero-price", "title": "零彩礼", "points": 20},
        ),
        "rule",
    )
    if "proposal" in rule:  # a rule that pays is created switched off; a second admin switches it on
        await ok(post(f"/api/v1/proposals/{rule['proposal']['id']}/approve", headers=h["admin2"]), "rule on")
        ids["rule"] = rule["proposal"]["target_id"]
    else:
        ids["rule"] = rule["id"]
    claim = await ok(
        post(
            "/api/v1/claims",
            headers=h["alice"],
            json={"rule_id": ids["rule"], "member_id": ids["alice"], "evidence": "结婚证"},
        ),
        "claim",
    )
    ids["claim"] = claim["id"]
    photo = await ok(
        post(
            f"/api/v1/claims/{claim['id']}/photos",
            headers={**h["alice"], "content-type": "image/png"},
            content=png(),
        ),
        "photo",
    )
    ids["photo"] = photo["id"]
    ids["wish"] = (
        await ok(
            post(f"/api/v1/communities/{cid}/wishes", headers=h["alice"], json={"title": "换灯泡"}), "wish"
        )
    )["id"]
    # A notice to alice: another wish of hers was dispatched to bob.
    dispatched = await ok(
        post(f"/api/v1/communities/{cid}/wishes", headers=h["alice"], json={"title": "取快递"}), "wish 2"
    )
    await ok(
        post(
            f"/api/v1/wishes/{dispatched['id']}/dispatch",
            headers=h["organizer"],
            json={"volunteer_id": ids["bob"]},
        ),
        "dispatch",
    )
    ids["notice"] = (await ok(client.get("/api/v1/me/notices", headers=h["alice"]), "notices"))["items"][0][
        "id"
    ]
    ids["bob_phone"] = world.members["bob"].phone
    link = await ok(
        post(
            f"/api/v1/communities/{cid}/household-links",
            headers=h["alice"],
            json={"phone": ids["bob_phone"], "relation": "儿子"},
        ),
        "household link",
    )
    ids["household_link"] = link["id"]
    code = await ok(
        post(f"/api/v1/communities/{cid}/members/{ids['carol']}/activation", headers=h["admin"]), "activation"
    )
    ids["activation_code"] = code["code"]
    await ok(
        client.patch(
            f"/api/v1/communities/{cid}", headers=h["admin"], json={"self_registration": "approval"}
        ),
        "approval",
    )
    # A sign-up needs the code texted to the phone: the test knows the code it puts in its place.
    await ok(post("/api/v1/auth/sms-code", json={"phone": "15800009999"}), "sms code")
    async with engine.begin() as conn:
        known = sms_code_hash(SECRET, "15800009999", "246810")
        await conn.execute(update(SmsCode).where(SmsCode.phone == "15800009999").values(code_hash=known))
    sign_up = {
        "phone": "15800009999",
        "name": "待批",
        "password": "new-pass-123",
        "community_id": str(cid),
        "sms_code": "246810",
    }
    await ok(post("/api/v1/auth/register", json=sign_up), "sign-up")
    client.cookies.clear()
    sign_ups = await ok(
        client.get(f"/api/v1/communities/{cid}/registrations", headers=h["admin"]), "sign-ups"
    )
    ids["registration"] = sign_ups[0]["id"] if isinstance(sign_ups, list) else ""
    parent: str | None = None
    for level in ("city", "district", "street"):
        body = {"name": f"测试{level}", "code": f"test-{level}", "level": level, "parent_id": parent}
        parent = (await ok(post("/api/v1/regions", headers=h["root"], json=body), level))["id"]
    assert parent is not None
    ids["region"] = parent
    return ids


def a_missing_id() -> str:
    return str(uuid.uuid4())
