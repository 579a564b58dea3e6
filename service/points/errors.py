"""Errors of the points ledger: one class per code. Other domains name them (or the functions that raise
them, ``@raises(points.hold)``) in their own declarations."""

from __future__ import annotations

from service.errors import Conflict, Forbidden, InvalidCursor, InvalidInput, NotFound

__all__ = [
    "AlreadyReversed",
    "ApproverConflict",
    "AwardNotFound",
    "AwardNotPending",
    "CommunityNotFound",
    "HoldNotFound",
    "HoldNotPending",
    "IdempotencyConflict",
    "InsufficientPoints",
    "InvalidBudget",
    "InvalidCursor",
    "InvalidExpiry",
    "InvalidExpiryMode",
    "InvalidExpiryValue",
    "InvalidIdempotencyKey",
    "InvalidMemo",
    "InvalidPayee",
    "InvalidPoints",
    "InvalidReason",
    "InvalidReasonCode",
    "InvalidRef",
    "InvalidThreshold",
    "MemberNotFound",
    "NotReversible",
    "OverBudget",
    "PartnerNotFound",
    "SameAccount",
    "SameAdmin",
    "TransferNotFound",
]


class InvalidPoints(InvalidInput):
    code = "invalid_points"
    message = "Points must be a whole number from 1 to %(max)s."


class InvalidReasonCode(InvalidInput):
    code = "invalid_code"
    message = "Reason code must be 1-%(max)s of a-z 0-9 _."


class InvalidMemo(InvalidInput):
    code = "invalid_memo"
    message = "Memo must be at most %(max)s characters."


class InvalidRef(InvalidInput):
    code = "invalid_ref"
    message = "Reference type or id is empty or too long."


class InvalidIdempotencyKey(InvalidInput):
    code = "invalid_idempotency_key"
    message = "Idempotency key must be 1-%(max)s characters."


class InvalidPayee(InvalidInput):
    code = "invalid_payee"
    message = "Payee must be 'store', or 'partner' with a partner id."


class SameAccount(InvalidInput):
    code = "same_account"
    message = "Points cannot be sent to the same account."


class InvalidExpiry(InvalidInput):
    code = "invalid_expiry"
    message = "A hold must expire in the future, within a year."


class InvalidExpiryMode(InvalidInput):
    code = "invalid_expiry_mode"
    message = "Expiry mode must be never, days or years."


class InvalidExpiryValue(InvalidInput):
    code = "invalid_expiry_value"
    message = "For %(mode)s, the value must be from %(low)s to %(high)s."


class InvalidThreshold(InvalidInput):
    code = "invalid_threshold"
    message = "Threshold must be from 0 to %(max)s."


class InvalidReason(InvalidInput):
    code = "invalid_reason"
    message = "Reason must be 1 to %(max)s characters."


class MemberNotFound(NotFound):
    code = "member_not_found"
    message = "That person is not a member of this community."


class PartnerNotFound(NotFound):
    code = "partner_not_found"
    message = "No such partner in this community."


class CommunityNotFound(NotFound):
    code = "community_not_found"
    message = "No such community."


class TransferNotFound(NotFound):
    code = "transfer_not_found"
    message = "No such transfer."


class HoldNotFound(NotFound):
    code = "hold_not_found"
    message = "No such hold."


class AwardNotFound(NotFound):
    code = "award_not_found"
    message = "No such award."


class InsufficientPoints(Conflict):
    code = "insufficient_points"
    message = "Not enough points: %(available)s available, %(needed)s needed."


class IdempotencyConflict(Conflict):
    code = "idempotency_conflict"
    message = "This idempotency key was used with a different request."


class NotReversible(Conflict):
    code = "not_reversible"
    message = "A correction cannot itself be reversed; post a new transfer."


class AlreadyReversed(Conflict):
    code = "already_reversed"
    message = "This transfer was already reversed."


class HoldNotPending(Conflict):
    code = "hold_not_pending"
    message = "The hold is already %(status)s."


class AwardNotPending(Conflict):
    code = "award_not_pending"
    message = "This award is already %(status)s."


class SameAdmin(Forbidden):
    code = "same_admin"
    message = "Another administrator must decide on an award you asked for."


class ApproverConflict(Forbidden):
    code = "approver_conflict"
    message = "Another administrator must decide on an award to you."


class OverBudget(Conflict):
    code = "over_budget"
    message = (
        "This month's points budget of the community is spent: the points wait until an official raises"
        " it or the month turns."
    )


class InvalidBudget(InvalidInput):
    code = "invalid_budget"
    message = "A monthly points budget is a whole number from 0 to %(max)s."
