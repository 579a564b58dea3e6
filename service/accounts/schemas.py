"""API shapes of the accounts domain."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

from service.accounts.models import ROLES, ProposalStatus, RegistrationStatus, SelfRegistration
from service.accounts.rules import PHONE_PATTERN, TIMEZONES
from service.config import PASSWORD_MAX, PASSWORD_MIN
from service.kit.fields import Name

__all__ = [
    "PHONE_SCHEMA",
    "ActivateIn",
    "ActivationOut",
    "CommunityIn",
    "CommunityOut",
    "CommunityPatch",
    "ImportOut",
    "IssuedActivationOut",
    "LoginIn",
    "LoginOut",
    "MeOut",
    "MemberIn",
    "MemberOut",
    "MemberPage",
    "MemberPatchIn",
    "NewPassword",
    "PartnerIn",
    "PartnerOut",
    "PasswordIn",
    "PendingOut",
    "Phone",
    "ProposalOut",
    "RegisterIn",
    "RegisterOut",
    "RegistrationOut",
    "RoleOut",
    "SmsCodeIn",
    "SmsCodeOut",
    "SmsLoginIn",
]

PHONE_SCHEMA = {"description": "Mainland mobile number", "extra": {"pattern": PHONE_PATTERN}}
"""The document's constraints of a phone number: what the service's normalisation accepts."""
Phone = Annotated[str, msgspec.Meta(min_length=1, max_length=20, extra_json_schema=PHONE_SCHEMA)]
Password = Annotated[str, msgspec.Meta(min_length=1, max_length=PASSWORD_MAX)]
"""A password to check: any length a stored one may have."""
NewPassword = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=PASSWORD_MAX,
        extra_json_schema={"extra": {"minLength": PASSWORD_MIN}},
    ),
]
"""A password to set: the service refuses fewer than ``PASSWORD_MIN`` characters (``invalid_password``),
and the document says so; the decoder keeps 1, so the refusal keeps its own code and message."""
TimeZone = Annotated[str, msgspec.Meta(max_length=64, extra_json_schema={"extra": {"enum": list(TIMEZONES)}})]
"""An IANA time zone of ``TIMEZONES`` (the service answers ``invalid_timezone`` for any other)."""


class LoginIn(msgspec.Struct, forbid_unknown_fields=True):
    phone: Phone
    password: Password


SmsCode = Annotated[str, msgspec.Meta(min_length=1, max_length=16, description="The code we texted")]


class RegisterIn(msgspec.Struct, forbid_unknown_fields=True):
    """Sign up with a password, or with the SMS code sent by ``POST /api/v1/auth/sms-code`` (or both)."""

    phone: Phone
    name: Name
    community_id: uuid.UUID
    password: NewPassword | None = None
    sms_code: SmsCode | None = None
    privacy_accepted: bool | None = None
    """The person ticked the privacy notice in force (false: refused, privacy_not_accepted; left out by
    older clients: the person is asked after login)."""


class RoleOut(msgspec.Struct, omit_defaults=True):
    community_id: uuid.UUID
    role: str
    partner_id: uuid.UUID | None = None


class MemberOut(msgspec.Struct):
    id: uuid.UUID
    phone: str
    name: str
    roles: list[RoleOut] = []


class MeOut(MemberOut):
    is_platform_admin: bool = False
    held: bool = False
    """Someone else has known this account's password (they issued the code it was set with): the
    caller approves, confirms, dispatches and awards nothing until they set a new one by SMS
    (``POST /api/v1/me/password/sms``)."""


class SecureIn(msgspec.Struct, forbid_unknown_fields=True):
    """A new password with the code texted to the caller's own phone (``POST /api/v1/auth/sms-code``)."""

    code: SmsCode
    password: Password


class LoginOut(msgspec.Struct):
    token: str
    member: MeOut


class RegisterOut(LoginOut):
    status: Literal["joined", "pending_approval"] = "joined"
    """``pending_approval``: logged in, but a community admin must approve before the member joins."""


