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
    lots = [(5, None), (4, later), (3, soon)]
    assert rules.allocate(lots, 6) == [0, 3, 3]
    assert rules.allocate(lots, 12) == [5, 4, 3]
    with pytest.raises(ValueError):
        rules.allocate(lots, 13)


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
