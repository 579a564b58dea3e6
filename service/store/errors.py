"""Errors of the store domain (points supermarket and partner alliance): one class per code."""

from __future__ import annotations

from service.errors import Conflict, Forbidden, InvalidCursor, InvalidInput, NotFound
from service.kit.images import ImageTooLarge, InvalidImage

__all__ = [
    "CodeSpaceExhausted",
    "CommunityRequired",
    "ImageNotFound",
    "ImageTooLarge",
    "InvalidCode",
    "InvalidCursor",
    "InvalidImage",
    "InvalidQuantity",
    "InvalidWindow",
    "LimitReached",
    "NoSuchPartner",
    "NotClerk",
    "NotPartnerStaff",
    "OfferNotFound",
    "OfferNotOpen",
    "OfferSoldOut",
    "OrderAlreadyFulfilled",
    "OrderCancelled",
    "OrderExpired",
    "OrderNotFound",
    "OutOfStock",
    "ProductNotFound",
    "ProductUnavailable",
    "StockNotEnough",
    "VoucherAlreadyRedeemed",
    "VoucherCancelled",
    "VoucherExpired",
    "VoucherNotFound",
]


class InvalidWindow(InvalidInput):
    code = "invalid_window"
    message = "The end must come after the start."


class InvalidQuantity(InvalidInput):
    code = "invalid_quantity"
    message = "Order 1 to %(max)s."


class InvalidCode(InvalidInput):
    code = "invalid_code"
    message = "A pickup code is 8 letters and digits."


class NotClerk(Forbidden):
    code = "forbidden"
    message = "Only this community's store clerks can hand out orders."


class NotPartnerStaff(Forbidden):
    code = "forbidden"
    message = "You are not staff of a partner shop."


class NoSuchPartner(NotFound):
    """A partner page asked for a shop id that is not one."""

    code = "not_found"
    message = "No such partner."


class ProductNotFound(NotFound):
    code = "product_not_found"
    message = "No such product."


class ImageNotFound(NotFound):
    code = "image_not_found"
    message = "This product has no image."


class OrderNotFound(NotFound):
    code = "order_not_found"
    message = "No such order."


class OfferNotFound(NotFound):
    code = "offer_not_found"
    message = "No such offer."


class VoucherNotFound(NotFound):
    code = "voucher_not_found"
    message = "No such voucher."


class StockNotEnough(Conflict):
    code = "stock_not_enough"
    message = "The stock cannot go below zero."


class CodeSpaceExhausted(Conflict):
    code = "code_space_exhausted"
    message = "Could not make a unique code; try again."


class ProductUnavailable(Conflict):
    code = "product_unavailable"
    message = "This product is not on offer now."


class OutOfStock(Conflict):
    code = "out_of_stock"
    message = "Not enough left in stock."


class LimitReached(Conflict):
    code = "limit_reached"
    message = "You may order at most %(limit)s of this per month (%(used)s already)."


class OrderAlreadyFulfilled(Conflict):
    code = "order_already_fulfilled"
    message = "This order was already handed out."


class OrderExpired(Conflict):
    code = "order_expired"
    message = "This order expired; its points were returned."


class OrderCancelled(Conflict):
    code = "order_cancelled"
    message = "This order was cancelled."


class OfferNotOpen(Conflict):
    code = "offer_not_open"
    message = "This offer is not available now."


class OfferSoldOut(Conflict):
    code = "offer_sold_out"
    message = "All vouchers of this offer are taken."


class VoucherExpired(Conflict):
    code = "voucher_expired"
    message = "This voucher has expired."


class VoucherAlreadyRedeemed(Conflict):
    code = "voucher_already_redeemed"
    message = "This voucher was already used."


class VoucherCancelled(Conflict):
    code = "voucher_cancelled"
    message = "This voucher was cancelled."


class CommunityRequired(InvalidInput):
    code = "community_required"
    message = "You belong to several communities this unit serves: say whose points to use (community_id)."
