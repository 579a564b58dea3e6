"""What the route and page matrices share (tests/api/test_route_matrix.py, tests/api/test_page_matrix.py):
who plays each role, community A's resources made through the API, and the helpers that make more."""

from __future__ import annotations

import io
import re
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from PIL import Image

from service import clock
from service.accounts import service as accounts
from service.accounts.models import Member
from service.accounts.sms import last_text_to
from tests.support.proposals import api_rule
from tests.support.world import SECRET, World

ROLES = (
    "anonymous",
    "member",
    "organizer",
    "clerk",
    "reviewer",
    "partner",
    "admin",
    "other_admin",
    "outsider",
)
"""Who calls: nobody; A's member (alice), organizer, clerk, reviewer, partner staff and admin; an admin
of community B; a member of B."""
STAFF = ("organizer", "clerk", "reviewer", "partner", "admin")
A_PEOPLE = ("member", *STAFF)
EVERYONE = ROLES
LOGGED_IN = ROLES[1:]


@dataclass
class Res:
    """Community A's resources that path parameters and bodies point at."""

    w: World
    b_cid: uuid.UUID
    ids: dict[str, str] = field(default_factory=dict)
    engine: Any = None
    """The owner's engine, where a helper must reset what is not under test (the sign-up throttle)."""

    def __getitem__(self, key: str) -> str:
        return self.ids[key]


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 40, 40)).save(out, format="PNG")
    return out.getvalue()


def t(minutes: int) -> str:
    return (clock.now() + timedelta(minutes=minutes)).isoformat()


def activity_body(r: Res, role: str) -> dict[str, Any]:
    return {
        "title": "清扫",
        "starts_at": t(-60),
        "ends_at": t(60),
        "points_mode": "per_attendance",
        "points": 5,
    }


async def people(maker: Any, world: World) -> tuple[dict[str, uuid.UUID], uuid.UUID]:
    """Who plays each role (community B made here), and B's id."""
    async with maker() as db:
        b = await accounts.create_community(db, world.root, "乙社区", "community-b")
        b_admin = await accounts.add_member(db, world.root, b.id, "15600000001", "乙管理员", None, "admin")
        b_member = await accounts.add_member(db, world.root, b.id, "15600000002", "乙居民", None, "member")
        await accounts.add_member(
            db, world.root, world.cid, world.members["carol"].phone, "c", None, "organizer"
        )
        await db.commit()
    names = {"member": "alice", "organizer": "organizer", "clerk": "clerk", "reviewer": "reviewer"}
    people = {
        role: world.members[name].id
        for role, name in (names | {"partner": "partner", "admin": "admin"}).items()
    }
    return people | {"other_admin": b_admin.id, "outsider": b_member.id}, b.id


async def tokens(maker: Any, people: dict[str, uuid.UUID]) -> dict[str, dict[str, str]]:
    """Fresh bearer headers (the routes that end logins run last, each with new tokens)."""
    headers: dict[str, dict[str, str]] = {"anonymous": {}}
    async with maker() as db:
        for role, member_id in people.items():
            member = await db.get(Member, member_id)
            headers[role] = {"Authorization": f"Bearer {accounts.issue_token(member, SECRET)}"}
    return headers


async def ok(r: Any, what: str) -> dict[str, Any]:
    assert r.status_code < 300, f"{what}: {r.status_code} {r.text}"
    body: dict[str, Any] = (
        r.json() if r.headers.get("content-type", "").startswith("application/json") else {}
    )
    return body


