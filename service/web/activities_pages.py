"""Pages of activities: lists, create form, detail and attendance, kiosk, poster, check-in landing,
member cards, hours, certificates and teams."""

from __future__ import annotations

import secrets
import uuid
from typing import Annotated, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from litestar import Request, Response, get
from litestar.datastructures import Cookie
from litestar.params import Parameter
from markupsafe import Markup
from sqlalchemy.ext.asyncio import AsyncSession

from service import clock
from service.accounts import service as accounts
from service.accounts.models import Community
from service.accounts.service import Actor
from service.activities import rules
from service.activities import service as svc
from service.activities.controllers import DEVICE_COOKIE, SCAN_COOKIE, device_of, pending_scan_of
from service.config import Settings
from service.errors import DomainError
from service.kit import qr
from service.kit.masking import mask_phone
from service.points import service as points
from service.web.render import env, page, redirect_to_login

__all__ = ["ROUTES"]

DEVICE_COOKIE_SECONDS = 5 * 365 * 24 * 3600
DEFAULT_RADIUS_M = 200
"""Radius the "use my location" button proposes when the organizer has not typed one."""
TEAM_MEMBER_PICKER_MAX = 200
"""Members offered in the team forms' pickers (the API takes any member id)."""
LABELS = {
    "status": {
        "in": "Checked in",
        "out": "Checked out",
        "pending": "Waiting for approval",
        "rejected": "Rejected",
        "absent": "Absent (left early)",
        "pending_approval": "Waiting for an admin's approval",
        "open": "Open",
        "closed": "Closed",
        "cancelled": "Cancelled",
    },
    "evidence": {
        "kiosk": "Kiosk QR",
        "poster": "Poster QR",
        "member_card": "Member card",
        "manual": "Entered by hand",
    },
    "errors": {
        "qr_invalid": "This is not a valid check-in code.",
        "qr_expired": "This code has expired. Scan the code on the screen again.",
        "activity_not_open": "This activity is not open for check-in now.",
        "not_signed_up": "Sign up for this activity first.",
        "activity_full": "This activity is full.",
        "outside_area": "You are not at the activity's place.",
        "location_required": "This activity needs your location to check in.",
        "already_checked_out": "You have already checked out of this activity.",
        "manual_pending": "Your attendance was entered by hand and is waiting for approval.",
        "confirmation_pending": (
            "Your own attendance at an activity you organize waits for another organizer."
        ),
        "forbidden": "You are not a member of this activity's community.",
    },
}
"""English labels of stored codes; templates translate them with ``_()``."""
env.globals["L"] = LABELS
CommunityParam = Annotated[str | None, Parameter(max_length=64)]


def _svg(url: str) -> Markup:
    """An inline SVG QR (our own generated markup, not user input)."""
    text = qr.svg(url).decode()
    return Markup(text[text.index("<svg") :])


def _forbidden(
    request: Request[Any, Any, Any], actor: Actor | None, detail: str | DomainError, status: int = 403
) -> Response[str]:
    return page(request, "error.html", actor, status=status, title=str(status), detail=detail)


async def _my_communities(
    db: AsyncSession, actor: Actor
) -> tuple[list[Community], dict[uuid.UUID, set[str]]]:
    roles: dict[uuid.UUID, set[str]] = {}
    for m in await accounts.roles_of(db, actor.member_id):
        roles.setdefault(m.community_id, set()).add(m.role)
    return await accounts.list_communities(db, roles), roles


@get("/activities", include_in_schema=False)
async def activities_page(request: Request[Any, Any, Any], db: AsyncSession, actor: Actor) -> Response[str]:
    communities, roles = await _my_communities(db, actor)
    upcoming = {c.id: await svc.list_activities(db, actor, c.id) for c in communities}
    organizing = {cid for cid, held in roles.items() if held & {"organizer", "admin"}}
    recent = {cid: await svc.list_activities(db, actor, cid, upcoming=False, limit=10) for cid in organizing}
    mine = await svc.my_activities(db, actor)
    signed = {a.id for a, _att, s in mine if s}
    attended = {a.id for a, att, _s in mine if att is not None}
    return page(
        request,
        "activities/list.html",
        actor,
        communities=communities,
        organizing=organizing,
        recent=recent,
        upcoming=upcoming,
        mine=mine,
        signed=signed,
        attended=attended,
        now=clock.now(),
    )


