"""The good-conduct read side: claims with their names and counts, the rules catalogue, household links,
activities left to rate, rating figures, and what each rewards page shows.

A list runs a fixed number of queries whatever its length: rules, names (``accounts.views``), approval
counts, objections and photos are each fetched once for the whole page of claims.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from service import clock
from service.accounts import households as household_history
from service.accounts import service as accounts
from service.accounts import views as people
from service.accounts.actor import Actor
from service.activities import service as activities
from service.activities.models import Activity
from service.config import LIST_LIMIT_MAX
from service.errors import raises
from service.points import views as points_views
from service.rewards import households_service as households
from service.rewards import rules
from service.rewards.errors import ClaimNotFound
from service.rewards.models import (
    ActivityRating,
    Claim,
    ClaimObjection,
    ClaimPhoto,
    ClaimReview,
    ClaimStatus,
    HouseholdLink,
    RewardRule,
)
from service.rewards.ratings_service import RATE_WITHIN_DAYS
from service.rewards.service import STAFF_ROLES, CommunitySettings, can_see, get_settings

__all__ = [
    "BOARD_RECEIPTS_MAX",
    "ClaimView",
    "ClaimsPage",
    "HomePanel",
    "HouseholdsPage",
    "LinkView",
    "MyObjection",
    "ObjectionView",
    "RulesAdminPage",
    "activity_rating_stats",
    "claim_views",
    "claims_page",
    "get_claim",
    "home_panel",
    "household_choices",
    "households_page",
    "link_view",
    "link_views",
    "list_claims",
    "list_links",
    "list_rules",
    "member_settings",
    "my_objections",
    "pending_links",
    "review_queue",
    "review_queue_count",
    "rules_admin_page",
    "rules_catalogue",
    "unrated_attended",
]

BOARD_RECEIPTS_MAX = 20
"""Objection receipts shown to their author on the board."""


# ---------------------------------------------------------------- the rules catalogue


@raises(accounts.get_community)
async def list_rules(
    db: AsyncSession, community_id: uuid.UUID, include_inactive: bool = False
) -> list[RewardRule]:
    """The community's rules, most points first (active ones only unless ``include_inactive``)."""
    await accounts.get_community(db, community_id)
    stmt = select(RewardRule).where(RewardRule.community_id == community_id)
    if not include_inactive:
        stmt = stmt.where(RewardRule.active.is_(True))
    return list(await db.scalars(stmt.order_by(RewardRule.points.desc(), RewardRule.code)))


# ---------------------------------------------------------------- claims


@dataclass(frozen=True)
class ObjectionView:
    id: uuid.UUID
    member_name: str
    reason: str
    created_at: datetime
    resolved: bool


@dataclass
class ClaimView:
    claim: Claim
    rule_code: str
    rule_title: str
    member_name: str
    submitted_by_name: str
    approvals: int
    approvals_needed: int
    reviewed_by_me: bool = False
    objections: list[ObjectionView] = field(default_factory=list)
    photo_ids: list[uuid.UUID] = field(default_factory=list)


