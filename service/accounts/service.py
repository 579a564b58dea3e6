"""Business transactions of the accounts domain. Every function takes an open session."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from service import clock
from service.accounts.models import ROLES, Community, LoginFailure, Member, Membership, Partner
from service.accounts.rules import CODE_RE, normalise_phone
from service.config import (
    LOGIN_FAILURES_MAX,
    LOGIN_WINDOW_SECONDS,
    NAME_MAX,
    PASSWORD_MAX,
    PASSWORD_MIN,
    TOKEN_LIFETIME_SECONDS,
)
from service.errors import Conflict, Forbidden, InvalidInput, NotAuthenticated, NotFound, TooManyRequests

__all__ = [
    "Actor",
    "ImportProblem",
    "ImportReport",
    "ImportRow",
    "add_member",
    "authenticate_token",
    "create_community",
    "create_partner",
    "create_platform_admin",
    "get_community",
    "get_community_by_code",
    "get_member",
    "get_partner",
    "import_members",
    "issue_token",
    "list_communities",
    "list_members",
    "list_partners",
    "login",
    "logout",
    "parse_import_csv",
    "register",
    "require_role",
    "roles_of",
    "set_password",
]

_hasher = PasswordHasher()


@dataclass(frozen=True)
class Actor:
    """The authenticated caller, as services see it."""

    member_id: uuid.UUID
    name: str
    phone: str
    is_platform_admin: bool = False


# ---------------------------------------------------------------- passwords and tokens


def _check_password_shape(password: str) -> None:
    if not (PASSWORD_MIN <= len(password) <= PASSWORD_MAX):
        raise InvalidInput(
            "invalid_password",
            "Password must be %(min)s to %(max)s characters.",
            params={"min": PASSWORD_MIN, "max": PASSWORD_MAX},
            errors=[{"field": "password", "message": "%(min)s-%(max)s characters"}],
        )


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


async def authenticate_token(db: AsyncSession, token: str, secret_key: str) -> Actor:
    """Return the actor a login token stands for, or raise ``not_authenticated``."""
    try:
        claims = jwt.decode(
            token, secret_key, algorithms=["HS256"], options={"verify_exp": False, "require": ["sub", "exp"]}
        )
        member_id = uuid.UUID(str(claims["sub"]))
    except (jwt.PyJWTError, ValueError) as exc:
        raise NotAuthenticated("token_invalid", "The login token is invalid; please log in again.") from exc
    if claims.get("typ") != "login" or int(claims["exp"]) < clock.now().timestamp():
        raise NotAuthenticated("token_expired", "The login has expired; please log in again.")
    member = await db.get(Member, member_id)
    if member is None or member.token_version != claims.get("ver"):
        raise NotAuthenticated("token_revoked", "This login was ended; please log in again.")
    return Actor(member.id, member.name, member.phone, member.is_platform_admin)


# ---------------------------------------------------------------- validation helpers


def _phone(raw: str) -> str:
    phone = normalise_phone(raw)
    if phone is None:
        raise InvalidInput(
            "invalid_phone",
            "Enter an 11-digit mainland mobile number, like 13812345678.",
            errors=[{"field": "phone", "message": "not a mainland mobile number"}],
        )
    return phone


def _name(raw: str, field_name: str = "name") -> str:
    name = " ".join((raw or "").split())
    if not name or len(name) > NAME_MAX:
        raise InvalidInput(
            "invalid_name",
            "%(field)s must be 1 to %(max)s characters.",
            params={"field": field_name, "max": NAME_MAX},
            errors=[{"field": field_name, "message": "1-%(max)s characters"}],
        )
    return name


def _role(role: str) -> str:
    if role not in ROLES:
        raise InvalidInput(
            "invalid_role",
            "Role must be one of %(choices)s.",
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


async def require_role(
    db: AsyncSession, actor: Actor, community_id: uuid.UUID, *roles: str, partner_id: uuid.UUID | None = None
) -> str:
    """Check the actor holds one of ``roles`` in the community; return the role that matched.

    A community ``admin`` passes every check in its community; a platform admin passes everything.
    The ``partner`` role passes only for its own ``partner_id`` when one is given.
    """
    if actor.is_platform_admin:
        return "platform_admin"
    rows = await db.execute(
        select(Membership.role, Membership.partner_id).where(
            Membership.member_id == actor.member_id, Membership.community_id == community_id
        )
    )
    held = [(r, p) for r, p in rows]
    for role, pid in held:
        if role in roles and not (role == "partner" and partner_id is not None and pid != partner_id):
            return role
    if any(role == "admin" for role, _ in held):
        return "admin"
    raise Forbidden("forbidden", "You do not have the role this needs in this community.")


# ---------------------------------------------------------------- communities and partners


async def create_community(
    db: AsyncSession,
    actor: Actor,
    name: str,
    code: str,
    timezone: str | None = None,
    allow_registration: bool = True,
) -> Community:
    if not actor.is_platform_admin:
        raise Forbidden("forbidden", "Only a platform admin can create communities.")
    code = (code or "").strip().lower()
    if not CODE_RE.match(code):
        raise InvalidInput(
            "invalid_code",
            "Code must be 2-32 lowercase letters, digits or dashes.",
            errors=[{"field": "code", "message": "2-32 of a-z 0-9 -"}],
        )
    tz = timezone or "Asia/Shanghai"
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidInput(
            "invalid_timezone",
            "Unknown time zone %(tz)s.",
            params={"tz": repr(tz)},
            errors=[{"field": "timezone", "message": "unknown"}],
        ) from exc
    if await db.scalar(select(Community.id).where(Community.code == code)) is not None:
        raise Conflict(
            "community_code_taken",
            "A community with code %(code)s already exists.",
            params={"code": repr(code)},
        )
    community = Community(name=_name(name), code=code, timezone=tz, allow_registration=allow_registration)
    db.add(community)
    await db.flush()
    return community


async def get_community(db: AsyncSession, community_id: uuid.UUID) -> Community:
    community = await db.get(Community, community_id)
    if community is None:
        raise NotFound("community_not_found", "No such community.")
    return community


async def get_community_by_code(db: AsyncSession, code: str) -> Community:
    community = await db.scalar(select(Community).where(Community.code == code.strip().lower()))
    if community is None:
        raise NotFound("community_not_found", "No community with code %(code)s.", params={"code": repr(code)})
    return community


async def list_communities(db: AsyncSession, ids: Iterable[uuid.UUID]) -> list[Community]:
    wanted = list(ids)
    if not wanted:
        return []
    return list(await db.scalars(select(Community).where(Community.id.in_(wanted)).order_by(Community.name)))


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
        raise Conflict(
            "partner_name_taken",
            "A partner named %(name)s already exists here.",
            params={"name": repr(name)},
        )
    if address is not None and len(address) > 200:
        raise InvalidInput(
            "invalid_address",
            "Address must be at most 200 characters.",
            errors=[{"field": "address", "message": "at most 200 characters"}],
        )
    partner = Partner(community_id=community_id, name=name, address=address)
    db.add(partner)
    await db.flush()
    return partner


async def get_partner(db: AsyncSession, partner_id: uuid.UUID) -> Partner:
    partner = await db.get(Partner, partner_id)
    if partner is None:
        raise NotFound("partner_not_found", "No such partner.")
    return partner


async def list_partners(db: AsyncSession, community_id: uuid.UUID) -> list[Partner]:
    return list(
        await db.scalars(select(Partner).where(Partner.community_id == community_id).order_by(Partner.name))
    )


# ---------------------------------------------------------------- members


async def get_member(db: AsyncSession, member_id: uuid.UUID) -> Member:
    member = await db.get(Member, member_id)
    if member is None:
        raise NotFound("member_not_found", "No such member.")
    return member


async def _grant(
    db: AsyncSession, member: Member, community_id: uuid.UUID, role: str, partner_id: uuid.UUID | None
) -> None:
    roles = {role, "member"}
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
    await db.flush()


async def add_member(
    db: AsyncSession,
    actor: Actor,
    community_id: uuid.UUID,
    phone: str,
    name: str,
    password: str | None = None,
    role: str = "member",
    partner_id: uuid.UUID | None = None,
) -> Member:
    """Create a member with a role in the community, or add the role to the existing phone's member."""
    await get_community(db, community_id)
    await require_role(db, actor, community_id, "admin")
    return await _add_member_unchecked(db, community_id, phone, name, password, role, partner_id)


