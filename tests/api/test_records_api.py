"""Records that count (issue 21 items 1, 2, 3, 5): ID documents encrypted at rest, volunteer numbers,
certificates (HTML, PDF, public verification, voiding), star levels and the hours export."""

from __future__ import annotations

import csv
import io
import logging
import uuid
import zipfile
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pypdf import PdfReader
from sqlalchemy import select, text

from service import clock
from service.activities.models import Attendance
from service.audit.models import AuditEvent
from tests.support.activities import make_activity
from tests.support.world import World

ZH = {"Accept-Language": "zh-CN,zh;q=0.9"}
ALICE_ID = "11010519491231002X"
SHANGHAI = ZoneInfo("Asia/Shanghai")
BOB_ID = "320102199001011232"


async def _served(maker: Any, world: World, name: str, minutes: int, *, manual: bool = False) -> None:
    """A finished attendance of ``minutes`` for ``name`` at a new activity (described, so it has content)."""
    async with maker() as db:
        activity = await make_activity(db, world, title="敬老院探访", description="陪老人聊天、打扫房间")
        now = clock.now()
        db.add(
            Attendance(
                community_id=world.cid,
                activity_id=activity.id,
                member_id=world.members[name].id,
                status="out",
                evidence="manual" if manual else "kiosk",
                checked_in_at=now - timedelta(minutes=min(minutes, 240) + 5),
                checked_out_at=now - timedelta(minutes=5),
                minutes=minutes,
                requested_by=world.members["organizer"].id if manual else None,
                approved_by=world.members["organizer2"].id if manual else None,
            )
        )
        await db.commit()


async def _identity(client: Any, world: World, name: str, number: str) -> dict[str, Any]:
    r = await client.put(
        "/api/v1/me/identity", headers=world.h[name], json={"id_type": "resident_id", "id_number": number}
    )
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def _issue(client: Any, world: World, who: str, member: str) -> Any:
    return await client.post(
        f"/api/v1/communities/{world.cid}/members/{world.members[member].id}/certificates",
        headers=world.h[who],
        json={},
    )


async def _actions(maker: Any) -> list[str]:
    async with maker() as db:
        return [e.action for e in (await db.execute(select(AuditEvent).order_by(AuditEvent.seq))).scalars()]


# ---------------------------------------------------------------- item 1: real-name records, kept safe


