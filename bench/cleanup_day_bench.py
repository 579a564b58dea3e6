"""A city's clean-up day on one machine: 100,000 check-ins and their check-outs in bursts, the dashboard read
meanwhile, beside pgbench.

Run: ``.venv/bin/python bench/cleanup_day_bench.py [--scale 1] [--pg postgresql://postgres@127.0.0.1:5432/postgres]``

A scratch PostgreSQL database (dropped at the end) gets a city like ``reports_bench.py``'s: 4 districts, 20
streets, 200 communities, each with one clean-up activity (points per attendance, posted at check-out)
and 500 volunteers (100,000 at ``--scale 1``; ``--scale 0.02`` is 2,000), each with a login token and a
ledger account. ``jifen serve --workers 2`` serves it. The morning comes in 10 waves, one per 20
communities whose events start together: 70% of a wave's volunteers scan the poster's QR code in a burst at
``--burst`` per second (1,000), the rest trickle in over the remainder of the wave, so a wave averages a
third of the burst rate (100,000 check-ins in 5 minutes at full scale, PRODUCT.md's clean-up day). wrk
sends each request at its own moment (``schedule.lua``, an open-loop schedule: bursts stay bursts whatever
the server does; requests that could only leave more than 100 ms late are counted). Meanwhile officials
read the dashboard: ``--dashboard-clients`` connections (2) fetch ``/reports`` one after another, for the
city, its districts, its streets and communities in turn, as a platform administrator.

Then "the morning passes": one UPDATE moves every check-in 2 hours back (a check-out posts points only
after ``MIN_STAY_SECONDS``), and the check-outs come in the same waves, each posting the volunteer's points
(the batched scan path, a ledger transfer per check-out), with the dashboard read again. Last, pgbench's
tpcb-like workload runs on a scratch database of the same server (``--pgbench-clients``, 64). Printed: the
achieved rate, p50 and p99 of check-ins, check-outs and dashboard reads (wrk's, from the moment each was
sent), pgbench's, the late sends, and the checks: one attendance per check-in answered, each checked out
with exactly one check-in transfer, and ``ledger verify`` clean in every community. The load generator,
the server and PostgreSQL share the machine's cores; its load average is printed with each figure.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import secrets
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import free_port, load, pgbench, psql, serve_jifen, stop, table, wrk
from sqlalchemy import func, insert, select, text

from service.accounts.actor import Actor
from service.accounts.models import Community, Member, Membership
from service.accounts.service import issue_token
from service.activities import rules
from service.activities import service as svc
from service.activities.models import Attendance
from service.clock import now
from service.db import create_engine, create_session_maker, upgrade_database
from service.models import load_all_models
from service.points import service as points
from service.points.models import Transfer
from service.regions.models import Region, RegionCommunity

COMMUNITIES = 200
DISTRICTS = 4
STREETS = 20
CHECKINS = 100_000
"""At ``--scale 1``: one volunteer per check-in, ``CHECKINS / COMMUNITIES`` per community."""
WAVES = 10
BURST_SHARE = 0.7
"""Share of a wave's scans that come in its burst; the rest trickle in over the wave."""
WAVE_AVERAGE = 1 / 3
"""A wave's average rate as a share of the burst rate."""
STAY = timedelta(hours=2)
SECRET = "bench-secret-" + "y" * 40
SETTLE_SECONDS = 15
"""wrk runs this long past the schedule's last moment (answers still on their way)."""
CITY = uuid.UUID(int=1)


@dataclass
class City:
    communities: list[uuid.UUID]
    scopes: list[str]
    """What the dashboard readers open, in turn."""
    scans: list[tuple[int, str, str]]
    """(community index, volunteer's bearer, the activity's QR code) per volunteer."""
    admin_bearer: str


def _region(rid: uuid.UUID, parent: uuid.UUID | None, level: str, name: str) -> dict[str, Any]:
    return {"id": rid, "parent_id": parent, "level": level, "name": name, "code": f"{level}-{rid.hex[-10:]}"}


