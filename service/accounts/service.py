"""Business transactions of the accounts domain. Every function takes an open session."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import case, delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from service import clock
from service.accounts import activations
from service.accounts.actor import Actor
from service.accounts.errors import (
    CommunityCodeTaken,
    CommunityNotFound,
    InvalidAddress,
    InvalidCode,
    InvalidCredentials,
    InvalidName,
    InvalidPartnerKind,
    InvalidPassword,
    InvalidPhone,
    InvalidRole,
    InvalidSelfRegistration,
    InvalidTimezone,
    MemberElsewhere,
    MemberNotFound,
    PartnerNameTaken,
    PartnerNotAllowed,
    PartnerNotFound,
    PartnerNotInCommunity,
    PartnerRequired,
    PhoneTaken,
    ResetByCode,
    RoleExists,
    RoleNeedsPlatformAdmin,
    RoleNotHeld,
    TokenExpired,
    TokenInvalid,
    TokenRevoked,
    TooManyAttempts,
    UnverifiedAccount,
)
from service.accounts.models import (
    PARTNER_KINDS,
    ROLES,
    Activation,
    Community,
    LoginFailure,
    Member,
    Membership,
    Partner,
    Role,
)
from service.accounts.rules import (
    CODE_RE,
    PLATFORM_GRANTED_ROLES,
    TIMEZONES,
    is_role,
    is_self_registration,
    normalise_phone,
)
from service.audit.service import record
from service.config import (
    LOGIN_FAILURES_MAX,
    LOGIN_IP_FAILURES_MAX,
    LOGIN_WINDOW_SECONDS,
    NAME_MAX,
    PASSWORD_MAX,
    PASSWORD_MIN,
    TOKEN_CHECK_TTL_SECONDS,
    TOKEN_LIFETIME_SECONDS,
)
from service.db import is_postgres
from service.errors import Forbidden, raises
from service.kit.text import InvalidField, bounded_int, bounded_text

__all__ = [
    "ImportProblem",
    "ImportReport",
    "ImportRow",
    "actor_for",
    "add_member",
    "authenticate_token",
    "check_role_granter",
    "create_community",
    "create_partner",
    "create_platform_admin",
    "create_unit",
    "decode_token",
    "extend_unit_staff",
    "get_community",
    "get_community_by_code",
    "get_member",
    "get_partner",
    "grant_unit_staff",
    "has_role",
    "import_members",
    "issue_token",
    "list_communities",
    "list_members",
    "list_partners",
    "lock_partner_quota",
    "login",
    "logout",
    "parse_import_csv",
    "phone_number",
    "remember_token_version",
    "remove_role",
    "require_community_exists",
    "require_live_login",
    "require_partner_staff",
    "require_role",
    "roles_of",
    "set_partner_active",
    "set_password",
    "update_member",
    "void_open_codes",
]

_hasher = PasswordHasher()


# ---------------------------------------------------------------- passwords and tokens


@raises(InvalidPassword)
def _check_password_shape(password: str) -> None:
    if not (PASSWORD_MIN <= len(password) <= PASSWORD_MAX):
        raise InvalidPassword(
            params={"min": PASSWORD_MIN, "max": PASSWORD_MAX},
            errors=[{"field": "password", "message": "%(min)s-%(max)s characters"}],
        )


@raises(_check_password_shape)
async def hash_password(password: str) -> str:
    _check_password_shape(password)
    # argon2id costs tens of milliseconds of CPU: keep it off the event loop.
    return await asyncio.to_thread(_hasher.hash, password)


async def _verify_password(stored: str | None, password: str) -> bool:
    if not stored:
        return False
    try:
        return await asyncio.to_thread(_hasher.verify, stored, password)
    except (VerificationError, InvalidHashError):
        return False


def issue_token(member: Member, secret_key: str) -> str:
    issued = clock.now()
    claims = {
        "sub": str(member.id),
        "ver": member.token_version,
        "iat": int(issued.timestamp()),
        "exp": int((issued + timedelta(seconds=TOKEN_LIFETIME_SECONDS)).timestamp()),
        "typ": "login",
    }
    return jwt.encode(claims, secret_key, algorithm="HS256")


@raises(TokenRevoked)
async def actor_for(db: AsyncSession, member_id: uuid.UUID, version: object) -> Actor:
    """The actor of a verified token's member, if the token was not revoked (``token_revoked``)."""
    known = _token_versions.get(member_id)
    if known is None or known[0] < time.monotonic():
        stmt = select(Member.token_version, Member.name, Member.phone, Member.is_platform_admin).where(
            Member.id == member_id
        )
        bind = db.bind
        if not db.in_transaction() and isinstance(bind, AsyncEngine):
            # A read of its own: the request's session stays outside a transaction, so a request without
            # an Idempotency-Key still takes the batched fast paths (store/fastpath.py), which it could
            # not from inside an open transaction.
            async with bind.connect() as conn:
                row = (await conn.execute(stmt)).first()
        else:
            row = (await db.execute(stmt)).first()
        if row is None:
            raise TokenRevoked()
        known = remember_token_version(
            member_id, row.token_version, row.name, row.phone, row.is_platform_admin
        )
    if known[1] != version:
        raise TokenRevoked()
    return known[2]


