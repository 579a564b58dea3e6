"""Every figure of a small region tree, worked out by hand; children sum to their parent."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from service.reports import rules, service
from service.reports.schemas import ReportOut
from tests.reports_data import EXPECTED, ReportWorld, build_report_world

NOVEMBER = rules.parse_period("2026-11", date(2026, 11, 23))


async def report(db: AsyncSession, w: ReportWorld, scope: str, period: rules.Period = NOVEMBER) -> ReportOut:
    resolved = await service.resolve_scope(db, w.root, scope)
    return await service.build_report(db, resolved, period)


def totals(r: ReportOut) -> dict[str, float | None]:
    return {f.key: f.total for f in r.figures}


@pytest.fixture
async def w(db: AsyncSession) -> ReportWorld:
    return await build_report_world(db)


async def test_each_community_has_the_figures_worked_out_by_hand(db: AsyncSession, w: ReportWorld) -> None:
    for key, expected in EXPECTED.items():
        got = totals(await report(db, w, f"community:{w.ids[key]}"))
        assert {k: got[k] for k in expected} == expected, key


async def test_street_is_the_sum_of_its_communities_and_each_child_row_matches(
    db: AsyncSession, w: ReportWorld
) -> None:
    street = await report(db, w, f"region:{w.ids['street']}")
    assert sorted(c.name for c in street.children) == sorted(["甲社区", "乙社区"])
    got = totals(street)
    for k in EXPECTED["A"]:
        assert got[k] == EXPECTED["A"][k] + EXPECTED["B"][k], k
    for f in street.figures:
        if f.kind in {"flow", "stock", "distinct"}:
            assert sum(c.total or 0 for c in f.children) == pytest.approx(f.total), f.key
            assert sum(c.previous or 0 for c in f.children) == pytest.approx(f.previous), f.key
            if f.kind == "flow":
                assert sum(m or 0 for m in f.months) == pytest.approx(f.total), f.key


async def test_district_and_city_roll_up_streets(db: AsyncSession, w: ReportWorld) -> None:
    district = await report(db, w, f"region:{w.ids['district']}")
    city = await report(db, w, f"region:{w.ids['city']}")
    assert sorted(c.name for c in district.children) == sorted(["敦煌路街道", "石油路街道"])
    d = totals(district)
    assert d["active_volunteers"] == 6 and d["service_hours"] == 8.5 and d["checkins"] == 6
    assert totals(city) == d
    for f in district.figures:
        if f.kind != "ratio":
            assert sum(c.total or 0 for c in f.children) == pytest.approx(f.total), f.key


async def test_satisfaction_and_funnel_medians_are_exact(db: AsyncSession, w: ReportWorld) -> None:
    street = await report(db, w, f"region:{w.ids['street']}")
    sat = next(f for f in street.figures if f.key == "satisfaction")
    assert sat.total == 60.0  # wish stars 5, 3, 4 and activity stars 5, 2: 3 of 5 are 4-5 stars
    assert {c.name: c.total for c in sat.children} == {"甲社区": 50.0, "乙社区": 100.0}
    assert sat.previous == 100.0  # one 4-star activity rating in October
    funnel = {f.key: f.total for f in street.figures}
    assert [funnel[k] for k in ("wishes_posted", "wishes_dispatched", "wishes_accepted")] == [6, 5, 4]
    medians = {m.key: m for m in street.medians}
    assert medians["dispatch"].hours == 4.0  # 1, 2, 4, 6, 7 (the last taken from the pool)
    assert {c.name: c.total for c in medians["dispatch"].children} == {"甲社区": 5.0, "乙社区": 1.0}
    assert medians["accept"].hours == 5.5  # 2, 4, 7, 8 -> (4 + 7) / 2; an offer still waiting is left out
    assert {c.name: c.total for c in medians["accept"].children} == {"甲社区": 7.0, "乙社区": 2.0}
    assert medians["complete"].hours == 6.0  # 2, 6, 10 after accepting
    assert {c.name: c.total for c in medians["complete"].children} == {"甲社区": 8.0, "乙社区": 2.0}


async def test_an_event_after_midnight_local_on_the_first_counts_in_the_new_month(
    db: AsyncSession, w: ReportWorld
) -> None:
    # 2026-11-30 17:00 UTC is 2026-12-01 01:00 in Shanghai.
    december = await report(
        db, w, f"community:{w.ids['A']}", rules.parse_period("2026-12", date(2026, 12, 2))
    )
    got = totals(december)
    assert got["checkins"] == 1 and got["activities"] == 1 and got["service_hours"] == 1.5
    assert got["points_outstanding"] == 130 and got["points_issued"] == 10
    # and the comparison with November is the November report's figures
    assert {f.key: f.previous for f in december.figures}["checkins"] == 3


async def test_quarter_trend_has_three_months_and_previous_quarter(db: AsyncSession, w: ReportWorld) -> None:
    q4 = await report(db, w, f"community:{w.ids['A']}", rules.parse_period("2026-Q4", date(2026, 11, 23)))
    assert q4.months == ["2026-10", "2026-11", "2026-12"]
    f = {x.key: x for x in q4.figures}
    assert f["checkins"].months == [0, 3, 1] and f["checkins"].total == 4
    assert f["active_volunteers"].total == 3  # m1 in November and December counts once
    assert f["teams"].months == [1, 2, 2] and f["points_outstanding"].months == [50, 120, 130]
    assert f["points_issued"].months == [50, 100, 10]


async def test_claims_by_rule_partners_and_top_lists(db: AsyncSession, w: ReportWorld) -> None:
    street = await report(db, w, f"region:{w.ids['street']}")
    (rule,) = street.claims_by_rule
    assert (rule.title, rule.submitted, rule.approved, rule.objected, rule.rejected) == (
        "垃圾分类",
        3,
        1,
        1,
        1,
    )
    assert [(p.partner, p.points, p.share_percent) for p in street.partners] == [
        ("商店B", 60, 75.0),
        ("商店A", 20, 25.0),
    ]
    assert [(t.name, t.hours) for t in street.top_teams] == [("红马甲", 3.5)]
    assert [(m.name, m.hours) for m in street.top_members] == [
        ("陈*红", 2.0),
        ("刘*国", 1.0),
        ("王*成", 1.0),
        ("周*兰", 0.5),
    ]


async def test_service_hours_export_rows(db: AsyncSession, w: ReportWorld) -> None:
    resolved = await service.resolve_scope(db, w.root, f"community:{w.ids['A']}")
    rows = await service.hours_export(db, resolved, NOVEMBER)
    assert sorted(rows) == sorted(
        [
            ("刘建国", "139****0002", "垃圾分类宣传", "2026-11-03", 1.0, "管理员A"),
            ("周玉兰", "139****0003", "清晨巡河", "2026-11-01", 0.5, "管理员A"),
            ("陈小红", "139****0001", "垃圾分类宣传", "2026-11-03", 2.0, "管理员A"),
        ]
    )
