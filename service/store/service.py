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

import uuid
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NoReturn

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from service import clock
from service.accounts import service as accounts
from service.accounts import views as people
from service.accounts.actor import Actor
from service.accounts.proposals import Proposed, gate
from service.audit.service import record, snapshot
from service.config import NAME_MAX, POINTS_PER_AWARD_MAX, TEXT_MAX, TITLE_MAX, UPLOAD_MAX_BYTES
from service.errors import Forbidden, NotFound, raises
from service.ids import new_id
from service.kit.batch import drain
from service.kit.images import clean_image_async
from service.kit.masking import mask_name
from service.kit.months import month_bounds_at
from service.kit.text import InvalidField, bounded_int, bounded_text
from service.points import service as points
from service.points.errors import HoldNotPending
from service.store import fastpath, rules
from service.store.errors import (
    CodeSpaceExhausted,
    CommunityRequired,
    ImageTooLarge,
    InvalidImage,
    InvalidQuantity,
    InvalidWindow,
    LimitReached,
    NotClerk,
    OfferNotFound,
    OfferNotOpen,
    OfferSoldOut,
    OrderAlreadyFulfilled,
    OrderCancelled,
    OrderExpired,
    OrderNotFound,
    OutOfStock,
    ProductUnavailable,
    StockNotEnough,
    VoucherAlreadyRedeemed,
    VoucherCancelled,
    VoucherExpired,
    VoucherNotFound,
)
from service.store.models import Offer, Order, Product, ProductImage, StoreSettings, Voucher
from service.store.rules import OrderStatus, VoucherStatus
from service.store.views import (
    get_offer,
    get_order,
    get_product,
    get_settings,
    get_voucher,
    month_quantities,
    orders_by_code,
    vouchers_by_code,
)

__all__ = [
    "HOLD_GRACE",
    "KNOB_PRICE",
    "KNOB_SETTINGS",
    "STOCK_MAX",
    "SWEEP_BATCH",
    "Redemption",
    "Reserved",
    "apply_price",
    "apply_settings",
    "cancel_order",
    "cancel_voucher",
    "claim_voucher",
    "create_offer",
    "create_product",
    "expire_due",
    "pickup_order",
    "redeem_voucher",
    "reserve",
    "reserve_order",
    "set_product_image",
    "sweep",
    "update_product",
    "update_settings",
]

STOCK_MAX = 1_000_000
HOLD_GRACE = rules.HOLD_GRACE
"""The ledger hold outlives its order or voucher a little, so this domain's sweep releases it first."""
SWEEP_BATCH = 200
"""Orders or vouchers expired per transaction by the sweep job."""
CODE_ATTEMPTS = 8


# ---------------------------------------------------------------- small helpers


def _window(start: datetime | None, end: datetime | None, field_name: str) -> None:
    if start is not None and end is not None and end <= start:
        raise InvalidWindow(
            params={"field": field_name},
            errors=[{"field": field_name, "message": "The end must come after the start."}],
        )


KNOB_SETTINGS = "store_settings"
KNOB_PRICE = "product_price"
"""The proposals' names of the store settings and of one product's price (applied by
:func:`apply_settings`, :func:`apply_price`)."""


@raises(InvalidField, accounts.get_community, accounts.require_role)
async def update_settings(
    db: AsyncSession,
    actor: Actor,
    community_id: uuid.UUID,
    *,
    fen_per_point: int | None,
    voucher_minutes: int | None,
    order_days: int | None,
) -> StoreSettings | Proposed:
    """Set the store settings. A higher value of a point in fen (what partners settle for) waits for a
    second person (a :class:`Proposed`); the rest applies at once."""
    await accounts.get_community(db, community_id)
    await accounts.require_role(db, actor, community_id, "admin")
    after = {"fen_per_point": fen_per_point, "voucher_minutes": voucher_minutes, "order_days": order_days}
    _check_settings(after)
    row = await db.get(StoreSettings, community_id, with_for_update=True)
    before = _settings_values(row)
    widens = (fen_per_point or 0) > (before["fen_per_point"] or 0)
    proposed = await gate(db, actor, community_id, KNOB_SETTINGS, before, after, widens=widens)
    if proposed is not None:
        return proposed
    return await _store_settings(db, community_id, row, after)


