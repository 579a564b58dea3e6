"""Identifiers: UUIDv7, time-ordered so indexes stay append-friendly and rows can be sharded by community."""

from __future__ import annotations

import os
import time
import uuid

__all__ = ["new_id"]


def new_id() -> uuid.UUID:
    """Return a UUIDv7 (RFC 9562): 48 bits of Unix milliseconds, then random bits."""
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76  # version
    value |= ((rand >> 68) & 0xFFF) << 64  # rand_a, 12 bits
    value |= 0b10 << 62  # variant
    value |= rand & ((1 << 62) - 1)  # rand_b
    return uuid.UUID(int=value)
