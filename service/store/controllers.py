"""HTTP routes of the store domain: the points supermarket and the partner alliance."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from functools import partial
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

import msgspec
from litestar import Controller, Request, Response, get, patch, post, put
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from service.accounts.actor import Actor
from service.accounts.views import PartnerView, member_names, partner_names
from service.config import UPLOAD_MAX_BYTES, Settings
from service.http import (
    IMAGE_TYPES,
    Limit,
    MonthQuery,
    cursor_after,
    cursor_for,
    errors_of,
    idempotent,
    or_pending,
    pending_specs,
    raw_body,
)
from service.kit import csv as kit_csv
from service.kit import qr
from service.kit.masking import mask_code
from service.kit.xlsx import xlsx_bytes
from service.points.errors import IdempotencyConflict
from service.problems import localise
from service.store import rules, service, views
from service.store.errors import InvalidCursor, InvalidImage
from service.store.models import Offer, Order, Product, StoreSettings, Voucher
from service.store.rules import OrderStatus, VoucherStatus
from service.store.schemas import (
    ClaimIn,
    CodeIn,
    CommunityShareOut,
    OfferIn,
    OfferOut,
    OrderIn,
    OrderOut,
    OrderPage,
    PartnerReportOut,
    PickupIn,
    PickupOut,
    ProductIn,
    ProductOut,
    ProductPatch,
    RedeemOut,
    SettingsIn,
    SettingsOut,
    SettlementItem,
    SettlementOut,
    StatusOut,
    VoucherOut,
    VoucherPage,
)

__all__ = ["ROUTES", "OfferController", "OrderController", "ProductController"]

Cursor = Annotated[str | None, Parameter(max_length=200)]
Month = MonthQuery
Format = Annotated[
    Literal["json", "csv", "xlsx"], Parameter(description="csv: UTF-8 with BOM, for Excel; xlsx: a workbook")
]
IMAGE_BODY_MAX = UPLOAD_MAX_BYTES + 65_536
CSV_TYPE = "text/csv; charset=utf-8"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PNG_CACHE = {"Cache-Control": "private, no-store"}


# ---------------------------------------------------------------- shaping


def product_out(p: Product, my_limit_left: int | None = None) -> ProductOut:
    base = f"/api/v1/products/{p.id}"
    return ProductOut(
        id=p.id,
        community_id=p.community_id,
        name=p.name,
        description=p.description,
        category=p.category,
        points=p.points,
        stock=p.stock,
        limit_per_member=p.limit_per_member,
        my_limit_left=my_limit_left if my_limit_left is not None else p.limit_per_member,
        active=p.active,
        available_from=p.available_from,
        available_until=p.available_until,
        image_url=f"{base}/image?v={p.image_version}" if p.image_version else None,
        thumb_url=f"{base}/thumb?v={p.image_version}" if p.image_version else None,
    )


def order_out(
    o: Order, product_name: str, settings: Settings, member_name: str | None = None, *, staff: bool = False
) -> OrderOut:
    """``staff``: the order as a clerk's list shows it, the pickup code masked and no URL or QR that
    would carry it, so a hand-out needs the code the member shows."""
    return OrderOut(
        id=o.id,
        status=o.status,
        points=o.points,
        pickup_code=mask_code(o.pickup_code) if staff else o.pickup_code,
        expires_at=o.expires_at,
        product_id=o.product_id,
        product_name=product_name,
        quantity=o.quantity,
        member_id=o.member_id,
        created_at=o.created_at,
        pickup_url="" if staff else f"{settings.public_url}/o/{o.pickup_code}",
        qr_url="" if staff else f"/api/v1/orders/{o.id}/qr.png",
        closed_at=o.closed_at,
        member_name=member_name,
    )


def offer_out(
    o: Offer, partner_name: str, my_claimed: int = 0, partner: PartnerView | None = None
) -> OfferOut:
    return OfferOut(
        id=o.id,
        community_id=o.community_id,
        partner_id=o.partner_id,
        partner_name=partner_name,
        title=o.title,
        description=o.description,
        points=o.points,
        valid_from=o.valid_from,
        valid_until=o.valid_until,
        quota_total=o.quota_total,
        quota_left=None if o.quota_total is None else max(0, o.quota_total - o.claimed_count),
        limit_per_member=o.limit_per_member,
        voucher_minutes=o.voucher_minutes,
        active=o.active,
        my_claimed=my_claimed,
        monthly_quota=o.monthly_quota,
        member_month_limit=o.member_month_limit,
        partner_kind=partner.kind if partner else None,
        address=partner.address if partner else None,
        hours=partner.hours if partner else None,
    )


def voucher_out(
    v: Voucher,
    settings: Settings,
    offer_title: str | None = None,
    partner_name: str | None = None,
    member_name: str = "",
    *,
    staff: bool = False,
) -> VoucherOut:
    """``staff``: as the partner's list shows it, the code masked and no URL or QR that carries it."""
    return VoucherOut(
        id=v.id,
        code=mask_code(v.code) if staff else v.code,
        status=v.status,
        expires_at=v.expires_at,
        points=v.points,
        offer_id=v.offer_id,
        partner_id=v.partner_id,
        created_at=v.created_at,
        voucher_url="" if staff else f"{settings.public_url}/v/{v.code}",
        qr_url="" if staff else f"/api/v1/vouchers/{v.id}/qr.png",
        offer_title=offer_title,
        partner_name=partner_name,
        redeemed_at=v.redeemed_at,
        member_name=member_name or None,
    )


