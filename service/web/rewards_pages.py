"""Pages of good conduct and micro-wishes: /wishes, /claims, /households, /ratings, /admin/rules and the
public board (/board/<cid or code>, its short address /b/<code> and the A4 poster /b/<code>/poster)."""

from __future__ import annotations

import re
import uuid
from typing import Annotated, Any

from litestar import Request, Response, get
from litestar.params import Parameter
from markupsafe import Markup
from sqlalchemy.ext.asyncio import AsyncSession

from service.accounts import service as accounts
from service.accounts.models import Community
from service.accounts.service import Actor
from service.config import LIST_LIMIT_MAX, Settings
from service.errors import DomainError
from service.kit import qr
from service.points import service as points
from service.rewards import households_service as households
from service.rewards import ratings_service as ratings
from service.rewards import rules as reward_rules
from service.rewards import service as rewards
from service.rewards import wishes_service as wishes
from service.web.pages import admin_community
from service.web.render import page

__all__ = ["ROUTES"]

CommunityParam = Annotated[str | None, Parameter(max_length=64)]
WISH_CATEGORY_NAMES = {
    "errand": "Errand",
    "repair": "Repair",
    "care": "Care for the elderly",
    "companionship": "Companionship",
    "tutoring": "Tutoring",
    "other": "Other",
}
STATUS_NAMES = {
    "open": "Awaiting a volunteer",
    "offered": "Offered, awaiting the volunteer",
    "assigned": "Assigned",
    "done": "Done, awaiting rating",
    "rated": "Rated",
    "closed": "Closed",
    "cancelled": "Cancelled",
    "submitted": "Under review",
    "publicized": "On public notice",
    "rejected": "Rejected",
    "awarded": "Awarded",
    "pending": "Awaiting confirmation",
    "confirmed": "Confirmed",
}
POINTS_STATUS_NAMES = {
    "posted": "You earned %(points)s points",
    "pending": "Points wait for a staff member to confirm the wish was done.",
    "capped": "Monthly wish points cap reached: this wish earns no points.",
    "none": "This wish earns no points.",
}

ADMIN_LINKS = [("/admin/rules", "Good-conduct rules"), ("/households", "Household links")]


async def _home_panel(db: AsyncSession, actor: Actor, community: Community) -> dict[str, Any]:
    """Links to wishes and claims on the home page, with how many wishes are open and claims await me."""
    open_wishes, _ = await wishes.list_wishes(db, actor, community.id, scope="open", limit=LIST_LIMIT_MAX)
    offered, _ = await wishes.list_wishes(db, actor, community.id, scope="assigned", status="offered")
    to_review = await rewards.review_queue_count(db, actor, community.id)
    mine = sum(1 for v in open_wishes if v.wish.requester_id == actor.member_id)
    return {
        "rewards_open_wishes": len(open_wishes) - mine + len(offered),
        "rewards_to_review": to_review,
        "rewards_to_rate": len(await ratings.unrated_attended(db, actor, community.id)),
    }


HOME_PANELS = [("rewards/_home_panel.html", _home_panel)]


async def _roles_in(db: AsyncSession, actor: Actor, community_id: uuid.UUID) -> set[str]:
    return {m.role for m in await accounts.roles_of(db, actor.member_id) if m.community_id == community_id}


async def _member_community(
    request: Request[Any, Any, Any], db: AsyncSession, actor: Actor, community: str | None
) -> Community | Response[str]:
    """The community a member page is about (``?community=``, or the only one), or a chooser page."""
    return await admin_community(request, db, actor, community, "member")


def _month_of(raw: str | None) -> str | None:
    """A well-formed ``YYYY-MM`` or None (this month): a page shows something rather than an error."""
    return raw if raw and re.fullmatch(r"20\d\d-(0[1-9]|1[0-2])", raw) else None


