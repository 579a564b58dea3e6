"""Evidence photos: validated with Pillow, re-encoded as JPEG (which drops EXIF and GPS), size-bounded."""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

from service.config import UPLOAD_MAX_BYTES
from service.errors import InvalidInput

__all__ = ["PHOTO_PIXELS_MAX", "PHOTO_SIDE_MAX", "CleanPhoto", "clean_photo"]

PHOTO_SIDE_MAX = 1600
"""Longest side of a stored photo, in pixels: enough to read a certificate, small to store."""
PHOTO_PIXELS_MAX = 40_000_000
"""Largest decoded image accepted (a decompression bomb beyond this is refused, not decoded)."""
_FORMATS = {"JPEG", "PNG", "WEBP", "GIF", "MPO"}


@dataclass(frozen=True)
class CleanPhoto:
    data: bytes
    content_type: str
    width: int
    height: int


def clean_photo(raw: bytes) -> CleanPhoto:
    """Return the photo re-encoded without metadata, or raise ``invalid_photo`` / ``photo_too_large``."""
    if not raw:
        raise InvalidInput("invalid_photo", "The photo is empty.")
    if len(raw) > UPLOAD_MAX_BYTES:
        raise InvalidInput(
            "photo_too_large",
            "A photo may be at most %(mb)s MB.",
            params={"mb": UPLOAD_MAX_BYTES // 1_048_576},
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(raw)) as probe:
                if probe.format not in _FORMATS:
                    raise InvalidInput("invalid_photo", "Send a JPEG, PNG, WebP or GIF photo.")
                if probe.width * probe.height > PHOTO_PIXELS_MAX:
                    raise InvalidInput("photo_too_large", "The photo has too many pixels.")
                probe.verify()
            with Image.open(io.BytesIO(raw)) as img:
                img.load()
                # Apply the camera's rotation before the EXIF that carries it is thrown away.
                upright = ImageOps.exif_transpose(img) or img
                rgb = upright.convert("RGB")
    except InvalidInput:
        raise
    except (
        UnidentifiedImageError,
        OSError,
        SyntaxError,
        ValueError,
        Image.DecompressionBombError,
        Image.DecompressionBombWarning,
    ) as exc:
        raise InvalidInput("invalid_photo", "The file is not a photo we can read.") from exc
    rgb.thumbnail((PHOTO_SIDE_MAX, PHOTO_SIDE_MAX))
    out = io.BytesIO()
    rgb.save(out, format="JPEG", quality=85, optimize=True)
    return CleanPhoto(out.getvalue(), "image/jpeg", rgb.width, rgb.height)
