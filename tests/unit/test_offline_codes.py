"""Signed member codes and the kiosk's own codes: the bytes of docs/offline.md, and what breaks them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from service.activities import rules
from service.kit import signing

SIGNER = signing.signer_from_seed(bytes(range(32)))
KEYS = {SIGNER.key_id: SIGNER.public_raw}
COMMUNITY, MEMBER = uuid.UUID(int=7), uuid.UUID(int=9)


def card(version: int = 1) -> signing.MemberCode:
    return signing.MemberCode(signing.KIND_CARD, SIGNER.key_id, COMMUNITY, MEMBER, version)


def test_a_card_code_is_142_characters_and_verifies() -> None:
    text = SIGNER.sign(card(3))
    assert len(text) == signing.CODE_CHARS == 142
    assert signing.verify_code(text, KEYS) == card(3)
    raw = signing.unb64(text) or b""
    assert (
        raw[0] == 1 and raw[1] == 1 and raw[6:22] == COMMUNITY.bytes and raw[38:42] == (3).to_bytes(4, "big")
    )
    assert SIGNER.sign(card(3)) == text  # deterministic: a reprint is the same code


def test_what_breaks_a_code() -> None:
    text = SIGNER.sign(card())
    raw = bytearray(signing.unb64(text) or b"")
    raw[41] ^= 1  # another version, same signature
    assert signing.verify_code(signing.b64(bytes(raw)), KEYS) is None
    assert signing.verify_code(text, {}) is None  # an unknown key
    other = signing.signer_from_seed(bytes(32))
    assert signing.verify_code(text, {SIGNER.key_id: other.public_raw}) is None
    assert signing.verify_code(text[:-1], KEYS) is None and signing.verify_code("x" * 142, KEYS) is None
    personal_with_community = signing.MemberCode(signing.KIND_PERSONAL, SIGNER.key_id, COMMUNITY, MEMBER, 1)
    assert signing.parse_code(SIGNER.sign(personal_with_community)) is None


def test_a_personal_code_names_no_community() -> None:
    code = signing.MemberCode(signing.KIND_PERSONAL, SIGNER.key_id, None, MEMBER, 1)
    text = SIGNER.sign(code)
    assert (signing.unb64(text) or b"")[6:22] == bytes(16)
    assert signing.verify_code(text, KEYS) == code


def test_the_kiosks_own_code_round_trips_and_names_its_key() -> None:
    aid = uuid.UUID(int=5)
    secret = "ab" * 32
    until = 1_800_000_000
    key = rules.kiosk_key(secret, aid, 77, until)
    token = rules.make_offline_token(aid, 120_000_000, 77, until, key)
    assert len(token) == rules.OFFLINE_TOKEN_CHARS == 52
    parsed = rules.parse_token(token)
    assert parsed is not None and parsed.kind == rules.KIND_KIOSK_OFFLINE
    assert (parsed.counter, parsed.kiosk_id, parsed.valid_until) == (120_000_000, 77, until)
    assert rules.mac_ok(parsed, secret) and not rules.mac_ok(parsed, "cd" * 32)
    assert rules.kiosk_key(secret, aid, 78, until) != key


def test_a_kiosk_key_lasts_until_the_end_or_25_hours() -> None:
    now = datetime(2026, 12, 6, 20, 45, tzinfo=UTC)
    soon = now + timedelta(hours=2)
    assert rules.kiosk_key_until(soon, now) == int((soon + timedelta(minutes=30)).timestamp())
    far = now + timedelta(days=3)
    assert rules.kiosk_key_until(far, now) == int(datetime(2026, 12, 7, 21, 0, tzinfo=UTC).timestamp())
