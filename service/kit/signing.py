"""Signed member codes (Ed25519): what a printed member card or a volunteer's personal code carries, so
a scanner with no connection can tell a genuine code from a forged one. Pure: no I/O, no framework.

A code is ``base64url(payload || signature)`` without padding, 142 characters; the payload's layout
is in ``docs/offline.md`` (the browser scanner parses the same bytes).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import uuid
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

__all__ = [
    "CODE_CHARS",
    "FORMAT",
    "KIND_CARD",
    "KIND_PERSONAL",
    "MemberCode",
    "Signer",
    "b64",
    "key_id_of",
    "parse_code",
    "signer_from_seed",
    "unb64",
    "verify_code",
]

FORMAT = 1
"""The payload's first byte: the layout version."""
KIND_CARD = 1
"""A printed member card (one per member and community)."""
KIND_PERSONAL = 2
"""A volunteer's personal code shown on their phone (one per member, any community)."""
_PAYLOAD_BYTES = 1 + 1 + 4 + 16 + 16 + 4
_SIGNATURE_BYTES = 64
CODE_CHARS = -(-(_PAYLOAD_BYTES + _SIGNATURE_BYTES) * 4 // 3)
_NIL = uuid.UUID(int=0)


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def unb64(text: str) -> bytes | None:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None


def key_id_of(public_raw: bytes) -> int:
    """A key's id: the first 4 bytes of SHA-256 of its raw 32-byte public key, as an unsigned integer."""
    return int.from_bytes(hashlib.sha256(public_raw).digest()[:4], "big")


@dataclass(frozen=True)
class MemberCode:
    """What a signed code says: whose it is, which card (or personal code) version, signed by which key."""

    kind: int
    key_id: int
    community_id: uuid.UUID | None
    """The card's community; ``None`` for a personal code."""
    member_id: uuid.UUID
    version: int

    def payload(self) -> bytes:
        return (
            bytes([FORMAT, self.kind])
            + self.key_id.to_bytes(4, "big")
            + (self.community_id or _NIL).bytes
            + self.member_id.bytes
            + self.version.to_bytes(4, "big")
        )


@dataclass(frozen=True)
class Signer:
    """The platform's signing key (all workers share it)."""

    key_id: int
    private: Ed25519PrivateKey
    public_raw: bytes

    def sign(self, code: MemberCode) -> str:
        if code.key_id != self.key_id:
            raise ValueError("a code is signed by the key its payload names")
        payload = code.payload()
        return b64(payload + self.private.sign(payload))


def signer_from_seed(seed: bytes) -> Signer:
    """The signer of a 32-byte Ed25519 private seed."""
    private = Ed25519PrivateKey.from_private_bytes(seed)
    public_raw = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return Signer(key_id_of(public_raw), private, public_raw)


def parse_code(text: str) -> tuple[MemberCode, bytes, bytes] | None:
    """A code's claims, payload and signature (unverified), or ``None`` when it is not shaped like one."""
    if len(text) != CODE_CHARS:
        return None
    raw = unb64(text)
    if raw is None or len(raw) != _PAYLOAD_BYTES + _SIGNATURE_BYTES:
        return None
    payload, signature = raw[:_PAYLOAD_BYTES], raw[_PAYLOAD_BYTES:]
    if payload[0] != FORMAT or payload[1] not in (KIND_CARD, KIND_PERSONAL):
        return None
    community = uuid.UUID(bytes=payload[6:22])
    if (payload[1] == KIND_CARD) == (community == _NIL):
        return None  # a card names its community, a personal code none
    code = MemberCode(
        kind=payload[1],
        key_id=int.from_bytes(payload[2:6], "big"),
        community_id=None if community == _NIL else community,
        member_id=uuid.UUID(bytes=payload[22:38]),
        version=int.from_bytes(payload[38:42], "big"),
    )
    return code, payload, signature


def verify_code(text: str, public_keys: dict[int, bytes]) -> MemberCode | None:
    """The code's claims if its signature is genuine under the key it names, else ``None``."""
    parsed = parse_code(text)
    if parsed is None:
        return None
    code, payload, signature = parsed
    public_raw = public_keys.get(code.key_id)
    if public_raw is None:
        return None
    try:
        Ed25519PublicKey.from_public_bytes(public_raw).verify(signature, payload)
    except (InvalidSignature, ValueError):
        return None
    return code
