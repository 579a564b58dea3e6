"""Pure rules of the store domain: codes, months, images, QR codes. No database, no framework."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from service.errors import InvalidInput

__all__ = [
    "CODE_ALPHABET",
    "IMAGE_MAX_BYTES",
    "IMAGE_MAX_PIXELS",
    "IMAGE_MAX_SIDE_PX",
    "ORDER_DAYS_DEFAULT",
    "ORDER_DAYS_MAX",
    "ORDER_QUANTITY_MAX",
    "THUMB_SIDE_PX",
    "VOUCHER_MINUTES_DEFAULT",
    "VOUCHER_MINUTES_MAX",
    "ProcessedImage",
    "month_bounds",
    "month_of",
    "new_code",
    "normalise_code",
    "process_image",
    "yuan",
]

CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
"""Pickup and voucher code letters: no 0/O, 1/I/L, so a code read aloud or typed is not mistaken."""
CODE_LENGTH = 8
ORDER_DAYS_DEFAULT = 7
"""How long a reserved order waits for pickup before its points and stock come back."""
ORDER_DAYS_MAX = 60
ORDER_QUANTITY_MAX = 99
SPEND_CONFIRM_POINTS = 100
"""Spending this many points or more in one tap asks the member to confirm first (store and offers pages)."""
VOUCHER_MINUTES_DEFAULT = 30
"""How long a claimed voucher stays valid (per offer or per community it may differ)."""
VOUCHER_MINUTES_MAX = 7 * 24 * 60
IMAGE_MAX_BYTES = 5 * 1_048_576
"""Largest upload accepted for a product image."""
IMAGE_MAX_PIXELS = 12_000_000
"""Largest image (width x height, read from the header): the shared kit's ``IMAGE_PIXELS_MAX``."""
IMAGE_MAX_SIDE_PX = 1200
THUMB_SIDE_PX = 320
_MONTH_RE = re.compile(r"^(\d{4})-(\d{2})$")


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


def month_of(moment: datetime, tz: str) -> str:
    return moment.astimezone(ZoneInfo(tz)).strftime("%Y-%m")


def month_bounds(month: str, tz: str) -> tuple[datetime, datetime]:
    """The UTC instants [start, end) of calendar month ``YYYY-MM`` in time zone ``tz``."""
    found = _MONTH_RE.match(month or "")
    if not found or not 1 <= int(found.group(2)) <= 12 or int(found.group(1)) < 2000:
        raise InvalidInput(
            "invalid_month",
            "Month must look like 2026-03.",
            errors=[{"field": "month", "message": "YYYY-MM"}],
        )
    year, mon = int(found.group(1)), int(found.group(2))
    zone = ZoneInfo(tz)
    start = datetime(year, mon, 1, tzinfo=zone)
    end = datetime(year + (mon == 12), mon % 12 + 1, 1, tzinfo=zone)
    return start, end


def month_start(moment: datetime, tz: str) -> datetime:
    return month_bounds(month_of(moment, tz), tz)[0]


def yuan(points: int, fen_per_point: int | None) -> str | None:
    """``points`` in yuan with two decimals at the community's rate, or None without a rate."""
    if fen_per_point is None:
        return None
    fen = points * fen_per_point
    return f"{fen // 100}.{fen % 100:02d}"


def expiry(now: datetime, *, days: int | None = None, minutes: int | None = None) -> datetime:
    return now + timedelta(days=days or 0, minutes=minutes or 0)


# ---------------------------------------------------------------- images


@dataclass(frozen=True)
class ProcessedImage:
    data: bytes
    media_type: str
    thumb: bytes
    thumb_media_type: str
    width: int
    height: int


def process_image(raw: bytes) -> ProcessedImage:
    """Check ``raw`` is a real, bounded image; re-encode it without metadata (EXIF) and make a thumbnail.

    Photos become JPEG; images with transparency become PNG. The shared kit (``service/kit/images.py``)
    refuses anything it cannot fully decode (``invalid_image``), over ``IMAGE_MAX_BYTES`` or over
    ``IMAGE_MAX_PIXELS`` (``image_too_large``, from the header, before decoding).
    """
    from service.kit.images import clean_image

    image = clean_image(
        raw, max_bytes=IMAGE_MAX_BYTES, side_px=IMAGE_MAX_SIDE_PX, thumb_px=THUMB_SIDE_PX, keep_alpha=True
    )
    assert image.thumb is not None and image.thumb_media_type is not None
    return ProcessedImage(
        image.data, image.media_type, image.thumb, image.thumb_media_type, image.width, image.height
    )
