"""Signed member codes: the platform's signing key, the codes printed cards and volunteers' phones
show, their versions and the revocation list (the formats are in ``docs/offline.md``).

The key is ``JIFEN_SIGNING_KEY`` (a base64url 32-byte Ed25519 seed) when set; otherwise one key is
generated the first time any worker needs it and kept in ``signing_keys``, so every worker signs with
the same one. Every key that ever signed stays listed there (public half), so codes signed before a
rotation still verify.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from service import clock
from service.activities.models import CodeRevocation, MemberCard, PersonalCode, SigningKey
from service.db import is_postgres
from service.kit import signing

__all__ = [
    "CodeCheck",
    "card_code",
    "card_of",
    "check_code",
    "personal_code",
    "personal_member",
    "public_keys",
    "reissue_personal_code",
    "revoke_card_version",
    "signer",
]

_SLOT_GENERATED = "generated"
_signers: dict[str, signing.Signer] = {}
"""Signers by their base64url seed, so a worker derives each key once."""


def _insert(db: AsyncSession):  # type: ignore[no-untyped-def]
    return pg_insert if is_postgres(db) else sqlite_insert


def _signer_of(seed_b64: str) -> signing.Signer:
    found = _signers.get(seed_b64)
    if found is None:
        seed = signing.unb64(seed_b64)
        if seed is None or len(seed) != 32:
            raise RuntimeError("a signing key must be 32 bytes in base64url")
        found = _signers[seed_b64] = signing.signer_from_seed(seed)
    return found


async def signer(db: AsyncSession, configured_seed: str) -> signing.Signer:
    """The key codes are signed with: the configured one, else the one generated once and stored.
    Either way its public half is in ``signing_keys`` before it signs anything (one read to check)."""
    if configured_seed:
        found = _signer_of(configured_seed)
        if await db.scalar(select(SigningKey.key_id).where(SigningKey.key_id == found.key_id)) is None:
            await db.execute(
                _insert(db)(SigningKey)
                .values(key_id=found.key_id, public_key=signing.b64(found.public_raw), created_at=clock.now())
                .on_conflict_do_nothing()
            )
        return found
    stored = await db.scalar(select(SigningKey.private_key).where(SigningKey.slot == _SLOT_GENERATED))
    if stored is None:
        fresh = signing.signer_from_seed(os.urandom(32))
        await db.execute(
            _insert(db)(SigningKey)
            .values(
                key_id=fresh.key_id,
                public_key=signing.b64(fresh.public_raw),
                private_key=signing.b64(fresh.private.private_bytes_raw()),
                slot=_SLOT_GENERATED,
                created_at=clock.now(),
            )
            .on_conflict_do_nothing()  # another worker made it first: use theirs
        )
        stored = await db.scalar(select(SigningKey.private_key).where(SigningKey.slot == _SLOT_GENERATED))
    if stored is None:
        raise RuntimeError("the generated signing key could not be stored")
    return _signer_of(stored)


async def public_keys(db: AsyncSession) -> dict[int, bytes]:
    """Every key a genuine code may name, by key id (a key is listed before it signs anything)."""
    rows = (await db.execute(select(SigningKey.key_id, SigningKey.public_key))).all()
    return {int(kid): signing.unb64(pub) or b"" for kid, pub in rows}


async def card_code(db: AsyncSession, configured_seed: str, card: MemberCard) -> str:
    """The signed code of a member card's current version (deterministic: Ed25519 signatures are)."""
    key = await signer(db, configured_seed)
    return key.sign(
        signing.MemberCode(
            kind=signing.KIND_CARD,
            key_id=key.key_id,
            community_id=card.community_id,
            member_id=card.member_id,
            version=card.version,
        )
    )


async def personal_code(db: AsyncSession, configured_seed: str, member_id: uuid.UUID) -> tuple[str, int]:
    """A volunteer's signed personal code and its version (a member without a row has version 1)."""
    key = await signer(db, configured_seed)
    version = await db.scalar(select(PersonalCode.version).where(PersonalCode.member_id == member_id)) or 1
    code = signing.MemberCode(
        kind=signing.KIND_PERSONAL, key_id=key.key_id, community_id=None, member_id=member_id, version=version
    )
    return key.sign(code), version


async def revoke_card_version(db: AsyncSession, card: MemberCard, revoked_by: uuid.UUID | None) -> None:
    """List the card's current version as revoked and move the card to the next one."""
    db.add(
        CodeRevocation(
            community_id=card.community_id,
            member_id=card.member_id,
            kind=signing.KIND_CARD,
            version=card.version,
            revoked_by=revoked_by,
        )
    )
    card.version += 1


@dataclass(frozen=True)
class CodeCheck:
    """A signed code checked against the server's records: whose it is, or why it does not count."""

    code: signing.MemberCode | None
    refusal: str | None
    """``code_invalid`` (not genuine), ``card_revoked`` (an older version or listed as revoked)."""


async def check_code(db: AsyncSession, text: str) -> CodeCheck:
    """Verify a signed code's signature and that its version is the member's current one."""
    code = signing.verify_code(text, await public_keys(db))
    if code is None:
        return CodeCheck(None, "code_invalid")
    if code.kind == signing.KIND_CARD:
        current = await db.scalar(
            select(MemberCard.version).where(
                MemberCard.community_id == code.community_id, MemberCard.member_id == code.member_id
            )
        )
    else:
        current = (
            await db.scalar(select(PersonalCode.version).where(PersonalCode.member_id == code.member_id)) or 1
        )
    if current is None:
        return CodeCheck(code, "code_invalid")  # a card that was never issued
    if code.version != current:
        return CodeCheck(code, "card_revoked")
    return CodeCheck(code, None)


async def card_of(db: AsyncSession, text: str) -> MemberCard | None:
    """The card a scanned card QR shows: its signed code (current version only), or the unsigned
    token of a card printed before signed codes; ``None`` for anything else."""
    text = text.strip()
    if len(text) != signing.CODE_CHARS:
        return await db.scalar(select(MemberCard).where(MemberCard.token == text[:64])) if text else None
    check = await check_code(db, text)
    if check.code is None or check.refusal is not None or check.code.kind != signing.KIND_CARD:
        return None
    card: MemberCard | None = await db.scalar(
        select(MemberCard).where(
            MemberCard.community_id == check.code.community_id, MemberCard.member_id == check.code.member_id
        )
    )
    return card


async def personal_member(db: AsyncSession, text: str) -> uuid.UUID | None:
    """The member whose current personal code ``text`` is, else ``None``."""
    check = await check_code(db, text.strip())
    if check.code is None or check.refusal is not None or check.code.kind != signing.KIND_PERSONAL:
        return None
    return check.code.member_id


async def reissue_personal_code(db: AsyncSession, member_id: uuid.UUID) -> int:
    """A volunteer's new personal code (a phone lost or a screenshot shared): the version goes up and
    the old one goes on the revocation list. Returns the new version."""
    row = await db.scalar(select(PersonalCode).where(PersonalCode.member_id == member_id).with_for_update())
    if row is None:
        row = PersonalCode(member_id=member_id, version=1, updated_at=clock.now())
        db.add(row)
    db.add(
        CodeRevocation(
            community_id=None,
            member_id=member_id,
            kind=signing.KIND_PERSONAL,
            version=row.version,
            revoked_by=member_id,
        )
    )
    row.version += 1
    row.updated_at = clock.now()
    await db.flush()
    return row.version