@get("/wishes", include_in_schema=False)
async def wishes_page(
    request: Request[Any, Any, Any],
    db: AsyncSession,
    actor: Actor,
    community: CommunityParam = None,
) -> Response[str]:
    chosen = await _member_community(request, db, actor, community)
    if isinstance(chosen, Response):
        return chosen
    roles = await _roles_in(db, actor, chosen.id)
    is_organizer = bool(roles & {"organizer", "admin"}) or actor.is_platform_admin
    mine, _ = await wishes.list_wishes(db, actor, chosen.id, scope="mine")
    assigned, _ = await wishes.list_wishes(db, actor, chosen.id, scope="assigned")
    open_, _ = await wishes.list_wishes(db, actor, chosen.id, scope="open")
    staff: dict[str, Any] = {
        "candidates": [],
        "stats": None,
        "to_confirm": [],
        "waiting": [],
        "satisfaction": None,
    }
    if is_organizer:
        waiting, _ = await wishes.list_wishes(db, actor, chosen.id, scope="all", status="offered")
        staff = {
            "candidates": await wishes.dispatch_candidates(db, actor, chosen.id),
            "stats": (await wishes.wish_stats(db, actor, chosen.id, None))[1],
            "to_confirm": await wishes.awaiting_confirmation(db, actor, chosen.id),
            "waiting": waiting,
            "satisfaction": await ratings.satisfaction(db, actor, chosen.id, None),
        }
    balance = await points.balance(db, chosen.id, actor.member_id)
    settings = await rewards.get_settings(db, chosen.id)
    return page(
        request,
        "rewards/wishes.html",
        actor,
        community=chosen,
        mine=mine,
        offered=[v for v in assigned if v.wish.status == "offered"],
        assigned=[v for v in assigned if v.wish.status in {"assigned", "done", "rated", "closed"}],
        open_wishes=[v for v in open_ if actor.member_id not in {v.wish.requester_id, v.for_id}],
        all_open=open_,
        is_organizer=is_organizer,
        household=await _household(db, actor, chosen.id),
        balance=balance,
        settings=settings,
        offer_hours=reward_rules.WISH_OFFER_TIMEOUT_HOURS,
        categories=reward_rules.WISH_CATEGORIES,
        category_names=WISH_CATEGORY_NAMES,
        status_names=STATUS_NAMES,
        points_status_names=POINTS_STATUS_NAMES,
        **staff,
    )


async def _household(db: AsyncSession, actor: Actor, community_id: uuid.UUID) -> list[tuple[uuid.UUID, str]]:
    """The caller's confirmed household members as (id, name), for "file for" choices."""
    out = []
    for v in await households.list_links(db, actor, community_id):
        if v.link.status == "confirmed":
            mine = v.link.requester_id == actor.member_id
            other = (v.link.relative_id, v.relative_name) if mine else (v.link.requester_id, v.requester_name)
            out.append(other)
    return out


@get("/claims", include_in_schema=False)
async def claims_page(
    request: Request[Any, Any, Any],
    db: AsyncSession,
    actor: Actor,
    community: CommunityParam = None,
) -> Response[str]:
    chosen = await _member_community(request, db, actor, community)
    if isinstance(chosen, Response):
        return chosen
    roles = await _roles_in(db, actor, chosen.id)
    staff = actor.is_platform_admin or "admin" in roles
    is_organizer = staff or "organizer" in roles
    is_reviewer = staff or "reviewer" in roles
    members: list[Any] = []
    if is_organizer:
        rows, _last = await accounts.list_members(db, actor, chosen.id, LIST_LIMIT_MAX)
        members = [m for m, _r in rows]
    queue = await rewards.review_queue(db, actor, chosen.id) if is_reviewer else []
    mine, _ = await rewards.list_claims(db, actor, chosen.id, mine=True)
    return page(
        request,
        "rewards/claims.html",
        actor,
        community=chosen,
        rules=await rewards.list_rules(db, chosen.id),
        members=members,
        is_organizer=is_organizer,
        is_reviewer=is_reviewer,
        queue=queue,
        mine=mine,
        household=await _household(db, actor, chosen.id),
        status_names=STATUS_NAMES,
    )


async def _board(db: AsyncSession, key: str, month: str | None) -> rewards.Board:
    """The board by community id or code (``/board/xingfuli`` works as well as the UUID)."""
    try:
        cid = uuid.UUID(key)
    except ValueError:
        return await rewards.board_by_code(db, key, _month_of(month))
    return await rewards.board(db, cid, _month_of(month))


