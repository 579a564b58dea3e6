"""Pure rules of the store domain: codes, statuses, prices in yuan. No database, no framework."""

from __future__ import annotations

import re
import secrets
from datetime import datetime, timedelta
from typing import Literal

__all__ = [
    "CODE_ALPHABET",
    "CODE_PATTERN",
    "EXPIRY_REMINDER_HOURS",
    "HOLD_GRACE",
    "IMAGE_MAX_SIDE_PX",
    "ORDER_DAYS_DEFAULT",
    "ORDER_DAYS_MAX",
    "ORDER_QUANTITY_MAX",
    "THUMB_SIDE_PX",
    "VOUCHER_HOURS_MAX",
    "VOUCHER_HOURS_MIN",
    "VOUCHER_MINUTES_DEFAULT",
    "VOUCHER_MINUTES_MAX",
    "OrderStatus",
    "VoucherStatus",
    "new_code",
    "normalise_code",
    "yuan",
]

CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
"""Pickup and voucher code letters: no 0/O, 1/I/L, so a code read aloud or typed is not mistaken."""
CODE_LENGTH = 8
_CODE_CHAR = CODE_ALPHABET + "".join(c.lower() for c in CODE_ALPHABET if c.isalpha())
CODE_PATTERN = rf"^(?:[\s\S]*/)?[\s-]*(?:[{_CODE_CHAR}][\s-]*){{{CODE_LENGTH}}}[\s/-]*$"
"""What :func:`normalise_code` takes, for the API document: the code in either case, with spaces or
dashes between its letters, alone or at the end of its scanned URL."""
ORDER_DAYS_DEFAULT = 7
"""How long a reserved order waits for pickup before its points and stock come back."""
ORDER_DAYS_MAX = 60
ORDER_QUANTITY_MAX = 99
SPEND_CONFIRM_POINTS = 100
"""Spending this many points or more in one tap asks the member to confirm first (store and offers pages)."""
VOUCHER_MINUTES_DEFAULT = 7 * 24 * 60
"""How long a claimed voucher stays valid: a week (per offer or per community it may differ), so a
free water delivery or a gym month can wait for the resident's day off."""
HOLD_GRACE = timedelta(days=1)
"""The ledger hold outlives its order or voucher a little, so the store's sweep releases it first (the
ordinary paths and the PostgreSQL batches both read it here)."""
VOUCHER_MINUTES_MAX = 30 * 24 * 60
"""A unit chooses its vouchers' validity from an hour (``VOUCHER_HOURS_MIN``) to 30 days."""
VOUCHER_HOURS_MIN = 1
VOUCHER_HOURS_MAX = VOUCHER_MINUTES_MAX // 60
EXPIRY_REMINDER_HOURS = 48
"""The resident's home reminds of a voucher this close to its expiry."""
IMAGE_MAX_SIDE_PX = 1200
"""Longest side of a stored product image (uploads are limited by ``config.UPLOAD_MAX_BYTES``)."""
THUMB_SIDE_PX = 320

OrderStatus = Literal["reserved", "fulfilled", "cancelled", "expired"]
"""An order is ``reserved`` (points held, stock taken) until it is handed out, cancelled or expires."""
VoucherStatus = Literal["issued", "redeemed", "expired", "cancelled"]
"""A voucher is ``issued`` (points held) until the partner redeems it, it expires or is given back."""


def new_code() -> str:
    """A random code of :data:`CODE_LENGTH` letters of :data:`CODE_ALPHABET` (about 40 bits)."""
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def normalise_code(raw: str) -> str | None:
    """Uppercase, drop spaces and dashes, and map look-alikes (O->0 is not in the alphabet) to None."""
    code = re.sub(r"[\s\-]", "", raw or "").upper()
    # A scanned URL (…/o/CODE or …/v/CODE) is accepted as well as the bare code.
    if "/" in code:
        code = code.rstrip("/").rsplit("/", 1)[-1]
    if len(code) != CODE_LENGTH or any(ch not in CODE_ALPHABET for ch in code):
        return None
    return code


def yuan(points: int, fen_per_point: int | None) -> str | None:
    """``points`` in yuan with two decimals at the community's rate, or None without a rate."""
    if fen_per_point is None:
        return None
    fen = points * fen_per_point
    return f"{fen // 100}.{fen % 100:02d}"


def expiry(now: datetime, *, days: int | None = None, minutes: int | None = None) -> datetime:
    return now + timedelta(days=days or 0, minutes=minutes or 0)