def settings_out(s: StoreSettings) -> SettingsOut:
    return SettingsOut(
        community_id=s.community_id,
        fen_per_point=s.fen_per_point,
        voucher_minutes=s.voucher_minutes or rules.VOUCHER_MINUTES_DEFAULT,
        order_days=s.order_days or rules.ORDER_DAYS_DEFAULT,
    )


def _png(data: bytes) -> Response[bytes]:
    return Response(data, media_type="image/png", headers=PNG_CACHE)


def _csv(data: bytes, filename: str) -> Response[bytes]:
    return Response(
        data,
        media_type=CSV_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"},
    )


async def _image_bytes(request: Request[Any, Any, Any]) -> bytes:
    """The upload, sent either as the raw body or as the ``image`` (or ``file``) multipart field."""
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        form = await request.form()
        upload = form.get("image") or form.get("file")
        if upload is None or isinstance(upload, str):
            raise InvalidImage(detail="Send the image in the multipart field 'image'.")
        data: bytes = await upload.read()
        return data
    return await request.body()


# ---------------------------------------------------------------- products


class ProductController(Controller):
    path = "/api/v1"
    tags = ["store"]

    @post(
        "/communities/{cid:uuid}/products",
        summary="Add a product to the points supermarket (clerk)",
        responses=errors_of(service.create_product),
    )
    async def create(self, db: AsyncSession, actor: Actor, cid: uuid.UUID, data: ProductIn) -> ProductOut:
        p = await service.create_product(
            db, actor, cid, name=data.name, points_price=data.points, stock=data.stock,
            description=data.description, category=data.category, limit_per_member=data.limit_per_member,
            available_from=data.available_from, available_until=data.available_until,
        )  # fmt: skip
        return product_out(p)

    @get(
        "/communities/{cid:uuid}/products",
        summary="Products on offer, with stock left and the caller's monthly limit left (member)",
        description="`all=true` (clerks) includes inactive and out-of-window products.",
        responses=errors_of(views.list_products),
    )
    async def list_products(
        self, db: AsyncSession, actor: Actor, cid: uuid.UUID, all: bool = False
    ) -> list[ProductOut]:
        found = await views.list_products(db, actor, cid, include_inactive=all)
        return [product_out(v.product, v.my_limit_left) for v in found]

    @patch(
        "/products/{pid:uuid}",
        summary="Change a product; stock_delta adds to or takes from the stock (clerk)",
        description="A lower price answers 202 with a proposal an admin other than the caller approves "
        "(the other fields change at once); a higher price applies at once.",
        responses={**pending_specs(ProductOut), **errors_of(service.update_product)},
    )
    async def update(
        self, db: AsyncSession, actor: Actor, pid: uuid.UUID, data: ProductPatch
    ) -> Response[ProductOut]:
        changes = {f: getattr(data, f) for f in data.__struct_fields__ if f != "stock_delta"}
        changes = {k: v for k, v in changes.items() if v is not msgspec.UNSET}
        return or_pending(
            await service.update_product(db, actor, pid, changes, data.stock_delta), product_out
        )

    @put(
        "/products/{pid:uuid}/image",
        status_code=200,
        request_max_body_size=IMAGE_BODY_MAX,
        summary="Upload the product's image as the raw body or the multipart field 'image' (clerk)",
        description="JPEG, PNG, WebP, GIF or BMP up to 5 MB; re-encoded without EXIF, with a thumbnail. "
        "A larger body is refused request_too_large (413).",
        responses=errors_of(service.set_product_image, InvalidImage),
        opt=raw_body(
            "The image: the raw body, or the multipart field 'image'.", *IMAGE_TYPES, "multipart/form-data"
        ),
    )
    async def upload_image(
        self, request: Request[Any, Any, Any], db: AsyncSession, actor: Actor, pid: uuid.UUID
    ) -> ProductOut:
        raw = await _image_bytes(request)
        return product_out(await service.set_product_image(db, actor, pid, raw))

    @get(
        "/products/{pid:uuid}/image",
        summary="The product's image",
        media_type="image/jpeg",
        responses=errors_of(views.product_image),
    )
    async def image(self, db: AsyncSession, pid: uuid.UUID) -> Response[bytes]:
        data, media = await views.product_image(db, pid, thumb=False)
        return Response(data, media_type=media, headers={"Cache-Control": "public, max-age=86400"})

    @get(
        "/products/{pid:uuid}/thumb",
        summary="The product's thumbnail",
        media_type="image/jpeg",
        responses=errors_of(views.product_image),
    )
    async def thumb(self, db: AsyncSession, pid: uuid.UUID) -> Response[bytes]:
        data, media = await views.product_image(db, pid, thumb=True)
        return Response(data, media_type=media, headers={"Cache-Control": "public, max-age=86400"})

    @get(
        "/communities/{cid:uuid}/store-settings",
        summary="Store settings of the community (member)",
        responses=errors_of(views.settings_for),
    )
    async def get_settings(self, db: AsyncSession, actor: Actor, cid: uuid.UUID) -> SettingsOut:
        return settings_out(await views.settings_for(db, actor, cid))

    @put(
        "/communities/{cid:uuid}/store-settings",
        status_code=200,
        summary="Set the points-to-yuan rate (fen per point), voucher minutes and order days (admin)",
        description="A higher fen_per_point (what partners settle for) answers 202 with a proposal another "
        "admin approves; the rest applies at once.",
        responses={**pending_specs(SettingsOut), **errors_of(service.update_settings)},
    )
    async def put_settings(
        self, db: AsyncSession, actor: Actor, cid: uuid.UUID, data: SettingsIn
    ) -> Response[SettingsOut]:
        s = await service.update_settings(
            db, actor, cid, fen_per_point=data.fen_per_point, voucher_minutes=data.voucher_minutes,
            order_days=data.order_days,
        )  # fmt: skip
        return or_pending(s, settings_out)