async def resources(client: Any, world: World, b_cid: uuid.UUID) -> Res:
    """Community A's resources, made through the API by the people allowed to make them."""
    h, cid = world.h, world.cid
    res = Res(world, b_cid, {"cid": str(cid), "role": "organizer"})
    for role, name in (("member", "alice"), ("bob", "bob"), ("carol", "carol")):
        res.ids[role] = res.ids[role + "_id"] = str(world.members[name].id)
    for role in STAFF:
        res.ids[role + "_id"] = str(world.members[role].id)
    res.ids["anonymous_id"] = res.ids["other_admin_id"] = res.ids["outsider_id"] = res["bob"]
    award = await ok(
        await client.post(
            f"/api/v1/communities/{cid}/awards",
            headers=h["admin"],
            json={"member_id": res["member"], "points": 90, "reason": "启动"},
        ),
        "award",
    )
    res.ids["transfer"] = award["transfer_id"]
    for role in STAFF:  # every person of A has points to spend (orders, vouchers)
        giver = "admin2" if role == "admin" else "admin"
        body = {"member_id": res[role + "_id"], "points": 90, "reason": "启动"}
        await ok(await client.post(f"/api/v1/communities/{cid}/awards", headers=h[giver], json=body), "award")
    pending = await ok(
        await client.post(
            f"/api/v1/communities/{cid}/awards",
            headers=h["admin2"],
            json={"member_id": res["bob"], "points": 500, "reason": "大额"},
        ),
        "pending award",
    )
    res.ids["award"] = pending["id"]
    activity = await ok(
        await client.post(
            f"/api/v1/communities/{cid}/activities", headers=h["organizer"], json=activity_body(res, "")
        ),
        "activity",
    )
    res.ids["activity"] = activity["id"]
    manual = await ok(
        await client.post(
            f"/api/v1/activities/{activity['id']}/manual-checkins",
            headers=h["organizer2"],
            json={
                "member_id": res["member"],
                "checked_in_at": t(-50),
                "checked_out_at": t(-10),
                "note": "补录",
            },
        ),
        "manual",
    )
    res.ids["attendance"] = manual["id"]
    res.ids["correction"] = str(uuid.uuid4())  # none yet: every decision is correction_not_found
    res.ids["member_request"] = str(uuid.uuid4())  # none yet: member_request_not_found
    team = await ok(
        await client.post(
            f"/api/v1/communities/{cid}/teams",
            headers=h["organizer"],
            json={"name": "一队", "leader_id": res["carol"]},
        ),
        "team",
    )
    res.ids["team"] = team["id"]
    product = await ok(
        await client.post(
            f"/api/v1/communities/{cid}/products",
            headers=h["clerk"],
            json={"name": "大米", "points": 5, "stock": 50},
        ),
        "product",
    )
    res.ids["product"] = product["id"]
    await ok(
        await client.put(
            f"/api/v1/products/{product['id']}/image",
            headers={**h["clerk"], "content-type": "image/png"},
            content=png(),
        ),
        "image",
    )
    order = await ok(
        await client.post("/api/v1/orders", headers=h["alice"], json={"product_id": product["id"]}), "order"
    )
    res.ids["order"] = order["id"]
    to_pick_up = await ok(
        await client.post("/api/v1/orders", headers=h["alice"], json={"product_id": product["id"]}), "order"
    )
    res.ids["pickup_code"] = to_pick_up["pickup_code"]
    res.ids["partner"] = str(world.partner.id)
    offer = await ok(
        await client.post(
            f"/api/v1/partners/{world.partner.id}/offers",
            headers=h["admin"],
            json={"title": "九折", "points": 5},
        ),
        "offer",
    )
    res.ids["offer"] = offer["id"]
    voucher = await ok(
        await client.post(f"/api/v1/offers/{offer['id']}/vouchers", headers=h["alice"]), "voucher"
    )
    res.ids["voucher"] = voucher["id"]
    to_redeem = await ok(
        await client.post(f"/api/v1/offers/{offer['id']}/vouchers", headers=h["alice"]), "voucher"
    )
    res.ids["voucher_code"] = to_redeem["code"]
    card = await ok(
        await client.get("/api/v1/me/card", headers=h["alice"], params={"community_id": str(cid)}), "card"
    )
    res.ids["card_token"] = card["token"]
    rule = await api_rule(client, world, {"code": "zero-price", "title": "零彩礼", "points": 20})
    res.ids["rule"] = rule["id"]
    proposal = await client.put(
        f"/api/v1/communities/{cid}/activity-policy", headers=h["admin2"], json={"points_cap": 70}
    )
    assert proposal.status_code == 202, proposal.text
    res.ids["proposal"] = proposal.json()["proposal"]["id"]
    claim = await ok(
        await client.post(
            "/api/v1/claims",
            headers=h["alice"],
            json={"rule_id": rule["id"], "member_id": res["member"], "evidence": "结婚证"},
        ),
        "claim",
    )
    res.ids["claim"] = claim["id"]
    photo = await ok(
        await client.post(
            f"/api/v1/claims/{claim['id']}/photos",
            headers={**h["alice"], "content-type": "image/png"},
            content=png(),
        ),
        "photo",
    )
    res.ids["photo"] = photo["id"]
    wish = await ok(
        await client.post(f"/api/v1/communities/{cid}/wishes", headers=h["alice"], json={"title": "换灯泡"}),
        "wish",
    )
    res.ids["wish"] = wish["id"]
    res.ids["carol_phone"] = world.members["carol"].phone
    res.ids["bob_phone"] = world.members["bob"].phone
    link = await ok(
        await client.post(
            f"/api/v1/communities/{cid}/household-links",
            headers=h["alice"],
            json={"phone": res["bob_phone"], "relation": "儿子"},
        ),
        "household link",
    )
    res.ids["household_link"] = link["id"]
    code = await ok(
        await client.post(f"/api/v1/communities/{cid}/members/{res['carol']}/activation", headers=h["admin"]),
        "activation",
    )
    res.ids["activation_code"] = code["code"]
    await ok(
        await client.patch(
            f"/api/v1/communities/{cid}", headers=h["admin"], json={"self_registration": "approval"}
        ),
        "sign-ups need approval",
    )
    await ok(await client.post("/api/v1/auth/sms-code", json={"phone": "15800009999"}), "sms code")
    await ok(
        await client.post(
            "/api/v1/auth/register",
            json={
                "phone": "15800009999",
                "name": "待批",
                "password": "new-pass-123",
                "sms_code": re.findall(r"\d{6}", last_text_to("15800009999") or "")[0],
                "community_id": str(cid),
            },
        ),
        "sign-up",
    )
    client.cookies.clear()
    sign_ups = await client.get(f"/api/v1/communities/{cid}/registrations", headers=h["admin"])
    assert sign_ups.status_code == 200, sign_ups.text
    res.ids["registration"] = sign_ups.json()[0]["id"]
    # Community A sits under a street, with bob as the street's official (no role here is one).
    root = world.h["root"]
    parent: str | None = None
    for level in ("city", "district", "street"):
        body = {"name": f"测试{level}", "code": f"test-{level}", "level": level, "parent_id": parent}
        parent = (await ok(await client.post("/api/v1/regions", headers=root, json=body), level))["id"]
    res.ids["region"] = parent
    await ok(
        await client.put(f"/api/v1/regions/communities/{cid}", headers=root, json={"region_id": parent}),
        "community in street",
    )
    await ok(
        await client.post(
            f"/api/v1/regions/{parent}/officials", headers=root, json={"phone": res["bob_phone"]}
        ),
        "official",
    )
    res.ids["official"] = res["bob"]
    carol_id = {"id_type": "resident_id", "id_number": "11010519491231002X"}
    await ok(await client.put("/api/v1/me/identity", headers=h["carol"], json=carol_id), "carol's ID")
    url = f"/api/v1/communities/{cid}/members/{res['carol']}/certificates"
    res.ids["certificate"] = (await ok(await client.post(url, headers=h["admin"], json={}), "certificate"))[
        "id"
    ]
    return res


