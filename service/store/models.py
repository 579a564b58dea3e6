"""Tables of the store domain: products, their images, orders, partner offers, vouchers, settings."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from service import clock
from service.config import NAME_MAX, TITLE_MAX
from service.db import Base, IdMixin, TimestampMixin
from service.store.rules import OrderStatus, VoucherStatus

__all__ = ["Offer", "Order", "Product", "ProductImage", "StoreSettings", "Voucher"]

CODE_LENGTH = 8
"""Length of pickup and voucher codes."""


class Product(IdMixin, TimestampMixin, Base):
    """A good on the shelf of the community's points supermarket (积分超市)."""

    __tablename__ = "products"

    community_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("communities.id"))
    name: Mapped[str] = mapped_column(String(TITLE_MAX))
    description: Mapped[str] = mapped_column(Text, default="")
    category: Mapped[str] = mapped_column(String(NAME_MAX), default="")
    points: Mapped[int]
    stock: Mapped[int]
    limit_per_member: Mapped[int | None] = mapped_column(default=None)
    """Units one member may order per calendar month (community time zone); ``None`` is no limit."""
    active: Mapped[bool] = mapped_column(default=True)
    available_from: Mapped[datetime | None] = mapped_column(default=None)
    available_until: Mapped[datetime | None] = mapped_column(default=None)
    image_version: Mapped[int] = mapped_column(default=0)
    """0 without an image; bumped on every upload so image URLs can be cached forever."""

    __table_args__ = (
        CheckConstraint("stock >= 0", name="stock_not_negative"),
        CheckConstraint("points > 0", name="points_positive"),
        CheckConstraint("limit_per_member IS NULL OR limit_per_member > 0", name="limit_positive"),
        Index("ix_products_community_name", "community_id", "name"),
    )


class ProductImage(Base):
    """A product's re-encoded image and thumbnail, in the database so app servers stay stateless."""

    __tablename__ = "product_images"

    product_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("products.id"), primary_key=True)
    community_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("communities.id"))
    media_type: Mapped[str] = mapped_column(String(32))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    thumb_media_type: Mapped[str] = mapped_column(String(32))
    thumb: Mapped[bytes] = mapped_column(LargeBinary)
    width: Mapped[int]
    height: Mapped[int]
    updated_at: Mapped[datetime] = mapped_column(default=clock.now)


class Order(IdMixin, TimestampMixin, Base):
    """A member's reservation of a product: points held, stock taken, collected with a pickup code."""

    __tablename__ = "orders"

    community_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("communities.id"))
    product_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("products.id"))
    member_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("members.id"))
    quantity: Mapped[int]
    points: Mapped[int]
    status: Mapped[OrderStatus] = mapped_column(String(16), default="reserved")
    pickup_code: Mapped[str] = mapped_column(String(CODE_LENGTH))
    hold_id: Mapped[uuid.UUID]
    expires_at: Mapped[datetime]
    closed_at: Mapped[datetime | None] = mapped_column(default=None)
    closed_by: Mapped[uuid.UUID | None] = mapped_column(default=None)
    """Who fulfilled or cancelled it (``None`` when it expired)."""

    __table_args__ = (
        UniqueConstraint("community_id", "pickup_code", name="pickup_code_once"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("points > 0", name="points_positive"),
        CheckConstraint("status IN ('reserved','fulfilled','cancelled','expired')", name="known_status"),
        Index("ix_orders_product_member", "product_id", "member_id", "created_at"),
        Index("ix_orders_member", "member_id", "community_id"),
        Index("ix_orders_status_expires", "status", "expires_at"),
    )


class Offer(IdMixin, TimestampMixin, Base):
    """A partner shop's discount for points (积分兑换优惠). A region's unit's offer has no community: every
    community under the region sees it, and each voucher carries the claiming member's community."""

    __tablename__ = "offers"

    community_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("communities.id"), default=None)
    partner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("partners.id"))
    title: Mapped[str] = mapped_column(String(TITLE_MAX))
    description: Mapped[str] = mapped_column(Text, default="")
    points: Mapped[int]
    valid_from: Mapped[datetime | None] = mapped_column(default=None)
    valid_until: Mapped[datetime | None] = mapped_column(default=None)
    quota_total: Mapped[int | None] = mapped_column(default=None)
    claimed_count: Mapped[int] = mapped_column(default=0)
    """Vouchers issued or redeemed (expired and cancelled ones give their place back)."""
    limit_per_member: Mapped[int | None] = mapped_column(default=None)
    monthly_quota: Mapped[int | None] = mapped_column(default=None)
    """Vouchers of this offer per calendar month (issued or redeemed); ``None`` is no limit."""
    member_month_limit: Mapped[int | None] = mapped_column(default=None)
    """Vouchers of this offer one member may hold or use per calendar month; ``None`` is no limit."""
    voucher_minutes: Mapped[int | None] = mapped_column(default=None)
    """How long its vouchers stay valid; ``None`` uses the community's setting or the default."""
    active: Mapped[bool] = mapped_column(default=True)

    __table_args__ = (
        CheckConstraint("points > 0", name="points_positive"),
        CheckConstraint("monthly_quota IS NULL OR monthly_quota > 0", name="monthly_quota_positive"),
        CheckConstraint("member_month_limit IS NULL OR member_month_limit > 0", name="member_month_positive"),
        CheckConstraint("claimed_count >= 0", name="claimed_not_negative"),
        CheckConstraint("quota_total IS NULL OR claimed_count <= quota_total", name="within_quota"),
        Index("ix_offers_community", "community_id", "active"),
        Index("ix_offers_partner", "partner_id"),
    )