async def test_identity_is_checked_encrypted_at_rest_and_masked(
    client: Any, world: World, maker: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    bad = await client.put(
        "/api/v1/me/identity",
        headers={**world.h["alice"], **ZH},
        json={"id_type": "resident_id", "id_number": "110105194912310021"},
    )
    assert bad.status_code == 422 and bad.headers["content-type"].startswith("application/problem+json")
    assert bad.json()["code"] == "id_number_invalid"
    assert bad.json()["detail"] == "证件号码与证件类型不符或校验位错误，请逐位核对。"
    unknown = await client.put(
        "/api/v1/me/identity", headers=world.h["alice"], json={"id_type": "card", "id_number": ALICE_ID}
    )
    assert unknown.status_code == 422 and unknown.json()["code"] == "id_type_unknown"

    mine = await _identity(client, world, "alice", ALICE_ID.lower())
    assert mine["number_masked"] == "1101**********002X"
    assert mine["id_type_name"] == "居民身份证"
    assert mine["volunteer_number"].startswith("JF") and "id_number" not in {
        k for k, v in mine.items() if v is not None
    }
    again = await _identity(client, world, "alice", ALICE_ID)
    assert again["volunteer_number"] == mine["volunteer_number"]  # the volunteer number is for good
    bobs = await _identity(client, world, "bob", BOB_ID)
    assert bobs["volunteer_number"] != mine["volunteer_number"]

    # The same document on another account is refused.
    taken = await client.put(
        "/api/v1/me/identity",
        headers=world.h["carol"],
        json={"id_type": "resident_id", "id_number": ALICE_ID},
    )
    assert taken.status_code == 409 and taken.json()["code"] == "id_number_taken"

    # At rest: the raw row holds neither the number nor its digits in clear.
    async with maker() as db:
        rows = (await db.execute(text("SELECT * FROM records_identities"))).mappings().all()
    assert len(rows) == 2
    for row in rows:
        for value in row.values():
            raw = bytes(value) if isinstance(value, bytes | memoryview) else str(value).encode()
            assert ALICE_ID.encode() not in raw and BOB_ID.encode() not in raw
            assert b"19491231" not in raw and b"19900101" not in raw

    # Only the holder sees the whole number.
    whole = await client.get("/api/v1/me/identity", headers=world.h["alice"])
    assert whole.status_code == 200 and whole.json()["identity"]["id_number"] == ALICE_ID
    none = await client.get("/api/v1/me/identity", headers=world.h["organizer"])
    assert none.status_code == 200 and none.json() == {"identity": None}
    # Never logged.
    assert ALICE_ID not in caplog.text and "19491231" not in caplog.text


# ---------------------------------------------------------------- items 2 and 3: certificates, stars


async def test_certificate_states_every_fact_in_the_pdf_and_verifies(
    client: Any, world: World, maker: Any
) -> None:
    await _served(maker, world, "alice", 6000)  # 100 h: one star
    await _served(maker, world, "alice", 90, manual=True)
    await _served(maker, world, "bob", 30)
    r = await client.put(
        f"/api/v1/communities/{world.cid}/issuer",
        headers=world.h["admin"],
        json={"person_in_charge": "张书记", "handler": "李干事", "contact": "0931-1234567"},
    )
    assert r.status_code == 200, r.text

    no_id = await _issue(client, world, "alice", "alice")
    assert no_id.status_code == 422 and no_id.json()["code"] == "identity_required"
    await _identity(client, world, "alice", ALICE_ID)

    # Who may issue: the member, an organizer, an admin; not another member nor a clerk.
    assert (await _issue(client, world, "bob", "alice")).status_code == 403
    assert (await _issue(client, world, "clerk", "alice")).status_code == 403
    made = await _issue(client, world, "alice", "alice")
    assert made.status_code == 201, made.text
    cert = made.json()
    assert set(cert) == {"id", "number", "verify_url", "pdf_url"}
    year = clock.now().astimezone(SHANGHAI).year
    assert cert["number"] == f"TEST-COMMUNITY-{year}-00001"
    second = (await _issue(client, world, "organizer", "alice")).json()
    assert second["number"] == f"TEST-COMMUNITY-{year}-00002"  # unique per issuer and year

    hours = await client.get(
        "/api/v1/me/hours", headers=world.h["alice"], params={"community_id": str(world.cid)}
    )
    assert hours.json()["star_level"] == 1

    pdf = await client.get(cert["pdf_url"].replace("http://testserver", ""), headers=world.h["alice"])
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")
    words = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.content)).pages)
    flat = words.replace(" ", "").replace("\n", "")
    for fact in (
        "志愿服务证明",
        cert["number"],
        "测试社区",
        "张书记",
        "李干事",
        "0931-1234567",
        world.members["alice"].name,
        "居民身份证",
        "1101**********002X",
        "JF",
        "敬老院探访",
        "陪老人聊天、打扫房间",
        "101.5",  # total hours: 100 + 1.5
        "（补录）",
        "1星",
        "盖章",
        clock.now().date().isoformat()[:4],
    ):
        assert fact in flat, f"{fact!r} not in the PDF text: {flat[:400]}"
    assert ALICE_ID not in flat and "19491231" not in flat

    # The HTML page, for the member; not for bob.
    page = await client.get(f"/certificates/{cert['id']}", headers={**world.h["alice"], **ZH})
    assert page.status_code == 200 and cert["number"] in page.text and "1101**********002X" in page.text
    assert ALICE_ID not in page.text
    assert (await client.get(f"/certificates/{cert['id']}", headers=world.h["bob"])).status_code == 403
    assert (await client.get(cert["pdf_url"], headers=world.h["bob"])).status_code == 403

    # Public verification: valid, then voided, and an edited number never verifies.
    verify_path = cert["verify_url"].replace("http://testserver", "")
    ok = await client.get(verify_path, headers=ZH)
    assert ok.status_code == 200 and "证明真实有效" in ok.text and cert["number"] in ok.text
    assert "1101**********002X" in ok.text and world.members["alice"].name not in ok.text
    api = await client.get("/api/v1/certificates/verify", params=dict(_query(verify_path)))
    assert api.json()["genuine"] is True and api.json()["status"] == "valid"
    tampered = verify_path.replace("-00001", "-00002")
    assert (await client.get(tampered, headers=ZH)).status_code == 404
    # The signature is hex: change its last digit (replacing the last two by "00" once forged nothing,
    # when the real signature ended in "00").
    forged_path = verify_path[:-1] + ("1" if verify_path[-1] == "0" else "0")
    forged = await client.get(forged_path, headers=ZH)
    assert forged.status_code == 404 and "无法验证此证明" in forged.text

    assert (
        await client.post(
            f"/api/v1/certificates/{cert['id']}/void", headers=world.h["alice"], json={"reason": "x"}
        )
    ).status_code == 403
    voided = await client.post(
        f"/api/v1/certificates/{cert['id']}/void", headers=world.h["organizer"], json={"reason": "时长有误"}
    )
    assert voided.status_code == 200 and voided.json()["status"] == "voided"
    again = await client.post(
        f"/api/v1/certificates/{cert['id']}/void", headers=world.h["organizer"], json={"reason": "again"}
    )
    assert again.status_code == 409 and again.json()["code"] == "certificate_already_voided"
    after = await client.get(verify_path, headers=ZH)
    assert after.status_code == 200 and "已作废" in after.text and "证明真实有效" not in after.text
    api = await client.get("/api/v1/certificates/verify", params=dict(_query(verify_path)))
    assert api.json()["status"] == "voided"
    voided_pdf = await client.get(cert["pdf_url"], headers=world.h["organizer"])
    assert "已作废" in "".join(p.extract_text() for p in PdfReader(io.BytesIO(voided_pdf.content)).pages)

    actions = await _actions(maker)
    assert actions.count("certificate_issued") == 2 and actions.count("certificate_voided") == 1
    assert "issuer_settings_changed" in actions