@raises(TokenRevoked)
async def require_live_login(db: AsyncSession, actor: Actor) -> None:
    """Refuse (``token_revoked``) a login ended since the worker last looked (a logout, a password reset in
    another worker): spending (orders, voucher claims, redemptions) asks the member row itself, not the
    cache of token versions that ``actor_for`` trusts for ``TOKEN_CHECK_TTL_SECONDS``."""
    if actor.token_version is None:
        return
    current = await db.scalar(select(Member.token_version).where(Member.id == actor.member_id))
    if current != actor.token_version:
        _forget_token_version(actor.member_id)
        raise TokenRevoked()


TOKEN_CACHE_MAX = 100_000
"""Members whose token version a worker remembers (cleared when full)."""
_token_versions: dict[uuid.UUID, tuple[float, int, Actor]] = {}
"""member id -> (trusted until, token version, actor): the check-in hot path reads no member row."""


@raises(TokenInvalid, TokenExpired)
def decode_token(token: str, secret_key: str) -> tuple[uuid.UUID, object]:
    """Verify a login token in memory: (member id, token version it was issued for), or raise
    ``token_invalid`` / ``token_expired``. Revocation (the version) is the caller's to check."""
    try:
        claims = jwt.decode(
            token, secret_key, algorithms=["HS256"], options={"verify_exp": False, "require": ["sub", "exp"]}
        )
        member_id = uuid.UUID(str(claims["sub"]))
    except (jwt.PyJWTError, ValueError) as exc:
        raise TokenInvalid() from exc
    if claims.get("typ") != "login" or int(claims["exp"]) < clock.now().timestamp():
        raise TokenExpired()
    return member_id, claims.get("ver")


@raises(decode_token, actor_for)
async def authenticate_token(db: AsyncSession, token: str, secret_key: str) -> Actor:
    """Return the actor a login token stands for, or raise ``not_authenticated``."""
    member_id, version = decode_token(token, secret_key)
    return await actor_for(db, member_id, version)


def remember_token_version(
    member_id: uuid.UUID, version: int, name: str, phone: str, is_platform_admin: bool
) -> tuple[float, int, Actor]:
    """Cache a member's token version read from the database (see ``TOKEN_CHECK_TTL_SECONDS``)."""
    if len(_token_versions) >= TOKEN_CACHE_MAX:
        _token_versions.clear()
    known = (
        time.monotonic() + TOKEN_CHECK_TTL_SECONDS,
        version,
        Actor(
            member_id=member_id,
            name=name,
            phone=phone,
            is_platform_admin=is_platform_admin,
            token_version=version,
        ),
    )
    _token_versions[member_id] = known
    return known


def _forget_token_version(member_id: uuid.UUID) -> None:
    _token_versions.pop(member_id, None)


# ---------------------------------------------------------------- validation helpers


@raises(InvalidPhone)
def _phone(raw: str) -> str:
    phone = normalise_phone(raw)
    if phone is None:
        raise InvalidPhone(
            errors=[{"field": "phone", "message": "not a mainland mobile number"}],
        )
    return phone


phone_number = _phone
"""The 11 digits of a mainland mobile number typed any way people type it, or ``invalid_phone``: what
every phone field of the API document's pattern (``PHONE_PATTERN``) stands for."""


@raises(InvalidName)
def _name(raw: str, field_name: str = "name") -> str:
    name = " ".join((raw or "").split())
    if not name or len(name) > NAME_MAX:
        raise InvalidName(
            params={"field": field_name, "max": NAME_MAX},
            errors=[{"field": field_name, "message": "1-%(max)s characters"}],
        )
    return name


@raises(InvalidRole)
def _role(role: str) -> Role:
    if not is_role(role):
        raise InvalidRole(
            params={"choices": ", ".join(ROLES)},
            errors=[{"field": "role", "message": "unknown role"}],
        )
    return role


# ---------------------------------------------------------------- guards


async def roles_of(db: AsyncSession, member_id: uuid.UUID) -> list[Membership]:
    rows = await db.scalars(
        select(Membership).where(Membership.member_id == member_id).order_by(Membership.created_at)
    )
    return list(rows)


@raises(Forbidden)
def has_role(
    actor: Actor,
    held: Sequence[tuple[str, uuid.UUID | None]],
    *roles: str,
    partner_id: uuid.UUID | None = None,
) -> str:
    """``require_role`` for memberships the caller already read: ``held`` is (role, partner id) rows."""
    if actor.is_platform_admin:
        return "platform_admin"
    for role, pid in held:
        if role in roles and not (role == "partner" and partner_id is not None and pid != partner_id):
            return role
    if any(role == "admin" for role, _ in held):
        return "admin"
    raise Forbidden(detail="You do not have the role this needs in this community.")


@raises(CommunityNotFound)
async def require_community_exists(db: AsyncSession, community_id: uuid.UUID) -> None:
    """``community_not_found`` for an id of no community (before anything is written for it)."""
    if await db.scalar(select(Community.id).where(Community.id == community_id)) is None:
        raise CommunityNotFound()


