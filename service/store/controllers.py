"""HTTP routes of the store domain: the points supermarket and the partner alliance."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from functools import partial
from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Request, Response, get, patch, post, put
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from service.accounts.models import Partner
from service.accounts.service import Actor
from service.config import Settings
from service.errors import InvalidInput
from service.http import Limit, decode_cursor, encode_cursor, idempotent
from service.kit import csv as kit_csv
from service.kit import qr
from service.kit.masking import mask_code, mask_name
from service.problems import localise
from service.store import rules, service
from service.store.models import Offer, Order, Product, StoreSettings, Voucher
from service.store.schemas import (
    CodeIn,
    OfferIn,
    OfferOut,
    OrderIn,
    OrderOut,
    OrderPage,
    PartnerLineOut,
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
Month = Annotated[str | None, Parameter(max_length=7, description="YYYY-MM (default: this month)")]
Format = Annotated[Literal["json", "csv"], Parameter(description="csv: UTF-8 with BOM, for Excel")]
IMAGE_BODY_MAX = rules.IMAGE_MAX_BYTES + 65_536
CSV_TYPE = "text/csv; charset=utf-8"
PNG_CACHE = {"Cache-Control": "private, no-store"}


# ---------------------------------------------------------------- shaping


def product_out(p: Product, my_limit_left: int | None = None) -> ProductOut:
    base = f"/api/v1/products/{p.id}"
    image = f"{base}/image?v={p.image_version}" if p.image_version else None
    thumb = f"{base}/thumb?v={p.image_version}" if p.image_version else None
    left = my_limit_left if my_limit_left is not None else p.limit_per_member
    return ProductOut(
        p.id, p.community_id, p.name, p.description, p.category, p.points, p.stock, p.limit_per_member,
        left, p.active, p.available_from, p.available_until, image, thumb,
    )  # fmt: skip


def order_out(
    o: Order, product_name: str, settings: Settings, member_name: str | None = None, *, staff: bool = False
) -> OrderOut:
    """``staff``: the order as a clerk's list shows it, the pickup code masked and no URL or QR that
    would carry it, so a hand-out needs the code the member shows."""
    if staff:
        code, url, qr_url = mask_code(o.pickup_code), "", ""
    else:
        code, url, qr_url = (
            o.pickup_code,
            f"{settings.public_url}/o/{o.pickup_code}",
            f"/api/v1/orders/{o.id}/qr.png",
        )
    return OrderOut(
        o.id, o.status, o.points, code, o.expires_at, o.product_id, product_name, o.quantity,
        o.member_id, o.created_at, url, qr_url, o.closed_at, member_name,
    )  # fmt: skip


def offer_out(o: Offer, partner_name: str, my_claimed: int = 0) -> OfferOut:
    left = None if o.quota_total is None else max(0, o.quota_total - o.claimed_count)
    return OfferOut(
        o.id, o.community_id, o.partner_id, partner_name, o.title, o.description, o.points, o.valid_from,
        o.valid_until, o.quota_total, left, o.limit_per_member, o.voucher_minutes, o.active, my_claimed,
    )  # fmt: skip


def voucher_out(
    v: Voucher, settings: Settings, offer: Offer | None = None, partner: Partner | None = None, who: str = "",
    *, staff: bool = False,
) -> VoucherOut:  # fmt: skip
    """``staff``: as the partner's list shows it, the code masked and no URL or QR that carries it."""
    if staff:
        code, url, qr_url = mask_code(v.code), "", ""
    else:
        code, url, qr_url = v.code, f"{settings.public_url}/v/{v.code}", f"/api/v1/vouchers/{v.id}/qr.png"
    return VoucherOut(
        v.id, code, v.status, v.expires_at, v.points, v.offer_id, v.partner_id, v.created_at, url, qr_url,
        offer.title if offer else None, partner.name if partner else None, v.redeemed_at, who or None,
    )  # fmt: skip


def settings_out(s: StoreSettings) -> SettingsOut:
    return SettingsOut(
        s.community_id,
        s.fen_per_point,
        s.voucher_minutes or rules.VOUCHER_MINUTES_DEFAULT,
        s.order_days or rules.ORDER_DAYS_DEFAULT,
    )


def _after(cursor: str | None) -> uuid.UUID | None:
    raw = decode_cursor(cursor)
    try:
        return uuid.UUID(raw) if raw else None
    except ValueError as exc:
        raise InvalidInput("invalid_cursor", "The cursor is not one this API gave out.") from exc


