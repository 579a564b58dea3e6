"""Pages of the store domain: the points supermarket, orders, the clerk's counter, offers, vouchers,
the partner shop's page and the clerk's product administration.

Each handler parses, calls one function of ``service.store.views`` and renders; a refusal (a
``DomainError``) renders ``error.html`` through the page router's handler.
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, Response, get
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from service.accounts.actor import Actor
from service.accounts.models import Community
from service.kit.masking import mask_code
from service.proposals import views as proposal_views
from service.store import views
from service.store.rules import SPEND_CONFIRM_POINTS, VOUCHER_MINUTES_DEFAULT
from service.web.pages import admin_community
from service.web.render import env, page

__all__ = ["ROUTES"]

Param = Annotated[str | None, Parameter(max_length=64)]
Code = Annotated[str, Parameter(max_length=64)]
ADMIN_LINKS = [("/admin/store", "Store")]
env.globals["spend_confirm_points"] = SPEND_CONFIRM_POINTS


def validity(minutes: int | None) -> tuple[int, str]:
    """An offer's voucher validity as (n, "days" | "hours" | "minutes") for the offers page."""
    m = minutes or VOUCHER_MINUTES_DEFAULT
    day, hour = 24 * 60, 60
    return (m // day, "days") if m % day == 0 else (m // hour, "hours") if m % hour == 0 else (m, "minutes")


env.globals["validity"] = validity


async def _home_panel(db: AsyncSession, actor: Actor, community: Community) -> dict[str, Any]:
    counts = await views.open_counts(db, community.id, actor.member_id)
    return {
        "store_panel_orders": counts.orders,
        "store_panel_vouchers": counts.vouchers,
        "store_panel_expiring": await views.expiring_vouchers(db, community.id, actor.member_id),
    }


HOME_PANELS = [("store/_home_panel.html", _home_panel)]


@get("/store", include_in_schema=False)
async def store_page(
    request: Request[Any, Any, Any], db: AsyncSession, actor: Actor, community: Param = None
) -> Response[str]:
    chosen = await admin_community(request, db, actor, community, "member")
    shelf = await views.shelf(db, actor, chosen.id)
    return page(
        request, "store/store.html", actor, community=chosen, views=shelf.products, balance=shelf.balance
    )


@get("/orders", include_in_schema=False)
async def orders_page(
    request: Request[Any, Any, Any], db: AsyncSession, actor: Actor, community: Param = None
) -> Response[str]:
    chosen = await admin_community(request, db, actor, community, "member")
    rows, _ = await views.list_orders(db, actor, chosen.id, mine=True, limit=50)
    return page(request, "store/orders.html", actor, community=chosen, rows=rows)


@get("/store/counter", include_in_schema=False)
async def counter_page(
    request: Request[Any, Any, Any], db: AsyncSession, actor: Actor, community: Param = None
) -> Response[str]:
    chosen = await admin_community(request, db, actor, community, "clerk")
    rows = await views.counter(db, actor, chosen.id)
    return page(request, "store/counter.html", actor, community=chosen, rows=rows, mask_code=mask_code)


@get("/o/{code:str}", include_in_schema=False)
async def order_code_page(
    request: Request[Any, Any, Any], db: AsyncSession, actor: Actor, code: Code
) -> Response[str]:
    view = await views.find_order_by_code(db, actor, code)
    return page(request, "store/order_code.html", actor, view=view, order=view.order)


@get("/offers", include_in_schema=False)
async def offers_page(
    request: Request[Any, Any, Any], db: AsyncSession, actor: Actor, community: Param = None
) -> Response[str]:
    chosen = await admin_community(request, db, actor, community, "member")
    board = await views.offer_board(db, actor, chosen.id)
    return page(
        request, "store/offers.html", actor, community=chosen, rows=board.offers, balance=board.balance
    )


@get("/vouchers", include_in_schema=False)
async def vouchers_page(
    request: Request[Any, Any, Any], db: AsyncSession, actor: Actor, community: Param = None
) -> Response[str]:
    chosen = await admin_community(request, db, actor, community, "member")
    rows, _ = await views.list_vouchers(db, actor, chosen.id, limit=50)
    return page(request, "store/vouchers.html", actor, community=chosen, rows=rows)


@get("/v/{code:str}", include_in_schema=False)
async def voucher_code_page(
    request: Request[Any, Any, Any], db: AsyncSession, actor: Actor, code: Code
) -> Response[str]:
    view = await views.find_voucher_by_code(db, actor, code)
    return page(request, "store/voucher_code.html", actor, view=view, voucher=view.voucher)


@get("/partner", include_in_schema=False)
async def partner_page(
    request: Request[Any, Any, Any], db: AsyncSession, actor: Actor, partner: Param = None
) -> Response[str]:
    desk = await views.partner_desk(db, actor, partner)
    return page(
        request,
        "store/partner.html",
        actor,
        desk=desk,
        shop=desk.shop,
        statement=desk.statement,
        mask_code=mask_code,
    )


@get("/admin/store", include_in_schema=False)
async def admin_store_page(
    request: Request[Any, Any, Any], db: AsyncSession, actor: Actor, community: Param = None
) -> Response[str]:
    chosen = await admin_community(request, db, actor, community, "clerk")
    admin = await views.store_admin(db, actor, chosen.id)
    waiting = await proposal_views.pending_knobs(db, chosen.id)
    return page(request, "store/admin.html", actor, community=chosen, admin=admin, waiting=waiting)


ROUTES: list[Any] = [
    store_page,
    orders_page,
    counter_page,
    order_code_page,
    offers_page,
    vouchers_page,
    voucher_code_page,
    partner_page,
    admin_store_page,
]