@raises(InvalidField)
async def apply_settings(
    db: AsyncSession,
    community_id: uuid.UUID,
    target_id: uuid.UUID | None,
    before: dict[str, Any],
    after: dict[str, Any],
    by: uuid.UUID,
) -> bool:
    """Apply approved settings, re-validated; False (nothing changed) if they are no longer ``before``."""
    row = await db.get(StoreSettings, community_id, with_for_update=True)
    if _settings_values(row) != before:
        return False
    _check_settings(after)
    await _store_settings(db, community_id, row, after)
    return True


def _settings_values(row: StoreSettings | None) -> dict[str, Any]:
    if row is None:
        return {"fen_per_point": None, "voucher_minutes": None, "order_days": None}
    return {
        "fen_per_point": row.fen_per_point,
        "voucher_minutes": row.voucher_minutes,
        "order_days": row.order_days,
    }


def _check_settings(values: dict[str, Any]) -> None:
    bounded_int(values["fen_per_point"], "fen_per_point", 0, 100_000)
    bounded_int(values["voucher_minutes"], "voucher_minutes", 1, rules.VOUCHER_MINUTES_MAX)
    bounded_int(values["order_days"], "order_days", 1, rules.ORDER_DAYS_MAX)


async def _store_settings(
    db: AsyncSession, community_id: uuid.UUID, row: StoreSettings | None, values: dict[str, Any]
) -> StoreSettings:
    if row is None:
        row = StoreSettings(community_id=community_id)
        db.add(row)
    row.fen_per_point, row.voucher_minutes = values["fen_per_point"], values["voucher_minutes"]
    row.order_days, row.updated_at = values["order_days"], clock.now()
    await db.flush()
    return row


_PRODUCT_FIELDS = (
    "name",
    "points",
    "stock",
    "limit_per_member",
    "active",
    "available_from",
    "available_until",
)
_OFFER_FIELDS = (
    "title",
    "points",
    "valid_from",
    "valid_until",
    "quota_total",
    "limit_per_member",
    "monthly_quota",
    "member_month_limit",
    "voucher_minutes",
)


async def _audit(
    db: AsyncSession,
    actor: Actor,
    community_id: uuid.UUID,
    action: str,
    detail: dict[str, Any],
    subject_member_id: uuid.UUID | None = None,
) -> None:
    await record(
        db,
        actor_id=actor.member_id,
        action=action,
        community_id=community_id,
        subject_member_id=subject_member_id,
        detail=detail,
    )


@raises(InvalidField)
async def apply_price(
    db: AsyncSession,
    community_id: uuid.UUID,
    target_id: uuid.UUID | None,
    before: dict[str, Any],
    after: dict[str, Any],
    by: uuid.UUID,
) -> bool:
    """Apply an approved lower price, re-validated; False if the product is gone or its price moved."""
    product = await db.get(Product, target_id, with_for_update=True) if target_id else None
    if product is None or product.community_id != community_id or {"points": product.points} != before:
        return False
    product.points = int(bounded_int(after["points"], "points", 1, POINTS_PER_AWARD_MAX) or 1)
    await db.flush()
    return True


# ---------------------------------------------------------------- products


@raises(InvalidField, InvalidWindow, accounts.get_community, accounts.require_role)
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
    bounded_int(points_price, "points", 1, POINTS_PER_AWARD_MAX)
    bounded_int(stock, "stock", 0, STOCK_MAX)
    bounded_int(limit_per_member, "limit_per_member", 1, STOCK_MAX)
    _window(available_from, available_until, "available_until")
    product = Product(
        community_id=community_id,
        name=bounded_text(name, "name", low=1, high=TITLE_MAX),
        description=bounded_text(description, "description", high=TEXT_MAX),
        category=bounded_text(category, "category", high=NAME_MAX),
        points=points_price,
        stock=stock,
        limit_per_member=limit_per_member,
        available_from=available_from,
        available_until=available_until,
    )
    db.add(product)
    await db.flush()
    detail = {"product_id": str(product.id), "after": snapshot(product, *_PRODUCT_FIELDS)}
    await _audit(db, actor, community_id, "product_created", detail)
    return product