@raises(has_role, require_community_exists)
async def require_role(
    db: AsyncSession, actor: Actor, community_id: uuid.UUID, *roles: str, partner_id: uuid.UUID | None = None
) -> str:
    """Check the actor holds one of ``roles`` in the community; return the role that matched.

    A community ``admin`` passes every check in its community; a platform admin passes everything in a
    community that exists. The ``partner`` role passes only for its own ``partner_id`` when one is given.
    A community that does not exist is ``community_not_found`` whoever asks (no role is held there).
    """
    if actor.is_platform_admin:
        await require_community_exists(db, community_id)
        return "platform_admin"
    held = [
        (r, p)
        for r, p in await db.execute(
            select(Membership.role, Membership.partner_id).where(
                Membership.member_id == actor.member_id, Membership.community_id == community_id
            )
        )
    ]
    if not held:
        await require_community_exists(db, community_id)
    return has_role(actor, held, *roles, partner_id=partner_id)


# ---------------------------------------------------------------- communities and partners


@raises(Forbidden, InvalidCode, InvalidTimezone, CommunityCodeTaken, InvalidSelfRegistration, _name)
async def create_community(
    db: AsyncSession,
    actor: Actor,
    name: str,
    code: str,
    timezone: str | None = None,
    self_registration: str = "auto",
) -> Community:
    if not actor.is_platform_admin:
        raise Forbidden(detail="Only a platform admin can create communities.")
    code = (code or "").strip().lower()
    if not CODE_RE.match(code):
        raise InvalidCode(
            errors=[{"field": "code", "message": "2-32 of a-z 0-9 -"}],
        )
    tz = timezone or "Asia/Shanghai"
    try:
        if tz not in TIMEZONES:  # the list the API document offers; ZoneInfo also opens odd paths
            raise ValueError(tz)
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidTimezone(
            params={"tz": repr(tz)},
            errors=[{"field": "timezone", "message": "unknown"}],
        ) from exc
    if await db.scalar(select(Community.id).where(Community.code == code)) is not None:
        raise CommunityCodeTaken(params={"code": repr(code)})
    if not is_self_registration(self_registration):
        raise InvalidSelfRegistration(
            errors=[{"field": "self_registration", "message": "off, auto or approval"}],
        )
    community = Community(name=_name(name), code=code, timezone=tz, self_registration=self_registration)
    db.add(community)
    await db.flush()
    await record(
        db,
        actor_id=actor.member_id,
        action="community_created",
        community_id=community.id,
        detail={"name": community.name, "code": code, "timezone": tz, "self_registration": self_registration},
    )
    return community


@raises(CommunityNotFound)
async def get_community(db: AsyncSession, community_id: uuid.UUID, *, lock: bool = False) -> Community:
    community = await db.get(Community, community_id, with_for_update=lock)
    if community is None:
        raise CommunityNotFound()
    return community


@raises(CommunityNotFound)
async def get_community_by_code(db: AsyncSession, code: str) -> Community:
    community = await db.scalar(select(Community).where(Community.code == code.strip().lower()))
    if community is None:
        raise CommunityNotFound(detail="No community with code %(code)s.", params={"code": repr(code)})
    return community


async def list_communities(db: AsyncSession, ids: Iterable[uuid.UUID]) -> list[Community]:
    wanted = list(ids)
    if not wanted:
        return []
    return list(await db.scalars(select(Community).where(Community.id.in_(wanted)).order_by(Community.name)))


@raises(get_community, require_role, _name, PartnerNameTaken, InvalidAddress)
async def create_partner(
    db: AsyncSession, actor: Actor, community_id: uuid.UUID, name: str, address: str | None = None
) -> Partner:
    await get_community(db, community_id)
    await require_role(db, actor, community_id, "admin")
    name = _name(name)
    exists = await db.scalar(
        select(Partner.id).where(Partner.community_id == community_id, Partner.name == name)
    )
    if exists is not None:
        raise PartnerNameTaken(params={"name": repr(name)})
    if address is not None and len(address) > 200:
        raise InvalidAddress(
            errors=[{"field": "address", "message": "at most 200 characters"}],
        )
    partner = Partner(community_id=community_id, name=name, address=address)
    db.add(partner)
    await db.flush()
    await record(
        db,
        actor_id=actor.member_id,
        action="partner_created",
        community_id=community_id,
        detail={"partner_id": str(partner.id), "name": name, "address": address},
    )
    return partner


@raises(InvalidName, PartnerNameTaken, InvalidAddress, InvalidPartnerKind, InvalidField)
async def create_unit(
    db: AsyncSession,
    region_id: uuid.UUID,
    *,
    name: str,
    address: str | None,
    kind: str,
    hours: str | None = None,
    monthly_quota: int | None = None,
) -> Partner:
    """A unit of a region's alliance (the caller, the regions domain, checked the official and audits)."""
    name = _name(name)
    if kind not in PARTNER_KINDS:
        raise InvalidPartnerKind(
            errors=[{"field": "kind", "message": "shop, service, health, fitness or other"}]
        )
    if address is not None and len(address) > 200:
        raise InvalidAddress(errors=[{"field": "address", "message": "at most 200 characters"}])
    hours = bounded_text(hours, "hours", high=100) or None
    bounded_int(monthly_quota, "monthly_quota", 1, 1_000_000)
    taken = await db.scalar(select(Partner.id).where(Partner.region_id == region_id, Partner.name == name))
    if taken is not None:
        raise PartnerNameTaken(params={"name": repr(name)})
    partner = Partner(
        region_id=region_id, name=name, address=address, kind=kind, hours=hours, monthly_quota=monthly_quota
    )
    db.add(partner)
    await db.flush()
    return partner


