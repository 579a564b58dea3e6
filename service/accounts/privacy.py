"""Residents' own data under the PIPL (个人信息保护法): the privacy notice a person accepts, their requests to
correct their name or phone or to delete their account, and what a granted deletion does.

A deletion pseudonymises rather than deletes rows: the member row stays (the ledger's accounts, entries
and every other domain's rows point at its id), its name becomes 已注销用户xxxx, its phone a value no phone
can have, its password and codes are cleared and its memberships end. The ledger never hashed a name or
a phone (``points.rules.entry_hash``), so ``points.verify`` stays clean and balances stay as they were.
Audit events are append-only evidence and keep their content (the member is named there by id).
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any, Literal

from sqlalchemy import delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from service import clock
from service.accounts import rules
from service.accounts import service as accounts
from service.accounts.actor import Actor
from service.accounts.errors import (
    DeletionNotAllowed,
    InvalidDecision,
    MemberRequestDecided,
    MemberRequestNotFound,
    MemberRequestPending,
    NothingToCorrect,
    PhoneTaken,
    PrivacyNotAccepted,
    PrivacyVersionStale,
)
from service.accounts.models import (
    REASON_MAX,
    ROLES,
    Activation,
    HouseholdPeriod,
    Member,
    MemberRequest,
    MemberRequestKind,
    Membership,
    PrivacyConsent,
    Registration,
    SmsCode,
)
from service.audit.service import record
from service.errors import Forbidden, raises
from service.kit.text import InvalidField, bounded_text

__all__ = [
    "ConsentState",
    "DecidedRequest",
    "accept_notice",
    "check_accepted",
    "consent_state",
    "decide_request",
    "list_requests",
    "own_records",
    "request_correction",
    "request_deletion",
]

ConsentState = Literal["current", "stale", "none"]
DecidedRequest = MemberRequest
"""What :func:`decide_request` returns, for the type hints of the domains that act on a decision."""
Decision = Literal["grant", "refuse"]


@raises(PrivacyNotAccepted)
def check_accepted(accepted: bool | None) -> None:
    """An activation or sign-up whose person unticked the notice is refused before anything happens
    (``None``: an older client that does not send it; the person is asked after login instead)."""
    if accepted is False:
        raise PrivacyNotAccepted(errors=[{"field": "privacy_accepted", "message": "must be ticked"}])


@raises(PrivacyVersionStale)
async def accept_notice(
    db: AsyncSession,
    member_id: uuid.UUID,
    version: str | None = None,
    *,
    community_id: uuid.UUID | None = None,
) -> PrivacyConsent:
    """Record that the person accepted the notice in force (once per version; audited)."""
    if version is not None and version != rules.PRIVACY_NOTICE_VERSION:
        raise PrivacyVersionStale(params={"version": rules.PRIVACY_NOTICE_VERSION})
    current = rules.PRIVACY_NOTICE_VERSION
    row = await db.scalar(
        select(PrivacyConsent).where(PrivacyConsent.member_id == member_id, PrivacyConsent.version == current)
    )
    if row is not None:
        return row
    row = PrivacyConsent(member_id=member_id, version=current, accepted_at=clock.now())
    db.add(row)
    await db.flush()
    await record(
        db,
        actor_id=member_id,
        action="privacy_accepted",
        community_id=community_id,
        subject_member_id=member_id,
        detail={"version": current},
    )
    return row


async def consent_state(db: AsyncSession, member_id: uuid.UUID) -> ConsentState:
    """``current`` (accepted the notice in force), ``stale`` (only an older one) or ``none``."""
    versions = set(
        await db.scalars(select(PrivacyConsent.version).where(PrivacyConsent.member_id == member_id))
    )
    if rules.PRIVACY_NOTICE_VERSION in versions:
        return "current"
    return "stale" if versions else "none"


@raises(InvalidField)
def _reason(raw: str | None) -> str:
    return bounded_text(raw, "reason", high=REASON_MAX)


async def _pending(db: AsyncSession, member_id: uuid.UUID, kind: MemberRequestKind) -> MemberRequest | None:
    return await db.scalar(
        select(MemberRequest).where(
            MemberRequest.member_id == member_id,
            MemberRequest.kind == kind,
            MemberRequest.status == "pending",
        )
    )


@raises(MemberRequestPending)
async def _new_request(
    db: AsyncSession, actor: Actor, community_id: uuid.UUID, kind: MemberRequestKind, **fields: Any
) -> MemberRequest:
    waiting = await _pending(db, actor.member_id, kind)
    if waiting is not None:
        raise MemberRequestPending(params={"due": waiting.due_at.date().isoformat()})
    now = clock.now()
    row = MemberRequest(
        community_id=community_id,
        member_id=actor.member_id,
        kind=kind,
        due_at=now + timedelta(days=rules.REQUEST_DECISION_DAYS),
        created_at=now,
        **fields,
    )
    db.add(row)
    await db.flush()
    await record(
        db,
        actor_id=actor.member_id,
        action="data_correction_requested" if kind == "correction" else "deletion_requested",
        community_id=community_id,
        subject_member_id=actor.member_id,
        detail={"request_id": str(row.id), "due_at": row.due_at.isoformat()},
    )
    return row


@raises(accounts.require_role, Forbidden)
async def _community_of(db: AsyncSession, actor: Actor, community_id: uuid.UUID | None) -> uuid.UUID:
    """The community that decides: the one named (the caller must belong to it), else the caller's first."""
    if community_id is not None:
        await accounts.require_role(db, actor, community_id, *ROLES)
        return community_id
    first = await db.scalar(
        select(Membership.community_id)
        .where(Membership.member_id == actor.member_id)
        .order_by(Membership.created_at, Membership.id)
        .limit(1)
    )
    if first is None:
        raise Forbidden(detail="You are not a member of any community.")
    return first


