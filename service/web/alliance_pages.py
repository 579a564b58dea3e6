"""The alliance page (/alliance): a region's officials add units, invite their staff and pause them."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, Response, get
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from service.accounts.actor import Actor
from service.accounts.models import PARTNER_KINDS
from service.regions import units_service
from service.web.pages import N_
from service.web.render import page

__all__ = ["KIND_NAMES", "ROUTES"]

KIND_NAMES = {
    "shop": N_("Shop"),
    "service": N_("Service"),
    "health": N_("Health"),
    "fitness": N_("Fitness"),
    "other": N_("Other"),
}
"""The units' kinds as the pages name them (every one of ``PARTNER_KINDS``)."""
if set(KIND_NAMES) != set(PARTNER_KINDS):  # a kind without a name is a programming error: fail at start
    raise RuntimeError("KIND_NAMES must name every one of PARTNER_KINDS")


@get("/alliance", include_in_schema=False)
async def alliance_page(
    request: Request[Any, Any, Any],
    db: AsyncSession,
    actor: Actor,
    region: Annotated[str | None, Parameter(max_length=64)] = None,
) -> Response[str]:
    desk = await units_service.unit_desk(db, actor, region)
    return page(request, "reports/alliance.html", actor, desk=desk, kinds=KIND_NAMES)


ROUTES: list[Any] = [alliance_page]