@raises(Forbidden, require_role)
async def require_partner_staff(db: AsyncSession, actor: Actor, partner: Partner) -> None:
    """The actor works for the partner (or administers it): a community's shop is ``require_role``'s
    ``partner`` check in its community; a region's unit needs one of the unit's staff memberships (it
    has one in every community of the region) or the platform admin."""
    if partner.community_id is not None:
        await require_role(db, actor, partner.community_id, "partner", partner_id=partner.id)
        return
    if actor.is_platform_admin:
        return
    held = await db.scalar(
        select(Membership.id)
        .where(
            Membership.member_id == actor.member_id,
            Membership.role == "partner",
            Membership.partner_id == partner.id,
        )
        .limit(1)
    )
    if held is None:
        raise Forbidden(detail="You do not work for this unit.")


@raises(_phone, _name, UnverifiedAccount, RoleExists)
async def grant_unit_staff(
    db: AsyncSession, partner: Partner, community_ids: Sequence[uuid.UUID], phone: str, name: str
) -> Member:
    """Make the person with ``phone`` staff of a region's unit: the ``partner`` role (and no ``member``
    role, so no balance) in every community the unit serves, which is what redeeming a voucher of that
    community checks. A new phone gets an account without a password (the caller issues its code)."""
    phone, name = _phone(phone), _name(name)
    member = await db.scalar(select(Member).where(Member.phone == phone))
    if member is None:
        member = Member(phone=phone, name=name, phone_verified_at=clock.now())
        db.add(member)
        await db.flush()
    elif member.phone_verified_at is None:
        raise UnverifiedAccount()
    held = {
        cid: pid
        for cid, pid in await db.execute(
            select(Membership.community_id, Membership.partner_id).where(
                Membership.member_id == member.id,
                Membership.role == "partner",
                Membership.community_id.in_(list(community_ids)),
            )
        )
    }
    if any(pid != partner.id for pid in held.values()):
        raise RoleExists()
    added = [cid for cid in community_ids if cid not in held]
    for cid in added:
        db.add(Membership(community_id=cid, member_id=member.id, role="partner", partner_id=partner.id))
    await db.flush()
    if added:
        await void_open_codes(db, member.id)
    return member


async def extend_unit_staff(
    db: AsyncSession, community_id: uuid.UUID, partner_ids: Sequence[uuid.UUID]
) -> int:
    """A community joined a region: the staff of the region's units (``partner_ids``) get their role
    there too, so they redeem its residents' vouchers. Someone already staff of another shop there
    keeps that; returns how many roles were added."""
    if not partner_ids:
        return 0
    staff = (
        await db.execute(
            select(Membership.member_id, Membership.partner_id)
            .where(Membership.role == "partner", Membership.partner_id.in_(list(partner_ids)))
            .distinct()
        )
    ).all()
    held = set(
        await db.scalars(
            select(Membership.member_id).where(
                Membership.community_id == community_id, Membership.role == "partner"
            )
        )
    )
    added = 0
    for member_id, pid in staff:
        if member_id not in held:
            db.add(Membership(community_id=community_id, member_id=member_id, role="partner", partner_id=pid))
            held.add(member_id)
            added += 1
    await db.flush()
    return added


async def lock_partner_quota(db: AsyncSession, partner_id: uuid.UUID) -> int | None:
    """Lock the unit's row (its monthly quota is then counted exactly) and return the quota. Lock
    order: after the offer, before the vouchers and the ledger."""
    row = await db.scalar(select(Partner.monthly_quota).where(Partner.id == partner_id).with_for_update())
    return None if row is None else int(row)


async def set_partner_active(db: AsyncSession, partner: Partner, active: bool) -> bool:
    """Pause or resume a unit (its offers close while paused); whether it changed. The caller checks."""
    changed = partner.active != active
    partner.active = active
    await db.flush()
    return changed


@raises(PartnerNotFound)
async def get_partner(db: AsyncSession, partner_id: uuid.UUID) -> Partner:
    partner = await db.get(Partner, partner_id)
    if partner is None:
        raise PartnerNotFound()
    return partner


async def list_partners(db: AsyncSession, community_id: uuid.UUID) -> list[Partner]:
    return list(
        await db.scalars(select(Partner).where(Partner.community_id == community_id).order_by(Partner.name))
    )


# ---------------------------------------------------------------- members


@raises(MemberNotFound)
async def get_member(db: AsyncSession, member_id: uuid.UUID) -> Member:
    member = await db.get(Member, member_id)
    if member is None:
        raise MemberNotFound()
    return member


