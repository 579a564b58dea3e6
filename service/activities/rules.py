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
    "KIND_KIOSK",
    "KIND_KIOSK_OFFLINE",
    "KIND_POSTER",
    "KIOSK_STEP_SECONDS",
    "MIN_STAY_SECONDS",
    "NEW_AT_EVENT_SECONDS",
    "PENDING_SCAN_SECONDS",
    "POINTS_CAP_DEFAULT",
    "POSTER_GRACE_SECONDS",
    "SCAN_NONCE_CHARS",
    "ParsedToken",
    "PendingScan",
    "ScanDecision",
    "decide_scan",
    "distance_m",
    "kiosk_key",
    "kiosk_key_until",
    "kiosk_step",
    "make_offline_token",
    "make_token",
    "minutes_inside",
    "needs_approval",
    "parse_token",
    "points_for",
    "scan_is_for",
    "sign_scan",
    "signed_up_at_event",
    "verify_scan",
]

KIOSK_STEP_SECONDS = 15
"""A kiosk code changes every step; the current and the previous step are accepted (< 30 s)."""
MIN_STAY_SECONDS = 10 * 60
"""The shortest stay that earns points: a second scan at least this long after check-in checks out
(and posts the points); earlier ones just show the status. Scanning and walking away earns nothing."""
POINTS_CAP_DEFAULT = 50
"""Points per attendance (or per hour) above which an activity needs an admin's approval to open;
each community may set its own (``ActivityPolicy``)."""
SCAN_NONCE_CHARS = 32
PENDING_SCAN_SECONDS = 10 * 60
"""A scan made before logging in completes if the login follows within this time."""
CHECKIN_EARLY_SECONDS = 30 * 60
"""Check-in opens this long before the activity starts."""
POSTER_GRACE_SECONDS = 30 * 60
"""A printed poster code still works this long after the activity ends (to check out)."""

KIND_KIOSK = 1
KIND_POSTER = 2
KIND_KIOSK_OFFLINE = 3
"""A kiosk code the kiosk page made itself, with a per-kiosk key it got while online (docs/offline.md)."""
_MAC_BYTES = 10
_TOKEN_BYTES = 1 + 16 + 4 + _MAC_BYTES
TOKEN_CHARS = math.ceil(_TOKEN_BYTES * 4 / 3)
_OFFLINE_TOKEN_BYTES = _TOKEN_BYTES + 4 + 4
OFFLINE_TOKEN_CHARS = math.ceil(_OFFLINE_TOKEN_BYTES * 4 / 3)
KIOSK_KEY_HOURS = 25
"""A kiosk's offline key lasts at most until the activity's end (plus the poster grace) and at most
this many hours from the start of the hour it was given in."""
_KIOSK_KEY_LABEL = b"jifen-kiosk-key-v1"


@dataclass(frozen=True)
class ParsedToken:
    kind: int
    activity_id: uuid.UUID
    counter: int
    """The time step of a kiosk code, the poster version of a poster code."""
    mac: bytes
    kiosk_id: int = 0
    """An offline kiosk code's kiosk (random per kiosk page)."""
    valid_until: int = 0
    """An offline kiosk code's key's end (Unix time)."""

    def payload(self) -> bytes:
        head = bytes([self.kind]) + self.activity_id.bytes + self.counter.to_bytes(4, "big")
        if self.kind != KIND_KIOSK_OFFLINE:
            return head
        return head + self.kiosk_id.to_bytes(4, "big") + self.valid_until.to_bytes(4, "big")


def kiosk_step(moment: datetime) -> int:
    return int(moment.timestamp()) // KIOSK_STEP_SECONDS


def _mac(secret: str, payload: bytes) -> bytes:
    return hmac.new(bytes.fromhex(secret), payload, hashlib.sha256).digest()[:_MAC_BYTES]


def make_token(kind: int, activity_id: uuid.UUID, counter: int, secret: str) -> str:
    """A short URL-safe code: kind, activity id, step or version, and a truncated HMAC-SHA256."""
    payload = bytes([kind]) + activity_id.bytes + counter.to_bytes(4, "big")
    return base64.urlsafe_b64encode(payload + _mac(secret, payload)).decode().rstrip("=")


def kiosk_key(secret: str, activity_id: uuid.UUID, kiosk_id: int, valid_until: int) -> bytes:
    """A kiosk page's own key: it makes the kiosk's rotating codes with no server (HMAC-SHA256 of the
    activity's secret; the secret never leaves the server)."""
    msg = _KIOSK_KEY_LABEL + activity_id.bytes + kiosk_id.to_bytes(4, "big") + valid_until.to_bytes(4, "big")
    return hmac.new(bytes.fromhex(secret), msg, hashlib.sha256).digest()


def kiosk_key_until(ends_at: datetime, now: datetime) -> int:
    """When a kiosk key given ``now`` stops working (Unix time)."""
    hour = int(now.timestamp()) // 3600 * 3600
    end = int((ends_at + timedelta(seconds=POSTER_GRACE_SECONDS)).timestamp())
    return min(end, hour + KIOSK_KEY_HOURS * 3600)


def make_offline_token(activity_id: uuid.UUID, step: int, kiosk_id: int, valid_until: int, key: bytes) -> str:
    """The code a kiosk page makes itself (``kiosk.js`` does the same in the browser)."""
    parsed = ParsedToken(KIND_KIOSK_OFFLINE, activity_id, step, b"", kiosk_id, valid_until)
    payload = parsed.payload()
    mac = hmac.new(key, payload, hashlib.sha256).digest()[:_MAC_BYTES]
    return base64.urlsafe_b64encode(payload + mac).decode().rstrip("=")


