"""Masking what staff screens show of a member's one-time codes."""

from __future__ import annotations

__all__ = ["CODE_SHOWN_CHARS", "mask_code"]

CODE_SHOWN_CHARS = 2
"""Staff lists show only the last characters of a pickup or voucher code: enough to tell two orders
apart while talking to the member, never enough to hand out or redeem without the member's own code."""


def mask_code(code: str) -> str:
    """``******K7`` for ``ABCDEFK7``."""
    shown = code[-CODE_SHOWN_CHARS:] if len(code) > CODE_SHOWN_CHARS else ""
    return "*" * (len(code) - len(shown)) + shown
