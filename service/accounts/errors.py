"""The accounts domain's errors: one class per code (codes and statuses are a public contract)."""

from __future__ import annotations

from service.errors import Conflict, Forbidden, InvalidInput, NotAuthenticated, NotFound, TooManyRequests

__all__ = [
    "ActivationInvalid",
    "CommunityCodeTaken",
    "CommunityNotFound",
    "DeletionNotAllowed",
    "ImportNotUtf8",
    "ImportRejected",
    "ImportTooLarge",
    "InvalidAddress",
    "InvalidCode",
    "InvalidCredentials",
    "InvalidDecision",
    "InvalidName",
    "InvalidPartnerKind",
    "InvalidPassword",
    "InvalidPhone",
    "InvalidRole",
    "InvalidSelfRegistration",
    "InvalidTimezone",
    "MemberElsewhere",
    "MemberNotFound",
    "MemberRequestDecided",
    "MemberRequestNotFound",
    "MemberRequestPending",
    "NoAccount",
    "NothingToCorrect",
    "PartnerNameTaken",
    "PartnerNotAllowed",
    "PartnerNotFound",
    "PartnerNotInCommunity",
    "PartnerRequired",
    "PasswordOrSmsCode",
    "PhoneTaken",
    "PrivacyNotAccepted",
    "PrivacyVersionStale",
    "RegistrationClosed",
    "RegistrationDecided",
    "RegistrationNotFound",
    "ResetByCode",
    "RoleExists",
    "RoleNeedsPlatformAdmin",
    "RoleNotHeld",
    "SmsCodeInvalid",
    "SmsCodeRequired",
    "SmsCodeTooSoon",
    "TokenExpired",
    "TokenInvalid",
    "TokenRevoked",
    "TooManyAttempts",
    "UnverifiedAccount",
]


# ---------------------------------------------------------------- logging in


class InvalidCredentials(NotAuthenticated):
    code = "invalid_credentials"
    message = "Wrong phone number or password."


class TokenInvalid(NotAuthenticated):
    code = "token_invalid"
    message = "The login token is invalid; please log in again."


class TokenExpired(NotAuthenticated):
    code = "token_expired"
    message = "The login has expired; please log in again."


class TokenRevoked(NotAuthenticated):
    code = "token_revoked"
    message = "This login was ended; please log in again."


class TooManyAttempts(TooManyRequests):
    code = "too_many_attempts"
    message = "Too many attempts; try again in %(seconds)s s."


class SmsCodeTooSoon(TooManyRequests):
    code = "sms_code_too_soon"
    message = "A code was just sent; ask again in %(seconds)s s."


class SmsCodeInvalid(NotAuthenticated):
    code = "sms_code_invalid"
    message = "The code is wrong or has expired; ask for a new one."


class NoAccount(NotAuthenticated):
    code = "no_account"
    message = "This number has no account yet; register first."


class ActivationInvalid(InvalidInput):
    code = "activation_invalid"
    message = (
        "This code does not work: it was used, has expired or was replaced. "
        "Ask your community office for a new one."
    )


# ---------------------------------------------------------------- input


class InvalidPassword(InvalidInput):
    code = "invalid_password"
    message = "Password must be %(min)s to %(max)s characters."


class InvalidPhone(InvalidInput):
    code = "invalid_phone"
    message = "Enter an 11-digit mainland mobile number, like 13812345678."


class InvalidName(InvalidInput):
    code = "invalid_name"
    message = "%(field)s must be 1 to %(max)s characters."


class InvalidRole(InvalidInput):
    code = "invalid_role"
    message = "Role must be one of %(choices)s."


class InvalidCode(InvalidInput):
    code = "invalid_code"
    message = "Code must be 2-32 lowercase letters, digits or dashes."


class InvalidTimezone(InvalidInput):
    code = "invalid_timezone"
    message = "Unknown time zone %(tz)s."


class InvalidSelfRegistration(InvalidInput):
    code = "invalid_self_registration"
    message = "Sign-up must be off, auto or approval."


class InvalidAddress(InvalidInput):
    code = "invalid_address"
    message = "Address must be at most 200 characters."


class PartnerRequired(InvalidInput):
    code = "partner_required"
    message = "A partner role needs partner_id."


class PartnerNotInCommunity(InvalidInput):
    code = "partner_not_in_community"
    message = "That partner belongs to another community."