@raises(InvalidField, InvalidWindow, StockNotEnough, get_product, accounts.require_role)
async def update_product(
    db: AsyncSession, actor: Actor, product_id: uuid.UUID, changes: dict[str, Any], stock_delta: int = 0
) -> Product | Proposed:
    """Change a product's fields; ``stock_delta`` adds to (or takes from) the stock without a lost update.
    A lower price (goods cheaper for points) waits for an admin other than the caller (a :class:`Proposed`);
    the other fields change at once."""
    product = await get_product(db, product_id)
    await accounts.require_role(db, actor, product.community_id, "clerk")
    before_all = snapshot(product, *_PRODUCT_FIELDS) or {}
    gated = "points" in changes  # the price's change is audited by the gate (proposed or narrowed)
    proposed = None
    if "points" in changes:
        price = int(bounded_int(changes["points"], "points", 1, POINTS_PER_AWARD_MAX) or 1)
        before, after = {"points": product.points}, {"points": price}
        proposed = await gate(
            db, actor, product.community_id, KNOB_PRICE, before, after, widens=price < product.points,
            target_id=product.id,
        )  # fmt: skip
        changes = {k: v for k, v in changes.items() if k != "points" or proposed is None}
    if "name" in changes:
        product.name = bounded_text(changes["name"], "name", low=1, high=TITLE_MAX)
    for key, limit in (("description", TEXT_MAX), ("category", NAME_MAX)):
        if key in changes:
            setattr(product, key, bounded_text(changes[key], key, high=limit))
    if "points" in changes:
        product.points = int(bounded_int(changes["points"], "points", 1, POINTS_PER_AWARD_MAX) or 1)
    if "limit_per_member" in changes:
        product.limit_per_member = bounded_int(changes["limit_per_member"], "limit_per_member", 1, STOCK_MAX)
    for key in ("active", "available_from", "available_until"):
        if key in changes:
            setattr(product, key, changes[key])
    _window(product.available_from, product.available_until, "available_until")
    await db.flush()
    if stock_delta:
        bounded_int(stock_delta, "stock_delta", -STOCK_MAX, STOCK_MAX)
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
            raise StockNotEnough()
    await db.refresh(product)
    after_all = snapshot(product, *_PRODUCT_FIELDS) or {}
    changed = {k for k in after_all if after_all[k] != before_all[k] and not (gated and k == "points")}
    if changed - {"stock"} or stock_delta:
        detail = {
            "product_id": str(product.id),
            "before": before_all,
            "after": after_all,
            "stock_delta": stock_delta,
        }
        await _audit(db, actor, product.community_id, "product_updated", detail)
    return proposed or product


@raises(InvalidImage, ImageTooLarge, get_product, accounts.require_role)
async def set_product_image(db: AsyncSession, actor: Actor, product_id: uuid.UUID, raw: bytes) -> Product:
    product = await get_product(db, product_id)
    await accounts.require_role(db, actor, product.community_id, "clerk")
    # Decoding and re-encoding take CPU time: clean_image_async keeps them off the event loop.
    image = await clean_image_async(
        raw,
        max_bytes=UPLOAD_MAX_BYTES,
        side_px=rules.IMAGE_MAX_SIDE_PX,
        thumb_px=rules.THUMB_SIDE_PX,
        keep_alpha=True,
    )
    row = await db.get(ProductImage, product.id)
    if row is None:
        row = ProductImage(product_id=product.id, community_id=product.community_id)
        db.add(row)
    if image.thumb is None or image.thumb_media_type is None:  # impossible: thumb_px was given
        raise RuntimeError("the image kit made no thumbnail")
    row.data, row.media_type = image.data, image.media_type
    row.thumb, row.thumb_media_type = image.thumb, image.thumb_media_type
    row.width, row.height, row.updated_at = image.width, image.height, clock.now()
    product.image_version += 1
    await db.flush()
    detail = {"product_id": str(product.id), "name": product.name, "image_version": product.image_version}
    await _audit(db, actor, product.community_id, "product_image_set", detail)
    return product


# ---------------------------------------------------------------- orders


