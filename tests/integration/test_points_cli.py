"""`jifen points sweep` and `jifen points expire` do the periodic work on demand."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from service import clock
from service.cli import main
from service.points import service as points
from tests.support.database import db_env
from tests.support.database import in_thread as _in_thread
from tests.support.world import SECRET, World


async def test_sweep_and_expire_commands(
    db: Any,
    world: World,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name, value in db_env(database_url).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("JIFEN_SECRET_KEY", SECRET)
    alice = world.members["alice"].id
    await points.set_policy(db, world.actor("admin"), world.cid, expiry_mode="days", expiry_value=1)
    await points.award(
        db, community_id=world.cid, member_id=alice, points=10, code="checkin", idempotency_key="a"
    )
    await points.hold(
        db, community_id=world.cid, member_id=alice, points=4, payee="store",
        expires_at=clock.now() + timedelta(minutes=1), code="order", idempotency_key="h",
    )  # fmt: skip
    await db.commit()
    # The CLI runs in its own process in real life; here its clock is moved by freezing ours.
    clock.set_now(clock.now() + timedelta(days=2))
    assert _in_thread(main, ["points", "sweep"]) == 0
    assert "holds released: 1" in capsys.readouterr().out
    assert _in_thread(main, ["points", "expire"]) == 0
    assert "points expired: 10" in capsys.readouterr().out
    bal = await points.balance(db, world.cid, alice)
    assert (bal.available, bal.held, bal.expired) == (0, 0, 10)
    await db.rollback()
    assert _in_thread(main, ["ledger", "verify", "--community", "test-community"]) == 0
