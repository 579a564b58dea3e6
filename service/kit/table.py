"""Plain-text tables for a terminal: columns line up by display width, so Chinese text (two columns a
character) aligns with Latin text and digits (one column)."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

__all__ = ["display_width", "pad", "text_table"]

WIDE = frozenset({"W", "F"})
"""East Asian Width classes a terminal draws two columns wide (CJK ideographs, full-width forms)."""


def display_width(text: str) -> int:
    """Terminal columns ``text`` takes: wide characters count two, combining marks and control
    characters none."""
    width = 0
    for char in text:
        if unicodedata.combining(char) or unicodedata.category(char) in ("Cc", "Cf", "Mn", "Me"):
            continue
        width += 2 if unicodedata.east_asian_width(char) in WIDE else 1
    return width


def pad(text: str, width: int) -> str:
    """``text`` followed by spaces up to ``width`` display columns (never cut)."""
    return text + " " * max(0, width - display_width(text))


def text_table(rows: Sequence[Sequence[str]], *, gap: int = 2, indent: int = 0) -> list[str]:
    """The lines of a table whose every column starts at the same display column on every line (the
    last column is not padded, so no line ends in spaces)."""
    if not rows:
        return []
    columns = max(len(row) for row in rows)
    widths = [max((display_width(row[i]) for row in rows if i < len(row)), default=0) for i in range(columns)]
    lines = []
    for row in rows:
        cells = [pad(cell, widths[i]) if i < len(row) - 1 else cell for i, cell in enumerate(row)]
        lines.append(" " * indent + (" " * gap).join(cells))
    return lines
