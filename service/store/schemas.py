"""API shapes of the store domain."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

import msgspec

from service.config import NAME_MAX, POINTS_PER_AWARD_MAX, TEXT_MAX
from service.kit.fields import Title
from service.store.rules import (
    CODE_PATTERN,
    ORDER_DAYS_MAX,
    ORDER_QUANTITY_MAX,
    VOUCHER_HOURS_MAX,
    VOUCHER_HOURS_MIN,
    VOUCHER_MINUTES_MAX,
    OrderStatus,
    VoucherStatus,
)

__all__ = [
    "ClaimIn",
    "CodeIn",
    "CommunityShareOut",
    "OfferIn",
    "OfferOut",
    "OrderIn",
    "OrderOut",
    "OrderPage",
    "PartnerLineOut",
    "PartnerReportOut",
    "PickupOut",
    "ProductIn",
    "ProductOut",
    "ProductPatch",
    "RedeemOut",
    "SettingsIn",
    "SettingsOut",
    "SettlementItem",
    "SettlementOut",
    "StatusOut",
    "VoucherOut",
    "VoucherPage",
]

STOCK_MAX = 1_000_000
Points = Annotated[int, msgspec.Meta(ge=1, le=POINTS_PER_AWARD_MAX)]
Count = Annotated[int, msgspec.Meta(ge=1, le=STOCK_MAX)]
Text = Annotated[str, msgspec.Meta(max_length=TEXT_MAX)]
Category = Annotated[str, msgspec.Meta(max_length=NAME_MAX)]
Code = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=200,
        extra_json_schema={"description": "8-letter code, or its URL", "extra": {"pattern": CODE_PATTERN}},
    ),
]
"""A pickup or voucher code as typed or scanned (the service answers ``invalid_code`` off the pattern)."""


class ProductIn(msgspec.Struct, forbid_unknown_fields=True):
    name: Title
    points: Points
    stock: Annotated[int, msgspec.Meta(ge=0, le=STOCK_MAX)]
    description: Text | None = None
    category: Category | None = None
    limit_per_member: Count | None = None
    """Units one member may order per calendar month."""
    available_from: datetime | None = None
    available_until: datetime | None = None


class ProductPatch(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    name: Title | msgspec.UnsetType = msgspec.UNSET
    description: Text | msgspec.UnsetType = msgspec.UNSET
    category: Category | msgspec.UnsetType = msgspec.UNSET
    points: Points | msgspec.UnsetType = msgspec.UNSET
    limit_per_member: Count | msgspec.UnsetType | None = msgspec.UNSET
    active: bool | msgspec.UnsetType = msgspec.UNSET
    available_from: datetime | msgspec.UnsetType | None = msgspec.UNSET
    available_until: datetime | msgspec.UnsetType | None = msgspec.UNSET
    stock_delta: Annotated[int, msgspec.Meta(ge=-STOCK_MAX, le=STOCK_MAX)] = 0
    """Added to the stock (negative takes away); the stock never goes below zero."""


class ProductOut(msgspec.Struct):
    id: uuid.UUID
    community_id: uuid.UUID
    name: str
    description: str
    category: str
    points: int
    stock: int
    limit_per_member: int | None
    my_limit_left: int | None
    active: bool
    available_from: datetime | None
    available_until: datetime | None
    image_url: str | None
    thumb_url: str | None


class OrderIn(msgspec.Struct, forbid_unknown_fields=True):
    product_id: uuid.UUID
    quantity: Annotated[int, msgspec.Meta(ge=1, le=ORDER_QUANTITY_MAX)] = 1


class OrderOut(msgspec.Struct):
    id: uuid.UUID
    status: OrderStatus
    points: int
    pickup_code: str
    expires_at: datetime
    product_id: uuid.UUID
    product_name: str
    quantity: int
    member_id: uuid.UUID
    created_at: datetime
    pickup_url: str
    qr_url: str
    closed_at: datetime | None = None
    member_name: str | None = None


class OrderPage(msgspec.Struct):
    items: list[OrderOut]
    next_cursor: str | None


class CodeIn(msgspec.Struct, forbid_unknown_fields=True):
    code: Code


class PickupIn(msgspec.Struct, forbid_unknown_fields=True):
    pickup_code: Code


class PickupOut(msgspec.Struct):
    status: str
    id: uuid.UUID
    points: int
    product_name: str
    quantity: int
    member_name: str
    """Masked, as the clerk reads it aloud."""


class StatusOut(msgspec.Struct):
    status: str
    id: uuid.UUID


class OfferIn(msgspec.Struct, forbid_unknown_fields=True):
    title: Title
    points: Points
    description: Text | None = None
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    quota_total: Count | None = None
    limit_per_member: Count | None = None
    """Vouchers one member may hold or have used for this offer."""
    voucher_minutes: Annotated[int, msgspec.Meta(ge=1, le=VOUCHER_MINUTES_MAX)] | None = None
    voucher_hours: Annotated[int, msgspec.Meta(ge=VOUCHER_HOURS_MIN, le=VOUCHER_HOURS_MAX)] | None = None
    """How long a voucher stays valid, 1 hour to 30 days (default 7 days; wins over voucher_minutes)."""
    monthly_quota: Count | None = None
    """Vouchers of this offer per calendar month."""
    member_month_limit: Count | None = None
    """Vouchers of this offer one member may claim per calendar month."""


class ClaimIn(msgspec.Struct, forbid_unknown_fields=True):
    community_id: uuid.UUID | None = None
    """Whose points pay, when the caller belongs to several communities a region's unit serves."""


