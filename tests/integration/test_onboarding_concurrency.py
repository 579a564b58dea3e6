"""PostgreSQL: one invitation code or one SMS code used by two phones at the same moment works once."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from service.accounts import onboarding
from service.accounts.models import Activation, Member, SmsCode
from service.accounts.service import _verify_password
from service.accounts.sms import ConsoleSender, last_text_to
from service.errors import DomainError
from tests.support.world import SECRET, World

pytestmark = pytest.mark.postgres
RACERS = 8


async def _race(maker: async_sessionmaker[AsyncSession], work: Any) -> list[Any]:
    async def one(i: int) -> Any:
        async with maker() as db:
            try:
                result = await work(db, i)
                await db.commit()
                return result
            except DomainError as exc:
                await db.rollback()
                return exc.code

    return await asyncio.gather(*(one(i) for i in range(RACERS)))


async def test_one_invitation_code_sets_one_password(
    world: World, maker: async_sessionmaker[AsyncSession]
) -> None:
    async with maker() as db, db.begin():
        _row, code = await onboarding.issue_activation(
            db, world.actor("admin"), world.cid, world.members["alice"].id, SECRET
        )

    async def activate(db: AsyncSession, i: int) -> str:
        await onboarding.activate(db, code, f"password-of-racer-{i}", f"10.0.0.{i}", SECRET)
        return f"password-of-racer-{i}"

    outcomes = await _race(maker, activate)
    winners = [o for o in outcomes if o.startswith("password-of-racer-")]
    assert len(winners) == 1 and outcomes.count("activation_invalid") == RACERS - 1, outcomes
    async with maker() as db:
        statuses = list(await db.scalars(select(Activation.status)))
        member = await db.get(Member, world.members["alice"].id)
    assert statuses == ["used"]
    assert member is not None and await _verify_password(member.password_hash, winners[0])


async def test_one_sms_code_logs_in_once(world: World, maker: async_sessionmaker[AsyncSession]) -> None:
    async with maker() as db, db.begin():
        await onboarding.send_sms_code(db, "13900000001", "10.0.0.1", ConsoleSender(), SECRET)
    code = re.findall(r"\d{6}", last_text_to("13900000001") or "")[0]

    async def log_in(db: AsyncSession, _i: int) -> str:
        _token, _member = await onboarding.sms_login(db, "13900000001", code, SECRET)
        return "token"

    outcomes = await _race(maker, log_in)
    assert outcomes.count("token") == 1 and outcomes.count("sms_code_invalid") == RACERS - 1, outcomes
    async with maker() as db:
        assert await db.scalar(select(SmsCode.id)) is None