def _query(path: str) -> list[tuple[str, str]]:
    from urllib.parse import parse_qsl, urlsplit

    return parse_qsl(urlsplit(path).query)


async def test_the_old_certificate_page_leads_to_the_member_certificates(client: Any, world: World) -> None:
    r = await client.get(
        f"/certificate/{world.members['alice'].id}?community={world.cid}",
        headers=world.h["alice"],
        follow_redirects=False,
    )
    assert r.status_code in (301, 302, 303, 307, 308)
    assert r.headers["location"] == f"/members/{world.members['alice'].id}/certificates?community={world.cid}"
    page = await client.get(r.headers["location"], headers={**world.h["alice"], **ZH})
    assert page.status_code == 200 and "请先登记身份证件" in page.text
    assert (await client.get(r.headers["location"], headers=world.h["bob"])).status_code == 403


# ---------------------------------------------------------------- item 5: the hours export


async def test_hours_export_carries_id_numbers_only_for_staff_and_is_audited(
    client: Any, world: World, maker: Any
) -> None:
    await _served(maker, world, "alice", 120)
    await _served(maker, world, "bob", 45, manual=True)
    await _identity(client, world, "alice", ALICE_ID)
    url = f"/api/v1/communities/{world.cid}/hours-export"
    for who in ("alice", "clerk", "reviewer", "partner"):
        assert (await client.get(url, headers=world.h[who], params={"format": "csv"})).status_code == 403
    r = await client.get(url, headers=world.h["organizer"], params={"format": "csv"})
    assert r.status_code == 200, r.text
    table = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert table[0] == [
        "姓名",
        "证件类型",
        "证件号码",
        "志愿者编号",
        "手机号",
        "活动名称",
        "服务内容",
        "服务日期",
        "开始时间",
        "结束时间",
        "服务时长(小时)",
        "组织单位",
        "记录类型",
    ]
    by_name = {row[0]: row for row in table[1:]}
    alice = by_name[world.members["alice"].name]
    assert alice[1:3] == ["居民身份证", ALICE_ID] and alice[3].startswith("JF")
    assert alice[4] == world.members["alice"].phone and alice[5] == "敬老院探访" and alice[10] == "2.0"
    assert alice[11] == "测试社区" and alice[12] == "扫码签到"
    bob = by_name[world.members["bob"].name]
    assert bob[2] == "" and bob[12] == "补录(人工审核)" and bob[10] == "0.75"
    xlsx = await client.get(url, headers=world.h["admin"], params={"format": "xlsx"})
    assert xlsx.status_code == 200
    with zipfile.ZipFile(io.BytesIO(xlsx.content)) as book:
        strings = book.read("xl/sharedStrings.xml").decode()
    assert ALICE_ID in strings and "证件号码" in strings  # the number as text, not a rounded number
    bad = await client.get(url, headers=world.h["organizer"], params={"from": "2026-02-30"})
    assert bad.status_code == 422 and bad.json()["code"] == "export_period_invalid"
    assert (await client.get(url, headers=world.h["organizer"], params={"format": "pdf"})).status_code == 422
    outside = await client.get(
        url, headers=world.h["organizer"], params={"format": "csv", "from": "2001-01-01", "to": "2001-12-31"}
    )
    assert outside.content.decode("utf-8-sig").count("\n") == 1  # the header only
    assert (await _actions(maker)).count("hours_exported") == 3
    # The other exports still mask: the reports' hours export has no ID number.
    other = await client.get(
        "/api/v1/reports/hours",
        headers=world.h["admin"],
        params={"scope": f"community:{world.cid}", "format": "csv"},
    )
    assert ALICE_ID not in other.content.decode("utf-8-sig")


