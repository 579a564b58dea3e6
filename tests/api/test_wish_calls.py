"""Wishes carry what the volunteer needs (issue 22): the address and a privacy-number call button for the
volunteer doing the wish, and only for them, never the requester's real number; in-app notices (and a
text message) to the dispatched volunteer and the requester."""

from __future__ import annotations

import dataclasses
import json
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from service.accounts.sms import last_text_to
from service.app import create_app
from service.audit.models import AuditEvent
from service.config import Settings
from service.notices.models import Notice
from service.wishes.models import CallBinding, Wish
from tests.support.problems import problem
from tests.support.world import World

ADDRESS = "幸福里 3 号楼 2 单元 501"
ZH = {"Accept-Language": "zh-CN,zh;q=0.9"}


async def _count(maker: async_sessionmaker[AsyncSession], table: Any, *where: Any) -> int:
    async with maker() as s:
        return int(await s.scalar(select(func.count()).select_from(table).where(*where)) or 0)


async def _events(maker: async_sessionmaker[AsyncSession], action: str) -> list[AuditEvent]:
    async with maker() as s:
        return list(await s.scalars(select(AuditEvent).where(AuditEvent.action == action)))


async def _post_wish(client: Any, world: World, who: str = "alice", **body: Any) -> dict[str, Any]:
    r = await client.post(
        f"/api/v1/communities/{world.cid}/wishes", headers=world.h[who], json={"title": "换灯泡", **body}
    )
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    return out


async def _wish(client: Any, world: World, who: str, wish_id: str) -> dict[str, Any]:
    r = await client.get(f"/api/v1/wishes/{wish_id}", headers=world.h[who])
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


async def _notices(client: Any, world: World, who: str, **query: str) -> dict[str, Any]:
    r = await client.get("/api/v1/me/notices", headers={**world.h[who], **ZH}, params=query)
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


async def _accepted_by_bob(client: Any, world: World) -> str:
    wish = await _post_wish(client, world, address=ADDRESS)
    body = {"volunteer_id": str(world.members["bob"].id)}
    r = await client.post(f"/api/v1/wishes/{wish['id']}/dispatch", headers=world.h["organizer"], json=body)
    assert r.status_code == 200, r.text
    r = await client.post(f"/api/v1/wishes/{wish['id']}/accept", headers=world.h["bob"])
    assert r.status_code == 200, r.text
    return str(wish["id"])


