"""API shapes of the records (msgspec Structs, built by keyword)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

import msgspec

from service.config import NAME_MAX
from service.records.rules import VOID_REASON_MAX

__all__ = [
    "CertificateCreated",
    "CertificateIn",
    "CertificateLineOut",
    "CertificateOut",
    "IdentityIn",
    "IdentityOut",
    "IssuerIn",
    "IssuerOut",
    "MyIdentityOut",
    "VerificationOut",
    "VoidIn",
]


class IdentityIn(msgspec.Struct, forbid_unknown_fields=True):
    id_type: Annotated[
        str,
        msgspec.Meta(
            max_length=32,
            description="resident_id (居民身份证), hk_macao_permit, taiwan_permit, passport, "
            "foreign_permanent_id, hmt_residence_permit",
        ),
    ]
    id_number: Annotated[str, msgspec.Meta(min_length=1, max_length=40)]


class IdentityOut(msgspec.Struct):
    id_type: str
    id_type_name: str
    number_masked: str
    volunteer_number: str
    id_number: str | None = None
    """The whole number: only ``GET /api/v1/me/identity`` (its holder) fills it."""


class MyIdentityOut(msgspec.Struct):
    identity: IdentityOut | None
    """None until the member adds an ID document."""


class CertificateIn(msgspec.Struct, forbid_unknown_fields=True):
    team_id: uuid.UUID | None = None
    """Issued by one of the community's volunteer teams (its activities' records only)."""


class CertificateCreated(msgspec.Struct):
    id: uuid.UUID
    number: str
    verify_url: str
    pdf_url: str


class CertificateLineOut(msgspec.Struct):
    day: str
    activity: str
    content: str
    minutes: int
    hours: float
    manual: bool


class CertificateOut(msgspec.Struct):
    id: uuid.UUID
    number: str
    status: str
    community_id: uuid.UUID
    team_id: uuid.UUID | None
    issuer_name: str
    person_in_charge: str
    handler: str
    contact: str
    member_id: uuid.UUID
    member_name: str
    id_type: str
    id_type_name: str
    id_masked: str
    volunteer_number: str
    total_minutes: int
    total_hours: float
    star_level: int
    issued_on: str
    issued_by: uuid.UUID
    created_at: datetime
    void_reason: str | None
    voided_at: datetime | None
    verify_url: str
    pdf_url: str
    records: list[CertificateLineOut]


class VerificationOut(msgspec.Struct):
    genuine: bool
    status: str | None = None
    number: str | None = None
    member_name: str | None = None
    """Masked (王*成)."""
    id_type_name: str | None = None
    id_masked: str | None = None
    volunteer_number: str | None = None
    issuer_name: str | None = None
    total_hours: float | None = None
    issued_on: str | None = None


class VoidIn(msgspec.Struct, forbid_unknown_fields=True):
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=VOID_REASON_MAX)]


class IssuerIn(msgspec.Struct, forbid_unknown_fields=True):
    person_in_charge: Annotated[str, msgspec.Meta(max_length=NAME_MAX)] = ""
    handler: Annotated[str, msgspec.Meta(max_length=NAME_MAX)] = ""
    contact: Annotated[str, msgspec.Meta(max_length=64)] = ""


class IssuerOut(msgspec.Struct):
    community_id: uuid.UUID
    person_in_charge: str
    handler: str
    contact: str