async def claim_views(
    db: AsyncSession, found: list[Claim], actor: Actor | None, *, detail: bool = False
) -> list[ClaimView]:
    """Claims (of one community) as views, in a fixed number of queries whatever their number."""
    if not found:
        return []
    ids = [c.id for c in found]
    rounds = {c.id: c.review_round for c in found}
    rule_rows = await db.execute(
        select(RewardRule.id, RewardRule.code, RewardRule.title).where(
            RewardRule.id.in_({c.rule_id for c in found})
        )
    )
    rule_of = {rid: (code, title) for rid, code, title in rule_rows.all()}
    reviews = (
        await db.execute(
            select(
                ClaimReview.claim_id, ClaimReview.review_round, ClaimReview.reviewer_id, ClaimReview.decision
            ).where(ClaimReview.claim_id.in_(ids))
        )
    ).all()
    approvers: dict[uuid.UUID, set[uuid.UUID]] = defaultdict(set)
    mine: set[uuid.UUID] = set()
    for claim_id, review_round, reviewer_id, decision in reviews:
        if review_round != rounds[claim_id]:
            continue
        if decision == "approve":
            approvers[claim_id].add(reviewer_id)
        if actor is not None and reviewer_id == actor.member_id:
            mine.add(claim_id)
    objections: dict[uuid.UUID, list[ClaimObjection]] = defaultdict(list)
    photos: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
    if detail:
        for o in await db.scalars(
            select(ClaimObjection).where(ClaimObjection.claim_id.in_(ids)).order_by(ClaimObjection.created_at)
        ):
            objections[o.claim_id].append(o)
        photo_rows = await db.execute(
            select(ClaimPhoto.claim_id, ClaimPhoto.id)
            .where(ClaimPhoto.claim_id.in_(ids))
            .order_by(ClaimPhoto.created_at)
        )
        for claim_id, photo_id in photo_rows.all():
            photos[claim_id].append(photo_id)
    names = await people.member_names(db, {i for c in found for i in (c.member_id, c.submitted_by)})
    masked = await people.member_names(
        db, {o.member_id for os in objections.values() for o in os}, masked=True
    )
    settings: dict[uuid.UUID, CommunitySettings] = {}
    for cid in {c.community_id for c in found}:
        settings[cid] = await get_settings(db, cid)
    return [
        ClaimView(
            claim=c,
            rule_code=rule_of.get(c.rule_id, ("", ""))[0],
            rule_title=rule_of.get(c.rule_id, ("", ""))[1],
            member_name=names.get(c.member_id, "?"),
            submitted_by_name=names.get(c.submitted_by, "?"),
            approvals=len(approvers[c.id]),
            approvals_needed=rules.approvals_needed(
                c.points, settings[c.community_id].two_reviewers_from_points
            ),
            reviewed_by_me=c.id in mine,
            objections=[
                ObjectionView(
                    id=o.id,
                    member_name=masked.get(o.member_id, "?"),
                    reason=o.reason,
                    created_at=o.created_at,
                    resolved=o.resolved_at is not None,
                )
                for o in objections[c.id]
            ],
            photo_ids=photos[c.id],
        )
        for c in found
    ]


@raises(ClaimNotFound, can_see)
async def get_claim(db: AsyncSession, actor: Actor, claim_id: uuid.UUID) -> ClaimView:
    """A claim with its objections and photos (its claimant, its submitter, staff)."""
    claim = await db.get(Claim, claim_id)
    if claim is None:
        raise ClaimNotFound()
    await can_see(db, actor, claim)
    return (await claim_views(db, [claim], actor, detail=True))[0]


@raises(accounts.get_community, accounts.require_role)
async def list_claims(
    db: AsyncSession,
    actor: Actor,
    community_id: uuid.UUID,
    *,
    mine: bool = True,
    status: ClaimStatus | None = None,
    limit: int = 50,
    before: uuid.UUID | None = None,
) -> tuple[list[ClaimView], uuid.UUID | None]:
    """The caller's claims (as claimant or submitter), or every claim for staff; newest first."""
    await accounts.get_community(db, community_id)
    stmt = select(Claim).where(Claim.community_id == community_id)
    if mine:
        await accounts.require_role(db, actor, community_id, "member")
        stmt = stmt.where((Claim.member_id == actor.member_id) | (Claim.submitted_by == actor.member_id))
    else:
        await accounts.require_role(db, actor, community_id, *STAFF_ROLES)
    if status is not None:
        stmt = stmt.where(Claim.status == status)
    if before is not None:
        stmt = stmt.where(Claim.id < before)
    limit = max(1, min(limit, LIST_LIMIT_MAX))
    found = list(await db.scalars(stmt.order_by(Claim.id.desc()).limit(limit + 1)))
    more = len(found) > limit
    found = found[:limit]
    return await claim_views(db, found, actor), (found[-1].id if more else None)


async def _open_objectors(db: AsyncSession, claim_ids: list[uuid.UUID]) -> dict[uuid.UUID, set[uuid.UUID]]:
    out: dict[uuid.UUID, set[uuid.UUID]] = defaultdict(set)
    if claim_ids:
        rows = await db.execute(
            select(ClaimObjection.claim_id, ClaimObjection.member_id).where(
                ClaimObjection.claim_id.in_(claim_ids), ClaimObjection.resolved_at.is_(None)
            )
        )
        for claim_id, member_id in rows.all():
            out[claim_id].add(member_id)
    return out