@raises(_community_of, accounts.get_member, accounts._name, accounts._phone, NothingToCorrect)
@raises(PhoneTaken, _reason, _new_request)
async def request_correction(
    db: AsyncSession,
    actor: Actor,
    community_id: uuid.UUID | None,
    *,
    name: str | None = None,
    phone: str | None = None,
    reason: str | None = None,
) -> MemberRequest:
    """A member asks their community to correct their name or phone (an admin decides)."""
    community_id = await _community_of(db, actor, community_id)
    member = await accounts.get_member(db, actor.member_id)
    new_name = accounts._name(name) if name else None
    new_phone = accounts._phone(phone) if phone else None
    new_name = new_name if new_name != member.name else None
    new_phone = new_phone if new_phone != member.phone else None
    if new_name is None and new_phone is None:
        raise NothingToCorrect()
    if new_phone and await db.scalar(select(Member.id).where(Member.phone == new_phone)) is not None:
        raise PhoneTaken()
    return await _new_request(
        db, actor, community_id, "correction", new_name=new_name, new_phone=new_phone, reason=_reason(reason)
    )


@raises(DeletionNotAllowed, _community_of, _reason, _new_request)
async def request_deletion(
    db: AsyncSession, actor: Actor, community_id: uuid.UUID | None, reason: str | None = None
) -> MemberRequest:
    """A member asks for their account to be deleted; an admin of the community decides by ``due_at``."""
    if actor.is_platform_admin:
        raise DeletionNotAllowed()
    community_id = await _community_of(db, actor, community_id)
    return await _new_request(db, actor, community_id, "deletion", reason=_reason(reason))


@raises(accounts.require_role)
async def list_requests(
    db: AsyncSession, actor: Actor, community_id: uuid.UUID, *, pending_only: bool = True
) -> list[tuple[MemberRequest, str]]:
    """The community's requests, oldest due first, with the requester's name (admins)."""
    await accounts.require_role(db, actor, community_id, "admin")
    stmt = (
        select(MemberRequest, Member.name)
        .join(Member, Member.id == MemberRequest.member_id)
        .where(MemberRequest.community_id == community_id)
        .order_by(MemberRequest.due_at, MemberRequest.id)
        .limit(200)
    )
    if pending_only:
        stmt = stmt.where(MemberRequest.status == "pending")
    return [(r, n) for r, n in (await db.execute(stmt)).all()]


