"""Business transactions of the store domain. Every function takes an open session and never commits.

Money-like writes take their row locks with conditional UPDATEs (``... WHERE stock >= :q``,
``... WHERE status = 'reserved'``): on PostgreSQL a second writer waits for the first and then finds
the condition false; on SQLite every transaction already holds the write lock (BEGIN IMMEDIATE).

Lock order (the application's, documented in ``service/retry.py``): product, then offer, then the
order or voucher, then the ledger (hold, then accounts). Ordering and claiming follow it naturally;
cancelling and expiring lock the product or offer *first* (``_lock_rows``), although they change it
last, so an order racing a cancel of the same member queues instead of deadlocking.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from service import clock
from service.accounts import service as accounts
from service.accounts.models import Community, Member, Membership, Partner
from service.accounts.service import Actor
from service.config import NAME_MAX, POINTS_PER_AWARD_MAX, TEXT_MAX, TITLE_MAX
from service.errors import Conflict, DomainError, Forbidden, InvalidInput, NotFound
from service.ids import new_id
from service.kit.masking import mask_name
from service.points import service as points
from service.store import rules
from service.store.models import Offer, Order, Product, ProductImage, StoreSettings, Voucher

__all__ = [
    "HOLD_GRACE",
    "STOCK_MAX",
    "SWEEP_BATCH",
    "ProductView",
    "Statement",
    "cancel_order",
    "cancel_voucher",
    "claim_voucher",
    "community_report",
    "create_offer",
    "create_product",
    "current_month",
    "expire_due",
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
    "open_counts",
    "order_for_viewer",
    "pickup_order",
    "product_image",
    "redeem_voucher",
    "reserve_order",
    "set_product_image",
    "settlement",
    "staff_partner_ids",
    "sweep",
    "update_product",
    "update_settings",
    "voucher_for_viewer",
]

STOCK_MAX = 1_000_000
HOLD_GRACE = timedelta(days=1)
"""The ledger hold outlives its order or voucher a little, so this domain's sweep releases it first."""
SWEEP_BATCH = 200
"""Orders or vouchers expired per transaction by the sweep job."""
CODE_ATTEMPTS = 8


# ---------------------------------------------------------------- small helpers


def _invalid(code: str, field_name: str, detail: str, **params: object) -> InvalidInput:
    """``detail`` is a msgid; ``%(field)s`` in it names the field (translated on pages)."""
    params = {"field": field_name, **params}
    return InvalidInput(code, detail, params=params, errors=[{"field": field_name, "message": detail}])


def _text(value: str | None, field_name: str, limit: int, *, required: bool = False) -> str:
    text = (value or "").strip()
    if required and not text:
        raise _invalid("invalid_" + field_name, field_name, "%(field)s is required.")
    if len(text) > limit:
        raise _invalid("invalid_" + field_name, field_name, "At most %(max)s characters.", max=limit)
    return text


def _bounded(value: int | None, field_name: str, low: int, high: int) -> int | None:
    if value is not None and not low <= value <= high:
        raise _invalid(
            "invalid_" + field_name, field_name, "Must be %(low)s to %(high)s.", low=low, high=high
        )
    return value


def _window(start: datetime | None, end: datetime | None, field_name: str) -> None:
    if start is not None and end is not None and end <= start:
        raise _invalid("invalid_window", field_name, "The end must come after the start.")


async def _community_tz(db: AsyncSession, community_id: uuid.UUID) -> str:
    return (await accounts.get_community(db, community_id)).timezone


async def get_settings(db: AsyncSession, community_id: uuid.UUID) -> StoreSettings:
    """The community's store settings (an unsaved default row when none were set)."""
    found = await db.get(StoreSettings, community_id)
    return found or StoreSettings(community_id=community_id)


async def update_settings(
    db: AsyncSession,
    actor: Actor,
    community_id: uuid.UUID,
    *,
    fen_per_point: int | None,
    voucher_minutes: int | None,
    order_days: int | None,
) -> StoreSettings:
    await accounts.get_community(db, community_id)
    await accounts.require_role(db, actor, community_id, "admin")
    _bounded(fen_per_point, "fen_per_point", 0, 100_000)
    _bounded(voucher_minutes, "voucher_minutes", 1, rules.VOUCHER_MINUTES_MAX)
    _bounded(order_days, "order_days", 1, rules.ORDER_DAYS_MAX)
    row = await db.get(StoreSettings, community_id)
    if row is None:
        row = StoreSettings(community_id=community_id)
        db.add(row)
    row.fen_per_point, row.voucher_minutes, row.order_days = fen_per_point, voucher_minutes, order_days
    row.updated_at = clock.now()
    await db.flush()
    return row


# ---------------------------------------------------------------- products


@dataclass(frozen=True)
class ProductView:
    product: Product
    my_month_quantity: int = 0

    @property
    def my_limit_left(self) -> int | None:
        limit = self.product.limit_per_member
        return None if limit is None else max(0, limit - self.my_month_quantity)


async def get_product(db: AsyncSession, product_id: uuid.UUID) -> Product:
    product = await db.get(Product, product_id)
    if product is None:
        raise NotFound("product_not_found", "No such product.")
    return product


