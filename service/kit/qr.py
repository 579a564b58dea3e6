"""QR images of URLs: PNG (Pillow) and SVG, error correction M, bounded sizes."""

from __future__ import annotations

import io

import qrcode
import qrcode.constants
import qrcode.image.svg

__all__ = ["BOX_DEFAULT", "BOX_MAX", "BOX_MIN", "png", "svg"]

BOX_MIN = 2
BOX_MAX = 20
"""Pixels per module: a 20-pixel box makes a ~1000 px image, plenty for a kiosk screen."""
BOX_DEFAULT = 10
URL_MAX = 300


def _code(url: str, box: int) -> qrcode.QRCode:
    if len(url) > URL_MAX:
        raise ValueError("URL too long for a QR code")
    qr = qrcode.QRCode(
        error_correction=qrcode.constants.ERROR_CORRECT_M,
        box_size=max(BOX_MIN, min(BOX_MAX, box)),
        border=4,
    )
    qr.add_data(url)
    qr.make(fit=True)
    return qr


def png(url: str, box: int = BOX_DEFAULT) -> bytes:
    buf = io.BytesIO()
    _code(url, box).make_image().save(buf)
    return buf.getvalue()


def svg(url: str, box: int = BOX_DEFAULT) -> bytes:
    buf = io.BytesIO()
    _code(url, box).make_image(image_factory=qrcode.image.svg.SvgPathImage).save(buf)
    return buf.getvalue()
