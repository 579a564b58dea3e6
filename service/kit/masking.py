"""Masking what shared screens show: names on boards, phones in staff lists, one-time codes."""

from __future__ import annotations

__all__ = ["CODE_SHOWN_CHARS", "mask_code", "mask_name", "mask_phone"]

CODE_SHOWN_CHARS = 2
"""Staff lists show only the last characters of a pickup or voucher code: enough to tell two orders
apart while talking to the member, never enough to hand out or redeem without the member's own code."""


def mask_code(code: str) -> str:
    """``******K7`` for ``ABCDEFK7``."""
    shown = code[-CODE_SHOWN_CHARS:] if len(code) > CODE_SHOWN_CHARS else ""
    return "*" * (len(code) - len(shown)) + shown


def mask_name(name: str) -> str:
    """王*成 for public boards: first and last character kept, the middle starred (王* for two)."""
    name = name.strip()
    if len(name) <= 1:
        return name or "*"
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]


def mask_phone(phone: str) -> str:
    """138****5678; a number of another length keeps only its last 4 digits (never shown whole)."""
    if len(phone) == 11:
        return phone[:3] + "****" + phone[-4:]
    return "****" + phone[-4:] if len(phone) > 6 else "****"
