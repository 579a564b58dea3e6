"""Pure rules of the accounts domain: phone numbers, masking, CSV import parsing, ids."""

from __future__ import annotations

import time
import uuid

import pytest

from service.accounts.rules import normalise_phone
from service.accounts.service import parse_import_csv
from service.config import NAME_MAX
from service.ids import new_id


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("13812345678", "13812345678"),
        ("+86 138 1234 5678", "13812345678"),
        ("+8613812345678", "13812345678"),
        ("008613812345678", "13812345678"),
        ("86 13812345678", "13812345678"),
        ("138-1234-5678", "13812345678"),
        (" 138 1234 5678 ", "13812345678"),
        ("(138)12345678", "13812345678"),
        ("19912345678", "19912345678"),
        ("１３８１２３４５６７８", "13812345678"),  # full-width digits from a Chinese input method
    ],
)
def test_normalise_phone_accepts_what_people_type(raw: str, expected: str) -> None:
    assert normalise_phone(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "1381234567",  # 10 digits
        "138123456789",  # 12 digits
        "12812345678",  # second digit 2 is not a mobile prefix
        "23812345678",
        "0101234567",  # a landline
        "+1 415 555 0100",
        "1381234567a",
        "+8612812345678",
        "8613812345678999",
        "1٣812345678",  # other scripts' digits never reach the database
        "13812345678\n1",
    ],
)
def test_normalise_phone_refuses_what_is_not_a_mainland_mobile(raw: str) -> None:
    assert normalise_phone(raw) is None


def test_import_csv_with_header_bom_and_roles() -> None:
    text = "\ufeffphone,name,role\r\n13900000001,陈小红,\r\n+86 139-0000-0002,刘建国,organizer\r\n\r\n"
    rows, problems = parse_import_csv(text)
    assert problems == []
    assert [(r.line, r.phone, r.name, r.role) for r in rows] == [
        (2, "13900000001", "陈小红", "member"),
        (3, "13900000002", "刘建国", "organizer"),
    ]


def test_import_csv_without_header_and_chinese_header() -> None:
    rows, problems = parse_import_csv("13900000001,甲\n")
    assert problems == [] and rows[0].line == 1
    rows, problems = parse_import_csv("手机号,姓名\n13900000001,甲\n")
    assert problems == [] and [r.line for r in rows] == [2]


def test_import_csv_reports_every_bad_row_with_its_line_number() -> None:
    text = "\n".join(
        [
            "phone,name,role",
            "13900000001,好人",  # 2 ok
            "12345,坏号码",  # 3 bad phone
            "13900000003,",  # 4 empty name
            "13900000004," + "名" * (NAME_MAX + 1),  # 5 name too long
            "13900000005,某人,mayor",  # 6 unknown role
            "13900000006,某人,partner",  # 7 partner needs a shop: not importable
            "13900000001,重复",  # 8 repeats line 2
            "13900000009",  # 9 too few cells
            "13900000010,a,member,extra",  # 10 too many cells
        ]
    )
    rows, problems = parse_import_csv(text)
    assert [r.line for r in rows] == [2]
    lines = [p.line for p in problems]
    assert lines == [3, 4, 5, 6, 7, 8, 9, 10]
    messages = {p.line: p.message for p in problems}
    assert "mobile" in messages[3]
    assert "line 2" in messages[8]


def test_new_id_is_a_time_ordered_uuid7() -> None:
    first = new_id()
    time.sleep(0.002)
    ids = [new_id() for _ in range(1000)]
    assert all(isinstance(i, uuid.UUID) and i.version == 7 for i in ids)
    assert all(i.variant == uuid.RFC_4122 for i in ids)
    assert len(set(ids)) == 1000
    assert all(first < i for i in ids)
    ms = first.int >> 80
    assert abs(ms - time.time_ns() // 1_000_000) < 5_000