async def create_product(
    db: AsyncSession,
    actor: Actor,
    community_id: uuid.UUID,
    *,
    name: str,
    points_price: int,
    stock: int,
    description: str | None = None,
    category: str | None = None,
    limit_per_member: int | None = None,
    available_from: datetime | None = None,
    available_until: datetime | None = None,
) -> Product:
    await accounts.get_community(db, community_id)
    await accounts.require_role(db, actor, community_id, "clerk")
    _bounded(points_price, "points", 1, POINTS_PER_AWARD_MAX)
    _bounded(stock, "stock", 0, STOCK_MAX)
    _bounded(limit_per_member, "limit_per_member", 1, STOCK_MAX)
    _window(available_from, available_until, "available_until")
    product = Product(
        community_id=community_id,
        name=_text(name, "name", TITLE_MAX, required=True),
        description=_text(description, "description", TEXT_MAX),
        category=_text(category, "category", NAME_MAX),
        points=points_price,
        stock=stock,
        limit_per_member=limit_per_member,
        available_from=available_from,
        available_until=available_until,
    )
    db.add(product)
    await db.flush()
    return product


async def update_product(
    db: AsyncSession, actor: Actor, product_id: uuid.UUID, changes: dict[str, Any], stock_delta: int = 0
) -> Product:
    """Change a product's fields; ``stock_delta`` adds to (or takes from) the stock without a lost update."""
    product = await get_product(db, product_id)
    await accounts.require_role(db, actor, product.community_id, "clerk")
    if "name" in changes:
        product.name = _text(changes["name"], "name", TITLE_MAX, required=True)
    for key, limit in (("description", TEXT_MAX), ("category", NAME_MAX)):
        if key in changes:
            setattr(product, key, _text(changes[key], key, limit))
    if "points" in changes:
        product.points = int(_bounded(changes["points"], "points", 1, POINTS_PER_AWARD_MAX) or 1)
    if "limit_per_member" in changes:
        product.limit_per_member = _bounded(changes["limit_per_member"], "limit_per_member", 1, STOCK_MAX)
    for key in ("active", "available_from", "available_until"):
        if key in changes:
            setattr(product, key, changes[key])
    _window(product.available_from, product.available_until, "available_until")
    await db.flush()
    if stock_delta:
        _bounded(stock_delta, "stock_delta", -STOCK_MAX, STOCK_MAX)
        done = await db.execute(
            update(Product)
            .where(
                Product.id == product.id,
                Product.stock + stock_delta >= 0,
                Product.stock + stock_delta <= STOCK_MAX,
            )
            .values(stock=Product.stock + stock_delta)
            .returning(Product.id)
            .execution_options(synchronize_session=False)
        )
        if done.scalar_one_or_none() is None:
            raise Conflict("stock_not_enough", "The stock cannot go below zero.")
    await db.refresh(product)
    return product


async def list_products(
    db: AsyncSession, actor: Actor, community_id: uuid.UUID, *, include_inactive: bool = False
) -> list[ProductView]:
    """Products on the shelf now, with the caller's quantity ordered this month (for their limit)."""
    await accounts.get_community(db, community_id)
    await accounts.require_role(db, actor, community_id, "member")
    stmt = select(Product).where(Product.community_id == community_id)
    if include_inactive:
        await accounts.require_role(db, actor, community_id, "clerk")
    else:
        now = clock.now()
        stmt = stmt.where(
            Product.active.is_(True),
            (Product.available_from.is_(None)) | (Product.available_from <= now),
            (Product.available_until.is_(None)) | (Product.available_until > now),
        )
    products = list(await db.scalars(stmt.order_by(Product.category, Product.name)))
    used = await _month_quantities(db, community_id, actor.member_id, [p.id for p in products])
    return [ProductView(p, used.get(p.id, 0)) for p in products]


async def _month_quantities(
    db: AsyncSession, community_id: uuid.UUID, member_id: uuid.UUID, product_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, int]:
    if not product_ids:
        return {}
    since = rules.month_start(clock.now(), await _community_tz(db, community_id))
    rows = await db.execute(
        select(Order.product_id, func.sum(Order.quantity))
        .where(
            Order.member_id == member_id,
            Order.product_id.in_(product_ids),
            Order.status.in_(("reserved", "fulfilled")),
            Order.created_at >= since,
        )
        .group_by(Order.product_id)
    )
    return {pid: int(q or 0) for pid, q in rows}


async def set_product_image(db: AsyncSession, actor: Actor, product_id: uuid.UUID, raw: bytes) -> Product:
    product = await get_product(db, product_id)
    await accounts.require_role(db, actor, product.community_id, "clerk")
    # Decoding and re-encoding take CPU time: keep them off the event loop.
    image = await asyncio.to_thread(rules.process_image, raw)
    row = await db.get(ProductImage, product.id)
    if row is None:
        row = ProductImage(product_id=product.id, community_id=product.community_id)
        db.add(row)
    row.data, row.media_type = image.data, image.media_type
    row.thumb, row.thumb_media_type = image.thumb, image.thumb_media_type
    row.width, row.height, row.updated_at = image.width, image.height, clock.now()
    product.image_version += 1
    await db.flush()
    return product