class SmsCodeIn(msgspec.Struct, forbid_unknown_fields=True):
    phone: Phone


class SmsCodeOut(msgspec.Struct):
    status: Literal["sent"]
    resend_after_s: int


class SmsLoginIn(msgspec.Struct, forbid_unknown_fields=True):
    phone: Phone
    code: SmsCode


class ActivateIn(msgspec.Struct, forbid_unknown_fields=True):
    code: Annotated[str, msgspec.Meta(min_length=1, max_length=32)]
    password: NewPassword
    privacy_accepted: bool | None = None
    """As in RegisterIn: the privacy notice in force was accepted."""


class ActivationOut(msgspec.Struct):
    masked_name: str
    community: str
    expires_at: datetime


class IssuedActivationOut(msgspec.Struct):
    member_id: uuid.UUID
    code: str
    url: str
    expires_at: datetime


class RegistrationOut(msgspec.Struct):
    id: uuid.UUID
    community_id: uuid.UUID
    member_id: uuid.UUID
    name: str
    phone: str
    status: RegistrationStatus
    created_at: datetime


class CommunityIn(msgspec.Struct, forbid_unknown_fields=True):
    name: Name
    code: Annotated[str, msgspec.Meta(min_length=2, max_length=32, pattern=r"^[a-z0-9][a-z0-9-]*$")]
    timezone: TimeZone | None = None
    allow_registration: bool = True
    """Older yes/no form: ``false`` means ``self_registration: off``."""
    self_registration: SelfRegistration | None = None
    """How residents sign themselves up: off, auto (join at once) or approval (an admin approves)."""


class CommunityPatch(msgspec.Struct, forbid_unknown_fields=True):
    self_registration: SelfRegistration


class CommunityOut(msgspec.Struct):
    id: uuid.UUID
    name: str
    code: str
    timezone: str
    allow_registration: bool
    created_at: datetime
    self_registration: SelfRegistration = "auto"


class MemberIn(msgspec.Struct, forbid_unknown_fields=True):
    phone: Phone
    name: Name
    role: Annotated[str, msgspec.Meta(max_length=16, extra_json_schema={"extra": {"enum": list(ROLES)}})] = (
        "member"
    )
    password: NewPassword | None = None
    partner_id: uuid.UUID | None = None


class MemberPatchIn(msgspec.Struct, forbid_unknown_fields=True):
    name: Name | None = None
    phone: Phone | None = None


class PasswordIn(msgspec.Struct, forbid_unknown_fields=True):
    password: NewPassword


class MemberPage(msgspec.Struct):
    items: list[MemberOut]
    next_cursor: str | None


class ImportOut(msgspec.Struct):
    created: int
    updated: int
    errors: list[dict[str, int | str]]
    invited: int = 0
    """Members given an activation code: print their invitation cards on the admin page."""


class PartnerIn(msgspec.Struct, forbid_unknown_fields=True):
    name: Name
    address: Annotated[str, msgspec.Meta(max_length=200)] | None = None


class PartnerOut(msgspec.Struct):
    id: uuid.UUID
    community_id: uuid.UUID
    name: str
    address: str | None
    active: bool


class ProposalOut(msgspec.Struct):
    """A change to a policy knob waiting for (or decided by) a second person."""

    id: uuid.UUID
    community_id: uuid.UUID
    knob: str
    target_id: uuid.UUID | None
    before: dict[str, Any]
    after: dict[str, Any]
    status: ProposalStatus
    proposed_by: uuid.UUID
    created_at: datetime
    decided_by: uuid.UUID | None = None
    decided_at: datetime | None = None
    proposed_by_name: str = ""
    decided_by_name: str = ""


class PendingOut(msgspec.Struct):
    """A knob route's answer (202) when the change widens risk: nothing changed yet."""

    proposal: ProposalOut
    status: Literal["pending"] = "pending"