def _next(last: uuid.UUID | None) -> str | None:
    return encode_cursor(str(last)) if last else None


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
            raise InvalidInput("invalid_image", "Send the image in the multipart field 'image'.")
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
        description="Errors: invalid_name, invalid_points, invalid_stock, invalid_window, forbidden.",
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
        description="`all=true` (clerks) includes inactive and out-of-window products. Errors: forbidden.",
    )
    async def list_products(
        self, db: AsyncSession, actor: Actor, cid: uuid.UUID, all: bool = False
    ) -> list[ProductOut]:
        views = await service.list_products(db, actor, cid, include_inactive=all)
        return [product_out(v.product, v.my_limit_left) for v in views]

    @patch(
        "/products/{pid:uuid}",
        summary="Change a product; stock_delta adds to or takes from the stock (clerk)",
        description="Errors: product_not_found, stock_not_enough (409), invalid_window, forbidden.",
    )
    async def update(self, db: AsyncSession, actor: Actor, pid: uuid.UUID, data: ProductPatch) -> ProductOut:
        changes = {f: getattr(data, f) for f in data.__struct_fields__ if f != "stock_delta"}
        changes = {k: v for k, v in changes.items() if v is not msgspec.UNSET}
        return product_out(await service.update_product(db, actor, pid, changes, data.stock_delta))

    @put(
        "/products/{pid:uuid}/image",
        status_code=200,
        request_max_body_size=IMAGE_BODY_MAX,
        summary="Upload the product's image as the raw body or the multipart field 'image' (clerk)",
        description="JPEG, PNG, WebP, GIF or BMP up to 5 MB; re-encoded without EXIF, with a thumbnail. "
        "Errors: invalid_image, image_too_large, request_too_large (413), forbidden.",
    )
    async def upload_image(
        self, request: Request[Any, Any, Any], db: AsyncSession, actor: Actor, pid: uuid.UUID
    ) -> ProductOut:
        raw = await _image_bytes(request)
        return product_out(await service.set_product_image(db, actor, pid, raw))

    @get("/products/{pid:uuid}/image", summary="The product's image", media_type="image/jpeg")
    async def image(self, db: AsyncSession, pid: uuid.UUID) -> Response[bytes]:
        data, media = await service.product_image(db, pid, thumb=False)
        return Response(data, media_type=media, headers={"Cache-Control": "public, max-age=86400"})

    @get("/products/{pid:uuid}/thumb", summary="The product's thumbnail", media_type="image/jpeg")
    async def thumb(self, db: AsyncSession, pid: uuid.UUID) -> Response[bytes]:
        data, media = await service.product_image(db, pid, thumb=True)
        return Response(data, media_type=media, headers={"Cache-Control": "public, max-age=86400"})

    @get("/communities/{cid:uuid}/store-settings", summary="Store settings of the community (member)")
    async def get_settings(self, db: AsyncSession, actor: Actor, cid: uuid.UUID) -> SettingsOut:
        await service.accounts.require_role(db, actor, cid, "member")
        return settings_out(await service.get_settings(db, cid))

    @put(
        "/communities/{cid:uuid}/store-settings",
        status_code=200,
        summary="Set the points-to-yuan rate (fen per point), voucher minutes and order days (admin)",
        description="Errors: invalid_fen_per_point, invalid_voucher_minutes, invalid_order_days, forbidden.",
    )
    async def put_settings(
        self, db: AsyncSession, actor: Actor, cid: uuid.UUID, data: SettingsIn
    ) -> SettingsOut:
        s = await service.update_settings(
            db, actor, cid, fen_per_point=data.fen_per_point, voucher_minutes=data.voucher_minutes,
            order_days=data.order_days,
        )  # fmt: skip
        return settings_out(s)


# ---------------------------------------------------------------- orders


