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

from sqlalchemy import case, delete, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from service import clock
from service.accounts import activations, privacy, rules
from service.accounts import service as accounts
from service.accounts.actor import Actor
from service.accounts.errors import (
    ActivationInvalid,
    InvalidSelfRegistration,
    MemberElsewhere,
    MemberNotFound,
    NoAccount,
    RegistrationClosed,
    RegistrationDecided,
    RegistrationNotFound,
    RoleNeedsPlatformAdmin,
    SmsCodeInvalid,
    SmsCodeRequired,
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
from service.config import LOGIN_WINDOW_SECONDS
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
async def _take(db: AsyncSession, key: str, limit: int, *, keep: bool = False) -> None:
    """Count one event for ``key``, or refuse ``too_many_attempts`` once ``limit`` were counted in the
    current window (LOGIN_WINDOW_SECONDS).

    One conditional upsert decides: ``INSERT ... ON CONFLICT DO UPDATE ... WHERE count < limit OR the
    window is over RETURNING count``. The database locks the counter row, so requests arriving together
    queue on it and no more than ``limit`` of them are ever counted (a read, then a write, let 34 of 40
    texts through a limit of 20). ``keep``: commit at once, so the count outlives a refusal that rolls
    the request back (every guess counts, right or wrong).
    """
    now = clock.now()
    stale = LoginFailure.window_started_at < now - timedelta(seconds=LOGIN_WINDOW_SECONDS)
    insert = pg_insert if is_postgres(db) else sqlite_insert
    stmt = (
        insert(LoginFailure)
        .values(key=key, count=1, window_started_at=now)
        .on_conflict_do_update(
            index_elements=[LoginFailure.key],
            set_={
                "count": case((stale, 1), else_=LoginFailure.count + 1),
                "window_started_at": case((stale, now), else_=LoginFailure.window_started_at),
            },
            where=or_(stale, LoginFailure.count < limit),
        )
        .returning(LoginFailure.count)
    )
    taken = (await db.execute(stmt)).first()
    if keep:
        await db.commit()
    if taken is not None:
        return
    started = await db.scalar(select(LoginFailure.window_started_at).where(LoginFailure.key == key))
    elapsed = (now - started).total_seconds() if started is not None else 0
    wait = max(1, int(LOGIN_WINDOW_SECONDS - elapsed))
    raise TooManyAttempts(headers={"Retry-After": str(wait)}, params={"seconds": wait})


@raises(_take)
async def _take_all(db: AsyncSession, limits: list[tuple[str, int]], *, keep: bool = False) -> None:
    """:func:`_take` for each (key, limit), in this order (the same order everywhere: no deadlocks)."""
    for key, limit in limits:
        await _take(db, key, limit)
    if keep:
        await db.commit()


ORIGIN_LIMITS = {
    "join": (rules.GUESSES_PER_CLIENT_MAX, rules.GUESSES_PER_DEVICE_MAX),
    "smsg": (rules.GUESSES_PER_CLIENT_MAX, rules.GUESSES_PER_DEVICE_MAX),
    "smss": (rules.GUESSES_PER_CLIENT_MAX, rules.GUESSES_PER_DEVICE_MAX),
    "sms": (rules.SMS_PER_CLIENT_MAX, rules.SMS_PER_DEVICE_MAX),
    "signup": (rules.SIGNUPS_PER_CLIENT_MAX, rules.SIGNUPS_PER_DEVICE_MAX),
}
"""Per client address and per device cookie: activation look-ups, SMS code guesses, texts, sign-ups."""


def _origin_limits(prefix: str, client: str, device: str | None) -> list[tuple[str, int]]:
    per_client, per_device = ORIGIN_LIMITS[prefix]
    limits = [(f"{prefix}c:{client[:64]}", per_client)]
    if device:
        limits.append((f"{prefix}d:{device[:64]}", per_device))
    return limits


# ---------------------------------------------------------------- activations


async def _still_issuable(db: AsyncSession, row: Activation) -> bool:
    """Whether the code may still be used: the person's roles are those it was issued for, and its
    issuer could issue it today (the rule of :func:`issue_activation`, checked with today's roles)."""
    if row.roles_snapshot is not None and row.roles_snapshot != await activations.roles_snapshot(
        db, row.member_id
    ):
        return False  # made a reviewer, a clerk elsewhere, a platform admin... since: the code is void
    if row.issued_by is None:
        return True  # the command line (the office's own import)
    issuer = await db.get(Member, row.issued_by)
    if issuer is None:
        return False
    if issuer.is_platform_admin:
        return True
    is_admin = await db.scalar(
        select(Membership.id).where(
            Membership.member_id == issuer.id,
            Membership.community_id == row.community_id,
            Membership.role == "admin",
        )
    )
    member = await db.get(Member, row.member_id)
    if (
        is_admin is None
        or member is None
        or await activations.belongs_elsewhere(db, member, row.community_id)
    ):
        return False
    return member.id == issuer.id or not await _holds_checking_role(db, member.id)


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


@raises(_take_all, ActivationInvalid)
async def _activation_by_code(db: AsyncSession, raw: str, client: str, device: str | None) -> Activation:
    """The open code ``raw`` names, re-checked now; every look-up counts against the client address
    and the device (kept even when refused, so guessing cards is slow however many run at once)."""
    limits = _origin_limits("join", client, device)
    await _take_all(db, limits, keep=True)
    code = rules.normalise_activation_code(raw)
    row = await db.scalar(select(Activation).where(Activation.code_hash == rules.code_hash(code)))
    if row is None or row.status != "open" or row.expires_at <= clock.now():
        raise ActivationInvalid()
    if not await _still_issuable(db, row):
        raise ActivationInvalid(detail="This code no longer works; ask the office for a new one.")
    return row


@raises(_activation_by_code, accounts.get_member, accounts.get_community)
async def activation_view(
    db: AsyncSession, code: str, client: str, device: str | None = None
) -> ActivationView:
    row = await _activation_by_code(db, code, client, device)
    member = await accounts.get_member(db, row.member_id)
    community = await accounts.get_community(db, row.community_id)
    return ActivationView(
        masked_name=mask_name(member.name),
        community=community.name,
        timezone=community.timezone,
        expires_at=row.expires_at,
    )


@raises(privacy.check_accepted, privacy.accept_notice)
@raises(accounts.hash_password, _activation_by_code, ActivationInvalid, accounts.get_member)
async def activate(
    db: AsyncSession,
    code: str,
    password: str,
    client: str,
    secret_key: str,
    device: str | None = None,
    *,
    privacy_accepted: bool | None = None,
) -> tuple[str, Member]:
    """The resident sets their own password with a one-time code; returns a login token.

    The code is re-checked as it is used: a person whose roles changed since it was issued, or whom its
    issuer could no longer give a code, is refused ``activation_invalid`` (the office issues a new one).
    """
    privacy.check_accepted(privacy_accepted)
    password_hash = await accounts.hash_password(password)  # checks the password first
    row = await _activation_by_code(db, code, client, device)
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
    member.phone_verified_at = member.phone_verified_at or clock.now()  # the office handed the card over
    # Whoever issued the code could have used it; a code the office issued (a region's unit's staff,
    # ``regions.units_service.invite_staff``) keeps the hold the inviting official took.
    await accounts.set_holder(db, member, row.issued_by if row.issued_by is not None else member.held_by)
    await db.flush()
    if privacy_accepted:
        await privacy.accept_notice(db, member.id, community_id=row.community_id)
    return accounts.issue_token(member, secret_key), member


# ---------------------------------------------------------------- SMS codes


def _sms_text(code: str) -> str:
    minutes = rules.SMS_CODE_LIFETIME_SECONDS // 60
    return f"【积分】您的验证码是 {code}，{minutes} 分钟内有效。如非本人操作，请忽略本短信。"


@raises(accounts._phone, _take_all, SmsCodeTooSoon)
async def send_sms_code(
    db: AsyncSession, phone: str, client: str, sender: SmsSender, secret_key: str, device: str | None = None
) -> int:
    """Text a one-time code to any valid number (the reply never says whether it has an account).

    Counted per phone, per client address and per device cookie, atomically (see :func:`_take`).
    Returns the seconds before another code may be asked for.
    """
    phone = accounts._phone(phone)
    limits = [(f"smsp:{phone}", rules.SMS_PER_PHONE_MAX)]
    limits += _origin_limits("sms", client, device)
    await _take_all(db, limits)  # in the request's transaction: a code not sent is not counted
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
    await sender.send(phone, _sms_text(code))
    return rules.SMS_RESEND_SECONDS


@raises(_take_all, TooManyAttempts, SmsCodeInvalid)
async def _check_sms_code(
    db: AsyncSession,
    phone: str,
    code: str,
    secret_key: str,
    client: str,
    device: str | None,
    prefix: str = "smsg",
) -> None:
    """Use up the phone's current code if ``code`` is it; wrong guesses are counted and kept.

    Every guess counts first against the phone, the client address and the device (kept, atomically);
    the code's row is locked: two logins racing with one code cannot both use it.
    """
    limits = [(f"smsg:{phone}", rules.SMS_GUESSES_PER_PHONE_MAX)]
    limits += _origin_limits(prefix, client, device)
    await _take_all(db, limits, keep=True)
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
async def sms_login(
    db: AsyncSession, phone: str, code: str, secret_key: str, client: str = "", device: str | None = None
) -> tuple[str, Member]:
    phone = accounts._phone(phone)
    await _check_sms_code(db, phone, code, secret_key, client, device)
    member = await db.scalar(select(Member).where(Member.phone == phone))
    if member is None:
        raise NoAccount()
    member.phone_verified_at = member.phone_verified_at or clock.now()
    await db.execute(delete(LoginFailure).where(LoginFailure.key == f"phone:{phone}"))
    return accounts.issue_token(member, secret_key), member


@raises(accounts.get_member, accounts.hash_password, _take_all, _check_sms_code)
async def secure_account(
    db: AsyncSession,
    actor: Actor,
    code: str,
    password: str,
    secret_key: str,
    client: str = "",
    device: str | None = None,
) -> tuple[str, Member]:
    """The member sets a new password with the SMS code texted to their own phone: nobody who issued a
    code or typed a password for the account knows it any more (``held_by`` cleared). Ends other logins.
    """
    member = await accounts.get_member(db, actor.member_id)
    password_hash = await accounts.hash_password(password)  # checks the password first
    await _check_sms_code(db, member.phone, code, secret_key, client, device, "smss")  # its own bucket
    was_held = member.held_by
    member.password_hash = password_hash
    member.token_version += 1
    member.phone_verified_at = member.phone_verified_at or clock.now()
    member.held_by, member.held_since = None, None
    accounts._forget_token_version(member.id)
    await db.flush()
    await record(
        db,
        actor_id=member.id,
        action="account_secured",
        subject_member_id=member.id,
        detail={"was_held_by": str(was_held) if was_held else None},
        client_addr=client or None,
    )
    return accounts.issue_token(member, secret_key), member


# ---------------------------------------------------------------- self-registration


@raises(
    accounts.get_community,
    RegistrationClosed,
    accounts._phone,
    accounts._name,
    SmsCodeRequired,
    accounts.hash_password,
    _take_all,
    _check_sms_code,
    privacy.check_accepted,
    privacy.accept_notice,
)
async def register(
    db: AsyncSession,
    phone: str,
    name: str,
    community_id: uuid.UUID,
    secret_key: str,
    password: str | None = None,
    sms_code: str | None = None,
    *,
    client: str = "",
    device: str | None = None,
    privacy_accepted: bool | None = None,
) -> tuple[Member, SignUpOutcome]:
    """A resident signs up with the SMS code texted to their phone (and, if they like, a password);
    returns the member and ``joined`` or ``pending_approval`` (the community's ``self_registration``).

    The answer never tells whether the phone had an account: the code proves the phone is theirs, so
    an existing account is logged in as an SMS login would (its name and password stay) and joins the
    community the same way a new one does. Sign-ups count per client address and device, atomically.
    """
    community = await accounts.get_community(db, community_id)
    if community.self_registration == "off":
        raise RegistrationClosed()
    privacy.check_accepted(privacy_accepted)
    phone, name = accounts._phone(phone), accounts._name(name)
    if not sms_code:
        raise SmsCodeRequired(errors=[{"field": "sms_code", "message": "the code texted to this phone"}])
    password_hash = await accounts.hash_password(password) if password else None
    limits = _origin_limits("signup", client, device)
    await _take_all(db, limits, keep=True)
    await _check_sms_code(db, phone, sms_code, secret_key, client, device)
    now = clock.now()
    member = await db.scalar(select(Member).where(Member.phone == phone))
    if member is None:
        member = Member(phone=phone, name=name, password_hash=password_hash, phone_verified_at=now)
        db.add(member)
        await db.flush()
    else:
        member.phone_verified_at = member.phone_verified_at or now
    if privacy_accepted:
        await privacy.accept_notice(db, member.id, community_id=community.id)
    return member, await _join(db, community, member)


async def _join(db: AsyncSession, community: Community, member: Member) -> SignUpOutcome:
    """Make a verified person a member of the community as its ``self_registration`` says."""
    if await db.scalar(
        select(Membership.id).where(
            Membership.member_id == member.id, Membership.community_id == community.id
        )
    ):
        return "joined"
    if community.self_registration == "approval":
        row = await db.scalar(
            select(Registration).where(
                Registration.community_id == community.id, Registration.member_id == member.id
            )
        )
        if row is None:
            db.add(Registration(community_id=community.id, member_id=member.id))
        elif row.status != "pending":  # asked again after a refusal: back in the admin's list
            row.status, row.decided_by, row.decided_at = "pending", None, None
        await db.flush()
        return "pending_approval"
    await accounts._grant(db, member, community.id, "member", None)
    return "joined"


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
