"""Pages of good conduct and micro-wishes: /wishes, /claims, /admin/rules and the public /board/<cid>."""

from __future__ import annotations

import re
import uuid
from typing import Annotated, Any

from litestar import Request, Response, get
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from service.accounts import service as accounts
from service.accounts.models import Community
from service.accounts.service import Actor
from service.config import LIST_LIMIT_MAX
from service.errors import DomainError
from service.points import service as points
from service.rewards import rules as reward_rules
from service.rewards import service as rewards
from service.rewards import wishes_service as wishes
from service.web.pages import ADMIN_LINKS, HOME_PANELS, admin_community
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
    "assigned": "Assigned",
    "done": "Done, awaiting rating",
    "rated": "Rated",
    "closed": "Closed",
    "cancelled": "Cancelled",
    "submitted": "Under review",
    "publicized": "On public notice",
    "rejected": "Rejected",
    "awarded": "Awarded",
}

ADMIN_LINKS.append(("/admin/rules", "Good-conduct rules"))


async def _home_panel(db: AsyncSession, actor: Actor, community: Community) -> dict[str, Any]:
    """Links to wishes and claims on the home page, with how many wishes are open and claims await me."""
    open_wishes, _ = await wishes.list_wishes(db, actor, community.id, scope="open", limit=LIST_LIMIT_MAX)
    to_review = await rewards.review_queue_count(db, actor, community.id)
    mine = sum(1 for v in open_wishes if v.wish.requester_id == actor.member_id)
    return {"rewards_open_wishes": len(open_wishes) - mine, "rewards_to_review": to_review}


HOME_PANELS.append(("rewards/_home_panel.html", _home_panel))


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
    volunteers: list[Any] = []
    stats = None
    if is_organizer:
        rows, _last = await accounts.list_members(db, actor, chosen.id, LIST_LIMIT_MAX)
        volunteers = [m for m, _r in rows]
        stats = (await wishes.wish_stats(db, actor, chosen.id, None))[1]
    balance = await points.balance(db, chosen.id, actor.member_id)
    settings = await rewards.get_settings(db, chosen.id)
    return page(
        request,
        "rewards/wishes.html",
        actor,
        community=chosen,
        mine=mine,
        assigned=[v for v in assigned if v.wish.status in {"assigned", "done", "rated", "closed"}],
        open_wishes=[v for v in open_ if v.wish.requester_id != actor.member_id],
        all_open=open_,
        is_organizer=is_organizer,
        volunteers=volunteers,
        stats=stats,
        balance=balance,
        wish_points=settings.wish_points,
        categories=reward_rules.WISH_CATEGORIES,
        category_names=WISH_CATEGORY_NAMES,
        status_names=STATUS_NAMES,
    )


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
    try:
        board = await rewards.board(db, uuid.UUID(cid), _month_of(month))
    except (ValueError, DomainError):
        return page(
            request, "error.html", maybe_actor, status=404, title="404", detail="No such notice board."
        )
    can_object = False
    if maybe_actor is not None:
        can_object = bool(await _roles_in(db, maybe_actor, board.community_id))
    return page(request, "rewards/board.html", maybe_actor, board=board, can_object=can_object)


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
        admin_links=ADMIN_LINKS,
    )


ROUTES: list[Any] = [wishes_page, claims_page, board_page, rules_admin_page]