async def _seed(url: str, volunteers: int) -> City:
    """The region tree, communities, volunteers with accounts, one activity per community (committed)."""
    engine = create_engine(url)
    maker = create_session_maker(engine)
    per = max(1, volunteers // COMMUNITIES)
    try:
        cids = [uuid.uuid4() for _ in range(COMMUNITIES)]
        districts = [uuid.UUID(int=100 + d) for d in range(DISTRICTS)]
        streets = [uuid.UUID(int=1000 + s) for s in range(STREETS)]
        members = [
            Member(id=uuid.uuid4(), phone=f"15{i:09d}", name=f"志愿者{i}", token_version=0)
            for i in range(per * COMMUNITIES)
        ]
        admin = Member(
            id=uuid.uuid4(), phone="17100000000", name="市级", is_platform_admin=True, token_version=0
        )
        async with maker() as db:
            tag = secrets.token_hex(3)
            await db.execute(
                insert(Community),
                [{"id": c, "name": f"社区{i}", "code": f"cd{tag}-{i}"} for i, c in enumerate(cids)],
            )
            await db.execute(
                insert(Region),
                [_region(CITY, None, "city", "庆阳市")]
                + [_region(d, CITY, "district", f"区{i}") for i, d in enumerate(districts)]
                + [_region(s, districts[i % DISTRICTS], "street", f"街道{i}") for i, s in enumerate(streets)],
            )
            await db.execute(
                insert(RegionCommunity),
                [{"community_id": c, "region_id": streets[i % STREETS]} for i, c in enumerate(cids)],
            )
            await db.execute(
                insert(Member), [{"id": m.id, "phone": m.phone, "name": m.name} for m in members]
            )
            await db.execute(
                insert(Member).values(id=admin.id, phone=admin.phone, name=admin.name, is_platform_admin=True)
            )
            await db.execute(
                insert(Membership),
                [
                    {"community_id": cids[i // per], "member_id": m.id, "role": "member"}
                    for i, m in enumerate(members)
                ],
            )
            # volunteers who earned points before have a ledger account (as in checkin_bench.py)
            await db.execute(
                text(
                    "INSERT INTO ledger_accounts (id, community_id, kind, owner_key, member_id, balance, "
                    "held, earned, spent, expired, last_hash, entry_count, version, created_at) "
                    "SELECT gen_random_uuid(), community_id, 'member', 'member:' || member_id, member_id, "
                    "0, 0, 0, 0, 0, '', 0, 0, now() FROM memberships WHERE role = 'member'"
                )
            )
            actor = Actor(admin.id, admin.name, admin.phone, True)
            t = now()
            codes = []
            for cid in cids:
                # a budget no run reaches (the check is still made on every check-out)
                await points.set_budget(db, cid, points.BUDGET_MONTHLY_MAX, set_by=None)
                draft = svc.ActivityDraft(
                    "清洁家园", t - timedelta(hours=3), t + timedelta(hours=5), "per_attendance", 5
                )
                a = await svc.create_activity(db, actor, cid, draft)
                codes.append(rules.make_token(rules.KIND_POSTER, a.id, a.poster_version, a.secret))
            await db.commit()
        scopes = [f"region:{CITY}", *(f"region:{d}" for d in districts), *(f"region:{s}" for s in streets)]
        scopes += [f"community:{c}" for c in cids[:: max(1, COMMUNITIES // 20)]]
        scans = [(i // per, issue_token(m, SECRET), codes[i // per]) for i, m in enumerate(members)]
        return City(cids, scopes, scans, issue_token(admin, SECRET))
    finally:
        await engine.dispose()


def _morning(city: City, burst_per_s: float, seed: int) -> tuple[list[tuple[int, int]], float]:
    """(moment in ms, scan index) of every scan, sorted, and the morning's length in seconds: WAVES waves,
    one per group of communities, each a burst then a trickle."""
    rng = random.Random(seed)
    by_wave: list[list[int]] = [[] for _ in range(WAVES)]
    for i, (community, _bearer, _code) in enumerate(city.scans):
        by_wave[community * WAVES // COMMUNITIES].append(i)
    plan: list[tuple[int, int]] = []
    begin = 0.0
    for wave in by_wave:
        rng.shuffle(wave)
        burst = round(len(wave) * BURST_SHARE)
        length = len(wave) / (burst_per_s * WAVE_AVERAGE)
        burst_s = burst / burst_per_s
        trickle = len(wave) - burst
        for k, scan in enumerate(wave):
            if k < burst:
                at = begin + k / burst_per_s
            else:
                at = begin + burst_s + (k - burst + 0.5) * (length - burst_s) / max(1, trickle)
            plan.append((round(at * 1000), scan))
        begin += length
    plan.sort()
    return plan, begin


def _write_schedule(path: Path, city: City, plan: list[tuple[int, int]]) -> None:
    with path.open("w") as f:
        for ms, i in plan:
            _c, bearer, code = city.scans[i]
            f.write(f'{ms}\tPOST\t/api/v1/checkins\t{bearer}\t{{"token":"{code}"}}\n')


def _write_dashboard(path: Path, city: City) -> None:
    with path.open("w") as f:
        for scope in city.scopes:
            f.write(f"GET\t/reports?scope={scope}\t{city.admin_bearer}\t\n")


def _phase(
    base: str, schedule: Path, seconds: float, dashboard: Path, args: argparse.Namespace
) -> dict[str, Any]:
    """The scans on their schedule and the dashboard readers (closed loop) side by side."""
    start = time.time() + 1.0
    with ThreadPoolExecutor(2) as pool:
        scans = pool.submit(
            wrk, base, seconds=seconds + 1 + SETTLE_SECONDS, clients=args.clients, schedule=(schedule, start)
        )
        reads = pool.submit(wrk, base, seconds=seconds + 1, clients=args.dashboard_clients, lines=dashboard)
        return {"scans": scans.result(), "dashboard": reads.result()}


async def _two_hours_pass(url: str, cids: list[uuid.UUID]) -> int:
    """Every open check-in moves back by ``STAY`` (one statement; the summaries' trigger follows it)."""
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            moved = await conn.execute(
                text(
                    "UPDATE attendances SET checked_in_at = checked_in_at - make_interval(secs => :s) "
                    "WHERE status = 'in' AND community_id = ANY(:c)"
                ),
                {"s": STAY.total_seconds(), "c": cids},
            )
        return int(moved.rowcount)
    finally:
        await engine.dispose()


async def _check(url: str, cids: list[uuid.UUID]) -> dict[str, Any]:
    engine = create_engine(url)
    maker = create_session_maker(engine)
    try:
        async with maker() as db:
            scope = Attendance.community_id.in_(cids)
            total = await db.scalar(select(func.count()).where(scope))
            out = await db.scalar(select(func.count()).where(scope, Attendance.status == "out"))
            transfers = await db.scalar(
                select(func.count()).where(Transfer.community_id.in_(cids), Transfer.code == "checkin")
            )
            failed = [cid for cid in cids if not (await points.verify(db, cid)).ok]
        return {"attendances": total, "out": out, "transfers": transfers, "verify_failed": len(failed)}
    finally:
        await engine.dispose()


def _ratios(arrival: dict[str, Any], departure: dict[str, Any]) -> list[tuple[str, dict[str, Any], str]]:
    """(name, phase, side) of the figures compared with pgbench."""
    return [
        ("check-in", arrival, "scans"),
        ("check-out", departure, "scans"),
        ("dashboard", arrival, "dashboard"),
    ]


def _non_2xx(r: dict[str, Any]) -> int:
    return sum(int(part.split("=")[1]) for part in r["statuses"].split())


def _row(r: dict[str, Any], scheduled: int, seconds: float) -> dict[str, Any]:
    """wrk's figures with the achieved rate over the schedule (wrk's own divides by its whole run)."""
    return {**r, "per_s": min(r["n"], scheduled) / seconds if seconds else 0.0}


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="share of 100,000 check-ins (0.02: 2,000)")
    parser.add_argument("--burst", type=float, default=1000.0, help="scans per second in a burst")
    parser.add_argument("--clients", type=int, default=256, help="wrk connections for the scans")
    parser.add_argument("--dashboard-clients", type=int, default=2)
    parser.add_argument("--pgbench-clients", type=int, default=64)
    parser.add_argument("--pgbench-seconds", type=int, default=15)
    parser.add_argument(
        "--pg", default=os.environ.get("JIFEN_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
    )
    args = parser.parse_args()
    load_all_models()
    tag = secrets.token_hex(3)
    app_db, scratch = f"jifen_bench_cleanup_{tag}", f"jifen_bench_pgbench_{tag}"
    base_dsn = args.pg.rsplit("/", 1)[0]
    url = f"{base_dsn.replace('postgresql://', 'postgresql+asyncpg://')}/{app_db}"
    rows: list[tuple[str, str, dict[str, Any]]] = []
    notes: list[str] = []
    try:
        psql(args.pg, f'CREATE DATABASE "{app_db}"')
        psql(args.pg, f'CREATE DATABASE "{scratch}"')
        upgrade_database(url)
        seeded = time.monotonic()
        city = asyncio.run(_seed(url, round(CHECKINS * args.scale)))
        took = time.monotonic() - seeded
        notes.append(f"seeded {len(city.scans):,} volunteers in {COMMUNITIES} communities in {took:.0f} s")
        plan, seconds = _morning(city, args.burst, seed=1)
        with tempfile.TemporaryDirectory() as tmp:
            schedule, dashboard = Path(tmp) / "scans.tsv", Path(tmp) / "dashboard.tsv"
            _write_schedule(schedule, city, plan)
            _write_dashboard(dashboard, city)
            port = free_port()
            base = f"http://127.0.0.1:{port}"
            proc = serve_jifen(url, port, 2, SECRET)
            try:
                arrival = _phase(base, schedule, seconds, dashboard, args)
                moved = asyncio.run(_two_hours_pass(url, city.communities))
                departure = _phase(base, schedule, seconds, dashboard, args)
            finally:
                stop(proc)
        tpcb = pgbench(f"{base_dsn}/{scratch}", args.pgbench_clients, args.pgbench_seconds)
        check = asyncio.run(_check(url, city.communities))
    finally:
        for db in (app_db, scratch):
            psql(args.pg, f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
    n = len(plan)
    label = f"{n:,} in {seconds:.0f} s, bursts {args.burst:,.0f}/s"
    rows.append(("postgres", f"check-in ({label})", _row(arrival["scans"], n, seconds)))
    rows.append(
        ("postgres", f"  dashboard meanwhile ({args.dashboard_clients} readers)", arrival["dashboard"])
    )
    rows.append(("postgres", "check-out, posts points (same waves)", _row(departure["scans"], n, seconds)))
    rows.append(
        ("postgres", f"  dashboard meanwhile ({args.dashboard_clients} readers)", departure["dashboard"])
    )
    rows.append(("postgres", f"pgbench tpcb-like ({args.pgbench_clients} clients)", tpcb))
    for name, phase in (("check-ins", arrival), ("check-outs", departure)):
        s = phase["scans"]
        notes.append(
            f"{name}: {s['late']:,} of {n:,} sent over 100 ms late (worst {s['late_max_ms']:.0f} ms; "
            f"late: all {args.clients} connections were waiting for answers); not 2xx: "
            f"{s['statuses'] or 'none'}, socket errors and timeouts: {s['errors'] - _non_2xx(s)}; "
            f"dashboard pages read {phase['dashboard']['n']:,}"
        )
    notes.append(f"{moved:,} open check-ins moved {STAY} back between the phases")
    notes.append(
        f"checks: {check['attendances']:,} attendances for {n:,} check-ins sent, {check['out']:,} "
        f"checked out, {check['transfers']:,} check-in transfers (one per check-out), ledger verify failed "
        f"in {check['verify_failed']} of {COMMUNITIES} communities"
    )
    ratios = [(k, p[side]["p99"] / tpcb["p50"]) for k, p, side in _ratios(arrival, departure)]
    notes.append("p99 / pgbench's mean latency: " + ", ".join(f"{k} {r:.1f}x" for k, r in ratios))
    print(f"\nclean-up day, scale {args.scale:g}: cpus={os.cpu_count()} load now {load()}")
    print(table(rows))
    print("\n" + "\n".join(notes))
    ok = check["out"] == check["transfers"] and not check["verify_failed"]
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