# ---------------------------------------------------------------- orders


class OrderController(Controller):
    path = "/api/v1"
    tags = ["store"]

    @post(
        "/orders",
        status_code=201,
        summary="Reserve a product: holds the points, takes the stock, gives a pickup code (member)",
        description="Accepts Idempotency-Key.",
        responses={
            201: ResponseSpec(data_container=OrderOut, description="The reserved order"),
            **errors_of(idempotent, service.reserve, IdempotencyConflict),
        },
    )
    async def reserve(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        actor: Actor,
        settings: Settings,
        data: OrderIn,
    ) -> Response[bytes]:
        async def work() -> tuple[int, OrderOut]:
            done = await service.reserve(db, actor, data.product_id, data.quantity)
            return 201, order_out(done.order, done.product_name, settings)

        return await idempotent(request, db, actor, work)

    @post(
        "/orders/pickup",
        status_code=200,
        summary="Hand out an order by its pickup code; the points post to the store (clerk)",
        description="The code may be typed or scanned (the /o/<code> URL works too).",
        responses={
            200: ResponseSpec(data_container=PickupOut, description="The fulfilled order"),
            **errors_of(idempotent, service.pickup_order, views.get_product),
        },
    )
    async def pickup(
        self, request: Request[Any, Any, Any], db: AsyncSession, actor: Actor, data: PickupIn
    ) -> Response[bytes]:
        async def work() -> tuple[int, PickupOut]:
            o = await service.pickup_order(db, actor, data.pickup_code)
            p = await views.get_product(db, o.product_id)
            names = await member_names(db, [o.member_id], masked=True)
            return 200, PickupOut(
                status="fulfilled",
                id=o.id,
                points=o.points,
                product_name=p.name,
                quantity=o.quantity,
                member_name=names.get(o.member_id, ""),
            )

        return await idempotent(request, db, actor, work)

    @post(
        "/orders/{oid:uuid}/cancel",
        status_code=200,
        summary="Cancel a reserved order: points and stock come back (the member or a clerk)",
        responses=errors_of(service.cancel_order),
    )
    async def cancel(self, db: AsyncSession, actor: Actor, oid: uuid.UUID) -> StatusOut:
        order = await service.cancel_order(db, actor, oid)
        return StatusOut(status=order.status, id=order.id)

    @get(
        "/orders/{oid:uuid}",
        summary="One order (its member, or a clerk who sees the pickup code masked)",
        responses=errors_of(views.order_for_viewer),
    )
    async def show(self, db: AsyncSession, actor: Actor, settings: Settings, oid: uuid.UUID) -> OrderOut:
        order, product = await views.order_for_viewer(db, actor, oid)
        return order_out(order, product.name, settings, staff=order.member_id != actor.member_id)

    @get(
        "/orders/{oid:uuid}/qr.png",
        summary="QR code of the order's pickup URL <public_url>/o/<code> (its member only)",
        media_type="image/png",
        responses=errors_of(views.order_for_viewer),
    )
    async def qr(self, db: AsyncSession, actor: Actor, settings: Settings, oid: uuid.UUID) -> Response[bytes]:
        order, _ = await views.order_for_viewer(db, actor, oid, owner_only=True)
        return _png(qr.png(f"{settings.public_url}/o/{order.pickup_code}"))

    @get(
        "/me/orders",
        summary="The caller's orders in a community, newest first",
        responses=errors_of(views.list_orders, InvalidCursor),
    )
    async def mine(
        self, db: AsyncSession, actor: Actor, settings: Settings, community_id: uuid.UUID, limit: Limit,
        cursor: Cursor = None,
    ) -> OrderPage:  # fmt: skip
        rows, last = await views.list_orders(
            db, actor, community_id, mine=True, limit=limit, before=cursor_after(cursor)
        )
        return OrderPage(
            items=[order_out(r.order, r.product_name, settings) for r in rows], next_cursor=cursor_for(last)
        )

    @get(
        "/communities/{cid:uuid}/orders",
        summary="Orders of the community, newest first (clerk)",
        responses=errors_of(views.list_orders, InvalidCursor),
    )
    async def community_orders(
        self, db: AsyncSession, actor: Actor, settings: Settings, cid: uuid.UUID, limit: Limit,
        cursor: Cursor = None, status: OrderStatus | None = None,
    ) -> OrderPage:  # fmt: skip
        rows, last = await views.list_orders(
            db, actor, cid, mine=False, status=status, limit=limit, before=cursor_after(cursor)
        )
        items = [order_out(r.order, r.product_name, settings, r.member_name, staff=True) for r in rows]
        return OrderPage(items=items, next_cursor=cursor_for(last))


