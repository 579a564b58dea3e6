"""Pages of good conduct: /claims, /households, /ratings and /admin/rules; the status names the board
and wishes pages share. The board is in ``board_pages``, micro-wishes in ``wishes_pages``."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, Response, get
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from service.accounts.actor import Actor
from service.proposals import views as proposal_views
from service.rewards import views
from service.rewards.ratings_service import RATE_WITHIN_DAYS
from service.web.pages import admin_community
from service.web.render import page

__all__ = ["ADMIN_LINKS", "POINTS_STATUS_NAMES", "ROUTES", "STATUS_NAMES", "WISH_CATEGORY_NAMES"]

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
"""The admin menu entries of this module (``service.web.site`` gathers them)."""


@get("/claims", include_in_schema=False)
async def claims_page(
    request: Request[Any, Any, Any], db: AsyncSession, actor: Actor, community: CommunityParam = None
) -> Response[str]:
    chosen = await admin_community(request, db, actor, community, "member")
    shown = await views.claims_page(db, actor, chosen.id)
    return page(
        request, "rewards/claims.html", actor, community=chosen, status_names=STATUS_NAMES, **vars(shown)
    )


@get("/households", include_in_schema=False)
async def households_page(
    request: Request[Any, Any, Any], db: AsyncSession, actor: Actor, community: CommunityParam = None
) -> Response[str]:
    """A member links household members (an admin confirms); admins see the requests to decide."""
    chosen = await admin_community(request, db, actor, community, "member")
    shown = await views.households_page(db, actor, chosen.id)
    return page(
        request, "rewards/households.html", actor, community=chosen, status_names=STATUS_NAMES, **vars(shown)
    )


@get("/ratings", include_in_schema=False)
async def ratings_page(
    request: Request[Any, Any, Any], db: AsyncSession, actor: Actor, community: CommunityParam = None
) -> Response[str]:
    """Rate the activities one attended recently (1-5 stars, once each)."""
    chosen = await admin_community(request, db, actor, community, "member")
    to_rate = await views.unrated_attended(db, actor, chosen.id)
    return page(
        request,
        "rewards/ratings.html",
        actor,
        community=chosen,
        to_rate=to_rate,
        within_days=RATE_WITHIN_DAYS,
    )


@get("/admin/rules", include_in_schema=False)
async def rules_admin_page(
    request: Request[Any, Any, Any], db: AsyncSession, actor: Actor, community: CommunityParam = None
) -> Response[str]:
    chosen = await admin_community(request, db, actor, community)
    shown = await views.rules_admin_page(db, chosen.id)
    waiting = await proposal_views.pending_knobs(db, chosen.id)
    return page(request, "rewards/rules_admin.html", actor, community=chosen, waiting=waiting, **vars(shown))


ROUTES: list[Any] = [claims_page, households_page, ratings_page, rules_admin_page]