async def _render_board(
    request: Request[Any, Any, Any], db: AsyncSession, actor: Actor | None, key: str, month: str | None
) -> Response[str]:
    try:
        board = await _board(db, key, month)
    except DomainError:
        return page(request, "error.html", actor, status=404, title="404", detail="No such notice board.")
    can_object, receipts = False, []
    if actor is not None and await _roles_in(db, actor, board.community_id):
        can_object = True
        receipts = await rewards.my_objections(db, actor, board.community_id)
    return page(
        request,
        "rewards/board.html",
        actor,
        board=board,
        can_object=can_object,
        receipts=receipts,
        status_names=STATUS_NAMES,
    )


@get("/board/{cid:str}", include_in_schema=False)
async def board_page(
    request: Request[Any, Any, Any],
    db: AsyncSession,
    maybe_actor: Actor | None,
    cid: str,
    month: Annotated[str | None, Parameter(max_length=7)] = None,
) -> Response[str]:
    """The public notice board: anyone may read it, no login; names are masked."""
    return await _render_board(request, db, maybe_actor, cid, month)


@get("/b/{code:str}", include_in_schema=False)
async def board_short_page(
    request: Request[Any, Any, Any],
    db: AsyncSession,
    maybe_actor: Actor | None,
    code: str,
    month: Annotated[str | None, Parameter(max_length=7)] = None,
) -> Response[str]:
    """The board at the short address printed on the notice wall's poster (its QR)."""
    return await _render_board(request, db, maybe_actor, code, month)


def board_url(settings: Settings, code: str) -> str:
    return f"{settings.public_url.rstrip('/')}/b/{code}"


@get("/b/{code:str}/poster", include_in_schema=False)
async def board_poster_page(
    request: Request[Any, Any, Any],
    db: AsyncSession,
    maybe_actor: Actor | None,
    settings: Settings,
    code: str,
) -> Response[str]:
    """An A4 sheet for the notice wall: the community's name and the QR of its board's short address."""
    try:
        community = await accounts.get_community_by_code(db, code)
    except DomainError:
        return page(
            request, "error.html", maybe_actor, status=404, title="404", detail="No such notice board."
        )
    url = board_url(settings, community.code)
    text = qr.svg(url).decode()
    return page(
        request,
        "rewards/board_poster.html",
        maybe_actor,
        community=community,
        url=url,
        svg=Markup(text[text.index("<svg") :]),  # our own generated markup, not user input
    )


@get("/households", include_in_schema=False)
async def households_page(
    request: Request[Any, Any, Any],
    db: AsyncSession,
    actor: Actor,
    community: CommunityParam = None,
) -> Response[str]:
    """A member links household members (an admin confirms); admins see the requests to decide."""
    chosen = await _member_community(request, db, actor, community)
    if isinstance(chosen, Response):
        return chosen
    roles = await _roles_in(db, actor, chosen.id)
    is_admin = actor.is_platform_admin or "admin" in roles
    return page(
        request,
        "rewards/households.html",
        actor,
        community=chosen,
        links=await households.list_links(db, actor, chosen.id),
        pending=await households.pending_links(db, actor, chosen.id) if is_admin else [],
        is_admin=is_admin,
        status_names=STATUS_NAMES,
    )


@get("/ratings", include_in_schema=False)
async def ratings_page(
    request: Request[Any, Any, Any],
    db: AsyncSession,
    actor: Actor,
    community: CommunityParam = None,
) -> Response[str]:
    """Rate the activities one attended recently (1-5 stars, once each)."""
    chosen = await _member_community(request, db, actor, community)
    if isinstance(chosen, Response):
        return chosen
    return page(
        request,
        "rewards/ratings.html",
        actor,
        community=chosen,
        to_rate=await ratings.unrated_attended(db, actor, chosen.id),
        within_days=ratings.RATE_WITHIN_DAYS,
    )


@get("/admin/rules", include_in_schema=False)
async def rules_admin_page(
    request: Request[Any, Any, Any],
    db: AsyncSession,
    actor: Actor,
    community: CommunityParam = None,
) -> Response[str]:
    chosen = await admin_community(request, db, actor, community)
    if isinstance(chosen, Response):
        return chosen
    return page(
        request,
        "rewards/rules_admin.html",
        actor,
        community=chosen,
        rules=await rewards.list_rules(db, chosen.id, include_inactive=True),
        settings=await rewards.get_settings(db, chosen.id),
    )


ROUTES: list[Any] = [
    wishes_page,
    claims_page,
    board_page,
    board_short_page,
    board_poster_page,
    households_page,
    ratings_page,
    rules_admin_page,
]