class OrderController(Controller):
    path = "/api/v1"
    tags = ["store"]

    @post(
        "/orders",
        status_code=201,
        summary="Reserve a product: holds the points, takes the stock, gives a pickup code (member)",
        description="Accepts Idempotency-Key. Errors: product_not_found, product_unavailable, "
        "out_of_stock (409), limit_reached (409), insufficient_points (409), idempotency_conflict.",
        responses={201: ResponseSpec(data_container=OrderOut, description="The reserved order")},
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
            order = await service.reserve_order(db, actor, data.product_id, data.quantity)
            product = await service.get_product(db, order.product_id)
            return 201, order_out(order, product.name, settings)

        return await idempotent(request, db, actor, work)

    @post(
        "/orders/pickup",
        status_code=200,
        summary="Hand out an order by its pickup code; the points post to the store (clerk)",
        description="The code may be typed or scanned (the /o/<code> URL works too). Errors: invalid_code, "
        "order_not_found, forbidden, order_already_fulfilled (409), order_cancelled (409), "
        "order_expired (409).",
        responses={200: ResponseSpec(data_container=PickupOut, description="The fulfilled order")},
    )
    async def pickup(
        self, request: Request[Any, Any, Any], db: AsyncSession, actor: Actor, data: PickupIn
    ) -> Response[bytes]:
        async def work() -> tuple[int, PickupOut]:
            o = await service.pickup_order(db, actor, data.pickup_code)
            p = await service.get_product(db, o.product_id)
            who = mask_name((await service.accounts.get_member(db, o.member_id)).name)
            return 200, PickupOut("fulfilled", o.id, o.points, p.name, o.quantity, who)

        return await idempotent(request, db, actor, work)

    @post(
        "/orders/{oid:uuid}/cancel",
        status_code=200,
        summary="Cancel a reserved order: points and stock come back (the member or a clerk)",
        description="Errors: order_not_found, forbidden, order_already_fulfilled (409), order_cancelled, "
        "order_expired.",
    )
    async def cancel(self, db: AsyncSession, actor: Actor, oid: uuid.UUID) -> StatusOut:
        order = await service.cancel_order(db, actor, oid)
        return StatusOut(order.status, order.id)

    @get(
        "/orders/{oid:uuid}",
        summary="One order (its member, or a clerk who sees the pickup code masked)",
        description="Errors: order_not_found.",
    )
    async def show(self, db: AsyncSession, actor: Actor, settings: Settings, oid: uuid.UUID) -> OrderOut:
        order, product = await service.order_for_viewer(db, actor, oid)
        return order_out(order, product.name, settings, staff=order.member_id != actor.member_id)

    @get(
        "/orders/{oid:uuid}/qr.png",
        summary="QR code of the order's pickup URL <public_url>/o/<code> (its member only)",
        media_type="image/png",
    )
    async def qr(self, db: AsyncSession, actor: Actor, settings: Settings, oid: uuid.UUID) -> Response[bytes]:
        order, _ = await service.order_for_viewer(db, actor, oid, owner_only=True)
        return _png(qr.png(f"{settings.public_url}/o/{order.pickup_code}"))

    @get("/me/orders", summary="The caller's orders in a community, newest first")
    async def mine(
        self, db: AsyncSession, actor: Actor, settings: Settings, community_id: uuid.UUID, limit: Limit,
        cursor: Cursor = None,
    ) -> OrderPage:  # fmt: skip
        rows, last = await service.list_orders(
            db, actor, community_id, mine=True, limit=limit, before=_after(cursor)
        )
        return OrderPage([order_out(o, p.name, settings) for o, p, _ in rows], _next(last))

    @get("/communities/{cid:uuid}/orders", summary="Orders of the community, newest first (clerk)")
    async def community_orders(
        self, db: AsyncSession, actor: Actor, settings: Settings, cid: uuid.UUID, limit: Limit,
        cursor: Cursor = None,
        status: Literal["reserved", "fulfilled", "cancelled", "expired"] | None = None,
    ) -> OrderPage:  # fmt: skip
        rows, last = await service.list_orders(
            db, actor, cid, mine=False, status=status, limit=limit, before=_after(cursor)
        )
        items = [order_out(o, p.name, settings, mask_name(m.name), staff=True) for o, p, m in rows]
        return OrderPage(items, _next(last))


# ---------------------------------------------------------------- partner alliance


class OfferController(Controller):
    path = "/api/v1"
    tags = ["partner alliance"]

    @post(
        "/partners/{pid:uuid}/offers",
        summary="Publish a discount for points (admin or that partner's staff)",
        description="Errors: partner_not_found, invalid_title, invalid_points, invalid_window, forbidden.",
    )
    async def create_offer(self, db: AsyncSession, actor: Actor, pid: uuid.UUID, data: OfferIn) -> OfferOut:
        o = await service.create_offer(
            db, actor, pid, title=data.title, points_price=data.points, description=data.description,
            valid_from=data.valid_from, valid_until=data.valid_until, quota_total=data.quota_total,
            limit_per_member=data.limit_per_member, voucher_minutes=data.voucher_minutes,
        )  # fmt: skip
        return offer_out(o, (await service.accounts.get_partner(db, pid)).name)

    @get("/partners/{pid:uuid}/offers", summary="All offers of a partner (admin or that partner's staff)")
    async def partner_offers(self, db: AsyncSession, actor: Actor, pid: uuid.UUID) -> list[OfferOut]:
        partner = await service.accounts.get_partner(db, pid)
        await service.accounts.require_role(db, actor, partner.community_id, "partner", partner_id=pid)
        rows = await service.list_offers(db, actor, partner.community_id, partner_id=pid, current_only=False)
        return [offer_out(o, p.name, n) for o, p, n in rows]

    @get("/communities/{cid:uuid}/offers", summary="Offers open now in the community (member)")
    async def list_offers(self, db: AsyncSession, actor: Actor, cid: uuid.UUID) -> list[OfferOut]:
        return [offer_out(o, p.name, n) for o, p, n in await service.list_offers(db, actor, cid)]

    @post(
        "/offers/{oid:uuid}/vouchers",
        status_code=201,
        summary="Claim a voucher: holds the points, gives a one-time code valid for minutes (member)",
        description="Accepts Idempotency-Key. Errors: offer_not_found, offer_not_open (409), "
        "offer_sold_out (409), limit_reached (409), insufficient_points (409), idempotency_conflict.",
        responses={201: ResponseSpec(data_container=VoucherOut, description="The issued voucher")},
    )
    async def claim(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        actor: Actor,
        settings: Settings,
        oid: uuid.UUID,
    ) -> Response[bytes]:
        async def work() -> tuple[int, VoucherOut]:
            return 201, voucher_out(await service.claim_voucher(db, actor, oid), settings)

        return await idempotent(request, db, actor, work)

    @post(
        "/vouchers/redeem",
        status_code=200,
        summary="Redeem a voucher code; the points go to the partner (that partner's staff)",
        description="The code may be typed or scanned (the /v/<code> URL works too). Another partner's code "
        "is refused as voucher_not_found and changes nothing. Errors: invalid_code, voucher_not_found (404), "
        "voucher_already_redeemed (409), voucher_expired (409), voucher_cancelled (409).",
        responses={200: ResponseSpec(data_container=RedeemOut, description="The redeemed voucher")},
    )
    async def redeem(
        self, request: Request[Any, Any, Any], db: AsyncSession, actor: Actor, data: CodeIn
    ) -> Response[bytes]:
        async def work() -> tuple[int, RedeemOut]:
            r = await service.redeem_voucher(db, actor, data.code)
            partner = await service.accounts.get_partner(db, r.voucher.partner_id)
            v = r.voucher
            return 200, RedeemOut(
                "redeemed", v.id, v.points, offer_out(r.offer, partner.name), r.member_name,
                v.redeemed_at or v.created_at,
            )  # fmt: skip

        return await idempotent(request, db, actor, work)

    @post(
        "/vouchers/{vid:uuid}/cancel",
        status_code=200,
        summary="Give back an unused voucher; its points are released (the member)",
        description="Errors: voucher_not_found, voucher_already_redeemed (409), voucher_expired (409).",
    )
    async def cancel(self, db: AsyncSession, actor: Actor, vid: uuid.UUID) -> StatusOut:
        v = await service.cancel_voucher(db, actor, vid)
        return StatusOut(v.status, v.id)

    @get(
        "/vouchers/{vid:uuid}/qr.png",
        summary="QR code of the voucher URL <public_url>/v/<code> (its member)",
        media_type="image/png",
    )
    async def qr(self, db: AsyncSession, actor: Actor, settings: Settings, vid: uuid.UUID) -> Response[bytes]:
        voucher, _ = await service.voucher_for_viewer(db, actor, vid, owner_only=True)
        return _png(qr.png(f"{settings.public_url}/v/{voucher.code}"))

    @get("/me/vouchers", summary="The caller's vouchers in a community, newest first")
    async def mine(
        self, db: AsyncSession, actor: Actor, settings: Settings, community_id: uuid.UUID, limit: Limit,
        cursor: Cursor = None,
    ) -> VoucherPage:  # fmt: skip
        rows, last = await service.list_vouchers(db, actor, community_id, limit=limit, before=_after(cursor))
        return VoucherPage([voucher_out(v, settings, o, p) for v, o, p, _ in rows], _next(last))

    @get("/partners/{pid:uuid}/vouchers", summary="A partner's vouchers, newest first (that partner's staff)")
    async def partner_vouchers(
        self, db: AsyncSession, actor: Actor, settings: Settings, pid: uuid.UUID, limit: Limit,
        cursor: Cursor = None, status: Literal["issued", "redeemed", "expired", "cancelled"] | None = None,
    ) -> VoucherPage:  # fmt: skip
        partner = await service.accounts.get_partner(db, pid)
        rows, last = await service.list_vouchers(
            db, actor, partner.community_id, partner_id=pid, status=status, limit=limit, before=_after(cursor)
        )
        items = [voucher_out(v, settings, o, p, mask_name(m.name), staff=True) for v, o, p, m in rows]
        return VoucherPage(items, _next(last))

    @get(
        "/partners/{pid:uuid}/settlement",
        summary="A partner's monthly statement: count, points, yuan and the list (admin or that partner)",
        description="`format=csv` gives a spreadsheet for Excel (UTF-8 with BOM, headers in the reader's "
        "language, times in the community's time zone). "
        "Errors: invalid_month, partner_not_found, forbidden.",
        responses={200: ResponseSpec(data_container=SettlementOut, description="The statement")},
    )
    async def settlement(
        self, request: Request[Any, Any, Any], db: AsyncSession, actor: Actor, pid: uuid.UUID,
        month: Month = None, format: Format = "json",
    ) -> Response[Any]:  # fmt: skip
        partner = await service.accounts.get_partner(db, pid)
        st = await service.settlement(
            db, actor, pid, month or await service.current_month(db, partner.community_id)
        )
        if format == "csv":
            tz = (await service.accounts.get_community(db, partner.community_id)).timezone
            return _csv(_settlement_csv(st, tz, partial(localise, request)), f"settlement-{st.month}.csv")
        return Response(_settlement_out(st))

    @get(
        "/communities/{cid:uuid}/partner-report",
        summary="Every partner's redemptions in a month, with totals (admin)",
        description="`format=csv` gives a spreadsheet for Excel. Errors: invalid_month, forbidden.",
        responses={200: ResponseSpec(data_container=PartnerReportOut, description="The report")},
    )
    async def partner_report(
        self, request: Request[Any, Any, Any], db: AsyncSession, actor: Actor, cid: uuid.UUID,
        month: Month = None, format: Format = "json",
    ) -> Response[Any]:  # fmt: skip
        month = month or await service.current_month(db, cid)
        lines, count, total, yuan = await service.community_report(db, actor, cid, month)
        if format == "csv":
            translate = partial(localise, request)
            rows = [(ln.partner.name, ln.count, ln.points, ln.yuan) for ln in lines]
            rows.append((translate("Total"), count, total, yuan))
            tz = (await service.accounts.get_community(db, cid)).timezone
            data = kit_csv.csv_bytes(PARTNER_REPORT_CSV_HEADERS, rows, tz=tz, translate=translate)
            return _csv(data, f"partners-{month}.csv")
        rate = (await service.get_settings(db, cid)).fen_per_point
        out = [PartnerLineOut(ln.partner.id, ln.partner.name, ln.count, ln.points, ln.yuan) for ln in lines]
        return Response(PartnerReportOut(cid, month, count, total, yuan, rate, out))


def _settlement_out(st: service.Statement) -> SettlementOut:
    items = [
        SettlementItem(v.id, v.code, o.title, v.points, who, v.redeemed_at or v.created_at)
        for v, o, who in st.items
    ]
    return SettlementOut(
        st.partner.id, st.partner.name, st.month, st.count, st.points, st.fen_per_point, st.yuan, items
    )


SETTLEMENT_CSV_HEADERS = ("Redeemed at", "Voucher code", "Offer", "Points", "Member", "Yuan")
PARTNER_REPORT_CSV_HEADERS = ("Partner", "Redemptions", "Points", "Yuan")


def _settlement_csv(st: service.Statement, tz: str, translate: Callable[[str], str]) -> bytes:
    rows: list[list[object]] = [
        [
            v.redeemed_at or v.created_at,
            v.code,
            o.title,
            v.points,
            who,
            rules.yuan(v.points, st.fen_per_point),
        ]
        for v, o, who in st.items
    ]
    total = translate("%(partner)s %(month)s total") % {"partner": st.partner.name, "month": st.month}
    rows.append([total, "", translate("%(n)s redemptions") % {"n": st.count}, st.points, "", st.yuan])
    return kit_csv.csv_bytes(SETTLEMENT_CSV_HEADERS, rows, tz=tz, translate=translate)


ROUTES: list[Any] = [ProductController, OrderController, OfferController]
