"""Pure rules of check-in: QR tokens, time steps, geofence, minutes and points. No I/O, no framework."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import math
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

__all__ = [
    "CHECKIN_EARLY_SECONDS",
    "CHECKOUT_AFTER_SECONDS",
    "KIND_KIOSK",
    "KIND_POSTER",
    "KIOSK_STEP_SECONDS",
    "PENDING_SCAN_SECONDS",
    "POSTER_GRACE_SECONDS",
    "ParsedToken",
    "ScanDecision",
    "decide_scan",
    "distance_m",
    "kiosk_step",
    "make_token",
    "minutes_inside",
    "parse_token",
    "points_for",
    "sign_scan",
    "verify_scan",
]

KIOSK_STEP_SECONDS = 15
"""A kiosk code changes every step; the current and the previous step are accepted (< 30 s)."""
CHECKOUT_AFTER_SECONDS = 5 * 60
"""A second scan at least this long after check-in checks out; earlier ones just show the status."""
PENDING_SCAN_SECONDS = 10 * 60
"""A scan made before logging in completes if the login follows within this time."""
CHECKIN_EARLY_SECONDS = 30 * 60
"""Check-in opens this long before the activity starts."""
POSTER_GRACE_SECONDS = 30 * 60
"""A printed poster code still works this long after the activity ends (to check out)."""

KIND_KIOSK = 1
KIND_POSTER = 2
_MAC_BYTES = 10
_TOKEN_BYTES = 1 + 16 + 4 + _MAC_BYTES
TOKEN_CHARS = math.ceil(_TOKEN_BYTES * 4 / 3)


@dataclass(frozen=True)
class ParsedToken:
    kind: int
    activity_id: uuid.UUID
    counter: int
    """The time step of a kiosk code, the poster version of a poster code."""
    mac: bytes


def kiosk_step(moment: datetime) -> int:
    return int(moment.timestamp()) // KIOSK_STEP_SECONDS


def _mac(secret: str, payload: bytes) -> bytes:
    return hmac.new(bytes.fromhex(secret), payload, hashlib.sha256).digest()[:_MAC_BYTES]


def make_token(kind: int, activity_id: uuid.UUID, counter: int, secret: str) -> str:
    """A short URL-safe code: kind, activity id, step or version, and a truncated HMAC-SHA256."""
    payload = bytes([kind]) + activity_id.bytes + counter.to_bytes(4, "big")
    return base64.urlsafe_b64encode(payload + _mac(secret, payload)).decode().rstrip("=")


def parse_token(token: str) -> ParsedToken | None:
    """Split a token into its parts (unverified), or ``None`` when it is not shaped like one."""
    if len(token) != TOKEN_CHARS:
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        return None
    if len(raw) != _TOKEN_BYTES or raw[0] not in (KIND_KIOSK, KIND_POSTER):
        return None
    return ParsedToken(raw[0], uuid.UUID(bytes=raw[1:17]), int.from_bytes(raw[17:21], "big"), raw[21:])


def mac_ok(parsed: ParsedToken, secret: str) -> bool:
    payload = bytes([parsed.kind]) + parsed.activity_id.bytes + parsed.counter.to_bytes(4, "big")
    return hmac.compare_digest(_mac(secret, payload), parsed.mac)


def sign_scan(key: str, token: str, first_seen_ts: int) -> str:
    """A cookie value remembering when a logged-out phone first opened a check-in URL."""
    mac = hmac.new(key.encode(), f"scan|{token}|{first_seen_ts}".encode(), hashlib.sha256).hexdigest()[:32]
    return f"{token}.{first_seen_ts}.{mac}"


def verify_scan(key: str, value: str, token: str) -> int | None:
    """The first-seen Unix time stored in a scan cookie for ``token``, if the cookie is genuine."""
    parts = value.split(".")
    if len(parts) != 3 or parts[0] != token or not parts[1].isdigit():
        return None
    expected = sign_scan(key, token, int(parts[1]))
    return int(parts[1]) if hmac.compare_digest(expected, value) else None


def distance_m(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """Great-circle distance in metres (haversine)."""
    r = 6_371_000.0
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * r * math.asin(min(1.0, math.sqrt(a)))


ScanDecision = str
"""``check_in``, ``check_out`` or ``status`` (a repeat scan too soon: report, change nothing)."""


def decide_scan(status: str | None, checked_in_at: datetime | None, now: datetime) -> ScanDecision:
    """What a scan does for a member whose attendance has ``status`` (None: no attendance yet).

    Raises ``ValueError`` with the refusal code for scans that must be refused.
    """
    if status is None:
        return "check_in"
    if status == "in" and checked_in_at is not None:
        if now - checked_in_at >= timedelta(seconds=CHECKOUT_AFTER_SECONDS):
            return "check_out"
        return "status"
    if status == "pending":
        raise ValueError("manual_pending")
    raise ValueError("already_checked_out")


def minutes_inside(
    checked_in_at: datetime, checked_out_at: datetime, starts_at: datetime, ends_at: datetime
) -> int:
    """Whole minutes of presence inside the activity's window."""
    start = max(checked_in_at, starts_at)
    end = min(checked_out_at, ends_at)
    if end <= start:
        return 0
    return int((end - start).total_seconds() // 60)


def points_for(mode: str, points: int, points_max: int | None, minutes: int) -> int:
    """Points for one attendance: flat, or pro rata per hour by minutes and capped."""
    if mode == "per_attendance":
        value = points
    elif mode == "per_hour":
        value = points * minutes // 60
    else:
        raise ValueError(f"unknown points mode {mode!r}")
    if points_max is not None:
        value = min(value, points_max)
    return max(0, value)