async def _grant(
    db: AsyncSession, member: Member, community_id: uuid.UUID, role: str, partner_id: uuid.UUID | None
) -> list[str]:
    """Give ``member`` the role (and ``member``) in the community; return the roles that were new."""
    roles = {role, "member"}
    added = []
    for r in sorted(roles):
        exists = await db.scalar(
            select(Membership.id).where(
                Membership.member_id == member.id,
                Membership.community_id == community_id,
                Membership.role == r,
            )
        )
        if exists is None:
            db.add(
                Membership(
                    community_id=community_id,
                    member_id=member.id,
                    role=r,
                    partner_id=partner_id if r == "partner" else None,
                )
            )
            added.append(r)
    await db.flush()
    if added:
        await void_open_codes(db, member.id)
    return added


async def void_open_codes(db: AsyncSession, member_id: uuid.UUID) -> None:
    """A person's roles changed: their open invitation or reset code no longer stands for what they may
    do, so it stops working (the office issues a new one; see ``onboarding._still_issuable``)."""
    await db.execute(
        update(Activation)
        .where(Activation.member_id == member_id, Activation.status == "open")
        .values(status="replaced")
    )


@raises(RoleNeedsPlatformAdmin)
def check_role_granter(actor: Actor, role: str) -> None:
    """Refuse ``role_needs_platform_admin`` when a community admin grants or removes admin/reviewer."""
    if role in PLATFORM_GRANTED_ROLES and not actor.is_platform_admin:
        raise RoleNeedsPlatformAdmin(params={"role": role})


async def set_holder(db: AsyncSession, member: Member, holder_id: uuid.UUID | None) -> None:
    """The member's password was just set in a way ``holder_id`` could know (a code they issued, a
    password they typed); None: only the person knows it. Platform admins, the root of trust, hold nobody.
    """
    if holder_id is not None and (
        holder_id == member.id
        or await db.scalar(select(Member.is_platform_admin).where(Member.id == holder_id))
    ):
        holder_id = None
    member.held_by, member.held_since = holder_id, clock.now() if holder_id is not None else None


@raises(
    _phone,
    _name,
    _role,
    PartnerRequired,
    get_partner,
    PartnerNotInCommunity,
    PartnerNotAllowed,
    RoleExists,
    UnverifiedAccount,
    hash_password,
)
async def _add_member_unchecked(
    db: AsyncSession,
    community_id: uuid.UUID,
    phone: str,
    name: str,
    password: str | None,
    role: str,
    partner_id: uuid.UUID | None,
    holder: uuid.UUID | None = None,
) -> tuple[Member, list[str]]:
    """``holder``: who typed the password of a new account (see :func:`set_holder`)."""
    phone, name, role = _phone(phone), _name(name), _role(role)
    if password is not None:  # checked for a person who exists too: the answer tells nothing of them
        _check_password_shape(password)
    if role == "partner":
        if partner_id is None:
            raise PartnerRequired(
                errors=[{"field": "partner_id", "message": "required for role partner"}],
            )
        partner = await get_partner(db, partner_id)
        if partner.community_id != community_id:
            raise PartnerNotInCommunity()
    elif partner_id is not None:
        raise PartnerNotAllowed(
            errors=[{"field": "partner_id", "message": "only with role partner"}],
        )
    member = await db.scalar(select(Member).where(Member.phone == phone))
    if member is None:
        member = Member(
            phone=phone,
            name=name,
            password_hash=await hash_password(password) if password else None,
            phone_verified_at=clock.now(),  # staff made it: nobody else holds a login for it
        )
        db.add(member)
        await db.flush()
        if password:
            await set_holder(db, member, holder)
    elif member.phone_verified_at is None:
        # Made by someone who never proved the phone is theirs (a sign-up from before SMS codes were
        # required): joining it would hand a stranger's login the role. The person logs in by SMS once.
        raise UnverifiedAccount()
    elif role == "partner":
        other = await db.scalar(
            select(Membership).where(
                Membership.member_id == member.id,
                Membership.community_id == community_id,
                Membership.role == "partner",
            )
        )
        if other is not None and other.partner_id != partner_id:
            raise RoleExists()
    return member, await _grant(db, member, community_id, role, partner_id)


@raises(get_community, require_role, check_role_granter, _role, _add_member_unchecked)
async def add_member(
    db: AsyncSession,
    actor: Actor,
    community_id: uuid.UUID,
    phone: str,
    name: str,
    password: str | None = None,
    role: str = "member",
    partner_id: uuid.UUID | None = None,
    *,
    client_addr: str | None = None,
    secret_key: str | None = None,
) -> Member:
    """Create a member with a role in the community, or add the role to the existing phone's member.

    An existing person keeps their name and password: whoever adds a phone learns nothing about, and
    changes nothing of, an account that may belong to other communities. ``admin`` and ``reviewer``
    are granted by platform admins only (``role_needs_platform_admin``), so no community admin can
    make a second admin to approve his own awards. With ``secret_key``, a member who cannot log in yet
    (no password) gets an activation code for the invitation card.
    """
    await get_community(db, community_id)
    await require_role(db, actor, community_id, "admin")
    check_role_granter(actor, _role(role))
    member, added = await _add_member_unchecked(
        db, community_id, phone, name, password, role, partner_id, actor.member_id
    )
    for r in added:
        await record(
            db,
            actor_id=actor.member_id,
            action="role_granted",
            community_id=community_id,
            subject_member_id=member.id,
            detail={"role": r, **({"partner_id": str(partner_id)} if r == "partner" else {})},
            client_addr=client_addr,
        )
    if secret_key:
        await activations.invite_if_needed(db, community_id, member, secret_key, actor)
    return member


