"""The store's read side: what pages and the API show of products, orders, offers, vouchers and
settlements, each in a fixed number of bounded queries (names of people and shops come from
``service.accounts.views``, one query per list, never a join on accounts' tables)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import NamedTuple

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from service import clock
from service.accounts import service as accounts
from service.accounts import views as people
from service.accounts.actor import Actor
from service.errors import Forbidden, NotFound, raises
from service.kit.months import InvalidMonth, month_bounds, month_of, month_start, require_month
from service.points import views as points
from service.store import rules
from service.store.errors import (
    ImageNotFound,
    InvalidCode,
    NoSuchPartner,
    NotPartnerStaff,
    OfferNotFound,
    OrderNotFound,
    ProductNotFound,
    VoucherNotFound,
)
from service.store.models import Offer, Order, Product, ProductImage, StoreSettings, Voucher
from service.store.rules import OrderStatus, VoucherStatus

__all__ = [
    "COUNTER_ROWS",
    "LIST_MAX",
    "OFFERS_MAX",
    "PARTNER_HISTORY_ROWS",
    "SETTLEMENT_ITEMS_MAX",
    "CodeView",
    "CommunityShare",
    "Counts",
    "OfferBoard",
    "OfferLine",
    "OrderLine",
    "PartnerDesk",
    "PartnerLine",
    "PartnerReport",
    "ProductView",
    "SettlementLine",
    "Shelf",
    "Statement",
    "StoreAdmin",
    "VoucherLine",
    "community_report",
    "counter",
    "expiring_vouchers",
    "find_order_by_code",
    "find_voucher_by_code",
    "get_offer",
    "get_order",
    "get_product",
    "get_settings",
    "get_voucher",
    "list_offers",
    "list_orders",
    "list_products",
    "list_vouchers",
    "month_quantities",
    "offer_board",
    "open_counts",
    "order_for_viewer",
    "orders_by_code",
    "partner_desk",
    "partner_offers",
    "partner_vouchers",
    "product_image",
    "settings_for",
    "settlement",
    "shelf",
    "staff_partner_ids",
    "store_admin",
    "voucher_for_viewer",
    "vouchers_by_code",
]

LIST_MAX = 200
"""Most orders or vouchers one page of a list returns."""
OFFERS_MAX = 500
"""Most offers a community (or a partner) lists at once."""
PRODUCTS_MAX = 1_000
"""Most products the supermarket lists at once."""
SETTLEMENT_ITEMS_MAX = 100_000
"""Most redemptions one monthly statement lists (its totals are summed in SQL over all of them)."""
DEFAULT_TZ = "Asia/Shanghai"
"""The time zone of a region's unit's statements (the communities' own, each by default)."""
_HOLDING_ORDER: tuple[OrderStatus, ...] = ("reserved", "fulfilled")
_HOLDING_VOUCHER: tuple[VoucherStatus, ...] = ("issued", "redeemed")


# ---------------------------------------------------------------- single rows


async def get_settings(db: AsyncSession, community_id: uuid.UUID) -> StoreSettings:
    """The community's store settings (an unsaved default row when none were set)."""
    found = await db.get(StoreSettings, community_id)
    return found or StoreSettings(community_id=community_id)


@raises(accounts.require_role)
async def settings_for(db: AsyncSession, actor: Actor, community_id: uuid.UUID) -> StoreSettings:
    """The store settings as a member of the community reads them."""
    await accounts.require_role(db, actor, community_id, "member")
    return await get_settings(db, community_id)


@raises(ProductNotFound)
async def get_product(db: AsyncSession, product_id: uuid.UUID) -> Product:
    product = await db.get(Product, product_id)
    if product is None:
        raise ProductNotFound()
    return product


@raises(ImageNotFound)
async def product_image(db: AsyncSession, product_id: uuid.UUID, *, thumb: bool) -> tuple[bytes, str]:
    row = await db.get(ProductImage, product_id)
    if row is None:
        raise ImageNotFound()
    if thumb and row.thumb is not None and row.thumb_media_type is not None:
        return row.thumb, row.thumb_media_type
    return row.data, row.media_type


@raises(OrderNotFound)
async def get_order(db: AsyncSession, order_id: uuid.UUID) -> Order:
    order = await db.get(Order, order_id)
    if order is None:
        raise OrderNotFound()
    return order


@raises(OfferNotFound)
async def get_offer(db: AsyncSession, offer_id: uuid.UUID) -> Offer:
    offer = await db.get(Offer, offer_id)
    if offer is None:
        raise OfferNotFound()
    return offer


@raises(VoucherNotFound)
async def get_voucher(db: AsyncSession, voucher_id: uuid.UUID) -> Voucher:
    voucher = await db.get(Voucher, voucher_id)
    if voucher is None:
        raise VoucherNotFound()
    return voucher


# ---------------------------------------------------------------- products


@dataclass(frozen=True)
class ProductView:
    product: Product
    my_month_quantity: int = 0

    @property
    def my_limit_left(self) -> int | None:
        limit = self.product.limit_per_member
        return None if limit is None else max(0, limit - self.my_month_quantity)


@raises(accounts.get_community, accounts.require_role)
async def list_products(
    db: AsyncSession, actor: Actor, community_id: uuid.UUID, *, include_inactive: bool = False
) -> list[ProductView]:
    """Products on the shelf now, with the caller's quantity ordered this month (for their limit)."""
    await accounts.get_community(db, community_id)
    await accounts.require_role(db, actor, community_id, "clerk" if include_inactive else "member")
    stmt = select(Product).where(Product.community_id == community_id)
    if not include_inactive:
        now = clock.now()
        stmt = stmt.where(
            Product.active.is_(True),
            (Product.available_from.is_(None)) | (Product.available_from <= now),
            (Product.available_until.is_(None)) | (Product.available_until > now),
        )
    products = list(await db.scalars(stmt.order_by(Product.category, Product.name).limit(PRODUCTS_MAX)))
    used = await month_quantities(db, community_id, actor.member_id, [p.id for p in products])
    return [ProductView(p, used.get(p.id, 0)) for p in products]


async def month_quantities(
    db: AsyncSession, community_id: uuid.UUID, member_id: uuid.UUID, product_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, int]:
    """Units of each product the member ordered (and did not get back) this calendar month."""
    if not product_ids:
        return {}
    since = month_start(clock.now(), await people.community_timezone(db, community_id))
    rows = await db.execute(
        select(Order.product_id, func.sum(Order.quantity))
        .where(
            Order.member_id == member_id,
            Order.product_id.in_(product_ids),
            Order.status.in_(_HOLDING_ORDER),
            Order.created_at >= since,
        )
        .group_by(Order.product_id)
    )
    return {pid: int(q or 0) for pid, q in rows}


# ---------------------------------------------------------------- orders


class OrderLine(NamedTuple):
    """An order in a list: its product's name and its member's name, masked (王*成)."""

    order: Order
    product_name: str
    member_name: str


@raises(accounts.get_community, accounts.require_role)
async def list_orders(
    db: AsyncSession,
    actor: Actor,
    community_id: uuid.UUID,
    *,
    mine: bool,
    status: OrderStatus | None = None,
    limit: int = 50,
    before: uuid.UUID | None = None,
) -> tuple[list[OrderLine], uuid.UUID | None]:
    """Newest first. ``mine``: the caller's orders; otherwise every order (clerks). Two queries."""
    await accounts.get_community(db, community_id)
    await accounts.require_role(db, actor, community_id, "member" if mine else "clerk")
    limit = max(1, min(limit, LIST_MAX))
    stmt = (
        select(Order, Product.name)
        .join(Product, Product.id == Order.product_id)
        .where(Order.community_id == community_id)
        .order_by(Order.id.desc())
        .limit(limit + 1)
    )
    if mine:
        stmt = stmt.where(Order.member_id == actor.member_id)
    if status:
        stmt = stmt.where(Order.status == status)
    if before is not None:
        stmt = stmt.where(Order.id < before)
    rows = [(o, name) for o, name in await db.execute(stmt)]
    more = len(rows) > limit
    rows = rows[:limit]
    names = await people.member_names(db, {o.member_id for o, _ in rows}, masked=True)
    lines = [OrderLine(o, name, names.get(o.member_id, "")) for o, name in rows]
    return lines, (rows[-1][0].id if more and rows else None)


@raises(InvalidCode)
async def orders_by_code(db: AsyncSession, code: str) -> list[Order]:
    """Orders with this pickup code (a typed code or a scanned ``/o/<code>`` URL), in any community."""
    normal = rules.normalise_code(code)
    if normal is None:
        raise InvalidCode(
            errors=[{"field": "pickup_code", "message": "A pickup code is 8 letters and digits."}]
        )
    return list(await db.scalars(select(Order).where(Order.pickup_code == normal)))


@dataclass(frozen=True)
class CodeView:
    """What the ``/o/<code>`` and ``/v/<code>`` pages show."""

    order: Order | None
    voucher: Voucher | None
    title: str
    partner_name: str
    member_name: str
    """Masked (王*成), as staff read it aloud."""
    can_act: bool
    """The caller may hand the order out or redeem the voucher."""


@raises(orders_by_code, OrderNotFound, get_product)
async def find_order_by_code(db: AsyncSession, actor: Actor, code: str) -> CodeView:
    """For the ``/o/<code>`` page: the order, and whether the caller may fulfil it (a clerk)."""
    for order in await orders_by_code(db, code):
        roles = await people.roles_in(db, actor, order.community_id)
        if roles.any("clerk") or order.member_id == actor.member_id:
            product = await get_product(db, order.product_id)
            names = await people.member_names(db, [order.member_id], masked=True)
            return CodeView(
                order=order,
                voucher=None,
                title=product.name,
                partner_name="",
                member_name=names.get(order.member_id, ""),
                can_act=roles.any("clerk"),
            )
    raise OrderNotFound(detail="No order has this pickup code.")


@raises(get_order, get_product, OrderNotFound)
async def order_for_viewer(
    db: AsyncSession, actor: Actor, order_id: uuid.UUID, *, owner_only: bool = False
) -> tuple[Order, Product]:
    """An order as its member or a clerk of its community sees it (``owner_only``: its member only,
    for what carries the whole pickup code, such as its QR)."""
    order = await get_order(db, order_id)
    if order.member_id != actor.member_id and (
        owner_only or not (await people.roles_in(db, actor, order.community_id)).any("clerk")
    ):
        raise OrderNotFound()
    return order, await get_product(db, order.product_id)


# ---------------------------------------------------------------- offers and vouchers


class OfferLine(NamedTuple):
    """An offer with its partner shop and how many vouchers the caller holds or used for it."""

    offer: Offer
    partner: people.PartnerView
    my_claimed: int


@raises(accounts.get_community, accounts.require_role)
async def list_offers(
    db: AsyncSession,
    actor: Actor,
    community_id: uuid.UUID,
    *,
    partner_id: uuid.UUID | None = None,
    current_only: bool = True,
) -> list[OfferLine]:
    """Offers by partner name then age (open now only, unless ``current_only`` is False): the
    community's own shops' and those of the units of every region above it. Four queries."""
    await accounts.get_community(db, community_id)
    if partner_id is None:
        await accounts.require_role(db, actor, community_id, "member", "partner")
    else:
        await accounts.require_role(db, actor, community_id, "partner", partner_id=partner_id)
    partners = {p.id: p for p in await people.partners_serving(db, community_id)}
    stmt = select(Offer).where(
        Offer.partner_id.in_(list(partners)),
        (Offer.community_id == community_id) | Offer.community_id.is_(None),
    )
    if partner_id is not None:
        stmt = stmt.where(Offer.partner_id == partner_id)
    return await _offer_lines(db, actor, stmt, partners, current_only)


@raises(accounts.get_partner, accounts.require_partner_staff)
async def partner_offers(db: AsyncSession, actor: Actor, partner_id: uuid.UUID) -> list[OfferLine]:
    """Every offer of a shop or unit, open or not, for its staff."""
    partner = await accounts.get_partner(db, partner_id)
    await accounts.require_partner_staff(db, actor, partner)
    view = people.partner_view(partner)
    return await _offer_lines(
        db, actor, select(Offer).where(Offer.partner_id == partner.id), {partner.id: view}, False
    )


async def _offer_lines(
    db: AsyncSession,
    actor: Actor,
    stmt: Select[Offer],
    partners: dict[uuid.UUID, people.PartnerView],
    current_only: bool,
) -> list[OfferLine]:
    if current_only:
        now = clock.now()
        stmt = stmt.where(
            Offer.active.is_(True),
            Offer.partner_id.in_([p.id for p in partners.values() if p.active]),
            (Offer.valid_from.is_(None)) | (Offer.valid_from <= now),
            (Offer.valid_until.is_(None)) | (Offer.valid_until > now),
        )
    offers = list(await db.scalars(stmt.order_by(Offer.created_at).limit(OFFERS_MAX)))
    mine: dict[uuid.UUID, int] = {}
    if offers:
        counted = await db.execute(
            select(Voucher.offer_id, func.count())
            .where(
                Voucher.member_id == actor.member_id,
                Voucher.offer_id.in_([o.id for o in offers]),
                Voucher.status.in_(_HOLDING_VOUCHER),
            )
            .group_by(Voucher.offer_id)
        )
        mine = {oid: int(n) for oid, n in counted}
    lines = [
        OfferLine(o, partners[o.partner_id], mine.get(o.id, 0)) for o in offers if o.partner_id in partners
    ]
    return sorted(lines, key=lambda line: line.partner.name)


class VoucherLine(NamedTuple):
    """A voucher in a list: its offer's title, its partner's name and its member's masked name."""

    voucher: Voucher
    offer_title: str
    partner_name: str
    member_name: str


@raises(accounts.get_community, accounts.require_role)
async def list_vouchers(
    db: AsyncSession,
    actor: Actor,
    community_id: uuid.UUID,
    *,
    partner_id: uuid.UUID | None = None,
    status: VoucherStatus | None = None,
    limit: int = 50,
    before: uuid.UUID | None = None,
) -> tuple[list[VoucherLine], uuid.UUID | None]:
    """Newest first: the caller's vouchers, or (``partner_id``) that partner's, for its staff."""
    await accounts.get_community(db, community_id)
    if partner_id is None:
        await accounts.require_role(db, actor, community_id, "member")
    else:
        await accounts.require_role(db, actor, community_id, "partner", partner_id=partner_id)
    return await _voucher_page(
        db, actor, Voucher.community_id == community_id, partner_id, status, limit, before
    )


@raises(accounts.get_partner, accounts.require_partner_staff)
async def partner_vouchers(
    db: AsyncSession,
    actor: Actor,
    partner_id: uuid.UUID,
    *,
    status: VoucherStatus | None = None,
    limit: int = 50,
    before: uuid.UUID | None = None,
) -> tuple[list[VoucherLine], uuid.UUID | None]:
    """Newest first: a shop's or unit's vouchers, of every community it serves, for its staff."""
    partner = await accounts.get_partner(db, partner_id)
    await accounts.require_partner_staff(db, actor, partner)
    return await _voucher_page(db, actor, Voucher.partner_id == partner.id, partner.id, status, limit, before)


async def _voucher_page(
    db: AsyncSession,
    actor: Actor,
    where: ColumnElement[bool],
    partner_id: uuid.UUID | None,
    status: VoucherStatus | None,
    limit: int,
    before: uuid.UUID | None,
) -> tuple[list[VoucherLine], uuid.UUID | None]:
    limit = max(1, min(limit, LIST_MAX))
    stmt = (
        select(Voucher, Offer.title)
        .join(Offer, Offer.id == Voucher.offer_id)
        .where(where)
        .order_by(Voucher.id.desc())
        .limit(limit + 1)
    )
    stmt = (
        stmt.where(Voucher.member_id == actor.member_id)
        if partner_id is None
        else stmt.where(Voucher.partner_id == partner_id)
    )
    if status:
        stmt = stmt.where(Voucher.status == status)
    if before is not None:
        stmt = stmt.where(Voucher.id < before)
    rows = [(v, title) for v, title in await db.execute(stmt)]
    more = len(rows) > limit
    rows = rows[:limit]
    names = await people.member_names(db, {v.member_id for v, _ in rows}, masked=True)
    shops = await people.partner_names(db, {v.partner_id for v, _ in rows})
    lines = [
        VoucherLine(v, title, shops.get(v.partner_id, ""), names.get(v.member_id, "")) for v, title in rows
    ]
    return lines, (rows[-1][0].id if more and rows else None)


@raises(InvalidCode)
async def vouchers_by_code(db: AsyncSession, code: str) -> list[Voucher]:
    """Vouchers with this code (a typed code or a scanned ``/v/<code>`` URL), in any community."""
    normal = rules.normalise_code(code)
    if normal is None:
        raise InvalidCode(
            detail="A voucher code is 8 letters and digits.",
            errors=[{"field": "code", "message": "A voucher code is 8 letters and digits."}],
        )
    return list(await db.scalars(select(Voucher).where(Voucher.code == normal)))


async def _is_staff(db: AsyncSession, actor: Actor, voucher: Voucher) -> bool:
    try:
        await accounts.require_role(db, actor, voucher.community_id, "partner", partner_id=voucher.partner_id)
    except (Forbidden, NotFound):  # a voucher's community exists (a key)
        return False
    return True


@raises(vouchers_by_code, VoucherNotFound, get_offer)
async def find_voucher_by_code(db: AsyncSession, actor: Actor, code: str) -> CodeView:
    """For the ``/v/<code>`` page: the voucher, and whether the caller may redeem it (its shop's staff)."""
    found = await vouchers_by_code(db, code)
    staff = [v for v in found if await _is_staff(db, actor, v)]
    owned = [v for v in found if v.member_id == actor.member_id]
    for voucher in staff or owned:
        offer = await get_offer(db, voucher.offer_id)
        names = await people.member_names(db, [voucher.member_id], masked=True)
        shops = await people.partner_names(db, [voucher.partner_id])
        return CodeView(
            order=None,
            voucher=voucher,
            title=offer.title,
            partner_name=shops.get(voucher.partner_id, ""),
            member_name=names.get(voucher.member_id, ""),
            can_act=bool(staff),
        )
    raise VoucherNotFound(detail="No voucher of yours or your shop has this code.")


@raises(get_voucher, get_offer, VoucherNotFound)
async def voucher_for_viewer(
    db: AsyncSession, actor: Actor, voucher_id: uuid.UUID, *, owner_only: bool = False
) -> tuple[Voucher, Offer]:
    """A voucher as its member or its partner's staff see it (``owner_only``: its member only)."""
    voucher = await get_voucher(db, voucher_id)
    if voucher.member_id != actor.member_id and (owner_only or not await _is_staff(db, actor, voucher)):
        raise VoucherNotFound()
    return voucher, await get_offer(db, voucher.offer_id)


# ---------------------------------------------------------------- settlement


class SettlementLine(NamedTuple):
    voucher: Voucher
    offer_title: str
    member_name: str
    """Masked (王*成)."""


@dataclass(frozen=True)
class Statement:
    partner_id: uuid.UUID
    partner_name: str
    month: str
    count: int
    points: int
    yuan: str | None
    fen_per_point: int | None
    timezone: str
    items: list[SettlementLine] = field(default_factory=list)
    """In redemption order."""
    communities: list[CommunityShare] = field(default_factory=list)
    """A row per community whose residents redeemed (by name)."""
    region_unit: bool = False
    """A region's unit: it settles with each community apart (its spreadsheets show a row for each)."""


def _redeemed_in(start: datetime, end: datetime) -> tuple[ColumnElement[bool], ...]:
    return (Voucher.status == "redeemed", Voucher.redeemed_at >= start, Voucher.redeemed_at < end)


@dataclass(frozen=True)
class CommunityShare:
    """One community's part of a unit's month: its residents' redemptions, at its own rate."""

    community_id: uuid.UUID
    community_name: str
    count: int
    points: int
    yuan: str | None
    fen_per_point: int | None


@raises(InvalidMonth, accounts.get_partner, accounts.require_partner_staff)
async def settlement(
    db: AsyncSession, actor: Actor, partner_id: uuid.UUID, month: str | None = None
) -> Statement:
    """A partner's redeemed vouchers of one calendar month (community time zone, a region's unit the
    default zone; default: this month), with totals and a row per community summed in SQL."""
    partner = await accounts.get_partner(db, partner_id)
    await accounts.require_partner_staff(db, actor, partner)
    tz = await people.community_timezone(db, partner.community_id) if partner.community_id else DEFAULT_TZ
    month = month or month_of(clock.now(), tz)
    start, end = month_bounds(*require_month(month), tz)
    where = (Voucher.partner_id == partner.id, *_redeemed_in(start, end))
    shares = await _shares(db, where)
    rows = (
        await db.execute(
            select(Voucher, Offer.title)
            .join(Offer, Offer.id == Voucher.offer_id)
            .where(*where)
            .order_by(Voucher.redeemed_at)
            .limit(SETTLEMENT_ITEMS_MAX)
        )
    ).all()
    names = await people.member_names(db, {v.member_id for v, _ in rows}, masked=True)
    rate = (await get_settings(db, partner.community_id)).fen_per_point if partner.community_id else None
    points_total = sum(s.points for s in shares)
    return Statement(
        partner_id=partner.id,
        partner_name=partner.name,
        month=month,
        count=sum(s.count for s in shares),
        points=points_total,
        yuan=rules.yuan(points_total, rate) if partner.community_id else _sum_yuan(shares),
        fen_per_point=rate,
        timezone=tz,
        items=[SettlementLine(v, title, names.get(v.member_id, "")) for v, title in rows],
        communities=shares,
        region_unit=partner.community_id is None,
    )


def _sum_yuan(shares: list[CommunityShare]) -> str | None:
    """The yuan of several communities' shares, each at its own rate (None if a community has none)."""
    if not shares or any(s.fen_per_point is None for s in shares):
        return None
    fen = sum(s.points * (s.fen_per_point or 0) for s in shares)
    return f"{fen // 100}.{fen % 100:02d}"


async def _shares(db: AsyncSession, where: tuple[ColumnElement[bool], ...]) -> list[CommunityShare]:
    """Redemptions per community of the residents (one query, then names and rates)."""
    sums = [
        (cid, int(n), int(p or 0))
        for cid, n, p in await db.execute(
            select(Voucher.community_id, func.count(), func.sum(Voucher.points))
            .where(*where)
            .group_by(Voucher.community_id)
        )
    ]
    if not sums:
        return []
    names = await people.community_names(db, [cid for cid, _n, _p in sums])
    rates = {
        cid: r
        for cid, r in await db.execute(
            select(StoreSettings.community_id, StoreSettings.fen_per_point).where(
                StoreSettings.community_id.in_([cid for cid, _n, _p in sums])
            )
        )
    }
    out = [
        CommunityShare(cid, names.get(cid, ""), n, p, rules.yuan(p, rates.get(cid)), rates.get(cid))
        for cid, n, p in sums
    ]
    return sorted(out, key=lambda s: s.community_name)


@dataclass(frozen=True)
class PartnerLine:
    partner_id: uuid.UUID
    partner_name: str
    count: int
    points: int
    yuan: str | None


@dataclass(frozen=True)
class PartnerReport:
    community_id: uuid.UUID
    month: str
    count: int
    points: int
    yuan: str | None
    fen_per_point: int | None
    timezone: str
    partners: list[PartnerLine]


@raises(InvalidMonth, accounts.get_community, accounts.require_role)
async def community_report(
    db: AsyncSession, actor: Actor, community_id: uuid.UUID, month: str | None = None
) -> PartnerReport:
    """Every partner's redeemed count and points in the month (default: this month), summed in SQL."""
    community = await accounts.get_community(db, community_id)
    await accounts.require_role(db, actor, community_id, "admin")
    month = month or month_of(clock.now(), community.timezone)
    start, end = month_bounds(*require_month(month), community.timezone)
    sums = {
        pid: (int(n), int(p or 0))
        for pid, n, p in await db.execute(
            select(Voucher.partner_id, func.count(), func.sum(Voucher.points))
            .where(Voucher.community_id == community_id, *_redeemed_in(start, end))
            .group_by(Voucher.partner_id)
        )
    }
    rate = (await get_settings(db, community_id)).fen_per_point
    lines = [
        PartnerLine(
            partner_id=p.id,
            partner_name=p.name,
            count=sums.get(p.id, (0, 0))[0],
            points=sums.get(p.id, (0, 0))[1],
            yuan=rules.yuan(sums.get(p.id, (0, 0))[1], rate),
        )
        for p in await people.partners_serving(db, community_id)
    ]
    total = sum(line.points for line in lines)
    return PartnerReport(
        community_id=community_id,
        month=month,
        count=sum(line.count for line in lines),
        points=total,
        yuan=rules.yuan(total, rate),
        fen_per_point=rate,
        timezone=community.timezone,
        partners=lines,
    )


# ---------------------------------------------------------------- the caller's own


async def staff_partner_ids(db: AsyncSession, actor: Actor) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """(community_id, partner_id) of every partner the actor works for."""
    return await people.partner_staff_of(db, actor.member_id)


class Counts(NamedTuple):
    orders: int
    """Reserved orders waiting for pickup."""
    vouchers: int
    """Issued vouchers not used yet."""


async def open_counts(db: AsyncSession, community_id: uuid.UUID, member_id: uuid.UUID) -> Counts:
    """The member's reserved orders and issued vouchers in the community (home page), one query."""
    orders = (
        select(func.count())
        .where(Order.community_id == community_id, Order.member_id == member_id, Order.status == "reserved")
        .scalar_subquery()
    )
    vouchers = (
        select(func.count())
        .where(
            Voucher.community_id == community_id, Voucher.member_id == member_id, Voucher.status == "issued"
        )
        .scalar_subquery()
    )
    found, issued = (await db.execute(select(orders, vouchers))).one()
    return Counts(int(found or 0), int(issued or 0))


EXPIRING_MAX = 5
"""Vouchers the home page's reminder names at most."""


class Expiring(NamedTuple):
    title: str
    expires_at: datetime


async def expiring_vouchers(
    db: AsyncSession, community_id: uuid.UUID, member_id: uuid.UUID
) -> list[Expiring]:
    """The member's unused vouchers of the community that expire within ``EXPIRY_REMINDER_HOURS``,
    soonest first (the home page reminds of them); one query."""
    soon = clock.now() + timedelta(hours=rules.EXPIRY_REMINDER_HOURS)
    rows = await db.execute(
        select(Offer.title, Voucher.expires_at)
        .join(Offer, Offer.id == Voucher.offer_id)
        .where(
            Voucher.community_id == community_id,
            Voucher.member_id == member_id,
            Voucher.status == "issued",
            Voucher.expires_at > clock.now(),
            Voucher.expires_at <= soon,
        )
        .order_by(Voucher.expires_at)
        .limit(EXPIRING_MAX)
    )
    return [Expiring(title, at) for title, at in rows]


# ---------------------------------------------------------------- pages


@dataclass(frozen=True)
class Shelf:
    """The supermarket page: products on the shelf and the caller's available points."""

    products: list[ProductView]
    balance: points.Balance


@raises(list_products)
async def shelf(db: AsyncSession, actor: Actor, community_id: uuid.UUID) -> Shelf:
    products = await list_products(db, actor, community_id)
    return Shelf(products=products, balance=await points.balance(db, community_id, actor.member_id))


@dataclass(frozen=True)
class OfferBoard:
    """The offers page: partner offers open now and the caller's available points."""

    offers: list[OfferLine]
    balance: points.Balance


@raises(list_offers)
async def offer_board(db: AsyncSession, actor: Actor, community_id: uuid.UUID) -> OfferBoard:
    offers = await list_offers(db, actor, community_id)
    return OfferBoard(offers=offers, balance=await points.balance(db, community_id, actor.member_id))


PARTNER_HISTORY_ROWS = 30
"""Vouchers on the partner page's history."""


@dataclass(frozen=True)
class PartnerDesk:
    """The partner shop's page: this month's statement, recent vouchers, its offers, the other shops."""

    shop: people.PartnerView
    statement: Statement
    history: list[VoucherLine]
    offers: list[OfferLine]
    others: list[uuid.UUID]


@raises(NotPartnerStaff, NoSuchPartner, settlement, accounts.get_partner, partner_vouchers, partner_offers)
async def partner_desk(db: AsyncSession, actor: Actor, partner: str | None) -> PartnerDesk:
    """The shop named by ``partner`` (default: the caller's first shop), as its staff see it."""
    mine = await staff_partner_ids(db, actor)
    try:
        pid = uuid.UUID(partner) if partner else (mine[0][1] if mine else None)
    except ValueError as exc:
        raise NoSuchPartner() from exc
    if pid is None:
        raise NotPartnerStaff()
    statement = await settlement(db, actor, pid)
    shop = await accounts.get_partner(db, pid)
    history, _ = await partner_vouchers(db, actor, pid, limit=PARTNER_HISTORY_ROWS)
    return PartnerDesk(
        shop=people.partner_view(shop),
        statement=statement,
        history=history,
        offers=await partner_offers(db, actor, pid),
        others=list(dict.fromkeys(p for _c, p in mine if p != pid)),
    )


@dataclass(frozen=True)
class StoreAdmin:
    """The clerk's product administration page."""

    products: list[ProductView]
    settings: StoreSettings
    is_admin: bool
    partners: list[people.PartnerView]


@raises(list_products)
async def store_admin(db: AsyncSession, actor: Actor, community_id: uuid.UUID) -> StoreAdmin:
    products = await list_products(db, actor, community_id, include_inactive=True)
    return StoreAdmin(
        products=products,
        settings=await get_settings(db, community_id),
        is_admin=(await people.roles_in(db, actor, community_id)).any("admin"),
        partners=await people.partners_in(db, community_id),
    )


COUNTER_ROWS = 20
"""Orders the clerk's counter page lists."""


@raises(list_orders)
async def counter(db: AsyncSession, actor: Actor, community_id: uuid.UUID) -> list[OrderLine]:
    """The latest orders of the community, for the clerk's counter."""
    rows, _ = await list_orders(db, actor, community_id, mine=False, limit=COUNTER_ROWS)
    return rows
