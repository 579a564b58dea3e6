"""Spreadsheets (.xlsx): one sheet per section, the first row a bold header, text never a formula.

Reports and the records' hours export write through this one function (CSV goes through ``kit/csv.py``).
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import xlsxwriter

__all__ = ["xlsx_bytes"]

Row = Sequence[object]


def xlsx_bytes(sections: Sequence[tuple[str, Sequence[Row]]]) -> bytes:
    """One sheet per section; text cells are written as strings, never as formulas."""
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(
        buffer, {"in_memory": True, "strings_to_formulas": False, "strings_to_urls": False}
    )
    bold = book.add_format({"bold": True, "bg_color": "#F2F4F7"})
    for name, rows in sections:
        sheet = book.add_worksheet(name[:31])
        widths: dict[int, int] = {}
        for y, row in enumerate(rows):
            for x, value in enumerate(row):
                cell = "" if value is None else value
                sheet.write(
                    y, x, cell, bold if y == 0 or (x == 0 and isinstance(cell, str) and y < 1) else None
                )
                widths[x] = max(widths.get(x, 8), min(40, len(str(cell)) * 2 + 2))
        for x, w in widths.items():
            sheet.set_column(x, x, w)
        sheet.freeze_panes(1, 0)
    book.close()
    return buffer.getvalue()
