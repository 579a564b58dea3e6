"""A row edited behind Jifen's back is found by verify (API and CLI); PostgreSQL refuses such edits."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest
from sqlalchemy import Uuid, bindparam, select, text
from sqlalchemy.exc import DBAPIError

from service.points import service as points
from service.points.models import Entry
from tests.support.database import ROOT, db_env
from tests.support.world import SECRET, World


async def _seed(db: Any, world: World) -> Any:
    await points.award(
        db,
        community_id=world.cid,
        member_id=world.members["alice"].id,
        points=10,
        code="checkin",
        idempotency_key="a",
    )
    await points.award(
        db,
        community_id=world.cid,
        member_id=world.members["bob"].id,
        points=5,
        code="checkin",
        idempotency_key="b",
    )
    await db.commit()
    account = await points.account_for(db, world.cid, "member", world.members["alice"].id)
    entry_id = await db.scalar(select(Entry.id).where(Entry.account_id == account.id))
    await db.rollback()  # SQLite: every transaction holds the write lock; let the CLI in
    return entry_id


async def _tamper(db: Any, sql: str, **params: Any) -> None:
    postgres = db.get_bind().dialect.name == "postgresql"
    if postgres:
        await db.execute(text("ALTER TABLE ledger_entries DISABLE TRIGGER ledger_entries_append_only"))
    typed = text(sql).bindparams(*(bindparam(k, type_=Uuid()) for k in params))
    await db.execute(typed, params)
    if postgres:
        await db.execute(text("ALTER TABLE ledger_entries ENABLE TRIGGER ledger_entries_append_only"))
    await db.commit()


def _cli_verify(database_url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **db_env(database_url), "JIFEN_SECRET_KEY": SECRET}
    return subprocess.run(
        [sys.executable, "-m", "service.cli", "ledger", "verify", "--community", "test-community"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_edited_entry_is_reported_by_id(
    db: Any, owner_db: Any, world: World, client: Any, database_url: str
) -> None:
    entry_id = await _seed(db, world)
    clean = _cli_verify(database_url)
    assert clean.returncode == 0, clean.stderr
    await _tamper(owner_db, "UPDATE ledger_entries SET points = 1000 WHERE id = :id", id=entry_id)
    report = await points.verify(db, world.cid)
    assert not report.ok
    assert {"entry_hash_mismatch"} <= {p["code"] for p in report.problems}
    assert str(entry_id) in {p.get("entry_id") for p in report.problems}
    await db.rollback()
    r = await client.get(f"/api/v1/communities/{world.cid}/ledger/verify", headers=world.h["admin"])
    assert r.status_code == 200 and r.json()["ok"] is False
    assert any(p.get("entry_id") == str(entry_id) for p in r.json()["problems"])
    broken = _cli_verify(database_url)
    assert broken.returncode == 1
    assert str(entry_id) in broken.stderr


async def test_edited_memo_and_balance_are_reported(db: Any, owner_db: Any, world: World) -> None:
    await _seed(db, world)
    # the owner's session: the app's role may not update transfers at all
    await owner_db.execute(text("UPDATE ledger_transfers SET memo = 'forged'"))
    await owner_db.execute(text("UPDATE ledger_accounts SET balance = balance + 1 WHERE kind = 'member'"))
    await owner_db.commit()
    codes = {p["code"] for p in (await points.verify(db, world.cid)).problems}
    assert {"transfer_hash_mismatch", "balance_mismatch"} <= codes


async def test_deleted_entry_breaks_the_chain(db: Any, owner_db: Any, world: World) -> None:
    entry_id = await _seed(db, world)
    await owner_db.execute(text("DELETE FROM ledger_lots"))
    await _tamper(owner_db, "DELETE FROM ledger_entries WHERE id = :id", id=entry_id)
    codes = {p["code"] for p in (await points.verify(db, world.cid)).problems}
    assert {"balance_mismatch", "transfer_not_balanced", "community_not_balanced"} <= codes


@pytest.mark.postgres
async def test_postgres_refuses_update_and_delete_of_entries(db: Any, owner_db: Any, world: World) -> None:
    """The app's role may not update or delete entries at all; even the owner, who may, meets the
    append-only trigger."""
    entry_id = await _seed(db, world)
    for session, refusal in ((db, "permission denied"), (owner_db, "append-only")):
        for sql in (
            "UPDATE ledger_entries SET points = 1 WHERE id = :id",
            "DELETE FROM ledger_entries WHERE id = :id",
        ):
            with pytest.raises(DBAPIError, match=refusal):
                await session.execute(text(sql).bindparams(bindparam("id", type_=Uuid())), {"id": entry_id})
            await session.rollback()
    assert (await points.verify(db, world.cid)).ok
