"""Getting residents in: activation codes and invitation cards, SMS login codes, self-registration,
and removing roles. Every function takes an open session.

An activation is a one-time code that lets a member set their own password. Importing or adding a
member without a password creates one (``activations``, which issues every code); a forgotten password
is a new one issued by the admin (admins never choose a member's password).
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import case, delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from service import clock
from service.accounts import activations, rules
from service.accounts import service as accounts
from service.accounts.actor import Actor
from service.accounts.errors import (
    ActivationInvalid,
    InvalidSelfRegistration,
    MemberElsewhere,
    MemberNotFound,
    NoAccount,
    PasswordOrSmsCode,
    PhoneTaken,
    RegistrationClosed,
    RegistrationDecided,
    RegistrationNotFound,
    RoleNeedsPlatformAdmin,
    SmsCodeInvalid,
    SmsCodeTooSoon,
    TooManyAttempts,
)
from service.accounts.models import (
    Activation,
    Community,
    LoginFailure,
    Member,
    Membership,
    Registration,
    RegistrationStatus,
    SmsCode,
)
from service.accounts.proposals import Proposed, gate
from service.accounts.sms import SmsSender
from service.audit.service import record
from service.config import LOGIN_FAILURES_MAX, LOGIN_WINDOW_SECONDS
from service.db import is_postgres
from service.errors import Forbidden, raises
from service.kit.masking import mask_name

__all__ = [
    "KNOB_SELF_REGISTRATION",
    "ActivationView",
    "InvitationCard",
    "SignUpOutcome",
    "activate",
    "activation_view",
    "apply_self_registration",
    "count_pending_invitations",
    "decide_registration",
    "invitation_cards",
    "issue_activation",
    "list_all_communities",
    "list_registrations",
    "pending_sign_ups",
    "register",
    "send_sms_code",
    "set_self_registration",
    "sms_login",
]

SignUpOutcome = Literal["joined", "pending_approval"]
"""A sign-up's result: a member at once, or waiting for an admin's approval."""
ADMIN_ONLY_ROLES = ("admin", "reviewer")
"""Roles only a platform admin may take away (a community admin could otherwise remove a co-admin or
the reviewer who checks their claims)."""
COMMUNITIES_LIST_MAX = 500


@dataclass(frozen=True)
class InvitationCard:
    member_id: uuid.UUID
    name: str
    phone: str
    community: str
    code: str
    expires_at: datetime


@dataclass(frozen=True)
class ActivationView:
    """What the logged-out join page shows: enough to recognise the card, nothing more."""

    masked_name: str
    community: str
    timezone: str
    expires_at: datetime


# ---------------------------------------------------------------- throttling (the login counters table)


@raises(TooManyAttempts)
async def _throttle(db: AsyncSession, key: str, limit: int) -> None:
    """Refuse once ``key`` has counted ``limit`` events in the current window."""
    row = await db.get(LoginFailure, key, populate_existing=True)
    if row is None or row.count < limit:
        return
    elapsed = (clock.now() - row.window_started_at).total_seconds()
    if elapsed > LOGIN_WINDOW_SECONDS:
        return
    wait = max(1, int(LOGIN_WINDOW_SECONDS - elapsed))
    raise TooManyAttempts(
        headers={"Retry-After": str(wait)},
        params={"seconds": wait},
    )


async def _bump(db: AsyncSession, key: str) -> None:
    """Count one event for ``key`` in one statement (two first events at once cannot collide)."""
    now = clock.now()
    stale = LoginFailure.window_started_at < now - timedelta(seconds=LOGIN_WINDOW_SECONDS)
    insert = pg_insert if is_postgres(db) else sqlite_insert
    await db.execute(
        insert(LoginFailure)
        .values(key=key, count=1, window_started_at=now)
        .on_conflict_do_update(
            index_elements=[LoginFailure.key],
            set_={
                "count": case((stale, 1), else_=LoginFailure.count + 1),
                "window_started_at": case((stale, now), else_=LoginFailure.window_started_at),
            },
        )
    )


# ---------------------------------------------------------------- activations


@raises(MemberNotFound, MemberElsewhere, RoleNeedsPlatformAdmin)
async def _require_manageable(
    db: AsyncSession, actor: Actor, member: Member, community_id: uuid.UUID
) -> None:
    """A community admin acts only on people whose every membership is in that community."""
    held = await db.scalar(
        select(Membership.id).where(
            Membership.member_id == member.id, Membership.community_id == community_id
        )
    )
    if held is None:
        raise MemberNotFound(detail="No such member in this community.")
    if actor.is_platform_admin:
        return
    if await activations.belongs_elsewhere(db, member, community_id):
        raise MemberElsewhere(
            detail="This person also belongs to another community; only a platform admin can do this.",
        )
    if member.id != actor.member_id and await _holds_checking_role(db, member.id):
        # A code for a fellow admin would let one admin approve his own awards as the other.
        raise RoleNeedsPlatformAdmin(
            detail="Only a platform admin can give an administrator or reviewer a new code.",
        )


async def _holds_checking_role(db: AsyncSession, member_id: uuid.UUID) -> bool:
    held = await db.scalar(
        select(Membership.id).where(Membership.member_id == member_id, Membership.role.in_(ADMIN_ONLY_ROLES))
    )
    return held is not None


@raises(accounts.get_community, accounts.require_role, accounts.get_member, _require_manageable)
async def issue_activation(
    db: AsyncSession, actor: Actor, community_id: uuid.UUID, member_id: uuid.UUID, secret_key: str
) -> tuple[Activation, str]:
    """The admin gives a member a new one-time code (a forgotten password, a lost card)."""
    await accounts.get_community(db, community_id)
    await accounts.require_role(db, actor, community_id, "admin")
    member = await accounts.get_member(db, member_id)
    await _require_manageable(db, actor, member, community_id)
    issued = await activations.issue(db, community_id, member.id, secret_key, actor.member_id)
    await record(
        db,
        actor_id=actor.member_id,
        action="activation_issued",
        community_id=community_id,
        subject_member_id=member.id,
        detail={"activation_id": str(issued[0].id), "expires_at": issued[0].expires_at.isoformat()},
    )
    return issued


@raises(accounts.get_community, accounts.require_role)
async def invitation_cards(
    db: AsyncSession,
    actor: Actor,
    community_id: uuid.UUID,
    secret_key: str,
    member_ids: list[uuid.UUID] | None = None,
) -> list[InvitationCard]:
    """Cards of the open codes issued in the community (all, or the chosen members'), by name."""
    community = await accounts.get_community(db, community_id)
    await accounts.require_role(db, actor, community_id, "admin")
    stmt = (
        select(Activation, Member)
        .join(Member, Member.id == Activation.member_id)
        .where(Activation.community_id == community_id, activations.open_now())
        .order_by(Member.name, Member.phone)
    )
    if member_ids is not None:
        stmt = stmt.where(Activation.member_id.in_(member_ids))
    if not actor.is_platform_admin:  # printing a code is issuing it: the same rule as issue_activation
        elsewhere = select(Membership.member_id).where(Membership.community_id != community_id)
        checkers = select(Membership.member_id).where(Membership.role.in_(ADMIN_ONLY_ROLES))
        stmt = stmt.where(
            Activation.member_id.not_in(elsewhere),
            Activation.member_id.not_in(checkers) | (Activation.member_id == actor.member_id),
            Member.is_platform_admin.is_(False),
        )
    return [
        InvitationCard(
            member_id=m.id,
            name=m.name,
            phone=m.phone,
            community=community.name,
            code=rules.activation_code(secret_key, a.id),
            expires_at=a.expires_at,
        )
        for a, m in (await db.execute(stmt)).all()
    ]


async def count_pending_invitations(db: AsyncSession, community_id: uuid.UUID) -> dict[uuid.UUID, datetime]:
    """Members of the community with an open code, and when it expires (for the admin page)."""
    rows = await db.execute(
        select(Activation.member_id, Activation.expires_at).where(
            Activation.community_id == community_id, activations.open_now()
        )
    )
    return {mid: expires for mid, expires in rows.all()}


@raises(_throttle, ActivationInvalid)
async def _activation_by_code(db: AsyncSession, raw: str, client: str) -> Activation:
    key = f"join:{client[:64]}"
    await _throttle(db, key, LOGIN_FAILURES_MAX * 4)
    code = rules.normalise_activation_code(raw)
    row = await db.scalar(select(Activation).where(Activation.code_hash == rules.code_hash(code)))
    if row is None or row.status != "open" or row.expires_at <= clock.now():
        if row is None:  # only guesses count against the client; a used card is an honest mistake
            await _bump(db, key)
            await db.commit()
        raise ActivationInvalid()
    return row


@raises(_activation_by_code, accounts.get_member, accounts.get_community)
async def activation_view(db: AsyncSession, code: str, client: str) -> ActivationView:
    row = await _activation_by_code(db, code, client)
    member = await accounts.get_member(db, row.member_id)
    community = await accounts.get_community(db, row.community_id)
    return ActivationView(
        masked_name=mask_name(member.name),
        community=community.name,
        timezone=community.timezone,
        expires_at=row.expires_at,
    )


@raises(accounts.hash_password, _activation_by_code, ActivationInvalid, accounts.get_member)
async def activate(
    db: AsyncSession, code: str, password: str, client: str, secret_key: str
) -> tuple[str, Member]:
    """The resident sets their own password with a one-time code; returns a login token."""
    password_hash = await accounts.hash_password(password)  # checks the password first
    row = await _activation_by_code(db, code, client)
    used = await db.execute(
        update(Activation)
        .where(Activation.id == row.id, Activation.status == "open")
        .values(status="used", used_at=clock.now())
    )
    if getattr(used, "rowcount", 0) != 1:  # the same card opened twice at once: one wins
        raise ActivationInvalid(detail="This code was just used.")
    member = await accounts.get_member(db, row.member_id)
    member.password_hash = password_hash
    member.token_version += 1
    await db.flush()
    return accounts.issue_token(member, secret_key), member


# ---------------------------------------------------------------- SMS codes


def _sms_text(code: str) -> str:
    minutes = rules.SMS_CODE_LIFETIME_SECONDS // 60
    return f"【积分】您的验证码是 {code}，{minutes} 分钟内有效。如非本人操作，请忽略本短信。"


@raises(accounts._phone, _throttle, SmsCodeTooSoon)
async def send_sms_code(db: AsyncSession, phone: str, client: str, sender: SmsSender, secret_key: str) -> int:
    """Text a one-time code to any valid number (the reply never says whether it has an account).

    Returns the seconds before another code may be asked for.
    """
    phone = accounts._phone(phone)
    phone_key, client_key = f"smsp:{phone}", f"smsc:{client[:64]}"
    await _throttle(db, phone_key, rules.SMS_PER_PHONE_MAX)
    await _throttle(db, client_key, rules.SMS_PER_CLIENT_MAX)
    now = clock.now()
    row = await db.scalar(select(SmsCode).where(SmsCode.phone == phone))
    if row is not None and (now - row.created_at).total_seconds() < rules.SMS_RESEND_SECONDS:
        wait = max(1, int(rules.SMS_RESEND_SECONDS - (now - row.created_at).total_seconds()))
        raise SmsCodeTooSoon(
            headers={"Retry-After": str(wait)},
            params={"seconds": wait},
        )
    code = f"{secrets.randbelow(10**rules.SMS_CODE_LENGTH):0{rules.SMS_CODE_LENGTH}d}"
    if row is None:
        row = SmsCode(phone=phone, code_hash="", expires_at=now, attempts=0)
        db.add(row)
    row.code_hash = rules.sms_code_hash(secret_key, phone, code)
    row.created_at = now
    row.expires_at = now + timedelta(seconds=rules.SMS_CODE_LIFETIME_SECONDS)
    row.attempts = 0
    try:
        await db.flush()
    except IntegrityError as exc:  # the same new number asked twice at once: one of them wins
        raise SmsCodeTooSoon(
            headers={"Retry-After": str(rules.SMS_RESEND_SECONDS)},
            params={"seconds": rules.SMS_RESEND_SECONDS},
        ) from exc
    await _bump(db, phone_key)  # codes sent, in the same per-window counters as failed logins
    await _bump(db, client_key)
    await sender.send(phone, _sms_text(code))
    return rules.SMS_RESEND_SECONDS


@raises(TooManyAttempts, SmsCodeInvalid)
async def _check_sms_code(db: AsyncSession, phone: str, code: str, secret_key: str) -> None:
    """Use up the phone's current code if ``code`` is it; wrong guesses are counted and kept.

    The row is locked: two logins racing with one code cannot both use it.
    """
    row = await db.scalar(select(SmsCode).where(SmsCode.phone == phone).with_for_update())
    if row is not None and row.attempts >= rules.SMS_CODE_ATTEMPTS_MAX:
        raise TooManyAttempts(
            detail="Too many wrong codes; ask for a new code.", headers={"Retry-After": "60"}
        )
    if row is None or row.expires_at <= clock.now():
        raise SmsCodeInvalid()
    expected = rules.sms_code_hash(secret_key, phone, (code or "").strip()[:16])
    if not secrets.compare_digest(row.code_hash, expected):
        row.attempts += 1
        await db.commit()  # the count must survive the rollback that the error below causes
        raise SmsCodeInvalid()
    await db.delete(row)
    await db.flush()


@raises(accounts._phone, _check_sms_code, NoAccount)
async def sms_login(db: AsyncSession, phone: str, code: str, secret_key: str) -> tuple[str, Member]:
    phone = accounts._phone(phone)
    await _check_sms_code(db, phone, code, secret_key)
    member = await db.scalar(select(Member).where(Member.phone == phone))
    if member is None:
        raise NoAccount()
    await db.execute(delete(LoginFailure).where(LoginFailure.key == f"phone:{phone}"))
    return accounts.issue_token(member, secret_key), member


# ---------------------------------------------------------------- self-registration


@raises(
    accounts.get_community,
    RegistrationClosed,
    accounts._phone,
    accounts._name,
    PasswordOrSmsCode,
    accounts.hash_password,
    PhoneTaken,
    _check_sms_code,
)
async def register(
    db: AsyncSession,
    phone: str,
    name: str,
    community_id: uuid.UUID,
    secret_key: str,
    password: str | None = None,
    sms_code: str | None = None,
) -> tuple[Member, SignUpOutcome]:
    """A resident signs up with a password or an SMS code; returns the member and ``joined`` or
    ``pending_approval`` (the community's ``self_registration`` decides)."""
    community = await accounts.get_community(db, community_id)
    if community.self_registration == "off":
        raise RegistrationClosed()
    phone, name = accounts._phone(phone), accounts._name(name)
    if not password and not sms_code:
        raise PasswordOrSmsCode(
            errors=[{"field": "password", "message": "a password or an SMS code"}],
        )
    password_hash = await accounts.hash_password(password) if password else None
    if await db.scalar(select(Member.id).where(Member.phone == phone)) is not None:
        raise PhoneTaken(detail="This phone number already has an account; please log in.")
    if sms_code:
        await _check_sms_code(db, phone, sms_code, secret_key)
    member = Member(phone=phone, name=name, password_hash=password_hash)
    db.add(member)
    await db.flush()
    if community.self_registration == "approval":
        db.add(Registration(community_id=community.id, member_id=member.id))
        await db.flush()
        return member, "pending_approval"
    await accounts._grant(db, member, community.id, "member", None)
    return member, "joined"


KNOB_SELF_REGISTRATION = "self_registration"
"""The proposals' name of the sign-up mode (applied by :func:`apply_self_registration`)."""
_LOOSENESS = {"off": 0, "approval": 1, "auto": 2}
"""Sign-up modes from tightest to loosest: a looser mode lets more people act without an admin."""


@raises(accounts.get_community, accounts.require_role, InvalidSelfRegistration)
async def set_self_registration(
    db: AsyncSession, actor: Actor, community_id: uuid.UUID, mode: str
) -> Community | Proposed:
    """Set how residents sign themselves up. A tighter mode applies at once; a looser one (off ->
    approval -> auto) waits for a second person (a :class:`Proposed`)."""
    community = await accounts.get_community(db, community_id, lock=True)
    await accounts.require_role(db, actor, community_id, "admin")
    _check_mode(mode)
    before, after = {"self_registration": community.self_registration}, {"self_registration": mode}
    widens = _LOOSENESS[mode] > _LOOSENESS.get(community.self_registration, 0)
    proposed = await gate(db, actor, community_id, KNOB_SELF_REGISTRATION, before, after, widens=widens)
    if proposed is not None:
        return proposed
    community.self_registration = mode  # type: ignore[assignment]
    await db.flush()
    return community


@raises(accounts.get_community, InvalidSelfRegistration)
async def apply_self_registration(
    db: AsyncSession,
    community_id: uuid.UUID,
    target_id: uuid.UUID | None,
    before: dict[str, Any],
    after: dict[str, Any],
    by: uuid.UUID,
) -> bool:
    """Apply an approved sign-up mode, re-validated; False (nothing changed) if it is no longer ``before``."""
    community = await accounts.get_community(db, community_id, lock=True)
    if {"self_registration": community.self_registration} != before:
        return False
    _check_mode(after["self_registration"])
    community.self_registration = after["self_registration"]
    await db.flush()
    return True


def _check_mode(mode: object) -> None:
    if not isinstance(mode, str) or not rules.is_self_registration(mode):
        raise InvalidSelfRegistration(
            errors=[{"field": "self_registration", "message": "off, auto or approval"}],
        )


@raises(accounts.require_role)
async def list_registrations(
    db: AsyncSession, actor: Actor, community_id: uuid.UUID, status: RegistrationStatus = "pending"
) -> list[tuple[Registration, Member]]:
    await accounts.require_role(db, actor, community_id, "admin")
    rows = await db.execute(
        select(Registration, Member)
        .join(Member, Member.id == Registration.member_id)
        .where(Registration.community_id == community_id, Registration.status == status)
        .order_by(Registration.created_at)
        .limit(COMMUNITIES_LIST_MAX)
    )
    return list(rows.all())


async def pending_sign_ups(db: AsyncSession, member_id: uuid.UUID) -> list[Community]:
    """Communities where the member's sign-up waits for an admin (their home page says so)."""
    rows = await db.scalars(
        select(Community)
        .join(Registration, Registration.community_id == Community.id)
        .where(Registration.member_id == member_id, Registration.status == "pending")
        .order_by(Community.name)
    )
    return list(rows)


@raises(RegistrationNotFound, accounts.require_role, RegistrationDecided, accounts.get_member)
async def decide_registration(
    db: AsyncSession, actor: Actor, registration_id: uuid.UUID, approve: bool
) -> Registration:
    row = await db.get(Registration, registration_id, with_for_update=True)
    if row is None:
        raise RegistrationNotFound()
    await accounts.require_role(db, actor, row.community_id, "admin")
    if row.status != "pending":
        raise RegistrationDecided()
    row.status = "approved" if approve else "rejected"
    row.decided_by, row.decided_at = actor.member_id, clock.now()
    if approve:
        await accounts._grant(
            db, await accounts.get_member(db, row.member_id), row.community_id, "member", None
        )
    await db.flush()
    await record(
        db,
        actor_id=actor.member_id,
        action="registration_approved" if approve else "registration_rejected",
        community_id=row.community_id,
        subject_member_id=row.member_id,
        detail={"registration_id": str(row.id)},
    )
    return row


# ---------------------------------------------------------------- roles and communities


@raises(Forbidden)
async def list_all_communities(db: AsyncSession, actor: Actor) -> list[tuple[Community, int]]:
    """Every community with its member count (platform admin home)."""
    if not actor.is_platform_admin:
        raise Forbidden(detail="Only a platform admin can list every community.")
    counts = (
        select(Membership.community_id, func.count().label("n"))
        .where(Membership.role == "member")
        .group_by(Membership.community_id)
        .subquery()
    )
    rows = await db.execute(
        select(Community, func.coalesce(counts.c.n, 0))
        .outerjoin(counts, counts.c.community_id == Community.id)
        .order_by(Community.name)
        .limit(COMMUNITIES_LIST_MAX)
    )
    return [(c, int(n)) for c, n in rows.all()]
