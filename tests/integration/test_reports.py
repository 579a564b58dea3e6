"""Every figure of a small region tree, worked out by hand; children sum to their parent."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import msgspec
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from service import clock
from service.accounts import service as accounts
from service.accounts.models import Membership
from service.activities.models import Activity, Attendance
from service.cli import main
from service.kit.months import add_months
from service.points import service as points
from service.reports import rules, service
from service.reports.models import AccountMonth, MemberMonth, MemberYear
from service.reports.schemas import ReportOut
from tests.reports_data import EXPECTED, ReportWorld, build_report_world
from tests.support.database import db_env
from tests.support.database import in_thread as _in_thread
from tests.support.summaries import assert_summary_equals_rebuild, summary_rows
from tests.support.world import SECRET

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


# ---------------------------------------------------------------- summaries kept by triggers (0013)
#
# Month-aligned periods read the member-month, member-year and account-month summaries; custom
# periods that do not start on the first of a month read the raw rows. Every figure must be the same
# both ways, after any edit, and equal to a rebuild from the raw rows.

SCOPES = ("A", "B", "C", "street", "district", "city")
PERIODS = ("2026-10", "2026-11", "2026-12", "2026-Q4", "2026", "2027", "2026-10-01..2026-11-30")


async def both_ways(db: AsyncSession, w: ReportWorld, scope_key: str, raw_period: str) -> tuple[Any, Any]:
    kind = "community" if len(scope_key) == 1 else "region"
    scope = await service.resolve_scope(db, w.root, f"{kind}:{w.ids[scope_key]}")
    period = rules.parse_period(raw_period, date(2026, 11, 23))
    assert service._summary_months(period, list(scope.communities)) is not None, raw_period
    from_summary = await service.build_report(db, scope, period)
    with pytest.MonkeyPatch.context() as m:
        m.setattr(service, "_summary_months", lambda _p, _c: None)
        from_raw = await service.build_report(db, scope, period)
    return msgspec.to_builtins(from_summary), msgspec.to_builtins(from_raw)


async def assert_summary_equals_raw(db: AsyncSession, w: ReportWorld) -> None:
    await db.flush()
    for scope_key in SCOPES:
        for raw_period in PERIODS:
            got, want = await both_ways(db, w, scope_key, raw_period)
            assert got == want, (scope_key, raw_period)


async def test_every_figure_from_the_summaries_equals_the_figure_from_raw_rows(
    db: AsyncSession, w: ReportWorld
) -> None:
    await assert_summary_equals_raw(db, w)
    await assert_summary_equals_rebuild(db)
    rows = await db.execute(
        select(MemberMonth.month, func.sum(MemberMonth.checkins), func.sum(MemberMonth.minutes))
        .where(MemberMonth.community_id == w.ids["A"])
        .group_by(MemberMonth.month)
        .order_by(MemberMonth.month)
    )
    # m3 at 11-01 00:30 local is November; m1 at 12-01 01:00 local is December
    assert [tuple(r) for r in rows] == [(date(2026, 11, 1), 3, 210), (date(2026, 12, 1), 1, 90)]


async def test_summaries_follow_edits_cancellations_and_reversals(db: AsyncSession, w: ReportWorld) -> None:
    A, B, C = (w.ids[k] for k in "ABC")
    p = w.people

    async def attendance(cid: Any, member: str) -> Attendance:
        return (
            await db.scalars(
                select(Attendance)
                .where(Attendance.community_id == cid, Attendance.member_id == p[member].id)
                .order_by(Attendance.checked_in_at)
            )
        ).first()  # type: ignore[return-value]

    (await attendance(A, "m2")).status = "absent"  # marked gone early: no longer counts
    checked_out = await attendance(B, "m5")  # checked in, now checked out with 45 minutes
    checked_out.status, checked_out.minutes = "out", 45
    (await attendance(B, "m4")).minutes = 75  # corrected
    await db.delete(await attendance(C, "m6"))
    # m3 at a0 moved from 11-01 00:30 local to 10-31 23:30 local: October
    (await attendance(A, "m3")).checked_in_at = datetime(2026, 10, 31, 15, 30, tzinfo=UTC)
    pending = (await db.scalars(select(Attendance).where(Attendance.member_id == p["adminA"].id))).one()
    pending.status = "out"  # the second organizer approved it
    clock.set_now(datetime(2026, 11, 20, tzinfo=UTC))
    award = await points.award(
        db, community_id=A, member_id=p["m2"].id, points=40, code="checkin", idempotency_key="e1"
    )
    clock.set_now(datetime(2026, 12, 2, tzinfo=UTC))
    await points.reverse(db, award.transfer_id)
    clock.set_now(None)
    await assert_summary_equals_raw(db, w)
    await assert_summary_equals_rebuild(db)
    nov = totals(await report(db, w, f"region:{w.ids['street']}"))
    # A: m1 120 + adminA 60 (m2 absent, m3 now October); B: m4 75 + m5 45
    assert (nov["active_volunteers"], nov["checkins"], nov["service_hours"]) == (4, 4, 5.0)
    assert nov["points_issued"] == 140  # 100 + the 40 reversed in December
    dec = totals(
        await report(db, w, f"region:{w.ids['street']}", rules.parse_period("2026-12", date(2026, 12, 9)))
    )
    assert dec["points_issued"] == 10 - 40
    oct_ = totals(await report(db, w, f"community:{A}", rules.parse_period("2026-10", date(2026, 11, 9))))
    assert (oct_["active_volunteers"], oct_["checkins"], oct_["service_hours"]) == (1, 1, 0.5)
    c_year = totals(await report(db, w, f"community:{C}", rules.parse_period("2026", date(2026, 11, 9))))
    assert (c_year["active_volunteers"], c_year["checkins"]) == (0, 0)


@pytest.mark.parametrize(
    ("zone", "last_evening", "next_morning", "month"),
    [
        # 23:30 local on the last day counts in that month, 00:10 the next day in the next one
        ("Asia/Shanghai", datetime(2026, 11, 30, 15, 30), datetime(2026, 11, 30, 16, 10), date(2026, 11, 1)),
        # New York in March: 23:30 EDT on 03-31 is 03:30 UTC on 04-01 (daylight time since 03-08)
        ("America/New_York", datetime(2026, 4, 1, 3, 30), datetime(2026, 4, 1, 4, 10), date(2026, 3, 1)),
    ],
)
async def test_local_month_edges_in_the_communitys_zone(
    db: AsyncSession, w: ReportWorld, zone: str, last_evening: datetime, next_morning: datetime, month: date
) -> None:
    community = await accounts.create_community(db, w.root, "时区社区", "c-zone", zone)
    await points.set_budget(db, community.id, 1_000, set_by=w.root.member_id)
    member = w.people["m1"]
    db.add(Membership(community_id=community.id, member_id=member.id, role="member"))
    for at, minutes in ((last_evening, 20), (next_morning, 30)):
        act = Activity(
            community_id=community.id, title="跨月", starts_at=at.replace(tzinfo=UTC),
            ends_at=at.replace(tzinfo=UTC) + timedelta(hours=1), points_mode="per_attendance", points=10,
            status="open", secret="z" * 32, created_by=member.id,
        )  # fmt: skip
        db.add(act)
        await db.flush()
        db.add(
            Attendance(
                community_id=community.id, activity_id=act.id, member_id=member.id, status="out",
                evidence="kiosk", checked_in_at=at.replace(tzinfo=UTC), minutes=minutes,
            )
        )  # fmt: skip
        clock.set_now(at.replace(tzinfo=UTC))
        await points.award(
            db, community_id=community.id, member_id=member.id, points=minutes, code="checkin",
            idempotency_key=f"z{minutes}",
        )  # fmt: skip
    clock.set_now(None)
    await db.flush()
    rows = await db.execute(
        select(MemberMonth.month, MemberMonth.minutes)
        .where(MemberMonth.community_id == community.id)
        .order_by(MemberMonth.month)
    )
    nxt = add_months(month, 1)
    assert [tuple(r) for r in rows] == [(month, 20), (nxt, 30)]
    issued = await db.execute(
        select(AccountMonth.month, func.sum(AccountMonth.points))
        .where(AccountMonth.community_id == community.id, AccountMonth.kind == "issuance")
        .group_by(AccountMonth.month)
        .order_by(AccountMonth.month)
    )
    assert [tuple(r) for r in issued] == [(month, -20), (nxt, -30)]
    this = month.strftime("%Y-%m")
    scope = await service.resolve_scope(db, w.root, f"community:{community.id}")
    r = await service.build_report(db, scope, rules.parse_period(this, month))
    got = {f.key: (f.total, f.previous) for f in r.figures}
    assert got["service_hours"][0] == round(20 / 60, 1) and got["points_issued"][0] == 20
    r = await service.build_report(db, scope, rules.parse_period(nxt.strftime("%Y-%m"), month))
    got = {f.key: (f.total, f.previous) for f in r.figures}
    assert got["service_hours"] == (0.5, round(20 / 60, 1)) and got["points_issued"] == (30, 20)
    years = await db.execute(
        select(MemberYear.year, MemberYear.checkins).where(MemberYear.community_id == community.id)
    )
    assert [tuple(r) for r in years] == [(2026, 2)]
    await assert_summary_equals_rebuild(db)


async def test_rebuild_command_recomputes_summaries_that_drifted(
    db: AsyncSession,
    w: ReportWorld,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name, value in db_env(database_url).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("JIFEN_SECRET_KEY", SECRET)
    await db.flush()
    kept = await summary_rows(db)
    before = totals(await report(db, w, f"region:{w.ids['city']}"))
    # what triggers cannot see: rows changed behind their back
    await db.execute(text("DELETE FROM report_member_years"))
    await db.execute(text("UPDATE report_member_months SET minutes = 0"))
    await db.execute(text("DELETE FROM report_account_months WHERE kind = 'issuance'"))
    await db.commit()
    assert totals(await report(db, w, f"region:{w.ids['city']}")) != before
    await db.commit()
    assert _in_thread(main, ["reports", "rebuild"]) == 0
    out = capsys.readouterr().out
    assert "report_member_months: 7 rows" in out and "report_member_years: 6 rows" in out
    assert await summary_rows(db) == kept
    assert totals(await report(db, w, f"region:{w.ids['city']}")) == before


def test_sqlite_local_month_function_matches_the_zone() -> None:
    from service.db import local_month

    assert local_month("2026-11-30 15:30:00.000000", "Asia/Shanghai") == "2026-11-01"
    assert local_month("2026-11-30 16:00:00.000000", "Asia/Shanghai") == "2026-12-01"
    assert local_month("2026-04-01 03:30:00+00:00", "America/New_York") == "2026-03-01"
    assert local_month("2026-04-01T04:00:00", "America/New_York") == "2026-04-01"
    assert local_month(None, "Asia/Shanghai") is None


async def test_a_custom_period_off_month_edges_reads_the_raw_rows(db: AsyncSession, w: ReportWorld) -> None:
    period = rules.parse_period("2026-11-02..2026-11-30", date(2026, 11, 23))
    scope = await service.resolve_scope(db, w.root, f"community:{w.ids['A']}")
    assert service._summary_months(period, list(scope.communities)) is None
    got = totals(await service.build_report(db, scope, period))
    # m3 at 11-01 00:30 local falls before the period; m1 and m2 at a1 count
    assert (got["active_volunteers"], got["checkins"], got["service_hours"]) == (2, 2, 3.0)