class Voucher(IdMixin, TimestampMixin, Base):
    """A one-time code for an offer: points held until the partner's staff redeem it."""

    __tablename__ = "vouchers"

    community_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("communities.id"))
    partner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("partners.id"))
    offer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("offers.id"))
    member_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("members.id"))
    code: Mapped[str] = mapped_column(String(CODE_LENGTH))
    points: Mapped[int]
    status: Mapped[VoucherStatus] = mapped_column(String(16), default="issued")
    hold_id: Mapped[uuid.UUID]
    expires_at: Mapped[datetime]
    redeemed_at: Mapped[datetime | None] = mapped_column(default=None)
    redeemed_by: Mapped[uuid.UUID | None] = mapped_column(default=None)

    __table_args__ = (
        UniqueConstraint("community_id", "code", name="voucher_code_once"),
        CheckConstraint("points > 0", name="points_positive"),
        CheckConstraint("status IN ('issued','redeemed','expired','cancelled')", name="known_status"),
        CheckConstraint("(status = 'redeemed') = (redeemed_at IS NOT NULL)", name="redeemed_time"),
        Index("ix_vouchers_offer_member", "offer_id", "member_id"),
        Index("ix_vouchers_member", "member_id", "community_id"),
        Index("ix_vouchers_partner_redeemed", "partner_id", "redeemed_at"),
        Index("ix_vouchers_status_expires", "status", "expires_at"),
        # this month's vouchers of an offer or a unit (the claims' monthly quotas)
        Index("ix_vouchers_offer_created", "offer_id", "created_at"),
        Index("ix_vouchers_partner_created", "partner_id", "created_at"),
    )


class StoreSettings(Base):
    """Per-community store settings: points-to-yuan rate for statements, voucher lifetime."""

    __tablename__ = "store_settings"

    community_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("communities.id"), primary_key=True)
    fen_per_point: Mapped[int | None] = mapped_column(default=None)
    """What one point is worth on statements, in fen (0.01 yuan); ``None`` shows no money."""
    voucher_minutes: Mapped[int | None] = mapped_column(default=None)
    order_days: Mapped[int | None] = mapped_column(default=None)
    updated_at: Mapped[datetime] = mapped_column(default=clock.now)

    __table_args__ = (
        CheckConstraint("fen_per_point IS NULL OR fen_per_point >= 0", name="rate_not_negative"),
    )