@raises(_phone, _name, hash_password)
async def create_platform_admin(db: AsyncSession, phone: str, password: str, name: str) -> Member:
    phone, name = _phone(phone), _name(name)
    password_hash = await hash_password(password)  # checks the password before anything is written
    member = await db.scalar(select(Member).where(Member.phone == phone))
    if member is None:
        member = Member(phone=phone, name=name)
        db.add(member)
    member.password_hash = password_hash
    member.is_platform_admin = True
    member.phone_verified_at = member.phone_verified_at or clock.now()
    await db.flush()
    return member


@raises(get_community, require_role, MemberNotFound, MemberElsewhere, RoleNeedsPlatformAdmin)
async def _check_manages(db: AsyncSession, actor: Actor, member: Member, community_id: uuid.UUID) -> None:
    """The actor may change this person's name, phone or password through ``community_id``.

    A community admin manages only people whose every membership is in that community: one account
    spans communities, so otherwise an admin of one village could take over a clerk, an organizer,
    a partner's staff or a resident of another simply by adding their phone first.
    """
    await get_community(db, community_id)
    await require_role(db, actor, community_id, "admin")
    held = {
        c
        for (c,) in await db.execute(select(Membership.community_id).where(Membership.member_id == member.id))
    }
    if community_id not in held:
        raise MemberNotFound(detail="No such member in this community.")
    if actor.is_platform_admin:
        return
    if member.is_platform_admin or held != {community_id}:
        raise MemberElsewhere()
    if member.id == actor.member_id:
        return
    checkers = await db.scalar(
        select(Membership.id).where(
            Membership.member_id == member.id, Membership.role.in_(sorted(PLATFORM_GRANTED_ROLES))
        )
    )
    if checkers is not None:
        # Setting a fellow admin's password would let one admin approve his own awards as the other.
        raise RoleNeedsPlatformAdmin(
            detail="Only a platform administrator can change the name, phone or password of an "
            "administrator or reviewer."
        )


@raises(get_member, Forbidden, _check_manages, ResetByCode, hash_password)
async def set_password(
    db: AsyncSession,
    actor: Actor,
    member_id: uuid.UUID,
    password: str,
    community_id: uuid.UUID | None = None,
    *,
    client_addr: str | None = None,
) -> None:
    """A member changes their own password, or a platform admin sets someone's.

    A community admin never chooses a member's password: once the usual checks pass (the person is
    theirs to manage) the answer is ``reset_by_code``: issue a one-time code and the member sets it.
    """
    member = await get_member(db, member_id)
    if member.id != actor.member_id:
        if community_id is None:
            raise Forbidden(detail="Only an admin of the member's community can reset a password.")
        await _check_manages(db, actor, member, community_id)
        if not actor.is_platform_admin:
            raise ResetByCode()
    member.password_hash = await hash_password(password)
    member.token_version += 1
    if member.id != actor.member_id:  # a platform admin (set_holder: the root of trust holds nobody)
        await set_holder(db, member, actor.member_id)
    _forget_token_version(member.id)
    await db.flush()
    if member.id != actor.member_id:
        await record(
            db,
            actor_id=actor.member_id,
            action="password_set",
            community_id=community_id,
            subject_member_id=member.id,
            client_addr=client_addr,
        )


@raises(get_member, _check_manages, _name, _phone, PhoneTaken)
async def update_member(
    db: AsyncSession,
    actor: Actor,
    community_id: uuid.UUID,
    member_id: uuid.UUID,
    *,
    name: str | None = None,
    phone: str | None = None,
    client_addr: str | None = None,
) -> Member:
    """An admin corrects a member's name or phone. Errors: member_elsewhere (403), phone_taken (409)."""
    member = await get_member(db, member_id)
    await _check_manages(db, actor, member, community_id)
    changes: list[tuple[str, dict[str, str]]] = []
    if name is not None:
        new_name = _name(name)
        if new_name != member.name:
            changes.append(("name_changed", {"old": member.name, "new": new_name}))
            member.name = new_name
    if phone is not None:
        new_phone = _phone(phone)
        if new_phone != member.phone:
            if await db.scalar(select(Member.id).where(Member.phone == new_phone)) is not None:
                raise PhoneTaken()
            changes.append(("phone_changed", {"old": member.phone, "new": new_phone}))
            member.phone = new_phone
            member.token_version += 1  # logins were made with the old number: end them
    await db.flush()
    for action, detail in changes:
        await record(
            db,
            actor_id=actor.member_id,
            action=action,
            community_id=community_id,
            subject_member_id=member.id,
            detail=detail,
            client_addr=client_addr,
        )
    return member


