"""HTTP routes of the reports: the figures as JSON, and as .xlsx and CSV downloads."""

from __future__ import annotations

import uuid
from typing import Annotated, Any
from urllib.parse import quote

import msgspec
from litestar import Controller, Response, get
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import Parameter, QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from service.accounts.actor import Actor
from service.errors import raises
from service.http import MonthQuery, errors_of
from service.replica import ReportReader
from service.reports import alliance, exports, rules
from service.reports.errors import InvalidFormat
from service.reports.schemas import AllianceOut, ReportOut
from service.reports.views import load_hours, load_report

__all__ = ["ROUTES", "ReportController"]

ScopeParam = Annotated[
    str,
    QueryParameter(
        name="scope",
        max_length=80,
        description="``community:<id>`` or ``region:<id>``",
        schema_extra={"pattern": rules.SCOPE_PATTERN},
    ),
]
PeriodParam = Annotated[
    str | None,
    Parameter(
        max_length=40,
        description="``YYYY-MM`` (default: this month), ``YYYY-Qn``, ``YYYY`` or ``YYYY-MM-DD..YYYY-MM-DD``, "
        "in the communities' time zone",
        schema_extra={"pattern": rules.PERIOD_PATTERN},
    ),
]
FormatParam = Annotated[
    str,
    Parameter(max_length=8, description="``xlsx`` or ``csv``", schema_extra={"enum": list(rules.FORMATS)}),
]
ACCESS = (
    "Forbidden to whoever is not an admin of the community, an official of the region or of a region above "
    "it, or the platform administrator."
)

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _download(body: bytes, fmt: str, stem: str) -> Response[bytes]:
    name = f"{stem}.{fmt}"
    media = XLSX if fmt == "xlsx" else "text/csv; charset=utf-8"
    return Response(
        body,
        media_type=media,
        headers={
            "Content-Disposition": f"attachment; filename=\"report.{fmt}\"; filename*=UTF-8''{quote(name)}",
            "Cache-Control": "no-store",
        },
    )


@raises(InvalidFormat)
def _format(fmt: str) -> str:
    if fmt not in rules.FORMATS:
        raise InvalidFormat()
    return fmt


@raises(InvalidFormat)
def _alliance_format(fmt: str) -> str:
    if fmt not in {"json", "xlsx", "csv"}:
        raise InvalidFormat()
    return fmt


class ReportController(Controller):
    path = "/api/v1/reports"
    tags = ["reports"]

    @get(
        "",
        summary="The figures of a community or region over a period, by month, with the previous period",
        description="For the community's admins, officials of the region or any region above it, and the "
        "platform administrator. Every figure has its total, the previous period, the months and one "
        "value per child region (or community of a street). " + ACCESS,
        responses=errors_of(load_report),
    )
    async def report(
        self,
        db: AsyncSession,
        reader: ReportReader,
        actor: Actor,
        target: ScopeParam,
        period: PeriodParam = None,
    ) -> ReportOut:
        return (await load_report(db, actor, target, period, reader))[2]

    @get(
        "/export",
        summary="The report as a spreadsheet (.xlsx, one sheet per section, or CSV with a BOM)",
        description="Same access as the report. " + ACCESS,
        media_type=XLSX,
        responses=errors_of(_format, load_report),
    )
    async def export(
        self,
        db: AsyncSession,
        reader: ReportReader,
        actor: Actor,
        target: ScopeParam,
        format: FormatParam = "xlsx",
        period: PeriodParam = None,
    ) -> Response[bytes]:
        fmt = _format(format)
        resolved, parsed, report = await load_report(db, actor, target, period, reader)
        body = exports.report_xlsx(report) if fmt == "xlsx" else exports.report_csv(report)
        return _download(body, fmt, f"报表-{resolved.name}-{parsed.label}")

    @get(
        "/hours",
        summary="Service hours per member and activity, in the layout volunteer platforms import",
        description="Columns: name, masked phone, activity, date, hours, organizer. ``member_id`` "
        "narrows it to one volunteer. " + ACCESS,
        media_type=XLSX,
        responses=errors_of(_format, load_hours),
    )
    async def hours(
        self,
        db: AsyncSession,
        reader: ReportReader,
        actor: Actor,
        target: ScopeParam,
        format: FormatParam = "xlsx",
        period: PeriodParam = None,
        member_id: uuid.UUID | None = None,
    ) -> Response[bytes]:
        fmt = _format(format)
        resolved, parsed, read = await load_hours(db, actor, target, period, member_id, reader)
        rows: list[Any] = [exports.HOURS_HEADER, *read.value]
        body = exports.xlsx_bytes([("服务时长", rows)]) if fmt == "xlsx" else exports.csv_bytes(rows)
        return _download(body, fmt, f"服务时长-{resolved.name}-{parsed.label}")

    @get(
        "/alliance",
        summary="The alliance report: each unit x each community, redeemed vouchers and points, by month",
        description="The chosen month (`month`, default this month) and the two before it. `format=csv` or "
        "`xlsx` downloads it (the kit's writers). Same access as the report. " + ACCESS,
        responses={
            200: ResponseSpec(data_container=AllianceOut, description="The report"),
            **errors_of(_alliance_format, alliance.alliance_report),
        },
    )
    async def alliance(
        self,
        db: AsyncSession,
        reader: ReportReader,
        actor: Actor,
        target: ScopeParam,
        month: MonthQuery = None,
        format: FormatParam = "json",
    ) -> Response[Any]:
        fmt = _alliance_format(format)
        report = await alliance.alliance_report(db, actor, target, month, reader)
        if fmt == "json":
            return Response(msgspec.convert(report, AllianceOut, from_attributes=True))
        rows = alliance.alliance_rows(report)
        body = exports.xlsx_bytes([("联盟结算", rows)]) if fmt == "xlsx" else exports.csv_bytes(rows)
        return _download(body, fmt, f"联盟结算-{report.name}-{report.months[-1]}")


ROUTES: list[Any] = [ReportController]
