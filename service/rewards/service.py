"""Good conduct (村规民约 / 道德银行): the rules catalogue, claims, review, public notice, settlement, board.

A claim moves ``submitted`` -> (review) -> ``publicized`` -> (publicity ends) -> ``awarded``, or is
``rejected`` by a reviewer; an objection during publicity sends it back to ``submitted`` for a new review
round. Every refused transition raises a DomainError with a stable code before anything is written.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from service import clock
from service.accounts import service as accounts
from service.accounts.models import Member
from service.accounts.service import Actor
from service.activities import service as activities
from service.config import LIST_LIMIT_MAX, POINTS_PER_AWARD_MAX, TEXT_MAX, TITLE_MAX
from service.db import transaction
from service.errors import Conflict, DomainError, Forbidden, InvalidInput, NotFound
from service.kit.masking import mask_name
from service.points import service as points
from service.rewards import households_service as households
from service.rewards import rules
from service.rewards.models import Claim, ClaimObjection, ClaimPhoto, ClaimReview, RewardRule, RewardsSettings
from service.rewards.photos import clean_photo

__all__ = [
    "BOARD_ITEMS_MAX",
    "SETTLE_BATCH",
    "Board",
    "BoardHours",
    "ClaimView",
    "CommunitySettings",
    "MyObjection",
    "add_photo",
    "board",
    "board_by_code",
    "create_rule",
    "get_claim",
    "get_photo",
    "get_rule",
    "get_settings",
    "list_claims",
    "list_rules",
    "my_objections",
    "object_to_claim",
    "review_claim",
    "review_queue",
    "review_queue_count",
    "settle_claim",
    "settle_due_claims",
    "submit_claim",
    "update_rule",
    "update_settings",
]

log = logging.getLogger("jifen.rewards")

SETTLE_BATCH = 200
"""Claims settled per job run and transaction batch."""
BOARD_ITEMS_MAX = 20
"""Claims, awards and leaderboard rows shown on the public board."""
NOTE_MAX = 500
STAFF_ROLES = ("reviewer", "organizer", "admin")


# ---------------------------------------------------------------- settings


@dataclass(frozen=True)
class CommunitySettings:
    two_reviewers_from_points: int = rules.DEFAULT_TWO_REVIEWERS_FROM_POINTS
    wish_points: int = rules.DEFAULT_WISH_POINTS
    wish_auto_award_days: int = rules.DEFAULT_WISH_AUTO_AWARD_DAYS
    wish_assign_timeout_days: int = rules.DEFAULT_WISH_ASSIGN_TIMEOUT_DAYS
    wish_points_monthly_cap: int = rules.DEFAULT_WISH_POINTS_MONTHLY_CAP


async def get_settings(db: AsyncSession, community_id: uuid.UUID) -> CommunitySettings:
    row = await db.get(RewardsSettings, community_id)
    if row is None:
        return CommunitySettings()
    return CommunitySettings(
        row.two_reviewers_from_points,
        row.wish_points,
        row.wish_auto_award_days,
        row.wish_assign_timeout_days,
        row.wish_points_monthly_cap,
    )


def _bounded(name: str, value: int | None, low: int, high: int) -> None:
    if value is not None and not (low <= value <= high):
        raise InvalidInput(
            f"invalid_{name}",
            "%(field)s must be %(low)s to %(high)s.",
            params={"field": name, "low": low, "high": high},
            errors=[{"field": name, "message": "out of range"}],
        )


async def update_settings(
    db: AsyncSession,
    actor: Actor,
    community_id: uuid.UUID,
    *,
    two_reviewers_from_points: int | None = None,
    wish_points: int | None = None,
    wish_auto_award_days: int | None = None,
    wish_assign_timeout_days: int | None = None,
    wish_points_monthly_cap: int | None = None,
) -> CommunitySettings:
    await accounts.get_community(db, community_id)
    await accounts.require_role(db, actor, community_id, "admin")
    _bounded("two_reviewers_from_points", two_reviewers_from_points, 1, POINTS_PER_AWARD_MAX)
    _bounded("wish_points", wish_points, 0, POINTS_PER_AWARD_MAX)
    _bounded("wish_auto_award_days", wish_auto_award_days, 1, rules.SETTINGS_DAYS_MAX)
    _bounded("wish_assign_timeout_days", wish_assign_timeout_days, 1, rules.SETTINGS_DAYS_MAX)
    _bounded("wish_points_monthly_cap", wish_points_monthly_cap, 0, POINTS_PER_AWARD_MAX)
    current = await get_settings(db, community_id)
    row = await db.get(RewardsSettings, community_id)
    if row is None:
        row = RewardsSettings(
            community_id=community_id,
            two_reviewers_from_points=current.two_reviewers_from_points,
            wish_points=current.wish_points,
            wish_auto_award_days=current.wish_auto_award_days,
            wish_assign_timeout_days=current.wish_assign_timeout_days,
            wish_points_monthly_cap=current.wish_points_monthly_cap,
            updated_at=clock.now(),
        )
        db.add(row)
    if two_reviewers_from_points is not None:
        row.two_reviewers_from_points = two_reviewers_from_points
    if wish_points is not None:
        row.wish_points = wish_points
    if wish_auto_award_days is not None:
        row.wish_auto_award_days = wish_auto_award_days
    if wish_assign_timeout_days is not None:
        row.wish_assign_timeout_days = wish_assign_timeout_days
    if wish_points_monthly_cap is not None:
        row.wish_points_monthly_cap = wish_points_monthly_cap
    row.updated_at = clock.now()
    await db.flush()
    return await get_settings(db, community_id)


# ---------------------------------------------------------------- the rules catalogue


def _text(name: str, value: str | None, low: int, high: int) -> str:
    text = (value or "").strip()
    if not (low <= len(text) <= high):
        raise InvalidInput(
            f"invalid_{name}",
            "%(field)s must be %(low)s to %(high)s characters.",
            params={"field": name, "low": low, "high": high},
            errors=[{"field": name, "message": "%(low)s-%(high)s characters"}],
        )
    return text


async def create_rule(
    db: AsyncSession,
    actor: Actor,
    community_id: uuid.UUID,
    *,
    code: str,
    title: str,
    points: int,
    publicity_days: int,
    description: str = "",
    evidence_required: bool = True,
    limit_per_member_per_year: int | None = None,
    active: bool = True,
) -> RewardRule:
    await accounts.get_community(db, community_id)
    await accounts.require_role(db, actor, community_id, "admin")
    code = (code or "").strip().lower()
    if not rules.RULE_CODE_RE.match(code):
        raise InvalidInput(
            "invalid_code",
            "Code must be 2-32 lowercase letters, digits, dashes or underscores.",
            errors=[{"field": "code", "message": "2-32 of a-z 0-9 - _"}],
        )
    _bounded("points", points, 1, POINTS_PER_AWARD_MAX)
    _bounded("publicity_days", publicity_days, 0, rules.PUBLICITY_DAYS_MAX)
    _bounded("limit_per_member_per_year", limit_per_member_per_year, 1, rules.YEARLY_LIMIT_MAX)
    taken = await db.scalar(
        select(RewardRule.id).where(RewardRule.community_id == community_id, RewardRule.code == code)
    )
    if taken is not None:
        raise Conflict(
            "rule_code_taken",
            "A rule with code %(code)s already exists here.",
            params={"code": repr(code)},
        )
    rule = RewardRule(
        community_id=community_id,
        code=code,
        title=_text("title", title, 1, TITLE_MAX),
        description=_text("description", description, 0, TEXT_MAX),
        points=points,
        evidence_required=evidence_required,
        publicity_days=publicity_days,
        limit_per_member_per_year=limit_per_member_per_year,
        active=active,
    )
    db.add(rule)
    await db.flush()
    return rule


_UNSET = object()


async def update_rule(
    db: AsyncSession,
    actor: Actor,
    rule_id: uuid.UUID,
    *,
    title: str | None = None,
    description: str | None = None,
    points: int | None = None,
    evidence_required: bool | None = None,
    publicity_days: int | None = None,
    limit_per_member_per_year: int | object | None = _UNSET,
    active: bool | None = None,
) -> RewardRule:
    """Change a rule. Claims already submitted keep the points they were submitted with."""
    rule = await get_rule(db, rule_id)
    await accounts.require_role(db, actor, rule.community_id, "admin")
    _bounded("points", points, 1, POINTS_PER_AWARD_MAX)
    _bounded("publicity_days", publicity_days, 0, rules.PUBLICITY_DAYS_MAX)
    if limit_per_member_per_year is not _UNSET:
        limit = limit_per_member_per_year
        if limit is not None and not isinstance(limit, int):
            raise InvalidInput("invalid_limit_per_member_per_year", "The limit must be a whole number.")
        _bounded("limit_per_member_per_year", limit, 1, rules.YEARLY_LIMIT_MAX)
        rule.limit_per_member_per_year = limit
    if title is not None:
        rule.title = _text("title", title, 1, TITLE_MAX)
    if description is not None:
        rule.description = _text("description", description, 0, TEXT_MAX)
    if points is not None:
        rule.points = points
    if evidence_required is not None:
        rule.evidence_required = evidence_required
    if publicity_days is not None:
        rule.publicity_days = publicity_days
    if active is not None:
        rule.active = active
    await db.flush()
    return rule


async def get_rule(db: AsyncSession, rule_id: uuid.UUID) -> RewardRule:
    rule = await db.get(RewardRule, rule_id)
    if rule is None:
        raise NotFound("rule_not_found", "No such rule.")
    return rule


async def list_rules(
    db: AsyncSession, community_id: uuid.UUID, include_inactive: bool = False
) -> list[RewardRule]:
    await accounts.get_community(db, community_id)
    stmt = select(RewardRule).where(RewardRule.community_id == community_id)
    if not include_inactive:
        stmt = stmt.where(RewardRule.active.is_(True))
    return list(await db.scalars(stmt.order_by(RewardRule.points.desc(), RewardRule.code)))


# ---------------------------------------------------------------- claims


@dataclass
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


async def _is_member_of(db: AsyncSession, member_id: uuid.UUID, community_id: uuid.UUID) -> bool:
    member = await accounts.get_member(db, member_id)
    try:
        await accounts.require_role(db, Actor(member.id, member.name, member.phone), community_id, "member")
    except Forbidden:
        return False
    return True


async def _has_role(db: AsyncSession, actor: Actor, community_id: uuid.UUID, *roles: str) -> bool:
    try:
        await accounts.require_role(db, actor, community_id, *roles)
    except Forbidden:
        return False
    return True


async def _count_towards_limit(
    db: AsyncSession, claim_or_rule: RewardRule, member_id: uuid.UUID, year: int, statuses: tuple[str, ...]
) -> int:
    return int(
        await db.scalar(
            select(func.count())
            .select_from(Claim)
            .where(
                Claim.rule_id == claim_or_rule.id,
                Claim.member_id == member_id,
                Claim.year == year,
                Claim.status.in_(statuses),
            )
        )
        or 0
    )


async def _check_filer(db: AsyncSession, actor: Actor, community_id: uuid.UUID, member_id: uuid.UUID) -> None:
    """A member claims for themself or a confirmed household member; an organizer for any member."""
    await accounts.require_role(db, actor, community_id, "member")
    if member_id == actor.member_id:
        return
    if not await _has_role(db, actor, community_id, "organizer"):
        await households.require_household(db, actor, community_id, member_id)
    if not await _is_member_of(db, member_id, community_id):
        raise NotFound("member_not_found", "No such member in this community.")


def _event(event_date: date | None, event_ref: str | None, today: date) -> tuple[date, str | None]:
    day = event_date or today
    if not rules.event_date_allowed(day, today):
        raise InvalidInput(
            "invalid_event_date",
            "The event date must be today or within the past year.",
            errors=[{"field": "event_date", "message": "today or within the past year"}],
        )
    ref = rules.normalise_event_ref(event_ref)
    if ref is not None and len(ref) > rules.EVENT_REF_MAX:
        raise InvalidInput(
            "invalid_event_ref",
            "The reference is at most 64 characters.",
            errors=[{"field": "event_ref", "message": "at most 64 characters"}],
        )
    return day, ref


async def _refuse_duplicate(
    db: AsyncSession, rule: RewardRule, member_id: uuid.UUID, day: date, ref: str | None
) -> None:
    """One live claim per rule, beneficiary and event (same day, or same reference such as a
    certificate number), whoever files it. The rule row is locked, so this check is serialized; the
    partial unique indexes on reward_claims back it up."""
    same_event = (
        Claim.event_date == day if ref is None else or_(Claim.event_date == day, Claim.event_ref == ref)
    )
    first = await db.scalar(
        select(Claim)
        .where(Claim.rule_id == rule.id, Claim.member_id == member_id, Claim.status != "rejected", same_event)
        .order_by(Claim.created_at)
        .limit(1)
    )
    if first is None:
        return
    day_text = first.event_date.isoformat() if first.event_date else ""
    raise Conflict(
        "duplicate_claim",
        "This event was already claimed for this member: claim %(claim_id)s of %(event_date)s.",
        params={"claim_id": str(first.id), "event_date": day_text},
        errors=[
            {"field": "first_claim_id", "message": str(first.id)},
            {"field": "first_event_date", "message": day_text},
        ],
    )


async def submit_claim(
    db: AsyncSession,
    actor: Actor,
    rule_id: uuid.UUID,
    member_id: uuid.UUID,
    evidence: str,
    *,
    event_date: date | None = None,
    event_ref: str | None = None,
) -> Claim:
    """A member claims for themself or a household member; an organizer (grid worker) for any member.

    ``event_date`` (default today, local) and ``event_ref`` name the deed: a second claim of one rule
    for one beneficiary and one event is refused ``duplicate_claim``, naming the first.
    """
    rule = await db.scalar(
        select(RewardRule).where(RewardRule.id == rule_id).with_for_update()  # serializes the yearly count
    )
    if rule is None:
        raise NotFound("rule_not_found", "No such rule.")
    community = await accounts.get_community(db, rule.community_id)
    await _check_filer(db, actor, rule.community_id, member_id)
    if not rule.active:
        raise Conflict("rule_inactive", "This rule is no longer in use.")
    evidence = _text("evidence", evidence, 0, TEXT_MAX)
    if rule.evidence_required and not evidence:
        raise InvalidInput(
            "evidence_required",
            "Describe what was done: this rule needs evidence.",
            errors=[{"field": "evidence", "message": "required by this rule"}],
        )
    now = clock.now()
    year = rules.year_in_zone(now, community.timezone)
    day, ref = _event(event_date, event_ref, now.astimezone(ZoneInfo(community.timezone)).date())
    await _refuse_duplicate(db, rule, member_id, day, ref)
    if rule.limit_per_member_per_year is not None:
        used = await _count_towards_limit(db, rule, member_id, year, ("submitted", "publicized", "awarded"))
        if used >= rule.limit_per_member_per_year:
            raise Conflict(
                "yearly_limit_reached",
                "This rule rewards a member at most %(limit)s time(s) a year.",
                params={"limit": rule.limit_per_member_per_year},
            )
    claim = Claim(
        community_id=rule.community_id,
        rule_id=rule.id,
        member_id=member_id,
        submitted_by=actor.member_id,
        evidence=evidence,
        event_date=day,
        event_ref=ref,
        points=rule.points,
        year=year,
        status="submitted",
        created_at=now,
    )
    db.add(claim)
    await db.flush()
    return claim


async def _claim_for_update(db: AsyncSession, claim_id: uuid.UUID) -> Claim:
    claim = await db.scalar(select(Claim).where(Claim.id == claim_id).with_for_update())
    if claim is None:
        raise NotFound("claim_not_found", "No such claim.")
    await db.refresh(claim)  # another transaction may have changed it while we waited for the lock
    return claim


async def _approvals(db: AsyncSession, claim: Claim) -> int:
    return int(
        await db.scalar(
            select(func.count(func.distinct(ClaimReview.reviewer_id))).where(
                ClaimReview.claim_id == claim.id,
                ClaimReview.review_round == claim.review_round,
                ClaimReview.decision == "approve",
            )
        )
        or 0
    )


async def _resolve_objections(db: AsyncSession, claim: Claim, now: datetime) -> None:
    for objection in await db.scalars(
        select(ClaimObjection).where(
            ClaimObjection.claim_id == claim.id, ClaimObjection.resolved_at.is_(None)
        )
    ):
        objection.resolved_at = now


async def _conflicted(db: AsyncSession, claim: Claim) -> set[uuid.UUID]:
    """People who may not decide a claim (its review or an objection's outcome): the beneficiary,
    the submitter, the beneficiary's confirmed household, and whoever raised an open objection."""
    people = {claim.member_id, claim.submitted_by}
    people |= await households.household_of(db, claim.community_id, claim.member_id)
    people |= set(
        await db.scalars(
            select(ClaimObjection.member_id).where(
                ClaimObjection.claim_id == claim.id, ClaimObjection.resolved_at.is_(None)
            )
        )
    )
    return people


async def review_claim(
    db: AsyncSession, actor: Actor, claim_id: uuid.UUID, decision: str, note: str = ""
) -> Claim:
    """Approve or reject. Approval publicizes once enough distinct reviewers of this round agree."""
    claim = await _claim_for_update(db, claim_id)
    await accounts.require_role(db, actor, claim.community_id, "reviewer")
    if decision not in {"approve", "reject"}:
        raise InvalidInput("invalid_decision", "Decision must be approve or reject.")
    note = _text("note", note, 0, NOTE_MAX)
    if not rules.claim_action_allowed("review", claim.status):
        raise Conflict(
            "claim_not_reviewable",
            "The claim is %(status)s; only submitted claims are reviewed.",
            params={"status": claim.status},
        )
    if actor.member_id in await _conflicted(db, claim):
        raise Forbidden(
            "reviewer_conflict", "Someone other than the requester or the beneficiary must decide this."
        )
    mine = await db.scalar(
        select(ClaimReview.id).where(
            ClaimReview.claim_id == claim.id,
            ClaimReview.review_round == claim.review_round,
            ClaimReview.reviewer_id == actor.member_id,
        )
    )
    if mine is not None:
        raise Conflict(
            "already_reviewed_by_you", "You already reviewed this claim; another reviewer must decide."
        )
    now = clock.now()
    db.add(
        ClaimReview(
            community_id=claim.community_id,
            claim_id=claim.id,
            reviewer_id=actor.member_id,
            review_round=claim.review_round,
            decision=decision,
            note=note,
            created_at=now,
        )
    )
    await db.flush()
    if decision == "reject":
        claim.status, claim.decided_at, claim.decision_note = "rejected", now, note
        await _resolve_objections(db, claim, now)
    else:
        settings = await get_settings(db, claim.community_id)
        if await _approvals(db, claim) >= rules.approvals_needed(
            claim.points, settings.two_reviewers_from_points
        ):
            rule = await get_rule(db, claim.rule_id)
            claim.status, claim.decided_at, claim.decision_note = "publicized", now, note
            claim.publicized_at = now
            claim.publicity_ends_at = now + timedelta(days=rule.publicity_days)
            await _resolve_objections(db, claim, now)
    await db.flush()
    return claim


async def object_to_claim(db: AsyncSession, actor: Actor, claim_id: uuid.UUID, reason: str) -> ClaimObjection:
    """Any member of the community objects during public notice; the claim goes back to review."""
    claim = await _claim_for_update(db, claim_id)
    await accounts.require_role(db, actor, claim.community_id, "member")
    reason = _text("reason", reason, 1, NOTE_MAX)
    if not rules.claim_action_allowed("object", claim.status):
        raise Conflict("claim_not_publicized", "Objections are taken only while a claim is on public notice.")
    count = await db.scalar(
        select(func.count()).select_from(ClaimObjection).where(ClaimObjection.claim_id == claim.id)
    )
    if int(count or 0) >= rules.OBJECTIONS_PER_CLAIM_MAX:
        raise Conflict("too_many_objections", "This claim has reached the most objections it can take.")
    now = clock.now()
    objection = ClaimObjection(
        community_id=claim.community_id,
        claim_id=claim.id,
        member_id=actor.member_id,
        reason=reason,
        created_at=now,
    )
    db.add(objection)
    claim.status = "submitted"
    claim.publicity_ends_at = None
    claim.review_round += 1
    await db.flush()
    return objection


async def settle_claim(db: AsyncSession, claim_id: uuid.UUID) -> str:
    """Pay a claim whose public notice ended. Returns ``awarded``, ``limit`` (refused) or ``skipped``."""
    claim = await _claim_for_update(db, claim_id)
    now = clock.now()
    if not rules.claim_action_allowed("settle", claim.status) or (
        claim.publicity_ends_at is None or claim.publicity_ends_at > now
    ):
        return "skipped"
    open_objection = await db.scalar(
        select(ClaimObjection.id).where(
            ClaimObjection.claim_id == claim.id, ClaimObjection.resolved_at.is_(None)
        )
    )
    if open_objection is not None:  # cannot happen (an objection leaves publicity), but never pay past one
        return "skipped"
    rule = await get_rule(db, claim.rule_id)
    if rule.limit_per_member_per_year is not None:
        paid = await _count_towards_limit(db, rule, claim.member_id, claim.year, ("awarded",))
        if paid >= rule.limit_per_member_per_year:
            claim.status, claim.decided_at = "rejected", now
            claim.publicity_ends_at = None
            claim.decision_note = "yearly_limit_reached"
            await db.flush()
            return "limit"
    result = await points.award(
        db,
        community_id=claim.community_id,
        member_id=claim.member_id,
        points=claim.points,
        code="claim",
        memo=rule.title,
        ref_type="claim",
        ref_id=str(claim.id),
        actor_id=None,
        idempotency_key=f"claim:{claim.id}",
    )
    claim.status, claim.awarded_at, claim.transfer_id = "awarded", now, result.transfer_id
    claim.publicity_ends_at = None
    await db.flush()
    return "awarded"


async def settle_due_claims(maker: async_sessionmaker[AsyncSession]) -> int:
    """Periodic job: pay every claim whose public notice has ended. Safe to run in several workers."""
    done = 0
    async with maker() as db:
        ids = list(
            await db.scalars(
                select(Claim.id)
                .where(Claim.status == "publicized", Claim.publicity_ends_at <= clock.now())
                .order_by(Claim.publicity_ends_at)
                .limit(SETTLE_BATCH)
            )
        )
    for claim_id in ids:
        try:
            async with transaction(maker) as db:
                if await settle_claim(db, claim_id) == "awarded":
                    done += 1
        except DomainError as exc:  # leave it publicized; the next run retries
            log.warning("claim %s not settled: %s", claim_id, exc)
    return done


# ---------------------------------------------------------------- reading claims


async def _name(db: AsyncSession, member_id: uuid.UUID | None, masked: bool = False) -> str:
    if member_id is None:
        return ""
    try:
        name = (await accounts.get_member(db, member_id)).name
    except NotFound:
        return "?"
    return mask_name(name) if masked else name


async def _view(db: AsyncSession, claim: Claim, actor: Actor | None, detail: bool = False) -> ClaimView:
    rule = await get_rule(db, claim.rule_id)
    settings = await get_settings(db, claim.community_id)
    view = ClaimView(
        claim=claim,
        rule_code=rule.code,
        rule_title=rule.title,
        member_name=await _name(db, claim.member_id),
        submitted_by_name=await _name(db, claim.submitted_by),
        approvals=await _approvals(db, claim),
        approvals_needed=rules.approvals_needed(claim.points, settings.two_reviewers_from_points),
    )
    if actor is not None:
        view.reviewed_by_me = (
            await db.scalar(
                select(ClaimReview.id).where(
                    ClaimReview.claim_id == claim.id,
                    ClaimReview.review_round == claim.review_round,
                    ClaimReview.reviewer_id == actor.member_id,
                )
            )
            is not None
        )
    if detail:
        for o in await db.scalars(
            select(ClaimObjection)
            .where(ClaimObjection.claim_id == claim.id)
            .order_by(ClaimObjection.created_at)
        ):
            view.objections.append(
                ObjectionView(
                    o.id,
                    await _name(db, o.member_id, masked=True),
                    o.reason,
                    o.created_at,
                    o.resolved_at is not None,
                )
            )
        view.photo_ids = list(
            await db.scalars(
                select(ClaimPhoto.id).where(ClaimPhoto.claim_id == claim.id).order_by(ClaimPhoto.created_at)
            )
        )
    return view


async def _can_see(db: AsyncSession, actor: Actor, claim: Claim) -> None:
    if actor.member_id in {claim.member_id, claim.submitted_by}:
        return
    await accounts.require_role(db, actor, claim.community_id, *STAFF_ROLES)


async def get_claim(db: AsyncSession, actor: Actor, claim_id: uuid.UUID) -> ClaimView:
    claim = await db.get(Claim, claim_id)
    if claim is None:
        raise NotFound("claim_not_found", "No such claim.")
    await _can_see(db, actor, claim)
    return await _view(db, claim, actor, detail=True)


async def list_claims(
    db: AsyncSession,
    actor: Actor,
    community_id: uuid.UUID,
    *,
    mine: bool = True,
    status: str | None = None,
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
    views = [await _view(db, c, actor) for c in found]
    return views, (found[-1].id if more else None)


async def review_queue(db: AsyncSession, actor: Actor, community_id: uuid.UUID) -> list[ClaimView]:
    """Submitted claims this reviewer may decide: not their own, not already reviewed by them this round."""
    await accounts.require_role(db, actor, community_id, "reviewer")
    found = await db.scalars(
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
    views = [await _view(db, c, actor, detail=True) for c in found]
    return [
        v for v in views if not v.reviewed_by_me and actor.member_id not in await _conflicted(db, v.claim)
    ]


async def review_queue_count(db: AsyncSession, actor: Actor, community_id: uuid.UUID) -> int:
    """How many claims await this reviewer (0 for someone who is not a reviewer here)."""
    if not await _has_role(db, actor, community_id, "reviewer"):
        return 0
    if await households.household_of(db, community_id, actor.member_id):
        return len(await review_queue(db, actor, community_id))  # household conflicts: exact, slower
    mine = (
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
                ~mine,
            )
        )
        or 0
    )


# ---------------------------------------------------------------- photos


async def add_photo(db: AsyncSession, actor: Actor, claim_id: uuid.UUID, raw: bytes) -> ClaimPhoto:
    claim = await _claim_for_update(db, claim_id)
    if actor.member_id not in {claim.member_id, claim.submitted_by}:
        raise Forbidden("forbidden", "Only the claimant or the submitter adds photos.")
    if not rules.claim_action_allowed("add_photo", claim.status):
        raise Conflict("claim_not_editable", "Photos are added only while the claim awaits review.")
    count = await db.scalar(
        select(func.count()).select_from(ClaimPhoto).where(ClaimPhoto.claim_id == claim.id)
    )
    if int(count or 0) >= rules.PHOTOS_PER_CLAIM_MAX:
        raise Conflict(
            "too_many_photos",
            "A claim has at most %(max)s photos.",
            params={"max": rules.PHOTOS_PER_CLAIM_MAX},
        )
    photo = await asyncio.to_thread(clean_photo, raw)  # decoding takes CPU time: off the event loop
    row = ClaimPhoto(
        community_id=claim.community_id,
        claim_id=claim.id,
        content_type=photo.content_type,
        width=photo.width,
        height=photo.height,
        size_bytes=len(photo.data),
        data=photo.data,
        created_at=clock.now(),
    )
    db.add(row)
    await db.flush()
    return row


async def get_photo(db: AsyncSession, actor: Actor, claim_id: uuid.UUID, photo_id: uuid.UUID) -> ClaimPhoto:
    claim = await db.get(Claim, claim_id)
    photo = await db.get(ClaimPhoto, photo_id)
    if claim is None or photo is None or photo.claim_id != claim.id:
        raise NotFound("photo_not_found", "No such photo.")
    await _can_see(db, actor, claim)
    return photo


# ---------------------------------------------------------------- the public board


@dataclass
class BoardClaim:
    id: uuid.UUID
    rule_title: str
    member_name: str
    points: int
    publicized_at: datetime | None
    publicity_ends_at: datetime | None
    awarded_at: datetime | None
    objections: int
    evidence_summary: str = ""
    """The evidence as neighbours may read it: names and phone/ID numbers masked, shortened."""
    event_date: date | None = None


@dataclass
class BoardRank:
    """One row of a points leaderboard (a masked member name, or a team name)."""

    rank: int
    name: str
    points: int


@dataclass
class BoardHours:
    """One row of a service-hours leaderboard (a masked member name, or a team name)."""

    rank: int
    name: str
    minutes: int

    @property
    def hours(self) -> float:
        return round(self.minutes / 60, 1)


@dataclass
class Board:
    community_id: uuid.UUID
    community_code: str
    community_name: str
    timezone: str
    month: str
    under_publicity: list[BoardClaim]
    recent_awards: list[BoardClaim]
    leaderboard: list[BoardRank]
    """Points earned in the month from every source (the ledger), by member."""
    hours_leaderboard: list[BoardHours] = field(default_factory=list)
    team_leaderboard: list[BoardRank] = field(default_factory=list)
    """Points earned in the month by each team's members."""
    team_hours_leaderboard: list[BoardHours] = field(default_factory=list)


async def _board_claim(db: AsyncSession, claim: Claim, with_evidence: bool = False) -> BoardClaim:
    rule = await get_rule(db, claim.rule_id)
    objections = await db.scalar(
        select(func.count()).select_from(ClaimObjection).where(ClaimObjection.claim_id == claim.id)
    )
    summary = ""
    if with_evidence and claim.evidence:
        people = await db.execute(
            select(Member.name).where(Member.id.in_({claim.member_id, claim.submitted_by}))
        )
        summary = rules.evidence_summary(claim.evidence, [(n, mask_name(n)) for (n,) in people.all()])
    return BoardClaim(
        claim.id,
        rule.title,
        await _name(db, claim.member_id, masked=True),
        claim.points,
        claim.publicized_at,
        claim.publicity_ends_at,
        claim.awarded_at,
        int(objections or 0),
        evidence_summary=summary,
        event_date=claim.event_date,
    )


async def board(db: AsyncSession, community_id: uuid.UUID, month: str | None = None) -> Board:
    """The public notice board (公示栏): needs no login, shows names only masked."""
    community = await accounts.get_community(db, community_id)
    parsed = rules.parse_month(month, clock.now(), community.timezone)
    if parsed is None:
        raise InvalidInput(
            "invalid_month",
            "Month must look like 2026-05.",
            errors=[{"field": "month", "message": "YYYY-MM"}],
        )
    start, end = rules.month_bounds(*parsed, community.timezone)
    publicized = await db.scalars(
        select(Claim)
        .where(Claim.community_id == community_id, Claim.status == "publicized")
        .order_by(Claim.publicity_ends_at)
        .limit(BOARD_ITEMS_MAX)
    )
    awarded = await db.scalars(
        select(Claim)
        .where(Claim.community_id == community_id, Claim.status == "awarded")
        .order_by(Claim.awarded_at.desc())
        .limit(BOARD_ITEMS_MAX)
    )
    return Board(
        community_id=community.id,
        community_code=community.code,
        community_name=community.name,
        timezone=community.timezone,
        month=f"{parsed[0]:04d}-{parsed[1]:02d}",
        under_publicity=[await _board_claim(db, c, with_evidence=True) for c in publicized],
        recent_awards=[await _board_claim(db, c) for c in awarded],
        **await _leaderboards(db, community_id, start, end),
    )


async def board_by_code(db: AsyncSession, code: str, month: str | None = None) -> Board:
    """The board at its short address ``/b/<community code>`` (the QR on the notice wall)."""
    community = await accounts.get_community_by_code(db, code)
    return await board(db, community.id, month)


@dataclass
class MyObjection:
    """The objector's receipt: what they objected to, when, and where the claim stands now."""

    id: uuid.UUID
    claim_id: uuid.UUID
    rule_title: str
    member_name: str
    reason: str
    created_at: datetime
    resolved: bool
    claim_status: str


async def my_objections(
    db: AsyncSession, actor: Actor, community_id: uuid.UUID, limit: int = BOARD_ITEMS_MAX
) -> list[MyObjection]:
    """The caller's recent objections in the community, newest first (a receipt for each)."""
    rows = await db.execute(
        select(ClaimObjection, Claim)
        .join(Claim, Claim.id == ClaimObjection.claim_id)
        .where(ClaimObjection.community_id == community_id, ClaimObjection.member_id == actor.member_id)
        .order_by(ClaimObjection.created_at.desc())
        .limit(limit)
    )
    out = []
    for objection, claim in rows.all():
        rule = await get_rule(db, claim.rule_id)
        out.append(
            MyObjection(
                objection.id,
                claim.id,
                rule.title,
                await _name(db, claim.member_id, masked=True),
                objection.reason,
                objection.created_at,
                objection.resolved_at is not None,
                claim.status,
            )
        )
    return out


async def _masked_names(db: AsyncSession, member_ids: list[uuid.UUID]) -> dict[uuid.UUID, str]:
    """Masked names (王*成) of many members in one query; never their phone numbers."""
    if not member_ids:
        return {}
    rows = await db.execute(select(Member.id, Member.name).where(Member.id.in_(set(member_ids))))
    return {mid: mask_name(name) for mid, name in rows.all()}


async def _leaderboards(
    db: AsyncSession, community_id: uuid.UUID, start: datetime, end: datetime
) -> dict[str, list[Any]]:
    """The month's leaderboards: points (from the ledger, every source) and service hours, by member
    and by team. A team's points are the sum of its members' points (a member of two teams counts
    for both); teams that earned nothing are left out."""
    earned = await points.earned_leaderboard(db, community_id, start, end, limit=None)
    hours = await activities.hours_leaderboard(db, community_id, start, end, limit=BOARD_ITEMS_MAX)
    team_hours = await activities.team_hours_leaderboard(db, community_id, start, end, limit=BOARD_ITEMS_MAX)
    top = earned[:BOARD_ITEMS_MAX]
    names = await _masked_names(db, [mid for mid, _ in top] + [mid for mid, _ in hours])
    by_member = dict(earned)
    team_points: dict[uuid.UUID, tuple[str, int]] = {}
    if by_member:
        for team_id, team_name, member_id in await activities.team_members(db, community_id):
            name, total = team_points.get(team_id, (team_name, 0))
            team_points[team_id] = (name, total + by_member.get(member_id, 0))
    teams = sorted(
        ((name, total) for name, total in team_points.values() if total > 0), key=lambda t: (-t[1], t[0])
    )[:BOARD_ITEMS_MAX]
    return {
        "leaderboard": [BoardRank(i + 1, names.get(mid, "?"), pts) for i, (mid, pts) in enumerate(top)],
        "hours_leaderboard": [
            BoardHours(i + 1, names.get(mid, "?"), minutes) for i, (mid, minutes) in enumerate(hours)
        ],
        "team_leaderboard": [BoardRank(i + 1, name, total) for i, (name, total) in enumerate(teams)],
        "team_hours_leaderboard": [
            BoardHours(i + 1, name, minutes) for i, (_tid, name, minutes) in enumerate(team_hours)
        ],
    }
