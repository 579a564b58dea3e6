"""Text messages behind one small interface: ``JIFEN_SMS_BACKEND`` picks the sender.

``console`` logs every message and keeps the last ones in memory (development and tests read the codes
there); ``http`` POSTs ``{"phone": ..., "text": ...}`` as JSON to ``JIFEN_SMS_URL`` with
``Authorization: Bearer JIFEN_SMS_TOKEN`` (put a small adapter in front of the provider's own API);
``off`` sends nothing. Nothing enabled by default needs a network.
"""

from __future__ import annotations

import asyncio
import json
import logging
import urllib.request
from collections import deque
from typing import Protocol

from service.config import Settings

__all__ = ["SENT", "SMS_HTTP_TIMEOUT_SECONDS", "SmsSender", "last_text_to", "sender_for"]

log = logging.getLogger("jifen.sms")
SMS_HTTP_TIMEOUT_SECONDS = 5
SENT_KEPT = 100
SENT: deque[tuple[str, str]] = deque(maxlen=SENT_KEPT)
"""(phone, text) of the last messages the console sender "sent", newest last (tests read it)."""


class SmsSender(Protocol):
    async def send(self, phone: str, text: str) -> None: ...


class ConsoleSender:
    async def send(self, phone: str, text: str) -> None:
        SENT.append((phone, text))
        log.info("SMS to %s: %s", phone, text)


class HttpSender:
    def __init__(self, url: str, token: str) -> None:
        self.url, self.token = url, token

    def _post(self, phone: str, text: str) -> None:
        body = json.dumps({"phone": phone, "text": text}, ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
        with urllib.request.urlopen(request, timeout=SMS_HTTP_TIMEOUT_SECONDS) as response:
            response.read()

    async def send(self, phone: str, text: str) -> None:
        try:
            await asyncio.to_thread(self._post, phone, text)
        except OSError as exc:  # the provider is down: the resident asks again; we never say why
            log.warning("SMS provider failed for %s****: %s", phone[:3], exc)


class OffSender:
    async def send(self, phone: str, text: str) -> None:
        log.debug("SMS off: not sending to %s****", phone[:3])


def sender_for(settings: Settings) -> SmsSender:
    if settings.sms_backend == "http":
        return HttpSender(settings.sms_url, settings.sms_token)
    if settings.sms_backend == "console":
        return ConsoleSender()
    return OffSender()


def last_text_to(phone: str) -> str | None:
    """The newest message the console sender kept for ``phone``."""
    for to, text in reversed(SENT):
        if to == phone:
            return text
    return None
