"""In a browser: a street official's dashboard at phone and desktop widths, charts drawn, figures right."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from service.accounts import service as accounts
from service.accounts.models import Community, Member
from service.activities.models import Team
from tests.reports_data import ReportWorld, build_report_world
from tests.support.database import seeded
from tests.support.world import SECRET

pytestmark = pytest.mark.browser
SHOTS = Path("/tmp/jifen-reports")


@pytest.fixture
def report_world(database_url: str) -> ReportWorld:
    world: ReportWorld = seeded(database_url, build_report_world)
    return world


def _open(browser: Any, base: str, w: ReportWorld, who: str, width: int, locale: str = "zh-CN") -> Any:
    context = browser.new_context(
        viewport={"width": width, "height": 900}, locale=locale, is_mobile=width < 500, device_scale_factor=1
    )
    context.set_default_timeout(15_000)
    host = base.split("//", 1)[1].split(":")[0]
    token = accounts.issue_token(w.people[who], SECRET)
    context.add_cookies([{"name": "jifen_token", "value": token, "domain": host, "path": "/"}])
    return context


def _charts_drew(page: Any) -> list[tuple[str, float, float]]:
    page.wait_for_function("document.querySelectorAll('[data-chart][data-drawn] svg').length >= 4")
    return page.eval_on_selector_all(
        "[data-chart] svg",
        "els => els.map(e => [e.closest('[data-chart]').dataset.chart, e.getBoundingClientRect().width,"
        " e.getBoundingClientRect().height, e.querySelectorAll('path, rect, text').length])",
    )


@pytest.mark.parametrize("width", [390, 1280])
def test_the_dashboard_draws_its_charts_and_shows_the_figures(
    live_server: str, browser: Any, report_world: ReportWorld, width: int
) -> None:
    w = report_world
    context = _open(browser, live_server, w, "off_street", width)
    try:
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(f"{live_server}/reports?period=2026-11")
        assert "石油路街道" in page.locator("[data-testid=report-title]").inner_text()
        as_of = page.locator("[data-testid=as-of]")  # no standby here: as of the moment it was read
        assert as_of.inner_text().startswith("数据截至 2")
        assert as_of.get_attribute("data-read-from") == "primary"
        charts = _charts_drew(page)
        assert {c[0] for c in charts} == {"volunteers", "points", "funnel", "children"}
        for name, cw, ch, shapes in charts:
            assert cw > 200 and ch > 150 and shapes > 5, name
            assert cw <= width, name  # nothing wider than the screen
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        hours = page.locator("[data-testid=figure-service_hours]")
        assert hours.locator(".value").inner_text() == "4.5"
        assert "甲社区" in hours.inner_text() and "3.5" in hours.inner_text()
        assert page.locator("[data-testid=figure-satisfaction] .value").inner_text() == "60"
        assert "陈*红" in page.locator("[data-testid=top-members]").inner_text()
        assert not errors
        SHOTS.mkdir(exist_ok=True)
        page.screenshot(path=str(SHOTS / f"dashboard-{width}.png"), full_page=True)
        page.emulate_media(media="print")
        page.pdf(path=str(SHOTS / f"dashboard-{width}.pdf"), format="A4") if width == 1280 else None
    finally:
        context.close()


def test_period_picker_and_english(live_server: str, browser: Any, report_world: ReportWorld) -> None:
    w = report_world
    context = _open(browser, live_server, w, "adminA", 390, locale="en-US")
    try:
        page = context.new_page()
        page.goto(f"{live_server}/reports?lang=en&period=2026-11")
        assert page.locator("[data-testid=figure-checkins] .value").inner_text() == "3"
        page.select_option("select[name=kind]", "quarter")
        page.fill("input[name=value]", "2026-Q4")
        page.click("[data-testid=period-picker] button[type=submit]")
        page.wait_for_url("**value=2026-Q4**")
        assert page.locator("[data-testid=figure-checkins] .value").inner_text() == "4"
        assert "Service hours" in page.content()
        _charts = page.wait_for_function(
            "document.querySelectorAll('[data-chart][data-drawn] svg').length >= 3"
        )
        # an admin of another community gets the refusal page, not figures
        page.goto(f"{live_server}/reports?scope=community:{w.ids['B']}")
        assert page.locator("[data-testid=figure-checkins]").count() == 0
    finally:
        context.close()


HOSTILE = {"A": "甲</script>社区", "t1": "<!--<script>", "t2": "银发\u2028队", "m1": "</script>\u2028<!--"}
"""Names that end, comment out or split a script element when they reach the page unescaped."""


async def _hostile_world(db: AsyncSession) -> ReportWorld:
    w = await build_report_world(db)
    await db.execute(update(Community).where(Community.id == w.ids["A"]).values(name=HOSTILE["A"]))
    await db.execute(update(Team).where(Team.name == "红马甲").values(name=HOSTILE["t1"]))
    await db.execute(update(Team).where(Team.name == "银发队").values(name=HOSTILE["t2"]))
    await db.execute(update(Member).where(Member.id == w.people["m1"].id).values(name=HOSTILE["m1"]))
    return w


def test_hostile_names_leave_every_chart_drawing(live_server: str, browser: Any, database_url: str) -> None:
    """A team named ``<!--<script>``, a community with ``</script>`` and U+2028 in names: the report's
    data reaches the charts as the same text, and every chart draws."""
    w: ReportWorld = seeded(database_url, _hostile_world)
    for who, count in (("off_street", 4), ("adminA", 3)):
        context = _open(browser, live_server, w, who, 1280)
        try:
            page = context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e, seen=errors: seen.append(str(e)))
            page.goto(f"{live_server}/reports?period=2026-11")
            page.wait_for_function(
                f"document.querySelectorAll('[data-chart][data-drawn] svg').length >= {count}"
            )
            data = page.evaluate("JSON.parse(document.getElementById('report-data').textContent)")
            text = json.dumps(data, ensure_ascii=False)
            if who == "off_street":
                assert HOSTILE["A"] in text
            assert HOSTILE["t1"] in text or HOSTILE["t2"] in text
            assert page.evaluate("document.querySelectorAll('script#report-data').length") == 1
            assert page.evaluate("JSON.parse(document.getElementById('jifen-text').textContent).network")
            assert not errors
        finally:
            context.close()


def test_a_street_official_sets_a_community_budget_on_a_phone(
    live_server: str, browser: Any, report_world: ReportWorld
) -> None:
    """积分发放总量 at 390 px in Chinese: issued vs budget per community, and the official's form."""
    w = report_world
    context = _open(browser, live_server, w, "off_street", 390)
    host = live_server.split("//", 1)[1].split(":")[0]
    context.add_cookies([{"name": "jifen_csrf", "value": "csrf-off-street", "domain": host, "path": "/"}])
    try:
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(f"{live_server}/reports?period=2026-11")
        table = page.locator("[data-testid=budgets]")
        assert "本月积分发放额度" in table.inner_text()
        row = page.locator(f"[data-testid=budget-{w.ids['A']}]")
        assert row.locator("[data-testid=budget-monthly]").inner_text() == "1,000,000"
        form = page.locator(f"[data-testid=budget-form-{w.ids['A']}]")
        form.locator("input[name=monthly_points]").fill("2500")
        form.locator("button[type=submit]").click()
        page.wait_for_function(
            f"document.querySelector('[data-testid=budget-{w.ids['A']}] [data-testid=budget-monthly]')"
            ".textContent.trim() === '2,500'"
        )
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        assert not errors
    finally:
        context.close()
    # an admin of community A sees the figures but no form to set its own budget
    context = _open(browser, live_server, w, "adminA", 390)
    try:
        page = context.new_page()
        page.goto(f"{live_server}/reports?scope=community:{w.ids['A']}&period=2026-11")
        assert page.locator(f"[data-testid=budget-{w.ids['A']}]").count() == 1
        assert page.locator(f"[data-testid=budget-form-{w.ids['A']}]").count() == 0
    finally:
        context.close()


