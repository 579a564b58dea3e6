"""The approvers' page: /admin/proposals lists a community's policy proposals (before -> after) with
approve and reject for another admin, withdraw for the proposer."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, Response, get
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from service.accounts.actor import Actor
from service.config import LIST_LIMIT_DEFAULT
from service.proposals import views
from service.web.guards import admin_community
from service.web.pages import N_
from service.web.render import page

__all__ = ["ADMIN_LINKS", "FIELD_NAMES", "KNOB_NAMES", "ROUTES", "STATUS_NAMES"]

KNOB_NAMES = {
    "activity_points_cap": N_("Activity points cap"),
    "points_policy": N_("Points expiry and award approval"),
    "rewards_settings": N_("Review and micro-wish settings"),
    "reward_rule": N_("Good-conduct rule"),
    "store_settings": N_("Store settings"),
    "product_price": N_("Product price"),
    "self_registration": N_("Self-registration"),
}
FIELD_NAMES = {
    "points_cap": N_("Points cap"),
    "expiry_mode": N_("Expiry"),
    "expiry_value": N_("Expiry value"),
    "award_approval_threshold": N_("Awards need approval above"),
    "two_reviewers_from_points": N_("Two reviewers needed from this many points"),
    "wish_points": N_("Points per fulfilled wish"),
    "wish_auto_award_days": N_("Days after completion before unrated wishes pay out"),
    "wish_assign_timeout_days": N_("Days an assigned wish may stay undone"),
    "wish_points_monthly_cap": N_("Wish points per month"),
    "points": N_("Points"),
    "active": N_("Active"),
    "evidence_required": N_("Evidence required"),
    "publicity_days": N_("Notice days"),
    "limit_per_member_per_year": N_("Yearly limit"),
    "fen_per_point": N_("Value of one point in fen"),
    "voucher_minutes": N_("Voucher valid for minutes"),
    "order_days": N_("Orders wait for pickup, days"),
    "self_registration": N_("Self-registration"),
}
STATUS_NAMES = {
    "pending": N_("Awaiting approval"),
    "approved": N_("Approved"),
    "rejected": N_("Rejected"),
    "withdrawn": N_("Withdrawn"),
    "superseded": N_("Superseded"),
}
ADMIN_LINKS = [("/admin/proposals", N_("Proposals"))]


@get("/admin/proposals", include_in_schema=False)
async def proposals_page(
    request: Request[Any, Any, Any],
    db: AsyncSession,
    actor: Actor,
    community: Annotated[str | None, Parameter(max_length=64)] = None,
) -> Response[str]:
    chosen = await admin_community(request, db, actor, community)
    found = await views.proposals_of(db, actor, chosen.id, None, LIST_LIMIT_DEFAULT)
    names: dict[str, Any] = {
        "knob_names": KNOB_NAMES,
        "field_names": FIELD_NAMES,
        "status_names": STATUS_NAMES,
    }
    return page(request, "admin/proposals.html", actor, community=chosen, found=found, **names)


ROUTES: list[Any] = [proposals_page]
