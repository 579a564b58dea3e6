"""Check-in over HTTP: QR images decode to URLs that work, refusals are problem+json and change nothing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import urlparse

from service import clock
from tests.support.activities import checked_in_count as count
from tests.support.activities import create_activity as create
from tests.support.activities import freeze_at_step_start
from tests.support.balances import api_available as balance
from tests.support.qr import decode_qr as decode_png
from tests.support.world import World


async def test_kiosk_png_decodes_to_a_url_that_checks_in(client: Any, world: World) -> None:
    a = await create(client, world)
    r = await client.get(f"/api/v1/activities/{a['id']}/qr.png", headers=world.h["organizer"])
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    url = decode_png(r.content)
    assert url.startswith("http://testserver/c/")
    page = await client.get(urlparse(url).path, headers=world.h["alice"])
    assert page.status_code == 200
    assert 'data-status="checked_in"' in page.text and "+0" in page.text
    assert 'data-status="on_check_out"' in page.text  # the points post at check-out or close
    assert await count(client, world, a["id"]) == 1
    assert await balance(client, world, "alice") == 0
    kiosk = (await client.get(f"/api/v1/activities/{a['id']}/kiosk", headers=world.h["organizer"])).json()
    assert kiosk["url"].endswith("/c/" + kiosk["token"]) and kiosk["checked_in_count"] == 1
    assert 1 <= kiosk["refresh_after_s"] <= 15
    again = await client.post("/api/v1/checkins", json={"token": kiosk["token"]}, headers=world.h["alice"])
    assert again.status_code == 200 and again.json()["repeated"] is True
    assert again.json()["points_pending"] == 8 and again.json()["points_status"] == "on_check_out"
    assert await balance(client, world, "alice") == 0


async def test_poster_svg_and_png(client: Any, world: World) -> None:
    a = await create(client, world)
    svg = await client.get(f"/api/v1/activities/{a['id']}/qr.svg?mode=poster", headers=world.h["organizer"])
    assert svg.status_code == 200 and svg.headers["content-type"].startswith("image/svg+xml")
    assert b"<svg" in svg.content
    png = await client.get(
        f"/api/v1/activities/{a['id']}/qr.png?mode=poster&box=4", headers=world.h["organizer"]
    )
    url = decode_png(png.content)
    r = await client.post("/api/v1/checkins", json={"token": url.rsplit("/", 1)[1]}, headers=world.h["bob"])
    assert r.status_code == 200 and r.json()["evidence"] == "poster"
    too_big = await client.get(f"/api/v1/activities/{a['id']}/qr.png?box=500", headers=world.h["organizer"])
    assert too_big.status_code in (400, 422)
    forbidden = await client.get(f"/api/v1/activities/{a['id']}/qr.png", headers=world.h["alice"])
    assert forbidden.status_code == 403 and forbidden.json()["code"] == "forbidden"


async def test_refusals_are_problems_and_change_nothing(client: Any, world: World) -> None:
    freeze_at_step_start()
    a = await create(client, world)
    kiosk = (await client.get(f"/api/v1/activities/{a['id']}/kiosk", headers=world.h["organizer"])).json()
    for token, code in [("nonsense", "qr_invalid"), ("A" * 42, "qr_invalid")]:
        r = await client.post("/api/v1/checkins", json={"token": token}, headers=world.h["alice"])
        assert r.status_code == 400 and r.json()["code"] == code
        assert r.headers["content-type"].startswith("application/problem+json")
    clock.advance(timedelta(seconds=45))
    r = await client.post("/api/v1/checkins", json={"token": kiosk["token"]}, headers=world.h["alice"])
    assert r.json()["code"] == "qr_expired"
    r = await client.post("/api/v1/checkins", json={"token": "x" * 101}, headers=world.h["alice"])
    assert r.status_code == 422
    page = await client.get("/c/" + kiosk["token"], headers=world.h["alice"])
    assert page.status_code == 400 and 'data-code="qr_expired"' in page.text
    assert await count(client, world, a["id"]) == 0
    assert await balance(client, world, "alice") == 0


async def test_checkin_retry_with_idempotency_key_replays(client: Any, world: World) -> None:
    a = await create(client, world)
    token = (await client.get(f"/api/v1/activities/{a['id']}/kiosk", headers=world.h["organizer"])).json()[
        "token"
    ]
    headers = {**world.h["carol"], "Idempotency-Key": "scan-1"}
    first = await client.post("/api/v1/checkins", json={"token": token}, headers=headers)
    second = await client.post("/api/v1/checkins", json={"token": token}, headers=headers)
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json() and first.json()["repeated"] is False
    assert first.json()["points_awarded"] == 0 and first.json()["points_pending"] == 8
    assert await count(client, world, a["id"]) == 1 and await balance(client, world, "carol") == 0


async def test_logged_out_scan_completes_after_login_with_first_time(client: Any, world: World) -> None:
    T0 = freeze_at_step_start()
    a = await create(client, world)
    token = (await client.get(f"/api/v1/activities/{a['id']}/kiosk", headers=world.h["organizer"])).json()[
        "token"
    ]
    r = await client.get(f"/c/{token}", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/login?next=/c/{token}"
    assert "jifen_scan" in r.cookies and "jifen_device" in r.cookies
    clock.advance(timedelta(minutes=3))  # logging in took a while: the code expired meanwhile
    page = await client.get(f"/c/{token}", headers=world.h["alice"])
    assert page.status_code == 200 and 'data-status="checked_in"' in page.text
    att = (await client.get(f"/api/v1/activities/{a['id']}/attendance", headers=world.h["organizer"])).json()
    assert att["items"][0]["checked_in_at"].startswith(T0.strftime("%Y-%m-%dT%H:%M:%S"))


async def test_manual_close_csv_and_card_over_http(client: Any, world: World) -> None:
    a = await create(client, world, points_mode="per_hour", points=12)
    aid = a["id"]
    now = clock.now()
    body = {
        "member_id": str(world.members["carol"].id),
        "checked_in_at": (now - timedelta(minutes=5)).isoformat(),
        "checked_out_at": now.isoformat(),
        "note": "老人没有手机",
    }
    r = await client.post(
        f"/api/v1/activities/{aid}/manual-checkins", json=body, headers=world.h["organizer"]
    )
    assert r.status_code == 202 and r.json()["status"] == "pending_approval"
    mid = r.json()["id"]
    same = await client.post(f"/api/v1/attendance/{mid}/approve", headers=world.h["organizer"])
    assert same.status_code == 403 and same.json()["code"] == "second_organizer_required"
    ok = await client.post(f"/api/v1/attendance/{mid}/approve", headers=world.h["organizer2"])
    assert ok.status_code == 200 and ok.json()["status"] == "approved"
    card = (await client.get(f"/api/v1/me/card?community_id={world.cid}", headers=world.h["bob"])).json()
    assert card["url"].endswith("/m/" + card["code"]) and len(card["code"]) == 142
    landing = await client.get(urlparse(card["url"]).path, headers=world.h["organizer"])
    assert landing.status_code == 200 and "card-scans" in landing.text
    scan = await client.post(
        f"/api/v1/activities/{aid}/card-scans",
        json={"card_token": card["token"]},
        headers=world.h["organizer"],
    )
    assert scan.status_code == 200 and scan.json()["evidence"] == "member_card"
    closed = await client.post(f"/api/v1/activities/{aid}/close", headers=world.h["organizer"])
    assert closed.status_code == 200 and closed.json()["checked_out"] == 1
    csv = await client.get(f"/api/v1/activities/{aid}/attendance?format=csv", headers=world.h["organizer"])
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    lines = csv.text.strip().splitlines()
    assert len(lines) == 3 and any(",manual," in line and ",yes," in line for line in lines)
    again = await client.post(f"/api/v1/activities/{aid}/close", headers=world.h["organizer"])
    assert again.status_code == 409 and again.json()["code"] == "activity_not_open"


async def test_pages_render(client: Any, world: World) -> None:
    a = await create(client, world)
    aid = a["id"]
    for path, who in [
        ("/activities", "alice"),
        ("/activities/new", "organizer"),
        (f"/activities/{aid}", "organizer"),
        (f"/activities/{aid}", "alice"),
        (f"/kiosk/{aid}", "organizer"),
        (f"/poster/{aid}", "organizer"),
        ("/me/card", "alice"),
        ("/me/hours", "alice"),
        ("/teams", "alice"),
        (f"/certificate/{world.members['alice'].id}?community={world.cid}", "alice"),
        ("/", "alice"),
    ]:
        r = await client.get(path, headers=world.h[who])
        assert r.status_code == 200, (path, r.text[:300])
    assert (await client.get(f"/kiosk/{aid}", headers=world.h["alice"])).status_code == 403
    bad = await client.get(
        f"/certificate/{world.members['bob'].id}?community={world.cid}", headers=world.h["alice"]
    )
    assert bad.status_code == 403
    assert (await client.get("/certificate/verify?m=x&c=y&min=1&d=1&s=2")).status_code == 404


async def test_edit_cancel_signup_teams_and_hours(client: Any, world: World) -> None:
    a = await create(client, world, capacity=1, signup_required=True)
    aid = a["id"]
    r = await client.patch(
        f"/api/v1/activities/{aid}", json={"title": "改名了", "points": 9}, headers=world.h["organizer"]
    )
    assert r.status_code == 200 and r.json()["title"] == "改名了" and r.json()["points"] == 9
    r = await client.patch(
        f"/api/v1/activities/{aid}",
        json={"ends_at": "2000-01-01T00:00:00+00:00"},
        headers=world.h["organizer"],
    )
    assert r.status_code == 422 and r.json()["code"] == "invalid_activity"
    assert (await client.get(f"/api/v1/activities/{aid}", headers=world.h["alice"])).json()[
        "title"
    ] == "改名了"
    assert (
        await client.post(f"/api/v1/activities/{aid}/signups", headers=world.h["alice"])
    ).status_code == 201
    full = await client.post(f"/api/v1/activities/{aid}/signups", headers=world.h["bob"])
    assert full.status_code == 409 and full.json()["code"] == "activity_full"
    assert (await client.get(f"/api/v1/activities/{aid}", headers=world.h["bob"])).json()[
        "signed_up_count"
    ] == 1
    r = await client.post(f"/api/v1/activities/{aid}/cancel", headers=world.h["organizer"])
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    team = await client.post(
        f"/api/v1/communities/{world.cid}/teams",
        json={"name": "助老服务队", "leader_id": str(world.members["alice"].id)},
        headers=world.h["organizer"],
    )
    assert team.status_code == 201 and team.json()["leader_name"] == world.members["alice"].name
    add = await client.post(
        f"/api/v1/teams/{team.json()['id']}/members",
        json={"member_id": str(world.members["bob"].id)},
        headers=world.h["organizer"],
    )
    assert add.status_code == 201
    teams = (await client.get(f"/api/v1/communities/{world.cid}/teams", headers=world.h["bob"])).json()
    assert len(teams[0]["members"]) == 2 and teams[0]["total_minutes"] == 0
    hours = await client.get(f"/api/v1/me/hours?community_id={world.cid}&year=2026", headers=world.h["alice"])
    assert hours.status_code == 200 and hours.json()["minutes"] == 0


async def test_bad_input_never_answers_500(client: Any, world: World) -> None:
    a = await create(client, world, lat=36.06, lng=103.83, radius_m=100)
    aid = a["id"]
    org = world.h["organizer"]
    cases: list[tuple[str, str, Any]] = [
        ("POST", "/api/v1/checkins", {"token": "é" * 42}),
        ("POST", "/api/v1/checkins", {"token": "AAAA", "lat": 91, "lng": 0}),
        ("POST", "/api/v1/checkins", {"token": 5}),
        ("POST", "/api/v1/checkins", []),
        ("POST", f"/api/v1/activities/{aid}/card-scans", {"card_token": "\x00" * 10}),
        ("POST", f"/api/v1/activities/{aid}/manual-checkins", {"member_id": "x", "note": "n"}),
        (
            "POST",
            f"/api/v1/activities/{aid}/manual-checkins",
            {
                "member_id": str(world.members["alice"].id),
                "checked_in_at": "2030-01-01T00:00:00",
                "checked_out_at": "2020-01-01T00:00:00Z",
                "note": "n",
            },
        ),
        ("GET", f"/api/v1/activities/{aid}/qr.png?mode=other", None),
        ("GET", f"/api/v1/activities/{aid}/attendance?format=xml", None),
        ("POST", f"/api/v1/attendance/{aid}/approve", None),
        ("POST", f"/api/v1/communities/{world.cid}/activities", {"title": "x", "starts_at": "yesterday"}),
        ("GET", "/c/" + "%00" * 20, None),
        ("GET", "/m/" + "z" * 300, None),
        ("GET", "/activities/00000000-0000-0000-0000-000000000000", None),
        ("GET", "/certificate/verify?m=1&c=2&min=-1&d=x&s=y", None),
    ]
    for method, path, body in cases:
        r = await client.request(method, path, json=body, headers=org)
        assert r.status_code < 500, (path, r.status_code, r.text[:200])
        assert r.status_code >= 400, (path, r.status_code)
    r = await client.post(
        "/api/v1/checkins",
        json={"token": (await client.get(f"/api/v1/activities/{aid}/kiosk", headers=org)).json()["token"]},
        headers=world.h["alice"],
    )
    assert r.status_code == 400 and r.json()["code"] == "location_required"
    assert await count(client, world, aid) == 0


async def test_attendance_pages_with_cursor(client: Any, world: World) -> None:
    a = await create(client, world)
    token = (await client.get(f"/api/v1/activities/{a['id']}/kiosk", headers=world.h["organizer"])).json()[
        "token"
    ]
    for name in ("alice", "bob", "carol"):
        assert (
            await client.post("/api/v1/checkins", json={"token": token}, headers=world.h[name])
        ).status_code == 200
    seen: list[str] = []
    cursor = None
    while True:
        q = f"?limit=2&cursor={cursor}" if cursor else "?limit=2"
        page = (
            await client.get(f"/api/v1/activities/{a['id']}/attendance{q}", headers=world.h["organizer"])
        ).json()
        seen += [i["member_name"] for i in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert sorted(seen) == sorted(world.members[n].name for n in ("alice", "bob", "carol"))


async def test_a_rejected_manual_attendance_is_rejected_pays_nothing_and_is_audited(
    client: Any, world: World
) -> None:
    """The success path of ``POST /api/v1/attendance/{id}/reject``: the record leaves ``pending`` for
    ``rejected`` (not approvable any more), no points post, and the audit log says who rejected it."""
    now = clock.now()
    a = await create(client, world, starts_at=(now - timedelta(hours=1)).isoformat())
    manual = await client.post(
        f"/api/v1/activities/{a['id']}/manual-checkins",
        headers=world.h["organizer2"],
        json={
            "member_id": str(world.members["alice"].id),
            "checked_in_at": (now - timedelta(minutes=50)).isoformat(),
            "checked_out_at": (now - timedelta(minutes=10)).isoformat(),
            "note": "补录",
        },
    )
    assert manual.status_code == 202, manual.text
    assert manual.json()["status"] == "pending_approval"
    att = manual.json()["id"]
    r = await client.post(f"/api/v1/attendance/{att}/reject", headers=world.h["organizer"])
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "rejected"
    listed = await client.get(f"/api/v1/activities/{a['id']}/attendance", headers=world.h["organizer"])
    assert [x["status"] for x in listed.json()["items"] if x["id"] == att] == ["rejected"]
    late = await client.post(f"/api/v1/attendance/{att}/approve", headers=world.h["admin"])
    assert late.status_code == 409, late.text
    assert await balance(client, world, "alice") == 0
    audit = await client.get(f"/api/v1/communities/{world.cid}/audit", headers=world.h["admin"])
    rejected = [e for e in audit.json()["items"] if e["action"] == "manual_attendance_rejected"]
    assert len(rejected) == 1 and rejected[0]["actor_id"] == str(world.members["organizer"].id)
