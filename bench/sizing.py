"""Bytes per member, activity, attendance, transfer and audit event, measured (docs/sizing.md).

On its own PostgreSQL 15 cluster (loopback, port 5445, under /tmp; the system's PostgreSQL is never
touched), migrates a database, seeds it with ``reports_bench.py``'s bulk SQL at a tenth of a city
(20 communities, 15,000 members, 1,200 activities, 200,000 check-ins, 50,000 awards = 100,000 ledger entries, 6,000
wishes, 2,000 claims: the summary triggers fold them as for any write) with real-length hashes, adds
100,000 audit events shaped as the app writes them, runs ``VACUUM FULL ANALYZE`` and prints
``pg_total_relation_size`` (table + indexes + TOAST) per table, and per unit:

  member      members + memberships + member ledger accounts + report_member_years
  activity    activities
  attendance  attendances + report_member_months (per check-in)
  transfer    ledger_transfers + ledger_entries (two per transfer) + report_account_months
  audit event audit_events

Needs root (PostgreSQL runs as the ``postgres`` user).

    .venv/bin/python bench/sizing.py [--json sizes.json]
"""

# ruff: noqa: E501  (SQL, laid out for reading)
from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH.parent))

import asyncpg  # noqa: E402

from service.db import upgrade_database  # noqa: E402
from service.models import load_all_models  # noqa: E402
from tests.support.cluster import Postgres  # noqa: E402

PORT = 5445
SCALE = {
    "COMMUNITIES = 200": "COMMUNITIES = 20",
    "MEMBERS = 150_000": "MEMBERS = 15_000",
    "ACTIVITIES = 12_000": "ACTIVITIES = 1_200",
    "CHECKINS = 2_000_000": "CHECKINS = 200_000",
    "WISHES = 60_000": "WISHES = 6_000",
    "CLAIMS = 20_000": "CLAIMS = 2_000",
}
"""reports_bench's city, a tenth of it (750 members per community as there, so each activity's check-ins
find distinct members)."""
HASHES = {
    # The bench seed leaves hashes empty; the app stores 64 hex digits in each (append-only rows: set
    # them as they are written, not afterwards).
    "SELECT w.id, c.id, 10, 'checkin', '', '', w.at":
        "SELECT w.id, c.id, 10, 'checkin', '', md5(w.id::text) || md5(c.id::text), w.at",
    "row_number() OVER (PARTITION BY acc.id ORDER BY w.g), '', '', w.at":
        "row_number() OVER (PARTITION BY acc.id ORDER BY w.g), md5(acc.id::text) || md5(w.id::text),"
        " md5(w.id::text) || md5(acc.id::text), w.at",
    "'member:' || m.id, m.id, 0, 0, 0, 0, 0, ''": "'member:' || m.id, m.id, 0, 0, 0, 0, 0, md5(m.id::text) || md5(c.id::text)",
}  # fmt: skip
AUDIT_EVENTS = 100_000
AUDIT_SQL = f"""
INSERT INTO audit_events (id, community_id, actor_id, action, subject_member_id, detail, client_addr, chain, seq,
                          prev_hash, hash, created_at)
  SELECT gen_random_uuid(), c.id, m.id, 'points.award', m.id,
         json_build_object('points', 10 + g % 90, 'reason', '社区清洁志愿服务', 'award_id', gen_random_uuid()),
         '10.0.' || (g % 250) || '.' || (g % 200), c.id::text, g / 20 + 1,
         md5(g::text) || md5(c.id::text), md5(c.id::text) || md5(g::text), now()
  FROM generate_series(0, {AUDIT_EVENTS - 1}) g
  JOIN (SELECT id, row_number() OVER (ORDER BY id) - 1 AS n FROM communities) c ON c.n = g % 20
  JOIN (SELECT id, row_number() OVER (ORDER BY id) - 1 AS n FROM members) m ON m.n = g % 15000;
"""
UNITS: dict[str, tuple[str, tuple[str, ...]]] = {
    "member": ("members", ("members", "memberships", "ledger_accounts", "report_member_years")),
    "activity": ("activities", ("activities",)),
    "attendance": ("attendances", ("attendances", "report_member_months")),
    "transfer": ("ledger_transfers", ("ledger_transfers", "ledger_entries", "report_account_months")),
    "audit event": ("audit_events", ("audit_events",)),
}
"""unit -> (the table whose rows count the unit, the tables whose bytes it owns)."""


