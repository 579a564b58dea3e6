"""HTTP routes of the points ledger: parse, call the service, return a Struct."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, get, post, put
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from service.accounts.actor import Actor
from service.http import (
    Limit,
    client_address,
    cursor_for,
    decode_cursor,
    errors_of,
    idempotent,
    or_pending,
    pending_specs,
)
from service.points import service, views
from service.points.errors import IdempotencyConflict, InvalidCursor
from service.points.models import AwardRequest, Policy
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

AWARD_DECISION = "Neither the admin who asked nor the member who benefits may decide."
CommunityParam = Annotated[uuid.UUID, Parameter(description="The community")]
Cursor = Annotated[str | None, Parameter(max_length=200)]


def award_out(a: AwardRequest) -> AwardOut:
    return AwardOut(
        id=a.id,
        status=a.status,
        community_id=a.community_id,
        member_id=a.member_id,
        points=a.points,
        reason=a.reason,
        requested_by=a.requested_by,
        created_at=a.created_at,
        memo=a.memo,
        decided_by=a.decided_by,
        decided_at=a.decided_at,
        transfer_id=a.transfer_id,
    )


def policy_out(p: Policy) -> PolicyOut:
    return PolicyOut(
        community_id=p.community_id,
        expiry_mode=p.expiry_mode,
        expiry_value=p.expiry_value,
        award_approval_threshold=p.award_approval_threshold,
    )


def _seq(cursor: str | None) -> int | None:
    raw = decode_cursor(cursor)
    if raw is None:
        return None
    if not raw.isdigit() or len(raw) > 18:
        raise InvalidCursor()
    return int(raw)


class MyPointsController(Controller):
    path = "/api/v1/me"
    tags = ["points"]

    @get(
        "/balance",
        summary="The caller's points in a community",
        description="available = balance - held; `expiring` lists points that expire within 30 days; "
        "`owed`: points deductions (扣分) could not take yet, taken from later earnings.",
        responses=errors_of(views.balance_for),
    )
    async def balance(self, db: AsyncSession, actor: Actor, community_id: CommunityParam) -> BalanceOut:
        b = await views.balance_for(db, actor, community_id)
        return BalanceOut(
            community_id=community_id,
            available=b.available,
            held=b.held,
            earned=b.earned,
            spent=b.spent,
            expired=b.expired,
            expiring=[ExpiringOut(points=p, expires_at=at) for p, at in b.expiring],
            owed=b.owed,
        )

    @get(
        "/entries",
        summary="The caller's history in a community, newest first",
        description="Filters: since/until (created_at, ISO 8601), code (reason code such as checkin, "
        "manual_award, order, voucher, expiry, reversal).",
        responses=errors_of(views.my_entries, InvalidCursor),
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
        rows, last = await views.my_entries(
            db, actor, community_id, limit=limit, before_seq=_seq(cursor), since=since, until=until, code=code
        )
        items = [msgspec.convert(e, EntryOut, from_attributes=True) for e in rows]
        return EntryPage(items=items, next_cursor=cursor_for(last))


class LedgerController(Controller):
    path = "/api/v1/communities/{cid:uuid}"
    tags = ["points"]

    @post(
        "/awards",
        summary="Award points by hand (admin); accepts Idempotency-Key",
        description="201 with status posted, or 202 with status pending_approval when the points are above "
        "the community's approval threshold or to the caller themself (another admin must approve).",
        responses={
            201: ResponseSpec(data_container=AwardOut, description="posted"),
            202: ResponseSpec(data_container=AwardOut, description="pending_approval"),
            **errors_of(idempotent, service.request_award, IdempotencyConflict),
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

    @get(
        "/awards",
        summary="Manual awards of the community, newest first (admin)",
        responses=errors_of(views.list_awards),
    )
    async def awards(
        self,
        db: AsyncSession,
        actor: Actor,
        cid: uuid.UUID,
        limit: Limit,
        status: Annotated[str | None, Parameter(max_length=20, description="e.g. pending_approval")] = None,
    ) -> AwardPage:
        found = await views.list_awards(db, actor, cid, status=status, limit=limit)
        return AwardPage(items=[award_out(a) for a in found])

    @get(
        "/ledger/verify",
        summary="Check the community's ledger (admin)",
        description="Recomputes hash chains, zero sums, cached balances, lots and holds; problems name the "
        "entry, account or transfer.",
        responses=errors_of(service.verify_as_admin),
    )
    async def verify(self, db: AsyncSession, actor: Actor, cid: uuid.UUID) -> VerifyOut:
        r = await service.verify_as_admin(db, actor, cid)
        return VerifyOut(
            ok=r.ok,
            accounts_checked=r.accounts_checked,
            entries_checked=r.entries_checked,
            transfers_checked=r.transfers_checked,
            problems=[ProblemOut(**p) for p in r.problems],
            problems_total=r.problems_total,
        )

    @post(
        "/transfers/{tid:uuid}/reverse",
        status_code=201,
        summary="Correct a transfer with a reversing transfer (admin)",
        description="insufficient_points (409) when the member already spent the points.",
        responses=errors_of(service.reverse_as_admin),
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
        return TransferOut(transfer_id=r.transfer_id, points=r.points, replayed=r.replayed)

    @get(
        "/points-policy",
        summary="The community's expiry rule and award approval threshold",
        responses=errors_of(views.policy_for),
    )
    async def policy(self, db: AsyncSession, actor: Actor, cid: uuid.UUID) -> PolicyOut:
        return policy_out(await views.policy_for(db, actor, cid))

    @put(
        "/points-policy",
        summary="Set the expiry rule (for points earned from now on) and the approval threshold (admin)",
        description="expiry_mode: never, days (expiry_value days after earning) or years (end of the "
        "expiry_value-th calendar year, 1 = this year). A lower threshold or shorter-lived points apply at "
        "once; a higher threshold or longer-lived points answer 202 with a proposal another admin approves.",
        responses={**pending_specs(PolicyOut), **errors_of(service.set_policy)},
    )
    async def set_policy(
        self, db: AsyncSession, actor: Actor, cid: uuid.UUID, data: PolicyIn
    ) -> Response[PolicyOut]:
        p = await service.set_policy(
            db,
            actor,
            cid,
            expiry_mode=data.expiry_mode,
            expiry_value=data.expiry_value,
            award_approval_threshold=data.award_approval_threshold,
        )
        return or_pending(p, policy_out)


class AwardController(Controller):
    path = "/api/v1/awards"
    tags = ["points"]

    @post(
        "/{aid:uuid}/approve",
        status_code=200,
        summary="Approve a pending manual award (an admin other than the one who asked)",
        description=AWARD_DECISION,
        responses=errors_of(service.approve_award),
    )
    async def approve(
        self, request: Request[Any, Any, Any], db: AsyncSession, actor: Actor, aid: uuid.UUID
    ) -> AwardOut:
        return award_out(await service.approve_award(db, actor, aid, client_addr=client_address(request)))

    @post(
        "/{aid:uuid}/reject",
        status_code=200,
        summary="Turn down a pending manual award (an admin other than the one who asked)",
        description=AWARD_DECISION,
        responses=errors_of(service.reject_award),
    )
    async def reject(
        self, request: Request[Any, Any, Any], db: AsyncSession, actor: Actor, aid: uuid.UUID
    ) -> AwardOut:
        return award_out(await service.reject_award(db, actor, aid, client_addr=client_address(request)))


ROUTES: list[Any] = [MyPointsController, LedgerController, AwardController]