async def test_the_volunteer_sees_the_address_and_a_relay_number_only_while_doing_the_wish(
    client: Any, world: World, maker: async_sessionmaker[AsyncSession]
) -> None:
    alice_phone, bob_phone = world.members["alice"].phone, world.members["bob"].phone
    wish = await _post_wish(client, world, address=f"  {ADDRESS}  ")
    assert wish["address"] == ADDRESS  # the requester sees her own address, trimmed
    wid = wish["id"]
    for who in ("bob", "organizer", "admin"):  # nobody else, staff included
        shown = await _wish(client, world, who, wid)
        assert shown["address"] is None and shown["can_call"] is False
    # 派单: offered to bob, who does not see the address before he accepts.
    body = {"volunteer_id": str(world.members["bob"].id)}
    r = await client.post(f"/api/v1/wishes/{wid}/dispatch", headers=world.h["organizer"], json=body)
    assert r.status_code == 200 and r.json()["address"] is None
    assert (await _wish(client, world, "bob", wid))["address"] is None
    problem(await client.post(f"/api/v1/wishes/{wid}/call", headers=world.h["bob"]), 409, "wish_not_assigned")
    assert await _count(maker, CallBinding) == 0
    # Both were told, in the app and by text message.
    offered = (await _notices(client, world, "bob"))["items"]
    assert [n["kind"] for n in offered] == ["wish_offered"]
    assert "换灯泡" in offered[0]["text"] and "小时内接单" in offered[0]["text"]
    told = (await _notices(client, world, "alice"))["items"]
    assert [n["kind"] for n in told] == ["wish_dispatched"] and "派给志愿者" in told[0]["text"]
    assert "换灯泡" in (last_text_to(bob_phone) or "") and "派给志愿者" in (last_text_to(alice_phone) or "")
    # 接单: now bob sees the address and may call; the requester is told; the sharing is audited.
    r = await client.post(f"/api/v1/wishes/{wid}/accept", headers=world.h["bob"])
    assert r.status_code == 200 and r.json()["address"] == ADDRESS and r.json()["can_call"] is True
    assert [n["kind"] for n in (await _notices(client, world, "alice"))["items"]] == [
        "wish_accepted",
        "wish_dispatched",
    ]
    assert "隐私号" in (last_text_to(alice_phone) or "")
    [accepted] = await _events(maker, "wish_accepted")
    assert (
        accepted.subject_member_id == world.members["alice"].id and accepted.detail["address_shared"] is True
    )
    # Nobody but bob gets a relay number, and a refusal writes nothing.
    for who, status, code in (
        ("carol", 403, "not_assigned_volunteer"),
        ("organizer", 403, "not_assigned_volunteer"),
        ("alice", 403, "not_assigned_volunteer"),
    ):
        problem(await client.post(f"/api/v1/wishes/{wid}/call", headers=world.h[who]), status, code)
    assert await _count(maker, CallBinding) == 0 and await _events(maker, "wish_call_bound") == []
    r = await client.post(f"/api/v1/wishes/{wid}/call", headers=world.h["bob"])
    assert r.status_code == 200, r.text
    call = r.json()
    assert call["relay_number"].startswith("170") and len(call["relay_number"]) == 11
    assert call["tel"] == f"tel:{call['relay_number']}" and call["relay_number"] != alice_phone
    again = await client.post(f"/api/v1/wishes/{wid}/call", headers=world.h["bob"])
    assert again.json()["relay_number"] == call["relay_number"]  # the same binding while it lasts
    assert await _count(maker, CallBinding) == 1
    [bound] = await _events(maker, "wish_call_bound")
    assert bound.actor_id == world.members["bob"].id and bound.subject_member_id == world.members["alice"].id
    # The requester's real number appears nowhere bob can read.
    for url in (
        f"/api/v1/wishes/{wid}",
        f"/api/v1/communities/{world.cid}/wishes?scope=assigned",
        "/api/v1/me/notices",
    ):
        text = (await client.get(url, headers=world.h["bob"])).text
        assert alice_phone not in text and alice_phone[-4:] not in text, url
    page = await client.get(f"/wishes?community={world.cid}", headers=world.h["bob"])
    assert (
        ADDRESS in page.text and f"tel:{call['relay_number']}" in page.text and alice_phone not in page.text
    )
    # Done: the address and the number are gone for him; the binding has ended.
    r = await client.post(f"/api/v1/wishes/{wid}/complete", headers=world.h["bob"])
    assert r.status_code == 200 and r.json()["address"] is None and r.json()["can_call"] is False
    problem(await client.post(f"/api/v1/wishes/{wid}/call", headers=world.h["bob"]), 409, "wish_not_assigned")
    async with maker() as s:
        assert (await s.scalar(select(CallBinding))).ended_at is not None  # type: ignore[union-attr]
    page = await client.get(f"/wishes?community={world.cid}", headers=world.h["bob"])
    assert ADDRESS not in page.text and "tel:" not in page.text


