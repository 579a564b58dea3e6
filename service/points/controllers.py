"""HTTP routes of the points ledger: parse, call the service, return a Struct."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post, put
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from service.accounts.service import Actor, get_community, require_role
from service.errors import InvalidInput
from service.http import Limit, client_address, decode_cursor, encode_cursor, idempotent
from service.points import service
from service.points.models import AwardRequest
from service.points.schemas import (
    AwardIn,
    AwardOut,
    AwardPage,
    BalanceOut,
    EntryOut,
    EntryPage,
    ExpiringOut,
    PolicyIn,
    PolicyOut,
    ProblemOut,
    ReverseIn,
    TransferOut,
    VerifyOut,
)

__all__ = ["ROUTES", "AwardController", "LedgerController", "MyPointsController", "award_out"]

AWARD_DECISION_ERRORS = (
    "Neither the admin who asked nor the member who benefits may decide. Errors: award_not_found (404), "
    "same_admin (403, you asked for it), approver_conflict (403, it is to you), forbidden (403), "
    "award_not_pending (409)."
)
CommunityParam = Annotated[uuid.UUID, Parameter(description="The community")]
Cursor = Annotated[str | None, Parameter(max_length=200)]


def award_out(a: AwardRequest) -> AwardOut:
    return AwardOut(
        a.id,
        a.status,
        a.community_id,
        a.member_id,
        a.points,
        a.reason,
        a.requested_by,
        a.created_at,
        a.memo,
        a.decided_by,
        a.decided_at,
        a.transfer_id,
    )


def _seq(cursor: str | None) -> int | None:
    raw = decode_cursor(cursor)
    if raw is None:
        return None
    if not raw.isdigit() or len(raw) > 18:
        raise InvalidInput("invalid_cursor", "The cursor is not one this API gave out.")
    return int(raw)


class MyPointsController(Controller):
    path = "/api/v1/me"
    tags = ["points"]

    @get(
        "/balance",
        summary="The caller's points in a community",
        description="available = balance - held; `expiring` lists points that expire within 30 days. "
        "Errors: forbidden (not a member), community_not_found (404).",
    )
    async def balance(self, db: AsyncSession, actor: Actor, community_id: CommunityParam) -> BalanceOut:
        await get_community(db, community_id)
        await require_role(db, actor, community_id, "member")
        b = await service.balance(db, community_id, actor.member_id)
        expiring = [ExpiringOut(p, at) for p, at in b.expiring]
        return BalanceOut(community_id, b.available, b.held, b.earned, b.spent, b.expired, expiring)

    @get(
        "/entries",
        summary="The caller's history in a community, newest first",
        description="Filters: since/until (created_at, ISO 8601), code (reason code such as checkin, "
        "manual_award, order, voucher, expiry, reversal). Errors: invalid_cursor, forbidden.",
    )
    async def entries(
        self,
        db: AsyncSession,
        actor: Actor,
        community_id: CommunityParam,
        limit: Limit,
        cursor: Cursor = None,
        since: datetime | None = None,
        until: datetime | None = None,
        code: Annotated[str | None, Parameter(max_length=32)] = None,
    ) -> EntryPage:
        await require_role(db, actor, community_id, "member")
        rows, last = await service.entries(
            db,
            community_id,
            actor.member_id,
            limit=limit,
            before_seq=_seq(cursor),
            since=since,
            until=until,
            code=code,
        )
        items = [
            EntryOut(
                e.id,
                e.points,
                e.code,
                e.memo,
                e.created_at,
                e.transfer_id,
                e.ref_type,
                e.ref_id,
                e.expires_at,
            )
            for e in rows
        ]
        return EntryPage(items, encode_cursor(str(last)) if last is not None else None)


class LedgerController(Controller):
    path = "/api/v1/communities/{cid:uuid}"
    tags = ["points"]

    @post(
        "/awards",
        summary="Award points by hand (admin); accepts Idempotency-Key",
        description="201 with status posted, or 202 with status pending_approval when the points are above "
        "the community's approval threshold or to the caller themself (another admin must approve). "
        "Errors: invalid_points, invalid_reason, member_not_found (404), forbidden (403), "
        "idempotency_conflict (409).",
        responses={
            201: ResponseSpec(data_container=AwardOut, description="posted"),
            202: ResponseSpec(data_container=AwardOut, description="pending_approval"),
        },
    )
    async def award(
        self, request: Request[Any, Any, Any], db: AsyncSession, actor: Actor, cid: uuid.UUID, data: AwardIn
    ) -> Response[bytes]:
        async def work() -> tuple[int, AwardOut]:
            a = await service.request_award(
                db,
                actor,
                cid,
                member_id=data.member_id,
                points=data.points,
                reason=data.reason,
                memo=data.memo,
                client_addr=client_address(request),
            )
            return (201 if a.status == "posted" else 202), award_out(a)

        return await idempotent(request, db, actor, work)

    @get("/awards", summary="Manual awards of the community, newest first (admin)")
    async def awards(
        self,
        db: AsyncSession,
        actor: Actor,
        cid: uuid.UUID,
        limit: Limit,
        status: Annotated[str | None, Parameter(max_length=20, description="e.g. pending_approval")] = None,
    ) -> AwardPage:
        return AwardPage(
            [award_out(a) for a in await service.list_awards(db, actor, cid, status=status, limit=limit)]
        )

    @get(
        "/ledger/verify",
        summary="Check the community's ledger (admin)",
        description="Recomputes hash chains, zero sums, cached balances, lots and holds; problems name the "
        "entry, account or transfer. Errors: forbidden.",
    )
    async def verify(self, db: AsyncSession, actor: Actor, cid: uuid.UUID) -> VerifyOut:
        r = await service.verify_as_admin(db, actor, cid)
        problems = [ProblemOut(**p) for p in r.problems]
        return VerifyOut(
            r.ok, r.accounts_checked, r.entries_checked, r.transfers_checked, problems, r.problems_total
        )

    @post(
        "/transfers/{tid:uuid}/reverse",
        status_code=201,
        summary="Correct a transfer with a reversing transfer (admin)",
        description="Errors: transfer_not_found (404), already_reversed (409), not_reversible (409), "
        "insufficient_points (409) when the member already spent the points, forbidden.",
    )
    async def reverse(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        actor: Actor,
        cid: uuid.UUID,
        tid: uuid.UUID,
        data: ReverseIn,
    ) -> TransferOut:
        r = await service.reverse_as_admin(
            db, actor, cid, tid, data.memo, client_addr=client_address(request)
        )
        return TransferOut(r.transfer_id, r.points, r.replayed)

    @get("/points-policy", summary="The community's expiry rule and award approval threshold")
    async def policy(self, db: AsyncSession, actor: Actor, cid: uuid.UUID) -> PolicyOut:
        await require_role(db, actor, cid, "member")
        p = await service.get_policy(db, cid)
        return PolicyOut(cid, p.expiry_mode, p.expiry_value, p.award_approval_threshold)

    @put(
        "/points-policy",
        summary="Set the expiry rule (for points earned from now on) and the approval threshold (admin)",
        description="expiry_mode: never, days (expiry_value days after earning) or years (end of the "
        "expiry_value-th calendar year, 1 = this year). Errors: invalid_expiry_mode, "
        "invalid_expiry_value, invalid_threshold, forbidden.",
    )
    async def set_policy(self, db: AsyncSession, actor: Actor, cid: uuid.UUID, data: PolicyIn) -> PolicyOut:
        p = await service.set_policy(
            db,
            actor,
            cid,
            expiry_mode=data.expiry_mode,
            expiry_value=data.expiry_value,
            award_approval_threshold=data.award_approval_threshold,
        )
        return PolicyOut(cid, p.expiry_mode, p.expiry_value, p.award_approval_threshold)


class AwardController(Controller):
    path = "/api/v1/awards"
    tags = ["points"]

    @post(
        "/{aid:uuid}/approve",
        status_code=200,
        summary="Approve a pending manual award (an admin other than the one who asked)",
        description=AWARD_DECISION_ERRORS,
    )
    async def approve(
        self, request: Request[Any, Any, Any], db: AsyncSession, actor: Actor, aid: uuid.UUID
    ) -> AwardOut:
        return award_out(await service.approve_award(db, actor, aid, client_addr=client_address(request)))

    @post(
        "/{aid:uuid}/reject",
        status_code=200,
        summary="Turn down a pending manual award (an admin other than the one who asked)",
        description=AWARD_DECISION_ERRORS,
    )
    async def reject(
        self, request: Request[Any, Any, Any], db: AsyncSession, actor: Actor, aid: uuid.UUID
    ) -> AwardOut:
        return award_out(await service.reject_award(db, actor, aid, client_addr=client_address(request)))


ROUTES: list[Any] = [MyPointsController, LedgerController, AwardController]
