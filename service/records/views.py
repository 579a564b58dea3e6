"""Reads of the records: one's own ID document, a certificate as its page and PDF show it, the public
verification of a certificate, a member's certificates and the issuer's details."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass, field
from urllib.parse import urlencode

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from service.accounts import service as accounts
from service.accounts.actor import Actor
from service.accounts.views import community_view, members_by_id, roles_in
from service.activities.errors import MemberNotFound
from service.activities.views import cumulative_minutes
from service.errors import Forbidden, raises
from service.kit import qr
from service.kit.masking import mask_name
from service.kit.stars import star_level
from service.records import crypto, rules
from service.records.errors import CertificateNotFound
from service.records.models import Certificate, CertificateLine, Identity, Issuer

__all__ = [
    "CertificateSheet",
    "IdentityView",
    "IssuerView",
    "MemberCertificates",
    "Verification",
    "certificate_sheet",
    "identity_of",
    "identity_or_none",
    "issuer_of",
    "member_certificates",
    "pdf_url",
    "star_level_of",
    "verify",
    "verify_url",
]

CERTIFICATE_REFUSED = "You cannot see this certificate."
CERTIFICATES_LIST_MAX = 100


@dataclass(frozen=True)
class IdentityView:
    id_type: str
    id_type_name: str
    number_masked: str
    volunteer_number: str
    id_number: str | None = None
    """The whole number: only ever filled for its holder."""


async def identity_of(
    db: AsyncSession, actor: Actor, keys: crypto.IdKeys, *, reveal: bool = False
) -> IdentityView | None:
    """The caller's own ID document (the whole number when ``reveal``: only its holder asks), or None."""
    row = await db.get(Identity, actor.member_id)
    if row is None:
        return None
    return IdentityView(
        id_type=row.id_type,
        id_type_name=rules.ID_TYPE_NAMES[row.id_type],
        number_masked=row.number_masked,
        volunteer_number=row.volunteer_number,
        id_number=crypto.open_number(keys, actor.member_id, row.number_cipher) if reveal else None,
    )


def verify_url(public_url: str, keys: crypto.IdKeys, cert: Certificate) -> str:
    query = urlencode(
        {"n": cert.number, "s": rules.certificate_signature(keys.verify, str(cert.id), cert.number)}
    )
    return f"{public_url}/certificates/verify?{query}"


def pdf_url(public_url: str, cert: Certificate) -> str:
    return f"{public_url}/api/v1/certificates/{cert.id}/pdf"


@dataclass(frozen=True)
class CertificateSheet:
    cert: Certificate
    lines: list[CertificateLine]
    id_type_name: str
    verify_url: str
    pdf_url: str
    qr_svg: str
    tz: str
    can_void: bool = False


async def _lines(db: AsyncSession, certificate_id: uuid.UUID) -> list[CertificateLine]:
    stmt = (
        select(CertificateLine)
        .where(CertificateLine.certificate_id == certificate_id)
        .order_by(CertificateLine.position)
    )
    return list((await db.execute(stmt)).scalars())


@raises(CertificateNotFound, Forbidden)
async def certificate_sheet(
    db: AsyncSession, actor: Actor, certificate_id: uuid.UUID, keys: crypto.IdKeys, public_url: str
) -> CertificateSheet:
    """A certificate with every fact it states, for its volunteer or an organizer or admin of its
    community (``forbidden`` for anyone else)."""
    cert = await db.get(Certificate, certificate_id)
    if cert is None:
        raise CertificateNotFound()
    roles = await roles_in(db, actor, cert.community_id)
    staff = roles.any("organizer")
    if not staff and cert.member_id != actor.member_id:
        raise Forbidden(detail=CERTIFICATE_REFUSED)
    url = verify_url(public_url, keys, cert)
    place = await community_view(db, cert.community_id)
    return CertificateSheet(
        cert=cert,
        lines=await _lines(db, cert.id),
        id_type_name=rules.ID_TYPE_NAMES.get(cert.id_type, cert.id_type),
        verify_url=url,
        pdf_url=pdf_url(public_url, cert),
        qr_svg=qr.svg(url).decode(),
        tz=place.timezone if place else "Asia/Shanghai",
        can_void=staff and cert.status == "valid",
    )