async def _add_member_unchecked(
    db: AsyncSession,
    community_id: uuid.UUID,
    phone: str,
    name: str,
    password: str | None,
    role: str,
    partner_id: uuid.UUID | None,
) -> Member:
    phone, name, role = _phone(phone), _name(name), _role(role)
    if role == "partner":
        if partner_id is None:
            raise InvalidInput(
                "partner_required",
                "A partner role needs partner_id.",
                errors=[{"field": "partner_id", "message": "required for role partner"}],
            )
        partner = await get_partner(db, partner_id)
        if partner.community_id != community_id:
            raise InvalidInput("partner_not_in_community", "That partner belongs to another community.")
    elif partner_id is not None:
        raise InvalidInput(
            "partner_not_allowed",
            "Only the partner role takes partner_id.",
            errors=[{"field": "partner_id", "message": "only with role partner"}],
        )
    member = await db.scalar(select(Member).where(Member.phone == phone))
    if member is None:
        member = Member(
            phone=phone, name=name, password_hash=await hash_password(password) if password else None
        )
        db.add(member)
        await db.flush()
    elif role == "partner":
        other = await db.scalar(
            select(Membership).where(
                Membership.member_id == member.id,
                Membership.community_id == community_id,
                Membership.role == "partner",
            )
        )
        if other is not None and other.partner_id != partner_id:
            raise Conflict("role_exists", "This member is already staff of another partner here.")
    await _grant(db, member, community_id, role, partner_id)
    return member