# ---------------------------------------------------------------- partner alliance


class OfferController(Controller):
    path = "/api/v1"
    tags = ["partner alliance"]

    @post(
        "/partners/{pid:uuid}/offers",
        summary="Publish a discount for points (admin or that partner's staff)",
        responses=errors_of(service.create_offer),
    )
    async def create_offer(self, db: AsyncSession, actor: Actor, pid: uuid.UUID, data: OfferIn) -> OfferOut:
        o = await service.create_offer(
            db, actor, pid, title=data.title, points_price=data.points, description=data.description,
            valid_from=data.valid_from, valid_until=data.valid_until, quota_total=data.quota_total,
            limit_per_member=data.limit_per_member, voucher_minutes=data.voucher_minutes,
            voucher_hours=data.voucher_hours, monthly_quota=data.monthly_quota,
            member_month_limit=data.member_month_limit,
        )  # fmt: skip
        return offer_out(o, (await partner_names(db, [pid])).get(pid, ""))

    @get(
        "/partners/{pid:uuid}/offers",
        summary="All offers of a partner (admin or that partner's staff)",
        responses=errors_of(views.partner_offers),
    )
    async def partner_offers(self, db: AsyncSession, actor: Actor, pid: uuid.UUID) -> list[OfferOut]:
        rows = await views.partner_offers(db, actor, pid)
        return [offer_out(r.offer, r.partner.name, r.my_claimed, r.partner) for r in rows]

    @get(
        "/communities/{cid:uuid}/offers",
        summary="Offers open now in the community: its own shops' and the units' of every region above it "
        "(member)",
        responses=errors_of(views.list_offers),
    )
    async def list_offers(self, db: AsyncSession, actor: Actor, cid: uuid.UUID) -> list[OfferOut]:
        return [
            offer_out(r.offer, r.partner.name, r.my_claimed, r.partner)
            for r in await views.list_offers(db, actor, cid)
        ]

    @post(
        "/offers/{oid:uuid}/vouchers",
        status_code=201,
        summary="Claim a voucher: holds the points, gives a one-time code valid for the offer's validity "
        "(member)",
        description="Accepts Idempotency-Key. The body may name `community_id`: whose points pay, when the "
        "caller belongs to several communities a region's unit serves (`community_required` otherwise).",
        responses={
            201: ResponseSpec(data_container=VoucherOut, description="The issued voucher"),
            **errors_of(idempotent, service.claim_voucher, IdempotencyConflict),
        },
    )
    async def claim(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        actor: Actor,
        settings: Settings,
        oid: uuid.UUID,
        data: ClaimIn | None = None,
    ) -> Response[bytes]:
        cid = data.community_id if data is not None else None

        async def work() -> tuple[int, VoucherOut]:
            return 201, voucher_out(await service.claim_voucher(db, actor, oid, cid), settings)

        return await idempotent(request, db, actor, work)

    @post(
        "/vouchers/redeem",
        status_code=200,
        summary="Redeem a voucher code; the points go to the partner (that partner's staff)",
        description="The code may be typed or scanned (the /v/<code> URL works too). Another partner's code "
        "is refused as voucher_not_found and changes nothing.",
        responses={
            200: ResponseSpec(data_container=RedeemOut, description="The redeemed voucher"),
            **errors_of(idempotent, service.redeem_voucher, IdempotencyConflict),
        },
    )
    async def redeem(
        self, request: Request[Any, Any, Any], db: AsyncSession, actor: Actor, data: CodeIn
    ) -> Response[bytes]:
        async def work() -> tuple[int, RedeemOut]:
            r = await service.redeem_voucher(db, actor, data.code)
            v = r.voucher
            return 200, RedeemOut(
                status="redeemed",
                id=v.id,
                points=v.points,
                offer=offer_out(r.offer, r.shop_name),
                member_name=r.member_name,
                redeemed_at=v.redeemed_at or v.created_at,
            )

        return await idempotent(request, db, actor, work)

    @post(
        "/vouchers/{vid:uuid}/cancel",
        status_code=200,
        summary="Give back an unused voucher; its points are released (the member)",
        responses=errors_of(service.cancel_voucher),
    )
    async def cancel(self, db: AsyncSession, actor: Actor, vid: uuid.UUID) -> StatusOut:
        v = await service.cancel_voucher(db, actor, vid)
        return StatusOut(status=v.status, id=v.id)

    @get(
        "/vouchers/{vid:uuid}/qr.png",
        summary="QR code of the voucher URL <public_url>/v/<code> (its member)",
        media_type="image/png",
        responses=errors_of(views.voucher_for_viewer),
    )
    async def qr(self, db: AsyncSession, actor: Actor, settings: Settings, vid: uuid.UUID) -> Response[bytes]:
        voucher, _ = await views.voucher_for_viewer(db, actor, vid, owner_only=True)
        return _png(qr.png(f"{settings.public_url}/v/{voucher.code}"))

    @get(
        "/me/vouchers",
        summary="The caller's vouchers in a community, newest first",
        responses=errors_of(views.list_vouchers, InvalidCursor),
    )
    async def mine(
        self, db: AsyncSession, actor: Actor, settings: Settings, community_id: uuid.UUID, limit: Limit,
        cursor: Cursor = None,
    ) -> VoucherPage:  # fmt: skip
        rows, last = await views.list_vouchers(
            db, actor, community_id, limit=limit, before=cursor_after(cursor)
        )
        items = [voucher_out(r.voucher, settings, r.offer_title, r.partner_name) for r in rows]
        return VoucherPage(items=items, next_cursor=cursor_for(last))

    @get(
        "/partners/{pid:uuid}/vouchers",
        summary="A partner's vouchers, newest first (that partner's staff)",
        responses=errors_of(views.partner_vouchers, InvalidCursor),
    )
    async def partner_vouchers(
        self, db: AsyncSession, actor: Actor, settings: Settings, pid: uuid.UUID, limit: Limit,
        cursor: Cursor = None, status: VoucherStatus | None = None,
    ) -> VoucherPage:  # fmt: skip
        rows, last = await views.partner_vouchers(
            db, actor, pid, status=status, limit=limit, before=cursor_after(cursor)
        )
        items = [
            voucher_out(r.voucher, settings, r.offer_title, r.partner_name, r.member_name, staff=True)
            for r in rows
        ]
        return VoucherPage(items=items, next_cursor=cursor_for(last))

    @get(
        "/partners/{pid:uuid}/settlement",
        summary="A partner's monthly statement: count, points, yuan and the list (admin or that partner)",
        description="`format=csv` gives a spreadsheet for Excel (UTF-8 with BOM, headers in the reader's "
        "language, times in the community's time zone), `format=xlsx` a workbook (a sheet per community, "
        "then the redemptions). `communities` has a row per community whose residents redeemed.",
        responses={
            200: ResponseSpec(data_container=SettlementOut, description="The statement"),
            **errors_of(views.settlement),
        },
    )
    async def settlement(
        self, request: Request[Any, Any, Any], db: AsyncSession, actor: Actor, pid: uuid.UUID,
        month: Month = None, format: Format = "json",
    ) -> Response[Any]:  # fmt: skip
        st = await views.settlement(db, actor, pid, month)
        if format == "csv":
            return _csv(_settlement_csv(st, partial(localise, request)), f"settlement-{st.month}.csv")
        if format == "xlsx":
            return _xlsx(_settlement_xlsx(st, partial(localise, request)), f"settlement-{st.month}.xlsx")
        return Response(_settlement_out(st))

    @get(
        "/communities/{cid:uuid}/partner-report",
        summary="Every partner's redemptions in a month, with totals (admin)",
        description="`format=csv` gives a spreadsheet for Excel.",
        responses={
            200: ResponseSpec(data_container=PartnerReportOut, description="The report"),
            **errors_of(views.community_report),
        },
    )
    async def partner_report(
        self, request: Request[Any, Any, Any], db: AsyncSession, actor: Actor, cid: uuid.UUID,
        month: Month = None, format: Format = "json",
    ) -> Response[Any]:  # fmt: skip
        report = await views.community_report(db, actor, cid, month)
        if format == "csv":
            return _csv(_report_csv(report, partial(localise, request)), f"partners-{report.month}.csv")
        return Response(msgspec.convert(report, PartnerReportOut, from_attributes=True))