@get("/activities/new", include_in_schema=False)
async def new_activity_page(
    request: Request[Any, Any, Any],
    db: AsyncSession,
    actor: Actor,
    community: CommunityParam = None,
) -> Response[str]:
    communities, roles = await _my_communities(db, actor)
    allowed = [c for c in communities if roles[c.id] & {"organizer", "admin"} or actor.is_platform_admin]
    if not allowed:
        return _forbidden(request, actor, "Only organizers can create activities.")
    chosen = next((c for c in allowed if str(c.id) == community), allowed[0])
    try:
        teams = [t.team for t in await svc.teams_with_totals(db, actor, chosen.id)]
    except DomainError:
        teams = []
    return page(
        request,
        "activities/new.html",
        actor,
        communities=allowed,
        chosen=chosen,
        categories=svc.CATEGORIES,
        teams=teams,
        default_radius_m=DEFAULT_RADIUS_M,
    )


@get("/activities/{aid:uuid}", include_in_schema=False)
async def activity_page(
    request: Request[Any, Any, Any], db: AsyncSession, actor: Actor, aid: uuid.UUID
) -> Response[str]:
    try:
        activity = await svc.get_activity(db, actor, aid)
    except DomainError as exc:
        return _forbidden(request, actor, exc, exc.status)
    community = await accounts.get_community(db, activity.community_id)
    organizer = await svc.is_organizer(db, actor, activity.community_id)
    rows = await svc.attendance_list(db, actor, aid) if organizer else []
    mine = next((a for act, a, _s in await svc.my_activities(db, actor) if act.id == aid), None)
    signed = any(act.id == aid and s for act, _a, s in await svc.my_activities(db, actor))
    members = []
    if organizer:
        members = [m for m, _roles in (await accounts.list_members(db, actor, community.id, 200))[0]]
    return page(
        request,
        "activities/detail.html",
        actor,
        activity=activity,
        community=community,
        organizer=organizer,
        rows=rows,
        mine=mine,
        signed=signed,
        members=members,
        count=await svc.checked_in_count(db, aid),
        signups=await svc.signup_count(db, aid),
        tz=community.timezone,
        cap=await svc.points_cap(db, community.id),
        can_approve=await svc.can_approve(db, actor, activity),
    )


@get("/kiosk/{aid:uuid}", include_in_schema=False)
async def kiosk_page(
    request: Request[Any, Any, Any],
    db: AsyncSession,
    actor: Actor,
    settings: Settings,
    aid: uuid.UUID,
) -> Response[str]:
    try:
        activity = await svc.organizer_activity(db, actor, aid)
        code = await svc.kiosk_code(db, actor, aid, settings.public_url)
    except DomainError as exc:
        return _forbidden(request, actor, exc, exc.status)
    return page(
        request,
        "activities/kiosk.html",
        actor,
        activity=activity,
        code=code,
        count=await svc.checked_in_count(db, aid),
        step_seconds=rules.KIOSK_STEP_SECONDS,
    )


@get("/poster/{aid:uuid}", include_in_schema=False)
async def poster_page(
    request: Request[Any, Any, Any],
    db: AsyncSession,
    actor: Actor,
    settings: Settings,
    aid: uuid.UUID,
) -> Response[str]:
    try:
        activity = await svc.organizer_activity(db, actor, aid)
        url = await svc.poster_code(db, actor, aid, settings.public_url)
    except DomainError as exc:
        return _forbidden(request, actor, exc, exc.status)
    community = await accounts.get_community(db, activity.community_id)
    return page(
        request,
        "activities/poster.html",
        actor,
        activity=activity,
        svg=_svg(url),
        tz=community.timezone,
    )


def _device_cookie(request: Request[Any, Any, Any], settings: Settings) -> list[Cookie]:
    if device_of(request):
        return []
    return [
        Cookie(
            key=DEVICE_COOKIE,
            value=secrets.token_urlsafe(24),
            max_age=DEVICE_COOKIE_SECONDS,
            httponly=True,
            samesite="lax",
            path="/",
            secure=settings.secure_cookies,
        )
    ]


def _with_cookies(response: Response[str], cookies: list[Cookie]) -> Response[str]:
    for c in cookies:
        response.set_cookie(c)
    return response