async def register(db: AsyncSession, phone: str, name: str, password: str, community_id: uuid.UUID) -> Member:
    community = await get_community(db, community_id)
    if not community.allow_registration:
        raise Forbidden("registration_closed", "This community does not take sign-ups; ask its office.")
    phone = _phone(phone)
    _check_password_shape(password)
    if await db.scalar(select(Member.id).where(Member.phone == phone)) is not None:
        raise Conflict("phone_taken", "This phone number already has an account; please log in.")
    return await _add_member_unchecked(db, community_id, phone, name, password, "member", None)


async def create_platform_admin(db: AsyncSession, phone: str, password: str, name: str) -> Member:
    phone, name = _phone(phone), _name(name)
    password_hash = await hash_password(password)  # checks the password before anything is written
    member = await db.scalar(select(Member).where(Member.phone == phone))
    if member is None:
        member = Member(phone=phone, name=name)
        db.add(member)
    member.password_hash = password_hash
    member.is_platform_admin = True
    await db.flush()
    return member


async def set_password(
    db: AsyncSession, actor: Actor, member_id: uuid.UUID, password: str, community_id: uuid.UUID | None = None
) -> None:
    """A member changes their own password, or a community admin resets one of their members'."""
    member = await get_member(db, member_id)
    if member.id != actor.member_id:
        if community_id is None:
            raise Forbidden("forbidden", "Only an admin of the member's community can reset a password.")
        await require_role(db, actor, community_id, "admin")
        held = await db.scalar(
            select(Membership.id).where(
                Membership.member_id == member.id, Membership.community_id == community_id
            )
        )
        if held is None:
            raise NotFound("member_not_found", "No such member in this community.")
        if not actor.is_platform_admin and await _outranks_community_admin(db, member, community_id):
            # Otherwise an admin of one village could take over a platform or another village's admin.
            raise Forbidden(
                "forbidden", "This member administers elsewhere; only a platform admin can reset it."
            )
    member.password_hash = await hash_password(password)
    member.token_version += 1
    await db.flush()


