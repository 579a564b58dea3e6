"""The kiosk's own codes (made in the page with the key it was given, docs/offline.md) are accepted like
the server's kiosk codes: under 30 s old, not after the key's end, the logged-out scan spent once."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from service import clock
from service.activities import rules
from service.kit import signing
from tests.support.activities import checked_in_count as count
from tests.support.activities import create_activity as create
from tests.support.activities import freeze_at_step_start
from tests.support.world import World


async def kiosk_key(client: Any, world: World, aid: str) -> dict[str, Any]:
    page = await client.get(f"/kiosk/{aid}", headers=world.h["organizer"])
    assert page.status_code == 200
    attrs = dict(
        re.findall(r'data-([a-z-]+)="([^"]*)"', page.text.split('id="kiosk"', 1)[1].split(">", 1)[0])
    )
    return {
        "kiosk_id": int(attrs["kiosk-id"]),
        "valid_until": int(attrs["valid-until"]),
        "key": signing.unb64(attrs["kiosk-key"]) or b"",
        "server_ms": int(attrs["server-ms"]),
        "public_url": attrs["public-url"],
    }


def token(aid: str, k: dict[str, Any], at: datetime, **change: int) -> str:
    fields = {"kiosk_id": k["kiosk_id"], "valid_until": k["valid_until"], **change}
    step = rules.kiosk_step(at)
    return rules.make_offline_token(uuid.UUID(aid), step, fields["kiosk_id"], fields["valid_until"], k["key"])


async def checkin(client: Any, world: World, who: str, t: str) -> Any:
    return await client.post("/api/v1/checkins", json={"token": t}, headers=world.h[who])


async def test_kiosk_codes_made_offline_check_in_like_the_servers(client: Any, world: World) -> None:
    t0 = freeze_at_step_start()
    a = await create(client, world)
    k = await kiosk_key(client, world, a["id"])
    assert len(k["key"]) == 32 and k["public_url"] == "http://testserver"
    assert k["valid_until"] == int((datetime.fromisoformat(a["ends_at"]) + timedelta(minutes=30)).timestamp())
    assert abs(k["server_ms"] - t0.timestamp() * 1000) < 1000
    # Five minutes later, with no request to the server in between, the kiosk's current code works.
    clock.advance(timedelta(minutes=5))
    ok = await checkin(client, world, "alice", token(a["id"], k, clock.now()))
    assert ok.status_code == 200, ok.text
    assert ok.json()["evidence"] == "kiosk" and ok.json()["status"] == "checked_in"
    # A screenshot of an older code (more than one step back) is expired; a code from the future is not valid.
    old = await checkin(client, world, "bob", token(a["id"], k, clock.now() - timedelta(seconds=31)))
    assert old.status_code == 400 and old.json()["code"] == "qr_expired"
    ahead = await checkin(client, world, "bob", token(a["id"], k, clock.now() + timedelta(seconds=15)))
    assert ahead.status_code == 400 and ahead.json()["code"] == "qr_invalid"
    # The key's end and the kiosk id are signed: changing them breaks the code.
    forged = await checkin(
        client, world, "bob", token(a["id"], k, clock.now(), valid_until=k["valid_until"] + 86400)
    )
    assert forged.status_code == 400 and forged.json()["code"] == "qr_invalid"
    other = await checkin(client, world, "bob", token(a["id"], k, clock.now(), kiosk_id=k["kiosk_id"] ^ 1))
    assert other.status_code == 400 and other.json()["code"] == "qr_invalid"
    assert await count(client, world, a["id"]) == 1


async def test_a_kiosk_key_ends(client: Any, world: World) -> None:
    freeze_at_step_start()
    a = await create(client, world, ends_at=(clock.now() + timedelta(minutes=20)).isoformat())
    k = await kiosk_key(client, world, a["id"])
    clock.set_now(datetime.fromtimestamp(k["valid_until"] + 1, tz=UTC))
    late = await checkin(client, world, "alice", token(a["id"], k, clock.now()))
    assert late.status_code == 400 and late.json()["code"] == "qr_expired"
    assert await count(client, world, a["id"]) == 0


async def test_logged_out_phone_scans_a_kiosk_code_once(client: Any, world: World) -> None:
    freeze_at_step_start()
    a = await create(client, world)
    k = await kiosk_key(client, world, a["id"])
    t = token(a["id"], k, clock.now())
    r = await client.get(f"/c/{t}", follow_redirects=False)
    assert r.status_code == 303 and "jifen_scan" in r.cookies
    clock.advance(timedelta(minutes=3))  # the login took a while; the code rotated meanwhile
    page = await client.get(f"/c/{t}", headers=world.h["alice"])
    assert page.status_code == 200 and 'data-status="checked_in"' in page.text
    assert await count(client, world, a["id"]) == 1
    again = await client.get(f"/c/{t}", headers=world.h["bob"])  # the cookie was spent: bob is too late
    assert again.status_code == 400 and 'data-code="qr_expired"' in again.text
    assert await count(client, world, a["id"]) == 1