class PartnerNotAllowed(InvalidInput):
    code = "partner_not_allowed"
    message = "Only the partner role takes partner_id."


class PasswordOrSmsCode(InvalidInput):
    code = "password_or_sms_code"
    message = "Choose a password or enter the code we texted you."


class ImportNotUtf8(InvalidInput):
    code = "import_not_utf8"
    message = "Save the spreadsheet as CSV UTF-8 and try again."


class ImportTooLarge(InvalidInput):
    code = "import_too_large"
    message = "At most %(max)s rows per file."


class ImportRejected(InvalidInput):
    code = "import_rejected"
    message = "%(count)s bad rows; nothing was imported."


# ---------------------------------------------------------------- permission


class RoleNeedsPlatformAdmin(Forbidden):
    code = "role_needs_platform_admin"
    message = "Only a platform administrator can grant or remove the %(role)s role."


class MemberElsewhere(Forbidden):
    code = "member_elsewhere"
    message = (
        "This person also belongs to another community; only a platform administrator can change "
        "their name, phone or password."
    )


class ResetByCode(Forbidden):
    code = "reset_by_code"
    message = "Admins do not set passwords: issue a one-time code and the member sets their own."


class RegistrationClosed(Forbidden):
    code = "registration_closed"
    message = "This community does not take sign-ups; ask its office."


# ---------------------------------------------------------------- not found


class CommunityNotFound(NotFound):
    code = "community_not_found"
    message = "No such community."


class MemberNotFound(NotFound):
    code = "member_not_found"
    message = "No such member."


class PartnerNotFound(NotFound):
    code = "partner_not_found"
    message = "No such partner."


class RoleNotHeld(NotFound):
    code = "role_not_held"
    message = "This member does not hold that role here."


class RegistrationNotFound(NotFound):
    code = "registration_not_found"
    message = "No such sign-up."


# ---------------------------------------------------------------- conflicts


class CommunityCodeTaken(Conflict):
    code = "community_code_taken"
    message = "A community with code %(code)s already exists."


class PartnerNameTaken(Conflict):
    code = "partner_name_taken"
    message = "A partner named %(name)s already exists here."


class PhoneTaken(Conflict):
    code = "phone_taken"
    message = "This phone number already has an account."


class RoleExists(Conflict):
    code = "role_exists"
    message = "This member is already staff of another partner here."


class RegistrationDecided(Conflict):
    code = "registration_decided"
    message = "This sign-up was already decided."


class SmsCodeRequired(InvalidInput):
    code = "sms_code_required"
    message = "Signing up needs the code we texted to this phone."


class UnverifiedAccount(Conflict):
    code = "unverified_account"
    message = (
        "This phone's account was never verified. The person logs in once with an SMS code; "
        "then add them again."
    )


class AccountHeld(Forbidden):
    code = "account_held"
    message = (
        "Your password was set with a code someone else issued. Set a new password with an SMS code sent "
        "to your own phone before you approve, confirm, dispatch or award anything."
    )


class InvalidPartnerKind(InvalidInput):
    code = "invalid_partner_kind"
    message = "A unit's kind is shop, service, health, fitness or other."


# ---------------------------------------------------------------- residents' own data (PIPL)


class PrivacyNotAccepted(InvalidInput):
    code = "privacy_not_accepted"
    message = "Read and accept the privacy notice to continue."


class PrivacyVersionStale(Conflict):
    code = "privacy_version_stale"
    message = "The privacy notice has changed (now version %(version)s); read it again and accept it."


class NothingToCorrect(InvalidInput):
    code = "nothing_to_correct"
    message = "Give the corrected name or mobile number (different from the current one)."


class InvalidDecision(InvalidInput):
    code = "invalid_decision"
    message = "The decision is grant or refuse."


class DeletionNotAllowed(Forbidden):
    code = "deletion_not_allowed"
    message = (
        "A platform administrator's account cannot be deleted this way; another administrator removes it."
    )


class MemberRequestNotFound(NotFound):
    code = "member_request_not_found"
    message = "No such request."


class MemberRequestPending(Conflict):
    code = "member_request_pending"
    message = "A request of this kind is already waiting for the community (decided by %(due)s)."


class MemberRequestDecided(Conflict):
    code = "member_request_decided"
    message = "This request was already decided (%(status)s)."
