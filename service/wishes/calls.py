"""Calls between a wish's volunteer and its requester through a privacy number (隐私号, AXB binding):
the volunteer dials a relay number, the provider connects the two, and neither sees the other's number.

``JIFEN_CALL_BACKEND`` picks the relay: ``console`` (development, tests) answers a relay number derived
from the binding (the same one for the same pair and wish) and logs it; ``http`` POSTs
``{"a": volunteer, "b": requester, "ref": wish id, "expires_at": ISO time}`` as JSON to ``JIFEN_CALL_URL``
with ``Authorization: Bearer JIFEN_CALL_TOKEN`` and takes ``{"relay_number": "..."}`` back (put a small
adapter in front of the provider's own API, as for SMS); ``off`` offers no call at all.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
import urllib.request
from collections import deque
from datetime import datetime
from typing import Protocol

from service.config import Settings

__all__ = ["BOUND", "CALL_HTTP_TIMEOUT_SECONDS", "RELAY_NUMBER", "CallRelay", "relay_for"]

log = logging.getLogger("jifen.calls")
CALL_HTTP_TIMEOUT_SECONDS = 5
RELAY_NUMBER = re.compile(r"^\+?[0-9]{5,20}$")
"""What a provider's relay number must look like before it goes into a ``tel:`` link."""
BOUND: deque[tuple[str, str, str, str]] = deque(maxlen=100)
"""(a, b, ref, relay number) of the last bindings the console relay made, newest last (tests read it)."""


class CallRelay(Protocol):
    name: str

    async def bind(self, *, a: str, b: str, ref: str, expires_at: datetime) -> str | None:
        """The relay number that connects ``a`` and ``b`` until ``expires_at``; ``None`` if the provider
        could not bind them now."""
        ...


class ConsoleRelay:
    name = "console"

    async def bind(self, *, a: str, b: str, ref: str, expires_at: datetime) -> str | None:
        digest = int.from_bytes(hashlib.sha256(f"{a}|{b}|{ref}".encode()).digest()[:8], "big")
        number = f"170{digest % 10**8:08d}"
        BOUND.append((a, b, ref, number))
        log.info(
            "call relay %s binds %s**** and %s**** for %s until %s", number, a[:3], b[:3], ref, expires_at
        )
        return number


class HttpRelay:
    name = "http"

    def __init__(self, url: str, token: str) -> None:
        self.url, self.token = url, token

    def _post(self, body: bytes) -> str | None:
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
        with urllib.request.urlopen(request, timeout=CALL_HTTP_TIMEOUT_SECONDS) as response:
            answer = json.loads(response.read() or b"{}")
        number = answer.get("relay_number") if isinstance(answer, dict) else None
        return number if isinstance(number, str) and RELAY_NUMBER.match(number) else None

    async def bind(self, *, a: str, b: str, ref: str, expires_at: datetime) -> str | None:
        body = json.dumps({"a": a, "b": b, "ref": ref, "expires_at": expires_at.isoformat()}).encode()
        try:
            return await asyncio.to_thread(self._post, body)
        except (OSError, ValueError) as exc:  # down, or an answer that is not JSON: no call this time
            log.warning("call relay provider failed for %s: %s", ref, exc)
            return None


def relay_for(settings: Settings) -> CallRelay | None:
    """The configured relay, or ``None`` when calls are off."""
    if settings.call_backend == "http":
        return HttpRelay(settings.call_url, settings.call_token)
    if settings.call_backend == "console":
        return ConsoleRelay()
    return None
