"""HTTP routes of the records: one's ID document, certificates (issue, read, PDF, void, verify), the
issuer's details and the hours export for volunteer platforms."""

from __future__ import annotations

import uuid
from typing import Annotated, Any
from urllib.parse import quote

import msgspec
from litestar import Controller, Response, get, post, put
from litestar.params import Parameter, QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from service.accounts.actor import Actor
from service.config import Settings
from service.errors import raises
from service.http import errors_of
from service.kit import csv as kit_csv
from service.kit.xlsx import xlsx_bytes
from service.records import crypto, rules, service, views
from service.records.errors import ExportFormatUnknown
from service.records.models import Certificate
from service.records.schemas import (
    CertificateCreated,
    CertificateIn,
    CertificateLineOut,
    CertificateOut,
    IdentityIn,
    IdentityOut,
    IssuerIn,
    IssuerOut,
    MyIdentityOut,
    VerificationOut,
    VoidIn,
)

__all__ = ["ROUTES", "CertificateController", "IdentityController", "RecordsController"]

FromParam = Annotated[str | None, QueryParameter(name="from", max_length=10, description="YYYY-MM-DD")]
ToParam = Annotated[str | None, QueryParameter(name="to", max_length=10, description="YYYY-MM-DD")]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def keys_of(settings: Settings) -> crypto.IdKeys:
    return crypto.id_keys(settings.id_key, settings.secret_key)


def _hours(minutes: int) -> float:
    return round(minutes / 60, 2)


def certificate_out(sheet: views.CertificateSheet) -> CertificateOut:
    c: Certificate = sheet.cert
    return CertificateOut(
        id=c.id,
        number=c.number,
        status=c.status,
        community_id=c.community_id,
        team_id=c.team_id,
        issuer_name=c.issuer_name,
        person_in_charge=c.person_in_charge,
        handler=c.handler,
        contact=c.contact,
        member_id=c.member_id,
        member_name=c.member_name,
        id_type=c.id_type,
        id_type_name=sheet.id_type_name,
        id_masked=c.id_masked,
        volunteer_number=c.volunteer_number,
        total_minutes=c.total_minutes,
        total_hours=_hours(c.total_minutes),
        star_level=c.star_level,
        issued_on=c.issued_on,
        issued_by=c.issued_by,
        created_at=c.created_at,
        void_reason=c.void_reason,
        voided_at=c.voided_at,
        verify_url=sheet.verify_url,
        pdf_url=sheet.pdf_url,
        records=[
            CertificateLineOut(
                day=x.day,
                activity=x.activity,
                content=x.content,
                minutes=x.minutes,
                hours=_hours(x.minutes),
                manual=x.manual,
            )
            for x in sheet.lines
        ],
    )


class IdentityController(Controller):
    path = "/api/v1/me/identity"
    tags = ["records"]

    @get(
        summary="My ID document and volunteer number (the whole number, to me only; null before I add one)",
    )
    async def mine(self, db: AsyncSession, actor: Actor, settings: Settings) -> MyIdentityOut:
        v = await views.identity_of(db, actor, keys_of(settings), reveal=True)
        if v is None:
            return MyIdentityOut(identity=None)
        return MyIdentityOut(identity=msgspec.convert(v, IdentityOut, from_attributes=True))

    @put(
        summary="Add or replace my ID document (实名): answers the masked number and my volunteer number",
        description="The number is stored encrypted (AES-GCM) and shown masked everywhere but to its holder; "
        "a 居民身份证 must pass the GB 11643 check digit (422 ``id_number_invalid``).",
        responses=errors_of(service.set_identity),
    )
    async def set_mine(
        self, db: AsyncSession, actor: Actor, settings: Settings, data: IdentityIn
    ) -> IdentityOut:
        row = await service.set_identity(db, actor, keys_of(settings), data.id_type, data.id_number)
        return IdentityOut(
            id_type=row.id_type,
            id_type_name=rules.ID_TYPE_NAMES[row.id_type],
            number_masked=row.number_masked,
            volunteer_number=row.volunteer_number,
        )


@raises(ExportFormatUnknown)
def _format(fmt: str) -> str:
    if fmt not in {"xlsx", "csv"}:
        raise ExportFormatUnknown()
    return fmt


