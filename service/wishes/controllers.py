"""HTTP routes of micro-wishes: post, list, dispatch, accept, decline, complete, rate, confirm, cancel,
and the month's wish and satisfaction figures."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import Parameter, QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from service.accounts import sms
from service.accounts.actor import Actor
from service.config import Settings
from service.http import Limit, MonthQuery, cursor_after, cursor_for, errors_of, idempotent
from service.rewards.rules import RatingStats
from service.wishes import calls, service, views
from service.wishes.schemas import (
    CallOut,
    DeclineIn,
    DispatchCandidateOut,
    DispatchIn,
    RateIn,
    RatingStatsOut,
    SatisfactionOut,
    WishIn,
    WishOut,
    WishPage,
    WishStatsOut,
)

__all__ = ["ROUTES", "CommunityWishesController", "WishController"]

Cursor = Annotated[str | None, Parameter(max_length=200)]
Month = MonthQuery


def wish_out(v: views.WishView) -> WishOut:
    w = v.wish
    return WishOut(
        id=w.id,
        community_id=w.community_id,
        title=w.title,
        description=w.description,
        category=w.category,
        status=w.status,
        requester_id=w.requester_id,
        requester_name=v.requester_name,
        volunteer_id=w.volunteer_id,
        volunteer_name=v.volunteer_name,
        wanted_by=w.wanted_by,
        created_at=w.created_at,
        assigned_at=w.assigned_at,
        completed_at=w.completed_at,
        rated_at=w.rated_at,
        stars=w.stars,
        comment=w.comment,
        points=w.points,
        awarded_at=w.awarded_at,
        beneficiary_id=w.beneficiary_id,
        beneficiary_name=v.beneficiary_name,
        dispatched_by=w.dispatched_by,
        dispatched_at=w.dispatched_at,
        accepted_at=w.accepted_at,
        declines=w.declines,
        decline_reason=w.decline_reason,
        confirmed=w.confirmed_by is not None,
        points_status=w.points_status,
        address=v.address,
        can_call=v.can_call,
    )


def _rating_stats(r: RatingStats) -> RatingStatsOut:
    return msgspec.convert(r, RatingStatsOut, from_attributes=True)


class CommunityWishesController(Controller):
    path = "/api/v1/communities/{cid:uuid}"
    tags = ["rewards"]

    @post(
        "/wishes",
        status_code=201,
        summary="Post a micro-wish (微心愿)",
        responses=errors_of(service.post_wish, views.get_wish),
    )
    async def post_wish(self, db: AsyncSession, actor: Actor, cid: uuid.UUID, data: WishIn) -> WishOut:
        w = await service.post_wish(db, actor, cid, **msgspec.structs.asdict(data))
        return wish_out(await views.get_wish(db, actor, w.id))

    @get(
        "/wishes",
        summary="Micro-wishes: mine (posted), assigned (to me), open (to accept), all (organizers)",
        description="Newest first.",
        responses=errors_of(views.list_wishes, cursor_after),
    )
    async def list_wishes(
        self,
        db: AsyncSession,
        actor: Actor,
        cid: uuid.UUID,
        limit: Limit,
        cursor: Cursor = None,
        which: Annotated[
            str,
            QueryParameter(name="scope", pattern="^(mine|assigned|open|all)$", description="which wishes"),
        ] = "mine",
        status: Annotated[str | None, Parameter(max_length=16)] = None,
    ) -> WishPage:
        found, last = await views.list_wishes(
            db, actor, cid, scope=which, status=status, limit=limit, before=cursor_after(cursor)
        )
        return WishPage(items=[wish_out(v) for v in found], next_cursor=cursor_for(last))

    @get(
        "/wishes/stats",
        summary="Micro-wish figures of a month: count, completion, satisfaction, handling time",
        description="For wishes posted in the local month (organizers, reviewers).",
        responses=errors_of(views.wish_stats),
    )
    async def wish_stats(
        self, db: AsyncSession, actor: Actor, cid: uuid.UUID, month: Month = None
    ) -> WishStatsOut:
        label, s = await views.wish_stats(db, actor, cid, month)
        return WishStatsOut(
            community_id=cid,
            month=label,
            count=s.count,
            completed=s.completed,
            cancelled=s.cancelled,
            rated=s.rated,
            satisfied=s.satisfied,
            completion_rate=s.completion_rate,
            satisfaction_rate=s.satisfaction_rate,
            average_handling_hours=s.average_handling_hours,
        )

    @get(
        "/satisfaction",
        summary="Residents' satisfaction of a month: micro-wish and activity ratings",
        description="Ratings given in the local month (4-5 stars count as satisfied; organizers, reviewers).",
        responses=errors_of(views.satisfaction),
    )
    async def satisfaction(
        self, db: AsyncSession, actor: Actor, cid: uuid.UUID, month: Month = None
    ) -> SatisfactionOut:
        s = await views.satisfaction(db, actor, cid, month)
        return SatisfactionOut(
            community_id=cid,
            month=s.month,
            wishes=_rating_stats(s.wishes),
            activities=_rating_stats(s.activities),
        )

    @get(
        "/wishes/candidates",
        summary="Volunteers a wish can be dispatched to, with service hours and open tasks (organizer)",
        description="Members who volunteer: not partner shop staff, and store clerks only once they have "
        "served; fewest open tasks first. With wish_id, its requester and beneficiary are left out.",
        responses=errors_of(views.dispatch_candidates),
    )
    async def candidates(
        self, db: AsyncSession, actor: Actor, cid: uuid.UUID, wish_id: uuid.UUID | None = None
    ) -> list[DispatchCandidateOut]:
        found = await views.dispatch_candidates(db, actor, cid, wish_id)
        return [msgspec.convert(c, DispatchCandidateOut, from_attributes=True) for c in found]


class WishController(Controller):
    path = "/api/v1/wishes"
    tags = ["wishes"]

    @get("/{wish_id:uuid}", summary="A micro-wish", responses=errors_of(views.get_wish))
    async def show(self, db: AsyncSession, actor: Actor, wish_id: uuid.UUID) -> WishOut:
        return wish_out(await views.get_wish(db, actor, wish_id))

    @post(
        "/{wish_id:uuid}/dispatch",
        status_code=200,
        summary="Offer (派单) or re-offer a wish to a volunteer (organizer); they accept or decline",
        description="The wish waits as ``offered`` for the volunteer. Never one's own wish, nor to oneself. "
        "The volunteer and the requester get a notice (and a text message when SMS is configured).",
        responses=errors_of(service.dispatch_wish, views.get_wish),
    )
    async def dispatch(
        self, db: AsyncSession, actor: Actor, settings: Settings, wish_id: uuid.UUID, data: DispatchIn
    ) -> WishOut:
        await service.dispatch_wish(db, actor, wish_id, data.volunteer_id, sms=sms.sender_for(settings))
        return wish_out(await views.get_wish(db, actor, wish_id))

    @post(
        "/{wish_id:uuid}/accept",
        status_code=200,
        summary="Accept a wish offered to the caller, or take an open wish from the pool (接单)",
        description="A pool-taken wish's points wait for an organizer's confirmation. The volunteer sees "
        "the wish's address from now on; the requester gets a notice (and a text message when SMS is "
        "configured).",
        responses=errors_of(service.accept_wish, views.get_wish),
    )
    async def accept(self, db: AsyncSession, actor: Actor, settings: Settings, wish_id: uuid.UUID) -> WishOut:
        await service.accept_wish(db, actor, wish_id, sms=sms.sender_for(settings))
        return wish_out(await views.get_wish(db, actor, wish_id))

    @post(
        "/{wish_id:uuid}/call",
        status_code=200,
        summary="A privacy number (隐私号) to call the wish's requester (its volunteer, while doing it)",
        description="Binds volunteer and requester at the privacy-number provider (``JIFEN_CALL_BACKEND``) "
        f"for at most {service.CALL_BINDING_HOURS} hours and never past the wish's time-out; the same number "
        "again while the binding lasts. The requester's real number is never returned.",
        responses=errors_of(service.call_relay),
    )
    async def call(self, db: AsyncSession, actor: Actor, settings: Settings, wish_id: uuid.UUID) -> CallOut:
        binding = await service.call_relay(db, actor, wish_id, calls.relay_for(settings))
        return CallOut(
            wish_id=wish_id,
            relay_number=binding.relay_number,
            tel=f"tel:{binding.relay_number}",
            expires_at=binding.expires_at,
        )

    @post(
        "/{wish_id:uuid}/decline",
        status_code=200,
        summary="Decline a wish offered to the caller, with a reason; it goes back to the pool",
        responses=errors_of(service.decline_wish, views.get_wish),
    )
    async def decline(self, db: AsyncSession, actor: Actor, wish_id: uuid.UUID, data: DeclineIn) -> WishOut:
        await service.decline_wish(db, actor, wish_id, data.reason)
        return wish_out(await views.get_wish(db, actor, wish_id))

    @post(
        "/{wish_id:uuid}/confirm",
        status_code=200,
        summary="Confirm a pool-taken wish was done (organizer): its points may post",
        description="Points post at once if the wish was already rated or closed, within the volunteer's "
        "monthly cap.",
        responses=errors_of(service.confirm_wish, views.get_wish),
    )
    async def confirm(self, db: AsyncSession, actor: Actor, wish_id: uuid.UUID) -> WishOut:
        await service.confirm_wish(db, actor, wish_id)
        return wish_out(await views.get_wish(db, actor, wish_id))

    @post(
        "/{wish_id:uuid}/complete",
        status_code=200,
        summary="Mark a wish done (its assigned volunteer)",
        responses=errors_of(service.complete_wish, views.get_wish),
    )
    async def complete(self, db: AsyncSession, actor: Actor, wish_id: uuid.UUID) -> WishOut:
        await service.complete_wish(db, actor, wish_id)
        return wish_out(await views.get_wish(db, actor, wish_id))

    @post(
        "/{wish_id:uuid}/rate",
        status_code=200,
        summary="Rate a completed wish 1-5 (its requester); the volunteer's points post",
        description="Accepts Idempotency-Key (a different request under one key: idempotency_conflict, 409).",
        responses={
            200: ResponseSpec(data_container=WishOut, description="The rated wish"),
            **errors_of(idempotent, service.rate_wish, views.get_wish, idempotent),
        },
    )
    async def rate(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        actor: Actor,
        wish_id: uuid.UUID,
        data: RateIn,
    ) -> Response[bytes]:
        async def work() -> tuple[int, msgspec.Struct]:
            await service.rate_wish(db, actor, wish_id, data.stars, data.comment)
            return 200, wish_out(await views.get_wish(db, actor, wish_id))

        return await idempotent(request, db, actor, work)

    @post(
        "/{wish_id:uuid}/cancel",
        status_code=200,
        summary="Cancel a wish while open or assigned (its requester)",
        responses=errors_of(service.cancel_wish, views.get_wish),
    )
    async def cancel(self, db: AsyncSession, actor: Actor, wish_id: uuid.UUID) -> WishOut:
        await service.cancel_wish(db, actor, wish_id)
        return wish_out(await views.get_wish(db, actor, wish_id))


ROUTES: list[Any] = [CommunityWishesController, WishController]
