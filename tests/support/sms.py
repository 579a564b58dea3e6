"""SMS codes in tests: ask for one over the API and read it from the console sender."""

from __future__ import annotations

import asyncio
import re
from typing import Any

from sqlalchemy import update

from service.accounts import rules
from service.accounts.models import SmsCode
from service.accounts.sms import last_text_to
from service.db import create_engine, create_session_maker
from tests.support.database import in_thread
from tests.support.world import SECRET

__all__ = ["plant_sms_code", "texted_code"]


async def texted_code(client: Any, phone: str, headers: dict[str, str] | None = None) -> str:
    """Ask for an SMS code for ``phone`` and read it from the console sender."""
    r = await client.post("/api/v1/auth/sms-code", json={"phone": phone}, headers=headers or {})
    assert r.status_code == 200, r.text
    return re.findall(r"\d{6}", last_text_to(phone) or "")[0]


def plant_sms_code(database_url: str, phone_number: str, code: str) -> None:
    """Replace the code a live server texted to ``phone_number`` with a known one (the console sender
    keeps the real one inside the server process)."""

    async def plant() -> None:
        engine = create_engine(database_url)
        try:
            async with create_session_maker(engine)() as db:
                await db.execute(
                    update(SmsCode)
                    .where(SmsCode.phone == phone_number)
                    .values(code_hash=rules.sms_code_hash(SECRET, phone_number, code))
                )
                await db.commit()
        finally:
            await engine.dispose()

    in_thread(asyncio.run, plant())