def test_the_dashboard_is_quick_on_a_slow_phone_link_and_cached_after(
    live_server: str, browser: Any, report_world: ReportWorld
) -> None:
    """Cold, on a simulated 1.6 Mbit/s link with 150 ms latency: the page with its figures is ready in
    under 2 s (the chart library, gzipped, follows and the charts draw); a second visit takes the
    versioned files from the cache without asking the server."""
    context = _open(browser, live_server, report_world, "off_street", 390)
    try:
        page = context.new_page()
        cdp = context.new_cdp_session(page)
        cdp.send("Network.enable")
        cdp.send("Network.clearBrowserCache")
        cdp.send(
            "Network.emulateNetworkConditions",
            {
                "offline": False,
                "latency": 150,
                "downloadThroughput": 1_600_000 / 8,
                "uploadThroughput": 750_000 / 8,
            },
        )
        page.goto(f"{live_server}/reports?period=2026-11", wait_until="domcontentloaded")
        ready_ms = page.evaluate(
            "(() => { const n = performance.getEntriesByType('navigation')[0];"
            " return n.domContentLoadedEventEnd - n.startTime; })()"
        )
        assert page.locator("[data-testid=figure-service_hours] .value").inner_text() == "4.5"
        assert ready_ms < 2000, f"figures ready after {ready_ms:.0f} ms"
        charts = _charts_drew(page)
        assert len(charts) >= 4
        drawn_ms = page.evaluate("performance.now()")
        echarts = [e for e in page.evaluate(
            "performance.getEntriesByType('resource').map(e => [e.name, e.transferSize, e.decodedBodySize])"
        ) if "echarts" in e[0]]  # fmt: skip
        assert echarts and "/assets/" in echarts[0][0]
        assert echarts[0][1] < echarts[0][2] // 2, echarts  # went over the wire gzipped
        print(f"\nreports on 1.6 Mbit/s, 150 ms: figures {ready_ms:.0f} ms, charts {drawn_ms:.0f} ms")
        # A second visit: the versioned files come from the cache (nothing transferred).
        page.goto(f"{live_server}/reports?period=2026-11")
        _charts_drew(page)
        again = [e for e in page.evaluate(
            "performance.getEntriesByType('resource').map(e => [e.name, e.transferSize])"
        ) if "/assets/" in e[0]]  # fmt: skip
        assert again and all(size == 0 for _, size in again), again
    finally:
        context.close()