@raises(accounts.require_role)
async def review_queue(db: AsyncSession, actor: Actor, community_id: uuid.UUID) -> list[ClaimView]:
    """Submitted claims this reviewer may decide: not their own, not already reviewed by them this round,
    not their household's nor one they objected to (the same conflicts ``review_claim`` refuses)."""
    await accounts.require_role(db, actor, community_id, "reviewer")
    found = list(
        await db.scalars(
            select(Claim)
            .where(
                Claim.community_id == community_id,
                Claim.status == "submitted",
                Claim.member_id != actor.member_id,
                Claim.submitted_by != actor.member_id,
            )
            .order_by(Claim.created_at)
            .limit(LIST_LIMIT_MAX)
        )
    )
    objectors = await _open_objectors(db, [c.id for c in found])
    # The same check as review_claim (accounts.households.conflicted), for the whole page in one query:
    # the reviewer's households at any time since the oldest claim, each claim against its own date.
    since = min((c.created_at for c in found), default=clock.now())
    periods = await household_history.spans_of(db, community_id, actor.member_id, since)
    free = [
        c
        for c in found
        if actor.member_id not in objectors[c.id]
        and not household_history.linked_in(
            periods, {c.member_id, c.submitted_by, *objectors[c.id]}, c.created_at
        )
    ]
    return [v for v in await claim_views(db, free, actor, detail=True) if not v.reviewed_by_me]


@raises(review_queue)
async def review_queue_count(db: AsyncSession, actor: Actor, community_id: uuid.UUID) -> int:
    """How many claims await this reviewer (0 for someone who is not a reviewer here)."""
    if not (await people.roles_in(db, actor, community_id)).any("reviewer"):
        return 0
    if await household_history.ever_linked(db, community_id, actor.member_id):
        return len(await review_queue(db, actor, community_id))  # household conflicts: exact, slower
    reviewed = (
        select(ClaimReview.id)
        .where(
            ClaimReview.claim_id == Claim.id,
            ClaimReview.review_round == Claim.review_round,
            ClaimReview.reviewer_id == actor.member_id,
        )
        .exists()
    )
    return int(
        await db.scalar(
            select(func.count())
            .select_from(Claim)
            .where(
                Claim.community_id == community_id,
                Claim.status == "submitted",
                Claim.member_id != actor.member_id,
                Claim.submitted_by != actor.member_id,
                ~reviewed,
            )
        )
        or 0
    )


@dataclass(frozen=True)
class MyObjection:
    """The objector's receipt: what they objected to, when, and where the claim stands now."""

    id: uuid.UUID
    claim_id: uuid.UUID
    rule_title: str
    member_name: str
    reason: str
    created_at: datetime
    resolved: bool
    claim_status: ClaimStatus


async def my_objections(
    db: AsyncSession, actor: Actor, community_id: uuid.UUID, limit: int = BOARD_RECEIPTS_MAX
) -> list[MyObjection]:
    """The caller's recent objections in the community, newest first (a receipt for each)."""
    rows = (
        await db.execute(
            select(ClaimObjection, Claim, RewardRule.title)
            .join(Claim, Claim.id == ClaimObjection.claim_id)
            .join(RewardRule, RewardRule.id == Claim.rule_id)
            .where(ClaimObjection.community_id == community_id, ClaimObjection.member_id == actor.member_id)
            .order_by(ClaimObjection.created_at.desc())
            .limit(limit)
        )
    ).all()
    names = await people.member_names(db, {claim.member_id for _o, claim, _t in rows}, masked=True)
    return [
        MyObjection(
            id=objection.id,
            claim_id=claim.id,
            rule_title=title,
            member_name=names.get(claim.member_id, "?"),
            reason=objection.reason,
            created_at=objection.created_at,
            resolved=objection.resolved_at is not None,
            claim_status=claim.status,
        )
        for objection, claim, title in rows
    ]


# ---------------------------------------------------------------- households


@dataclass(frozen=True)
class LinkView:
    link: HouseholdLink
    requester_name: str
    relative_name: str
    relative_phone_tail: str
    """The last 4 digits of the other person's phone (enough to tell two 王芳 apart)."""


