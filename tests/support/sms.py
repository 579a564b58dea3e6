"""SMS codes in tests: ask for one over the API and read it from the console sender."""

from __future__ import annotations

import re
from typing import Any

from service.accounts.sms import last_text_to

__all__ = ["texted_code"]


async def texted_code(client: Any, phone: str, headers: dict[str, str] | None = None) -> str:
    """Ask for an SMS code for ``phone`` and read it from the console sender."""
    r = await client.post("/api/v1/auth/sms-code", json={"phone": phone}, headers=headers or {})
    assert r.status_code == 200, r.text
    return re.findall(r"\d{6}", last_text_to(phone) or "")[0]
