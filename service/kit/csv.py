"""The one CSV writer of every export: safe cells, a BOM for Excel, local times, translated headers.

A spreadsheet runs a cell that starts with ``=``, ``+``, ``-`` or ``@`` (and, in some programs, a tab or
a carriage return) as a formula, so a member named ``=HYPERLINK(...)`` could put a live link or worse into
an organizer's sheet (CSV injection, OWASP). Text cells starting with one of those characters get a
leading single quote, which spreadsheets show as text. Numbers stay numbers (``-5`` points is a number).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

__all__ = ["BOM", "FORMULA_PREFIXES", "TIME_FORMAT", "csv_bytes", "safe_cell"]

BOM = "\ufeff"
"""Excel reads a UTF-8 file as UTF-8 (Chinese intact) only when it starts with a byte-order mark."""
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
TIME_FORMAT = "%Y-%m-%d %H:%M"


def safe_cell(value: object, zone: ZoneInfo) -> str | int | float | Decimal:
    """One cell as written: times in ``zone``, ``None`` empty, text a spreadsheet would run neutralised."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float | Decimal):
        return value
    if isinstance(value, datetime):
        return value.astimezone(zone).strftime(TIME_FORMAT)
    text = str(value)
    if text.startswith(FORMULA_PREFIXES):
        return "'" + text
    return text


def csv_bytes(
    headers: Sequence[str],
    rows: Iterable[Sequence[object]],
    *,
    tz: str,
    translate: Callable[[str], str] | None = None,
) -> bytes:
    """A whole CSV file: BOM, ``headers`` through ``translate`` (the reader's language), CRLF line ends.

    Args:
        headers: column titles as English msgids.
        rows: cells; datetimes are shown in ``tz`` (the community's time zone).
        tz: an IANA time zone name.
        translate: gettext of the reader's locale; headers stay as given without one.
    """
    zone = ZoneInfo(tz)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([safe_cell(translate(h) if translate else h, zone) for h in headers])
    for row in rows:
        writer.writerow([safe_cell(v, zone) for v in row])
    return (BOM + out.getvalue()).encode("utf-8")