async def product_image(db: AsyncSession, product_id: uuid.UUID, *, thumb: bool) -> tuple[bytes, str]:
    row = await db.get(ProductImage, product_id)
    if row is None:
        raise NotFound("image_not_found", "This product has no image.")
    return (row.thumb, row.thumb_media_type) if thumb else (row.data, row.media_type)


# ---------------------------------------------------------------- orders


async def get_order(db: AsyncSession, order_id: uuid.UUID) -> Order:
    order = await db.get(Order, order_id)
    if order is None:
        raise NotFound("order_not_found", "No such order.")
    return order


async def _unique_code(db: AsyncSession, column: Any, community_column: Any, community_id: uuid.UUID) -> str:
    # 31^8 codes make a clash rare; the UNIQUE constraint is the backstop.
    for _ in range(CODE_ATTEMPTS):
        code = rules.new_code()
        taken = await db.scalar(select(column).where(community_column == community_id, column == code))
        if taken is None:
            return code
    raise Conflict("code_space_exhausted", "Could not make a unique code; try again.")


async def reserve_order(db: AsyncSession, actor: Actor, product_id: uuid.UUID, quantity: int) -> Order:
    """Take the stock, check the monthly limit and hold the points, all in the caller's transaction.

    Errors: product_not_found, product_unavailable, invalid_quantity, out_of_stock,
    limit_reached, insufficient_points.
    """
    from service.store import fastpath  # issue 13: kept out of the imports block (parallel edits)

    fast = await fastpath.reserve(db, actor, product_id, quantity)  # PostgreSQL: the success in one call
    if fast is not None:
        return fast
    product = await get_product(db, product_id)
    cid = product.community_id
    await accounts.require_role(db, actor, cid, "member")
    if not 1 <= quantity <= rules.ORDER_QUANTITY_MAX:
        raise _invalid("invalid_quantity", "quantity", "Order 1 to %(max)s.", max=rules.ORDER_QUANTITY_MAX)
    now = clock.now()
    if (
        not product.active
        or (product.available_from is not None and product.available_from > now)
        or (product.available_until is not None and product.available_until <= now)
    ):
        raise Conflict("product_unavailable", "This product is not on offer now.")
    # The conditional UPDATE takes the product's row lock until commit: concurrent orders for the
    # same product queue here, so the stock never goes negative and the monthly count below is exact.
    taken = await db.execute(
        update(Product)
        .where(Product.id == product.id, Product.active.is_(True), Product.stock >= quantity)
        .values(stock=Product.stock - quantity)
        .returning(Product.points, Product.limit_per_member)
        .execution_options(synchronize_session=False)
    )
    row = taken.one_or_none()
    if row is None:
        raise Conflict("out_of_stock", "Not enough left in stock.")
    price, limit = int(row[0]), row[1]
    if limit is not None:
        used = (await _month_quantities(db, cid, actor.member_id, [product.id])).get(product.id, 0)
        if used + quantity > limit:
            raise Conflict(
                "limit_reached",
                "You may order at most %(limit)s of this per month (%(used)s already).",
                params={"limit": limit, "used": used},
            )
    settings = await get_settings(db, cid)
    order_id = new_id()
    expires_at = now + timedelta(days=settings.order_days or rules.ORDER_DAYS_DEFAULT)
    total = price * quantity
    held = await points.hold(
        db,
        community_id=cid,
        member_id=actor.member_id,
        points=total,
        payee="store",
        expires_at=expires_at + HOLD_GRACE,
        code="order",
        memo=f"{product.name} x{quantity}"[:200],
        ref_type="order",
        ref_id=str(order_id),
        actor_id=actor.member_id,
        idempotency_key=f"order:{order_id}",
    )
    order = Order(
        id=order_id,
        community_id=cid,
        product_id=product.id,
        member_id=actor.member_id,
        quantity=quantity,
        points=total,
        status="reserved",
        pickup_code=await _unique_code(db, Order.pickup_code, Order.community_id, cid),
        hold_id=held.hold_id,
        expires_at=expires_at,
        created_at=now,
    )
    db.add(order)
    await db.flush()
    await db.refresh(product)
    return order


async def _orders_by_code(db: AsyncSession, code: str) -> list[Order]:
    normal = rules.normalise_code(code)
    if normal is None:
        raise _invalid("invalid_code", "pickup_code", "A pickup code is 8 letters and digits.")
    return list(await db.scalars(select(Order).where(Order.pickup_code == normal)))


async def _clerk_order(db: AsyncSession, actor: Actor, code: str) -> Order:
    """The order with ``code`` in a community where the actor is a clerk."""
    found = await _orders_by_code(db, code)
    if not found:
        raise NotFound("order_not_found", "No order has this pickup code.")
    for order in found:
        try:
            await accounts.require_role(db, actor, order.community_id, "clerk")
            return order
        except Forbidden:
            continue
    raise Forbidden("forbidden", "Only this community's store clerks can hand out orders.")


