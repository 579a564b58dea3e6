"""Check-in throughput and latency through a real ``jifen serve`` (granian), SQLite and PostgreSQL.

Run: ``.venv/bin/python bench/checkin_bench.py [--seconds 8] [--clients 64] [--workers 1]
[--pg postgresql://postgres@127.0.0.1:5432/postgres] [--skip-pg]``

For each database a fresh scratch database is migrated, seeded with members and activities happening
now, and served by ``jifen serve`` on 127.0.0.1. ``--clients`` concurrent HTTP clients then POST
``/api/v1/checkins`` with the current rotating kiosk code (each request is a new check-in: a new
attendance row plus a ledger award of 1 point), then GET ``/healthz`` (one ``SELECT 1``) on the same
server for the trivial-route baseline. On PostgreSQL, pgbench's tpcb-like workload runs with the same
number of clients on a scratch database of the same server. Everything it creates is dropped at the
end. The load generator runs on the same machine as the server, so on a small box it competes for CPU.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
from sqlalchemy import insert

from service.accounts.models import Community, Member, Membership
from service.accounts.service import Actor, issue_token
from service.activities import rules
from service.activities import service as svc
from service.clock import now
from service.db import create_engine, create_session_maker, upgrade_database

ROOT = Path(__file__).resolve().parent.parent
MEMBERS = 2000
ACTIVITIES = 12
"""Members x activities = distinct check-ins available (every request is a first scan)."""
SECRET = "bench-secret-" + "x" * 40


async def _seed(url: str) -> tuple[list[str], list[tuple[uuid.UUID, str]]]:
    """Members (bearer tokens) and activities happening now (id, secret)."""
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
            await db.execute(
                insert(Member),
                [{"id": m.id, "phone": m.phone, "name": m.name} for m in [*members, admin]],
            )
            await db.execute(
                insert(Membership),
                [{"community_id": cid, "member_id": m.id, "role": "member"} for m in members],
            )
            actor = Actor(admin.id, admin.name, admin.phone, True)
            t = now()
            activities = []
            for i in range(ACTIVITIES):
                draft = svc.ActivityDraft(
                    f"bench {i}", t - timedelta(minutes=5), t + timedelta(hours=3), "per_attendance", 1
                )
                a = await svc.create_activity(db, actor, cid, draft)
                activities.append((a.id, a.secret))
            await db.commit()
        return [issue_token(m, SECRET) for m in members], activities
    finally:
        await engine.dispose()


def _serve(url: str, port: int, workers: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "JIFEN_DATABASE_URL": url,
        "JIFEN_SECRET_KEY": SECRET,
        "JIFEN_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "JIFEN_JOBS_INTERVAL_SECONDS": "0",
        "JIFEN_LOG_LEVEL": "ERROR",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "service.cli", "serve", "--port", str(port), "--workers", str(workers)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("server did not start")


class _Conn:
    """A minimal HTTP/1.1 keep-alive client: httpx itself costs more CPU than the server at 64 clients."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, body: bytes = b"", headers: str = "") -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        assert self.reader is not None
        head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(body)}\r\n{headers}\r\n"
        self.writer.write(head.encode() + body)
        status = int((await self.reader.readline()).split()[1])
        length, chunked = 0, False
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            if name.lower() == "content-length":
                length = int(value)
            elif name.lower() == "transfer-encoding" and "chunked" in value:
                chunked = True
        if chunked:
            while (size := int((await self.reader.readline()).strip(), 16)) > 0:
                await self.reader.readexactly(size + 2)
            await self.reader.readline()
        else:
            await self.reader.readexactly(length)
        return status


