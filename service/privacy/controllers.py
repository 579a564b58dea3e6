"""HTTP routes of residents' own data: 我的数据 (JSON or .xlsx), the privacy notice, and requests to correct
one's name or phone or delete one's account, which an admin of the community decides."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from litestar import Controller, Response, get, post
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from service.accounts import privacy
from service.accounts import rules as account_rules
from service.accounts.actor import Actor
from service.accounts.models import MemberRequest
from service.http import errors_of
from service.kit.xlsx import xlsx_bytes
from service.privacy import service, views
from service.privacy.schemas import (
    ConsentIn,
    ConsentOut,
    CorrectionRequestIn,
    DecideIn,
    DeletionRequestIn,
    MemberRequestOut,
)

__all__ = ["ROUTES", "PrivacyController"]

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FormatParam = Annotated[
    Literal["json", "xlsx"], Parameter(description="``json`` (default) or ``xlsx`` for a spreadsheet")
]


def request_out(row: MemberRequest, member_name: str | None = None) -> MemberRequestOut:
    return MemberRequestOut(
        id=row.id,
        community_id=row.community_id,
        member_id=row.member_id,
        kind=row.kind,
        status=row.status,
        reason=row.reason,
        created_at=row.created_at,
        due_at=row.due_at,
        new_name=row.new_name,
        new_phone=row.new_phone,
        member_name=member_name,
        decided_at=row.decided_at,
        decision_note=row.decision_note,
    )


class PrivacyController(Controller):
    path = "/api/v1"
    tags = ["privacy"]

    @get(
        "/me/data",
        summary="Everything Jifen holds about the caller (个人信息查阅、复制)",
        description="Sections: profile, memberships and roles, household links, consents, requests, "
        "sign-ups, attendances, ledger accounts and entries, claims, wishes, orders, vouchers and the audit "
        "events about the caller. ``format=xlsx`` gives one sheet per section. Each download is audited.",
        responses=errors_of(service.download),
    )
    async def my_data(self, db: AsyncSession, actor: Actor, format: FormatParam = "json") -> Response[Any]:
        data = await service.download(db, actor, format)
        headers = {"Cache-Control": "no-store"}
        if format == "xlsx":
            headers["Content-Disposition"] = 'attachment; filename="my-data.xlsx"'
            return Response(xlsx_bytes(views.sheets(data)), media_type=XLSX, headers=headers)
        body = {"privacy_notice_version": account_rules.PRIVACY_NOTICE_VERSION, **data}
        return Response(body, headers=headers)

    @post(
        "/me/privacy-consent",
        status_code=200,
        summary="Accept the privacy notice in force (asked again when its version changes)",
        description="A version other than the one in force is privacy_version_stale (409).",
        responses=errors_of(privacy.accept_notice),
    )
    async def consent(self, db: AsyncSession, actor: Actor, data: ConsentIn) -> ConsentOut:
        row = await privacy.accept_notice(db, actor.member_id, data.version)
        return ConsentOut(version=row.version, accepted_at=row.accepted_at)

    @post(
        "/me/correction-request",
        status_code=201,
        summary="Ask the community to correct one's name or mobile number",
        description="An admin of the community decides by due_at; nothing changes until then. One open "
        "correction request at a time.",
        responses=errors_of(privacy.request_correction),
    )
    async def correction(self, db: AsyncSession, actor: Actor, data: CorrectionRequestIn) -> MemberRequestOut:
        row = await privacy.request_correction(
            db, actor, data.community_id, name=data.name, phone=data.phone, reason=data.reason
        )
        return request_out(row)

    @post(
        "/me/deletion-request",
        status_code=201,
        summary="Ask for one's account to be deleted (个人信息删除)",
        description="An admin of the community decides by due_at (15 days). When granted, the name, phone, "
        "password and codes are removed (the name becomes 已注销用户xxxx) and every role ends; the ledger's "
        "amounts and hash chains stay as they were. The audit log keeps its events as evidence.",
        responses=errors_of(privacy.request_deletion),
    )
    async def deletion(self, db: AsyncSession, actor: Actor, data: DeletionRequestIn) -> MemberRequestOut:
        return request_out(await privacy.request_deletion(db, actor, data.community_id, data.reason))

    @get(
        "/communities/{cid:uuid}/member-requests",
        summary="Open correction and deletion requests of the community's members (admins), due first",
        responses=errors_of(privacy.list_requests),
    )
    async def requests(self, db: AsyncSession, actor: Actor, cid: uuid.UUID) -> list[MemberRequestOut]:
        return [request_out(r, n) for r, n in await privacy.list_requests(db, actor, cid)]

    @post(
        "/member-requests/{request_id:uuid}/decide",
        status_code=200,
        summary="Grant or refuse a member's correction or deletion request (an admin, not the member)",
        responses=errors_of(service.decide),
    )
    async def decide(
        self, db: AsyncSession, actor: Actor, request_id: uuid.UUID, data: DecideIn
    ) -> MemberRequestOut:
        return request_out(await service.decide(db, actor, request_id, data.decision, data.note))


ROUTES: list[Any] = [PrivacyController]
