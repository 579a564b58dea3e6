"""The shared kit, each piece tested once: masking, months in a zone, bounded input, batch loops, QR."""

from __future__ import annotations

from datetime import UTC, date, datetime

import cv2
import numpy as np
import pytest

from service.kit import qr
from service.kit.batch import drain, pages
from service.kit.masking import mask_code, mask_name, mask_phone
from service.kit.months import (
    InvalidMonth,
    add_months,
    month_bounds,
    month_of,
    month_start,
    parse_month,
    require_month,
    year_bounds,
    year_in_zone,
)
from service.kit.text import InvalidField, bounded_int, bounded_text

SHANGHAI = "Asia/Shanghai"


def test_mask_phone_hides_the_middle_and_never_shows_an_odd_number_whole() -> None:
    assert mask_phone("13812345678") == "138****5678"
    assert mask_phone("0931123456789") == "****6789"
    assert mask_phone("123") == "****"


@pytest.mark.parametrize(
    ("name", "masked"),
    [
        ("王小成", "王*成"),
        ("欧阳娜娜", "欧**娜"),
        ("李四", "李*"),
        ("张", "张"),
        ("", "*"),
        ("  王五  ", "王*"),
    ],
)
def test_mask_name_keeps_first_and_last(name: str, masked: str) -> None:
    assert mask_name(name) == masked


def test_mask_code_shows_the_last_two() -> None:
    assert mask_code("ABCDEFK7") == "******K7"
    assert mask_code("K7") == "**"


def test_a_month_begins_at_local_midnight() -> None:
    start, end = month_bounds(2026, 2, SHANGHAI)
    assert start == datetime(2026, 1, 31, 16, tzinfo=UTC)
    assert end == datetime(2026, 2, 28, 16, tzinfo=UTC)
    late_january = datetime(2026, 1, 31, 15, 30, tzinfo=UTC)  # 23:30 in Shanghai
    assert month_of(late_january, SHANGHAI) == "2026-01"
    assert month_of(datetime(2026, 1, 31, 16, 0, tzinfo=UTC), SHANGHAI) == "2026-02"
    assert month_start(late_january, SHANGHAI) == datetime(2025, 12, 31, 16, tzinfo=UTC)
    assert month_bounds(2026, 12, SHANGHAI)[1] == datetime(2026, 12, 31, 16, tzinfo=UTC)


def test_a_year_follows_local_new_year() -> None:
    new_years_eve_utc = datetime(2026, 12, 31, 17, tzinfo=UTC)  # 01:00 on 1 January 2027 in Shanghai
    assert year_in_zone(new_years_eve_utc, SHANGHAI) == 2027
    assert year_in_zone(new_years_eve_utc, "UTC") == 2026
    assert year_bounds(2027, SHANGHAI) == (
        datetime(2026, 12, 31, 16, tzinfo=UTC),
        datetime(2027, 12, 31, 16, tzinfo=UTC),
    )


@pytest.mark.parametrize(
    "raw", ["2026-13", "2026-1", "26-01", "1999-01", "", None, "2026-01-01", "二〇二六-01"]
)
def test_malformed_months_are_refused(raw: str | None) -> None:
    assert parse_month(raw) is None
    with pytest.raises(InvalidMonth) as caught:
        require_month(raw)
    assert caught.value.code == "invalid_month"


def test_months_parse_and_add() -> None:
    assert parse_month(" 2026-03 ") == (2026, 3)
    assert require_month("2026-12") == (2026, 12)
    assert add_months(date(2026, 11, 23), 2) == date(2027, 1, 1)
    assert add_months(date(2026, 1, 5), -1) == date(2025, 12, 1)


def test_bounded_text_trims_and_names_the_field() -> None:
    assert bounded_text("  清扫楼道 ", "title", low=1, high=10) == "清扫楼道"
    with pytest.raises(InvalidField) as caught:
        bounded_text("   ", "title", low=1, high=10)
    assert caught.value.code == "invalid_title"
    assert caught.value.params == {"field": "title", "low": 1, "high": 10}
    with pytest.raises(InvalidField):
        bounded_text("x" * 11, "title", high=10)


def test_bounded_int_keeps_none_and_refuses_out_of_range() -> None:
    assert bounded_int(None, "points", 1, 5) is None
    assert bounded_int(5, "points", 1, 5) == 5
    with pytest.raises(InvalidField) as caught:
        bounded_int(0, "points", 1, 5)
    assert caught.value.code == "invalid_points"


async def test_drain_stops_at_a_short_batch_or_the_bound() -> None:
    backlog = [10, 10, 3, 10]

    async def step() -> int:
        return backlog.pop(0)

    assert await drain(step, 10) == 23
    assert backlog == [10]

    async def endless() -> int:
        return 10

    assert await drain(endless, 10, batches_max=5) == 50


async def test_pages_walks_a_cursor_to_the_end() -> None:
    data = {None: ([1, 2], "a"), "a": ([3], "b"), "b": ([4], None)}

    async def fetch(after: str | None) -> tuple[list[int], str | None]:
        return data[after]

    assert [x async for x in pages(fetch)] == [1, 2, 3, 4]


def test_qr_png_decodes_to_the_url() -> None:
    url = "https://jifen.example/c/abc123"
    image = cv2.imdecode(np.frombuffer(qr.png(url), np.uint8), cv2.IMREAD_GRAYSCALE)
    decoded, _points, _raw = cv2.QRCodeDetector().detectAndDecode(image)
    assert decoded == url
    assert qr.svg(url).startswith(b"<?xml")


async def test_group_commit_batches_concurrent_items_and_answers_each() -> None:
    import asyncio

    from service.kit.batch import GroupCommit

    calls: list[list[int]] = []

    async def run(items: list[int]) -> list[int]:
        calls.append(items)
        await asyncio.sleep(0.01)
        if -1 in items:
            raise RuntimeError("the batch failed as a whole")
        return [i * 10 for i in items]

    commit: GroupCommit[int, int] = GroupCommit(run, batch_max=4, drains=1, owner=None)
    answers = await asyncio.gather(*(commit.submit(i) for i in range(6)))
    assert answers == [0, 10, 20, 30, 40, 50]
    assert calls == [[0, 1, 2, 3], [4, 5]]  # one call per batch, at most batch_max items each
    failed = await asyncio.gather(commit.submit(7), commit.submit(-1), return_exceptions=True)
    assert all(isinstance(f, RuntimeError) for f in failed)  # every caller of a failed batch hears of it
    assert await commit.submit(3) == 30  # and the next batch goes on


def test_text_table_lines_up_by_display_width_not_characters() -> None:
    from service.kit.table import display_width, text_table

    assert display_width("幸福里") == 6 and display_width("ab1") == 3 and display_width("é") == 1
    rows = [("角色 role", "手机号 phone", "密码"), ("admin", "13800000000", "x"), ("社区管理员", "1", "yy")]
    lines = text_table(rows, indent=2)
    starts = {
        (display_width(line[: line.index(row[1])]), display_width(line[: line.rindex(row[2])]))
        for line, row in zip(lines, rows, strict=True)
    }
    assert starts == {(2 + 10 + 2, 2 + 10 + 2 + 12 + 2)}
    assert len({len(line[: line.rindex(row[2])]) for line, row in zip(lines, rows, strict=True)}) > 1
    assert all(not line.endswith(" ") for line in lines)
