"""HTTP plumbing shared by every domain's controllers: who is calling, pagination, idempotent replies."""

from __future__ import annotations

import base64
import binascii
import hmac
import ipaddress
import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

import msgspec
from litestar import Request, Response
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from service.accounts.actor import Actor
from service.accounts.errors import TokenExpired, TokenInvalid
from service.accounts.models import PolicyProposal
from service.accounts.proposals import Proposed
from service.accounts.schemas import PendingOut, ProposalOut
from service.accounts.service import authenticate_token, decode_token
from service.config import LIST_LIMIT_DEFAULT, LIST_LIMIT_MAX, Settings
from service.errors import (
    DomainError,
    Forbidden,
    InvalidCursor,
    NotAuthenticated,
    declared_errors,
    raises,
)
from service.idempotency import run_once
from service.kit.months import MONTH_PATTERN
from service.replica import ReportReader

__all__ = [
    "CSRF_COOKIE",
    "CSRF_HEADER",
    "DEVICE_COOKIE",
    "IMAGE_TYPES",
    "LANG_COOKIE",
    "MODE_COOKIE",
    "RAW_BODY",
    "TOKEN_COOKIE",
    "CsrfFailed",
    "InvalidCursor",
    "Limit",
    "Login",
    "MonthQuery",
    "client_address",
    "cursor_after",
    "cursor_for",
    "decode_cursor",
    "device_of",
    "encode_cursor",
    "errors_of",
    "idempotent",
    "login_of",
    "or_pending",
    "pending_specs",
    "proposal_out",
    "provide_actor",
    "provide_maybe_actor",
    "provide_reader",
    "provide_settings",
    "raw_body",
]

TOKEN_COOKIE = "jifen_token"
CSRF_COOKIE = "jifen_csrf"
CSRF_HEADER = "x-csrf-token"
LANG_COOKIE = "jifen_lang"
MODE_COOKIE = "jifen_mode"
"""The page mode a reader chose (``elder``: 长辈版, large text and targets; ``standard``), kept as the
language is."""
DEVICE_COOKIE = "jifen_device"
"""A random id a phone keeps for years (set at its first scan): binds pending scans, counts sign-ups."""
_DEVICE_RE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

Limit = Annotated[
    int,
    Parameter(
        ge=1,
        le=LIST_LIMIT_MAX,
        default=LIST_LIMIT_DEFAULT,
        description=f"Page size (default {LIST_LIMIT_DEFAULT}, at most {LIST_LIMIT_MAX}).",
    ),
]


MonthQuery = Annotated[
    str | None,
    Parameter(
        max_length=7,
        description="YYYY-MM, local month (default: this month)",
        schema_extra={"pattern": MONTH_PATTERN},
    ),
]
"""A ``?month=``: the document states the pattern ``require_month`` checks (``invalid_month`` off it)."""


def provide_settings(request: Request[Any, Any, Any]) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def provide_reader(request: Request[Any, Any, Any]) -> ReportReader:
    """Where reports read (the standby of ``JIFEN_REPLICA_URL`` while it is fresh, else the primary)."""
    reader: ReportReader = request.app.state.report_reader
    return reader


def _trusted(address: str, settings: Settings) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in settings.trusted_proxy_networks)


def device_of(request: Request[Any, Any, Any]) -> str | None:
    """This phone's device id (the ``jifen_device`` cookie), if it has a well-formed one."""
    value = request.cookies.get(DEVICE_COOKIE, "")
    return value if _DEVICE_RE.match(value) else None


def client_address(request: Request[Any, Any, Any]) -> str:
    """The caller's IP address, for throttling and the audit log.

    ``X-Forwarded-For`` counts only when the peer is one of ``JIFEN_TRUSTED_PROXIES``: then the hops are
    read from the right, skipping our own proxies, and the first address they did not add is the client.
    From any other peer the header is whatever the caller wrote, so it is ignored.
    """
    settings: Settings = request.app.state.settings
    peer = request.client.host if request.client else "unknown"
    if not settings.trusted_proxies or not _trusted(peer, settings):
        return peer[:64]
    hops = [h.strip() for h in request.headers.get("x-forwarded-for", "").split(",") if h.strip()]
    for hop in reversed(hops):
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            break  # garbage a proxy passed through: trust nothing left of it
        if not _trusted(hop, settings):
            return hop[:64]
    return peer[:64]