def _settlement_out(st: views.Statement) -> SettlementOut:
    items = [
        SettlementItem(
            voucher_id=v.id,
            code=v.code,
            offer_title=title,
            points=v.points,
            member_name=who,
            redeemed_at=v.redeemed_at or v.created_at,
        )
        for v, title, who in st.items
    ]
    return SettlementOut(
        partner_id=st.partner_id,
        partner_name=st.partner_name,
        month=st.month,
        count=st.count,
        points=st.points,
        fen_per_point=st.fen_per_point,
        yuan=st.yuan,
        items=items,
        communities=[msgspec.convert(c, CommunityShareOut, from_attributes=True) for c in st.communities],
    )


SETTLEMENT_CSV_HEADERS = ("Redeemed at", "Voucher code", "Offer", "Points", "Member", "Yuan")
PARTNER_REPORT_CSV_HEADERS = ("Partner", "Redemptions", "Points", "Yuan")


def _settlement_csv(st: views.Statement, translate: Callable[[str], str]) -> bytes:
    rows: list[list[object]] = [
        [v.redeemed_at or v.created_at, v.code, title, v.points, who, rules.yuan(v.points, st.fen_per_point)]
        for v, title, who in st.items
    ]
    for c in st.communities if st.region_unit else ():  # a unit settles with each community apart
        rows.append(
            [c.community_name, "", translate("%(n)s redemptions") % {"n": c.count}, c.points, "", c.yuan]
        )
    total = translate("%(partner)s %(month)s total") % {"partner": st.partner_name, "month": st.month}
    rows.append([total, "", translate("%(n)s redemptions") % {"n": st.count}, st.points, "", st.yuan])
    return kit_csv.csv_bytes(SETTLEMENT_CSV_HEADERS, rows, tz=st.timezone, translate=translate)


