"""Pure rules of the accounts domain: no I/O, no framework."""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
import uuid
import zoneinfo
from collections.abc import Iterable
from typing import TypeGuard

from service.accounts.models import ROLES, SELF_REGISTRATION, Role, SelfRegistration

__all__ = [
    "ACTIVATION_CODE_LENGTH",
    "ACTIVATION_LIFETIME_SECONDS",
    "CODE_RE",
    "GUESSES_PER_CLIENT_MAX",
    "GUESSES_PER_DEVICE_MAX",
    "PHONE_PATTERN",
    "PLATFORM_GRANTED_ROLES",
    "PRIVACY_NOTICE_VERSION",
    "REQUEST_DECISION_DAYS",
    "SIGNUPS_PER_CLIENT_MAX",
    "SIGNUPS_PER_DEVICE_MAX",
    "SMS_CODE_ATTEMPTS_MAX",
    "SMS_CODE_LENGTH",
    "SMS_CODE_LIFETIME_SECONDS",
    "SMS_GUESSES_PER_PHONE_MAX",
    "SMS_PER_CLIENT_MAX",
    "SMS_PER_DEVICE_MAX",
    "SMS_PER_PHONE_MAX",
    "SMS_RESEND_SECONDS",
    "TIMEZONES",
    "activation_code",
    "code_hash",
    "format_activation_code",
    "is_placeholder_phone",
    "is_role",
    "is_self_registration",
    "normalise_activation_code",
    "normalise_phone",
    "placeholder_phone",
    "pseudonym",
    "roles_snapshot",
    "sms_code_hash",
]

ACTIVATION_LIFETIME_SECONDS = 30 * 24 * 3600
"""How long an invitation or reset code works: long enough to hand printed cards out door to door."""
ACTIVATION_CODE_LENGTH = 12
"""Characters of an activation code: 60 bits, typed from a card if the QR cannot be scanned."""
ACTIVATION_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
"""32 characters without 0/O and 1/I, which people misread on paper."""
SMS_CODE_LENGTH = 6
SMS_CODE_LIFETIME_SECONDS = 5 * 60
SMS_CODE_ATTEMPTS_MAX = 5
"""Wrong guesses of one SMS code before it stops working."""
SMS_RESEND_SECONDS = 60
"""A phone gets at most one code per this many seconds."""
SMS_PER_PHONE_MAX = 5
"""Codes per phone in one throttling window (LOGIN_WINDOW_SECONDS)."""
SMS_PER_CLIENT_MAX = 20
"""Codes one client address may request in one throttling window."""
SMS_PER_DEVICE_MAX = 10
"""Codes one device cookie may request in one throttling window."""
GUESSES_PER_CLIENT_MAX = 20
"""Code guesses (activation, reset and SMS codes, used or not) per client address in one window."""
GUESSES_PER_DEVICE_MAX = 10
"""Code guesses per device cookie in one window."""
SMS_GUESSES_PER_PHONE_MAX = 10
"""SMS code guesses for one phone in one window, across the codes it was sent."""
SIGNUPS_PER_CLIENT_MAX = 10
"""New accounts one client address may sign up in one window (a poster's crowd shares a hall's Wi-Fi)."""
SIGNUPS_PER_DEVICE_MAX = 2
"""New accounts one device cookie may sign up in one window."""

_PHONE_RE = re.compile(r"^1[3-9][0-9]{9}$")
_SEP = "[ ()\uff08\uff09\\-\uff0d]?"
PHONE_PATTERN = (
    f"^(?:(?:\\+|\uff0b|00|\uff10\uff10)?[8\uff18][6\uff16]{_SEP})?"
    f"[1\uff11]{_SEP}[3-9\uff13-\uff19](?:{_SEP}[0-9\uff10-\uff19]){{9}}$"
)
"""What :func:`normalise_phone` accepts, for the API document: 11 digits (full-width too) after an
optional ``+86``/``0086``/``86``, a space, dash or bracket at most between two of them (the service
takes any number of those; the document keeps to what people type, and generators stay fast)."""
CODE_RE = re.compile(r"^[a-z0-9][a-z0-9-]{1,31}$")
TIMEZONES = tuple(sorted(zoneinfo.available_timezones()))
"""The IANA time zones a community may live in: the API document lists them, the service checks them."""
PLATFORM_GRANTED_ROLES = frozenset({"admin", "reviewer"})
"""Roles only a platform admin (the street office) grants or removes: the people who approve awards
and review claims must not be chosen by the admin whose acts they check."""