class RecordsController(Controller):
    path = "/api/v1/communities/{cid:uuid}"
    tags = ["records"]

    @post(
        "/members/{mid:uuid}/certificates",
        summary="Issue a service certificate (志愿服务证明, 民政部令第67号) of the member's records",
        description="The member themself, an organizer or an admin. ``team_id`` issues it in the name of one "
        "of the community's teams (that team's activities only). The number is unique per issuer and year.",
        status_code=201,
        responses=errors_of(service.issue_certificate),
    )
    async def issue(
        self,
        db: AsyncSession,
        actor: Actor,
        settings: Settings,
        cid: uuid.UUID,
        mid: uuid.UUID,
        data: CertificateIn | None = None,
    ) -> CertificateCreated:
        cert = await service.issue_certificate(db, actor, cid, mid, data.team_id if data else None)
        keys = keys_of(settings)
        return CertificateCreated(
            id=cert.id,
            number=cert.number,
            verify_url=views.verify_url(settings.public_url, keys, cert),
            pdf_url=views.pdf_url(settings.public_url, cert),
        )

    @get(
        "/issuer",
        summary="What certificates say of the issuer: person in charge, handler, contact (staff)",
        responses=errors_of(views.issuer_of),
    )
    async def issuer(self, db: AsyncSession, actor: Actor, cid: uuid.UUID) -> IssuerOut:
        v = await views.issuer_of(db, actor, cid)
        return IssuerOut(
            community_id=v.community_id,
            person_in_charge=v.person_in_charge,
            handler=v.handler,
            contact=v.contact,
        )

    @put(
        "/issuer",
        summary="Set the issuer's details (admins; audited)",
        responses=errors_of(service.set_issuer),
    )
    async def set_issuer(self, db: AsyncSession, actor: Actor, cid: uuid.UUID, data: IssuerIn) -> IssuerOut:
        row = await service.set_issuer(db, actor, cid, data.person_in_charge, data.handler, data.contact)
        return IssuerOut(
            community_id=cid, person_in_charge=row.person_in_charge, handler=row.handler, contact=row.contact
        )

    @get(
        "/hours-export",
        summary="Service hours for a volunteer platform's import (.xlsx or CSV, Chinese headers)",
        description="Columns: 姓名, 证件类型, 证件号码 (whole: the only export that carries it), "
        "志愿者编号, 手机号, 活动名称, 服务内容, 服务日期, 开始时间, 结束时间, 服务时长(小时), 组织单位, "
        "记录类型. Organizers and admins of the community; ``from``/``to`` local dates (default this "
        "year), ``team_id`` one team's activities. Every export is audited (hours_exported).",
        media_type=XLSX,
        responses=errors_of(_format, service.export_hours),
    )
    async def hours_export(
        self,
        db: AsyncSession,
        actor: Actor,
        settings: Settings,
        cid: uuid.UUID,
        format: Annotated[str, Parameter(max_length=8, description="``xlsx`` (default) or ``csv``")] = "xlsx",
        first: Annotated[
            str | None, QueryParameter(name="from", max_length=10, description="YYYY-MM-DD")
        ] = None,
        last: Annotated[
            str | None, QueryParameter(name="to", max_length=10, description="YYYY-MM-DD")
        ] = None,
        team_id: uuid.UUID | None = None,
    ) -> Response[bytes]:
        fmt = _format(format)
        rows, tz, label = await service.export_hours(
            db, actor, keys_of(settings), cid, team_id=team_id, first=first, last=last, file_format=fmt
        )
        if fmt == "xlsx":
            body = xlsx_bytes([("志愿服务时长", rows)])
        else:
            body = kit_csv.csv_bytes([str(h) for h in rows[0]], rows[1:], tz=tz)
        name = f"志愿服务时长-{label}.{fmt}"
        return Response(
            body,
            media_type=XLSX if fmt == "xlsx" else "text/csv; charset=utf-8",
            headers={
                "Content-Disposition": f"attachment; filename=hours.{fmt}; filename*=UTF-8''{quote(name)}",
                "Cache-Control": "no-store",
            },
        )


class CertificateController(Controller):
    path = "/api/v1/certificates"
    tags = ["records"]

    @get(
        "/verify",
        summary="Verify a certificate (public): the facts masked, and whether it is still valid",
        description="``n`` the number and ``s`` the signature its QR carries; an unknown or edited number "
        "answers ``genuine: false``.",
    )
    async def verify(
        self,
        db: AsyncSession,
        settings: Settings,
        n: Annotated[str, Parameter(max_length=80)] = "",
        s: Annotated[str, Parameter(max_length=80)] = "",
    ) -> VerificationOut:
        v = await views.verify(db, keys_of(settings), n, s)
        if not v.genuine or v.cert is None:
            return VerificationOut(genuine=False)
        c = v.cert
        return VerificationOut(
            genuine=True,
            status=c.status,
            number=c.number,
            member_name=v.masked_name,
            id_type_name=v.id_type_name,
            id_masked=c.id_masked,
            volunteer_number=c.volunteer_number,
            issuer_name=c.issuer_name,
            total_hours=_hours(c.total_minutes),
            issued_on=c.issued_on,
        )

    @get(
        "/{cert_id:uuid}",
        summary="A certificate with every fact it states (its volunteer, organizers and admins)",
        responses=errors_of(views.certificate_sheet),
    )
    async def read(
        self, db: AsyncSession, actor: Actor, settings: Settings, cert_id: uuid.UUID
    ) -> CertificateOut:
        return certificate_out(
            await views.certificate_sheet(db, actor, cert_id, keys_of(settings), settings.public_url)
        )

    @get(
        "/{cert_id:uuid}/pdf",
        summary="The certificate as a print-ready A4 PDF",
        media_type="application/pdf",
        responses=errors_of(views.certificate_sheet),
    )
    async def pdf(
        self, db: AsyncSession, actor: Actor, settings: Settings, cert_id: uuid.UUID
    ) -> Response[bytes]:
        sheet = await views.certificate_sheet(db, actor, cert_id, keys_of(settings), settings.public_url)
        # reportlab (~7 MB of every worker's memory) is loaded by the first certificate a worker prints
        from service.records.pdf import certificate_pdf

        body = certificate_pdf(sheet, settings.pdf_font)
        name = quote(f"志愿服务证明-{sheet.cert.number}.pdf")
        return Response(
            body,
            media_type="application/pdf",
            headers={
                "Content-Disposition": f"inline; filename=\"certificate.pdf\"; filename*=UTF-8''{name}",
                "Cache-Control": "no-store",
            },
        )

    @post(
        "/{cert_id:uuid}/void",
        summary="Void a certificate with a reason (organizers and admins of its community; audited)",
        status_code=200,
        responses=errors_of(service.void_certificate, views.certificate_sheet),
    )
    async def void(
        self, db: AsyncSession, actor: Actor, settings: Settings, cert_id: uuid.UUID, data: VoidIn
    ) -> CertificateOut:
        await service.void_certificate(db, actor, cert_id, data.reason)
        return certificate_out(
            await views.certificate_sheet(db, actor, cert_id, keys_of(settings), settings.public_url)
        )


ROUTES: list[Any] = [IdentityController, RecordsController, CertificateController]
