"""Bounded text and numbers from people: trimmed, length- and range-checked, one error per field.

The error code names the field (``invalid_title``, ``invalid_points``) so a form can mark it; the message
is a msgid with the bounds as parameters, translated like every other error.
"""

from __future__ import annotations

from service.errors import InvalidInput

__all__ = ["InvalidField", "bounded_int", "bounded_text"]


class InvalidField(InvalidInput):
    """A field out of its bounds; the code is ``invalid_<field>``."""

    code = "invalid_<field>"
    message = "%(field)s must be %(low)s to %(high)s."


def bounded_text(value: str | None, field: str, *, low: int = 0, high: int) -> str:
    """``value`` trimmed; :class:`InvalidField` unless ``low <= len <= high`` (``low=1``: required)."""
    text = (value or "").strip()
    if not low <= len(text) <= high:
        raise InvalidField(
            f"invalid_{field}",
            "%(field)s must be %(low)s to %(high)s characters.",
            params={"field": field, "low": low, "high": high},
            errors=[{"field": field, "message": "%(low)s-%(high)s characters"}],
        )
    return text


def bounded_int(value: int | None, field: str, low: int, high: int) -> int | None:
    """``value`` unchanged (None stays None); :class:`InvalidField` unless ``low <= value <= high``."""
    if value is not None and not low <= value <= high:
        raise InvalidField(
            f"invalid_{field}",
            "%(field)s must be %(low)s to %(high)s.",
            params={"field": field, "low": low, "high": high},
            errors=[{"field": field, "message": "out of range"}],
        )
    return value