async def _outranks_community_admin(db: AsyncSession, member: Member, community_id: uuid.UUID) -> bool:
    """True if ``member`` is a platform admin or an admin of some other community."""
    if member.is_platform_admin:
        return True
    elsewhere = await db.scalar(
        select(Membership.id).where(
            Membership.member_id == member.id,
            Membership.role == "admin",
            Membership.community_id != community_id,
        )
    )
    return elsewhere is not None


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


async def _failures(db: AsyncSession, key: str) -> LoginFailure | None:
    row = await db.get(LoginFailure, key)
    if row is None:
        return None
    if clock.now() - row.window_started_at > timedelta(seconds=LOGIN_WINDOW_SECONDS):
        return None
    return row


async def _record_failure(db: AsyncSession, key: str) -> None:
    row = await db.get(LoginFailure, key)
    now = clock.now()
    if row is None:
        db.add(LoginFailure(key=key, count=1, window_started_at=now))
    elif now - row.window_started_at > timedelta(seconds=LOGIN_WINDOW_SECONDS):
        row.count, row.window_started_at = 1, now
    else:
        row.count += 1
    await db.flush()


def _throttled(row: LoginFailure | None, limit: int) -> int | None:
    """Seconds to wait, if ``row`` has reached ``limit`` failures in its window."""
    if row is None or row.count < limit:
        return None
    elapsed = (clock.now() - row.window_started_at).total_seconds()
    return max(1, int(LOGIN_WINDOW_SECONDS - elapsed))


async def login(
    db: AsyncSession, phone: str, password: str, client: str, secret_key: str
) -> tuple[str, Member]:
    """Check a phone and password; return a token. Failures are counted per phone and per client."""
    normal = normalise_phone(phone) or phone[:20].replace("\x00", "")  # PostgreSQL text has no NUL
    keys = (f"phone:{normal}", f"ip:{client[:64]}")
    for key, limit in zip(keys, (LOGIN_FAILURES_MAX, LOGIN_FAILURES_MAX * 4), strict=True):
        wait = _throttled(await _failures(db, key), limit)
        if wait is not None:
            raise TooManyRequests(
                "too_many_attempts",
                "Too many failed logins; try again in %(seconds)s s.",
                headers={"Retry-After": str(wait)},
                params={"seconds": wait},
            )
    member = await db.scalar(select(Member).where(Member.phone == normal))
    if member is None or not await _verify_password(member.password_hash, password[:PASSWORD_MAX]):
        for key in keys:
            await _record_failure(db, key)
        # The failure count must survive the rollback that the error below causes.
        await db.commit()
        raise NotAuthenticated("invalid_credentials", "Wrong phone number or password.")
    await db.execute(delete(LoginFailure).where(LoginFailure.key == keys[0]))
    return issue_token(member, secret_key), member


async def logout(db: AsyncSession, actor: Actor) -> None:
    member = await get_member(db, actor.member_id)
    member.token_version += 1
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
            rows.append(ImportRow(line, phone, cells[1], role))
    return rows, problems


async def import_members(
    db: AsyncSession, community_id: uuid.UUID, rows: Sequence[ImportRow], on_row: object = None
) -> ImportReport:
    """Add every row's member and role (existing phones just gain the role). Caller checks permission."""
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
            member = Member(phone=row.phone, name=row.name)
            db.add(member)
            await db.flush()
            report.created += 1
        else:
            report.updated += 1
        await _grant(db, member, community_id, row.role, None)
        if callable(on_row):
            on_row()
    return report


async def count_members(db: AsyncSession, community_id: uuid.UUID) -> int:
    return int(
        await db.scalar(
            select(func.count())
            .select_from(Membership)
            .where(Membership.community_id == community_id, Membership.role == "member")
        )
        or 0
    )
