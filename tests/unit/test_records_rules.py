"""Records' pure rules: the GB 11643 check digit, masking, star levels, certificate numbers, keys."""

from __future__ import annotations

import uuid

import pytest
from cryptography.exceptions import InvalidTag

from service.kit.stars import star_level
from service.records import crypto, rules

GOOD = "11010519491231002X"  # the standard's own example
GOOD2 = "320102199001011232"


def test_gb11643_check_digit_of_known_numbers() -> None:
    assert rules.gb11643_check_digit(GOOD[:17]) == "X"
    assert rules.id_number_ok("resident_id", GOOD)
    assert rules.id_number_ok("resident_id", GOOD2)


@pytest.mark.parametrize(
    "number",
    [
        "110105194912310021",  # wrong check digit
        "320102199001011234",
        "11010519491331002X",  # month 13
        "1101051949123100",  # short
        "A10105194912310021",
    ],
)
def test_bad_resident_numbers_are_refused(number: str) -> None:
    assert not rules.id_number_ok("resident_id", number)


def test_other_documents_by_shape() -> None:
    assert rules.id_number_ok("hk_macao_permit", "H12345678")
    assert not rules.id_number_ok("hk_macao_permit", "X12345678")
    assert rules.id_number_ok("passport", "E12345678")
    assert not rules.id_number_ok("hmt_residence_permit", GOOD)  # not 81/82/83


def test_normalise_and_mask() -> None:
    assert rules.normalise_id_number(" １１０１０５ 1949-1231002x ") == GOOD
    assert rules.mask_id_number("320102199001011234") == "3201**********1234"
    assert rules.mask_id_number("E12345678") == "E******78"


def test_star_levels() -> None:
    assert [star_level(h * 60) for h in (0, 99, 100, 299, 300, 600, 999, 1000, 1499, 1500, 9999)] == [
        0, 0, 1, 1, 2, 3, 3, 4, 4, 5, 5,
    ]  # fmt: skip


def test_certificate_numbers_and_volunteer_numbers() -> None:
    assert rules.certificate_number("test-community", None, 2026, 7) == "TEST-COMMUNITY-2026-00007"
    assert rules.certificate_number("c", "A1B2C3", 2026, 12) == "C-TA1B2C3-2026-00012"
    assert rules.volunteer_number(42) == "JF0000000042"


def test_encryption_is_bound_to_key_and_member() -> None:
    keys = crypto.id_keys("", "s" * 40)
    member, other = uuid.uuid4(), uuid.uuid4()
    blob = crypto.seal_number(keys, member, GOOD)
    assert GOOD.encode() not in blob
    assert crypto.open_number(keys, member, blob) == GOOD
    with pytest.raises(InvalidTag):
        crypto.open_number(keys, other, blob)
    with pytest.raises(InvalidTag):
        crypto.open_number(crypto.id_keys("another key", "s" * 40), member, blob)
    assert crypto.lookup_hash(keys, "resident_id", GOOD) != crypto.lookup_hash(
        crypto.id_keys("k", ""), "resident_id", GOOD
    )
    assert "s" * 10 not in repr(keys)
