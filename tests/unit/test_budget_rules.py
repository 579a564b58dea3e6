"""The issuance budget's pure rules (the SQL copy in ledger_write is held equal by test_parity)."""

from __future__ import annotations

from datetime import UTC, date, datetime

from service.points import rules


def test_only_issuance_to_a_member_counts_and_giving_back_counts_negative() -> None:
    assert rules.budget_delta("issuance", "member", 7) == 7
    assert rules.budget_delta("member", "issuance", 7) == -7
    for debit, credit in (
        ("member", "member"),
        ("member", "store"),
        ("store", "member"),
        ("member", "expired"),
    ):
        assert rules.budget_delta(debit, credit, 7) == 0


def test_an_issuance_must_fit_and_no_budget_issues_nothing() -> None:
    assert rules.budget_issued(0, 10, 10) == 10
    assert rules.budget_issued(5, 6, 10) is None
    assert rules.budget_issued(0, 1, None) is None
    assert rules.budget_issued(0, 1, 0) is None


def test_giving_back_always_passes_and_never_goes_below_zero() -> None:
    assert rules.budget_issued(8, -3, 5) == 5  # a lowered budget never blocks a reversal
    assert rules.budget_issued(2, -9, 10) == 0
    assert rules.budget_issued(2, -9, None) == 0


def test_the_month_is_the_local_month() -> None:
    last_evening = datetime(2026, 11, 30, 16, 30, tzinfo=UTC)  # 1 December 00:30 in Shanghai
    assert rules.budget_month(last_evening, "Asia/Shanghai") == date(2026, 12, 1)
    assert rules.budget_month(last_evening, "America/New_York") == date(2026, 11, 1)
