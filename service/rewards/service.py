"""Good conduct (村规民约 / 道德银行) commands: the rules catalogue, settings, claims, review, public notice,
settlement, evidence photos. Reads are in ``service.rewards.views``; the board is ``service.board``.

A claim moves ``submitted`` -> (review) -> ``publicized`` -> (publicity ends) -> ``awarded``, or is
``rejected`` by a reviewer; an objection during publicity sends it back to ``submitted`` for a new review
round. Every refused transition raises a DomainError with a stable code before anything is written.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from service import clock
from service.accounts import households as households_history
from service.accounts import service as accounts
from service.accounts import views as people
from service.accounts.actor import Actor
from service.accounts.proposals import Proposed, gate
from service.audit.service import record, snapshot
from service.config import POINTS_PER_AWARD_MAX, TEXT_MAX, TITLE_MAX
from service.db import transaction
from service.errors import DomainError, Forbidden, raises
from service.kit.masking import mask_name
from service.kit.months import year_in_zone
from service.kit.text import InvalidField, bounded_int, bounded_text
from service.points import service as points
from service.rewards import households_service as households
from service.rewards import rules
from service.rewards.errors import (
    AlreadyReviewedByYou,
    ClaimNotEditable,
    ClaimNotFound,
    ClaimNotPublicized,
    ClaimNotReviewable,
    DeductionFiler,
    DuplicateClaim,
    EvidenceRequired,
    InvalidAdoption,
    InvalidCode,
    InvalidDecision,
    InvalidEventDate,
    InvalidEventRef,
    InvalidLimit,
    MemberNotFound,
    PhotoNotFound,
    ReviewerConflict,
    RuleCodeTaken,
    RuleInactive,
    RuleNotFound,
    TooManyObjections,
    TooManyPhotos,
    YearlyLimitReached,
)
from service.rewards.models import (
    Claim,
    ClaimObjection,
    ClaimPhoto,
    ClaimReview,
    ClaimStatus,
    RewardRule,
    RewardsSettings,
    RuleAdoption,
)
from service.rewards.photos import clean_photo_async

__all__ = [
    "KNOB_RULE",
    "KNOB_SETTINGS",
    "NOTE_MAX",
    "SETTLE_BATCH",
    "STAFF_ROLES",
    "CommunitySettings",
    "SettleOutcome",
    "add_photo",
    "apply_rule",
    "apply_settings",
    "can_see",
    "conflicted",
    "create_rule",
    "get_photo",
    "get_rule",
    "get_settings",
    "object_to_claim",
    "review_claim",
    "settle_claim",
    "settle_due_claims",
    "submit_claim",
    "update_rule",
    "update_settings",
]

log = logging.getLogger("jifen.rewards")

SETTLE_BATCH = 200
"""Claims settled per job run and transaction batch."""
NOTE_MAX = 500
STAFF_ROLES = ("reviewer", "organizer", "admin")
SettleOutcome = Literal["awarded", "limit", "skipped"]


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
        two_reviewers_from_points=row.two_reviewers_from_points,
        wish_points=row.wish_points,
        wish_auto_award_days=row.wish_auto_award_days,
        wish_assign_timeout_days=row.wish_assign_timeout_days,
        wish_points_monthly_cap=row.wish_points_monthly_cap,
    )


KNOB_SETTINGS = "rewards_settings"
KNOB_RULE = "reward_rule"
"""The proposals' names of the settings and of one rule (applied by :func:`apply_settings`,
:func:`apply_rule`)."""
_SETTINGS_BOUNDS = {
    "two_reviewers_from_points": (1, POINTS_PER_AWARD_MAX),
    "wish_points": (0, POINTS_PER_AWARD_MAX),
    "wish_auto_award_days": (1, rules.SETTINGS_DAYS_MAX),
    "wish_assign_timeout_days": (1, rules.SETTINGS_DAYS_MAX),
    "wish_points_monthly_cap": (0, POINTS_PER_AWARD_MAX),
}


@raises(InvalidField, accounts.get_community, accounts.require_role)
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
) -> CommunitySettings | Proposed:
    """Change the settings (fields left None keep their value). A change that lets more points issue
    waits for a second person (a :class:`Proposed`); the rest applies at once."""
    await accounts.get_community(db, community_id)
    await accounts.require_role(db, actor, community_id, "admin")
    given = {
        "two_reviewers_from_points": two_reviewers_from_points,
        "wish_points": wish_points,
        "wish_auto_award_days": wish_auto_award_days,
        "wish_assign_timeout_days": wish_assign_timeout_days,
        "wish_points_monthly_cap": wish_points_monthly_cap,
    }
    _check_settings(given)
    row = await db.get(RewardsSettings, community_id, with_for_update=True)
    before = asdict(await get_settings(db, community_id))
    after = before | {k: v for k, v in given.items() if v is not None}
    widens = rules.settings_widens(before, after)
    proposed = await gate(db, actor, community_id, KNOB_SETTINGS, before, after, widens=widens)
    if proposed is not None:
        return proposed
    return await _store_settings(db, community_id, row, after)


@raises(InvalidField)
async def apply_settings(
    db: AsyncSession,
    community_id: uuid.UUID,
    target_id: uuid.UUID | None,
    before: dict[str, Any],
    after: dict[str, Any],
    by: uuid.UUID,
) -> bool:
    """Apply approved settings, re-validated; False (nothing changed) if they are no longer ``before``."""
    row = await db.get(RewardsSettings, community_id, with_for_update=True)
    if asdict(await get_settings(db, community_id)) != before:
        return False
    _check_settings(after)
    await _store_settings(db, community_id, row, after)
    return True


def _check_settings(values: dict[str, Any]) -> None:
    for name, (low, high) in _SETTINGS_BOUNDS.items():
        bounded_int(values.get(name), name, low, high)


async def _store_settings(
    db: AsyncSession, community_id: uuid.UUID, row: RewardsSettings | None, values: dict[str, Any]
) -> CommunitySettings:
    if row is None:
        row = RewardsSettings(community_id=community_id, updated_at=clock.now(), **values)
        db.add(row)
    for name in _SETTINGS_BOUNDS:
        setattr(row, name, values[name])
    row.updated_at = clock.now()
    await db.flush()
    return await get_settings(db, community_id)


# ---------------------------------------------------------------- the rules catalogue


@raises(InvalidCode, InvalidField, RuleCodeTaken, accounts.get_community, accounts.require_role)
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
) -> RewardRule | Proposed:
    """Add a rule. A rule is a new way to issue points (``points`` > 0) or to deduct them (扣分, < 0, for
    breaking the village rules): an active one is created switched off, with a proposal to switch it on
    that a second person approves (a :class:`Proposed`)."""
    await accounts.get_community(db, community_id)
    await accounts.require_role(db, actor, community_id, "admin")
    code = (code or "").strip().lower()
    if not rules.RULE_CODE_RE.match(code):
        raise InvalidCode(errors=[{"field": "code", "message": "2-32 of a-z 0-9 - _"}])
    _check_rule_points(points)
    bounded_int(publicity_days, "publicity_days", 0, rules.PUBLICITY_DAYS_MAX)
    bounded_int(limit_per_member_per_year, "limit_per_member_per_year", 1, rules.YEARLY_LIMIT_MAX)
    taken = await db.scalar(
        select(RewardRule.id).where(RewardRule.community_id == community_id, RewardRule.code == code)
    )
    if taken is not None:
        raise RuleCodeTaken(params={"code": repr(code)})
    rule = RewardRule(
        community_id=community_id,
        code=code,
        title=bounded_text(title, "title", low=1, high=TITLE_MAX),
        description=bounded_text(description, "description", high=TEXT_MAX),
        points=points,
        evidence_required=evidence_required,
        publicity_days=publicity_days,
        limit_per_member_per_year=limit_per_member_per_year,
        active=False,
    )
    db.add(rule)
    await db.flush()
    before = _rule_values(rule)
    after = before | {"active": active}
    proposed = await gate(db, actor, community_id, KNOB_RULE, before, after, widens=active, target_id=rule.id)
    return proposed or rule


_RULE_FIELDS = (
    "code",
    "title",
    "points",
    "evidence_required",
    "publicity_days",
    "limit_per_member_per_year",
    "active",
)
_SETTINGS_FIELDS = (
    "two_reviewers_from_points",
    "wish_points",
    "wish_auto_award_days",
    "wish_assign_timeout_days",
    "wish_points_monthly_cap",
)


async def _audit(
    db: AsyncSession,
    actor: Actor,
    community_id: uuid.UUID,
    action: str,
    detail: dict[str, Any],
    subject_member_id: uuid.UUID | None = None,
) -> None:
    await record(
        db,
        actor_id=actor.member_id,
        action=action,
        community_id=community_id,
        subject_member_id=subject_member_id,
        detail=detail,
    )


_UNSET = object()


@raises(InvalidLimit, InvalidField, RuleNotFound, accounts.require_role)
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
) -> RewardRule | Proposed:
    """Change a rule. Claims already submitted keep the points they were submitted with. The title and
    description change at once; a change that lets more points issue (more points, switched on, no
    evidence, a shorter notice, a higher or no yearly limit) waits for a second person."""
    rule = await get_rule(db, rule_id, lock=True)
    await accounts.require_role(db, actor, rule.community_id, "admin")
    if limit_per_member_per_year is not _UNSET:
        limit = limit_per_member_per_year
        if limit is not None and not isinstance(limit, int):
            raise InvalidLimit()
    before = _rule_values(rule)
    given = {
        "points": points,
        "evidence_required": evidence_required,
        "publicity_days": publicity_days,
        "active": active,
    }
    after = before | {k: v for k, v in given.items() if v is not None}
    if limit_per_member_per_year is not _UNSET:
        after["limit_per_member_per_year"] = limit_per_member_per_year
    _check_rule(after)
    if title is not None:
        rule.title = bounded_text(title, "title", low=1, high=TITLE_MAX)
    if description is not None:
        rule.description = bounded_text(description, "description", high=TEXT_MAX)
    widens = rules.rule_widens(before, after)
    proposed = None
    if before != after:  # the gate records the change (proposed, or narrowed and applied now)
        proposed = await gate(
            db, actor, rule.community_id, KNOB_RULE, before, after, widens=widens, target_id=rule.id
        )
    if proposed is not None:
        await db.flush()
        return proposed
    _set_rule(rule, after)
    await db.flush()
    if before == after:  # the title or the description alone: one event of its own
        detail = {"rule_id": str(rule.id), "before": before, "after": snapshot(rule, *_RULE_FIELDS)}
        await _audit(db, actor, rule.community_id, "rule_updated", detail)
    return rule


@raises(InvalidField, InvalidLimit)
async def apply_rule(
    db: AsyncSession,
    community_id: uuid.UUID,
    target_id: uuid.UUID | None,
    before: dict[str, Any],
    after: dict[str, Any],
    by: uuid.UUID,
) -> bool:
    """Apply an approved rule change, re-validated; False (nothing changed) if the rule is gone, moved or
    no longer ``before``."""
    rule = await db.get(RewardRule, target_id, with_for_update=True) if target_id else None
    if rule is None or rule.community_id != community_id or _rule_values(rule) != before:
        return False
    _check_rule(after)
    _set_rule(rule, after)
    await db.flush()
    return True


def _rule_values(rule: RewardRule) -> dict[str, Any]:
    return {
        "points": rule.points,
        "active": rule.active,
        "evidence_required": rule.evidence_required,
        "publicity_days": rule.publicity_days,
        "limit_per_member_per_year": rule.limit_per_member_per_year,
    }


def _check_rule_points(points: int) -> None:
    """A rule rewards (1 to the most one award may pay) or deducts (扣分: -1 to minus that); never 0."""
    bounded_int(points, "points", -POINTS_PER_AWARD_MAX, POINTS_PER_AWARD_MAX)
    if points == 0:
        raise InvalidField(
            "invalid_points",
            "%(field)s must not be 0: positive to reward, negative to deduct.",
            params={"field": "points"},
            errors=[{"field": "points", "message": "not 0"}],
        )


def _check_rule(values: dict[str, Any]) -> None:
    _check_rule_points(values["points"])
    bounded_int(values["publicity_days"], "publicity_days", 0, rules.PUBLICITY_DAYS_MAX)
    limit = values["limit_per_member_per_year"]
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool)):
        raise InvalidLimit()
    bounded_int(limit, "limit_per_member_per_year", 1, rules.YEARLY_LIMIT_MAX)


def _set_rule(rule: RewardRule, values: dict[str, Any]) -> None:
    rule.points, rule.active = values["points"], bool(values["active"])
    rule.evidence_required = bool(values["evidence_required"])
    rule.publicity_days = values["publicity_days"]
    rule.limit_per_member_per_year = values["limit_per_member_per_year"]


@raises(RuleNotFound, accounts.require_role, accounts.get_community, InvalidAdoption)
async def record_adoption(
    db: AsyncSession,
    actor: Actor,
    rule_id: uuid.UUID,
    *,
    meeting: str,
    held_on: date,
    attendance: int,
    votes_for: int,
    votes_against: int,
    effective_from: date,
) -> RuleAdoption:
    """Record the meeting that adopted the rule as it stands now (its title and points): a new version,
    in force from ``effective_from``. Claims filed from then on name it; the board lists it with the
    meeting's facts, and the earlier versions stay readable."""
    rule = await get_rule(db, rule_id, lock=True)
    await accounts.require_role(db, actor, rule.community_id, "admin")
    community = await accounts.get_community(db, rule.community_id)
    today = clock.now().astimezone(ZoneInfo(community.timezone)).date()
    problem = rules.adoption_problem(
        meeting, held_on, attendance, votes_for, votes_against, effective_from, today
    )
    if problem is not None:
        raise InvalidAdoption(errors=[{"field": problem[0], "message": problem[1]}])
    last = await db.scalar(select(func.max(RuleAdoption.version)).where(RuleAdoption.rule_id == rule.id))
    row = RuleAdoption(
        community_id=rule.community_id,
        rule_id=rule.id,
        version=int(last or 0) + 1,
        title=rule.title,
        points=rule.points,
        meeting=meeting,
        held_on=held_on,
        attendance=attendance,
        votes_for=votes_for,
        votes_against=votes_against,
        effective_from=effective_from,
        recorded_by=actor.member_id,
    )
    db.add(row)
    await db.flush()
    detail = {
        "rule_id": str(rule.id),
        "version": row.version,
        "points": row.points,
        "meeting": meeting,
        "held_on": held_on.isoformat(),
        "attendance": attendance,
        "votes_for": votes_for,
        "votes_against": votes_against,
        "effective_from": effective_from.isoformat(),
    }
    await _audit(db, actor, rule.community_id, "rule_adopted", detail)
    return row


