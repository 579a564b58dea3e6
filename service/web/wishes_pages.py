"""The micro-wishes page (/wishes): post, take, do and rate wishes; the organizer's dispatch desk."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, Response, get
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from service.accounts.actor import Actor
from service.accounts.models import Community
from service.web.pages import admin_community
from service.web.render import page
from service.web.rewards_pages import POINTS_STATUS_NAMES, STATUS_NAMES, WISH_CATEGORY_NAMES
from service.wishes import rules, views

__all__ = ["HOME_PANELS", "ROUTES"]

CommunityParam = Annotated[str | None, Parameter(max_length=64)]


async def _home_panel(db: AsyncSession, actor: Actor, community: Community) -> dict[str, Any]:
    """Links to wishes and claims on the home page, with how many wishes are open and claims await me."""
    return vars(await views.home_panel(db, actor, community.id))


HOME_PANELS = [("rewards/_home_panel.html", _home_panel)]
"""The home page cards this module adds (``service.web.pages`` builds the registry from these lists)."""


WISHES_TEXTS: dict[str, Any] = {
    "offer_hours": rules.WISH_OFFER_TIMEOUT_HOURS,
    "categories": rules.WISH_CATEGORIES,
    "category_names": WISH_CATEGORY_NAMES,
    "status_names": STATUS_NAMES,
    "points_status_names": POINTS_STATUS_NAMES,
}
"""What the wishes page shows besides the member's data: names of categories and statuses, limits."""


@get("/wishes", include_in_schema=False)
async def wishes_page(
    request: Request[Any, Any, Any], db: AsyncSession, actor: Actor, community: CommunityParam = None
) -> Response[str]:
    chosen = await admin_community(request, db, actor, community, "member")
    shown = await views.wishes_page(db, actor, chosen.id)
    return page(request, "rewards/wishes.html", actor, community=chosen, **WISHES_TEXTS, **vars(shown))


ROUTES: list[Any] = [wishes_page]
