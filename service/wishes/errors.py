"""Errors of micro-wishes, one class per code (codes and statuses are a public contract).

``reviewer_conflict``, ``invalid_stars`` and ``not_household_member`` are the rewards domain's classes:
the same rule, the same code.
"""

from __future__ import annotations

from service.errors import Conflict, DomainError, Forbidden, InvalidInput, NotFound

__all__ = [
    "AlreadyAssigned",
    "CallRelayFailed",
    "CallRelayOff",
    "InvalidAddress",
    "InvalidCategory",
    "InvalidScope",
    "InvalidWantedBy",
    "NotAVolunteer",
    "NotAssignedVolunteer",
    "NotOfferedToYou",
    "NotRequester",
    "OwnWish",
    "VolunteerIsRequester",
    "VolunteerNotFound",
    "WishNotAssigned",
    "WishNotCancellable",
    "WishNotConfirmable",
    "WishNotDispatchable",
    "WishNotFound",
    "WishNotOffered",
    "WishNotOpen",
    "WishNotRatable",
]


class WishNotFound(NotFound):
    code = "wish_not_found"
    message = "No such wish."


class InvalidCategory(InvalidInput):
    code = "invalid_category"
    message = "Category must be one of %(choices)s."


class InvalidWantedBy(InvalidInput):
    code = "invalid_wanted_by"
    message = "The wanted-by time must be in the next year, with a time zone."


class InvalidScope(InvalidInput):
    code = "invalid_scope"
    message = "Scope must be mine, assigned, open or all."


class WishNotDispatchable(Conflict):
    code = "wish_not_dispatchable"
    message = "The wish is %(status)s; only open or assigned wishes are dispatched."


class VolunteerIsRequester(Conflict):
    code = "volunteer_is_requester"
    message = "A wish cannot be dispatched to the person who asked for it."


class AlreadyAssigned(Conflict):
    code = "already_assigned"
    message = "The wish is already assigned to this volunteer."


class VolunteerNotFound(NotFound):
    code = "member_not_found"
    message = "No such volunteer in this community."


class NotAVolunteer(Conflict):
    code = "not_a_volunteer"
    message = "This member does not take micro-wishes (shop or store staff)."


class WishNotOpen(Conflict):
    code = "wish_not_open"
    message = "The wish is %(status)s; only open wishes can be accepted."


class OwnWish(Forbidden):
    code = "own_wish"
    message = "You cannot accept your own wish."


class NotOfferedToYou(Forbidden):
    code = "not_offered_to_you"
    message = "This wish was offered to another volunteer."


class WishNotOffered(Conflict):
    code = "wish_not_offered"
    message = "Only a wish offered to you can be declined; this one is %(status)s."


class WishNotAssigned(Conflict):
    code = "wish_not_assigned"
    message = "The wish is %(status)s; only assigned wishes are completed."


class NotAssignedVolunteer(Forbidden):
    code = "not_assigned_volunteer"
    message = "Only the volunteer the wish is assigned to completes it."


class NotRequester(Forbidden):
    code = "not_requester"
    message = "Only the person who posted the wish rates it."


class WishNotRatable(Conflict):
    code = "wish_not_ratable"
    message = "The wish is %(status)s; only completed wishes are rated."


class WishNotConfirmable(Conflict):
    code = "wish_not_confirmable"
    message = "Only a wish taken from the pool and not yet confirmed needs a confirmation."


class WishNotCancellable(Conflict):
    code = "wish_not_cancellable"
    message = "The wish is %(status)s; it can no longer be cancelled."


class InvalidAddress(InvalidInput):
    code = "invalid_address"
    message = "Give the address where the help is needed (at most %(max)s characters)."


class CallRelayOff(Conflict):
    code = "call_relay_off"
    message = "Calls through a privacy number are not set up here; ask the community office."


class CallRelayFailed(DomainError):
    status = 503
    code = "call_relay_unavailable"
    message = "The privacy-number service did not answer; try again in a minute."
