"""ID numbers at rest: AES-256-GCM encryption and a keyed look-up hash (HMAC-SHA256), both keyed from
``Settings.id_key`` (``JIFEN_ID_KEY``) or, when that is unset, from the secret key.

Each key is stretched with HKDF-SHA256 under its own label, so the encryption key, the look-up key and
the certificates' verification key are independent. The member's id is the AES-GCM associated data: a
ciphertext copied onto another member's row does not decrypt. No I/O; nothing here logs.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import uuid
from dataclasses import dataclass
from functools import lru_cache

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = ["CIPHER_VERSION", "IdKeys", "id_keys", "lookup_hash", "open_number", "seal_number"]

CIPHER_VERSION = b"\x01"
"""The first byte of a stored ciphertext: the scheme (AES-256-GCM, 12-byte nonce) for later rotation."""
_NONCE_BYTES = 12


@dataclass(frozen=True)
class IdKeys:
    encrypt: bytes = b""
    lookup: bytes = b""
    verify: bytes = b""

    def __repr__(self) -> str:  # keys never reach a log or a traceback's locals as text
        return "IdKeys(<hidden>)"


def _derive(material: bytes, label: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"jifen-records-v1", info=label).derive(material)


@lru_cache(maxsize=8)
def id_keys(id_key: str, secret_key: str) -> IdKeys:
    """The three keys from ``JIFEN_ID_KEY`` (or the secret key when it is unset)."""
    material = (id_key or f"secret-key:{secret_key}").encode()
    return IdKeys(
        encrypt=_derive(material, b"id-number-encrypt"),
        lookup=_derive(material, b"id-number-lookup"),
        verify=_derive(material, b"certificate-verify"),
    )


def seal_number(keys: IdKeys, member_id: uuid.UUID, number: str) -> bytes:
    """version byte + nonce + ciphertext-and-tag."""
    nonce = os.urandom(_NONCE_BYTES)
    return CIPHER_VERSION + nonce + AESGCM(keys.encrypt).encrypt(nonce, number.encode(), member_id.bytes)


def open_number(keys: IdKeys, member_id: uuid.UUID, blob: bytes) -> str:
    """The number back (raises ``cryptography.exceptions.InvalidTag`` for another key or row)."""
    if blob[:1] != CIPHER_VERSION:
        raise ValueError("unknown ID cipher version")
    nonce, body = blob[1 : 1 + _NONCE_BYTES], blob[1 + _NONCE_BYTES :]
    return AESGCM(keys.encrypt).decrypt(nonce, body, member_id.bytes).decode()


def lookup_hash(keys: IdKeys, id_type: str, number: str) -> str:
    """A keyed hash of (type, number): finds a document and keeps it unique without decrypting."""
    return hmac.new(keys.lookup, f"{id_type}|{number}".encode(), hashlib.sha256).hexdigest()