@raises(CodeSpaceExhausted)
async def _unique_code(db: AsyncSession, column: Any, community_column: Any, community_id: uuid.UUID) -> str:
    # 31^8 codes make a clash rare; the UNIQUE constraint is the backstop.
    for _ in range(CODE_ATTEMPTS):
        code = rules.new_code()
        taken = await db.scalar(select(column).where(community_column == community_id, column == code))
        if taken is None:
            return code
    raise CodeSpaceExhausted()


@dataclass(frozen=True)
class Reserved:
    order: Order
    product_name: str


@raises(
    InvalidQuantity,
    ProductUnavailable,
    OutOfStock,
    LimitReached,
    get_product,
    accounts.require_role,
    accounts.require_live_login,
    points.hold,
    _unique_code,
)
async def reserve(db: AsyncSession, actor: Actor, product_id: uuid.UUID, quantity: int) -> Reserved:
    """Take the stock, check the monthly limit and hold the points, all in the caller's transaction; the
    order and its product's name (for the answer)."""
    fast = await fastpath.reserve(db, actor, product_id, quantity)  # PostgreSQL: the success in one call
    if fast is not None:
        order, name = fast
        return Reserved(order, name if name is not None else (await get_product(db, order.product_id)).name)
    await accounts.require_live_login(db, actor)
    product = await get_product(db, product_id)
    cid = product.community_id
    await accounts.require_role(db, actor, cid, "member")
    if not 1 <= quantity <= rules.ORDER_QUANTITY_MAX:
        raise InvalidQuantity(
            params={"max": rules.ORDER_QUANTITY_MAX},
            errors=[{"field": "quantity", "message": "Order 1 to %(max)s."}],
        )
    now = clock.now()
    if (
        not product.active
        or (product.available_from is not None and product.available_from > now)
        or (product.available_until is not None and product.available_until <= now)
    ):
        raise ProductUnavailable()
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
        raise OutOfStock()
    price, limit = int(row[0]), row[1]
    if limit is not None:
        used = (await month_quantities(db, cid, actor.member_id, [product.id])).get(product.id, 0)
        if used + quantity > limit:
            raise LimitReached(params={"limit": limit, "used": used})
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
    return Reserved(order, product.name)


@raises(reserve)
async def reserve_order(db: AsyncSession, actor: Actor, product_id: uuid.UUID, quantity: int) -> Order:
    """``reserve``, the order alone."""
    return (await reserve(db, actor, product_id, quantity)).order


async def _clerk_order(db: AsyncSession, actor: Actor, code: str) -> Order:
    """The order with ``code`` in a community where the actor is a clerk."""
    found = await orders_by_code(db, code)
    if not found:
        raise OrderNotFound(detail="No order has this pickup code.")
    for order in found:
        try:
            await accounts.require_role(db, actor, order.community_id, "clerk")
            return order
        except Forbidden:
            continue
    raise NotClerk()


async def _close_order(
    db: AsyncSession, order: Order, status: OrderStatus, actor_id: uuid.UUID | None
) -> bool:
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


def _refuse_closed(order: Order) -> NoReturn:
    """The order was closed by someone else first: say how."""
    if order.status == "fulfilled":
        raise OrderAlreadyFulfilled()
    if order.status == "expired":
        raise OrderExpired()
    raise OrderCancelled()


@raises(
    OrderNotFound,
    NotClerk,
    OrderExpired,
    OrderAlreadyFulfilled,
    OrderCancelled,
    orders_by_code,
    accounts.require_role,
    points.post_hold,
)
async def pickup_order(db: AsyncSession, actor: Actor, code: str) -> Order:
    """A clerk hands out an order: the hold posts to the store account. Never twice."""
    order = await _clerk_order(db, actor, code)
    if order.status == "reserved" and order.expires_at <= clock.now():
        raise OrderExpired(detail="This order expired; its points will be returned.")
    if not await _close_order(db, order, "fulfilled", actor.member_id):
        _refuse_closed(order)
    await points.post_hold(db, order.hold_id, actor_id=actor.member_id)
    detail = {"order_id": str(order.id), "product_id": str(order.product_id), "points": order.points}
    await _audit(db, actor, order.community_id, "order_picked_up", detail, order.member_id)
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
    # The ledger may already have released an overdue hold itself; the points are back either way.
    with suppress(HoldNotPending):
        async with db.begin_nested():
            await points.void_hold(db, hold_id, actor_id=actor_id, reason=reason)


