"""Spreadsheets of a report: .xlsx (one sheet per section, Chinese headers) and CSV (UTF-8 with BOM)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from zoneinfo import ZoneInfo

from service.kit import csv as kit_csv
from service.kit.xlsx import xlsx_bytes
from service.reports.schemas import ReportOut

__all__ = [
    "FIGURE_NAMES",
    "HOURS_HEADER",
    "csv_bytes",
    "report_csv",
    "report_sections",
    "report_xlsx",
    "xlsx_bytes",
]

FIGURE_NAMES: dict[str, tuple[str, str]] = {
    "active_volunteers": ("Active volunteers", "活跃志愿者"),
    "new_members": ("New registrations", "新注册"),
    "teams": ("Volunteer teams", "志愿服务队"),
    "activities": ("Activities held", "开展活动"),
    "checkins": ("Check-ins", "签到人次"),
    "service_hours": ("Service hours", "服务时长(小时)"),
    "people_served": ("People served", "服务群众人次"),
    "points_issued": ("Points issued", "发放积分"),
    "points_spent": ("Points spent", "兑换积分"),
    "points_expired": ("Points expired", "过期积分"),
    "points_outstanding": ("Points outstanding", "未兑换积分"),
    "orders": ("Store orders", "超市订单"),
    "orders_fulfilled": ("Orders collected", "已领取订单"),
    "redemptions": ("Partner redemptions", "联盟商家核销"),
    "redemption_points": ("Points redeemed at partners", "商家核销积分"),
    "claims_submitted": ("Good-conduct claims", "善行申报"),
    "claims_approved": ("Claims approved", "申报通过"),
    "claims_rejected": ("Claims rejected", "申报驳回"),
    "wishes_posted": ("Wishes posted (点单)", "点单"),
    "wishes_dispatched": ("Wishes dispatched (派单)", "派单"),
    "wishes_accepted": ("Wishes accepted (接单)", "接单"),
    "wishes_completed": ("Wishes completed", "完成"),
    "wishes_rated": ("Wishes rated (评单)", "评单"),
    "wishes_fulfilled": ("Wishes fulfilled", "实现心愿"),
    "satisfaction": ("Satisfaction (4-5 stars, %)", "满意度(4-5星,%)"),
    "dispatch": ("Median hours to dispatch", "派单用时中位数(小时)"),
    "accept": ("Median hours to accept", "接单用时中位数(小时)"),
    "complete": ("Median hours to complete", "完成用时中位数(小时)"),
}
"""(English, Chinese) name of every figure: the page shows the reader's language, files are Chinese."""

HOURS_HEADER = ["姓名", "手机号", "活动", "日期", "时长(小时)", "组织者"]

Row = Sequence[object]


def _zh(key: str) -> str:
    return FIGURE_NAMES.get(key, (key, key))[1]


def _local(r: ReportOut) -> str:
    """The moment the report's data is as of, to the second in its time zone (empty if unknown)."""
    if r.as_of is None:
        return ""
    return r.as_of.astimezone(ZoneInfo(r.timezone)).strftime("%Y-%m-%d %H:%M:%S")


def report_sections(r: ReportOut) -> list[tuple[str, list[Row]]]:
    """The report as (sheet name, rows) sections; the first row of each is its header."""
    head = [
        ["范围", r.scope.name],
        ["期间", f"{r.first_day} 至 {r.last_day}"],
        ["对比期间", r.previous_period],
        ["时区", r.timezone],
        ["数据截至", _local(r)],
        [],
        ["指标", "本期", "上期", "变化(%)"],
    ]
    overview: list[Row] = [*head, *([_zh(f.key), f.total, f.previous, f.change_percent] for f in r.figures)]
    overview += [[_zh(m.key), m.hours, None, None] for m in r.medians]
    trend: list[Row] = [["指标", *r.months], *([_zh(f.key), *f.months] for f in r.figures)]
    sections: list[tuple[str, list[Row]]] = [("总览", overview), ("月度趋势", trend)]
    if r.children:
        names = [c.name for c in r.children]
        rows: list[Row] = [["指标", *names]]
        rows += [[_zh(f.key), *(c.total for c in f.children)] for f in r.figures]
        rows += [[_zh(m.key), *(c.total for c in m.children)] for m in r.medians]
        sections.append(("下级区域", rows))
    partners: list[Row] = [["社区", "商家", "核销券数", "核销积分", "占比(%)"]]
    partners += [[p.community, p.partner, p.vouchers, p.points, p.share_percent] for p in r.partners]
    claims: list[Row] = [["规则代码", "规则", "申报", "通过", "有异议", "驳回"]]
    claims += [[c.code, c.title, c.submitted, c.approved, c.objected, c.rejected] for c in r.claims_by_rule]
    ranking: list[Row] = [["服务队", "社区", "服务人次", "时长(小时)"]]
    ranking += [[t.name, t.community, t.checkins, t.hours] for t in r.top_teams]
    ranking += [[], ["志愿者", "", "活动次数", "时长(小时)"]]
    ranking += [[m.name, "", m.activities, m.hours] for m in r.top_members]
    sections += [("联盟商家", partners), ("善行申报", claims), ("排行", ranking)]
    return sections


def csv_bytes(rows: Iterable[Row], tz: str = "Asia/Shanghai") -> bytes:
    """The rows through the one CSV writer (service/kit/csv.py): UTF-8 with BOM, formula-looking
    cells neutralised, times in ``tz``; the first row is the header."""
    table = [list(r) for r in rows]
    head, body = (table[0], table[1:]) if table else ([], [])
    return kit_csv.csv_bytes([str(h) for h in head], body, tz=tz)


def report_csv(r: ReportOut) -> bytes:
    rows: list[Row] = []
    for name, section in report_sections(r):
        rows += [[f"【{name}】"], *section, []]
    return csv_bytes(rows)


def report_xlsx(r: ReportOut) -> bytes:
    return xlsx_bytes(report_sections(r))