SETTLEMENT_COMMUNITY_HEADERS = ("Community", "Redemptions", "Points", "Yuan")


def _settlement_xlsx(st: views.Statement, translate: Callable[[str], str]) -> bytes:
    """The statement as a workbook through the kit's writer: a row per community, then the redemptions
    (times in the statement's time zone)."""
    shares: list[list[object]] = [[translate(h) for h in SETTLEMENT_COMMUNITY_HEADERS]]
    shares += [[c.community_name, c.count, c.points, c.yuan] for c in st.communities]
    shares.append([translate("Total"), st.count, st.points, st.yuan])
    items: list[list[object]] = [[translate(h) for h in SETTLEMENT_CSV_HEADERS]]
    zone = ZoneInfo(st.timezone)
    for v, title, who in st.items:
        at = (v.redeemed_at or v.created_at).astimezone(zone).strftime("%Y-%m-%d %H:%M")
        items.append([at, v.code, title, v.points, who, rules.yuan(v.points, st.fen_per_point)])
    return xlsx_bytes([(translate("Communities"), shares), (translate("Redemptions"), items)])


def _xlsx(data: bytes, filename: str) -> Response[bytes]:
    return Response(
        data,
        media_type=XLSX_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"},
    )


def _report_csv(report: views.PartnerReport, translate: Callable[[str], str]) -> bytes:
    rows: list[tuple[object, ...]] = [
        (ln.partner_name, ln.count, ln.points, ln.yuan) for ln in report.partners
    ]
    rows.append((translate("Total"), report.count, report.points, report.yuan))
    return kit_csv.csv_bytes(PARTNER_REPORT_CSV_HEADERS, rows, tz=report.timezone, translate=translate)


ROUTES: list[Any] = [ProductController, OrderController, OfferController]
