"""Evidence photos: checked and re-encoded as JPEG (which drops EXIF and GPS) by the shared image kit."""

from __future__ import annotations

from dataclasses import dataclass

from service.config import UPLOAD_MAX_BYTES
from service.kit.images import IMAGE_PIXELS_MAX, clean_image

__all__ = ["PHOTO_PIXELS_MAX", "PHOTO_SIDE_MAX", "CleanPhoto", "clean_photo"]

PHOTO_SIDE_MAX = 1600
"""Longest side of a stored photo, in pixels: enough to read a certificate, small to store."""
PHOTO_PIXELS_MAX = IMAGE_PIXELS_MAX
"""Largest image accepted (read from the header; a bigger one is refused ``image_too_large``, not decoded)."""


@dataclass(frozen=True)
class CleanPhoto:
    data: bytes
    content_type: str
    width: int
    height: int


def clean_photo(raw: bytes) -> CleanPhoto:
    """The photo without metadata; ``invalid_photo``, ``photo_too_large`` or ``image_too_large``."""
    image = clean_image(
        raw,
        max_bytes=UPLOAD_MAX_BYTES,
        side_px=PHOTO_SIDE_MAX,
        invalid_code="invalid_photo",
        oversize_code="photo_too_large",
    )
    return CleanPhoto(image.data, image.media_type, image.width, image.height)