async def link_views(
    db: AsyncSession, links: list[HouseholdLink], me: uuid.UUID | None = None
) -> list[LinkView]:
    """Links with both names (and the other person's phone tail, seen from ``me``), one query for all."""
    found = await people.members_by_id(
        db, {i for link in links for i in (link.requester_id, link.relative_id)}
    )
    views = []
    for link in links:
        req, rel = found.get(link.requester_id), found.get(link.relative_id)
        other = found.get(households.other(link, me)) if me is not None else rel
        views.append(
            LinkView(
                link=link,
                requester_name=req.name if req else "?",
                relative_name=rel.name if rel else "?",
                relative_phone_tail=other.phone[-4:] if other else "",
            )
        )
    return views


@raises(accounts.get_community, accounts.require_role)
async def list_links(db: AsyncSession, actor: Actor, community_id: uuid.UUID) -> list[LinkView]:
    """The caller's links in the community (requested by or naming them), newest first."""
    await accounts.get_community(db, community_id)
    await accounts.require_role(db, actor, community_id, "member")
    links = list(
        await db.scalars(
            select(HouseholdLink)
            .where(
                HouseholdLink.community_id == community_id,
                or_(
                    HouseholdLink.requester_id == actor.member_id,
                    HouseholdLink.relative_id == actor.member_id,
                ),
            )
            .order_by(HouseholdLink.created_at.desc())
            .limit(LIST_LIMIT_MAX)
        )
    )
    return await link_views(db, links, actor.member_id)


@raises(accounts.require_role)
async def pending_links(db: AsyncSession, actor: Actor, community_id: uuid.UUID) -> list[LinkView]:
    """Links awaiting an admin's decision (admins), oldest first."""
    await accounts.require_role(db, actor, community_id, "admin")
    links = list(
        await db.scalars(
            select(HouseholdLink)
            .where(HouseholdLink.community_id == community_id, HouseholdLink.status == "pending")
            .order_by(HouseholdLink.created_at)
            .limit(LIST_LIMIT_MAX)
        )
    )
    return await link_views(db, links)


@raises(list_links)
async def household_choices(
    db: AsyncSession, actor: Actor, community_id: uuid.UUID
) -> list[tuple[uuid.UUID, str]]:
    """The caller's confirmed household members as (id, name), for "file for" choices."""
    out = []
    for v in await list_links(db, actor, community_id):
        if v.link.status == "confirmed":
            mine = v.link.requester_id == actor.member_id
            out.append(
                (v.link.relative_id, v.relative_name) if mine else (v.link.requester_id, v.requester_name)
            )
    return out


# ---------------------------------------------------------------- activity ratings


@raises(accounts.require_role, activities.hours_of)
async def unrated_attended(db: AsyncSession, actor: Actor, community_id: uuid.UUID) -> list[Activity]:
    """Activities the caller attended in the last :data:`RATE_WITHIN_DAYS` days and has not rated yet."""
    await accounts.require_role(db, actor, community_id, "member")
    since = clock.now() - timedelta(days=RATE_WITHIN_DAYS)
    hours = await activities.hours_of(db, actor.member_id, community_id)
    rated = set(
        await db.scalars(
            select(ActivityRating.activity_id).where(
                ActivityRating.community_id == community_id, ActivityRating.member_id == actor.member_id
            )
        )
    )
    return [a for a, att in hours.items if att.checked_in_at >= since and a.id not in rated]


async def activity_rating_stats(
    db: AsyncSession, community_id: uuid.UUID, start: datetime, end: datetime
) -> rules.RatingStats:
    """Ratings of activities given in [start, end) as figures (aggregated in SQL)."""
    rows = await db.execute(
        select(ActivityRating.stars, func.count())
        .where(
            ActivityRating.community_id == community_id,
            ActivityRating.created_at >= start,
            ActivityRating.created_at < end,
        )
        .group_by(ActivityRating.stars)
    )
    stars: list[int] = []
    for value, count in rows.all():
        stars += [int(value)] * int(count)
    return rules.rating_stats(stars)


# ---------------------------------------------------------------- pages


@dataclass(frozen=True)
class ClaimsPage:
    rules: list[RewardRule]
    members: list[people.MemberView]
    """The community's members, for an organizer filing for someone."""
    is_organizer: bool
    is_reviewer: bool
    queue: list[ClaimView]
    mine: list[ClaimView]
    household: list[tuple[uuid.UUID, str]]
    over_budget: set[str] = field(default_factory=set)
    """Ids of my awarded claims whose points wait for the community's monthly budget (积分待发放)."""