async def find_order_by_code(db: AsyncSession, actor: Actor, code: str) -> tuple[Order, bool]:
    """For the ``/o/<code>`` page: the order, and whether the caller may fulfil it (a clerk)."""
    found = await _orders_by_code(db, code)
    for order in found:
        try:
            await accounts.require_role(db, actor, order.community_id, "clerk")
            return order, True
        except Forbidden:
            if order.member_id == actor.member_id:
                return order, False
    raise NotFound("order_not_found", "No order has this pickup code.")


async def _close_order(db: AsyncSession, order: Order, status: str, actor_id: uuid.UUID | None) -> bool:
    """Move a reserved order to ``status`` exactly once; False if another transaction got there first."""
    done = await db.execute(
        update(Order)
        .where(Order.id == order.id, Order.status == "reserved")
        .values(status=status, closed_at=clock.now(), closed_by=actor_id)
        .returning(Order.id)
        .execution_options(synchronize_session=False)
    )
    changed = done.scalar_one_or_none() is not None
    await db.refresh(order)
    return changed


def _order_closed(order: Order) -> Conflict:
    if order.status == "fulfilled":
        return Conflict("order_already_fulfilled", "This order was already handed out.")
    if order.status == "expired":
        return Conflict("order_expired", "This order expired; its points were returned.")
    return Conflict("order_cancelled", "This order was cancelled.")


async def pickup_order(db: AsyncSession, actor: Actor, code: str) -> Order:
    """A clerk hands out an order: the hold posts to the store account. Never twice.

    Errors: invalid_code, order_not_found, forbidden, order_already_fulfilled, order_cancelled,
    order_expired.
    """
    order = await _clerk_order(db, actor, code)
    if order.status == "reserved" and order.expires_at <= clock.now():
        raise Conflict("order_expired", "This order expired; its points will be returned.")
    if not await _close_order(db, order, "fulfilled", actor.member_id):
        raise _order_closed(order)
    await points.post_hold(db, order.hold_id, actor_id=actor.member_id)
    return order


async def _lock_rows(db: AsyncSession, model: Any, ids: Sequence[uuid.UUID]) -> None:
    """Lock products or offers (id order) before their orders or vouchers: the lock order above."""
    if ids:
        await db.execute(
            select(model.id)
            .where(model.id.in_(sorted(set(ids))))
            .order_by(model.id)
            .with_for_update(key_share=True)
        )


async def _release_order(db: AsyncSession, order: Order, reason: str, actor_id: uuid.UUID | None) -> None:
    """Void the hold and put the stock back (the order is already closed in this transaction)."""
    await _void(db, order.hold_id, actor_id, reason)
    await db.execute(
        update(Product)
        .where(Product.id == order.product_id)
        .values(stock=Product.stock + order.quantity)
        .execution_options(synchronize_session=False)
    )


async def _void(db: AsyncSession, hold_id: uuid.UUID, actor_id: uuid.UUID | None, reason: str) -> None:
    try:
        async with db.begin_nested():
            await points.void_hold(db, hold_id, actor_id=actor_id, reason=reason)
    except DomainError as exc:
        # The ledger may already have released an overdue hold itself; the points are back either way.
        if exc.code != "hold_not_pending":
            raise


async def cancel_order(db: AsyncSession, actor: Actor, order_id: uuid.UUID) -> Order:
    """The member (before pickup) or a clerk cancels: points and stock come back.

    Errors: order_not_found, forbidden, order_already_fulfilled, order_cancelled, order_expired.
    """
    order = await get_order(db, order_id)
    if order.member_id != actor.member_id:
        await accounts.require_role(db, actor, order.community_id, "clerk")
    await _lock_rows(db, Product, [order.product_id])  # lock order: product before order and ledger
    if not await _close_order(db, order, "cancelled", actor.member_id):
        raise _order_closed(order)
    await _release_order(db, order, "order cancelled", actor.member_id)
    return order


