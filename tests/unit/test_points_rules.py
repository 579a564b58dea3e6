"""Pure ledger rules: expiry dates, spending order, hashes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from service.points import rules

SHANGHAI = ZoneInfo("Asia/Shanghai")


def test_expiry_never_days_and_calendar_years() -> None:
    earned = datetime(2026, 6, 15, 8, 0, tzinfo=UTC)
    assert rules.expiry_for(earned, "never", 0, SHANGHAI) is None
    assert rules.expiry_for(earned, "days", 30, SHANGHAI) == earned + timedelta(days=30)
    # End of this calendar year in Shanghai: 2027-01-01 00:00 +08:00.
    assert rules.expiry_for(earned, "years", 1, SHANGHAI) == datetime(2026, 12, 31, 16, 0, tzinfo=UTC)
    assert rules.expiry_for(earned, "years", 2, SHANGHAI) == datetime(2027, 12, 31, 16, 0, tzinfo=UTC)


def test_new_year_is_counted_in_the_community_time_zone() -> None:
    # 31 Dec 2026 20:00 UTC is already 1 Jan 2027 in Shanghai.
    earned = datetime(2026, 12, 31, 20, 0, tzinfo=UTC)
    assert rules.expiry_for(earned, "years", 1, SHANGHAI) == datetime(2027, 12, 31, 16, 0, tzinfo=UTC)


def test_allocate_spends_oldest_expiring_first_and_never_expiring_last() -> None:
    soon = datetime(2026, 1, 1, tzinfo=UTC)
    later = datetime(2026, 6, 1, tzinfo=UTC)
    a, b, c = (uuid.UUID(int=n) for n in (1, 2, 3))
    lots = [(5, None, a), (4, later, b), (3, soon, c)]
    assert rules.allocate(lots, 6) == [0, 3, 3]
    assert rules.allocate(lots, 12) == [5, 4, 3]
    with pytest.raises(ValueError):
        rules.allocate(lots, 13)


def test_allocate_takes_lots_expiring_together_by_id_as_the_database_does() -> None:
    soon = datetime(2026, 1, 1, tzinfo=UTC)
    first, second = uuid.UUID(int=1), uuid.UUID(int=2)
    assert rules.allocate([(3, soon, second), (3, soon, first)], 4) == [1, 3]
    assert rules.allocate([(3, None, second), (3, None, first)], 2) == [0, 2]


def test_member_total_keeps_balance_equal_to_earned_minus_spent_minus_expired() -> None:
    assert rules.member_total("issuance", 5) == ("earned", 5)
    assert rules.member_total("issuance", -5) == ("earned", -5)  # a reversal
    assert rules.member_total("member", 5) == ("earned", 5)
    assert rules.member_total("member", -5) == ("spent", 5)
    assert rules.member_total("store", -5) == ("spent", 5)
    assert rules.member_total("store", 5) == ("spent", -5)  # a refund
    assert rules.member_total("expired", -5) == ("expired", 5)
    assert rules.member_total("expired", 5) == ("expired", -5)


def test_entry_hash_changes_with_any_field() -> None:
    ids = {k: uuid.uuid4() for k in ("entry_id", "community_id", "transfer_id", "account_id")}
    now = datetime(2026, 1, 1, tzinfo=UTC)
    base = rules.entry_hash(rules.GENESIS_HASH, **ids, points=5, seq=1, expires_at=None, created_at=now)
    assert base == rules.entry_hash(
        rules.GENESIS_HASH, **ids, points=5, seq=1, expires_at=None, created_at=now
    )
    assert base != rules.entry_hash(
        rules.GENESIS_HASH, **ids, points=6, seq=1, expires_at=None, created_at=now
    )
    assert base != rules.entry_hash("1" * 64, **ids, points=5, seq=1, expires_at=None, created_at=now)
    assert base != rules.entry_hash(
        rules.GENESIS_HASH, **ids, points=5, seq=1, expires_at=now, created_at=now
    )


def test_content_hash_ignores_leg_order_but_not_content() -> None:
    a, b = uuid.uuid4(), uuid.uuid4()
    one = rules.content_hash(
        "transfer", legs=[(a, -5), (b, 5)], code="x", memo="", ref_type=None, ref_id=None
    )
    two = rules.content_hash(
        "transfer", legs=[(b, 5), (a, -5)], code="x", memo="", ref_type=None, ref_id=None
    )
    three = rules.content_hash(
        "transfer", legs=[(b, 5), (a, -5)], code="x", memo="m", ref_type=None, ref_id=None
    )
    assert one == two != three
