"""Reading QR codes back from the images Jifen draws."""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["decode_qr"]


def decode_qr(png: bytes) -> str:
    """The text of the QR code in ``png`` (fails if OpenCV finds none)."""
    image = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_GRAYSCALE)
    text, _points, _ = cv2.QRCodeDetector().detectAndDecode(image)
    assert text, "OpenCV could not read the QR code"
    return str(text)
