"""The audit log is hash-chained per community and append-only on both databases.

Tampering is done as the database owner would (the append-only triggers lifted for the edit, as
tests/integration/test_ledger_tamper.py does): ``jifen audit verify`` must then name the first broken
event and exit 1.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from typing import Any

import pytest
from sqlalchemy import Uuid, bindparam, func, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from service.audit import rules, views
from service.audit.models import AuditChain, AuditEvent
from service.audit.service import record
from tests.support.database import ROOT
from tests.support.world import SECRET, World


async def _seed(db: Any, world: World) -> list[uuid.UUID]:
    """Five events in community A (one with a nested detail), one platform-wide; their ids in order."""
    admin = world.members["admin"].id
    ids = []
    for n in range(5):
        e = await record(
            db,
            actor_id=admin,
            action="settings_changed",
            community_id=world.cid,
            subject_member_id=world.members["alice"].id if n % 2 else None,
            detail={"before": {"points_cap": n}, "after": {"points_cap": n + 1}, "note": "备注 ✓"},
            client_addr="203.0.113.7",
        )
        ids.append(e.id)
    await record(db, actor_id=world.members["root"].id, action="region_created", detail={"code": "x"})
    await db.commit()
    return ids


def _cli_verify(database_url: str, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "JIFEN_DATABASE_URL": database_url, "JIFEN_SECRET_KEY": SECRET}
    return subprocess.run(
        [sys.executable, "-m", "service.cli", "audit", "verify", *extra],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


async def _tamper(db: Any, sql: str, **params: Any) -> None:
    """Run ``sql`` on audit_events as the owner, with the append-only triggers lifted meanwhile."""
    postgres = db.get_bind().dialect.name == "postgresql"
    if postgres:
        await db.execute(text("ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only"))
        restore: list[str] = []
    else:
        rows = (await db.execute(text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'"))).all()
        restore = [sql for name, sql in rows if name.startswith("audit_events_")]
        assert len(restore) == 2, "SQLite's append-only triggers are missing"
        for name, _ in rows:
            if name.startswith("audit_events_"):
                await db.execute(text(f'DROP TRIGGER "{name}"'))
    typed = text(sql).bindparams(*(bindparam(k, type_=Uuid()) for k in params))
    await db.execute(typed, params)
    if postgres:
        await db.execute(text("ALTER TABLE audit_events ENABLE TRIGGER audit_events_append_only"))
    for statement in restore:
        await db.execute(text(statement))
    await db.commit()


async def _verdict(db: Any, world: World) -> views.ChainReport:
    report = await views.verify_chain(db, rules.chain_of(world.cid))
    await db.rollback()  # SQLite: every transaction holds the write lock; let the CLI in
    return report


async def test_a_clean_log_verifies(db: Any, world: World, database_url: str) -> None:
    ids = await _seed(db, world)
    report = await _verdict(db, world)
    assert report.ok and report.events_checked >= len(ids)
    seqs = list(
        await db.scalars(
            select(AuditEvent.seq).where(AuditEvent.chain == str(world.cid)).order_by(AuditEvent.seq)
        )
    )
    assert seqs == list(range(1, len(seqs) + 1))
    await db.rollback()
    r = _cli_verify(database_url)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "test-community: ok" in r.stdout and "platform: ok" in r.stdout
    r = _cli_verify(database_url, "--community", "test-community")
    assert r.returncode == 0 and "platform" not in r.stdout, r.stdout


async def test_an_edited_event_is_named(db: Any, owner_db: Any, world: World, database_url: str) -> None:
    ids = await _seed(db, world)
    await _tamper(
        owner_db,
        """UPDATE audit_events SET detail = '{"after": {"points_cap": 100000}}' WHERE id = :id""",
        id=ids[2],
    )
    report = await _verdict(db, world)
    assert not report.ok and report.event_id == ids[2], report
    assert "edited" in (report.problem or "")
    r = _cli_verify(database_url, "--community", "test-community")
    assert r.returncode == 1
    assert str(ids[2]) in r.stderr and "BROKEN" in r.stdout


async def test_an_edited_client_address_or_time_is_named(db: Any, owner_db: Any, world: World) -> None:
    ids = await _seed(db, world)
    await _tamper(owner_db, "UPDATE audit_events SET client_addr = '10.0.0.1' WHERE id = :id", id=ids[1])
    report = await _verdict(db, world)
    assert report.event_id == ids[1]


async def test_a_deleted_event_is_named(db: Any, owner_db: Any, world: World, database_url: str) -> None:
    ids = await _seed(db, world)
    await _tamper(owner_db, "DELETE FROM audit_events WHERE id = :id", id=ids[1])
    report = await _verdict(db, world)
    assert not report.ok and report.event_id == ids[2], report  # the first event that no longer follows
    r = _cli_verify(database_url)
    assert r.returncode == 1 and str(ids[2]) in r.stderr


async def test_deleting_the_newest_events_is_found(
    db: Any, owner_db: Any, world: World, database_url: str
) -> None:
    ids = await _seed(db, world)
    await _tamper(owner_db, "DELETE FROM audit_events WHERE id = :id", id=ids[-1])
    report = await _verdict(db, world)
    assert not report.ok and "missing" in (report.problem or ""), report
    assert _cli_verify(database_url).returncode == 1


async def test_reordered_events_are_named(db: Any, owner_db: Any, world: World, database_url: str) -> None:
    ids = await _seed(db, world)
    # Swap the places of the 2nd and 3rd events (through a free seq: the pair is unique).
    await _tamper(owner_db, "UPDATE audit_events SET seq = -seq WHERE id = :id", id=ids[1])
    await _tamper(owner_db, "UPDATE audit_events SET seq = seq - 1 WHERE id = :id", id=ids[2])
    await _tamper(owner_db, "UPDATE audit_events SET seq = 1 - seq WHERE id = :id", id=ids[1])
    seqs = dict(
        (await db.execute(select(AuditEvent.id, AuditEvent.seq).where(AuditEvent.id.in_(ids[1:3])))).all()
    )
    assert seqs[ids[1]] == seqs[ids[2]] + 1  # really swapped
    report = await _verdict(db, world)
    assert not report.ok and report.event_id == ids[2], report
    r = _cli_verify(database_url, "--community", "test-community")
    assert r.returncode == 1 and str(ids[2]) in r.stderr


async def test_an_unknown_community_code_is_an_error(database_url: str, clean: Any) -> None:
    r = _cli_verify(database_url, "--community", "nowhere")
    assert r.returncode == 2 and "nowhere" in r.stderr


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE audit_events SET action = 'nothing_happened' WHERE id = :id",
        "DELETE FROM audit_events WHERE id = :id",
    ],
)
async def test_update_and_delete_are_refused_on_both_databases(
    db: Any, owner_db: Any, world: World, sql: str
) -> None:
    ids = await _seed(db, world)
    before = (await db.execute(select(AuditEvent.id, AuditEvent.action, AuditEvent.hash))).all()
    # the app's role is refused by its grants on PostgreSQL (SELECT and INSERT only), the owner by the
    # append-only trigger; SQLite has one role, and the trigger
    with pytest.raises((DBAPIError, IntegrityError), match=r"append-only|permission denied"):
        await db.execute(text(sql).bindparams(bindparam("id", type_=Uuid())), {"id": ids[0]})
    await db.rollback()
    with pytest.raises((DBAPIError, IntegrityError), match="append-only"):
        await owner_db.execute(text(sql).bindparams(bindparam("id", type_=Uuid())), {"id": ids[0]})
    await owner_db.rollback()
    assert sorted(
        (await db.execute(select(AuditEvent.id, AuditEvent.action, AuditEvent.hash))).all()
    ) == sorted(before)
    assert (await _verdict(db, world)).ok


async def test_two_events_never_take_one_place(db: Any, world: World) -> None:
    """The database backs the head lock: (chain, seq) is unique."""
    await _seed(db, world)
    head = await db.get(AuditChain, str(world.cid))
    assert head is not None
    event = await db.scalar(select(AuditEvent).where(AuditEvent.chain == str(world.cid)).limit(1))
    assert event is not None
    db.add(
        AuditEvent(
            action="forged",
            community_id=world.cid,
            detail={},
            chain=str(world.cid),
            seq=event.seq,
            prev_hash=event.prev_hash,
            hash=event.hash,
        )
    )
    with pytest.raises(IntegrityError):
        await db.flush()
    await db.rollback()


@pytest.mark.postgres
async def test_concurrent_appends_spread_over_the_communitys_chains_and_none_is_lost(
    db: Any, world: World, maker: Any
) -> None:
    """Eight transactions append to one community at once and hold their chain's heads together: each
    took a head no other holds (none waited for the one before it). Twenty more follow; none is lost,
    every chain of the community verifies and their heads together count every event."""
    await db.commit()
    together = 8  # under the connection pool of 10 (the test holds one)
    inside = asyncio.Barrier(together)

    async def one(n: int, hold: bool) -> str:
        async with maker() as s, s.begin():
            event = await record(
                s,
                actor_id=world.members["admin"].id,
                action="award_requested",
                community_id=world.cid,
                detail={"n": n},
            )
            if hold:
                await asyncio.wait_for(inside.wait(), 10)  # all eight hold a head at the same time
            return event.chain

    used = await asyncio.gather(*(one(n, True) for n in range(together)))
    shards = rules.chain_shards(world.cid)
    assert set(used) <= set(shards) and len(set(used)) == together
    await asyncio.gather(*(one(n, False) for n in range(20)))
    count = await db.scalar(
        select(func.count()).select_from(AuditEvent).where(AuditEvent.community_id == world.cid)
    )
    heads = (await db.execute(select(AuditChain.seq).where(AuditChain.chain.in_(shards)))).scalars().all()
    assert sum(heads) == count
    for chain in shards:
        assert (await views.verify_chain(db, chain)).ok, chain
    await db.rollback()


async def _log(db: Any) -> tuple[list[Any], list[Any]]:
    events = sorted((await db.execute(select(AuditEvent.id, AuditEvent.hash))).all())
    heads = sorted((await db.execute(select(AuditChain.chain, AuditChain.seq, AuditChain.last_hash))).all())
    await db.rollback()
    return events, heads


async def test_refused_staff_acts_write_no_event(db: Any, world: World, client: Any) -> None:
    """A refused act rolls back with its audit event: the log and its chain heads are as they were."""
    cid, h = world.cid, world.h
    r = await client.post(
        f"/api/v1/communities/{cid}/awards",
        headers=h["admin2"],
        json={"member_id": str(world.members["bob"].id), "points": 500, "reason": "大额"},
    )
    assert r.status_code == 202, r.text  # waits for a second admin
    before = await _log(db)
    assert before[0], "the award request itself is recorded"
    refusals = [
        ("POST", f"/api/v1/awards/{r.json()['id']}/approve", "admin2", None, 403),  # own award
        ("PUT", f"/api/v1/communities/{cid}/activity-policy", "admin", {"points_cap": -1}, 422),
        ("PUT", f"/api/v1/communities/{cid}/activity-policy", "organizer", {"points_cap": 9}, 403),
        ("PUT", f"/api/v1/communities/{cid}/store-settings", "admin", {"order_days": 10_000}, 422),
        ("POST", f"/api/v1/communities/{cid}/rules", "admin", {"code": "X!", "title": "t", "points": 5}, 422),
    ]
    for method, url, who, body, status in refusals:
        got = await client.request(method, url, headers=h[who], json=body)
        assert got.status_code == status, (url, got.text)
    assert await _log(db) == before
