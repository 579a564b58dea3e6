"""Pure rules of the region tree: which level sits under which, and what a subtree holds."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from typing import TypeGuard

from service.regions.models import LEVELS, Level

__all__ = ["REGION_CODE_RE", "child_level", "descendants", "is_level"]

REGION_CODE_RE = r"^[a-z0-9][a-z0-9_\-]{0,31}$"


def is_level(value: str) -> TypeGuard[Level]:
    """``value`` is one of the region levels (``LEVELS``)."""
    return value in LEVELS


def child_level(level: Level | None) -> Level | None:
    """The level a child of ``level`` has (None under a street: communities hang there)."""
    if level is None:
        return LEVELS[0]
    i = LEVELS.index(level)
    return LEVELS[i + 1] if i + 1 < len(LEVELS) else None


def descendants(root: uuid.UUID, children: Mapping[uuid.UUID, Iterable[uuid.UUID]]) -> list[uuid.UUID]:
    """``root`` and every region below it, parents before children."""
    out: list[uuid.UUID] = []
    stack = [root]
    while stack:
        node = stack.pop()
        out.append(node)
        stack.extend(reversed(list(children.get(node, ()))))
    return out
