"""Ledger throughput: transfers per second on SQLite and PostgreSQL, next to pgbench's tpcb-like.

Run: ``.venv/bin/python bench/ledger_bench.py [--seconds 10] [--clients 16] [--pg postgresql://...]``

Each ledger transfer is one committed transaction through ``service.points.service.transfer``: both
member accounts locked in id order, two hash-chained entries, a lot consumed and one created, the
cached balances updated. pgbench's tpcb-like transaction (three UPDATEs, a SELECT and an INSERT) runs
on a scratch database of the same server, with the same number of clients, so the ratio says how much
of the raw database the ledger's bookkeeping uses. Every database it creates is dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import secrets
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import insert

from service.accounts.models import Community, Member, Membership
from service.db import create_engine, create_session_maker, upgrade_database
from service.errors import DomainError
from service.models import load_all_models
from service.points import service as points

MEMBERS = 100
"""Accounts the transfers pick from (random pairs, so contention stays low)."""
SEED_POINTS = 1000


async def _seed(maker: Any) -> tuple[uuid.UUID, list[uuid.UUID]]:
    cid = uuid.uuid4()
    members = [uuid.uuid4() for _ in range(MEMBERS)]
    prefix = random.randint(100, 199)  # phones are unique per deployment; each run seeds new ones
    async with maker() as db:
        await db.execute(insert(Community).values(id=cid, name="bench", code=f"bench-{secrets.token_hex(3)}"))
        await points.set_budget(db, cid, points.BUDGET_MONTHLY_MAX, set_by=None)
        await db.execute(
            insert(Member),
            [{"id": m, "phone": f"{prefix}{i:08d}", "name": f"m{i}"} for i, m in enumerate(members)],
        )
        await db.execute(
            insert(Membership), [{"community_id": cid, "member_id": m, "role": "member"} for m in members]
        )
        await db.commit()
    for i in range(0, MEMBERS, 100):
        async with maker() as db:
            for m in members[i : i + 100]:
                await points.award(
                    db,
                    community_id=cid,
                    member_id=m,
                    points=SEED_POINTS,
                    code="seed",
                    idempotency_key=f"seed-{m}",
                )
            await db.commit()
    return cid, members


async def _worker(
    maker: Any, cid: uuid.UUID, members: list[uuid.UUID], deadline: float, op: str
) -> tuple[int, int]:
    done = refused = 0
    rng = random.Random()
    while time.perf_counter() < deadline:
        a, b = rng.sample(members, 2)
        async with maker() as db:
            try:
                if op == "transfer":
                    await points.transfer(
                        db, community_id=cid, from_member_id=a, to_member_id=b, points=rng.randint(1, 5)
                    )
                else:
                    await points.award(
                        db,
                        community_id=cid,
                        member_id=a,
                        points=1,
                        code="checkin",
                        idempotency_key=uuid.uuid4().hex,
                    )
                await db.commit()
                done += 1
            except DomainError:
                await db.rollback()
                refused += 1
    return done, refused


async def _measure(url: str, clients: int, phases: list[tuple[str, float]]) -> list[dict[str, Any]]:
    """Seed one community, then run each (operation, seconds) phase with ``clients`` workers."""
    pool = {} if url.startswith("sqlite") else {"pool_size": clients, "max_overflow": 4}
    engine = create_engine(url, **pool)
    maker = create_session_maker(engine)
    out: list[dict[str, Any]] = []
    try:
        cid, members = await _seed(maker)
        for op, seconds in phases:
            start = time.perf_counter()
            results = await asyncio.gather(
                *[_worker(maker, cid, members, start + seconds, op) for _ in range(clients)]
            )
            elapsed = time.perf_counter() - start
            async with maker() as db:
                report = await points.verify(db, cid)
            done = sum(r[0] for r in results)
            refused = sum(r[1] for r in results)
            out.append({"ops": done, "per_s": done / elapsed, "refused": refused, "verify_ok": report.ok})
        return out
    finally:
        await engine.dispose()


def _psql(admin_dsn: str, sql: str) -> None:
    subprocess.run(["psql", admin_dsn, "-qc", sql], check=True, capture_output=True)


def _pgbench(dsn: str, clients: int, seconds: int) -> float:
    subprocess.run(["pgbench", "-i", "-q", "-s", "10", dsn], check=True, capture_output=True)
    out = subprocess.run(
        [
            "pgbench",
            "-b",
            "tpcb-like",
            "-c",
            str(clients),
            "-j",
            str(min(clients, os.cpu_count() or 1)),
            "-T",
            str(seconds),
            dsn,
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    found = re.search(r"tps = ([0-9.]+) \(without initial connection time\)", out) or re.search(
        r"tps = ([0-9.]+)", out
    )
    if found is None:
        raise RuntimeError(f"could not read pgbench output:\n{out}")
    return float(found.group(1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument(
        "--pg", default="postgresql://postgres@127.0.0.1:5432/postgres", help="admin DSN (127.0.0.1 only)"
    )
    args = parser.parse_args()
    if "127.0.0.1" not in args.pg and "localhost" not in args.pg:
        sys.exit("the benchmark only runs against a local PostgreSQL")
    load_all_models()
    rows: list[tuple[str, str, int, dict[str, Any]]] = []

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{tmp}/bench.db"
        upgrade_database(url)
        (sqlite,) = asyncio.run(_measure(url, 1, [("transfer", args.seconds)]))
        rows.append(("SQLite", "transfer", 1, sqlite))

    tag = secrets.token_hex(3)
    ledger_db, tpcb_db = f"jifen_bench_{tag}", f"pgbench_scratch_{tag}"
    base = args.pg.rsplit("/", 1)[0]
    tps = 0.0
    try:
        _psql(args.pg, f'CREATE DATABASE "{ledger_db}"')
        pg_url = f"{base.replace('postgresql://', 'postgresql+asyncpg://')}/{ledger_db}"
        upgrade_database(pg_url)
        phases = [("transfer", args.seconds), ("award", args.seconds / 2)]
        transfers, awards = asyncio.run(_measure(pg_url, args.clients, phases))
        rows.append(("PostgreSQL", "transfer", args.clients, transfers))
        rows.append(("PostgreSQL", "award (one issuance row)", args.clients, awards))
        _psql(args.pg, f'CREATE DATABASE "{tpcb_db}"')
        tps = _pgbench(f"{base}/{tpcb_db}", args.clients, int(args.seconds))
    finally:
        _psql(args.pg, f'DROP DATABASE IF EXISTS "{ledger_db}" WITH (FORCE)')
        _psql(args.pg, f'DROP DATABASE IF EXISTS "{tpcb_db}" WITH (FORCE)')

    print(f"\nload average while running: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"{'database':<11} {'operation':<26} {'clients':>7} {'ops':>7} {'ops/s':>9} {'refused':>8}  verify")
    for db_name, op, clients, r in rows:
        state = "ok" if r["verify_ok"] else "FAILED"
        print(
            f"{db_name:<11} {op:<26} {clients:>7} {r['ops']:>7} {r['per_s']:>9.0f} {r['refused']:>8}  {state}"
        )
    print(f"{'PostgreSQL':<11} {'pgbench tpcb-like':<26} {args.clients:>7} {'':>7} {tps:>9.0f}")
    pg_transfer = next(r["per_s"] for d, op, _, r in rows if d == "PostgreSQL" and op == "transfer")
    if tps:
        print(
            f"\nledger transfers/s ÷ pgbench tpcb-like tps on the same PostgreSQL = {pg_transfer / tps:.2f}"
        )
    return 0 if all(r["verify_ok"] for *_, r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
