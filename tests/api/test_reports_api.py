"""The reports API: who sees which scope (403 with no figures otherwise), downloads, the region tree."""

from __future__ import annotations

import io
import zipfile
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from service.accounts import service as accounts
from service.regions.models import Region
from service.reports.exports import csv_bytes
from tests.reports_data import ReportWorld, build_report_world
from tests.support.world import SECRET


@pytest.fixture
async def w(client: AsyncTestClient[Any], maker: async_sessionmaker[AsyncSession]) -> ReportWorld:
    async with maker() as db:
        world = await build_report_world(db)
        await db.commit()
    return world


def h(w: ReportWorld, who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {accounts.issue_token(w.people[who], SECRET)}"}


async def get_report(client: AsyncTestClient[Any], w: ReportWorld, who: str, scope: str) -> Any:
    return await client.get(
        "/api/v1/reports", params={"scope": scope, "period": "2026-11"}, headers=h(w, who)
    )


@pytest.mark.parametrize(
    ("who", "scope"),
    [
        ("adminA", "community:A"),
        ("off_street", "community:A"),
        ("off_street", "region:street"),
        ("off_district", "region:street"),
        ("off_district", "community:C"),
        ("root", "region:city"),
    ],
)
async def test_admins_officials_and_officials_above_see_the_figures(
    client: AsyncTestClient[Any], w: ReportWorld, who: str, scope: str
) -> None:
    kind, key = scope.split(":")
    r = await get_report(client, w, who, f"{kind}:{w.ids[key]}")
    assert r.status_code == 200, r.text
    assert {f["key"] for f in r.json()["figures"]} >= {"active_volunteers", "service_hours", "satisfaction"}


@pytest.mark.parametrize(
    ("who", "scope"),
    [
        ("adminA", "community:B"),  # an admin of another community
        ("adminA", "region:street"),  # a community admin is not an official of its street
        ("off_other", "region:street"),  # an official of another street
        ("off_other", "community:A"),
        ("off_street", "region:district"),  # an official below is not one above
        ("m1", "community:A"),  # a volunteer
    ],
)
async def test_others_are_refused_and_get_no_figures(
    client: AsyncTestClient[Any], w: ReportWorld, who: str, scope: str
) -> None:
    kind, key = scope.split(":")
    target = f"{kind}:{w.ids[key]}"
    r = await get_report(client, w, who, target)
    assert r.status_code == 403
    assert r.json()["code"] == "forbidden" and "figures" not in r.json()
    for path in ("/api/v1/reports/export", "/api/v1/reports/hours"):
        r = await client.get(path, params={"scope": target, "format": "csv"}, headers=h(w, who))
        assert r.status_code == 403 and r.json()["code"] == "forbidden"


async def test_bad_scope_and_period_are_refused(client: AsyncTestClient[Any], w: ReportWorld) -> None:
    r = await client.get("/api/v1/reports", params={"scope": "street:1"}, headers=h(w, "root"))
    assert r.status_code == 422 and r.json()["code"] == "invalid_scope"
    r = await client.get(
        "/api/v1/reports",
        params={"scope": f"region:{w.ids['city']}", "period": "2026-13"},
        headers=h(w, "root"),
    )
    assert r.status_code == 422 and r.json()["code"] == "invalid_period"


async def test_xlsx_has_one_sheet_per_section_with_chinese_headers(
    client: AsyncTestClient[Any], w: ReportWorld
) -> None:
    r = await client.get(
        "/api/v1/reports/export",
        params={"scope": f"region:{w.ids['street']}", "period": "2026-11", "format": "xlsx"},
        headers=h(w, "off_street"),
    )
    assert r.status_code == 200
    book = zipfile.ZipFile(io.BytesIO(r.content))
    workbook = book.read("xl/workbook.xml").decode()
    for sheet in ("总览", "月度趋势", "下级区域", "联盟商家", "善行申报", "排行"):
        assert sheet in workbook
    strings = book.read("xl/sharedStrings.xml").decode()
    assert "活跃志愿者" in strings and "石油路街道" in strings


async def test_csv_has_a_bom_and_the_figures(client: AsyncTestClient[Any], w: ReportWorld) -> None:
    r = await client.get(
        "/api/v1/reports/export",
        params={"scope": f"community:{w.ids['A']}", "period": "2026-11", "format": "csv"},
        headers=h(w, "adminA"),
    )
    assert r.status_code == 200 and r.content.startswith(b"\xef\xbb\xbf")
    text = r.content.decode("utf-8-sig")
    assert "服务时长(小时),3.5,0.0," in text.replace('"', "") or "服务时长(小时),3.5," in text


async def test_hours_export_lists_each_volunteer_with_a_masked_phone(
    client: AsyncTestClient[Any], w: ReportWorld
) -> None:
    r = await client.get(
        "/api/v1/reports/hours",
        params={"scope": f"community:{w.ids['A']}", "period": "2026-11", "format": "csv"},
        headers=h(w, "adminA"),
    )
    lines = r.content.decode("utf-8-sig").splitlines()
    assert lines[0] == "姓名,手机号,活动,日期,时长(小时),组织者"
    assert "陈小红,139****0001,垃圾分类宣传,2026-11-03,2.0,管理员A" in lines and len(lines) == 4
    assert "13900000001" not in r.text


def test_csv_cells_that_look_like_formulas_are_neutralised() -> None:
    text = csv_bytes([["=SUM(A1)", "+1", "-2", "@x", "\tt", "ok", 3]]).decode("utf-8-sig")
    assert text.strip() == "'=SUM(A1),'+1,'-2,'@x,'\tt,ok,3"


async def test_only_the_platform_admin_manages_regions(
    client: AsyncTestClient[Any], w: ReportWorld, maker: async_sessionmaker[AsyncSession]
) -> None:
    async def count() -> int:
        async with maker() as db:
            return int(await db.scalar(select(func.count()).select_from(Region)) or 0)

    before = await count()
    body = {"name": "新街道", "code": "xinjie", "level": "street", "parent_id": str(w.ids["district"])}
    r = await client.post("/api/v1/regions", json=body, headers=h(w, "off_district"))
    assert r.status_code == 403 and r.json()["code"] == "forbidden" and await count() == before
    r = await client.post("/api/v1/regions", json=body | {"level": "district"}, headers=h(w, "root"))
    assert r.status_code == 422 and r.json()["code"] == "invalid_region_level" and await count() == before
    r = await client.post("/api/v1/regions", json=body, headers=h(w, "root"))
    assert r.status_code == 201 and await count() == before + 1
    r = await client.post("/api/v1/regions", json=body, headers=h(w, "root"))
    assert r.status_code == 409 and r.json()["code"] == "region_code_taken"
    # an official sees their subtree only
    r = await client.get("/api/v1/regions", headers=h(w, "off_street"))
    assert [x["name"] for x in r.json()["regions"]] == ["石油路街道"]
    assert len(r.json()["regions"][0]["community_ids"]) == 2


async def test_a_new_official_sees_the_street_report(client: AsyncTestClient[Any], w: ReportWorld) -> None:
    scope = f"region:{w.ids['street']}"
    assert (await get_report(client, w, "m6", scope)).status_code == 403
    r = await client.post(
        f"/api/v1/regions/{w.ids['street']}/officials", json={"phone": "13900000006"}, headers=h(w, "root")
    )
    assert r.status_code == 200 and r.json()["phone"] == "139****0006"
    assert (await get_report(client, w, "m6", scope)).status_code == 200


async def test_regions_page_is_for_the_platform_admin(client: AsyncTestClient[Any], w: ReportWorld) -> None:
    r = await client.get("/admin/regions", headers=h(w, "root"))
    assert r.status_code == 200 and "石油路街道" in r.text and "甲社区" in r.text
    r = await client.get("/admin/regions", headers=h(w, "off_district"))
    assert r.status_code == 403 and "石油路街道" not in r.text


async def test_reports_page_opens_on_the_officials_region(
    client: AsyncTestClient[Any], w: ReportWorld
) -> None:
    r = await client.get("/reports", params={"period": "2026-11"}, headers=h(w, "off_street"))
    assert r.status_code == 200 and "石油路街道" in r.text and 'data-chart="children"' in r.text
    r = await client.get(
        "/reports", params={"scope": f"region:{w.ids['district']}"}, headers=h(w, "off_street")
    )
    assert r.status_code == 403 and "data-chart" not in r.text
    r = await client.get("/reports", headers=h(w, "m1"))
    assert r.status_code == 403


async def test_without_a_standby_the_figures_come_from_the_primary_as_of_the_read(
    client: AsyncTestClient[Any], w: ReportWorld
) -> None:
    from datetime import UTC, datetime, timedelta
    from zoneinfo import ZoneInfo

    before = datetime.now(UTC).replace(microsecond=0)
    r = await get_report(client, w, "adminA", f"community:{w.ids['A']}")
    body = r.json()
    assert body["read_from"] == "primary"
    assert before <= datetime.fromisoformat(body["as_of"]) <= datetime.now(UTC)
    scope = {"scope": f"community:{w.ids['A']}", "period": "2026-11"}
    fmt = {**scope, "format": "csv"}
    csv = await client.get("/api/v1/reports/export", params=fmt, headers=h(w, "adminA"))
    line = next(x for x in csv.content.decode("utf-8-sig").splitlines() if x.startswith("数据截至"))
    stated = datetime.fromisoformat(line.split(",")[1]).replace(tzinfo=ZoneInfo(body["timezone"]))
    assert before <= stated <= datetime.now(UTC) + timedelta(seconds=1)
    page = await client.get("/reports", params=scope, headers=h(w, "adminA"))
    assert 'data-read-from="primary"' in page.text and "数据截至" in page.text