async def test_an_address_defaults_to_the_requesters_last_and_bad_ones_are_refused(
    client: Any, world: World, maker: async_sessionmaker[AsyncSession]
) -> None:
    first = await _post_wish(client, world)
    assert first["address"] is None  # no address anywhere yet: none
    await _post_wish(client, world, address=ADDRESS)
    assert (await _post_wish(client, world))["address"] == ADDRESS  # the last one, by default
    assert (await _post_wish(client, world, "bob"))["address"] is None  # (not someone else's)
    before = await _count(maker, Wish)
    for bad, status, code in (
        ("   ", 422, "invalid_address"),
        ("3 号楼\x00", 422, "invalid_address"),
        ("楼" * 201, 422, "invalid_input"),
        ("", 422, "invalid_input"),
    ):
        r = await client.post(
            f"/api/v1/communities/{world.cid}/wishes",
            headers={**world.h["alice"], **ZH},
            json={"title": "修水管", "address": bad},
        )
        body = problem(r, status, code)
        if code == "invalid_address":
            assert "地址" in body["detail"]
    assert await _count(maker, Wish) == before
    assert (await _post_wish(client, world, address="楼" * 200))["address"] == "楼" * 200


async def test_notices_list_count_and_mark_read_only_ones_own(
    client: Any, world: World, maker: async_sessionmaker[AsyncSession]
) -> None:
    await _accepted_by_bob(client, world)
    mine = await _notices(client, world, "alice")
    assert mine["unread"] == 2 and len(mine["items"]) == 2
    newest = mine["items"][0]
    assert newest["kind"] == "wish_accepted" and newest["read_at"] is None
    assert newest["link"].startswith(f"/wishes?community={world.cid}#wish-")
    # bob's name reaches alice masked (刘*), and the English reader reads English.
    assert world.members["bob"].name not in newest["text"]
    english = await client.get("/api/v1/me/notices", headers={**world.h["alice"], "Accept-Language": "en"})
    assert english.json()["items"][0]["text"].startswith("Volunteer ")
    # Someone else's notice is "no such notice" and stays unread.
    for who in ("bob", "admin"):
        r = await client.post(f"/api/v1/me/notices/{newest['id']}/read", headers=world.h[who])
        problem(r, 404, "notice_not_found")
    assert await _count(maker, Notice, Notice.read_at.is_not(None)) == 0
    r = await client.post(f"/api/v1/me/notices/{newest['id']}/read", headers=world.h["alice"])
    assert r.status_code == 200 and r.json()["read_at"] is not None
    again = await client.post(f"/api/v1/me/notices/{newest['id']}/read", headers=world.h["alice"])
    assert again.json()["read_at"] == r.json()["read_at"]  # once read, read
    after = await _notices(client, world, "alice")
    assert after["unread"] == 1
    assert [n["kind"] for n in (await _notices(client, world, "alice", unread="true"))["items"]] == [
        "wish_dispatched"
    ]
    assert (await _notices(client, world, "bob"))["unread"] == 1  # bob's own offer
    problem(await client.get("/api/v1/me/notices"), 401, "not_authenticated")
    # The home page shows the unread one, with the count.
    home = await client.get("/", headers=world.h["alice"])
    assert 'data-testid="home-notices"' in home.text and "1 条未读" in home.text


def _app_client(settings: Settings, **changes: Any) -> AsyncTestClient[Any]:
    return AsyncTestClient(
        app=create_app(dataclasses.replace(settings, **changes)), base_url="http://testserver"
    )


async def test_no_call_when_calls_are_off(
    world: World, settings: Settings, maker: async_sessionmaker[AsyncSession]
) -> None:
    async with _app_client(settings, call_backend="off") as client:
        wid = await _accepted_by_bob(client, world)
        assert (await _wish(client, world, "bob", wid))["address"] == ADDRESS
        body = problem(
            await client.post(f"/api/v1/wishes/{wid}/call", headers={**world.h["bob"], **ZH}),
            409,
            "call_relay_off",
        )
        assert "隐私号" in body["detail"]
    assert await _count(maker, CallBinding) == 0 and await _events(maker, "wish_call_bound") == []


class _Provider(BaseHTTPRequestHandler):
    seen: list[dict[str, Any]] = []
    answer: tuple[int, bytes] = (200, b"{}")

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        type(self).seen.append(
            {"body": json.loads(self.rfile.read(length)), "auth": self.headers["Authorization"]}
        )
        status, body = type(self).answer
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def provider() -> Iterator[tuple[str, type[_Provider]]]:
    """A privacy-number provider (its adapter) on a free local port."""
    handler = type("Provider", (_Provider,), {"seen": []})
    server = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/bind", handler
    server.shutdown()
    server.server_close()


