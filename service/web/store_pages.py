"""Pages of the store domain: the points supermarket, orders, the clerk's counter, offers, vouchers,
the partner shop's page and the clerk's product administration."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Request, Response, get
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from service.accounts import service as accounts
from service.accounts.models import Community
from service.accounts.service import Actor
from service.errors import DomainError
from service.kit.masking import mask_code, mask_name
from service.points import service as points
from service.store import service as store
from service.store.rules import SPEND_CONFIRM_POINTS
from service.web.pages import admin_community
from service.web.render import env, page

__all__ = ["ROUTES"]

Param = Annotated[str | None, Parameter(max_length=64)]
Code = Annotated[str, Parameter(max_length=64)]
ADMIN_LINKS = [("/admin/store", "Store")]
env.globals["spend_confirm_points"] = SPEND_CONFIRM_POINTS


async def _home_panel(db: AsyncSession, actor: Actor, community: Community) -> dict[str, Any]:
    orders, vouchers = await store.open_counts(db, community.id, actor.member_id)
    return {"store_panel_orders": orders, "store_panel_vouchers": vouchers}


HOME_PANELS = [("store/_home_panel.html", _home_panel)]


def _error(request: Request[Any, Any, Any], actor: Actor | None, exc: DomainError) -> Response[str]:
    return page(request, "error.html", actor, status=exc.status, title=str(exc.status), detail=exc)


async def _chosen(
    request: Request[Any, Any, Any], db: AsyncSession, actor: Actor, community: str | None, *roles: str
) -> Community | Response[str]:
    return await admin_community(request, db, actor, community, *roles)


@get("/store", include_in_schema=False)
async def store_page(
    request: Request[Any, Any, Any], db: AsyncSession, actor: Actor, community: Param = None
) -> Response[str]:
    chosen = await _chosen(request, db, actor, community, "member")
    if isinstance(chosen, Response):
        return chosen
    views = await store.list_products(db, actor, chosen.id)
    bal = await points.balance(db, chosen.id, actor.member_id)
    return page(request, "store/store.html", actor, community=chosen, views=views, balance=bal)


@get("/orders", include_in_schema=False)
async def orders_page(
    request: Request[Any, Any, Any], db: AsyncSession, actor: Actor, community: Param = None
) -> Response[str]:
    chosen = await _chosen(request, db, actor, community, "member")
    if isinstance(chosen, Response):
        return chosen
    rows, _ = await store.list_orders(db, actor, chosen.id, mine=True, limit=50)
    return page(request, "store/orders.html", actor, community=chosen, rows=rows)


@get("/store/counter", include_in_schema=False)
async def counter_page(
    request: Request[Any, Any, Any], db: AsyncSession, actor: Actor, community: Param = None
) -> Response[str]:
    chosen = await _chosen(request, db, actor, community, "clerk")
    if isinstance(chosen, Response):
        return chosen
    rows, _ = await store.list_orders(db, actor, chosen.id, mine=False, limit=20)
    return page(
        request,
        "store/counter.html",
        actor,
        community=chosen,
        rows=rows,
        mask_name=mask_name,
        mask_code=mask_code,
    )


@get("/o/{code:str}", include_in_schema=False)
async def order_code_page(
    request: Request[Any, Any, Any], db: AsyncSession, actor: Actor, code: Code
) -> Response[str]:
    try:
        order, can_fulfil = await store.find_order_by_code(db, actor, code)
    except DomainError as exc:
        return _error(request, actor, exc)
    product = await store.get_product(db, order.product_id)
    member = await accounts.get_member(db, order.member_id)
    return page(
        request,
        "store/order_code.html",
        actor,
        order=order,
        product=product,
        member_name=mask_name(member.name),
        can_fulfil=can_fulfil,
    )


@get("/offers", include_in_schema=False)
async def offers_page(
    request: Request[Any, Any, Any], db: AsyncSession, actor: Actor, community: Param = None
) -> Response[str]:
    chosen = await _chosen(request, db, actor, community, "member")
    if isinstance(chosen, Response):
        return chosen
    rows = await store.list_offers(db, actor, chosen.id)
    bal = await points.balance(db, chosen.id, actor.member_id)
    return page(request, "store/offers.html", actor, community=chosen, rows=rows, balance=bal)


@get("/vouchers", include_in_schema=False)
async def vouchers_page(
    request: Request[Any, Any, Any], db: AsyncSession, actor: Actor, community: Param = None
) -> Response[str]:
    chosen = await _chosen(request, db, actor, community, "member")
    if isinstance(chosen, Response):
        return chosen
    rows, _ = await store.list_vouchers(db, actor, chosen.id, limit=50)
    return page(request, "store/vouchers.html", actor, community=chosen, rows=rows)


@get("/v/{code:str}", include_in_schema=False)
async def voucher_code_page(
    request: Request[Any, Any, Any], db: AsyncSession, actor: Actor, code: Code
) -> Response[str]:
    try:
        voucher, can_redeem = await store.find_voucher_by_code(db, actor, code)
    except DomainError as exc:
        return _error(request, actor, exc)
    offer = await store.get_offer(db, voucher.offer_id)
    partner = await accounts.get_partner(db, voucher.partner_id)
    member = await accounts.get_member(db, voucher.member_id)
    return page(
        request,
        "store/voucher_code.html",
        actor,
        voucher=voucher,
        offer=offer,
        partner=partner,
        member_name=mask_name(member.name),
        can_redeem=can_redeem,
    )


@get("/partner", include_in_schema=False)
async def partner_page(
    request: Request[Any, Any, Any], db: AsyncSession, actor: Actor, partner: Param = None
) -> Response[str]:
    mine = await store.staff_partner_ids(db, actor)
    try:
        pid = uuid.UUID(partner) if partner else (mine[0][1] if mine else None)
        if pid is None:
            raise DomainError("forbidden", "You are not staff of a partner shop.", status=403)
        shop = await accounts.get_partner(db, pid)
        await accounts.require_role(db, actor, shop.community_id, "partner", partner_id=shop.id)
    except ValueError:
        return _error(request, actor, DomainError("not_found", "No such partner.", status=404))
    except DomainError as exc:
        return _error(request, actor, exc)
    month = await store.current_month(db, shop.community_id)
    statement = await store.settlement(db, actor, shop.id, month)
    history, _ = await store.list_vouchers(db, actor, shop.community_id, partner_id=shop.id, limit=30)
    offers = await store.list_offers(db, actor, shop.community_id, partner_id=shop.id, current_only=False)
    return page(
        request,
        "store/partner.html",
        actor,
        shop=shop,
        month=month,
        statement=statement,
        history=history,
        offers=offers,
        mask_name=mask_name,
        mask_code=mask_code,
        others=[p for _c, p in mine if p != shop.id],
    )


@get("/admin/store", include_in_schema=False)
async def admin_store_page(
    request: Request[Any, Any, Any], db: AsyncSession, actor: Actor, community: Param = None
) -> Response[str]:
    chosen = await _chosen(request, db, actor, community, "clerk")
    if isinstance(chosen, Response):
        return chosen
    views = await store.list_products(db, actor, chosen.id, include_inactive=True)
    settings = await store.get_settings(db, chosen.id)
    is_admin = True
    try:
        await accounts.require_role(db, actor, chosen.id, "admin")
    except DomainError:
        is_admin = False
    return page(
        request,
        "store/admin.html",
        actor,
        community=chosen,
        views=views,
        settings=settings,
        is_admin=is_admin,
        partners=await accounts.list_partners(db, chosen.id),
    )


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