def _token(request: Request[Any, Any, Any]) -> tuple[str | None, bool]:
    header = request.headers.get("authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip() or None, False
    return request.cookies.get(TOKEN_COOKIE), True


class CsrfFailed(Forbidden):
    code = "csrf_failed"
    message = "The page is out of date; reload it and try again."


@raises(CsrfFailed)
def _check_csrf(request: Request[Any, Any, Any]) -> None:
    """Cookie-authenticated writes must echo the CSRF cookie in a header (double submit)."""
    cookie = request.cookies.get(CSRF_COOKIE, "")
    header = request.headers.get(CSRF_HEADER, "")
    if not cookie or not hmac.compare_digest(cookie, header):
        raise CsrfFailed()


@dataclass(frozen=True)
class Login:
    """A login token verified in memory; whether it was revoked is left to the route's own query."""

    member_id: uuid.UUID
    version: object
    via_cookie: bool

    def refused(self, exc: NotAuthenticated) -> NotAuthenticated:
        """The error to answer when the token turned out revoked (a cookie just means: log in)."""
        return NotAuthenticated(detail="Log in first.") if self.via_cookie else exc


@raises(NotAuthenticated, TokenInvalid, TokenExpired, CsrfFailed)
def login_of(request: Request[Any, Any, Any]) -> Login:
    """The caller's login without the database (hot routes check revocation in their own query);
    the same errors, in the same order, as ``provide_actor`` for a bad or missing token."""
    token, via_cookie = _token(request)
    if not token:
        raise NotAuthenticated(detail="Log in first.")
    settings: Settings = request.app.state.settings
    try:
        member_id, version = decode_token(token, settings.secret_key)
    except NotAuthenticated as exc:
        raise Login(uuid.UUID(int=0), None, via_cookie).refused(exc) from exc
    if via_cookie and request.method not in SAFE_METHODS:
        _check_csrf(request)
    return Login(member_id, version, via_cookie)


@raises(CsrfFailed, authenticate_token)
async def provide_maybe_actor(request: Request[Any, Any, Any], db: AsyncSession) -> Actor | None:
    token, via_cookie = _token(request)
    if not token:
        return None
    settings: Settings = request.app.state.settings
    try:
        actor = await authenticate_token(db, token, settings.secret_key)
    except NotAuthenticated:
        if via_cookie:
            return None
        raise
    if via_cookie and request.method not in SAFE_METHODS:
        _check_csrf(request)
    request.state.actor = actor  # the error page of a page visit shows who is logged in
    return actor


@raises(NotAuthenticated, provide_maybe_actor)
async def provide_actor(request: Request[Any, Any, Any], db: AsyncSession) -> Actor:
    actor = await provide_maybe_actor(request, db)
    if actor is None:
        raise NotAuthenticated(detail="Log in first.")
    return actor


def encode_cursor(value: str) -> str:
    return base64.urlsafe_b64encode(value.encode()).decode().rstrip("=")


@raises(InvalidCursor)
def decode_cursor(cursor: str | None) -> str | None:
    if not cursor:
        return None
    if len(cursor) > 200:
        raise InvalidCursor()
    try:
        return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise InvalidCursor() from exc


@raises(decode_cursor, InvalidCursor)
def cursor_after(cursor: str | None) -> uuid.UUID | None:
    """The id a list cursor points after (None for the first page); ``invalid_cursor`` for one this API
    did not give out."""
    raw = decode_cursor(cursor)
    try:
        return uuid.UUID(raw) if raw else None
    except ValueError as exc:
        raise InvalidCursor() from exc


def cursor_for(last: object | None) -> str | None:
    """The cursor of the next page after ``last`` (None when the list is complete)."""
    return encode_cursor(str(last)) if last is not None else None


@raises(run_once)
async def idempotent(
    request: Request[Any, Any, Any],
    db: AsyncSession,
    actor: Actor,
    work: Callable[[], Awaitable[tuple[int, msgspec.Struct]]],
) -> Response[bytes]:
    """Run a point-moving write under the request's ``Idempotency-Key``, if it has one."""

    async def encoded() -> tuple[int, bytes]:
        status, body = await work()
        return status, msgspec.json.encode(body)

    scope = f"{request.method} {request.url.path}"
    status, body = await run_once(
        db, actor.member_id, request.headers.get("idempotency-key"), scope, await request.body(), encoded
    )
    return Response(content=body, status_code=status, media_type="application/json")


class Problem(msgspec.Struct, omit_defaults=True):
    """An error as RFC 9457 problem+json: ``code`` is stable, ``detail`` is for people."""

    type: str
    title: str
    status: int
    code: str
    detail: str
    errors: list[dict[str, str]] | None = None


IMAGE_TYPES = ("image/jpeg", "image/png", "image/webp")
"""The upload types the image routes document (the decoder reads more; these are what phones send)."""
RAW_BODY = "request_body"
"""The key of a handler's ``opt`` that describes a body the handler reads itself (an upload)."""


def raw_body(description: str, *media_types: str) -> dict[str, Any]:
    """``opt`` of a handler that reads its body itself: the request body the document shows (a
    ``multipart/form-data`` type carries the file in the field ``image``)."""
    binary = {"type": "string", "format": "binary"}
    form = {"type": "object", "required": ["image"], "properties": {"image": binary}}
    return {
        RAW_BODY: {
            "required": True,
            "description": description,
            "content": {
                media_type: {"schema": form if media_type.startswith("multipart/") else binary}
                for media_type in media_types
            },
        }
    }


def errors_of(*sources: Callable[..., Any] | type[DomainError]) -> dict[int, ResponseSpec]:
    """The error responses of a route, from what its service functions declare with ``raises``.

    ``sources`` are the service functions the handler calls (and any error class the handler raises
    itself). One response per status, its description the codes, e.g. ``409: out_of_stock, limit_reached``.
    """
    by_status: dict[int, set[str]] = {}
    for source in sources:
        classes = declared_errors(source)
        for cls in classes:
            by_status.setdefault(cls.status, set()).add(cls.code)
    return {
        status: ResponseSpec(
            data_container=Problem,
            description=", ".join(sorted(codes)),
            media_type="application/problem+json",
        )
        for status, codes in sorted(by_status.items())
    }


# ---------------------------------------------------------------- knob changes that wait for a second person


def proposal_out(row: PolicyProposal, names: dict[uuid.UUID, str] | None = None) -> ProposalOut:
    names = names or {}
    return ProposalOut(
        id=row.id,
        community_id=row.community_id,
        knob=row.knob,
        target_id=row.target_id,
        before=row.before,
        after=row.after,
        status=row.status,
        proposed_by=row.proposed_by,
        created_at=row.created_at,
        decided_by=row.decided_by,
        decided_at=row.decided_at,
        proposed_by_name=names.get(row.proposed_by, ""),
        decided_by_name=names.get(row.decided_by, "") if row.decided_by else "",
    )


def or_pending(result: Any, shape: Callable[[Any], Any], status_code: int = 200) -> Response[Any]:
    """A knob route's answer: the new value (``status_code``), or 202 with the proposal when the change
    widens risk and waits for another admin."""
    if isinstance(result, Proposed):
        return Response(PendingOut(proposal=proposal_out(result.proposal)), status_code=202)
    return Response(shape(result), status_code=status_code)


def pending_specs(shape: type[Any], status_code: int = 200) -> dict[int, ResponseSpec]:
    """OpenAPI answers of a knob route: applied at once (narrowing) or 202 pending (widening)."""
    return {
        status_code: ResponseSpec(
            data_container=shape, description="Applied at once: the change narrows risk"
        ),
        202: ResponseSpec(
            data_container=PendingOut,
            description="The change widens risk (more points issuable, cheaper goods, looser sign-up, "
            "longer-lived points): stored as a proposal; nothing changes until a different admin of the "
            "community, an official of a region above it or a platform admin approves it",
        ),
    }