class OfferOut(msgspec.Struct):
    id: uuid.UUID
    community_id: uuid.UUID | None
    partner_id: uuid.UUID
    partner_name: str
    title: str
    description: str
    points: int
    valid_from: datetime | None
    valid_until: datetime | None
    quota_total: int | None
    quota_left: int | None
    limit_per_member: int | None
    voucher_minutes: int | None
    active: bool
    my_claimed: int = 0
    monthly_quota: int | None = None
    member_month_limit: int | None = None
    partner_kind: str | None = None
    address: str | None = None
    hours: str | None = None


class VoucherOut(msgspec.Struct):
    id: uuid.UUID
    code: str
    status: VoucherStatus
    expires_at: datetime
    points: int
    offer_id: uuid.UUID
    partner_id: uuid.UUID
    created_at: datetime
    voucher_url: str
    qr_url: str
    offer_title: str | None = None
    partner_name: str | None = None
    redeemed_at: datetime | None = None
    member_name: str | None = None


class VoucherPage(msgspec.Struct):
    items: list[VoucherOut]
    next_cursor: str | None


class RedeemOut(msgspec.Struct):
    status: str
    id: uuid.UUID
    points: int
    offer: OfferOut
    member_name: str
    """Masked (王*成)."""
    redeemed_at: datetime


class SettlementItem(msgspec.Struct):
    voucher_id: uuid.UUID
    code: str
    offer_title: str
    points: int
    member_name: str
    redeemed_at: datetime


class CommunityShareOut(msgspec.Struct):
    community_id: uuid.UUID
    community_name: str
    count: int
    points: int
    yuan: str | None
    fen_per_point: int | None


class SettlementOut(msgspec.Struct):
    partner_id: uuid.UUID
    partner_name: str
    month: str
    count: int
    points: int
    fen_per_point: int | None
    yuan: str | None
    items: list[SettlementItem]
    communities: list[CommunityShareOut] = []
    """A row per community whose residents redeemed: the unit settles with each community."""


class PartnerLineOut(msgspec.Struct):
    partner_id: uuid.UUID
    partner_name: str
    count: int
    points: int
    yuan: str | None


class PartnerReportOut(msgspec.Struct):
    community_id: uuid.UUID
    month: str
    count: int
    points: int
    yuan: str | None
    fen_per_point: int | None
    partners: list[PartnerLineOut]


class SettingsIn(msgspec.Struct, forbid_unknown_fields=True):
    fen_per_point: Annotated[int, msgspec.Meta(ge=0, le=100_000)] | None = None
    """What one point is worth on statements, in fen (1 fen = 0.01 yuan)."""
    voucher_minutes: Annotated[int, msgspec.Meta(ge=1, le=VOUCHER_MINUTES_MAX)] | None = None
    order_days: Annotated[int, msgspec.Meta(ge=1, le=ORDER_DAYS_MAX)] | None = None


class SettingsOut(msgspec.Struct):
    community_id: uuid.UUID
    fen_per_point: int | None
    voucher_minutes: int
    order_days: int