@raises(list_rules, list_claims, review_queue, household_choices, accounts.list_members)
async def claims_page(db: AsyncSession, actor: Actor, community_id: uuid.UUID) -> ClaimsPage:
    """The /claims page: the catalogue, my claims, the review queue (reviewers), members (organizers)."""
    roles = await people.roles_in(db, actor, community_id)
    members: list[people.MemberView] = []
    if roles.any("organizer"):
        rows, _last = await accounts.list_members(db, actor, community_id, LIST_LIMIT_MAX)
        members = [people.MemberView(id=m.id, name=m.name, phone=m.phone) for m, _r in rows]
    mine = (await list_claims(db, actor, community_id, mine=True))[0]
    unpaid = [str(v.claim.id) for v in mine if v.claim.status == "awarded" and v.claim.transfer_id is None]
    return ClaimsPage(
        rules=await list_rules(db, community_id),
        members=members,
        is_organizer=roles.any("organizer"),
        is_reviewer=roles.any("reviewer"),
        queue=await review_queue(db, actor, community_id) if roles.any("reviewer") else [],
        mine=mine,
        household=await household_choices(db, actor, community_id),
        over_budget=await points_views.pending_refs(db, community_id, "claim", unpaid),
    )


@dataclass(frozen=True)
class HouseholdsPage:
    links: list[LinkView]
    pending: list[LinkView]
    is_admin: bool


@raises(list_links, pending_links)
async def households_page(db: AsyncSession, actor: Actor, community_id: uuid.UUID) -> HouseholdsPage:
    """The /households page: my links; for admins, the requests to decide."""
    is_admin = (await people.roles_in(db, actor, community_id)).any("admin")
    return HouseholdsPage(
        links=await list_links(db, actor, community_id),
        pending=await pending_links(db, actor, community_id) if is_admin else [],
        is_admin=is_admin,
    )


@dataclass(frozen=True)
class RulesAdminPage:
    rules: list[RewardRule]
    settings: CommunitySettings


@raises(list_rules)
async def rules_admin_page(db: AsyncSession, community_id: uuid.UUID) -> RulesAdminPage:
    """The /admin/rules page: every rule (inactive too) and the review and wish settings."""
    return RulesAdminPage(
        rules=await list_rules(db, community_id, include_inactive=True),
        settings=await get_settings(db, community_id),
    )


@dataclass(frozen=True)
class HomePanel:
    rewards_open_wishes: int
    rewards_to_review: int
    rewards_to_rate: int


@raises(review_queue_count, unrated_attended)
async def home_panel(db: AsyncSession, actor: Actor, community_id: uuid.UUID, open_wishes: int) -> HomePanel:
    """The home page's rewards card: wishes to take (counted by the wishes views), claims to review,
    activities to rate."""
    return HomePanel(
        rewards_open_wishes=open_wishes,
        rewards_to_review=await review_queue_count(db, actor, community_id),
        rewards_to_rate=len(await unrated_attended(db, actor, community_id)),
    )


# ---------------------------------------------------------------- API reads with their role checks


@raises(list_rules, accounts.require_role)
async def rules_catalogue(
    db: AsyncSession, actor: Actor, community_id: uuid.UUID, include_inactive: bool = False
) -> list[RewardRule]:
    """Active rules for the community's members; every rule for its admins and reviewers."""
    await accounts.get_community(db, community_id)
    wanted = ("admin", "reviewer") if include_inactive else ("member",)
    await accounts.require_role(db, actor, community_id, *wanted)
    return await list_rules(db, community_id, include_inactive)


@raises(accounts.get_community, accounts.require_role)
async def member_settings(db: AsyncSession, actor: Actor, community_id: uuid.UUID) -> CommunitySettings:
    """The review threshold and micro-wish settings, for the community's members."""
    await accounts.get_community(db, community_id)
    await accounts.require_role(db, actor, community_id, "member")
    return await get_settings(db, community_id)


@raises(households.get_link)
async def link_view(db: AsyncSession, link_id: uuid.UUID) -> LinkView:
    """One household link with both names."""
    return (await link_views(db, [await households.get_link(db, link_id)]))[0]