def _seed_sql() -> str:
    source = (BENCH / "reports_bench.py").read_text()
    for old, new in SCALE.items():
        if old not in source:
            raise SystemExit(f"sizing: reports_bench.py no longer has {old!r}")
        source = source.replace(old, new)
    scope: dict[str, Any] = {"__name__": "reports_bench_scaled", "__file__": str(BENCH / "reports_bench.py")}
    exec(compile(source, str(BENCH / "reports_bench.py"), "exec"), scope)  # its SEED, at this scale
    seed: str = scope["SEED"]
    for old, new in HASHES.items():
        if old not in seed:
            raise SystemExit(f"sizing: reports_bench.py's seed no longer has {old!r}")
        seed = seed.replace(old, new)
    return seed


async def _measure(dsn: str) -> dict[str, Any]:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(_seed_sql())
        await conn.execute(AUDIT_SQL)
        await conn.execute("VACUUM (FULL, ANALYZE)")
        tables = {
            r["relname"]: {"rows": int(r["n"]), "bytes": int(r["bytes"])}
            for r in await conn.fetch(
                "SELECT c.relname, pg_total_relation_size(c.oid) AS bytes, c.reltuples AS n FROM pg_class c"
                " JOIN pg_namespace s ON s.oid = c.relnamespace WHERE s.nspname = 'public' AND c.relkind = 'r'"
            )
        }
        for name in tables:
            tables[name]["rows"] = int(await conn.fetchval(f'SELECT count(*) FROM "{name}"'))
        database = int(await conn.fetchval("SELECT pg_database_size(current_database())"))
    finally:
        await conn.close()
    units = {}
    for unit, (counted, owned) in UNITS.items():
        n = tables[counted]["rows"]
        total = sum(tables[t]["bytes"] for t in owned)
        units[unit] = {"count": n, "bytes": total, "bytes_each": round(total / n) if n else None}
    return {"tables": tables, "units": units, "database_bytes": database}


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--json", type=Path, help="write the measurements here")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("sizing: run it as root (PostgreSQL runs as the postgres user)", file=sys.stderr)
        return 2
    load_all_models()
    root = Path(f"/tmp/jifen-sizing-{os.getpid()}")
    pg = Postgres(root / "data", PORT)
    try:
        root.mkdir()
        shutil.chown(root, "postgres", "postgres")
        pg.init(settings="maintenance_work_mem = '256MB'\n")
        pg.start()
        pg.sql("CREATE DATABASE jifen_sizing")
        upgrade_database(f"postgresql+asyncpg://postgres@127.0.0.1:{PORT}/jifen_sizing")
        found = asyncio.run(_measure(f"postgresql://postgres@127.0.0.1:{PORT}/jifen_sizing"))
    finally:
        pg.stop()
        shutil.rmtree(root, ignore_errors=True)
    print(f"{'table':<28}{'rows':>12}{'bytes':>14}{'bytes/row':>11}")
    for name, t in sorted(found["tables"].items(), key=lambda kv: -kv[1]["bytes"]):
        if t["rows"]:
            print(f"{name:<28}{t['rows']:>12,}{t['bytes']:>14,}{t['bytes'] // t['rows']:>11,}")
    print(f"\n{'unit':<14}{'count':>10}{'bytes':>14}{'bytes each':>12}")
    for unit, u in found["units"].items():
        print(f"{unit:<14}{u['count']:>10,}{u['bytes']:>14,}{u['bytes_each'] or 0:>12,}")
    print(f"\ndatabase: {found['database_bytes']:,} bytes")
    if args.json:
        args.json.write_text(json.dumps(found, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
