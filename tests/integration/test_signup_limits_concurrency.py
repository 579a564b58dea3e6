"""PostgreSQL: attempt limits hold when the attempts arrive together (one conditional upsert each).

Before, a read of the counter and a later write let 34 of 40 texts through a limit of 20 and 37 of 60
code guesses through a limit of 20. Each racer here has its own session and connection.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from service.accounts import onboarding, rules
from service.accounts.models import LoginFailure, Member, SmsCode
from service.accounts.sms import SENT, ConsoleSender
from service.errors import DomainError
from tests.support.world import SECRET, World

pytestmark = pytest.mark.postgres


async def _race(maker: async_sessionmaker[AsyncSession], n: int, work: Any) -> list[str]:
    async def one(i: int) -> str:
        async with maker() as db:
            try:
                await work(db, i)
                await db.commit()
                return "ok"
            except DomainError as exc:
                await db.rollback()
                return exc.code

    return list(await asyncio.gather(*(one(i) for i in range(n))))


async def _counted(maker: async_sessionmaker[AsyncSession], key: str) -> int:
    async with maker() as db:
        return int(await db.scalar(select(LoginFailure.count).where(LoginFailure.key == key)) or 0)


async def test_forty_texts_at_once_from_one_address_send_twenty(
    world: World, maker: async_sessionmaker[AsyncSession]
) -> None:
    SENT.clear()  # the log keeps the last 100 texts: count from empty
    sent_before = len(SENT)

    async def send(db: AsyncSession, i: int) -> None:
        await onboarding.send_sms_code(db, f"1360000{i:04d}", "10.9.9.9", ConsoleSender(), SECRET)

    outcomes = await _race(maker, 40, send)
    assert outcomes.count("ok") == rules.SMS_PER_CLIENT_MAX == 20, outcomes
    assert outcomes.count("too_many_attempts") == 20
    async with maker() as db:
        assert await db.scalar(select(func.count()).select_from(SmsCode)) == 20
    assert len(SENT) - sent_before == 20
    assert await _counted(maker, "smsc:10.9.9.9") == 20


async def test_texts_from_one_device_are_limited_across_addresses(
    world: World, maker: async_sessionmaker[AsyncSession]
) -> None:
    device = "d" * 24

    async def send(db: AsyncSession, i: int) -> None:
        phone = f"1361111{i:04d}"
        await onboarding.send_sms_code(db, phone, f"10.7.0.{i}", ConsoleSender(), SECRET, device)

    outcomes = await _race(maker, 25, send)
    assert outcomes.count("ok") == rules.SMS_PER_DEVICE_MAX, outcomes


async def test_sixty_activation_guesses_at_once_get_twenty_answers(
    world: World, maker: async_sessionmaker[AsyncSession]
) -> None:
    async def guess(db: AsyncSession, i: int) -> None:
        await onboarding.activate(db, f"ZZZZ-ZZZZ-Z{i:03d}", "guess-pass-123", "10.8.8.8", SECRET)

    outcomes = await _race(maker, 60, guess)
    assert outcomes.count("activation_invalid") == rules.GUESSES_PER_CLIENT_MAX == 20, outcomes
    assert outcomes.count("too_many_attempts") == 40
    assert await _counted(maker, "joinc:10.8.8.8") == 20


async def test_sixty_sms_code_guesses_at_once_get_twenty_answers(
    world: World, maker: async_sessionmaker[AsyncSession]
) -> None:
    async def guess(db: AsyncSession, i: int) -> None:
        await onboarding.sms_login(db, f"1362222{i:04d}", "000000", SECRET, "10.6.6.6")

    outcomes = await _race(maker, 60, guess)
    assert outcomes.count("sms_code_invalid") == rules.GUESSES_PER_CLIENT_MAX, outcomes
    assert outcomes.count("too_many_attempts") == 40


async def test_sign_ups_at_once_from_one_address_stop_at_the_limit(
    world: World, maker: async_sessionmaker[AsyncSession]
) -> None:
    """Thirty sign-ups from one hall's address (wrong codes or right ones: every try counts)."""
    members_before = await _members(maker)

    async def sign_up(db: AsyncSession, i: int) -> None:
        await onboarding.register(
            db, f"1363333{i:04d}", "路人", world.cid, SECRET, sms_code="000000", client="10.5.5.5"
        )

    outcomes = await _race(maker, 30, sign_up)
    assert outcomes.count("sms_code_invalid") == rules.SIGNUPS_PER_CLIENT_MAX, outcomes
    assert outcomes.count("too_many_attempts") == 30 - rules.SIGNUPS_PER_CLIENT_MAX
    assert await _members(maker) == members_before


async def _members(maker: async_sessionmaker[AsyncSession]) -> int:
    async with maker() as db:
        return int(await db.scalar(select(func.count()).select_from(Member)) or 0)
