"""Tables of the records: ID documents (encrypted), counters, issuers' details, certificates and the
service records each certificate states."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from service.config import NAME_MAX, TITLE_MAX
from service.db import Base, IdMixin, TimestampMixin
from service.records.rules import CERT_NUMBER_MAX, VOID_REASON_MAX

__all__ = ["Certificate", "CertificateLine", "Identity", "Issuer", "RecordCounter"]


class Identity(TimestampMixin, Base):
    """A member's ID document (one per member) and volunteer number. The number itself is only in
    ``number_cipher`` (AES-GCM); ``number_hash`` (HMAC) finds it and keeps it unique."""

    __tablename__ = "records_identities"

    member_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("members.id"), primary_key=True)
    id_type: Mapped[str] = mapped_column(String(32))
    number_cipher: Mapped[bytes] = mapped_column(LargeBinary)
    number_hash: Mapped[str] = mapped_column(String(64), unique=True)
    number_masked: Mapped[str] = mapped_column(String(32))
    volunteer_number: Mapped[str] = mapped_column(String(16), unique=True)
    updated_at: Mapped[datetime]


class RecordCounter(Base):
    """Sequences that must never repeat: volunteer numbers, certificate numbers per issuer and year."""

    __tablename__ = "records_counters"

    key: Mapped[str] = mapped_column(String(80), primary_key=True)
    last: Mapped[int] = mapped_column(BigInteger)


class Issuer(Base):
    """What a community's certificates say of the issuer: person in charge, handler and contact."""

    __tablename__ = "records_issuers"

    community_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("communities.id"), primary_key=True)
    person_in_charge: Mapped[str] = mapped_column(String(NAME_MAX), default="")
    handler: Mapped[str] = mapped_column(String(NAME_MAX), default="")
    contact: Mapped[str] = mapped_column(String(64), default="")
    updated_at: Mapped[datetime]
    updated_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("members.id"), default=None)


class Certificate(IdMixin, TimestampMixin, Base):
    """An issued service certificate (志愿服务证明): the facts as stated on the day, so verifying it
    later shows exactly what was printed; valid until voided with a reason."""

    __tablename__ = "records_certificates"

    community_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("communities.id"), index=True)
    team_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("teams.id"), default=None)
    issuer_key: Mapped[str] = mapped_column(String(40))
    year: Mapped[int]
    seq: Mapped[int]
    number: Mapped[str] = mapped_column(String(CERT_NUMBER_MAX), unique=True)
    member_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("members.id"), index=True)
    issued_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("members.id"))
    issued_on: Mapped[str] = mapped_column(String(10))
    issuer_name: Mapped[str] = mapped_column(String(TITLE_MAX * 2))
    person_in_charge: Mapped[str] = mapped_column(String(NAME_MAX))
    handler: Mapped[str] = mapped_column(String(NAME_MAX))
    contact: Mapped[str] = mapped_column(String(64))
    member_name: Mapped[str] = mapped_column(String(NAME_MAX))
    id_type: Mapped[str] = mapped_column(String(32))
    id_masked: Mapped[str] = mapped_column(String(32))
    volunteer_number: Mapped[str] = mapped_column(String(16))
    total_minutes: Mapped[int]
    star_level: Mapped[int]
    status: Mapped[str] = mapped_column(String(16), default="valid")
    void_reason: Mapped[str | None] = mapped_column(String(VOID_REASON_MAX), default=None)
    voided_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("members.id"), default=None)
    voided_at: Mapped[datetime | None] = mapped_column(default=None)

    __table_args__ = (
        UniqueConstraint("issuer_key", "year", "seq", name="uq_records_certificates_issuer_year_seq"),
        CheckConstraint("status IN ('valid','voided')", name="known_status"),
        CheckConstraint("status = 'valid' OR void_reason IS NOT NULL", name="void_has_reason"),
        CheckConstraint("total_minutes >= 0 AND star_level BETWEEN 0 AND 5", name="sane_totals"),
    )


class CertificateLine(IdMixin, Base):
    """One service record a certificate states (date, activity, content, minutes, manual or not)."""

    __tablename__ = "records_certificate_lines"

    certificate_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("records_certificates.id"), index=True)
    attendance_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("attendances.id"))
    position: Mapped[int]
    day: Mapped[str] = mapped_column(String(10))
    activity: Mapped[str] = mapped_column(String(TITLE_MAX))
    content: Mapped[str] = mapped_column(Text)
    minutes: Mapped[int]
    manual: Mapped[bool]