@raises(
    OrderAlreadyFulfilled, OrderExpired, OrderCancelled, get_order, accounts.require_role, points.void_hold
)
async def cancel_order(db: AsyncSession, actor: Actor, order_id: uuid.UUID) -> Order:
    """The member (before pickup) or a clerk cancels: points and stock come back."""
    order = await get_order(db, order_id)
    if order.member_id != actor.member_id:
        await accounts.require_role(db, actor, order.community_id, "clerk")
    await _lock_rows(db, Product, [order.product_id])  # lock order: product before order and ledger
    if not await _close_order(db, order, "cancelled", actor.member_id):
        _refuse_closed(order)
    await _release_order(db, order, "order cancelled", actor.member_id)
    if order.member_id != actor.member_id:  # a clerk's act; the member's own cancel is not a staff act
        detail = {"order_id": str(order.id), "product_id": str(order.product_id), "points": order.points}
        await _audit(db, actor, order.community_id, "order_cancelled", detail, order.member_id)
    return order


# ---------------------------------------------------------------- offers and vouchers


@raises(InvalidField, InvalidWindow, accounts.get_partner, accounts.require_partner_staff)
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
    voucher_hours: int | None = None,
    monthly_quota: int | None = None,
    member_month_limit: int | None = None,
) -> Offer:
    """Publish an offer. A region's unit's offer belongs to no community: every community under the
    region sees it. Validity: ``voucher_hours`` (1 hour to 30 days) or ``voucher_minutes``; default 7 days."""
    partner = await accounts.get_partner(db, partner_id)
    await accounts.require_partner_staff(db, actor, partner)
    bounded_int(points_price, "points", 1, POINTS_PER_AWARD_MAX)
    bounded_int(quota_total, "quota_total", 1, STOCK_MAX)
    bounded_int(limit_per_member, "limit_per_member", 1, STOCK_MAX)
    bounded_int(monthly_quota, "monthly_quota", 1, STOCK_MAX)
    bounded_int(member_month_limit, "member_month_limit", 1, STOCK_MAX)
    bounded_int(voucher_minutes, "voucher_minutes", 1, rules.VOUCHER_MINUTES_MAX)
    bounded_int(voucher_hours, "voucher_hours", rules.VOUCHER_HOURS_MIN, rules.VOUCHER_HOURS_MAX)
    _window(valid_from, valid_until, "valid_until")
    offer = Offer(
        community_id=partner.community_id,
        partner_id=partner.id,
        title=bounded_text(title, "title", low=1, high=TITLE_MAX),
        description=bounded_text(description, "description", high=TEXT_MAX),
        points=points_price,
        valid_from=valid_from,
        valid_until=valid_until,
        quota_total=quota_total,
        limit_per_member=limit_per_member,
        monthly_quota=monthly_quota,
        member_month_limit=member_month_limit,
        voucher_minutes=voucher_hours * 60 if voucher_hours is not None else voucher_minutes,
    )
    db.add(offer)
    await db.flush()
    detail = {
        "offer_id": str(offer.id),
        "partner_id": str(partner.id),
        "after": snapshot(offer, *_OFFER_FIELDS),
    }
    await record(
        db,
        actor_id=actor.member_id,
        action="offer_created",
        community_id=partner.community_id,
        detail=detail,
    )
    return offer


@raises(OfferNotFound, CommunityRequired, accounts.require_role)
async def _claiming_community(
    db: AsyncSession, actor: Actor, offer: Offer, asked: uuid.UUID | None
) -> uuid.UUID:
    """Whose points pay: the offer's community, or (a region's unit) the community of the caller that
    the unit serves (``asked`` when they belong to several). A community the unit does not serve, or
    one the caller is no member of, is ``offer_not_found``: nothing of it is shown there."""
    if offer.community_id is not None:
        if asked is not None and asked != offer.community_id:
            raise OfferNotFound()
        await accounts.require_role(db, actor, offer.community_id, "member")
        return offer.community_id
    mine = await people.resident_of(db, actor.member_id)
    if asked is not None:
        mine = [asked] if asked in mine else []
    served = [cid for cid in mine if await people.partner_serves(db, offer.partner_id, cid)]
    if not served:
        raise OfferNotFound()
    if len(served) > 1:
        raise CommunityRequired(errors=[{"field": "community_id", "message": "required"}])
    return served[0]


