"""Pure rules of the store: codes people can read aloud, statuses, statements.

Months and image intake are the shared kit's (tests/unit/test_kit.py); the store's use of them is
tested through the API (tests/api/test_store_api.py, test_partner_api.py, test_images.py)."""

from __future__ import annotations

from typing import get_args

from service.store import rules


def test_codes_use_only_unambiguous_letters() -> None:
    codes = {rules.new_code() for _ in range(2000)}
    assert len(codes) == 2000
    for code in codes:
        assert len(code) == 8
        assert not set(code) & set("0O1IL")


def test_normalise_code_accepts_typing_and_scanned_urls() -> None:
    assert rules.normalise_code(" abcd-2345 ") == "ABCD2345"
    assert rules.normalise_code("http://x.cn/o/ABCD2345") == "ABCD2345"
    assert rules.normalise_code("https://x.cn/v/abcd2345/") == "ABCD2345"
    assert rules.normalise_code("ABCD0345") is None  # 0 is not in the alphabet
    assert rules.normalise_code("ABC") is None
    assert rules.normalise_code("") is None


def test_statuses_are_the_ones_the_database_allows() -> None:
    # The Literal types mypy checks are the same sets the tables' CHECK constraints allow.
    assert set(get_args(rules.OrderStatus)) == {"reserved", "fulfilled", "cancelled", "expired"}
    assert set(get_args(rules.VoucherStatus)) == {"issued", "redeemed", "expired", "cancelled"}


def test_yuan_at_the_community_rate() -> None:
    assert rules.yuan(360, 5) == "18.00"
    assert rules.yuan(7, 3) == "0.21"
    assert rules.yuan(100, None) is None
