"""The one image cleaner: product photos and claim evidence go through here.

An upload is checked from its header before anything is decoded: the format, then the pixel count
(``IMAGE_PIXELS_MAX``; a 170 KB PNG can announce 40 megapixels, half a gigabyte once decoded) is
refused ``image_too_large``. Only then is it decoded, turned upright, re-encoded without metadata
(EXIF, GPS) and shrunk. At most ``IMAGE_DECODES_PER_WORKER`` decodes run at once in a process, so a
burst of uploads queues instead of multiplying the memory a worker needs.
"""

from __future__ import annotations

import asyncio
import io
import threading
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

from service.errors import InvalidInput

__all__ = [
    "IMAGE_DECODES_PER_WORKER",
    "IMAGE_FORMATS",
    "IMAGE_MEGAPIXELS_MAX",
    "IMAGE_PIXELS_MAX",
    "CleanImage",
    "ImageTooLarge",
    "InvalidImage",
    "clean_image",
    "clean_image_async",
]

IMAGE_MEGAPIXELS_MAX = 12
"""Largest image accepted, in megapixels (a 4000 x 3000 phone photo)."""
IMAGE_PIXELS_MAX = IMAGE_MEGAPIXELS_MAX * 1_000_000
IMAGE_DECODES_PER_WORKER = 2
"""Images decoded at the same time per server process (each may take ~50 MB while it is worked on)."""
IMAGE_FORMATS = frozenset({"JPEG", "PNG", "WEBP", "GIF", "BMP", "MPO"})

# Pillow's own guard, at the same limit: it warns above it and refuses twice as many pixels.
Image.MAX_IMAGE_PIXELS = IMAGE_PIXELS_MAX
_decodes = threading.BoundedSemaphore(IMAGE_DECODES_PER_WORKER)


@dataclass(frozen=True)
class CleanImage:
    data: bytes
    media_type: str
    width: int
    height: int
    thumb: bytes | None = None
    thumb_media_type: str | None = None


class InvalidImage(InvalidInput):
    """An upload that is not an image the kit reads (callers may pass their own class, e.g. a photo's)."""

    code = "invalid_image"
    message = "This file is not an image Jifen can read."


class ImageTooLarge(InvalidInput):
    """An image over the pixel limit (from its header), or an upload over the caller's byte limit."""

    code = "image_too_large"
    message = "Images may have at most %(megapixels)s megapixels."


def _too_many_pixels() -> ImageTooLarge:
    return ImageTooLarge(
        params={"megapixels": IMAGE_MEGAPIXELS_MAX},
        errors=[{"field": "image", "message": "at most %(megapixels)s megapixels"}],
    )


def clean_image(
    raw: bytes,
    *,
    max_bytes: int,
    side_px: int,
    thumb_px: int | None = None,
    keep_alpha: bool = False,
    invalid: type[InvalidInput] = InvalidImage,
    oversize: type[InvalidInput] = ImageTooLarge,
) -> CleanImage:
    """Check and re-encode ``raw``: JPEG, or PNG when ``keep_alpha`` and the image is transparent.

    Raises ``invalid`` (not an image we read), ``oversize`` (more than ``max_bytes``) or
    :class:`ImageTooLarge` (more than :data:`IMAGE_PIXELS_MAX` pixels, found from the header alone).
    """
    if not raw:
        raise invalid(detail="The upload is empty.")
    if len(raw) > max_bytes:
        raise oversize(detail="Images must be at most %(mb)s MB.", params={"mb": max_bytes // 1_048_576})
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(raw)) as probe:  # reads the header only
                if probe.format not in IMAGE_FORMATS:
                    raise invalid(detail="Upload a JPEG, PNG, WebP, GIF or BMP image.")
                if probe.width * probe.height > IMAGE_PIXELS_MAX:
                    raise _too_many_pixels()
                probe.verify()
            with _decodes, Image.open(io.BytesIO(raw)) as opened:
                opened.load()
                return _reencode(opened, side_px, thumb_px, keep_alpha)
    except InvalidInput:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise _too_many_pixels() from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise invalid(detail="This file is not an image Jifen can read.") from exc


async def clean_image_async(raw: bytes, **options: object) -> CleanImage:
    """:func:`clean_image` in a worker thread: decoding takes CPU time the event loop must not lose."""
    return await asyncio.to_thread(clean_image, raw, **options)  # type: ignore[arg-type]


def _reencode(opened: Image.Image, side_px: int, thumb_px: int | None, keep_alpha: bool) -> CleanImage:
    # Apply the camera's rotation before the EXIF that carries it is thrown away.
    turned: Image.Image = ImageOps.exif_transpose(opened) or opened
    alpha = keep_alpha and (
        turned.mode in {"RGBA", "LA", "PA"} or (turned.mode == "P" and "transparency" in turned.info)
    )
    img = turned.convert("RGBA" if alpha else "RGB")
    img.thumbnail((side_px, side_px))
    fmt, media = ("PNG", "image/png") if alpha else ("JPEG", "image/jpeg")
    thumb: bytes | None = None
    if thumb_px is not None:
        small = img.copy()
        small.thumbnail((thumb_px, thumb_px))
        thumb = _encode(small, fmt)
    return CleanImage(_encode(img, fmt), media, img.width, img.height, thumb, media if thumb else None)


def _encode(img: Image.Image, fmt: str) -> bytes:
    out = io.BytesIO()
    if fmt == "JPEG":
        img.save(out, format=fmt, quality=85, optimize=True)
    else:
        img.save(out, format=fmt, optimize=True)
    return out.getvalue()
