"""Errors of activities and check-in: one class per code (codes and statuses are API.md's contract).

Check-in refusals a volunteer sees at the scan are ``CheckinError`` (400); refusals of an organizer's
command on an activity that is no longer open are ``ActivityNotOpen`` (409). Both carry the code
``activity_not_open``: their statuses differ, so they are two classes.
"""

from __future__ import annotations

from service.errors import (
    Conflict,
    DomainError,
    Forbidden,
    InvalidCursor,
    InvalidInput,
    NotAuthenticated,
    NotFound,
)

__all__ = [
    "ActivityFull",
    "ActivityHasAttendance",
    "ActivityNotFound",
    "ActivityNotOpen",
    "ActivityNotPending",
    "AlreadyAttended",
    "AlreadyCheckedOut",
    "ApproverConflict",
    "AttendanceNotFound",
    "CardInvalid",
    "CardRevoked",
    "CheckinError",
    "CheckinNotOpen",
    "ClockDrift",
    "CodeInvalid",
    "CommunityNotFound",
    "ConfirmationPending",
    "CorrectionNotFound",
    "CorrectionNotPending",
    "CorrectionPending",
    "FieldRefused",
    "InvalidActivity",
    "InvalidCorrection",
    "InvalidCursor",
    "InvalidLocation",
    "InvalidName",
    "InvalidNote",
    "InvalidPolicy",
    "InvalidSync",
    "InvalidTimes",
    "LocationRequired",
    "LoginEnded",
    "ManualNotPending",
    "ManualPending",
    "MemberNotFound",
    "NotAMember",
    "NotCheckedIn",
    "NotCorrectable",
    "NotSignedUp",
    "NotYourAttendance",
    "OfflineScanNotFound",
    "OfflineScanResolved",
    "OutsideArea",
    "QrExpired",
    "QrInvalid",
    "SameAdmin",
    "ScanConflict",
    "ScanOutsideWindow",
    "ScannerAlreadyAssigned",
    "ScannerNotClerk",
    "ScannerNotFound",
    "ScannerSelf",
    "SecondOrganizerRequired",
    "TeamNameTaken",
    "TeamNotFound",
]


# ---------------------------------------------------------------- input refused, naming its field