async def adoptions_of(db: AsyncSession, rule_id: uuid.UUID) -> list[RuleAdoption]:
    """Every recorded version of a rule, the newest first (public: the board shows them)."""
    return list(
        await db.scalars(
            select(RuleAdoption).where(RuleAdoption.rule_id == rule_id).order_by(RuleAdoption.version.desc())
        )
    )


async def version_in_force(db: AsyncSession, rule_id: uuid.UUID, day: date) -> int | None:
    """The rule's version in force on ``day`` (the newest whose effective date has come), or None."""
    found = await db.scalar(
        select(func.max(RuleAdoption.version)).where(
            RuleAdoption.rule_id == rule_id, RuleAdoption.effective_from <= day
        )
    )
    return int(found) if found is not None else None


@raises(RuleNotFound)
async def get_rule(db: AsyncSession, rule_id: uuid.UUID, *, lock: bool = False) -> RewardRule:
    rule = await db.get(RewardRule, rule_id, with_for_update=lock)
    if rule is None:
        raise RuleNotFound()
    return rule


# ---------------------------------------------------------------- claims


async def _count_towards_limit(
    db: AsyncSession,
    claim_or_rule: RewardRule,
    member_id: uuid.UUID,
    year: int,
    statuses: tuple[ClaimStatus, ...],
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


@raises(MemberNotFound, accounts.require_role, households.require_household)
async def _check_filer(db: AsyncSession, actor: Actor, community_id: uuid.UUID, member_id: uuid.UUID) -> None:
    """A member claims for themself or a confirmed household member; an organizer for any member."""
    await accounts.require_role(db, actor, community_id, "member")
    if member_id == actor.member_id:
        return
    if not (await people.roles_in(db, actor, community_id)).any("organizer"):
        await households.require_household(db, actor, community_id, member_id)
    if not await people.is_member(db, member_id, community_id):
        raise MemberNotFound()


def _event(event_date: date | None, event_ref: str | None, today: date) -> tuple[date, str | None]:
    day = event_date or today
    if not rules.event_date_allowed(day, today):
        raise InvalidEventDate(errors=[{"field": "event_date", "message": "today or within the past year"}])
    ref = rules.normalise_event_ref(event_ref)
    if ref is not None and len(ref) > rules.EVENT_REF_MAX:
        raise InvalidEventRef(errors=[{"field": "event_ref", "message": "at most 64 characters"}])
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
    raise DuplicateClaim(
        params={"claim_id": str(first.id), "event_date": day_text},
        errors=[
            {"field": "first_claim_id", "message": str(first.id)},
            {"field": "first_event_date", "message": day_text},
        ],
    )


@raises(
    RuleNotFound,
    RuleInactive,
    DeductionFiler,
    accounts.require_role,
    EvidenceRequired,
    YearlyLimitReached,
    DuplicateClaim,
    InvalidEventDate,
    InvalidEventRef,
    InvalidField,
    accounts.get_community,
    _check_filer,
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
        raise RuleNotFound()
    community = await accounts.get_community(db, rule.community_id)
    if rule.points < 0:  # a deduction is filed by a grid worker (organizer), never by or for oneself
        await accounts.require_role(db, actor, rule.community_id, "organizer")
        if member_id == actor.member_id:
            raise DeductionFiler()
    await _check_filer(db, actor, rule.community_id, member_id)
    if not rule.active:
        raise RuleInactive()
    evidence = bounded_text(evidence, "evidence", high=TEXT_MAX)
    if (rule.evidence_required or rule.points < 0) and not evidence:
        raise EvidenceRequired(errors=[{"field": "evidence", "message": "required by this rule"}])
    now = clock.now()
    year = year_in_zone(now, community.timezone)
    day, ref = _event(event_date, event_ref, now.astimezone(ZoneInfo(community.timezone)).date())
    await _refuse_duplicate(db, rule, member_id, day, ref)
    if rule.limit_per_member_per_year is not None:
        used = await _count_towards_limit(db, rule, member_id, year, ("submitted", "publicized", "awarded"))
        if used >= rule.limit_per_member_per_year:
            raise YearlyLimitReached(params={"limit": rule.limit_per_member_per_year})
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
        rule_version=await version_in_force(db, rule.id, day_of(now, community.timezone)),
    )
    db.add(claim)
    await db.flush()
    if member_id != actor.member_id:  # filed for someone else (an organizer, a household member)
        detail = {"claim_id": str(claim.id), "rule_id": str(rule.id), "points": claim.points}
        await _audit(db, actor, rule.community_id, "claim_filed", detail, member_id)
    return claim


async def _claim_for_update(db: AsyncSession, claim_id: uuid.UUID) -> Claim:
    claim = await db.scalar(select(Claim).where(Claim.id == claim_id).with_for_update())
    if claim is None:
        raise ClaimNotFound()
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


async def conflicted(db: AsyncSession, claim: Claim, staff_id: uuid.UUID) -> bool:
    """Whether ``staff_id`` may not decide a claim (its review or an objection's outcome): the
    beneficiary, the submitter, whoever raised an open objection, or anyone who was the household of one
    of them at any time since the claim was filed (``accounts.households.conflicted``)."""
    parties = {claim.member_id, claim.submitted_by}
    parties |= set(
        await db.scalars(
            select(ClaimObjection.member_id).where(
                ClaimObjection.claim_id == claim.id, ClaimObjection.resolved_at.is_(None)
            )
        )
    )
    return await households_history.conflicted(db, claim.community_id, staff_id, parties, claim.created_at)


@raises(
    ClaimNotFound,
    InvalidDecision,
    InvalidField,
    ClaimNotReviewable,
    ReviewerConflict,
    AlreadyReviewedByYou,
    accounts.require_role,
    get_rule,
)
async def review_claim(
    db: AsyncSession,
    actor: Actor,
    claim_id: uuid.UUID,
    decision: str,
    note: str = "",
    *,
    public_summary: str | None = None,
) -> Claim:
    """Approve or reject. Approval publicizes once enough distinct reviewers of this round agree."""
    claim = await _claim_for_update(db, claim_id)
    await accounts.require_role(db, actor, claim.community_id, "reviewer")
    if decision not in {"approve", "reject"}:
        raise InvalidDecision()
    note = bounded_text(note, "note", high=NOTE_MAX)
    if not rules.claim_action_allowed("review", claim.status):
        raise ClaimNotReviewable(params={"status": claim.status})
    if await conflicted(db, claim, actor.member_id):
        raise ReviewerConflict()
    mine = await db.scalar(
        select(ClaimReview.id).where(
            ClaimReview.claim_id == claim.id,
            ClaimReview.review_round == claim.review_round,
            ClaimReview.reviewer_id == actor.member_id,
        )
    )
    if mine is not None:
        raise AlreadyReviewedByYou()
    now = clock.now()
    db.add(
        ClaimReview(
            community_id=claim.community_id,
            claim_id=claim.id,
            reviewer_id=actor.member_id,
            review_round=claim.review_round,
            decision="approve" if decision == "approve" else "reject",
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
            abs(claim.points), settings.two_reviewers_from_points
        ):
            rule = await get_rule(db, claim.rule_id)
            claim.public_summary = await board_summary(
                db, claim.community_id, public_summary or claim.evidence
            )
            claim.status, claim.decided_at, claim.decision_note = "publicized", now, note
            claim.publicized_at = now
            claim.publicity_ends_at = now + timedelta(days=rule.publicity_days)
            await _resolve_objections(db, claim, now)
    await db.flush()
    action = "claim_approved" if decision == "approve" else "claim_rejected"
    detail = {"claim_id": str(claim.id), "points": claim.points, "status": claim.status, "note": note}
    await _audit(db, actor, claim.community_id, action, detail, claim.member_id)
    return claim


@raises(ClaimNotFound, InvalidField, ClaimNotPublicized, TooManyObjections, accounts.require_role)
async def object_to_claim(db: AsyncSession, actor: Actor, claim_id: uuid.UUID, reason: str) -> ClaimObjection:
    """Any member of the community objects during public notice; the claim goes back to review."""
    claim = await _claim_for_update(db, claim_id)
    await accounts.require_role(db, actor, claim.community_id, "member")
    reason = bounded_text(reason, "reason", low=1, high=NOTE_MAX)
    if not rules.claim_action_allowed("object", claim.status):
        raise ClaimNotPublicized()
    count = await db.scalar(
        select(func.count()).select_from(ClaimObjection).where(ClaimObjection.claim_id == claim.id)
    )
    if int(count or 0) >= rules.OBJECTIONS_PER_CLAIM_MAX:
        raise TooManyObjections()
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


@raises(ClaimNotFound, RuleNotFound, points.award, points.deduct)
async def settle_claim(db: AsyncSession, claim_id: uuid.UUID) -> SettleOutcome:
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
    if claim.points < 0:  # 扣分: what the balance holds now; the rest is owed from later earnings
        taken = await points.deduct(
            db,
            community_id=claim.community_id,
            member_id=claim.member_id,
            points=-claim.points,
            code="deduction",
            memo=rule.title,
            ref_type="claim",
            ref_id=str(claim.id),
        )
        transfer_id = taken.transfer_id
    else:
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
        transfer_id = result.transfer_id
    claim.status, claim.awarded_at, claim.transfer_id = "awarded", now, transfer_id
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


# ---------------------------------------------------------------- photos


@raises(accounts.require_role)
async def can_see(db: AsyncSession, actor: Actor, claim: Claim) -> None:
    """The claimant, the submitter and staff see a claim and its photos."""
    if actor.member_id in {claim.member_id, claim.submitted_by}:
        return
    await accounts.require_role(db, actor, claim.community_id, *STAFF_ROLES)


@raises(ClaimNotFound, Forbidden, ClaimNotEditable, TooManyPhotos, clean_photo_async)
async def add_photo(db: AsyncSession, actor: Actor, claim_id: uuid.UUID, raw: bytes) -> ClaimPhoto:
    claim = await _claim_for_update(db, claim_id)
    if actor.member_id not in {claim.member_id, claim.submitted_by}:
        raise Forbidden(detail="Only the claimant or the submitter adds photos.")
    if not rules.claim_action_allowed("add_photo", claim.status):
        raise ClaimNotEditable()
    count = await db.scalar(
        select(func.count()).select_from(ClaimPhoto).where(ClaimPhoto.claim_id == claim.id)
    )
    if int(count or 0) >= rules.PHOTOS_PER_CLAIM_MAX:
        raise TooManyPhotos(params={"max": rules.PHOTOS_PER_CLAIM_MAX})
    photo = await clean_photo_async(raw)  # decoding takes CPU time: off the event loop
    row = ClaimPhoto(
        community_id=claim.community_id,
        claim_id=claim.id,
        content_type=photo.media_type,
        width=photo.width,
        height=photo.height,
        size_bytes=len(photo.data),
        data=photo.data,
        created_at=clock.now(),
    )
    db.add(row)
    await db.flush()
    return row


@raises(PhotoNotFound, can_see)
async def get_photo(db: AsyncSession, actor: Actor, claim_id: uuid.UUID, photo_id: uuid.UUID) -> ClaimPhoto:
    claim = await db.get(Claim, claim_id)
    photo = await db.get(ClaimPhoto, photo_id)
    if claim is None or photo is None or photo.claim_id != claim.id:
        raise PhotoNotFound()
    await can_see(db, actor, claim)
    return photo


def day_of(moment: datetime, timezone: str) -> date:
    return moment.astimezone(ZoneInfo(timezone)).date()


async def board_summary(db: AsyncSession, community_id: uuid.UUID, text: str) -> str:
    """``text`` as the public board may show it: the full name of every member of the community found in
    it masked (王秀英 -> 王*英), phone and ID numbers masked, shortened (``rules.evidence_summary``)."""
    text = " ".join((text or "").split())
    if not text:
        return ""
    found = await people.names_in_text(db, community_id, text)
    return rules.evidence_summary(text, [(n, mask_name(n)) for n in found])
