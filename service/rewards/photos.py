"""Evidence photos: checked and re-encoded as JPEG (which drops EXIF and GPS) by the one image intake,
``service.kit.images``; this module only names the photo's limits and error codes."""

from __future__ import annotations

from service.config import UPLOAD_MAX_BYTES
from service.errors import raises
from service.kit.images import CleanImage, clean_image_async
from service.rewards.errors import ImageTooLarge, InvalidPhoto, PhotoTooLarge

__all__ = ["PHOTO_SIDE_MAX", "clean_photo_async"]

PHOTO_SIDE_MAX = 1600
"""Longest side of a stored photo, in pixels: enough to read a certificate, small to store."""


@raises(InvalidPhoto, PhotoTooLarge, ImageTooLarge)
async def clean_photo_async(raw: bytes) -> CleanImage:
    """The photo without metadata, decoded off the event loop; ``invalid_photo``, ``photo_too_large`` or
    ``image_too_large`` (more pixels than the kit decodes, found from the header alone)."""
    return await clean_image_async(
        raw,
        max_bytes=UPLOAD_MAX_BYTES,
        side_px=PHOTO_SIDE_MAX,
        invalid=InvalidPhoto,
        oversize=PhotoTooLarge,
    )