@raises(get_community, require_role, _role, InvalidRole, check_role_granter, RoleNotHeld)
async def remove_role(
    db: AsyncSession,
    actor: Actor,
    community_id: uuid.UUID,
    member_id: uuid.UUID,
    role: str,
    *,
    client_addr: str | None = None,
) -> list[Membership]:
    """Take a staff role away; return the member's remaining roles in the community.

    Errors: invalid_role (422, also for ``member``: leaving keeps the points, so it is not a role
    change), role_needs_platform_admin (403), role_not_held (404).
    """
    await get_community(db, community_id)
    await require_role(db, actor, community_id, "admin")
    role = _role(role)
    if role == "member":
        raise InvalidRole(detail="The member role cannot be removed.")
    check_role_granter(actor, role)
    rows = list(
        await db.scalars(
            select(Membership).where(
                Membership.community_id == community_id,
                Membership.member_id == member_id,
                Membership.role == role,
            )
        )
    )
    if not rows:
        raise RoleNotHeld()
    for row in rows:
        await db.delete(row)
    await db.flush()
    await void_open_codes(db, member_id)
    await record(
        db,
        actor_id=actor.member_id,
        action="role_removed",
        community_id=community_id,
        subject_member_id=member_id,
        detail={"role": role},
        client_addr=client_addr,
    )
    return [m for m in await roles_of(db, member_id) if m.community_id == community_id]


@raises(require_role)
async def list_members(
    db: AsyncSession,
    actor: Actor,
    community_id: uuid.UUID,
    limit: int,
    after: uuid.UUID | None = None,
    query: str | None = None,
) -> tuple[list[tuple[Member, list[str]]], uuid.UUID | None]:
    await require_role(db, actor, community_id, "admin", "organizer", "clerk", "reviewer")
    stmt = (
        select(Member)
        .join(Membership, Membership.member_id == Member.id)
        .where(Membership.community_id == community_id, Membership.role == "member")
        .order_by(Member.id)
        .limit(limit + 1)
    )
    if after is not None:
        stmt = stmt.where(Member.id > after)
    if query:
        like = f"%{query.strip()[:NAME_MAX]}%"
        stmt = stmt.where((Member.name.like(like)) | (Member.phone.like(like)))
    members = list(await db.scalars(stmt))
    more = len(members) > limit
    members = members[:limit]
    roles: dict[uuid.UUID, list[str]] = {m.id: [] for m in members}
    if members:
        rows = await db.execute(
            select(Membership.member_id, Membership.role).where(
                Membership.community_id == community_id, Membership.member_id.in_(roles)
            )
        )
        for mid, role in rows:
            roles[mid].append(role)
    return [(m, sorted(roles[m.id])) for m in members], (members[-1].id if more else None)


# ---------------------------------------------------------------- login and throttling


def _upsert(db: AsyncSession) -> Any:
    return pg_insert if is_postgres(db) else sqlite_insert


async def _count_attempt(db: AsyncSession, key: str) -> tuple[int, datetime]:
    """Add one to ``key``'s count in its window, atomically; return the new count and window start.

    One ``INSERT ... ON CONFLICT DO UPDATE ... RETURNING`` (PostgreSQL, SQLite 3.35+): concurrent
    attempts each see their own number, and two first attempts cannot collide on the primary key.
    """
    now = clock.now()
    stale = LoginFailure.window_started_at < now - timedelta(seconds=LOGIN_WINDOW_SECONDS)
    stmt = (
        _upsert(db)(LoginFailure)
        .values(key=key, count=1, window_started_at=now)
        .on_conflict_do_update(
            index_elements=[LoginFailure.key],
            set_={
                "count": case((stale, 1), else_=LoginFailure.count + 1),
                "window_started_at": case((stale, now), else_=LoginFailure.window_started_at),
            },
        )
        .returning(LoginFailure.count, LoginFailure.window_started_at)
    )
    count, started = (await db.execute(stmt)).one()
    return int(count), started


async def _failures(db: AsyncSession, key: str) -> tuple[int, datetime]:
    row = await db.get(LoginFailure, key, populate_existing=True)
    if row is None or clock.now() - row.window_started_at > timedelta(seconds=LOGIN_WINDOW_SECONDS):
        return 0, clock.now()
    return row.count, row.window_started_at


def _too_many(started: datetime) -> TooManyAttempts:
    elapsed = (clock.now() - started).total_seconds()
    wait = max(1, int(LOGIN_WINDOW_SECONDS - elapsed))
    return TooManyAttempts(
        detail="Too many failed logins; try again in %(seconds)s s.",
        headers={"Retry-After": str(wait)},
        params={"seconds": wait},
    )


@raises(_phone, TooManyAttempts, InvalidCredentials)
async def login(
    db: AsyncSession, phone: str, password: str, client: str, secret_key: str
) -> tuple[str, Member]:
    """Check a phone and password; return a token.

    Each attempt on a phone is counted *before* its password is checked, so a burst of concurrent
    guesses checks at most ``LOGIN_FAILURES_MAX`` passwords. Failures per client address are counted
    too, with a far higher limit, and refuse only phones that failed themselves: a whole office or a
    carrier NAT shares one address, and a resident who typed the right password must still get in.
    """
    normal = _phone(phone)  # no mobile number cannot log in: refuse it before counting an attempt
    phone_key, ip_key = f"phone:{normal}", f"ip:{client[:64]}"
    ip_failures, ip_started = await _failures(db, ip_key)
    attempts, started = await _count_attempt(db, phone_key)
    # Commit the reservation now: concurrent attempts must see it before the slow password check, and
    # the refusals below roll the request back.
    await db.commit()
    if attempts > LOGIN_FAILURES_MAX:
        raise _too_many(started)
    if ip_failures >= LOGIN_IP_FAILURES_MAX and attempts > 1:
        raise _too_many(ip_started)
    member = await db.scalar(select(Member).where(Member.phone == normal))
    if member is None or not await _verify_password(member.password_hash, password[:PASSWORD_MAX]):
        await _count_attempt(db, ip_key)
        await db.commit()
        raise InvalidCredentials()
    await db.execute(delete(LoginFailure).where(LoginFailure.key == phone_key))
    return issue_token(member, secret_key), member


