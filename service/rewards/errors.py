"""Errors of good conduct: the rules catalogue, claims, photos, households and activity ratings.

One class per code; codes and statuses are a public contract. Field bounds (``invalid_title``,
``invalid_points`` ...) come from ``service.kit.text.InvalidField``; months from ``service.kit.months``.
"""

from __future__ import annotations

from service.errors import Conflict, Forbidden, InvalidCursor, InvalidInput, NotFound
from service.kit.images import ImageTooLarge

__all__ = [
    "AlreadyRated",
    "AlreadyReviewedByYou",
    "ClaimNotEditable",
    "ClaimNotFound",
    "ClaimNotPublicized",
    "ClaimNotReviewable",
    "DeductionFiler",
    "DuplicateClaim",
    "EvidenceRequired",
    "HouseholdLinkDecided",
    "HouseholdLinkExists",
    "HouseholdLinkNotFound",
    "HouseholdSelf",
    "ImageTooLarge",
    "InvalidAdoption",
    "InvalidCode",
    "InvalidCursor",
    "InvalidDecision",
    "InvalidEventDate",
    "InvalidEventRef",
    "InvalidLimit",
    "InvalidPhone",
    "InvalidPhoto",
    "InvalidRelation",
    "InvalidStars",
    "MemberNotFound",
    "NotAttended",
    "NotHouseholdMember",
    "PhotoNotFound",
    "PhotoTooLarge",
    "ReviewerConflict",
    "RuleCodeTaken",
    "RuleInactive",
    "RuleNotFound",
    "TooManyHouseholdLinks",
    "TooManyObjections",
    "TooManyPhotos",
    "YearlyLimitReached",
]


# ---- the rules catalogue


class InvalidCode(InvalidInput):
    code = "invalid_code"
    message = "Code must be 2-32 lowercase letters, digits, dashes or underscores."


class RuleCodeTaken(Conflict):
    code = "rule_code_taken"
    message = "A rule with code %(code)s already exists here."


class InvalidLimit(InvalidInput):
    code = "invalid_limit_per_member_per_year"
    message = "The limit must be a whole number."


class RuleNotFound(NotFound):
    code = "rule_not_found"
    message = "No such rule."


class RuleInactive(Conflict):
    code = "rule_inactive"
    message = "This rule is no longer in use."


# ---- claims


class MemberNotFound(NotFound):
    code = "member_not_found"
    message = "No such member in this community."


class InvalidEventDate(InvalidInput):
    code = "invalid_event_date"
    message = "The event date must be today or within the past year."


class InvalidEventRef(InvalidInput):
    code = "invalid_event_ref"
    message = "The reference is at most 64 characters."


class EvidenceRequired(InvalidInput):
    code = "evidence_required"
    message = "Describe what was done: this rule needs evidence."


class YearlyLimitReached(Conflict):
    code = "yearly_limit_reached"
    message = "This rule rewards a member at most %(limit)s time(s) a year."


class DuplicateClaim(Conflict):
    code = "duplicate_claim"
    message = "This event was already claimed for this member: claim %(claim_id)s of %(event_date)s."


class ClaimNotFound(NotFound):
    code = "claim_not_found"
    message = "No such claim."


class InvalidDecision(InvalidInput):
    code = "invalid_decision"
    message = "Decision must be approve or reject."


class ClaimNotReviewable(Conflict):
    code = "claim_not_reviewable"
    message = "The claim is %(status)s; only submitted claims are reviewed."


class ReviewerConflict(Forbidden):
    code = "reviewer_conflict"
    message = "Someone other than the requester or the beneficiary must decide this."


class AlreadyReviewedByYou(Conflict):
    code = "already_reviewed_by_you"
    message = "You already reviewed this claim; another reviewer must decide."


class ClaimNotPublicized(Conflict):
    code = "claim_not_publicized"
    message = "Objections are taken only while a claim is on public notice."


class TooManyObjections(Conflict):
    code = "too_many_objections"
    message = "This claim has reached the most objections it can take."


# ---- photos


class ClaimNotEditable(Conflict):
    code = "claim_not_editable"
    message = "Photos are added only while the claim awaits review."


class TooManyPhotos(Conflict):
    code = "too_many_photos"
    message = "A claim has at most %(max)s photos."


class PhotoNotFound(NotFound):
    code = "photo_not_found"
    message = "No such photo."


class InvalidPhoto(InvalidInput):
    """Raised by the image kit (passed as ``invalid``): not an image Jifen reads."""

    code = "invalid_photo"
    message = "This file is not an image Jifen can read."


class PhotoTooLarge(InvalidInput):
    """Raised by the image kit (passed as ``oversize``): more bytes than an upload may have."""

    code = "photo_too_large"
    message = "Images must be at most %(mb)s MB."


# ---- households


class NotHouseholdMember(Forbidden):
    code = "not_household_member"
    message = "You can file only for yourself or for a confirmed member of your household."


class InvalidPhone(InvalidInput):
    code = "invalid_phone"
    message = "A phone number is 11 digits starting with 1."


class InvalidRelation(InvalidInput):
    code = "invalid_relation"
    message = "The relation is at most 32 characters."


class HouseholdSelf(InvalidInput):
    code = "household_self"
    message = "You are already in your own household."


class HouseholdLinkExists(Conflict):
    code = "household_link_exists"
    message = "This link was already requested or confirmed."


class TooManyHouseholdLinks(Conflict):
    code = "too_many_household_links"
    message = "A household has at most %(n)s linked members."


class HouseholdLinkNotFound(NotFound):
    code = "household_link_not_found"
    message = "No such household link."


class HouseholdLinkDecided(Conflict):
    code = "household_link_decided"
    message = "This link was already decided."


# ---- activity ratings


class NotAttended(Forbidden):
    code = "not_attended"
    message = "Only people who attended an activity rate it."


class InvalidStars(InvalidInput):
    code = "invalid_stars"
    message = "Stars must be 1 to 5."


class AlreadyRated(Conflict):
    code = "already_rated"
    message = "You already rated this activity."


class DeductionFiler(Forbidden):
    code = "deduction_filer"
    message = "A deduction is filed by a grid worker or organizer for another member, never for oneself."


class InvalidAdoption(InvalidInput):
    code = "invalid_adoption"
    message = (
        "This meeting record cannot adopt the rule: a known kind of meeting held by today, votes within the "
        "attendance and more than half of those present for it, in force no earlier than the meeting."
    )
