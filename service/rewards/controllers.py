"""HTTP routes of good conduct (rules, claims, public board) and micro-wishes."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, get, patch, post, put
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import Parameter, QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from service.accounts.service import Actor, get_community, require_role
from service.config import UPLOAD_MAX_BYTES
from service.errors import InvalidInput
from service.http import Limit, decode_cursor, encode_cursor, idempotent
from service.rewards import households_service as households
from service.rewards import ratings_service as ratings
from service.rewards import rules as reward_rules
from service.rewards import service
from service.rewards import wishes_service as wishes
from service.rewards.models import RewardRule
from service.rewards.schemas import (
    ActivityRatingIn,
    ActivityRatingOut,
    BoardClaimOut,
    BoardHoursOut,
    BoardOut,
    BoardRankOut,
    ClaimIn,
    ClaimOut,
    ClaimPage,
    DeclineIn,
    DispatchCandidateOut,
    DispatchIn,
    HouseholdLinkIn,
    HouseholdLinkOut,
    ObjectionIn,
    ObjectionOut,
    PhotoOut,
    RateIn,
    RatingStatsOut,
    ReviewIn,
    RewardsSettingsIn,
    RewardsSettingsOut,
    RuleIn,
    RuleOut,
    RulePatch,
    SatisfactionOut,
    WishIn,
    WishOut,
    WishPage,
    WishStatsOut,
)

__all__ = [
    "ROUTES",
    "ActivityRatingController",
    "ClaimController",
    "CommunityRewardsController",
    "HouseholdController",
    "WishController",
]

Cursor = Annotated[str | None, Parameter(max_length=200)]
Month = Annotated[
    str | None, Parameter(max_length=7, description="YYYY-MM, local month (default: this month)")
]


def rule_out(r: RewardRule) -> RuleOut:
    return RuleOut(
        r.id,
        r.community_id,
        r.code,
        r.title,
        r.description,
        r.points,
        r.evidence_required,
        r.publicity_days,
        r.limit_per_member_per_year,
        r.active,
    )


def claim_out(v: service.ClaimView) -> ClaimOut:
    c = v.claim
    return ClaimOut(
        id=c.id,
        community_id=c.community_id,
        rule_id=c.rule_id,
        rule_code=v.rule_code,
        rule_title=v.rule_title,
        member_id=c.member_id,
        member_name=v.member_name,
        submitted_by=c.submitted_by,
        submitted_by_name=v.submitted_by_name,
        evidence=c.evidence,
        points=c.points,
        status=c.status,
        approvals=v.approvals,
        approvals_needed=v.approvals_needed,
        review_round=c.review_round,
        created_at=c.created_at,
        publicized_at=c.publicized_at,
        publicity_ends_at=c.publicity_ends_at,
        awarded_at=c.awarded_at,
        decision_note=c.decision_note,
        objections=[
            ObjectionOut(o.id, c.id, o.reason, o.created_at, c.status, o.member_name, o.resolved)
            for o in v.objections
        ],
        photo_ids=v.photo_ids,
        event_date=c.event_date,
        event_ref=c.event_ref,
    )


def wish_out(v: wishes.WishView) -> WishOut:
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
    )


def link_out(v: households.LinkView) -> HouseholdLinkOut:
    k = v.link
    return HouseholdLinkOut(
        id=k.id,
        community_id=k.community_id,
        requester_id=k.requester_id,
        requester_name=v.requester_name,
        relative_id=k.relative_id,
        relative_name=v.relative_name,
        relation=k.relation,
        status=k.status,
        created_at=k.created_at,
        decided_at=k.decided_at,
    )


def _rating_stats(r: reward_rules.RatingStats) -> RatingStatsOut:
    return RatingStatsOut(r.rated, r.satisfied, r.average_stars, r.satisfaction_rate)


def settings_out(cid: uuid.UUID, s: service.CommunitySettings) -> RewardsSettingsOut:
    return RewardsSettingsOut(
        cid,
        s.two_reviewers_from_points,
        s.wish_points,
        s.wish_auto_award_days,
        s.wish_assign_timeout_days,
        s.wish_points_monthly_cap,
    )


def _after(cursor: str | None) -> uuid.UUID | None:
    raw = decode_cursor(cursor)
    try:
        return uuid.UUID(raw) if raw else None
    except ValueError as exc:
        raise InvalidInput("invalid_cursor", "The cursor is not one this API gave out.") from exc


def _board_hours(r: service.BoardHours) -> BoardHoursOut:
    return BoardHoursOut(r.rank, r.name, r.minutes, r.hours)


def _board_claim(c: service.BoardClaim) -> BoardClaimOut:
    return BoardClaimOut(
        c.id,
        c.rule_title,
        c.member_name,
        c.points,
        c.publicized_at,
        c.publicity_ends_at,
        c.awarded_at,
        c.objections,
        c.evidence_summary,
        c.event_date,
    )


class CommunityRewardsController(Controller):
    path = "/api/v1/communities/{cid:uuid}"
    tags = ["rewards"]

    @post(
        "/rules",
        status_code=201,
        summary="Add a good-conduct rule to the community's catalogue (admin)",
        description="Errors: invalid_code, invalid_title, rule_code_taken (409), forbidden, "
        "community_not_found.",
    )
    async def create_rule(self, db: AsyncSession, actor: Actor, cid: uuid.UUID, data: RuleIn) -> RuleOut:
        fields = msgspec.structs.asdict(data)
        return rule_out(await service.create_rule(db, actor, cid, **fields))

    @get(
        "/rules",
        summary="The community's rules catalogue",
        description="Active rules, for the community's members; include_inactive=true for its admins' and "
        "reviewers' full list. Errors: community_not_found, forbidden.",
    )
    async def list_rules(
        self, db: AsyncSession, actor: Actor, cid: uuid.UUID, include_inactive: bool = False
    ) -> list[RuleOut]:
        await get_community(db, cid)
        await require_role(db, actor, cid, *(("admin", "reviewer") if include_inactive else ("member",)))
        return [rule_out(r) for r in await service.list_rules(db, cid, include_inactive)]

    @get(
        "/rewards-settings",
        summary="Review threshold and micro-wish settings of the community (its members)",
        description="Errors: community_not_found, forbidden.",
    )
    async def get_settings(self, db: AsyncSession, actor: Actor, cid: uuid.UUID) -> RewardsSettingsOut:
        await get_community(db, cid)
        await require_role(db, actor, cid, "member")
        return settings_out(cid, await service.get_settings(db, cid))

    @put(
        "/rewards-settings",
        summary="Change the review threshold and micro-wish settings (admin)",
        description="Fields left out keep their value. Errors: forbidden, invalid_input.",
    )
    async def put_settings(
        self, db: AsyncSession, actor: Actor, cid: uuid.UUID, data: RewardsSettingsIn
    ) -> RewardsSettingsOut:
        s = await service.update_settings(db, actor, cid, **msgspec.structs.asdict(data))
        return settings_out(cid, s)

    @get(
        "/claims",
        summary="Claims: the caller's own (scope=mine) or every claim (scope=all, staff)",
        description="Newest first. Errors: forbidden, invalid_cursor.",
    )
    async def list_claims(
        self,
        db: AsyncSession,
        actor: Actor,
        cid: uuid.UUID,
        limit: Limit,
        cursor: Cursor = None,
        which: Annotated[
            str,
            QueryParameter(name="scope", pattern="^(mine|all)$", description="mine (default) or all (staff)"),
        ] = "mine",
        status: Annotated[str | None, Parameter(pattern="^(submitted|publicized|rejected|awarded)$")] = None,
    ) -> ClaimPage:
        views, last = await service.list_claims(
            db, actor, cid, mine=which == "mine", status=status, limit=limit, before=_after(cursor)
        )
        return ClaimPage([claim_out(v) for v in views], encode_cursor(str(last)) if last else None)

    @get(
        "/claims/review-queue",
        summary="Submitted claims the calling reviewer may decide",
        description="Leaves out the reviewer's own claims and those already reviewed by them. "
        "Errors: forbidden.",
    )
    async def review_queue(self, db: AsyncSession, actor: Actor, cid: uuid.UUID) -> list[ClaimOut]:
        return [claim_out(v) for v in await service.review_queue(db, actor, cid)]

    @get(
        "/board",
        summary="Public notice board (公示栏): no login needed; names are masked",
        description="Claims under public notice, recent awards and the month's leaderboards (``month`` "
        "YYYY-MM in the community's time zone, default this month): points earned from every source "
        "and service hours, by member (names masked) and by team. "
        "Errors: community_not_found, invalid_month.",
    )
    async def board(self, db: AsyncSession, cid: uuid.UUID, month: Month = None) -> BoardOut:
        b = await service.board(db, cid, month)
        return BoardOut(
            b.community_id,
            b.community_name,
            b.month,
            [_board_claim(c) for c in b.under_publicity],
            [_board_claim(c) for c in b.recent_awards],
            [BoardRankOut(r.rank, r.name, r.points) for r in b.leaderboard],
            [_board_hours(r) for r in b.hours_leaderboard],
            [BoardRankOut(r.rank, r.name, r.points) for r in b.team_leaderboard],
            [_board_hours(r) for r in b.team_hours_leaderboard],
        )

    @post(
        "/wishes",
        status_code=201,
        summary="Post a micro-wish (微心愿)",
        description="Errors: invalid_category, invalid_wanted_by, invalid_title, forbidden.",
    )
    async def post_wish(self, db: AsyncSession, actor: Actor, cid: uuid.UUID, data: WishIn) -> WishOut:
        w = await wishes.post_wish(db, actor, cid, **msgspec.structs.asdict(data))
        return wish_out(await wishes.get_wish(db, actor, w.id))

    @get(
        "/wishes",
        summary="Micro-wishes: mine (posted), assigned (to me), open (to accept), all (organizers)",
        description="Newest first. Errors: invalid_scope, forbidden, invalid_cursor.",
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
        views, last = await wishes.list_wishes(
            db, actor, cid, scope=which, status=status, limit=limit, before=_after(cursor)
        )
        return WishPage([wish_out(v) for v in views], encode_cursor(str(last)) if last else None)

    @get(
        "/wishes/stats",
        summary="Micro-wish figures of a month: count, completion, satisfaction, handling time",
        description="For wishes posted in the local month. "
        "Errors: invalid_month, forbidden (organizers, reviewers).",
    )
    async def wish_stats(
        self, db: AsyncSession, actor: Actor, cid: uuid.UUID, month: Month = None
    ) -> WishStatsOut:
        label, s = await wishes.wish_stats(db, actor, cid, month)
        return WishStatsOut(
            cid,
            label,
            s.count,
            s.completed,
            s.cancelled,
            s.rated,
            s.satisfied,
            s.completion_rate,
            s.satisfaction_rate,
            s.average_handling_hours,
        )

    @get(
        "/satisfaction",
        summary="Residents' satisfaction of a month: micro-wish and activity ratings",
        description="Ratings given in the local month (4-5 stars count as satisfied). "
        "Errors: invalid_month, forbidden (organizers, reviewers).",
    )
    async def satisfaction(
        self, db: AsyncSession, actor: Actor, cid: uuid.UUID, month: Month = None
    ) -> SatisfactionOut:
        s = await ratings.satisfaction(db, actor, cid, month)
        return SatisfactionOut(cid, s.month, _rating_stats(s.wishes), _rating_stats(s.activities))

    @get(
        "/wishes/candidates",
        summary="Volunteers a wish can be dispatched to, with service hours and open tasks (organizer)",
        description="Members who volunteer: not partner shop staff, and store clerks only once they have "
        "served; fewest open tasks first. With wish_id, its requester and beneficiary are left out. "
        "Errors: forbidden, wish_not_found.",
    )
    async def candidates(
        self, db: AsyncSession, actor: Actor, cid: uuid.UUID, wish_id: uuid.UUID | None = None
    ) -> list[DispatchCandidateOut]:
        wish = (await wishes.get_wish(db, actor, wish_id)).wish if wish_id else None
        found = await wishes.dispatch_candidates(db, actor, cid, wish)
        return [
            DispatchCandidateOut(c.member_id, c.name, c.phone_tail, c.service_minutes, c.hours, c.open_tasks)
            for c in found
        ]

    @post(
        "/household-links",
        status_code=201,
        summary="Ask to link a member of this community (by phone) to the caller's household",
        description="An admin confirms it. Errors: invalid_phone, member_not_found (404), household_self, "
        "household_link_exists (409), too_many_household_links (409), forbidden.",
    )
    async def request_link(
        self, db: AsyncSession, actor: Actor, cid: uuid.UUID, data: HouseholdLinkIn
    ) -> HouseholdLinkOut:
        link = await households.request_link(db, actor, cid, data.phone, data.relation)
        views = await households.list_links(db, actor, cid)
        return link_out(next(v for v in views if v.link.id == link.id))

    @get(
        "/household-links",
        summary="The caller's household links (scope=mine) or those awaiting an admin (scope=pending)",
        description="Errors: forbidden.",
    )
    async def list_links(
        self,
        db: AsyncSession,
        actor: Actor,
        cid: uuid.UUID,
        which: Annotated[
            str, QueryParameter(name="scope", pattern="^(mine|pending)$", description="mine or pending")
        ] = "mine",
    ) -> list[HouseholdLinkOut]:
        if which == "pending":
            return [link_out(v) for v in await households.pending_links(db, actor, cid)]
        return [link_out(v) for v in await households.list_links(db, actor, cid)]


class HouseholdController(Controller):
    path = "/api/v1/household-links"
    tags = ["rewards"]

    async def _out(self, db: AsyncSession, actor: Actor, link_id: uuid.UUID) -> HouseholdLinkOut:
        link = await households.get_link(db, link_id)
        return link_out((await households.link_views(db, [link]))[0])

    @post(
        "/{link_id:uuid}/confirm",
        status_code=200,
        summary="Confirm a household link (admin, not one of the two people)",
        description="Errors: household_link_not_found, household_link_decided (409), "
        "reviewer_conflict (403), forbidden.",
    )
    async def confirm(self, db: AsyncSession, actor: Actor, link_id: uuid.UUID) -> HouseholdLinkOut:
        await households.decide_link(db, actor, link_id, True)
        return await self._out(db, actor, link_id)

    @post(
        "/{link_id:uuid}/reject",
        status_code=200,
        summary="Reject a household link (admin, not one of the two people)",
        description="Errors: household_link_not_found, household_link_decided (409), "
        "reviewer_conflict (403), forbidden.",
    )
    async def reject(self, db: AsyncSession, actor: Actor, link_id: uuid.UUID) -> HouseholdLinkOut:
        await households.decide_link(db, actor, link_id, False)
        return await self._out(db, actor, link_id)

    @post(
        "/{link_id:uuid}/remove",
        status_code=200,
        summary="End a household link (either of the two people, or an admin)",
        description="Claims and wishes already filed stay. Errors: household_link_not_found, "
        "household_link_decided (409), forbidden.",
    )
    async def remove(self, db: AsyncSession, actor: Actor, link_id: uuid.UUID) -> HouseholdLinkOut:
        await households.remove_link(db, actor, link_id)
        return await self._out(db, actor, link_id)


class ActivityRatingController(Controller):
    path = "/api/v1/activities"
    tags = ["rewards"]

    @post(
        "/{aid:uuid}/ratings",
        status_code=201,
        summary="Rate an activity the caller attended, 1-5 stars (once)",
        description="Errors: activity_not_found, not_attended (403), already_rated (409), invalid_stars, "
        "forbidden.",
    )
    async def rate(
        self, db: AsyncSession, actor: Actor, aid: uuid.UUID, data: ActivityRatingIn
    ) -> ActivityRatingOut:
        r = await ratings.rate_activity(db, actor, aid, data.stars, data.comment)
        return ActivityRatingOut(r.id, r.activity_id, r.stars, r.comment, r.created_at)


class RuleController(Controller):
    path = "/api/v1/rules"
    tags = ["rewards"]

    @patch(
        "/{rule_id:uuid}",
        summary="Change a rule (admin); claims in flight keep their points",
        description="Errors: rule_not_found (404), forbidden, invalid_input.",
    )
    async def update(self, db: AsyncSession, actor: Actor, rule_id: uuid.UUID, data: RulePatch) -> RuleOut:
        fields = {k: v for k, v in msgspec.structs.asdict(data).items() if v is not msgspec.UNSET}
        return rule_out(await service.update_rule(db, actor, rule_id, **fields))


class ClaimController(Controller):
    path = "/api/v1/claims"
    tags = ["rewards"]

    @post(
        "",
        status_code=201,
        summary="Submit a good-conduct claim, for oneself, a household member or (organizer) any member",
        description="One claim per rule, beneficiary and event (event_date, default today; event_ref). "
        "Errors: rule_not_found, rule_inactive (409), member_not_found, evidence_required (422), "
        "yearly_limit_reached (409), duplicate_claim (409, names the first claim), not_household_member "
        "(403), invalid_event_date, invalid_event_ref, forbidden.",
    )
    async def submit(self, db: AsyncSession, actor: Actor, data: ClaimIn) -> ClaimOut:
        claim = await service.submit_claim(
            db,
            actor,
            data.rule_id,
            data.member_id,
            data.evidence,
            event_date=data.event_date,
            event_ref=data.event_ref,
        )
        return claim_out(await service.get_claim(db, actor, claim.id))

    @get(
        "/{claim_id:uuid}",
        summary="A claim with its objections",
        description="Errors: claim_not_found, forbidden.",
    )
    async def show(self, db: AsyncSession, actor: Actor, claim_id: uuid.UUID) -> ClaimOut:
        return claim_out(await service.get_claim(db, actor, claim_id))

    @post(
        "/{claim_id:uuid}/review",
        status_code=200,
        summary="Approve or reject a claim (reviewer, not its claimant nor submitter)",
        description="Approval publicizes the claim once enough distinct reviewers agree (two at or above the "
        "community's threshold). Never by the beneficiary, the submitter, the beneficiary's household or "
        "an open objection's author. Errors: claim_not_found, claim_not_reviewable (409), reviewer_conflict "
        "(403), already_reviewed_by_you (409), forbidden.",
    )
    async def review(self, db: AsyncSession, actor: Actor, claim_id: uuid.UUID, data: ReviewIn) -> ClaimOut:
        await service.review_claim(db, actor, claim_id, data.decision, data.note)
        return claim_out(await service.get_claim(db, actor, claim_id))

    @post(
        "/{claim_id:uuid}/objections",
        status_code=201,
        summary="Object to a claim on public notice (any member); it goes back to review",
        description="Errors: claim_not_found, claim_not_publicized (409), too_many_objections (409), "
        "forbidden.",
    )
    async def object(
        self, db: AsyncSession, actor: Actor, claim_id: uuid.UUID, data: ObjectionIn
    ) -> ObjectionOut:
        o = await service.object_to_claim(db, actor, claim_id, data.reason)
        return ObjectionOut(o.id, claim_id, o.reason, o.created_at, "submitted", actor.name, False)

    @post(
        "/{claim_id:uuid}/photos",
        status_code=201,
        request_max_body_size=UPLOAD_MAX_BYTES,
        summary="Add an evidence photo (raw JPEG/PNG/WebP body); it is re-encoded without EXIF",
        description="Errors: invalid_photo (422), photo_too_large (422/413), too_many_photos (409), "
        "claim_not_editable (409), forbidden.",
    )
    async def add_photo(
        self, request: Request[Any, Any, Any], db: AsyncSession, actor: Actor, claim_id: uuid.UUID
    ) -> PhotoOut:
        p = await service.add_photo(db, actor, claim_id, await request.body())
        url = f"/api/v1/claims/{claim_id}/photos/{p.id}"
        return PhotoOut(p.id, claim_id, p.content_type, p.width, p.height, p.size_bytes, url)

    @get(
        "/{claim_id:uuid}/photos/{photo_id:uuid}",
        summary="An evidence photo (claimant, submitter or staff)",
        media_type="image/jpeg",
        description="Errors: photo_not_found, forbidden.",
    )
    async def photo(
        self, db: AsyncSession, actor: Actor, claim_id: uuid.UUID, photo_id: uuid.UUID
    ) -> Response[bytes]:
        p = await service.get_photo(db, actor, claim_id, photo_id)
        return Response(p.data, media_type=p.content_type, headers={"Cache-Control": "private, max-age=3600"})


class WishController(Controller):
    path = "/api/v1/wishes"
    tags = ["wishes"]

    @get("/{wish_id:uuid}", summary="A micro-wish", description="Errors: wish_not_found, forbidden.")
    async def show(self, db: AsyncSession, actor: Actor, wish_id: uuid.UUID) -> WishOut:
        return wish_out(await wishes.get_wish(db, actor, wish_id))

    @post(
        "/{wish_id:uuid}/dispatch",
        status_code=200,
        summary="Offer (派单) or re-offer a wish to a volunteer (organizer); they accept or decline",
        description="The wish waits as ``offered`` for the volunteer. Errors: wish_not_dispatchable (409), "
        "volunteer_is_requester (409), already_assigned (409), not_a_volunteer (409), reviewer_conflict "
        "(403, one's own wish or to oneself), member_not_found, forbidden.",
    )
    async def dispatch(self, db: AsyncSession, actor: Actor, wish_id: uuid.UUID, data: DispatchIn) -> WishOut:
        await wishes.dispatch_wish(db, actor, wish_id, data.volunteer_id)
        return wish_out(await wishes.get_wish(db, actor, wish_id))

    @post(
        "/{wish_id:uuid}/accept",
        status_code=200,
        summary="Accept a wish offered to the caller, or take an open wish from the pool (接单)",
        description="A pool-taken wish's points wait for an organizer's confirmation. "
        "Errors: wish_not_open (409), own_wish (403), not_offered_to_you (403), forbidden.",
    )
    async def accept(self, db: AsyncSession, actor: Actor, wish_id: uuid.UUID) -> WishOut:
        await wishes.accept_wish(db, actor, wish_id)
        return wish_out(await wishes.get_wish(db, actor, wish_id))

    @post(
        "/{wish_id:uuid}/decline",
        status_code=200,
        summary="Decline a wish offered to the caller, with a reason; it goes back to the pool",
        description="Errors: wish_not_offered (409), not_offered_to_you (403), invalid_reason.",
    )
    async def decline(self, db: AsyncSession, actor: Actor, wish_id: uuid.UUID, data: DeclineIn) -> WishOut:
        await wishes.decline_wish(db, actor, wish_id, data.reason)
        return wish_out(await wishes.get_wish(db, actor, wish_id))

    @post(
        "/{wish_id:uuid}/confirm",
        status_code=200,
        summary="Confirm a pool-taken wish was done (organizer): its points may post",
        description="Points post at once if the wish was already rated or closed, within the volunteer's "
        "monthly cap. Errors: wish_not_confirmable (409), reviewer_conflict (403), forbidden.",
    )
    async def confirm(self, db: AsyncSession, actor: Actor, wish_id: uuid.UUID) -> WishOut:
        await wishes.confirm_wish(db, actor, wish_id)
        return wish_out(await wishes.get_wish(db, actor, wish_id))

    @post(
        "/{wish_id:uuid}/complete",
        status_code=200,
        summary="Mark a wish done (its assigned volunteer)",
        description="Errors: wish_not_assigned (409), not_assigned_volunteer (403).",
    )
    async def complete(self, db: AsyncSession, actor: Actor, wish_id: uuid.UUID) -> WishOut:
        await wishes.complete_wish(db, actor, wish_id)
        return wish_out(await wishes.get_wish(db, actor, wish_id))

    @post(
        "/{wish_id:uuid}/rate",
        status_code=200,
        summary="Rate a completed wish 1-5 (its requester); the volunteer's points post",
        description="Accepts Idempotency-Key. Errors: not_requester (403), wish_not_ratable (409), "
        "invalid_stars, idempotency_conflict (409).",
        responses={200: ResponseSpec(data_container=WishOut, description="The rated wish")},
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
            await wishes.rate_wish(db, actor, wish_id, data.stars, data.comment)
            return 200, wish_out(await wishes.get_wish(db, actor, wish_id))

        return await idempotent(request, db, actor, work)

    @post(
        "/{wish_id:uuid}/cancel",
        status_code=200,
        summary="Cancel a wish while open or assigned (its requester)",
        description="Errors: not_requester (403), wish_not_cancellable (409).",
    )
    async def cancel(self, db: AsyncSession, actor: Actor, wish_id: uuid.UUID) -> WishOut:
        await wishes.cancel_wish(db, actor, wish_id)
        return wish_out(await wishes.get_wish(db, actor, wish_id))


ROUTES: list[Any] = [
    CommunityRewardsController,
    RuleController,
    ClaimController,
    WishController,
    HouseholdController,
    ActivityRatingController,
]
