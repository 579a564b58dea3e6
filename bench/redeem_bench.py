"""Point-spending writes per second through a real ``jifen serve``: voucher claims, redemptions, orders.

Run: ``.venv/bin/python bench/redeem_bench.py [--seconds 8] [--clients 64] [--skip-sqlite] [--skip-pg]``

A scratch database gets a community with a partner shop (one offer of 1 point), a store product with a
large stock, and members with points. wrk (``requests.lua``, 64 connections) then runs, each request a
new write: ``POST /api/v1/offers/{id}/vouchers`` (a claim: a hold plus a code), ``POST
/api/v1/vouchers/redeem`` by the shop's staff for every code claimed (posting the hold to the partner:
the counter's hot path) and ``POST /api/v1/orders`` (a hold plus stock). PostgreSQL is served by 2
granian workers and measured beside pgbench tpcb-like in the same run; SQLite by 1 worker. Afterwards
``ledger verify`` must be clean. Everything it creates is dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import free_port, load, pgbench, psql, serve_jifen, stop, table, worker_rss_mb, wrk
from sqlalchemy import select

from service.accounts import service as accounts
from service.accounts.actor import Actor
from service.accounts.models import Member
from service.db import create_engine, create_session_maker, upgrade_database
from service.points import service as points
from service.store import service as store
from service.store.models import Voucher

SECRET = "bench-secret-" + "y" * 40
MEMBERS = 400
WARMUP_SECONDS = 2
TARGETS = {"redeems": 0.15, "orders": 0.15, "claims": 0.3}
"""Each write's rate against pgbench tpcb-like in the same run (issue 20: claims at the batches' speed)."""
REDEEM_RATE_MAX = 2500
"""Redemptions per second the claimed codes must last for (the redemption run is cut to fit them)."""


async def _seed(url: str, tmp: Path) -> dict[str, Any]:
    engine = create_engine(url)
    maker = create_session_maker(engine)
    try:
        async with maker() as db, db.begin():
            root_m = Member(phone="13700000000", name="bench", is_platform_admin=True)
            db.add(root_m)
            await db.flush()
            root = Actor(root_m.id, root_m.name, root_m.phone, True)
            community = await accounts.create_community(db, root, "压测社区", f"bench-{uuid.uuid4().hex[:6]}")
            await points.set_budget(db, community.id, points.BUDGET_MONTHLY_MAX, set_by=root_m.id)
            partner = await accounts.create_partner(db, root, community.id, "压测商店")
            staff_m = await accounts.add_member(
                db, root, community.id, "13800000005", "店员", None, "partner", partner.id
            )
            staff = Actor(staff_m.id, staff_m.name, staff_m.phone)
            offer = await store.create_offer(db, staff, partner.id, title="压测优惠", points_price=1)
            product = await store.create_product(
                db, root, community.id, name="压测商品", points_price=1, stock=1_000_000
            )
            bearers = []
            for i in range(MEMBERS):
                m = await accounts.add_member(db, root, community.id, f"1390000{i:04d}", f"会员{i}", None)
                await points.award(
                    db, community_id=community.id, member_id=m.id, points=100_000, code="bench",
                    idempotency_key=f"bench-{m.id}",
                )  # fmt: skip
                bearers.append(accounts.issue_token(m, SECRET))
            staff_bearer = accounts.issue_token(staff_m, SECRET)
        claims, orders = tmp / "claims.tsv", tmp / "orders.tsv"
        claims.write_text("".join(f"POST\t/api/v1/offers/{offer.id}/vouchers\t{b}\t\n" for b in bearers))
        body = f'{{"product_id":"{product.id}","quantity":1}}'
        orders.write_text("".join(f"POST\t/api/v1/orders\t{b}\t{body}\n" for b in bearers))
        return {"cid": community.id, "claims": claims, "orders": orders, "staff": staff_bearer}
    finally:
        await engine.dispose()


async def _codes(url: str, path: Path, staff: str) -> int:
    engine = create_engine(url)
    try:
        async with create_session_maker(engine)() as db:
            codes = list(await db.scalars(select(Voucher.code).where(Voucher.status == "issued")))
        path.write_text("".join(f'POST\t/api/v1/vouchers/redeem\t{staff}\t{{"code":"{c}"}}\n' for c in codes))
        return len(codes)
    finally:
        await engine.dispose()


async def _verify(url: str, cid: uuid.UUID) -> bool:
    engine = create_engine(url)
    try:
        async with create_session_maker(engine)() as db:
            return (await points.verify(db, cid)).ok
    finally:
        await engine.dispose()


def _ok_rate(result: dict[str, Any], seconds: float) -> dict[str, Any]:
    """Count only answered redemptions (a repeated code's 409 is not one)."""
    return {**result, "per_s": (result["n"] - result["errors"]) / max(1, round(seconds))}


def _backend(url: str, workers: int, args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    upgrade_database(url)
    seed = asyncio.run(_seed(url, tmp))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = serve_jifen(url, port, workers, SECRET)
    out: dict[str, Any] = {}
    try:
        wrk(base, seconds=WARMUP_SECONDS, clients=args.clients, lines=seed["claims"])
        out["claims"] = wrk(base, seconds=args.seconds, clients=args.clients, lines=seed["claims"])
        redeems = tmp / "redeems.tsv"
        out["codes"] = asyncio.run(_codes(url, redeems, seed["staff"]))
        # Each code redeems once; a run longer than the codes last would only add 409s. More codes are
        # claimed (not measured) until they last the whole run at REDEEM_RATE_MAX.
        need = int(REDEEM_RATE_MAX * args.seconds)
        for _ in range(10):
            if out["codes"] >= need:
                break
            gap = (need - out["codes"]) / max(out["claims"]["per_s"], 50.0)
            wrk(base, seconds=min(60.0, gap + 1), clients=args.clients, lines=seed["claims"])
            out["codes"] = asyncio.run(_codes(url, redeems, seed["staff"]))
        seconds = max(1.0, min(args.seconds, out["codes"] / REDEEM_RATE_MAX))
        out["redeems"] = _ok_rate(wrk(base, seconds=seconds, clients=args.clients, lines=redeems), seconds)
        wrk(base, seconds=WARMUP_SECONDS, clients=args.clients, lines=seed["orders"])  # as for the claims
        out["orders"] = wrk(base, seconds=args.seconds, clients=args.clients, lines=seed["orders"])
        out["rss"] = worker_rss_mb(proc)
    finally:
        stop(proc)
    out["verify_ok"] = asyncio.run(_verify(url, seed["cid"]))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument(
        "--pg", default=os.environ.get("JIFEN_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
    )
    parser.add_argument("--skip-pg", action="store_true")
    parser.add_argument("--skip-sqlite", action="store_true")
    parser.add_argument(
        "--no-fast",
        action="store_true",
        help="serve with JIFEN_FAST_PATHS=0: redemptions and orders on the ordinary path (A/B runs)",
    )
    args = parser.parse_args()
    if args.no_fast:
        os.environ["JIFEN_FAST_PATHS"] = "0"
    rows: list[tuple[str, str, dict[str, Any]]] = []
    notes: list[str] = []

    def record(backend: str, res: dict[str, Any]) -> None:
        rows.append((backend, "POST /offers/{id}/vouchers (claim)", res["claims"]))
        rows.append((backend, "POST /vouchers/redeem", res["redeems"]))
        rows.append((backend, "POST /orders (hold + stock)", res["orders"]))
        notes.append(
            f"{backend}: {res['codes']} codes claimed for the redemption run (more redemptions than codes "
            f"would be 409 errors); worker RSS {', '.join(f'{m:.0f}' for m in res['rss'])} MB; "
            f"ledger verify {'ok' if res['verify_ok'] else 'FAILED'}"
        )

    with tempfile.TemporaryDirectory() as tmp:
        if not args.skip_sqlite:
            record("sqlite", _backend(f"sqlite+aiosqlite:///{tmp}/bench.db", 1, args, Path(tmp)))
        if not args.skip_pg:
            tag = secrets.token_hex(3)
            app_db, scratch = f"jifen_bench_redeem_{tag}", f"jifen_bench_pgbench_{tag}"
            base_dsn = args.pg.rsplit("/", 1)[0]
            try:
                psql(args.pg, f'CREATE DATABASE "{app_db}"')
                psql(args.pg, f'CREATE DATABASE "{scratch}"')
                url = f"{base_dsn.replace('postgresql://', 'postgresql+asyncpg://')}/{app_db}"
                res = _backend(url, 2, args, Path(tmp))
                record("postgres", res)
                tpcb = pgbench(f"{base_dsn}/{scratch}", args.clients, int(args.seconds))
                rows.append(("postgres", "pgbench tpcb-like (p50 = mean)", tpcb))
                for name in ("redeems", "orders", "claims"):
                    notes.append(
                        f"postgres: {name} / pgbench tpcb-like = {res[name]['per_s'] / tpcb['per_s']:.2f} "
                        f"(target >= {TARGETS[name]}, p99 <= 150 ms)"
                    )
            finally:
                for db in (app_db, scratch):
                    psql(args.pg, f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')

    print(
        f"\nfast paths={'off' if args.no_fast else 'on'} clients={args.clients} seconds={args.seconds} cpus={os.cpu_count()} load now {load()}"
    )
    print(table(rows))
    print("\n" + "\n".join(notes))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