@get("/c/{token:str}", include_in_schema=False)
async def checkin_page(
    request: Request[Any, Any, Any],
    db: AsyncSession,
    maybe_actor: Actor | None,
    settings: Settings,
    token: str,
) -> Response[str]:
    """The URL inside every check-in QR. Logged out: remember when it was opened, then log in."""
    token = token[:100]
    cookies = _device_cookie(request, settings)
    device = device_of(request) or str(cookies[0].value)
    if maybe_actor is None:
        try:
            first = pending_scan_of(request, settings, token)
        except DomainError:
            first = None  # another phone's cookie: this phone starts its own scan
        response = redirect_to_login(request)
        if first is None and await svc.peek_token(db, token) is not None:
            nonce = secrets.token_hex(rules.SCAN_NONCE_CHARS // 2)
            value = rules.sign_scan(settings.secret_key, token, int(clock.now().timestamp()), nonce, device)
            cookies.append(
                Cookie(
                    key=SCAN_COOKIE,
                    value=value,
                    max_age=rules.PENDING_SCAN_SECONDS,
                    httponly=True,
                    samesite="lax",
                    path="/",
                    secure=settings.secure_cookies,
                )
            )
        return _with_cookies(response, cookies)
    actor = maybe_actor
    try:
        result = await svc.check_in(
            db, actor, token, device_id=device, pending_scan=pending_scan_of(request, settings, token)
        )
    except DomainError as exc:
        if exc.code == "location_required":
            return _with_cookies(page(request, "activities/locate.html", actor, token=token), cookies)
        response = page(request, "activities/checkin.html", actor, status=exc.status, error=exc, result=None)
        return _with_cookies(response, cookies)
    balance = await points.balance(db, result.activity.community_id, actor.member_id)
    community = await accounts.get_community(db, result.activity.community_id)
    response = page(
        request,
        "activities/checkin.html",
        actor,
        error=None,
        result=result,
        balance=balance,
        tz=community.timezone,
        min_stay_minutes=rules.MIN_STAY_SECONDS // 60,
    )
    if request.cookies.get(SCAN_COOKIE):
        response.delete_cookie(SCAN_COOKIE, path="/")  # spent: it never checks anybody in again
    return _with_cookies(response, cookies)


@get("/m/{token:str}", include_in_schema=False)
async def card_landing_page(
    request: Request[Any, Any, Any], db: AsyncSession, actor: Actor, token: str
) -> Response[str]:
    """A scanned member card: staff get the actions for that member (check in to an activity now)."""
    try:
        member, card = await svc.member_for_card(db, actor, token[:64])
    except DomainError as exc:
        return _forbidden(request, actor, exc, exc.status)
    return page(
        request,
        "activities/card_scan.html",
        actor,
        member=member,
        phone=mask_phone(member.phone),
        card=card,
        activities=await svc.activities_now(db, card.community_id),
    )


@get("/me/card", include_in_schema=False)
async def my_card_page(
    request: Request[Any, Any, Any],
    db: AsyncSession,
    actor: Actor,
    settings: Settings,
    community: CommunityParam = None,
) -> Response[str]:
    communities, _roles = await _my_communities(db, actor)
    if not communities:
        return _forbidden(request, actor, "You are not a member of any community yet.")
    chosen = next((c for c in communities if str(c.id) == community), communities[0])
    card = await svc.member_card(db, actor, chosen.id)
    url = f"{settings.public_url}/m/{card.token}"
    return page(
        request, "activities/card.html", actor, community=chosen, communities=communities, svg=_svg(url)
    )


@get("/me/hours", include_in_schema=False)
async def my_hours_page(request: Request[Any, Any, Any], db: AsyncSession, actor: Actor) -> Response[str]:
    communities, _roles = await _my_communities(db, actor)
    year = clock.now().year
    data = [
        (
            c,
            await svc.hours_of(db, actor.member_id, c.id),
            await svc.hours_of(db, actor.member_id, c.id, year),
        )
        for c in communities
    ]
    return page(request, "activities/hours.html", actor, data=data, year=year)


@get("/certificate/{mid:uuid}", include_in_schema=False)
async def certificate_page(
    request: Request[Any, Any, Any],
    db: AsyncSession,
    actor: Actor,
    settings: Settings,
    mid: uuid.UUID,
    community: CommunityParam = None,
) -> Response[str]:
    """A service certificate (志愿服务证明) with a QR that verifies it, for the member or an organizer."""
    try:
        cid = uuid.UUID(community or "")
        chosen = await accounts.get_community(db, cid)
        if mid != actor.member_id:
            await accounts.require_role(db, actor, cid, "organizer")
        else:
            await accounts.require_role(db, actor, cid, "member")
        member = await accounts.get_member(db, mid)
    except (ValueError, DomainError):
        return _forbidden(request, actor, "You cannot see this certificate.")
    hours = await svc.hours_of(db, mid, cid)
    day = clock.now().astimezone(ZoneInfo(chosen.timezone)).strftime("%Y%m%d")
    sig = svc.certificate_signature(settings.secret_key, mid, cid, hours.minutes, day)
    query = urlencode({"m": str(mid), "c": str(cid), "min": hours.minutes, "d": day, "s": sig})
    verify_url = f"{settings.public_url}/certificate/verify?{query}"
    return page(
        request,
        "activities/certificate.html",
        actor,
        member=member,
        community=chosen,
        hours=hours,
        day=day,
        svg=_svg(verify_url),
        tz=chosen.timezone,
    )


@get("/certificate/verify", include_in_schema=False)
async def certificate_verify_page(
    request: Request[Any, Any, Any],
    db: AsyncSession,
    maybe_actor: Actor | None,
    settings: Settings,
    m: Annotated[str, Parameter(max_length=64)] = "",
    c: Annotated[str, Parameter(max_length=64)] = "",
    min: Annotated[int, Parameter(ge=0, le=10_000_000)] = 0,
    d: Annotated[str, Parameter(max_length=8)] = "",
    s: Annotated[str, Parameter(max_length=64)] = "",
) -> Response[str]:
    """Anyone scanning a certificate's QR sees whether it is genuine (the name is masked)."""
    genuine = False
    member_name = community_name = ""
    try:
        mid, cid = uuid.UUID(m), uuid.UUID(c)
        expected = svc.certificate_signature(settings.secret_key, mid, cid, min, d)
        genuine = secrets.compare_digest(expected, s)
        if genuine:
            member = await accounts.get_member(db, mid)
            member_name = member.name[:1] + "*" * max(1, len(member.name) - 1)
            community_name = (await accounts.get_community(db, cid)).name
    except (ValueError, DomainError):
        genuine = False
    return page(
        request,
        "activities/verify.html",
        maybe_actor,
        status=200 if genuine else 404,
        genuine=genuine,
        member_name=member_name,
        community_name=community_name,
        minutes=min,
        day=d,
    )


@get("/teams", include_in_schema=False)
async def teams_page(
    request: Request[Any, Any, Any],
    db: AsyncSession,
    actor: Actor,
    community: CommunityParam = None,
) -> Response[str]:
    communities, roles = await _my_communities(db, actor)
    if not communities:
        return _forbidden(request, actor, "You are not a member of any community yet.")
    chosen = next((c for c in communities if str(c.id) == community), communities[0])
    teams = await svc.teams_with_totals(db, actor, chosen.id)
    organizer = bool(roles[chosen.id] & {"organizer", "admin"}) or actor.is_platform_admin
    members: list[tuple[uuid.UUID, str]] = []
    if organizer:
        listed, _next = await accounts.list_members(db, actor, chosen.id, TEAM_MEMBER_PICKER_MAX)
        members = [(m.id, f"{m.name} · {mask_phone(m.phone)}") for m, _roles in listed]
    mine = {t.team.id for t in teams if any(mid == actor.member_id for mid, _n, _m in t.members)}
    return page(
        request,
        "activities/teams.html",
        actor,
        community=chosen,
        communities=communities,
        teams=sorted(teams, key=lambda t: t.team.id not in mine),
        mine=mine,
        attendances=await svc.team_attendances(db, chosen.id),
        members=members,
        organizer=organizer,
    )


async def _home_panel(db: AsyncSession, actor: Actor, community: Community) -> dict[str, Any]:
    upcoming = await svc.list_activities(db, actor, community.id, limit=3)
    hours = await svc.hours_of(db, actor.member_id, community.id)
    return {"activity_panel_upcoming": upcoming, "activity_panel_minutes": hours.minutes}


HOME_PANELS = [("activities/_home_panel.html", _home_panel)]

ROUTES: list[Any] = [
    activities_page,
    new_activity_page,
    activity_page,
    kiosk_page,
    poster_page,
    checkin_page,
    card_landing_page,
    my_card_page,
    my_hours_page,
    certificate_verify_page,
    certificate_page,
    teams_page,
]
