"""HTTP routes of good conduct: rules, settings, claims, photos, households, activity ratings."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, cast

import msgspec
from litestar import Controller, Request, Response, get, patch, post, put
from litestar.params import Parameter, QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from service.accounts.actor import Actor
from service.config import UPLOAD_MAX_BYTES
from service.http import (
    IMAGE_TYPES,
    Limit,
    cursor_after,
    cursor_for,
    errors_of,
    or_pending,
    pending_specs,
    raw_body,
)
from service.rewards import households_service as households
from service.rewards import ratings_service as ratings
from service.rewards import service, views
from service.rewards.models import ClaimStatus, RewardRule
from service.rewards.schemas import (
    ActivityRatingIn,
    ActivityRatingOut,
    AdoptionIn,
    AdoptionOut,
    ClaimIn,
    ClaimOut,
    ClaimPage,
    HouseholdLinkIn,
    HouseholdLinkOut,
    ObjectionIn,
    ObjectionOut,
    PhotoOut,
    ReviewIn,
    RewardsSettingsIn,
    RewardsSettingsOut,
    RuleIn,
    RuleOut,
    RulePatch,
)

__all__ = [
    "ROUTES",
    "ActivityRatingController",
    "ClaimController",
    "CommunityRewardsController",
    "HouseholdController",
    "RuleController",
]

Cursor = Annotated[str | None, Parameter(max_length=200)]


def rule_out(r: RewardRule) -> RuleOut:
    return msgspec.convert(r, RuleOut, from_attributes=True)


def claim_out(v: views.ClaimView) -> ClaimOut:
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
        rule_version=c.rule_version,
        objections=[
            ObjectionOut(
                id=o.id,
                claim_id=c.id,
                reason=o.reason,
                created_at=o.created_at,
                claim_status=c.status,
                member_name=o.member_name,
                resolved=o.resolved,
            )
            for o in v.objections
        ],
        photo_ids=v.photo_ids,
        event_date=c.event_date,
        event_ref=c.event_ref,
    )


def link_out(v: views.LinkView) -> HouseholdLinkOut:
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


def settings_out(cid: uuid.UUID, s: service.CommunitySettings) -> RewardsSettingsOut:
    return RewardsSettingsOut(
        community_id=cid,
        two_reviewers_from_points=s.two_reviewers_from_points,
        wish_points=s.wish_points,
        wish_auto_award_days=s.wish_auto_award_days,
        wish_assign_timeout_days=s.wish_assign_timeout_days,
        wish_points_monthly_cap=s.wish_points_monthly_cap,
    )


class CommunityRewardsController(Controller):
    path = "/api/v1/communities/{cid:uuid}"
    tags = ["rewards"]

    @post(
        "/rules",
        status_code=201,
        summary="Add a good-conduct rule to the community's catalogue (admin)",
        description="An active rule is a new way to issue points: it is created switched off and the "
        "answer is 202 with a proposal (target_id: the rule) that another admin approves to switch it on. "
        "A rule created with active=false answers 201.",
        responses={**pending_specs(RuleOut, 201), **errors_of(service.create_rule)},
    )
    async def create_rule(
        self, db: AsyncSession, actor: Actor, cid: uuid.UUID, data: RuleIn
    ) -> Response[RuleOut]:
        fields = msgspec.structs.asdict(data)
        return or_pending(await service.create_rule(db, actor, cid, **fields), rule_out, 201)

    @get(
        "/rules",
        summary="The community's rules catalogue",
        description="Active rules, for the community's members; include_inactive=true for its admins' and "
        "reviewers' full list.",
        responses=errors_of(views.rules_catalogue),
    )
    async def list_rules(
        self, db: AsyncSession, actor: Actor, cid: uuid.UUID, include_inactive: bool = False
    ) -> list[RuleOut]:
        return [rule_out(r) for r in await views.rules_catalogue(db, actor, cid, include_inactive)]

    @get(
        "/rewards-settings",
        summary="Review threshold and micro-wish settings of the community (its members)",
        responses=errors_of(views.member_settings),
    )
    async def get_settings(self, db: AsyncSession, actor: Actor, cid: uuid.UUID) -> RewardsSettingsOut:
        return settings_out(cid, await views.member_settings(db, actor, cid))

    @put(
        "/rewards-settings",
        summary="Change the review threshold and micro-wish settings (admin)",
        description="Fields left out keep their value. A change that lets more points issue (a higher "
        "two-reviewer threshold, more points per wish, a higher monthly wish cap, fewer days before an "
        "unrated wish pays) answers 202 with a proposal another admin approves; the rest applies at once.",
        responses={**pending_specs(RewardsSettingsOut), **errors_of(service.update_settings)},
    )
    async def put_settings(
        self, db: AsyncSession, actor: Actor, cid: uuid.UUID, data: RewardsSettingsIn
    ) -> Response[RewardsSettingsOut]:
        s = await service.update_settings(db, actor, cid, **msgspec.structs.asdict(data))
        return or_pending(s, lambda v: settings_out(cid, v))

    @get(
        "/claims",
        summary="Claims: the caller's own (scope=mine) or every claim (scope=all, staff)",
        description="Newest first.",
        responses=errors_of(views.list_claims, cursor_after),
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
        found, last = await views.list_claims(
            db,
            actor,
            cid,
            mine=which == "mine",
            status=cast("ClaimStatus | None", status),
            limit=limit,
            before=cursor_after(cursor),
        )
        return ClaimPage(items=[claim_out(v) for v in found], next_cursor=cursor_for(last))

    @get(
        "/claims/review-queue",
        summary="Submitted claims the calling reviewer may decide",
        description="Leaves out the reviewer's own claims and those already reviewed by them.",
        responses=errors_of(views.review_queue),
    )
    async def review_queue(self, db: AsyncSession, actor: Actor, cid: uuid.UUID) -> list[ClaimOut]:
        return [claim_out(v) for v in await views.review_queue(db, actor, cid)]

    @post(
        "/household-links",
        status_code=201,
        summary="Ask to link a member of this community (by phone) to the caller's household",
        description="An admin confirms it.",
        responses=errors_of(households.request_link, views.link_view),
    )
    async def request_link(
        self, db: AsyncSession, actor: Actor, cid: uuid.UUID, data: HouseholdLinkIn
    ) -> HouseholdLinkOut:
        link = await households.request_link(db, actor, cid, data.phone, data.relation)
        return link_out(await views.link_view(db, link.id))

    @get(
        "/household-links",
        summary="The caller's household links (scope=mine) or those awaiting an admin (scope=pending)",
        responses=errors_of(views.list_links, views.pending_links),
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
            return [link_out(v) for v in await views.pending_links(db, actor, cid)]
        return [link_out(v) for v in await views.list_links(db, actor, cid)]


class HouseholdController(Controller):
    path = "/api/v1/household-links"
    tags = ["rewards"]

    @post(
        "/{link_id:uuid}/confirm",
        status_code=200,
        summary="Confirm a household link (admin, not one of the two people)",
        responses=errors_of(households.decide_link, views.link_view),
    )
    async def confirm(self, db: AsyncSession, actor: Actor, link_id: uuid.UUID) -> HouseholdLinkOut:
        await households.decide_link(db, actor, link_id, True)
        return link_out(await views.link_view(db, link_id))

    @post(
        "/{link_id:uuid}/reject",
        status_code=200,
        summary="Reject a household link (admin, not one of the two people)",
        responses=errors_of(households.decide_link, views.link_view),
    )
    async def reject(self, db: AsyncSession, actor: Actor, link_id: uuid.UUID) -> HouseholdLinkOut:
        await households.decide_link(db, actor, link_id, False)
        return link_out(await views.link_view(db, link_id))

    @post(
        "/{link_id:uuid}/remove",
        status_code=200,
        summary="End a household link (either of the two people, or an admin)",
        description="Claims and wishes already filed stay.",
        responses=errors_of(households.remove_link, views.link_view),
    )
    async def remove(self, db: AsyncSession, actor: Actor, link_id: uuid.UUID) -> HouseholdLinkOut:
        await households.remove_link(db, actor, link_id)
        return link_out(await views.link_view(db, link_id))


class ActivityRatingController(Controller):
    path = "/api/v1/activities"
    tags = ["rewards"]

    @post(
        "/{aid:uuid}/ratings",
        status_code=201,
        summary="Rate an activity the caller attended, 1-5 stars (once)",
        responses=errors_of(ratings.rate_activity),
    )
    async def rate(
        self, db: AsyncSession, actor: Actor, aid: uuid.UUID, data: ActivityRatingIn
    ) -> ActivityRatingOut:
        r = await ratings.rate_activity(db, actor, aid, data.stars, data.comment)
        return msgspec.convert(r, ActivityRatingOut, from_attributes=True)


class RuleController(Controller):
    path = "/api/v1/rules"
    tags = ["rewards"]

    @patch(
        "/{rule_id:uuid}",
        summary="Change a rule (admin); claims in flight keep their points",
        description="Title and description change at once. More points, switching it on, dropping the "
        "evidence, a shorter notice or a higher (or no) yearly limit answer 202 with a proposal another "
        "admin approves; the rest applies at once.",
        responses={**pending_specs(RuleOut), **errors_of(service.update_rule)},
    )
    async def update(
        self, db: AsyncSession, actor: Actor, rule_id: uuid.UUID, data: RulePatch
    ) -> Response[RuleOut]:
        fields = {k: v for k, v in msgspec.structs.asdict(data).items() if v is not msgspec.UNSET}
        return or_pending(await service.update_rule(db, actor, rule_id, **fields), rule_out)

    @post(
        "/{rule_id:uuid}/adoptions",
        status_code=201,
        summary="Record the meeting that adopted the rule as it stands (admin): a new version",
        description="板凳会, 村民代表会议, 村民会议, 协商议事会 or 居民代表会议; held by today; votes for "
        "and against within the attendance, more than half of those present for it; in force from "
        "effective_from (on or after the meeting). Claims filed from then on name the version; the public "
        "board lists it with the meeting's facts.",
        responses=errors_of(service.record_adoption),
    )
    async def adopt(
        self, db: AsyncSession, actor: Actor, rule_id: uuid.UUID, data: AdoptionIn
    ) -> AdoptionOut:
        row = await service.record_adoption(db, actor, rule_id, **msgspec.structs.asdict(data))
        return msgspec.convert(row, AdoptionOut, from_attributes=True)

    @get(
        "/{rule_id:uuid}/adoptions",
        summary="Every version of a rule with the meeting that adopted it, newest first (public)",
        responses=errors_of(service.get_rule),
    )
    async def adoptions(self, db: AsyncSession, rule_id: uuid.UUID) -> list[AdoptionOut]:
        await service.get_rule(db, rule_id)
        return [
            msgspec.convert(r, AdoptionOut, from_attributes=True)
            for r in await service.adoptions_of(db, rule_id)
        ]


class ClaimController(Controller):
    path = "/api/v1/claims"
    tags = ["rewards"]

    @post(
        "",
        status_code=201,
        summary="Submit a good-conduct claim, for oneself, a household member or (organizer) any member",
        description="One claim per rule, beneficiary and event (event_date, default today; event_ref).",
        responses=errors_of(service.submit_claim, views.get_claim),
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
        return claim_out(await views.get_claim(db, actor, claim.id))

    @get(
        "/{claim_id:uuid}",
        summary="A claim with its objections",
        responses=errors_of(views.get_claim),
    )
    async def show(self, db: AsyncSession, actor: Actor, claim_id: uuid.UUID) -> ClaimOut:
        return claim_out(await views.get_claim(db, actor, claim_id))

    @post(
        "/{claim_id:uuid}/review",
        status_code=200,
        summary="Approve or reject a claim (reviewer, not its claimant nor submitter)",
        description="Approval publicizes the claim once enough distinct reviewers agree (two at or above the "
        "community's threshold). Never by the beneficiary, the submitter, the beneficiary's household or "
        "an open objection's author.",
        responses=errors_of(service.review_claim, views.get_claim),
    )
    async def review(self, db: AsyncSession, actor: Actor, claim_id: uuid.UUID, data: ReviewIn) -> ClaimOut:
        await service.review_claim(
            db, actor, claim_id, data.decision, data.note, public_summary=data.public_summary
        )
        return claim_out(await views.get_claim(db, actor, claim_id))

    @post(
        "/{claim_id:uuid}/objections",
        status_code=201,
        summary="Object to a claim on public notice (any member); it goes back to review",
        responses=errors_of(service.object_to_claim),
    )
    async def object(
        self, db: AsyncSession, actor: Actor, claim_id: uuid.UUID, data: ObjectionIn
    ) -> ObjectionOut:
        o = await service.object_to_claim(db, actor, claim_id, data.reason)
        return ObjectionOut(
            id=o.id,
            claim_id=claim_id,
            reason=o.reason,
            created_at=o.created_at,
            claim_status="submitted",
            member_name=actor.name,
            resolved=False,
        )

    @post(
        "/{claim_id:uuid}/photos",
        status_code=201,
        request_max_body_size=UPLOAD_MAX_BYTES,
        summary="Add an evidence photo (raw JPEG/PNG/WebP body); it is re-encoded without EXIF",
        responses=errors_of(service.add_photo),
        opt=raw_body("The photo as the raw body.", *IMAGE_TYPES),
    )
    async def add_photo(
        self, request: Request[Any, Any, Any], db: AsyncSession, actor: Actor, claim_id: uuid.UUID
    ) -> PhotoOut:
        p = await service.add_photo(db, actor, claim_id, await request.body())
        url = f"/api/v1/claims/{claim_id}/photos/{p.id}"
        return PhotoOut(
            id=p.id,
            claim_id=claim_id,
            content_type=p.content_type,
            width=p.width,
            height=p.height,
            size_bytes=p.size_bytes,
            url=url,
        )

    @get(
        "/{claim_id:uuid}/photos/{photo_id:uuid}",
        summary="An evidence photo (claimant, submitter or staff)",
        media_type="image/jpeg",
        responses=errors_of(service.get_photo),
    )
    async def photo(
        self, db: AsyncSession, actor: Actor, claim_id: uuid.UUID, photo_id: uuid.UUID
    ) -> Response[bytes]:
        p = await service.get_photo(db, actor, claim_id, photo_id)
        return Response(p.data, media_type=p.content_type, headers={"Cache-Control": "private, max-age=3600"})


ROUTES: list[Any] = [
    CommunityRewardsController,
    RuleController,
    ClaimController,
    HouseholdController,
    ActivityRatingController,
]