@raises(MemberRequestNotFound, accounts.require_role, Forbidden, MemberRequestDecided, InvalidDecision)
@raises(accounts.update_member, accounts.get_member, _reason)
async def decide_request(
    db: AsyncSession, actor: Actor, request_id: uuid.UUID, decision: str, note: str | None = None
) -> MemberRequest:
    """An admin of the member's community (not the member) grants or refuses a request; audited."""
    if decision not in ("grant", "refuse"):
        raise InvalidDecision()
    row = await db.scalar(select(MemberRequest).where(MemberRequest.id == request_id).with_for_update())
    if row is None:
        raise MemberRequestNotFound()
    await accounts.require_role(db, actor, row.community_id, "admin")
    if row.member_id == actor.member_id:
        raise Forbidden(detail="Another administrator decides your own request.")
    if row.status != "pending":
        raise MemberRequestDecided(params={"status": row.status})
    note_text = _reason(note) or None
    if decision == "grant" and row.kind == "correction":
        await accounts.update_member(
            db, actor, row.community_id, row.member_id, name=row.new_name, phone=row.new_phone
        )
    elif decision == "grant":
        await _erase(db, actor, await accounts.get_member(db, row.member_id))
    row.status = "granted" if decision == "grant" else "refused"
    row.decided_by, row.decided_at, row.decision_note = actor.member_id, clock.now(), note_text
    await db.flush()
    await record(
        db,
        actor_id=actor.member_id,
        action=f"{'data_correction' if row.kind == 'correction' else 'deletion'}_{row.status}",
        community_id=row.community_id,
        subject_member_id=row.member_id,
        detail={"request_id": str(row.id), "note": note_text},
    )
    return row


async def _erase(db: AsyncSession, actor: Actor, member: Member) -> None:
    """Pseudonymise a person: no name, phone, password or codes; every role and household link ends.

    Rows elsewhere keep pointing at the member's id, so the ledger's amounts and hash chains are
    untouched; open requests and sign-ups of the person are closed."""
    now = clock.now()
    old_phone = member.phone
    member.name = rules.pseudonym(member.id)
    member.phone = rules.placeholder_phone(member.id)
    member.password_hash = None
    member.token_version += 1
    member.phone_verified_at = None
    member.held_by, member.held_since = None, None
    await db.execute(delete(Membership).where(Membership.member_id == member.id))
    await db.execute(delete(SmsCode).where(SmsCode.phone == old_phone))
    await accounts.void_open_codes(db, member.id)
    await db.execute(
        update(HouseholdPeriod)
        .where(
            or_(HouseholdPeriod.member_a == member.id, HouseholdPeriod.member_b == member.id),
            HouseholdPeriod.unlinked_at.is_(None),
        )
        .values(unlinked_at=now)
    )
    await db.execute(
        update(Registration)
        .where(Registration.member_id == member.id, Registration.status == "pending")
        .values(status="rejected", decided_by=actor.member_id, decided_at=now)
    )
    await db.execute(
        update(MemberRequest)
        .where(
            MemberRequest.member_id == member.id,
            MemberRequest.status == "pending",
            MemberRequest.kind == "correction",
        )
        .values(status="refused", decided_by=actor.member_id, decided_at=now, decision_note="account deleted")
    )
    accounts._forget_token_version(member.id)
    await db.flush()


async def own_records(db: AsyncSession, member_id: uuid.UUID) -> dict[str, list[dict[str, Any]]]:
    """What the accounts domain holds about a person, as plain values (for "我的数据")."""
    member = await db.get(Member, member_id)
    if member is None:
        return {}
    return {
        "profile": [_row(member, exclude={"password_hash"})],
        "memberships": [_row(m) for m in await db.scalars(_of(Membership, Membership.member_id, member_id))],
        "household_links": [
            _row(h)
            for h in await db.scalars(
                select(HouseholdPeriod)
                .where(or_(HouseholdPeriod.member_a == member_id, HouseholdPeriod.member_b == member_id))
                .order_by(HouseholdPeriod.linked_at)
            )
        ],
        "registrations": [
            _row(r) for r in await db.scalars(_of(Registration, Registration.member_id, member_id))
        ],
        "activation_codes": [
            _row(a, exclude={"code_hash", "roles_snapshot"})
            for a in await db.scalars(_of(Activation, Activation.member_id, member_id))
        ],
        "consents": [
            _row(c) for c in await db.scalars(_of(PrivacyConsent, PrivacyConsent.member_id, member_id))
        ],
        "requests": [
            _row(r) for r in await db.scalars(_of(MemberRequest, MemberRequest.member_id, member_id))
        ],
    }


def _of(model: Any, column: Any, member_id: uuid.UUID) -> Any:
    return select(model).where(column == member_id).order_by(model.created_at, model.id).limit(10_000)


def _row(obj: Any, exclude: frozenset[str] | set[str] = frozenset()) -> dict[str, Any]:
    return {c.key: getattr(obj, c.key) for c in obj.__table__.columns if c.key not in exclude}