async def list_orders(
    db: AsyncSession,
    actor: Actor,
    community_id: uuid.UUID,
    *,
    mine: bool,
    status: str | None = None,
    limit: int = 50,
    before: uuid.UUID | None = None,
) -> tuple[list[tuple[Order, Product, Member]], uuid.UUID | None]:
    """Newest first. ``mine``: the caller's orders; otherwise every order (clerks)."""
    await accounts.get_community(db, community_id)
    await accounts.require_role(db, actor, community_id, "member" if mine else "clerk")
    stmt = (
        select(Order, Product, Member)
        .join(Product, Product.id == Order.product_id)
        .join(Member, Member.id == Order.member_id)
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
    rows = [(o, p, m) for o, p, m in await db.execute(stmt)]
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (rows[-1][0].id if more and rows else None)


# ---------------------------------------------------------------- offers and vouchers


async def get_offer(db: AsyncSession, offer_id: uuid.UUID) -> Offer:
    offer = await db.get(Offer, offer_id)
    if offer is None:
        raise NotFound("offer_not_found", "No such offer.")
    return offer


async def create_offer(
    db: AsyncSession,
    actor: Actor,
    partner_id: uuid.UUID,
    *,
    title: str,
    points_price: int,
    description: str | None = None,
    valid_from: datetime | None = None,
    valid_until: datetime | None = None,
    quota_total: int | None = None,
    limit_per_member: int | None = None,
    voucher_minutes: int | None = None,
) -> Offer:
    partner = await accounts.get_partner(db, partner_id)
    await accounts.require_role(db, actor, partner.community_id, "partner", partner_id=partner.id)
    _bounded(points_price, "points", 1, POINTS_PER_AWARD_MAX)
    _bounded(quota_total, "quota_total", 1, STOCK_MAX)
    _bounded(limit_per_member, "limit_per_member", 1, STOCK_MAX)
    _bounded(voucher_minutes, "voucher_minutes", 1, rules.VOUCHER_MINUTES_MAX)
    _window(valid_from, valid_until, "valid_until")
    offer = Offer(
        community_id=partner.community_id,
        partner_id=partner.id,
        title=_text(title, "title", TITLE_MAX, required=True),
        description=_text(description, "description", TEXT_MAX),
        points=points_price,
        valid_from=valid_from,
        valid_until=valid_until,
        quota_total=quota_total,
        limit_per_member=limit_per_member,
        voucher_minutes=voucher_minutes,
    )
    db.add(offer)
    await db.flush()
    return offer


async def list_offers(
    db: AsyncSession,
    actor: Actor,
    community_id: uuid.UUID,
    *,
    partner_id: uuid.UUID | None = None,
    current_only: bool = True,
) -> list[tuple[Offer, Partner, int]]:
    """Offers with their partner and how many vouchers the caller holds or used for each."""
    await accounts.get_community(db, community_id)
    await accounts.require_role(db, actor, community_id, "member", "partner")
    stmt = (
        select(Offer, Partner)
        .join(Partner, Partner.id == Offer.partner_id)
        .where(Offer.community_id == community_id)
        .order_by(Partner.name, Offer.created_at)
    )
    if partner_id is not None:
        stmt = stmt.where(Offer.partner_id == partner_id)
    if current_only:
        now = clock.now()
        stmt = stmt.where(
            Offer.active.is_(True),
            Partner.active.is_(True),
            (Offer.valid_from.is_(None)) | (Offer.valid_from <= now),
            (Offer.valid_until.is_(None)) | (Offer.valid_until > now),
        )
    rows = [(o, p) for o, p in await db.execute(stmt)]
    mine: dict[uuid.UUID, int] = {}
    if rows:
        counted = await db.execute(
            select(Voucher.offer_id, func.count())
            .where(
                Voucher.member_id == actor.member_id,
                Voucher.offer_id.in_([o.id for o, _ in rows]),
                Voucher.status.in_(("issued", "redeemed")),
            )
            .group_by(Voucher.offer_id)
        )
        mine = {oid: int(n) for oid, n in counted}
    return [(o, p, mine.get(o.id, 0)) for o, p in rows]


async def claim_voucher(db: AsyncSession, actor: Actor, offer_id: uuid.UUID) -> Voucher:
    """Hold the offer's points and issue a one-time code, valid for a short while.

    Errors: offer_not_found, offer_not_open, offer_sold_out, limit_reached, insufficient_points.
    """
    offer = await get_offer(db, offer_id)
    await accounts.require_role(db, actor, offer.community_id, "member")
    partner = await accounts.get_partner(db, offer.partner_id)
    now = clock.now()
    if (
        not offer.active
        or not partner.active
        or (offer.valid_from is not None and offer.valid_from > now)
        or (offer.valid_until is not None and offer.valid_until <= now)
    ):
        raise Conflict("offer_not_open", "This offer is not available now.")
    # Counting the claim first takes the offer's row lock: the quota and the per-member count are exact.
    taken = await db.execute(
        update(Offer)
        .where(
            Offer.id == offer.id,
            (Offer.quota_total.is_(None)) | (Offer.claimed_count < Offer.quota_total),
        )
        .values(claimed_count=Offer.claimed_count + 1)
        .returning(Offer.points, Offer.limit_per_member, Offer.voucher_minutes)
        .execution_options(synchronize_session=False)
    )
    row = taken.one_or_none()
    if row is None:
        raise Conflict("offer_sold_out", "All vouchers of this offer are taken.")
    price, limit, minutes = int(row[0]), row[1], row[2]
    if limit is not None:
        used = int(
            await db.scalar(
                select(func.count()).where(
                    Voucher.offer_id == offer.id,
                    Voucher.member_id == actor.member_id,
                    Voucher.status.in_(("issued", "redeemed")),
                )
            )
            or 0
        )
        if used >= limit:
            raise Conflict(
                "limit_reached",
                "You may claim this offer at most %(limit)s time(s).",
                params={"limit": limit},
            )
    settings = await get_settings(db, offer.community_id)
    expires_at = now + timedelta(minutes=minutes or settings.voucher_minutes or rules.VOUCHER_MINUTES_DEFAULT)
    voucher_id = new_id()
    held = await points.hold(
        db,
        community_id=offer.community_id,
        member_id=actor.member_id,
        points=price,
        payee="partner",
        payee_partner_id=offer.partner_id,
        expires_at=expires_at + HOLD_GRACE,
        code="voucher",
        memo=f"{partner.name}: {offer.title}"[:200],
        ref_type="voucher",
        ref_id=str(voucher_id),
        actor_id=actor.member_id,
        idempotency_key=f"voucher:{voucher_id}",
    )
    voucher = Voucher(
        id=voucher_id,
        community_id=offer.community_id,
        partner_id=offer.partner_id,
        offer_id=offer.id,
        member_id=actor.member_id,
        code=await _unique_code(db, Voucher.code, Voucher.community_id, offer.community_id),
        points=price,
        status="issued",
        hold_id=held.hold_id,
        expires_at=expires_at,
        created_at=now,
    )
    db.add(voucher)
    await db.flush()
    await db.refresh(offer)
    return voucher


async def get_voucher(db: AsyncSession, voucher_id: uuid.UUID) -> Voucher:
    voucher = await db.get(Voucher, voucher_id)
    if voucher is None:
        raise NotFound("voucher_not_found", "No such voucher.")
    return voucher


async def _vouchers_by_code(db: AsyncSession, code: str) -> list[Voucher]:
    normal = rules.normalise_code(code)
    if normal is None:
        raise _invalid("invalid_code", "code", "A voucher code is 8 letters and digits.")
    return list(await db.scalars(select(Voucher).where(Voucher.code == normal)))


async def _staff_voucher(db: AsyncSession, actor: Actor, code: str) -> Voucher | None:
    """The voucher with ``code`` whose partner the actor works for (or administers), if any."""
    for voucher in await _vouchers_by_code(db, code):
        try:
            await accounts.require_role(
                db, actor, voucher.community_id, "partner", partner_id=voucher.partner_id
            )
            return voucher
        except Forbidden:
            continue
    return None


async def find_voucher_by_code(db: AsyncSession, actor: Actor, code: str) -> tuple[Voucher, bool]:
    """For the ``/v/<code>`` page: the voucher, and whether the caller may redeem it."""
    voucher = await _staff_voucher(db, actor, code)
    if voucher is not None:
        return voucher, True
    for voucher in await _vouchers_by_code(db, code):
        if voucher.member_id == actor.member_id:
            return voucher, False
    raise NotFound("voucher_not_found", "No voucher of yours or your shop has this code.")


@dataclass(frozen=True)
class Redemption:
    voucher: Voucher
    offer: Offer
    member_name: str


async def redeem_voucher(db: AsyncSession, actor: Actor, code: str) -> Redemption:
    """The partner's staff accept a voucher: its hold posts to the partner's account, once.

    Errors: invalid_code, voucher_not_found (also for another partner's code), voucher_already_redeemed,
    voucher_expired, voucher_cancelled.
    """
    from service.store import fastpath  # issue 13: kept out of the imports block (parallel edits)

    fast = await fastpath.redeem(db, actor, code)  # PostgreSQL: the plain success in one call
    if fast is not None:
        return Redemption(fast[0], fast[1], mask_name(fast[2]))
    voucher = await _staff_voucher(db, actor, code)
    if voucher is None:
        # Another shop's code and an unknown code look the same: staff learn nothing about other shops.
        raise NotFound("voucher_not_found", "No voucher of your shop has this code.")
    if voucher.status == "issued" and voucher.expires_at <= clock.now():
        raise Conflict("voucher_expired", "This voucher has expired; the points go back to the member.")
    done = await db.execute(
        update(Voucher)
        .where(Voucher.id == voucher.id, Voucher.status == "issued")
        .values(status="redeemed", redeemed_at=clock.now(), redeemed_by=actor.member_id)
        .returning(Voucher.id)
        .execution_options(synchronize_session=False)
    )
    changed = done.scalar_one_or_none() is not None
    await db.refresh(voucher)
    if not changed:
        if voucher.status == "redeemed":
            raise Conflict("voucher_already_redeemed", "This voucher was already used.")
        if voucher.status == "expired":
            raise Conflict("voucher_expired", "This voucher has expired.")
        raise Conflict("voucher_cancelled", "This voucher was cancelled.")
    await points.post_hold(db, voucher.hold_id, actor_id=actor.member_id)
    member = await accounts.get_member(db, voucher.member_id)
    return Redemption(voucher, await get_offer(db, voucher.offer_id), mask_name(member.name))


async def _close_voucher(db: AsyncSession, voucher: Voucher, status: str, actor_id: uuid.UUID | None) -> bool:
    """Move an issued voucher to ``status``, release its hold and its claim (caller locked the offer)."""
    done = await db.execute(
        update(Voucher)
        .where(Voucher.id == voucher.id, Voucher.status == "issued")
        .values(status=status)
        .returning(Voucher.id)
        .execution_options(synchronize_session=False)
    )
    if done.scalar_one_or_none() is None:
        await db.refresh(voucher)
        return False
    await _void(db, voucher.hold_id, actor_id, f"voucher {status}")
    await db.execute(
        update(Offer)
        .where(Offer.id == voucher.offer_id, Offer.claimed_count > 0)
        .values(claimed_count=Offer.claimed_count - 1)
        .execution_options(synchronize_session=False)
    )
    await db.refresh(voucher)
    return True


async def cancel_voucher(db: AsyncSession, actor: Actor, voucher_id: uuid.UUID) -> Voucher:
    """The member gives an unused voucher back: the points are released at once.

    Errors: voucher_not_found, voucher_already_redeemed, voucher_expired, voucher_cancelled.
    """
    voucher = await get_voucher(db, voucher_id)
    if voucher.member_id != actor.member_id:
        raise NotFound("voucher_not_found", "No such voucher.")
    await _lock_rows(db, Offer, [voucher.offer_id])  # lock order: offer before voucher and ledger
    if not await _close_voucher(db, voucher, "cancelled", actor.member_id):
        if voucher.status == "redeemed":
            raise Conflict("voucher_already_redeemed", "This voucher was already used.")
        raise Conflict(
            f"voucher_{voucher.status}", "This voucher is %(status)s.", params={"status": voucher.status}
        )
    return voucher


async def list_vouchers(
    db: AsyncSession,
    actor: Actor,
    community_id: uuid.UUID,
    *,
    partner_id: uuid.UUID | None = None,
    status: str | None = None,
    limit: int = 50,
    before: uuid.UUID | None = None,
) -> tuple[list[tuple[Voucher, Offer, Partner, Member]], uuid.UUID | None]:
    """Newest first: the caller's vouchers, or (``partner_id``) that partner's, for its staff."""
    await accounts.get_community(db, community_id)
    if partner_id is None:
        await accounts.require_role(db, actor, community_id, "member")
    else:
        await accounts.require_role(db, actor, community_id, "partner", partner_id=partner_id)
    stmt = (
        select(Voucher, Offer, Partner, Member)
        .join(Offer, Offer.id == Voucher.offer_id)
        .join(Partner, Partner.id == Voucher.partner_id)
        .join(Member, Member.id == Voucher.member_id)
        .where(Voucher.community_id == community_id)
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
    rows = [(v, o, p, m) for v, o, p, m in await db.execute(stmt)]
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (rows[-1][0].id if more and rows else None)


# ---------------------------------------------------------------- expiry


async def expire_due(db: AsyncSession, *, batch: int = SWEEP_BATCH) -> int:
    """Expire overdue reserved orders and issued vouchers (one batch of each); return how many.

    Follows the lock order for the whole batch at once: every product and offer, then the orders and
    vouchers (id order), then every hold and account (``points.lock_holds``), then the releases.
    """
    now = clock.now()
    orders = list(
        await db.scalars(
            select(Order)
            .where(Order.status == "reserved", Order.expires_at <= now)
            .order_by(Order.expires_at)
            .limit(batch)
        )
    )
    vouchers = list(
        await db.scalars(
            select(Voucher)
            .where(Voucher.status == "issued", Voucher.expires_at <= now)
            .order_by(Voucher.expires_at)
            .limit(batch)
        )
    )
    await _lock_rows(db, Product, [o.product_id for o in orders])
    await _lock_rows(db, Offer, [v.offer_id for v in vouchers])
    closed_orders = [
        o for o in sorted(orders, key=lambda o: o.id) if await _close_order(db, o, "expired", None)
    ]
    closing = sorted(vouchers, key=lambda v: v.id)
    claimed = (
        await db.execute(
            update(Voucher)
            .where(Voucher.id.in_([v.id for v in closing]), Voucher.status == "issued")
            .values(status="expired")
            .returning(Voucher.id)
            .execution_options(synchronize_session=False)
        )
        if closing
        else None
    )
    closed_ids = set(claimed.scalars()) if claimed is not None else set()
    closed_vouchers = [v for v in closing if v.id in closed_ids]
    await points.lock_holds(db, [o.hold_id for o in closed_orders] + [v.hold_id for v in closed_vouchers])
    for order in closed_orders:
        await _release_order(db, order, "order expired", None)
    for voucher in closed_vouchers:
        await _void(db, voucher.hold_id, None, "voucher expired")
        await db.execute(
            update(Offer)
            .where(Offer.id == voucher.offer_id, Offer.claimed_count > 0)
            .values(claimed_count=Offer.claimed_count - 1)
            .execution_options(synchronize_session=False)
        )
        await db.refresh(voucher)
    return len(closed_orders) + len(closed_vouchers)


# ---------------------------------------------------------------- settlement


@dataclass
class Statement:
    partner: Partner
    month: str
    count: int
    points: int
    yuan: str | None
    fen_per_point: int | None
    items: list[tuple[Voucher, Offer, str]] = field(default_factory=list)
    """(voucher, offer, masked member name), in redemption order."""


async def settlement(
    db: AsyncSession, actor: Actor, partner_id: uuid.UUID, month: str, *, items_max: int = 100_000
) -> Statement:
    """A partner's redeemed vouchers of one calendar month (community time zone), with totals."""
    partner = await accounts.get_partner(db, partner_id)
    await accounts.require_role(db, actor, partner.community_id, "partner", partner_id=partner.id)
    start, end = rules.month_bounds(month, await _community_tz(db, partner.community_id))
    rows = await db.execute(
        select(Voucher, Offer, Member.name)
        .join(Offer, Offer.id == Voucher.offer_id)
        .join(Member, Member.id == Voucher.member_id)
        .where(
            Voucher.partner_id == partner.id,
            Voucher.status == "redeemed",
            Voucher.redeemed_at >= start,
            Voucher.redeemed_at < end,
        )
        .order_by(Voucher.redeemed_at)
        .limit(items_max)
    )
    items = [(v, o, mask_name(name)) for v, o, name in rows]
    total = sum(v.points for v, _, _ in items)
    rate = (await get_settings(db, partner.community_id)).fen_per_point
    return Statement(partner, month, len(items), total, rules.yuan(total, rate), rate, items)


@dataclass(frozen=True)
class PartnerLine:
    partner: Partner
    count: int
    points: int
    yuan: str | None


async def community_report(
    db: AsyncSession, actor: Actor, community_id: uuid.UUID, month: str
) -> tuple[list[PartnerLine], int, int, str | None]:
    """Every partner's redeemed count and points in the month: (lines, total count, total points, yuan)."""
    community: Community = await accounts.get_community(db, community_id)
    await accounts.require_role(db, actor, community_id, "admin")
    start, end = rules.month_bounds(month, community.timezone)
    sums = {
        pid: (int(n), int(p or 0))
        for pid, n, p in await db.execute(
            select(Voucher.partner_id, func.count(), func.sum(Voucher.points))
            .where(
                Voucher.community_id == community_id,
                Voucher.status == "redeemed",
                Voucher.redeemed_at >= start,
                Voucher.redeemed_at < end,
            )
            .group_by(Voucher.partner_id)
        )
    }
    rate = (await get_settings(db, community_id)).fen_per_point
    lines = [
        PartnerLine(p, *sums.get(p.id, (0, 0)), rules.yuan(sums.get(p.id, (0, 0))[1], rate))
        for p in await accounts.list_partners(db, community_id)
    ]
    count = sum(line.count for line in lines)
    total = sum(line.points for line in lines)
    return lines, count, total, rules.yuan(total, rate)


async def staff_partner_ids(db: AsyncSession, actor: Actor) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """(community_id, partner_id) of every partner the actor works for."""
    rows = await db.execute(
        select(Membership.community_id, Membership.partner_id).where(
            Membership.member_id == actor.member_id, Membership.role == "partner"
        )
    )
    return [(c, p) for c, p in rows if p is not None]


async def order_for_viewer(
    db: AsyncSession, actor: Actor, order_id: uuid.UUID, *, owner_only: bool = False
) -> tuple[Order, Product]:
    """An order as its member or a clerk of its community sees it (``owner_only``: its member only,
    for what carries the whole pickup code, such as its QR)."""
    order = await get_order(db, order_id)
    if order.member_id != actor.member_id and owner_only:
        raise NotFound("order_not_found", "No such order.")
    if order.member_id != actor.member_id:
        try:
            await accounts.require_role(db, actor, order.community_id, "clerk")
        except Forbidden as exc:
            raise NotFound("order_not_found", "No such order.") from exc
    return order, await get_product(db, order.product_id)


async def voucher_for_viewer(
    db: AsyncSession, actor: Actor, voucher_id: uuid.UUID, *, owner_only: bool = False
) -> tuple[Voucher, Offer]:
    """A voucher as its member or its partner's staff see it (``owner_only``: its member only)."""
    voucher = await get_voucher(db, voucher_id)
    if voucher.member_id != actor.member_id and owner_only:
        raise NotFound("voucher_not_found", "No such voucher.")
    if voucher.member_id != actor.member_id:
        try:
            await accounts.require_role(
                db, actor, voucher.community_id, "partner", partner_id=voucher.partner_id
            )
        except Forbidden as exc:
            raise NotFound("voucher_not_found", "No such voucher.") from exc
    return voucher, await get_offer(db, voucher.offer_id)


async def current_month(db: AsyncSession, community_id: uuid.UUID) -> str:
    return rules.month_of(clock.now(), await _community_tz(db, community_id))


async def sweep(maker: Any) -> int:
    """The periodic job: expire overdue orders and vouchers in batches, one transaction per batch."""
    from service.retry import run_in_transaction

    total = 0
    while True:
        done = await run_in_transaction(maker, expire_due)
        total += done
        if done < SWEEP_BATCH:
            return total


async def open_counts(db: AsyncSession, community_id: uuid.UUID, member_id: uuid.UUID) -> tuple[int, int]:
    """(reserved orders, issued vouchers) of the member in the community, for the home page."""
    orders = await db.scalar(
        select(func.count()).where(
            Order.community_id == community_id, Order.member_id == member_id, Order.status == "reserved"
        )
    )
    vouchers = await db.scalar(
        select(func.count()).where(
            Voucher.community_id == community_id, Voucher.member_id == member_id, Voucher.status == "issued"
        )
    )
    return int(orders or 0), int(vouchers or 0)