@raises(get_member)
async def logout(db: AsyncSession, actor: Actor) -> None:
    member = await get_member(db, actor.member_id)
    member.token_version += 1
    _forget_token_version(member.id)
    await db.flush()


# ---------------------------------------------------------------- bulk import


class ImportProblem(NamedTuple):
    """A bad row of an import: ``template`` is a msgid, filled with ``params``."""

    line: int
    template: str
    params: dict[str, object]

    @property
    def message(self) -> str:
        return self.template % self.params if self.params else self.template


@dataclass
class ImportRow:
    line: int
    phone: str
    name: str
    role: str = "member"


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    invited: int = 0
    """Members who got an activation code (they had no password and no open code)."""
    errors: list[tuple[int, str]] = field(default_factory=list)


def parse_import_csv(text: str) -> tuple[list[ImportRow], list[ImportProblem]]:
    """Parse ``phone,name[,role]`` rows (a header row is optional); return rows and (line, problem)s."""
    import csv
    import io

    rows: list[ImportRow] = []
    problems: list[ImportProblem] = []
    seen: dict[str, int] = {}
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    for line, cells in enumerate(reader, start=1):
        cells = [c.strip() for c in cells]
        if not any(cells):
            continue
        if line == 1 and cells and cells[0].lower() in {"phone", "手机", "手机号"}:
            continue
        if len(cells) < 2 or len(cells) > 3:
            problems.append(ImportProblem(line, "expected phone,name[,role]", {}))
            continue
        phone = normalise_phone(cells[0])
        role = cells[2] if len(cells) == 3 and cells[2] else "member"
        if phone is None:
            problems.append(
                ImportProblem(line, "not a mainland mobile number: %(value)s", {"value": repr(cells[0])})
            )
        elif not cells[1] or len(cells[1]) > NAME_MAX:
            problems.append(ImportProblem(line, "name must be 1-%(max)s characters", {"max": NAME_MAX}))
        elif role not in ROLES or role == "partner":
            problems.append(ImportProblem(line, "unknown role %(value)s", {"value": repr(role)}))
        elif phone in seen:
            problems.append(ImportProblem(line, "phone repeats line %(first)s", {"first": seen[phone]}))
        else:
            seen[phone] = line
            rows.append(ImportRow(line=line, phone=phone, name=cells[1], role=role))
    return rows, problems


async def import_members(
    db: AsyncSession,
    community_id: uuid.UUID,
    rows: Sequence[ImportRow],
    on_row: object = None,
    *,
    actor_id: uuid.UUID | None = None,
    client_addr: str | None = None,
    secret_key: str | None = None,
    actor: Actor | None = None,
) -> ImportReport:
    """Add every row's member and role (existing phones just gain the role). Caller checks permission,
    including :func:`check_role_granter` for each role; the import is recorded in the audit log.

    With ``secret_key``, members without a password get an activation code for their invitation card
    (by a community admin ``actor``: only those who belong to no other community; the command line, with
    no actor, is the operator).
    """
    report = ImportReport()
    existing = (
        {
            m.phone: m
            for m in await db.scalars(select(Member).where(Member.phone.in_([r.phone for r in rows])))
        }
        if len(rows) <= 5000
        else None
    )
    for row in rows:
        member = (
            existing.get(row.phone)
            if existing is not None
            else await db.scalar(select(Member).where(Member.phone == row.phone))
        )
        if member is None:
            member = Member(phone=row.phone, name=row.name, phone_verified_at=clock.now())
            db.add(member)
            await db.flush()
            report.created += 1
        elif member.phone_verified_at is None:  # never joined by an add: see _add_member_unchecked
            report.errors.append((row.line, UnverifiedAccount.message))
            continue
        else:
            report.updated += 1
        await _grant(db, member, community_id, row.role, None)
        if secret_key and await activations.invite_if_needed(db, community_id, member, secret_key, actor):
            report.invited += 1
        if callable(on_row):
            on_row()
    await record(
        db,
        actor_id=actor_id or (actor.member_id if actor else None),
        action="members_imported",
        community_id=community_id,
        detail={"created": report.created, "updated": report.updated, "rows": len(rows)},
        client_addr=client_addr,
    )
    return report


async def count_members(db: AsyncSession, community_id: uuid.UUID) -> int:
    return await count_members_in(db, [community_id])


async def count_members_in(db: AsyncSession, community_ids: Iterable[uuid.UUID]) -> int:
    """Members (the ``member`` role) of these communities together, in one query."""
    ids = list(community_ids)
    if not ids:
        return 0
    return int(
        await db.scalar(
            select(func.count())
            .select_from(Membership)
            .where(Membership.community_id.in_(ids), Membership.role == "member")
        )
        or 0
    )
