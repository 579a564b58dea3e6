"""Pure rules of the accounts domain: no I/O, no framework."""

from __future__ import annotations

import re
import unicodedata

__all__ = ["CODE_RE", "PLATFORM_GRANTED_ROLES", "mask_name", "mask_phone", "normalise_phone"]

_PHONE_RE = re.compile(r"^1[3-9][0-9]{9}$")
CODE_RE = re.compile(r"^[a-z0-9][a-z0-9-]{1,31}$")
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


def mask_phone(phone: str) -> str:
    """138****5678."""
    return phone[:3] + "****" + phone[-4:] if len(phone) == 11 else "****"


def mask_name(name: str) -> str:
    """王*成 for public boards: first and last character kept, the middle starred."""
    name = name.strip()
    if len(name) <= 1:
        return name or "*"
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]