@dataclass(frozen=True)
class Verification:
    genuine: bool
    cert: Certificate | None = None
    masked_name: str = ""
    id_type_name: str = ""
    lines: list[CertificateLine] = field(default_factory=list)


async def verify(db: AsyncSession, keys: crypto.IdKeys, number: str, signature: str) -> Verification:
    """What anyone holding a certificate sees: the same facts, the name masked, valid or voided. A
    number that is unknown or whose signature does not match (edited, guessed) is not genuine."""
    number = number.strip()[: rules.CERT_NUMBER_MAX]
    cert = await db.scalar(select(Certificate).where(Certificate.number == number)) if number else None
    if cert is None:
        return Verification(False)
    expected = rules.certificate_signature(keys.verify, str(cert.id), cert.number)
    if not secrets.compare_digest(expected, signature.strip()[:64]):
        return Verification(False)
    return Verification(
        True,
        cert,
        mask_name(cert.member_name),
        rules.ID_TYPE_NAMES.get(cert.id_type, cert.id_type),
        await _lines(db, cert.id),
    )


@dataclass(frozen=True)
class MemberCertificates:
    member_id: uuid.UUID
    member_name: str
    community_id: uuid.UUID
    community_name: str
    certificates: list[Certificate]
    has_identity: bool
    star_level: int
    minutes: int


@raises(Forbidden, MemberNotFound)
async def member_certificates(
    db: AsyncSession, actor: Actor, member_id: uuid.UUID, community_id: uuid.UUID
) -> MemberCertificates:
    """A member's certificates in a community, newest first (the member, organizers and admins)."""
    roles = await roles_in(db, actor, community_id)
    if not (roles.any("organizer") or (member_id == actor.member_id and roles.member)):
        raise Forbidden(detail=CERTIFICATE_REFUSED)
    place = await community_view(db, community_id)
    person = (await members_by_id(db, [member_id])).get(member_id)
    if place is None or person is None:
        raise MemberNotFound()
    stmt = (
        select(Certificate)
        .where(Certificate.member_id == member_id, Certificate.community_id == community_id)
        .order_by(Certificate.created_at.desc())
        .limit(CERTIFICATES_LIST_MAX)
    )
    minutes = (await cumulative_minutes(db, [member_id])).get(member_id, 0)
    return MemberCertificates(
        member_id=member_id,
        member_name=person.name,
        community_id=community_id,
        community_name=place.name,
        certificates=list((await db.execute(stmt)).scalars()),
        has_identity=await db.get(Identity, member_id) is not None,
        star_level=star_level(minutes),
        minutes=minutes,
    )


@dataclass(frozen=True)
class IssuerView:
    community_id: uuid.UUID
    person_in_charge: str = ""
    handler: str = ""
    contact: str = ""


@raises(accounts.require_role)
async def issuer_of(db: AsyncSession, actor: Actor, community_id: uuid.UUID) -> IssuerView:
    """The issuer's details certificates print (staff of the community read them)."""
    await accounts.require_role(db, actor, community_id, "organizer")
    row = await db.get(Issuer, community_id)
    if row is None:
        return IssuerView(community_id)
    return IssuerView(community_id, row.person_in_charge, row.handler, row.contact)


async def star_level_of(db: AsyncSession, member_id: uuid.UUID) -> int:
    """The member's star level (0-5) from their cumulative recorded hours."""
    return star_level((await cumulative_minutes(db, [member_id])).get(member_id, 0))


async def identity_or_none(db: AsyncSession, actor: Actor) -> IdentityView | None:
    """The caller's own ID document, masked (pages show the form with it), or None."""
    row = await db.get(Identity, actor.member_id)
    if row is None:
        return None
    return IdentityView(
        row.id_type, rules.ID_TYPE_NAMES[row.id_type], row.number_masked, row.volunteer_number
    )
