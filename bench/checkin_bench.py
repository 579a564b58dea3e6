"""Check-ins per second through a real ``jifen serve`` (granian), SQLite and PostgreSQL, beside pgbench.

Run: ``.venv/bin/python bench/checkin_bench.py [--seconds 15] [--clients 64] [--skip-sqlite] [--skip-pg]``

For each database a fresh scratch database is migrated and seeded with members (each with a login
token) and activities happening now. wrk (its own process, ``requests.lua``) then POSTs
``/api/v1/checkins`` with 64 connections, every request a NEW scan of another member: with
``--scan checkin`` a first scan (an attendance row; since scan-and-walk-away points post only at
check-out, no ledger write), with ``--scan checkout`` a second scan that finishes the attendance and
posts its points (attendance update plus a ledger award): a warm-up, then the measured run. SQLite is served by
1 granian worker (one writer anyway), PostgreSQL by 2. On PostgreSQL the same server's ``GET /healthz``
(no database), ``GET /readyz`` (``SELECT 1``) and Litestar's hello world on granian (same workers) are
measured, and pgbench's tpcb-like workload runs with the same number of clients on a scratch database
of the same server. Afterwards the bench counts the attendances and check-in transfers (one per
check-out, none per first scan) and checks that ``ledger verify`` is clean, and prints each worker's resident memory. Everything it
creates is dropped at the end. The load generator runs on the same cores as the server and the
database, so on a small box the figures are a floor; the machine's load average is printed with each.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import sys
import tempfile
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import (
    free_port,
    load,
    pgbench,
    psql,
    serve_hello,
    serve_jifen,
    stop,
    table,
    worker_rss_mb,
    wrk,
)
from sqlalchemy import func, insert, select

from service.accounts.models import Community, Member, Membership
from service.accounts.actor import Actor
from service.accounts.service import issue_token
from service.activities import rules
from service.activities import service as svc
from service.activities.models import Attendance
from service.clock import now
from service.db import create_engine, create_session_maker, upgrade_database
from service.points import service as points
from service.points.models import Transfer

MEMBERS = 8000
ACTIVITIES = 8
"""Members x activities = distinct scans available (64,000: enough for ~30 s at 2,000/s; wrk starts again
from the first line when they run out, and repeated scans would count as errors)."""
SECRET = "bench-secret-" + "x" * 40
WARMUP_SECONDS = 3
MARGIN = 2000
"""Lines skipped between the warm-up and the measured run (wrk's threads advance unevenly)."""


async def _seed(url: str, lines: Path, scan: str = "checkin") -> uuid.UUID:
    """Members, memberships and activities happening now; writes one request line per scan.

    ``scan="checkout"``: per-hour activities that started 3 h ago, every member already checked in to
    each 2 h ago, so every request is a check-out that posts that member's hours as points (the award
    path whether points post at check-in or at check-out)."""
    engine = create_engine(url)
    maker = create_session_maker(engine)
    try:
        cid = uuid.uuid4()
        members = [
            Member(id=uuid.uuid4(), phone=f"16{i:09d}", name=f"v{i}", token_version=0) for i in range(MEMBERS)
        ]
        admin = Member(
            id=uuid.uuid4(), phone="17000000000", name="bench", is_platform_admin=True, token_version=0
        )
        async with maker() as db:
            await db.execute(
                insert(Community).values(id=cid, name="bench", code=f"bench-{secrets.token_hex(3)}")
            )
            # an issuance budget no run reaches (the check is still made on every check-out)
            await points.set_budget(db, cid, points.BUDGET_MONTHLY_MAX, set_by=None)
            await db.execute(
                insert(Member), [{"id": m.id, "phone": m.phone, "name": m.name} for m in [*members, admin]]
            )
            await db.execute(
                insert(Membership),
                [{"community_id": cid, "member_id": m.id, "role": "member"} for m in members],
            )
            actor = Actor(admin.id, admin.name, admin.phone, True)
            t = now()
            codes = []
            for i in range(ACTIVITIES):
                if scan == "checkout":
                    draft = svc.ActivityDraft(
                        f"bench {i}", t - timedelta(hours=3), t + timedelta(hours=3), "per_hour", 2
                    )
                else:
                    draft = svc.ActivityDraft(
                        f"bench {i}", t - timedelta(minutes=5), t + timedelta(hours=3), "per_attendance", 1
                    )
                a = await svc.create_activity(db, actor, cid, draft)
                codes.append(rules.make_token(rules.KIND_POSTER, a.id, a.poster_version, a.secret))
                if scan == "checkout":
                    await db.execute(
                        insert(Attendance),
                        [
                            {"id": uuid.uuid4(), "community_id": cid, "activity_id": a.id, "member_id": m.id,
                             "status": "in", "evidence": "poster", "checked_in_at": t - timedelta(hours=2),
                             "minutes": 0, "points": 0, "created_at": t}
                            for m in members
                        ],
                    )  # fmt: skip
            await db.commit()
        # Volunteers who earned points before have a ledger account; a member's very first award
        # also creates it (a few more statements), which this bench leaves out of the steady state.
        for m in members:
            await _account(maker, cid, m.id)
        bearers = [issue_token(m, SECRET) for m in members]
        with lines.open("w") as f:
            for code in codes:
                for bearer in bearers:
                    f.write(f'POST\t/api/v1/checkins\t{bearer}\t{{"token":"{code}"}}\n')
        return cid
    finally:
        await engine.dispose()


async def _account(maker: Any, cid: uuid.UUID, member_id: uuid.UUID) -> None:
    async with maker() as db, db.begin():
        await points.account_for(db, cid, "member", member_id)


async def _check(url: str, cid: uuid.UUID, scan: str) -> dict[str, Any]:
    """Every attendance posted exactly one check-in transfer; the community's ledger verifies."""
    engine = create_engine(url)
    maker = create_session_maker(engine)
    try:
        async with maker() as db:
            attendances = await db.scalar(select(func.count()).where(Attendance.community_id == cid))
            transfers = await db.scalar(
                select(func.count()).where(Transfer.community_id == cid, Transfer.code == "checkin")
            )
            if scan == "checkout":  # attendances were seeded: count the finished ones
                attendances = await db.scalar(
                    select(func.count()).where(Attendance.community_id == cid, Attendance.status == "out")
                )
            report = await points.verify(db, cid)
        return {"attendances": attendances, "transfers": transfers, "verify_ok": report.ok}
    finally:
        await engine.dispose()


SUMMARY_TRIGGERS = (
    ("attendances", "report_attendances_insert"),
    ("attendances", "report_attendances_update"),
    ("attendances", "report_attendances_delete"),
    ("ledger_entries", "report_ledger_entries_insert"),
)


def _summary_triggers(url: str, enable: bool) -> None:
    """A/B only (``--no-summary-triggers``): the report summaries' triggers (migration 0013) off/on."""
    dsn = url.replace("postgresql+asyncpg://", "postgresql://")
    verb = "ENABLE" if enable else "DISABLE"
    psql(dsn, "; ".join(f"ALTER TABLE {t} {verb} TRIGGER {n}" for t, n in SUMMARY_TRIGGERS))


def _backend(url: str, workers: int, args: argparse.Namespace, tmp: Path, extra: bool) -> dict[str, Any]:
    upgrade_database(url)
    if args.no_summary_triggers and url.startswith("postgresql"):
        _summary_triggers(url, enable=False)
    lines = tmp / "checkins.tsv"
    cid = asyncio.run(_seed(url, lines, args.scan))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = serve_jifen(url, port, workers, SECRET)
    out: dict[str, Any] = {}
    try:
        warm = wrk(base, seconds=WARMUP_SECONDS, clients=args.clients, lines=lines)
        out["checkin"] = wrk(
            base, seconds=args.seconds, clients=args.clients, lines=lines, first=warm["n"] + MARGIN
        )
        out["rss"] = worker_rss_mb(proc)
        if extra:
            out["healthz"] = wrk(base, seconds=5, clients=args.clients, path="/healthz")
            out["readyz"] = wrk(base, seconds=5, clients=args.clients, path="/readyz")
    finally:
        stop(proc)
    if extra:
        port = free_port()
        hello = serve_hello(port, workers)
        try:
            out["hello"] = wrk(f"http://127.0.0.1:{port}", seconds=5, clients=args.clients, path="/")
        finally:
            stop(hello)
    if args.no_summary_triggers and url.startswith("postgresql"):
        _summary_triggers(url, enable=True)  # so the check below sees the same schema as ever
    out["check"] = asyncio.run(_check(url, cid, args.scan))
    out["answered"] = warm["n"] - warm["errors"] + out["checkin"]["n"] - out["checkin"]["errors"]
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument(
        "--pg", default=os.environ.get("JIFEN_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
    )
    parser.add_argument("--skip-pg", action="store_true")
    parser.add_argument("--skip-sqlite", action="store_true")
    parser.add_argument(
        "--scan",
        choices=["checkin", "checkout"],
        default="checkin",
        help="checkin: every request a first scan (no points post yet); checkout: every request a "
        "second scan 2 h after the first (its per-hour points post)",
    )
    parser.add_argument(
        "--no-batch",
        action="store_true",
        help="serve with JIFEN_FAST_PATHS=0: every scan on the ordinary path (the before of an A/B run)",
    )
    parser.add_argument(
        "--no-summary-triggers",
        action="store_true",
        help="PostgreSQL A/B only: the report summaries' triggers disabled during the load (the summaries "
        "are then wrong; the scratch database is dropped at the end)",
    )
    args = parser.parse_args()
    if args.no_batch:
        os.environ["JIFEN_FAST_PATHS"] = "0"
    rows: list[tuple[str, str, dict[str, Any]]] = []
    notes: list[str] = []

    def record(backend: str, workers: int, res: dict[str, Any]) -> None:
        label = "check-out" if args.scan == "checkout" else "new check-in"
        rows.append((backend, f"POST /api/v1/checkins {label} ({workers}w)", res["checkin"]))
        c = res["check"]
        notes.append(
            f"{backend}: worker RSS after the run {', '.join(f'{m:.0f}' for m in res['rss'])} MB; "
            f"{c['attendances']} {args.scan}s, {c['transfers']} check-in transfers "
            f"(2xx answers counted by wrk: about {res['answered']}), ledger verify "
            f"{'ok' if c['verify_ok'] else 'FAILED'}"
        )

    with tempfile.TemporaryDirectory() as tmp:
        if not args.skip_sqlite:
            res = _backend(f"sqlite+aiosqlite:///{tmp}/bench.db", 1, args, Path(tmp), extra=False)
            record("sqlite", 1, res)
        if not args.skip_pg:
            tag = secrets.token_hex(3)
            app_db, scratch = f"jifen_bench_checkin_{tag}", f"jifen_bench_pgbench_{tag}"
            base_dsn = args.pg.rsplit("/", 1)[0]
            try:
                psql(args.pg, f'CREATE DATABASE "{app_db}"')
                psql(args.pg, f'CREATE DATABASE "{scratch}"')
                url = f"{base_dsn.replace('postgresql://', 'postgresql+asyncpg://')}/{app_db}"
                res = _backend(url, 2, args, Path(tmp), extra=True)
                record("postgres", 2, res)
                rows += [
                    ("postgres", "GET /healthz (no database)", res["healthz"]),
                    ("postgres", "GET /readyz (SELECT 1, <= 1/s/worker)", res["readyz"]),
                    ("granian", "Litestar hello world (2 workers)", res["hello"]),
                ]
                tpcb = pgbench(f"{base_dsn}/{scratch}", args.clients, int(args.seconds))
                rows.append(("postgres", "pgbench tpcb-like (p50 = mean)", tpcb))
                notes.append(
                    f"postgres: check-ins / pgbench tpcb-like = {res['checkin']['per_s'] / tpcb['per_s']:.2f} "
                    f"(target >= 0.25, p99 <= 100 ms)"
                )
                notes.append(
                    f"postgres: healthz / hello world = {res['healthz']['per_s'] / res['hello']['per_s']:.2f}, "
                    f"readyz / hello world = {res['readyz']['per_s'] / res['hello']['per_s']:.2f} (target >= 0.6)"
                )
            finally:
                for db in (app_db, scratch):
                    psql(args.pg, f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')

    batching = (
        "off (ordinary path)"
        if args.no_batch
        else "on (PostgreSQL: jifen_scan_batch; SQLite: first scans in group commit)"
    )
    print(
        f"\nscan={args.scan} batching={batching} clients={args.clients} seconds={args.seconds}"
        f" cpus={os.cpu_count()} load now {load()}"
    )
    print(table(rows))
    print("\n" + "\n".join(notes))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