async def test_the_http_relay_binds_the_two_numbers_at_the_provider(
    world: World,
    settings: Settings,
    maker: async_sessionmaker[AsyncSession],
    provider: tuple[str, type[_Provider]],
) -> None:
    url, handler = provider
    changes = {"call_backend": "http", "call_url": url, "call_token": "provider-token"}
    async with _app_client(settings, **changes) as client:
        wid = await _accepted_by_bob(client, world)
        handler.answer = (502, b"bad gateway")  # the provider is down: refused, nothing written
        r = await client.post(f"/api/v1/wishes/{wid}/call", headers=world.h["bob"])
        problem(r, 503, "call_relay_unavailable")
        assert await _count(maker, CallBinding) == 0
        handler.answer = (200, b'{"relay_number": "not a number"}')  # nothing that could go into tel:
        problem(
            await client.post(f"/api/v1/wishes/{wid}/call", headers=world.h["bob"]),
            503,
            "call_relay_unavailable",
        )
        handler.answer = (200, b'{"relay_number": "17155550000"}')
        r = await client.post(f"/api/v1/wishes/{wid}/call", headers=world.h["bob"])
        assert r.status_code == 200 and r.json()["tel"] == "tel:17155550000"
    sent = handler.seen[-1]
    assert sent["auth"] == "Bearer provider-token"
    assert (
        sent["body"]["a"] == world.members["bob"].phone and sent["body"]["b"] == world.members["alice"].phone
    )
    assert sent["body"]["ref"] == wid and sent["body"]["expires_at"]
    async with maker() as s:
        binding = await s.scalar(select(CallBinding))
        assert binding is not None and binding.backend == "http" and binding.relay_number == "17155550000"


async def test_a_volunteers_own_data_leaves_out_the_requesters_address_and_a_deletion_forgets_it(
    client: Any, world: World, maker: async_sessionmaker[AsyncSession]
) -> None:
    wid = await _accepted_by_bob(client, world)
    r = await client.post(f"/api/v1/wishes/{wid}/call", headers=world.h["bob"])
    assert r.status_code == 200
    # 我的数据: bob's download holds the wish he does, not where alice lives; alice's holds it.
    bobs = (await client.get("/api/v1/me/data", headers=world.h["bob"])).json()
    [done] = [w for w in bobs["wishes"] if w["id"] == wid]
    assert done["address"] is None and ADDRESS not in json.dumps(bobs, ensure_ascii=False)
    alices = (await client.get("/api/v1/me/data", headers=world.h["alice"])).json()
    assert ADDRESS in json.dumps(alices, ensure_ascii=False) and "wish_accepted" in json.dumps(alices)
    # Alice's account is deleted: her address and notices go, bob's relay number stops.
    asked = await client.post(
        "/api/v1/me/deletion-request", json={"reason": "搬走了"}, headers=world.h["alice"]
    )
    assert asked.status_code == 201, asked.text
    decide = f"/api/v1/member-requests/{asked.json()['id']}/decide"
    r = await client.post(decide, json={"decision": "grant"}, headers=world.h["admin"])
    assert r.status_code == 200 and r.json()["status"] == "granted", r.text
    async with maker() as s:
        assert (await s.get(Wish, uuid.UUID(wid))).address is None  # type: ignore[union-attr]
        assert (await s.scalar(select(CallBinding))).ended_at is not None  # type: ignore[union-attr]
    assert await _count(maker, Notice, Notice.member_id == world.members["alice"].id) == 0
    assert (await _wish(client, world, "bob", wid))["address"] is None
    page = await client.get(f"/wishes?community={world.cid}", headers=world.h["bob"])
    assert ADDRESS not in page.text and "tel:" not in page.text
