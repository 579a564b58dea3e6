"""Check-in's HTTP plumbing shared by the API and the pages: the device and pending-scan cookies.

The pages import these from here (never from the controllers). Services never see a request: they
get the device id and the verified pending scan.
"""

from __future__ import annotations

import secrets
from typing import Any

from litestar import Request, Response
from litestar.datastructures import Cookie

from service import clock
from service.activities import rules
from service.activities.errors import QrExpired
from service.config import Settings
from service.errors import raises
from service.http import DEVICE_COOKIE, device_of

__all__ = [
    "DEVICE_COOKIE",
    "DEVICE_COOKIE_SECONDS",
    "SCAN_COOKIE",
    "device_cookies",
    "device_of",
    "pending_scan_of",
    "scan_cookie",
    "with_cookies",
]

SCAN_COOKIE = "jifen_scan"
DEVICE_COOKIE_SECONDS = 5 * 365 * 24 * 3600


@raises(QrExpired)
def pending_scan_of(
    request: Request[Any, Any, Any], settings: Settings, token: str
) -> rules.PendingScan | None:
    """This browser's scan of ``token`` from before it logged in (a cookie), if it has one.

    A scan cookie for ``token`` that is forged, or was copied from another browser (it is bound to the
    device cookie), is refused ``qr_expired`` rather than ignored."""
    value = request.cookies.get(SCAN_COOKIE, "")
    if not value or not rules.scan_is_for(value, token):
        return None
    scan = rules.verify_scan(settings.secret_key, value, token, device_of(request))
    if scan is None:
        raise QrExpired(detail="This scan was made on another phone: scan the code again.")
    return scan


def device_cookies(request: Request[Any, Any, Any], settings: Settings) -> tuple[str, list[Cookie]]:
    """This phone's device id, and the cookie that gives it one if it has none yet."""
    known = device_of(request)
    if known:
        return known, []
    value = secrets.token_urlsafe(24)
    cookie = Cookie(
        key=DEVICE_COOKIE,
        value=value,
        max_age=DEVICE_COOKIE_SECONDS,
        httponly=True,
        samesite="lax",
        path="/",
        secure=settings.secure_cookies,
    )
    return value, [cookie]


def scan_cookie(settings: Settings, token: str, device: str) -> Cookie:
    """Remember, for the login detour, when this phone first opened a check-in URL (single use)."""
    nonce = secrets.token_hex(rules.SCAN_NONCE_CHARS // 2)
    value = rules.sign_scan(settings.secret_key, token, int(clock.now().timestamp()), nonce, device)
    return Cookie(
        key=SCAN_COOKIE,
        value=value,
        max_age=rules.PENDING_SCAN_SECONDS,
        httponly=True,
        samesite="lax",
        path="/",
        secure=settings.secure_cookies,
    )


def with_cookies(response: Response[Any], cookies: list[Cookie]) -> Response[Any]:
    for c in cookies:
        response.set_cookie(c)
    return response
