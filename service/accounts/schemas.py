"""API shapes of the accounts domain."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

import msgspec

from service.config import NAME_MAX, PASSWORD_MAX

__all__ = [
    "CommunityIn",
    "CommunityOut",
    "ImportOut",
    "LoginIn",
    "LoginOut",
    "MeOut",
    "MemberIn",
    "MemberOut",
    "MemberPage",
    "MemberPatchIn",
    "PartnerIn",
    "PartnerOut",
    "PasswordIn",
    "RegisterIn",
    "RoleOut",
]

Phone = Annotated[str, msgspec.Meta(min_length=1, max_length=20, description="Mainland mobile number")]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=NAME_MAX)]
Password = Annotated[str, msgspec.Meta(min_length=1, max_length=PASSWORD_MAX)]


class LoginIn(msgspec.Struct, forbid_unknown_fields=True):
    phone: Phone
    password: Password


class RegisterIn(msgspec.Struct, forbid_unknown_fields=True):
    phone: Phone
    name: Name
    password: Password
    community_id: uuid.UUID


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


class LoginOut(msgspec.Struct):
    token: str
    member: MeOut


class CommunityIn(msgspec.Struct, forbid_unknown_fields=True):
    name: Name
    code: Annotated[str, msgspec.Meta(min_length=2, max_length=32, pattern=r"^[a-z0-9][a-z0-9-]*$")]
    timezone: Annotated[str, msgspec.Meta(max_length=64)] | None = None
    allow_registration: bool = True


class CommunityOut(msgspec.Struct):
    id: uuid.UUID
    name: str
    code: str
    timezone: str
    allow_registration: bool
    created_at: datetime


class MemberIn(msgspec.Struct, forbid_unknown_fields=True):
    phone: Phone
    name: Name
    role: Annotated[str, msgspec.Meta(max_length=16)] = "member"
    password: Password | None = None
    partner_id: uuid.UUID | None = None


class MemberPatchIn(msgspec.Struct, forbid_unknown_fields=True):
    name: Name | None = None
    phone: Phone | None = None


class PasswordIn(msgspec.Struct, forbid_unknown_fields=True):
    password: Password


class MemberPage(msgspec.Struct):
    items: list[MemberOut]
    next_cursor: str | None


class ImportOut(msgspec.Struct):
    created: int
    updated: int
    errors: list[dict[str, int | str]]


class PartnerIn(msgspec.Struct, forbid_unknown_fields=True):
    name: Name
    address: Annotated[str, msgspec.Meta(max_length=200)] | None = None


class PartnerOut(msgspec.Struct):
    id: uuid.UUID
    community_id: uuid.UUID
    name: str
    address: str | None
    active: bool