async def _load(
    port: int, clients: int, seconds: float, tokens: list[str], activities: list[tuple[uuid.UUID, str]] | None
) -> dict[str, Any]:
    """``clients`` loops for ``seconds``: check-ins (with ``activities``) or GET /healthz."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    per_client = len(tokens) // clients

    async def client(i: int, deadline: float) -> None:
        conn = _Conn(port)
        mine = tokens[i * per_client : (i + 1) * per_client]
        pairs = ((a, t) for a in (activities or [(uuid.uuid4(), "")]) for t in mine)
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            if activities is None:
                status = await conn.request("GET", "/healthz")
            else:
                try:
                    (aid, secret), bearer = next(pairs)
                except StopIteration:
                    return
                code = rules.make_token(rules.KIND_KIOSK, aid, rules.kiosk_step(now()), secret)
                status = await conn.request(
                    "POST",
                    "/api/v1/checkins",
                    json.dumps({"token": code}).encode(),
                    f"Authorization: Bearer {bearer}\r\nContent-Type: application/json\r\n",
                )
            latencies.append(time.perf_counter() - start)
            statuses[status] = statuses.get(status, 0) + 1

    start = time.perf_counter()
    await asyncio.gather(*[client(i, start + seconds) for i in range(clients)])
    elapsed = time.perf_counter() - start
    latencies.sort()
    q = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [0.0] * 99
    return {
        "n": len(latencies),
        "per_s": len(latencies) / elapsed,
        "p50": q[49] * 1000,
        "p99": q[98] * 1000,
        "statuses": statuses,
    }


def _psql(admin_dsn: str, sql: str) -> None:
    subprocess.run(["psql", admin_dsn, "-qc", sql], check=True, capture_output=True)


def _pgbench(dsn: str, clients: int, seconds: int) -> float:
    subprocess.run(["pgbench", "-i", "-q", "-s", "10", dsn], check=True, capture_output=True)
    out = subprocess.run(
        ["pgbench", "-b", "tpcb-like", "-c", str(clients), "-j", str(min(clients, os.cpu_count() or 1)),
         "-T", str(seconds), dsn],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    found = re.search(r"tps = ([\d.]+)", out)
    return float(found.group(1)) if found else 0.0


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run_backend(url: str, args: argparse.Namespace) -> dict[str, Any]:
    upgrade_database(url)
    tokens, activities = asyncio.run(_seed(url))
    port = _free_port()
    proc = _serve(url, port, args.workers)
    try:
        checkin = asyncio.run(_load(port, args.clients, args.seconds, tokens, activities))
        health = asyncio.run(_load(port, args.clients, min(args.seconds, 5), tokens, None))
    finally:
        proc.terminate()
        proc.wait(10)
    return {"checkin": checkin, "healthz": health}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--skip-pg", action="store_true")
    args = parser.parse_args()
    rows: list[tuple[str, str, dict[str, Any]]] = []
    ratios: list[str] = []

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{tmp}/bench.db"
        res = _run_backend(url, args)
        rows += [
            ("sqlite", "POST /api/v1/checkins", res["checkin"]),
            ("sqlite", "GET /healthz", res["healthz"]),
        ]
        ratios.append(
            f"sqlite: check-ins / healthz = {res['checkin']['per_s'] / res['healthz']['per_s']:.2f}"
        )

    if not args.skip_pg:
        tag = secrets.token_hex(3)
        app_db, scratch = f"jifen_bench_checkin_{tag}", f"jifen_bench_pgbench_{tag}"
        base_dsn = args.pg.rsplit("/", 1)[0]
        try:
            _psql(args.pg, f'CREATE DATABASE "{app_db}"')
            _psql(args.pg, f'CREATE DATABASE "{scratch}"')
            url = f"{base_dsn.replace('postgresql://', 'postgresql+asyncpg://')}/{app_db}"
            res = _run_backend(url, args)
            rows += [
                ("postgres", "POST /api/v1/checkins", res["checkin"]),
                ("postgres", "GET /healthz", res["healthz"]),
            ]
            tps = _pgbench(f"{base_dsn}/{scratch}", args.clients, int(args.seconds))
            rows.append(
                (
                    "postgres",
                    "pgbench tpcb-like",
                    {"per_s": tps, "p50": float("nan"), "p99": float("nan"), "statuses": {}},
                )
            )
            ratios.append(
                f"postgres: check-ins / healthz = {res['checkin']['per_s'] / res['healthz']['per_s']:.2f}"
            )
            ratios.append(
                f"postgres: check-ins / pgbench tpcb-like tps = {res['checkin']['per_s'] / tps:.2f}"
            )
        finally:
            for db in (app_db, scratch):
                _psql(args.pg, f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')

    print(f"\nclients={args.clients} workers={args.workers} seconds={args.seconds} cpus={os.cpu_count()}")
    print(f"{'backend':<9} {'workload':<24} {'per s':>9} {'p50 ms':>8} {'p99 ms':>8}  statuses")
    for backend, name, r in rows:
        print(
            f"{backend:<9} {name:<24} {r['per_s']:>9.1f} {r['p50']:>8.1f} {r['p99']:>8.1f}  {r['statuses']}"
        )
    print("\n" + "\n".join(ratios))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