class FieldRefused(InvalidInput):
    """An input refused for one field: ``params["field"]`` names it, and ``errors`` lists it with the
    message (a msgid with ``%(field)s``), so forms show the message next to the field."""

    def __init__(
        self,
        code: str | None = None,
        detail: str = "",
        *,
        params: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        params = params or {}
        message = detail or type(self).message
        errors = [{"field": str(params.get("field", "")), "message": message}]
        super().__init__(code, detail, params=params, headers=headers, errors=errors)


class InvalidActivity(FieldRefused):
    code = "invalid_activity"
    message = "%(field)s: 1-%(max)s characters"


class InvalidPolicy(FieldRefused):
    code = "invalid_policy"
    message = "%(field)s: 0-%(max)s"


class InvalidLocation(FieldRefused):
    code = "invalid_location"
    message = "%(field)s: not a valid location"


class InvalidTimes(FieldRefused):
    code = "invalid_times"
    message = "%(field)s: times need a UTC offset"


class InvalidNote(FieldRefused):
    code = "invalid_note"
    message = "%(field)s: say why, in 1-%(max)s characters"


class InvalidName(FieldRefused):
    code = "invalid_name"
    message = "%(field)s: 1-%(max)s characters"


class NotCheckedIn(InvalidInput):
    code = "not_checked_in"
    message = "Only people still checked in can be marked absent."


# ---------------------------------------------------------------- check-in refusals (400)


class CheckinError(DomainError):
    """A refused scan or sign-up; the code says why."""

    status = 400
    code = "checkin_refused"


class CheckinNotOpen(CheckinError):
    code = "activity_not_open"
    message = "This activity is closed."


class QrInvalid(CheckinError):
    code = "qr_invalid"
    message = "This is not a Jifen check-in code."


class QrExpired(CheckinError):
    code = "qr_expired"
    message = "This code has expired: scan the code on the screen again."


class LocationRequired(CheckinError):
    code = "location_required"
    message = "This activity needs your location to check in."


class OutsideArea(CheckinError):
    code = "outside_area"
    message = "You are not at the activity's place."


class NotSignedUp(CheckinError):
    code = "not_signed_up"
    message = "Sign up for this activity first."


class ManualPending(CheckinError):
    code = "manual_pending"
    message = "Your attendance was entered by hand and is waiting for approval."


class ConfirmationPending(CheckinError):
    code = "confirmation_pending"
    message = "Your own attendance at an activity you organize waits for another organizer."


class AlreadyCheckedOut(CheckinError):
    code = "already_checked_out"
    message = "You have already checked out of this activity."


class LoginEnded(NotAuthenticated):
    """The login token was revoked (accounts' ``token_revoked``, checked in the check-in's own query)."""

    code = "token_revoked"
    message = "This login was ended; please log in again."


# ---------------------------------------------------------------- not found (404)


class ActivityNotFound(NotFound):
    code = "activity_not_found"
    message = "No such activity."


class CommunityNotFound(NotFound):
    code = "community_not_found"
    message = "No such community."


class TeamNotFound(NotFound):
    code = "team_not_found"
    message = "No such team."


class MemberNotFound(NotFound):
    code = "member_not_found"
    message = "No such member in this community."


class CardInvalid(NotFound):
    code = "card_invalid"
    message = "This member card is not valid (it may have been replaced)."


class AttendanceNotFound(NotFound):
    code = "attendance_not_found"
    message = "No such attendance record."


# ---------------------------------------------------------------- forbidden (403)


class SameAdmin(Forbidden):
    code = "same_admin"
    message = "Another admin must approve an activity you created."


class CreatorConflict(Forbidden):
    code = "creator_conflict"
    message = (
        "Another admin must approve this activity: its creator's account was opened with a code you "
        "issued, or they are your household."
    )


class SecondOrganizerRequired(Forbidden):
    code = "second_organizer_required"
    message = "Another organizer must approve a record you entered."


class ApproverConflict(Forbidden):
    code = "approver_conflict"
    message = "Another organizer must decide on a record of your own attendance."


# ---------------------------------------------------------------- conflicts (409)


class ActivityNotOpen(Conflict):
    code = "activity_not_open"
    message = "The activity is already closed or cancelled."


class ActivityFull(Conflict):
    code = "activity_full"
    message = "This activity is full."


class ActivityHasAttendance(Conflict):
    code = "activity_has_attendance"
    message = "People have checked in: close the activity instead."


class ActivityNotPending(Conflict):
    code = "activity_not_pending"
    message = "This activity is not waiting for approval."


class AlreadyAttended(Conflict):
    code = "already_attended"
    message = "This member already has an attendance record here."


class ManualNotPending(Conflict):
    code = "manual_not_pending"
    message = "This record was already decided."


class TeamNameTaken(Conflict):
    code = "team_name_taken"
    message = "A team with this name already exists."


# ---------------------------------------------------------------- corrections


class CorrectionNotFound(NotFound):
    code = "correction_not_found"
    message = "No such correction request."


class NotYourAttendance(Forbidden):
    code = "not_your_attendance"
    message = "Only the volunteer whose record it is may ask to correct it."


class NotCorrectable(Conflict):
    code = "not_correctable"
    message = (
        "This record cannot be corrected this way (%(status)s): manual records and organizers' own "
        "attendance are decided by a second organizer."
    )


class CorrectionPending(Conflict):
    code = "correction_pending"
    message = "A correction of this record is already waiting for an organizer."


class CorrectionNotPending(Conflict):
    code = "correction_not_pending"
    message = "This correction request was already decided (%(status)s)."


class InvalidCorrection(InvalidInput):
    code = "invalid_correction"
    message = "The corrected times are not possible."


# ---------------------------------------------------------------- offline scans (activities.offline)


class InvalidSync(FieldRefused):
    code = "invalid_sync"
    message = "%(field)s: not a valid offline scan"


class OfflineScanNotFound(NotFound):
    code = "offline_scan_not_found"
    message = "No such offline scan."


class OfflineScanResolved(Conflict):
    code = "offline_scan_resolved"
    message = "This offline scan was already resolved, or it is not yours to resolve."


class CodeInvalid(InvalidInput):
    code = "code_invalid"
    message = "This member code is not genuine or not known."


class CardRevoked(Conflict):
    code = "card_revoked"
    message = "This member card or code was replaced by a newer one and no longer works."


class NotAMember(Forbidden):
    code = "not_a_member"
    message = "This person is not a member of the activity's community."


class ScanOutsideWindow(CheckinError):
    code = "outside_window"
    message = "This scan was made outside the activity's check-in time."


class ClockDrift(InvalidInput):
    code = "clock_drift"
    message = "The scanning device's clock was wrong; this scan's time cannot be trusted."


class ScanConflict(Conflict):
    code = "scan_conflict"
    message = "This member was already checked in on another device."


# ---------------------------------------------------------------- scanning helpers (clerks named to scan)


class ScannerNotClerk(InvalidInput):
    code = "scanner_not_clerk"
    message = "Only a store clerk of this activity's community can be named to scan."


class ScannerSelf(Conflict):
    code = "scanner_self"
    message = "You cannot name yourself as a scanning helper."


class ScannerAlreadyAssigned(Conflict):
    code = "scanner_already_assigned"
    message = "This clerk already scans at this activity."


class ScannerNotFound(NotFound):
    code = "scanner_not_found"
    message = "This person is not named to scan at this activity."
