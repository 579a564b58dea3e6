"""The one clock. Services ask it for the time so tests can move time forward."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

__all__ = ["advance", "now", "reset", "set_now"]

_offset = timedelta(0)
_frozen: datetime | None = None


def now() -> datetime:
    """Current time in UTC (timezone-aware)."""
    if _frozen is not None:
        return _frozen
    return datetime.now(UTC) + _offset


def set_now(moment: datetime | None) -> None:
    """Freeze the clock at ``moment`` (tests only); ``None`` lets it run again."""
    global _frozen
    _frozen = moment


def advance(delta: timedelta) -> None:
    """Move the clock forward (tests only)."""
    global _offset, _frozen
    if _frozen is not None:
        _frozen = _frozen + delta
    else:
        _offset += delta


def reset() -> None:
    global _offset, _frozen
    _offset = timedelta(0)
    _frozen = None