@raises(OfferSoldOut, LimitReached)
async def _check_month(
    db: AsyncSession, actor: Actor, offer: Offer, partner_quota: int | None, tz: str, now: datetime
) -> None:
    """The offer's and the unit's monthly quotas and the member's monthly limit (the offer's row lock,
    and for a unit's quota the unit's, make the counts exact). Vouchers given back free their place."""
    if offer.monthly_quota is None and offer.member_month_limit is None and partner_quota is None:
        return
    start, _end = month_bounds_at(now, tz)
    held = (Voucher.status.in_(("issued", "redeemed")), Voucher.created_at >= start)
    if offer.monthly_quota is not None:
        n = int(await db.scalar(select(func.count()).where(Voucher.offer_id == offer.id, *held)) or 0)
        if n >= offer.monthly_quota:
            raise OfferSoldOut(detail="This month's vouchers of this offer are all taken.")
    if partner_quota is not None:
        n = int(
            await db.scalar(select(func.count()).where(Voucher.partner_id == offer.partner_id, *held)) or 0
        )
        if n >= partner_quota:
            raise OfferSoldOut(detail="This unit's vouchers for this month are all taken.")
    if offer.member_month_limit is not None:
        n = int(
            await db.scalar(
                select(func.count()).where(
                    Voucher.offer_id == offer.id, Voucher.member_id == actor.member_id, *held
                )
            )
            or 0
        )
        if n >= offer.member_month_limit:
            raise LimitReached(
                detail="You may claim this offer at most %(limit)s time(s) a month.",
                params={"limit": offer.member_month_limit},
            )