async def post(client: Any, url: str, who: str, res: Res, **kwargs: Any) -> dict[str, Any]:
    client.cookies.clear()
    return await ok(await client.post(url, headers=res.w.h[who], **kwargs), f"prep {url}")


async def new_activity(client: Any, res: Res, points: int = 5) -> str:
    body = activity_body(res, "") | {"points": points}
    made = await post(client, f"/api/v1/communities/{res.w.cid}/activities", "organizer", res, json=body)
    res.ids["activity"] = made["id"]
    return str(made["id"])


async def poster(client: Any, res: Res) -> None:
    """A running activity's poster token (what its QR code carries).

    First alice checks in to another activity: on PostgreSQL the first scan of a community in a worker
    makes its issuance shard accounts, before the batch checks the scanner's role, so a refused scan
    could be the one that makes them (shared bookkeeping, not the refused caller's)."""
    warm = await new_activity(client, res)
    client.cookies.clear()
    kiosk = await client.get(f"/api/v1/activities/{warm}/kiosk", headers=res.w.h["organizer"])
    token = (await ok(kiosk, "kiosk"))["token"]
    await post(client, "/api/v1/checkins", "alice", res, json={"token": token})
    aid = await new_activity(client, res)
    client.cookies.clear()
    kiosk = await client.get(f"/api/v1/activities/{aid}/kiosk", headers=res.w.h["organizer"])
    res.ids["poster_token"] = (await ok(kiosk, "kiosk"))["token"]
