"""One date and time style per locale, in the community's time zone, from one helper every template uses."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from pathlib import Path

from service.web.i18n import translator
from service.web.render import env

TEMPLATES = Path(__file__).resolve().parents[2] / "service" / "web" / "templates"
MOMENT = datetime(2026, 11, 23, 9, 34, 56, tzinfo=UTC)  # 17:34 in Shanghai


def test_a_moment_reads_the_same_way_everywhere_in_each_language() -> None:
    zh, en = translator("zh_CN"), translator("en")
    assert zh.datetime(MOMENT, "Asia/Shanghai") == "2026年11月23日 17:34"
    assert en.datetime(MOMENT, "Asia/Shanghai") == "November 23, 2026, 5:34\u202fPM"  # CLDR's narrow space
    assert zh.date(MOMENT, "Asia/Shanghai") == "2026年11月23日"
    assert zh.time(MOMENT, "Asia/Shanghai") == "17:34"
    assert zh.datetime(None) == "" and zh.date(None) == ""


def test_the_community_time_zone_decides_the_day() -> None:
    late = datetime(2026, 11, 23, 17, 30, tzinfo=UTC)
    assert translator("zh_CN").date(late, "Asia/Shanghai") == "2026年11月24日"  # already tomorrow there
    assert translator("zh_CN").date(late, "Asia/Urumqi") == "2026年11月23日"
    naive = datetime(2026, 11, 23, 9, 34)  # the database's UTC without a zone
    assert translator("zh_CN").datetime(naive, "Asia/Shanghai") == "2026年11月23日 17:34"


def test_days_months_spans_and_hours() -> None:
    zh, en = translator("zh_CN"), translator("en")
    assert zh.date("20261123") == zh.date("2026-11-23") == zh.date(date(2026, 11, 23)) == "2026年11月23日"
    assert zh.month("2026-11") == "2026年11月" and en.month("2026-11") == "November 2026"
    assert zh.date("2026xx") == "2026xx" and zh.month("bad") == "bad"  # shown as it came, never a 500
    end_same_day = datetime(2026, 11, 23, 11, 0, tzinfo=UTC)
    assert zh.span(MOMENT, end_same_day, "Asia/Shanghai") == "2026年11月23日 17:34 – 19:00"
    next_day = datetime(2026, 11, 24, 11, 0, tzinfo=UTC)
    assert zh.span(MOMENT, next_day, "Asia/Shanghai") == "2026年11月23日 17:34 – 2026年11月24日 19:00"
    assert zh.hours(30) == "0.5 小时" and en.hours(30) == "0.5 h"
    assert zh.hours(90) == "1.5 小时" and zh.hours(0) == "0 小时" and zh.hours(None) == "0 小时"
    assert zh.hours_number(3) == "0.1" and zh.hours_number(60 * 1234) == "1,234"


def test_templates_get_the_same_style_through_filters() -> None:
    page = env.from_string("{{ t|datetime }} · {{ t|date }} · {{ m|hours }} · {{ '2026-11'|month }}")
    assert page.render(lang="zh_CN", tz="Asia/Shanghai", t=MOMENT, m=30) == (
        "2026年11月23日 17:34 · 2026年11月23日 · 0.5 小时 · 2026年11月"
    )
    assert page.render(lang="en", tz="Asia/Shanghai", t=MOMENT, m=30).startswith(
        "November 23, 2026, 5:34\u202fPM"
    )


def test_no_template_formats_a_date_or_an_hour_count_by_itself() -> None:
    own_format = re.compile(r"strftime|isoformat|\.date\(\)|/\s*60\b|%Y|%m|%d")
    offenders = {
        f"{path.relative_to(TEMPLATES)}:{n}": line.strip()
        for path in sorted(TEMPLATES.rglob("*.html"))
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if own_format.search(line)
    }
    assert not offenders, f"use the datetime/date/time/month/hours filters or fmt_dt: {offenders}"