@raises(
    OfferNotOpen,
    OfferSoldOut,
    LimitReached,
    get_offer,
    accounts.get_partner,
    accounts.require_live_login,
    _claiming_community,
    _check_month,
    points.hold,
    _unique_code,
)
async def claim_voucher(
    db: AsyncSession, actor: Actor, offer_id: uuid.UUID, community_id: uuid.UUID | None = None
) -> Voucher:
    """Hold the offer's points (of the caller's community: ``community_id`` when a region's unit serves
    several of theirs) and issue a one-time code, valid for the offer's validity."""
    fast = await fastpath.claim(db, actor, offer_id, community_id)  # PostgreSQL: a batch decides
    if fast is not None:
        return fast
    await accounts.require_live_login(db, actor)
    offer = await get_offer(db, offer_id)
    cid = await _claiming_community(db, actor, offer, community_id)
    partner = await accounts.get_partner(db, offer.partner_id)
    now = clock.now()
    if (
        not offer.active
        or not partner.active
        or (offer.valid_from is not None and offer.valid_from > now)
        or (offer.valid_until is not None and offer.valid_until <= now)
    ):
        raise OfferNotOpen()
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
        raise OfferSoldOut()
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
            raise LimitReached(
                detail="You may claim this offer at most %(limit)s time(s).", params={"limit": limit}
            )
    quota = await accounts.lock_partner_quota(db, partner.id) if partner.monthly_quota is not None else None
    await _check_month(db, actor, offer, quota, await people.community_timezone(db, cid), now)
    settings = await get_settings(db, cid)
    expires_at = now + timedelta(minutes=minutes or settings.voucher_minutes or rules.VOUCHER_MINUTES_DEFAULT)
    voucher_id = new_id()
    held = await points.hold(
        db,
        community_id=cid,
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
        community_id=cid,
        partner_id=offer.partner_id,
        offer_id=offer.id,
        member_id=actor.member_id,
        code=await _unique_code(db, Voucher.code, Voucher.community_id, cid),
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


async def _staff_voucher(db: AsyncSession, actor: Actor, code: str) -> Voucher | None:
    """The voucher with ``code`` whose partner the actor works for (or administers), if any."""
    for voucher in await vouchers_by_code(db, code):
        try:
            await accounts.require_role(
                db, actor, voucher.community_id, "partner", partner_id=voucher.partner_id
            )
            return voucher
        except (Forbidden, NotFound):  # a voucher's community exists (a key)
            continue
    return None


@dataclass(frozen=True)
class Redemption:
    voucher: Voucher
    offer: Offer
    member_name: str
    shop_name: str


@raises(
    VoucherNotFound,
    VoucherExpired,
    VoucherAlreadyRedeemed,
    VoucherCancelled,
    vouchers_by_code,
    points.post_hold,
    get_offer,
    accounts.require_live_login,
)
async def redeem_voucher(db: AsyncSession, actor: Actor, code: str) -> Redemption:
    """The partner's staff accept a voucher: its hold posts to the partner's account, once.

    Another partner's code is refused as ``voucher_not_found``, like an unknown one.
    """
    fast = await fastpath.redeem(db, actor, code)  # PostgreSQL: the plain success in one call
    if fast is not None:
        redeemed, offer, member, shop, audited = fast  # a batch read the shop's name; a single call did not
        shop = shop if shop is not None else await _shop_name(db, redeemed.partner_id)
        if not audited:  # a batch of one in the request's transaction: the event commits with it
            await _audit_redeemed(db, actor, redeemed)
        return Redemption(redeemed, offer, mask_name(member), shop)
    await accounts.require_live_login(db, actor)
    voucher = await _staff_voucher(db, actor, code)
    if voucher is None:
        # Another shop's code and an unknown code look the same: staff learn nothing about other shops.
        raise VoucherNotFound(detail="No voucher of your shop has this code.")
    if voucher.status == "issued" and voucher.expires_at <= clock.now():
        raise VoucherExpired(detail="This voucher has expired; the points go back to the member.")
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
            raise VoucherAlreadyRedeemed()
        if voucher.status == "expired":
            raise VoucherExpired()
        raise VoucherCancelled()
    await points.post_hold(db, voucher.hold_id, actor_id=actor.member_id)
    await _audit_redeemed(db, actor, voucher)
    names = await people.member_names(db, [voucher.member_id], masked=True)
    return Redemption(
        voucher,
        await get_offer(db, voucher.offer_id),
        names.get(voucher.member_id, ""),
        await _shop_name(db, voucher.partner_id),
    )


async def _audit_redeemed(db: AsyncSession, actor: Actor, voucher: Voucher) -> None:
    """The shop's staff redeemed a voucher (in the request's transaction; a grouped redemption's event
    commits with its batch instead: ``fastpath._audit_redeemed``)."""
    detail = fastpath.redeemed_detail(voucher)
    await _audit(db, actor, voucher.community_id, "voucher_redeemed", detail, voucher.member_id)


async def _shop_name(db: AsyncSession, partner_id: uuid.UUID) -> str:
    return (await people.partner_names(db, [partner_id])).get(partner_id, "")


async def _close_voucher(
    db: AsyncSession, voucher: Voucher, status: VoucherStatus, actor_id: uuid.UUID | None
) -> bool:
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


@raises(
    VoucherNotFound, VoucherAlreadyRedeemed, VoucherExpired, VoucherCancelled, get_voucher, points.void_hold
)
async def cancel_voucher(db: AsyncSession, actor: Actor, voucher_id: uuid.UUID) -> Voucher:
    """The member gives an unused voucher back: the points are released at once."""
    voucher = await get_voucher(db, voucher_id)
    if voucher.member_id != actor.member_id:
        raise VoucherNotFound()
    await _lock_rows(db, Offer, [voucher.offer_id])  # lock order: offer before voucher and ledger
    if not await _close_voucher(db, voucher, "cancelled", actor.member_id):
        if voucher.status == "redeemed":
            raise VoucherAlreadyRedeemed()
        if voucher.status == "expired":
            raise VoucherExpired(detail="This voucher is %(status)s.", params={"status": voucher.status})
        raise VoucherCancelled(detail="This voucher is %(status)s.", params={"status": voucher.status})
    return voucher


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


async def sweep(maker: Any) -> int:
    """The periodic job: expire overdue orders and vouchers in batches, one transaction per batch."""
    from service.retry import run_in_transaction

    async def step() -> int:
        done: int = await run_in_transaction(maker, expire_due)
        return done

    return await drain(step, SWEEP_BATCH)