def parse_token(token: str) -> ParsedToken | None:
    """Split a token into its parts (unverified), or ``None`` when it is not shaped like one."""
    if len(token) not in (TOKEN_CHARS, OFFLINE_TOKEN_CHARS):
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        return None
    activity_id = uuid.UUID(bytes=raw[1:17]) if len(raw) >= 17 else None
    if activity_id is None:
        return None
    counter = int.from_bytes(raw[17:21], "big")
    if len(raw) == _TOKEN_BYTES and raw[0] in (KIND_KIOSK, KIND_POSTER):
        return ParsedToken(raw[0], activity_id, counter, raw[21:])
    if len(raw) == _OFFLINE_TOKEN_BYTES and raw[0] == KIND_KIOSK_OFFLINE:
        kiosk_id, until = int.from_bytes(raw[21:25], "big"), int.from_bytes(raw[25:29], "big")
        return ParsedToken(raw[0], activity_id, counter, raw[29:], kiosk_id, until)
    return None


def mac_ok(parsed: ParsedToken, secret: str) -> bool:
    if parsed.kind == KIND_KIOSK_OFFLINE:
        key = kiosk_key(secret, parsed.activity_id, parsed.kiosk_id, parsed.valid_until)
        expected = hmac.new(key, parsed.payload(), hashlib.sha256).digest()[:_MAC_BYTES]
        return hmac.compare_digest(expected, parsed.mac)
    return hmac.compare_digest(_mac(secret, parsed.payload()), parsed.mac)


@dataclass(frozen=True)
class PendingScan:
    """A logged-out phone's first opening of a check-in URL: when, and the nonce that spends it."""

    first_seen: int
    """Unix time."""
    nonce: str


def _scan_mac(key: str, token: str, first_seen_ts: int, nonce: str, device_id: str) -> str:
    msg = f"scan|{token}|{first_seen_ts}|{nonce}|{device_id}".encode()
    return hmac.new(key.encode(), msg, hashlib.sha256).hexdigest()[:32]


def sign_scan(key: str, token: str, first_seen_ts: int, nonce: str, device_id: str) -> str:
    """A cookie value remembering when a logged-out phone first opened a check-in URL.

    The MAC covers the phone's device cookie, so a copy works on no other browser, and a random
    ``nonce`` that the server records when the scan is spent, so it checks in one member once."""
    return f"{token}.{first_seen_ts}.{nonce}.{_scan_mac(key, token, first_seen_ts, nonce, device_id)}"


def scan_is_for(value: str, token: str) -> bool:
    """Whether a scan cookie claims to be for ``token`` (genuine or not)."""
    return value.split(".", 1)[0] == token


def verify_scan(key: str, value: str, token: str, device_id: str | None) -> PendingScan | None:
    """The pending scan in a cookie for ``token`` if it is genuine and was made on ``device_id``."""
    parts = value.split(".")
    if len(parts) != 4 or parts[0] != token or not parts[1].isdigit() or device_id is None:
        return None
    first_seen, nonce = int(parts[1]), parts[2]
    if len(nonce) != SCAN_NONCE_CHARS:
        return None
    expected = _scan_mac(key, token, first_seen, nonce, device_id)
    return PendingScan(first_seen, nonce) if hmac.compare_digest(expected, parts[3]) else None


def distance_m(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """Great-circle distance in metres (haversine)."""
    r = 6_371_000.0
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * r * math.asin(min(1.0, math.sqrt(a)))


ScanDecision = str
"""``check_in``, ``check_out`` or ``status`` (a repeat scan too soon: report, change nothing)."""


def decide_scan(
    status: str | None, checked_in_at: datetime | None, now: datetime, *, manual: bool = True
) -> ScanDecision:
    """What a scan does for a member whose attendance has ``status`` (None: no attendance yet).

    A second scan after the minimum stay checks out (that is when points post); earlier ones only
    report. ``manual``: a pending record was entered by hand (else it is an organizer's own finished
    attendance waiting for another organizer). Raises ``ValueError`` with the refusal code.
    """
    if status is None:
        return "check_in"
    if status == "in" and checked_in_at is not None:
        if now - checked_in_at >= timedelta(seconds=MIN_STAY_SECONDS):
            return "check_out"
        return "status"
    if status == "pending":
        raise ValueError("manual_pending" if manual else "confirmation_pending")
    raise ValueError("already_checked_out")


def needs_approval(mode: str, points: int, points_max: int | None, cap: int) -> bool:
    """Whether an activity is worth more than the community's cap: per attendance for flat points,
    per hour for hourly ones (a long activity's ``points_max`` follows from the hourly rate)."""
    if mode == "per_attendance":
        value = points if points_max is None else min(points, points_max)
    else:
        value = points
    return value > cap


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


NEW_AT_EVENT_SECONDS = 2 * 3600
"""An account made after the activity was published and at most this long before its check-in was
made at the event: marked 新注册."""


def signed_up_at_event(
    account_created_at: datetime | None, activity_created_at: datetime, checked_in_at: datetime
) -> bool:
    """Whether the member's account was created at the event they checked in to (a sign-up from a
    poster or kiosk scan), so the organizer's lists can mark them new."""
    if account_created_at is None or account_created_at <= activity_created_at:
        return False
    return (checked_in_at - account_created_at).total_seconds() <= NEW_AT_EVENT_SECONDS
