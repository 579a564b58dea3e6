"""Voucher throughput: claims and redemptions per second on SQLite and PostgreSQL, beside pgbench.

Each claim holds points and issues a code; each redemption locks the voucher, posts the hold to the
partner's account and writes the ledger entries: the two point-moving writes at a partner's counter.
Both run through the service layer (no HTTP), ``WORKERS`` transactions at a time. pgbench's built-in
tpcb-like workload runs on a scratch database of the same PostgreSQL server as a yardstick.

    .venv/bin/python bench/redeem_bench.py            # both databases (PostgreSQL at 127.0.0.1:5432)
    .venv/bin/python bench/redeem_bench.py --sqlite-only

Everything it creates (a temporary SQLite file, scratch PostgreSQL databases) is removed at the end.
Bounded to well under two minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from service.accounts import service as accounts
from service.accounts.models import Member
from service.db import create_engine, create_session_maker, upgrade_database
from service.errors import DomainError
from service.points import service as points
from service.store import service as store

PG_ADMIN = os.environ.get("JIFEN_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
MEMBERS = 40
WORKERS = 8
PHASE_SECONDS = 6.0
"""Each measured phase stops after this long (or when its work runs out)."""
PGBENCH_SECONDS = 10


async def _seed(maker: Any) -> tuple[Any, Any, Any, list[accounts.Actor]]:
    async with maker() as db, db.begin():
        root_m = Member(phone="13700000000", name="bench", is_platform_admin=True)
        db.add(root_m)
        await db.flush()
        root = accounts.Actor(root_m.id, root_m.name, root_m.phone, True)
        community = await accounts.create_community(db, root, "压测社区", f"bench-{uuid.uuid4().hex[:6]}")
        partner = await accounts.create_partner(db, root, community.id, "压测商店")
        staff_m = await accounts.add_member(
            db, root, community.id, "13800000005", "店员", None, "partner", partner.id
        )
        staff = accounts.Actor(staff_m.id, staff_m.name, staff_m.phone)
        offer = await store.create_offer(db, staff, partner.id, title="压测优惠", points_price=1)
        members = []
        for i in range(MEMBERS):
            m = await accounts.add_member(db, root, community.id, f"1390000{i:04d}", f"会员{i}", None)
            members.append(accounts.Actor(m.id, m.name, m.phone))
            await points.award(
                db, community_id=community.id, member_id=m.id, points=100_000, code="bench",
                idempotency_key=f"bench-{m.id}",
            )  # fmt: skip
    return community, offer, staff, members


async def _phase(maker: Any, jobs: list[Any]) -> tuple[int, float, int]:
    """Run ``jobs`` (callables taking a session) WORKERS at a time until done or PHASE_SECONDS pass."""
    queue: asyncio.Queue[Any] = asyncio.Queue()
    for job in jobs:
        queue.put_nowait(job)
    done = failed = 0
    start = time.perf_counter()
    deadline = start + PHASE_SECONDS

    async def worker() -> None:
        nonlocal done, failed
        while time.perf_counter() < deadline:
            try:
                job = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            async with maker() as db:
                try:
                    async with db.begin():
                        await job(db)
                    done += 1
                except DomainError:
                    failed += 1

    await asyncio.gather(*(worker() for _ in range(WORKERS)))
    return done, time.perf_counter() - start, failed


async def bench_database(url: str) -> dict[str, float]:
    await asyncio.to_thread(upgrade_database, url)
    engine = create_engine(url)
    maker = create_session_maker(engine)
    try:
        _community, offer, staff, members = await _seed(maker)
        codes: list[str] = []

        def claim(actor: accounts.Actor) -> Any:
            async def job(db: Any) -> None:
                codes.append((await store.claim_voucher(db, actor, offer.id)).code)

            return job

        claimed, claim_s, _ = await _phase(maker, [claim(members[i % MEMBERS]) for i in range(20_000)])

        def redeem(code: str) -> Any:
            return lambda db: store.redeem_voucher(db, staff, code)

        redeemed, redeem_s, failed = await _phase(maker, [redeem(c) for c in list(codes)])
        if failed:
            raise RuntimeError(f"{failed} redemptions failed")
        return {"claims": claimed / claim_s, "redeems": redeemed / redeem_s, "n": float(redeemed)}
    finally:
        await engine.dispose()


async def _pg_exec(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN, timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def pgbench_tps(dbname: str) -> float:
    base = PG_ADMIN.rsplit("/", 1)[0]
    env = {**os.environ, "PGCONNECT_TIMEOUT": "5"}
    subprocess.run(
        ["pgbench", "-i", "-q", "-s", "10", f"{base}/{dbname}"], check=True, capture_output=True, env=env
    )
    out = subprocess.run(
        ["pgbench", "-c", str(WORKERS), "-j", "4", "-T", str(PGBENCH_SECONDS), "-n", f"{base}/{dbname}"],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    ).stdout
    found = re.search(r"tps = ([\d.]+)", out)
    if not found:
        raise RuntimeError("pgbench printed no tps:\n" + out)
    return float(found.group(1))


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sqlite-only", action="store_true")
    args = parser.parse_args()
    rows: list[tuple[str, str, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        sqlite = await bench_database(f"sqlite+aiosqlite:///{tmp}/bench.db")
    rows += [("SQLite", "voucher claims/s", sqlite["claims"]), ("SQLite", "redemptions/s", sqlite["redeems"])]
    ratio_line = ""
    if not args.sqlite_only:
        tag = f"{os.getpid()}_{uuid.uuid4().hex[:6]}"
        jifen_db, pgb_db = f"jifen_bench_{tag}", f"pgbench_scratch_{tag}"
        await _pg_exec(f'CREATE DATABASE "{jifen_db}"')
        await _pg_exec(f'CREATE DATABASE "{pgb_db}"')
        try:
            base = PG_ADMIN.replace("postgresql://", "postgresql+asyncpg://").rsplit("/", 1)[0]
            pg = await bench_database(f"{base}/{jifen_db}")
            tps = await asyncio.to_thread(pgbench_tps, pgb_db) if shutil.which("pgbench") else 0.0
        finally:
            await _pg_exec(f'DROP DATABASE IF EXISTS "{jifen_db}" WITH (FORCE)')
            await _pg_exec(f'DROP DATABASE IF EXISTS "{pgb_db}" WITH (FORCE)')
        rows += [
            ("PostgreSQL", "voucher claims/s", pg["claims"]),
            ("PostgreSQL", "redemptions/s", pg["redeems"]),
            ("PostgreSQL", "pgbench tpcb-like tps", tps),
        ]
        if tps:
            ratio_line = (
                f"redemptions / pgbench tps = {pg['redeems'] / tps:.2f}; "
                f"claims / pgbench tps = {pg['claims'] / tps:.2f}"
            )
    print(f"\n{'database':<12} {'measure':<24} {'per second':>12}   ({WORKERS} concurrent transactions)")
    for db, what, value in rows:
        print(f"{db:<12} {what:<24} {value:>12.1f}")
    if ratio_line:
        print(ratio_line)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