def normalise_phone(raw: str) -> str | None:
    """Return the 11-digit mainland mobile number in ``raw``, or ``None`` if it is not one.

    Accepts spaces, dashes, full-width digits (Chinese input methods) and a ``+86``/``0086``/``86``
    prefix, as people type them. Only ASCII digits come out: ``\\d`` would let other scripts' digits in.
    """
    digits = re.sub(r"[\s\-()]", "", unicodedata.normalize("NFKC", raw or ""))
    for prefix in ("+86", "0086", "86"):
        if digits.startswith(prefix) and len(digits) == len(prefix) + 11:
            digits = digits[len(prefix) :]
            break
    return digits if _PHONE_RE.match(digits) else None


def activation_code(secret_key: str, activation_id: uuid.UUID) -> str:
    """The code of an activation, derived from its id with the secret key (so only its hash is stored)."""
    digest = hmac.new(secret_key.encode(), f"activation|{activation_id}".encode(), hashlib.sha256).digest()
    number = int.from_bytes(digest[:10], "big")
    chars = []
    for _ in range(ACTIVATION_CODE_LENGTH):
        number, index = divmod(number, len(ACTIVATION_ALPHABET))
        chars.append(ACTIVATION_ALPHABET[index])
    return "".join(chars)


def normalise_activation_code(raw: str) -> str:
    """Upper case, without the spaces and dashes people type."""
    text = unicodedata.normalize("NFKC", raw or "").upper()
    text = re.sub(r"[\s\-]", "", text)
    return text[: ACTIVATION_CODE_LENGTH + 4]


def format_activation_code(code: str) -> str:
    """ABCD-EFGH-JKLM: groups of four for reading aloud and typing."""
    return "-".join(code[i : i + 4] for i in range(0, len(code), 4))


def code_hash(code: str) -> str:
    return hashlib.sha256(f"activation|{code}".encode()).hexdigest()


def sms_code_hash(secret_key: str, phone: str, code: str) -> str:
    """Keyed: six digits alone would fall to a dictionary of a million hashes."""
    return hmac.new(secret_key.encode(), f"sms|{phone}|{code}".encode(), hashlib.sha256).hexdigest()


def is_role(value: str) -> TypeGuard[Role]:
    """``value`` is one of the community roles (``ROLES``)."""
    return value in ROLES


def is_self_registration(value: str) -> TypeGuard[SelfRegistration]:
    """``value`` is one of the sign-up modes (``SELF_REGISTRATION``)."""
    return value in SELF_REGISTRATION


def roles_snapshot(held: Iterable[tuple[uuid.UUID, str, uuid.UUID | None]], is_platform_admin: bool) -> str:
    """A hash of everything a person may do: (community, role, partner) rows and the platform flag.

    Stored with an activation code when issued; a code whose person's snapshot changed since is void.
    """
    rows = sorted(f"{c}:{r}:{p or ''}" for c, r, p in held)
    text = "|".join([*rows, "platform" if is_platform_admin else "-"])
    return hashlib.sha256(text.encode()).hexdigest()


# ---------------------------------------------------------------- residents' own data (PIPL)

PRIVACY_NOTICE_VERSION = "2026-12"
"""The privacy notice in force (templates/privacy/notice.html shows it). Changing the notice's text means a
new version here: everyone who accepted an older one is asked again after login."""
REQUEST_DECISION_DAYS = 15
"""A correction or deletion request is decided by the community within this many days (shown to the
resident; PIPL art. 50 asks for a timely answer)."""
PSEUDONYM_PREFIX = "已注销用户"
PLACEHOLDER_PHONE_PREFIX = "X"
"""A granted deletion's phone: never a dialable number (a mobile number is 11 digits starting with 1)."""


def pseudonym(member_id: uuid.UUID) -> str:
    """The name a deleted account keeps: 已注销用户 and four characters of its id (not of its name)."""
    return f"{PSEUDONYM_PREFIX}{member_id.hex[-4:]}"


def placeholder_phone(member_id: uuid.UUID) -> str:
    """A unique, non-routable value for the phone column of a deleted account (11 characters)."""
    return PLACEHOLDER_PHONE_PREFIX + member_id.hex[:10]


def is_placeholder_phone(phone: str) -> bool:
    return phone.startswith(PLACEHOLDER_PHONE_PREFIX)
