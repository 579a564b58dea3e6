"""Pure check-in rules: tokens, steps, scans, minutes, points, geofence."""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from service.activities import rules

T0 = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)


def test_token_round_trip_is_short_and_url_safe() -> None:
    secret, aid = secrets.token_hex(32), uuid.uuid4()
    token = rules.make_token(rules.KIND_KIOSK, aid, 12345, secret)
    assert len(token) <= 44 and all(c.isalnum() or c in "-_" for c in token)
    parsed = rules.parse_token(token)
    assert parsed is not None and parsed.activity_id == aid and parsed.counter == 12345
    assert rules.mac_ok(parsed, secret)
    assert not rules.mac_ok(parsed, secrets.token_hex(32))


@pytest.mark.parametrize("bad", ["", "x", "a" * 42, "!" * 42, "a" * 500])
def test_malformed_tokens_do_not_parse(bad: str) -> None:
    assert rules.parse_token(bad) is None


def test_tampered_token_fails_the_mac() -> None:
    secret, aid = secrets.token_hex(32), uuid.uuid4()
    token = rules.make_token(rules.KIND_KIOSK, aid, 7, secret)
    forged = rules.make_token(rules.KIND_KIOSK, aid, 8, secret)[:-14] + token[-14:]
    parsed = rules.parse_token(forged)
    assert parsed is None or not rules.mac_ok(parsed, secret)


def test_scan_decisions() -> None:
    assert rules.decide_scan(None, None, T0) == "check_in"
    stay = timedelta(seconds=rules.MIN_STAY_SECONDS)
    assert rules.decide_scan("in", T0, T0 + stay - timedelta(seconds=1)) == "status"
    assert rules.decide_scan("in", T0, T0 + stay) == "check_out"
    with pytest.raises(ValueError, match="already_checked_out"):
        rules.decide_scan("out", T0, T0 + timedelta(hours=1))
    with pytest.raises(ValueError, match="already_checked_out"):
        rules.decide_scan("absent", T0, T0 + timedelta(hours=1))
    with pytest.raises(ValueError, match="manual_pending"):
        rules.decide_scan("pending", T0, T0)
    with pytest.raises(ValueError, match="confirmation_pending"):
        rules.decide_scan("pending", T0, T0 + stay, manual=False)


def test_scan_and_walk_away_is_not_a_stay() -> None:
    # A minimum stay of a few seconds would let a volunteer scan twice at the door and leave.
    assert rules.MIN_STAY_SECONDS >= 10 * 60


def test_activities_above_the_cap_need_approval() -> None:
    cap = rules.POINTS_CAP_DEFAULT
    assert not rules.needs_approval("per_attendance", cap, None, cap)
    assert rules.needs_approval("per_attendance", 50_000, None, cap)
    assert not rules.needs_approval("per_attendance", 50_000, cap, cap)  # points_max lowers the worth
    assert rules.needs_approval("per_hour", cap + 1, None, cap)
    assert not rules.needs_approval("per_hour", cap, 8 * cap, cap)  # the cap is per hour


def test_minutes_count_only_inside_the_window() -> None:
    start, end = T0, T0 + timedelta(hours=2)
    assert rules.minutes_inside(T0 - timedelta(hours=1), T0 + timedelta(minutes=30), start, end) == 30
    assert rules.minutes_inside(T0 + timedelta(minutes=90), T0 + timedelta(hours=5), start, end) == 30
    assert rules.minutes_inside(T0 + timedelta(hours=3), T0 + timedelta(hours=4), start, end) == 0


def test_points_pro_rata_and_capped() -> None:
    assert rules.points_for("per_hour", 10, None, 90) == 15
    assert rules.points_for("per_hour", 10, 12, 90) == 12
    assert rules.points_for("per_attendance", 20, None, 0) == 20
    assert rules.points_for("per_attendance", 20, 5, 0) == 5


def test_geofence_distance() -> None:
    # Lanzhou: about 111 m per 0.001 degree of latitude.
    d = rules.distance_m(36.061, 103.834, 36.062, 103.834)
    assert 100 < d < 120


def test_scan_cookie_is_signed_and_bound_to_the_device() -> None:
    nonce = "n" * rules.SCAN_NONCE_CHARS
    value = rules.sign_scan("k" * 40, "TOKEN", 1_700_000_000, nonce, "DEVICE-A")
    assert rules.verify_scan("k" * 40, value, "TOKEN", "DEVICE-A") == rules.PendingScan(1_700_000_000, nonce)
    assert rules.scan_is_for(value, "TOKEN") and not rules.scan_is_for(value, "OTHER")
    assert rules.verify_scan("k" * 40, value, "OTHER", "DEVICE-A") is None
    assert rules.verify_scan("k" * 40, value, "TOKEN", "DEVICE-B") is None  # copied to another browser
    assert rules.verify_scan("k" * 40, value, "TOKEN", None) is None
    assert rules.verify_scan("k" * 40, value.replace("1700000000", "1700000600"), "TOKEN", "DEVICE-A") is None
    assert rules.verify_scan("k" * 40, value.replace(nonce, "m" * len(nonce)), "TOKEN", "DEVICE-A") is None
    assert rules.verify_scan("j" * 40, value, "TOKEN", "DEVICE-A") is None