async def test_unknown_certificate_and_member(client: Any, world: World) -> None:
    missing = await client.get(f"/api/v1/certificates/{uuid.uuid4()}", headers=world.h["organizer"])
    assert missing.status_code == 404 and missing.json()["code"] == "certificate_not_found"
    verify = await client.get("/api/v1/certificates/verify", params={"n": "X-2026-00001", "s": "00"})
    assert verify.status_code == 200 and verify.json() == {"genuine": False} | {
        k: None
        for k in (
            "status",
            "number",
            "member_name",
            "id_type_name",
            "id_masked",
            "volunteer_number",
            "issuer_name",
            "total_hours",
            "issued_on",
        )
    }


async def test_star_levels_on_the_hours_api_page_and_board(client: Any, world: World, maker: Any) -> None:
    await _served(maker, world, "alice", 299 * 60)  # 299 h: one star
    await _served(maker, world, "bob", 300 * 60)  # 300 h: two stars
    await _served(maker, world, "carol", 60)
    params = {"community_id": str(world.cid)}
    stars = {}
    for name in ("alice", "bob", "carol"):
        r = await client.get("/api/v1/me/hours", headers=world.h[name], params=params)
        stars[name] = r.json()["star_level"]
    assert stars == {"alice": 1, "bob": 2, "carol": 0}
    page = await client.get("/me/hours", headers={**world.h["bob"], **ZH})
    assert "★★☆☆☆" in page.text and "2星" in page.text
    board = (await client.get(f"/api/v1/communities/{world.cid}/board")).json()
    assert [row["star_level"] for row in board["hours_leaderboard"]] == [2, 1, 0]
    html = await client.get(f"/board/{world.cid}", headers=ZH)
    assert 'data-testid="board-stars"' in html.text and "★★<" in html.text
