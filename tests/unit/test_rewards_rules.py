"""Pure rules of good conduct and micro-wishes: state tables, thresholds, local dates, statistics."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from service.kit.months import month_bounds, parse_month, year_in_zone
from service.rewards import rules
from service.wishes import rules as wish_rules


def test_claim_actions_start_only_from_their_states() -> None:
    assert rules.claim_action_allowed("review", "submitted")
    for status in ("publicized", "rejected", "awarded"):
        assert not rules.claim_action_allowed("review", status)
    assert rules.claim_action_allowed("object", "publicized")
    for status in ("submitted", "rejected", "awarded"):
        assert not rules.claim_action_allowed("object", status)
        assert not rules.claim_action_allowed("settle", status)


def test_wish_actions_start_only_from_their_states() -> None:
    table = {
        "accept": {"open"},
        "dispatch": {"open", "assigned"},
        "complete": {"assigned"},
        "rate": {"done"},
        "cancel": {"open", "assigned"},
    }
    for action, allowed in table.items():
        for status in ("open", "assigned", "done", "rated", "closed", "cancelled"):
            assert wish_rules.wish_action_allowed(action, status) == (status in allowed), (action, status)


def test_two_reviewers_from_the_threshold_up() -> None:
    assert rules.approvals_needed(49, 50) == 1
    assert rules.approvals_needed(50, 50) == 2
    assert rules.approvals_needed(200, 50) == 2


def test_local_year_and_month() -> None:
    moment = datetime(2026, 12, 31, 16, 30, tzinfo=UTC)  # 00:30 on 1 January in Shanghai
    # Yearly limits and monthly boards use the kit's months (service.kit.months), in the community's zone.
    assert year_in_zone(moment, "Asia/Shanghai") == 2027
    assert year_in_zone(moment, "UTC") == 2026
    assert parse_month("2026-05") == (2026, 5)
    for bad in ("2026-13", "2026-5", "May", "1999-01", "2026-05-01"):
        assert parse_month(bad) is None
    start, end = month_bounds(2026, 12, "Asia/Shanghai")
    assert start == datetime(2026, 11, 30, 16, tzinfo=UTC) and end == datetime(2026, 12, 31, 16, tzinfo=UTC)


def test_wish_statistics() -> None:
    t0 = datetime(2026, 5, 1, tzinfo=UTC)
    rows = [
        ("rated", t0, t0 + timedelta(hours=1), 5),
        ("rated", t0, t0 + timedelta(hours=2), 3),
        ("closed", t0, t0 + timedelta(hours=3), None),
        ("cancelled", t0, None, None),
    ]
    s = wish_rules.wish_stats(rows)
    assert (s.count, s.completed, s.cancelled, s.rated, s.satisfied) == (4, 3, 1, 2, 1)
    assert (s.completion_rate, s.satisfaction_rate, s.average_handling_hours) == (0.75, 0.5, 2.0)
    empty = wish_rules.wish_stats([])
    assert (empty.completion_rate, empty.satisfaction_rate, empty.average_handling_hours) == (
        None,
        None,
        None,
    )


# ---------------------------------------------------------------- rewards 2: events, dispatch, wish points


def test_event_refs_compare_as_people_type_them() -> None:
    from service.rewards.rules import normalise_event_ref

    assert normalise_event_ref(" J-2026 0042 ") == normalise_event_ref("ｊ２０２６．００４２") == "J20260042"
    assert normalise_event_ref("  ") is None and normalise_event_ref(None) is None


def test_evidence_summary_masks_names_phones_and_ids_and_is_short() -> None:
    from service.rewards.rules import EVIDENCE_SUMMARY_MAX, evidence_summary

    text = "王大成婚礼零彩礼，电话13912345678，身份证110101199003071234，王大成的父亲作证"
    out = evidence_summary(text, [("王大成", "王*成")])
    assert out == "王*成婚礼零彩礼，电话139****5678，身份证1101" + "*" * 12 + "34，王*成的父亲作证"
    assert "13912345678" not in out and "199003071234" not in out and "王大成" not in out
    assert len(evidence_summary("字" * 500, [])) == EVIDENCE_SUMMARY_MAX


def test_only_volunteers_are_dispatchable() -> None:
    from service.wishes.rules import is_dispatchable

    assert is_dispatchable({"member"}, 0)
    assert is_dispatchable({"member", "organizer"}, 0)
    assert not is_dispatchable({"member", "partner"}, 600)  # shop staff, whatever their hours
    assert not is_dispatchable({"member", "clerk"}, 0)  # a clerk who never served
    assert is_dispatchable({"member", "clerk"}, 30)
    assert not is_dispatchable({"clerk"}, 30)


def test_wish_points_need_staff_and_respect_the_cap() -> None:
    from service.wishes.rules import wish_points_outcome

    assert wish_points_outcome(10, staff_involved=False, earned_this_month=0, monthly_cap=100) == "pending"
    assert wish_points_outcome(10, staff_involved=True, earned_this_month=90, monthly_cap=100) == "posted"
    assert wish_points_outcome(10, staff_involved=True, earned_this_month=91, monthly_cap=100) == "capped"
    assert wish_points_outcome(0, staff_involved=True, earned_this_month=0, monthly_cap=100) == "none"
    assert wish_points_outcome(10, staff_involved=True, earned_this_month=0, monthly_cap=0) == "capped"


def test_rating_stats() -> None:
    from service.rewards.rules import rating_stats

    s = rating_stats([5, 4, 2])
    assert (s.rated, s.satisfied, s.average_stars, s.satisfaction_rate) == (3, 2, 3.67, 0.6667)
    assert rating_stats([]).average_stars is None
