"""Reports at city scale: the time of a district-month and a city-year report on PostgreSQL.

Run: ``.venv/bin/python bench/reports_bench.py [--pg postgresql://postgres@127.0.0.1:5432/postgres]``

Seeds a scratch database (dropped at the end) with bulk ``generate_series`` SQL: a city of 4
districts, 20 streets and 200 communities; 150,000 members, 2,000 teams, 12,000 activities over
2026 and 2,000,000 check-ins (status ``out``, with minutes), 500,000 ledger awards (1,000,000
entries: one award per four check-ins), 60,000 micro-wishes and 20,000 good-conduct claims. Then it
calls the report service directly (``resolve_scope`` + ``build_report``, the same calls as
``GET /api/v1/reports``) a few times per report and prints the best and the median.

The seed goes through the summary triggers of migration 0013 like any write (one statement per
table, so each statement trigger folds a whole batch). ``--raw`` times the same reports with the
summaries switched off (every figure from the raw rows, as before 0013) for a comparison under the
same load; ``--rebuild`` also times ``jifen reports rebuild`` (what the migration's backfill costs);
``--statements`` prints the slowest statements of one city-year report.
"""

# ruff: noqa: E501  (the seed is SQL, laid out for reading, not for the line limit)
from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import asyncpg

from service.accounts.actor import Actor
from service.db import create_engine, create_session_maker, upgrade_database
from service.models import load_all_models
from service.reports import rules, service

COMMUNITIES = 200
DISTRICTS = 4
STREETS_PER_DISTRICT = 5
MEMBERS = 150_000
TEAMS_PER_COMMUNITY = 10
ACTIVITIES = 12_000
CHECKINS = 2_000_000
CHECKINS_PER_AWARD = 4
WISHES = 60_000
CLAIMS = 20_000
RUNS = 3

SEED = f"""
CREATE UNLOGGED TABLE bn_comm AS SELECT n, gen_random_uuid() AS id FROM generate_series(0, {COMMUNITIES - 1}) n;
INSERT INTO communities (id, name, code, timezone, self_registration, created_at)
  SELECT id, '社区' || n, 'c' || n, 'Asia/Shanghai', 'auto', '2024-01-01' FROM bn_comm;
INSERT INTO regions (id, parent_id, level, name, code, created_at)
  VALUES ('00000000-0000-0000-0000-000000000001', NULL, 'city', '庆阳市', 'city', now());
INSERT INTO regions (id, parent_id, level, name, code, created_at)
  SELECT ('00000000-0000-0000-0001-' || lpad(d::text, 12, '0'))::uuid, '00000000-0000-0000-0000-000000000001',
         'district', '区' || d, 'd' || d, now() FROM generate_series(0, {DISTRICTS - 1}) d;
INSERT INTO regions (id, parent_id, level, name, code, created_at)
  SELECT ('00000000-0000-0000-0002-' || lpad(s::text, 12, '0'))::uuid,
         ('00000000-0000-0000-0001-' || lpad((s / {STREETS_PER_DISTRICT})::text, 12, '0'))::uuid,
         'street', '街道' || s, 's' || s, now() FROM generate_series(0, {DISTRICTS * STREETS_PER_DISTRICT - 1}) s;
INSERT INTO region_communities (community_id, region_id)
  SELECT id, ('00000000-0000-0000-0002-' || lpad((n % {DISTRICTS * STREETS_PER_DISTRICT})::text, 12, '0'))::uuid
  FROM bn_comm;

CREATE UNLOGGED TABLE bn_member AS
  SELECT n, gen_random_uuid() AS id, n % {COMMUNITIES} AS c FROM generate_series(0, {MEMBERS - 1}) n;
CREATE UNIQUE INDEX ON bn_member (n);
INSERT INTO members (id, phone, name, is_platform_admin, token_version, created_at)
  SELECT id, '1' || lpad(n::text, 10, '0'), '志愿者' || n, false, 0, '2024-01-01' FROM bn_member;
INSERT INTO memberships (id, community_id, member_id, role, created_at)
  SELECT gen_random_uuid(), c.id, m.id, 'member', timestamptz '2025-01-01' + (m.n % 730) * interval '1 day'
  FROM bn_member m JOIN bn_comm c ON c.n = m.c;

CREATE UNLOGGED TABLE bn_team AS
  SELECT n, gen_random_uuid() AS id, n % {COMMUNITIES} AS c
  FROM generate_series(0, {COMMUNITIES * TEAMS_PER_COMMUNITY - 1}) n;
INSERT INTO teams (id, community_id, name, leader_id, created_at)
  SELECT t.id, c.id, '服务队' || t.n, m.id, timestamptz '2025-06-01' + (t.n % 500) * interval '1 day'
  FROM bn_team t JOIN bn_comm c ON c.n = t.c JOIN bn_member m ON m.n = t.c;

CREATE UNLOGGED TABLE bn_act AS
  SELECT n, gen_random_uuid() AS id, n % {COMMUNITIES} AS c,
         timestamptz '2026-01-01 00:00+08' + (n::float / {ACTIVITIES}) * interval '365 days' AS starts
  FROM generate_series(0, {ACTIVITIES - 1}) n;
CREATE UNIQUE INDEX ON bn_act (n);
INSERT INTO activities (id, community_id, title, description, team_id, starts_at, ends_at, points_mode, points,
                        signup_required, status, secret, poster_version, created_by, created_at)
  SELECT a.id, c.id, '活动' || a.n, '', t.id, a.starts, a.starts + interval '3 hours', 'per_attendance', 10,
         false, 'closed', 'x', 1, m.id, a.starts - interval '7 days'
  FROM bn_act a JOIN bn_comm c ON c.n = a.c JOIN bn_member m ON m.n = a.c
  JOIN bn_team t ON t.n = a.c + {COMMUNITIES} * (a.n % {TEAMS_PER_COMMUNITY});

-- check-in g: activity a = g % ACTIVITIES, member (k + 7a) % 750 of a's community (k = g / ACTIVITIES: distinct per activity)
INSERT INTO attendances (id, community_id, activity_id, member_id, status, evidence, checked_in_at,
                         checked_out_at, minutes, points, needs_confirmation, created_at)
  SELECT gen_random_uuid(), c.id, a.id, m.id, 'out', 'kiosk', a.starts + (g % 50) * interval '1 minute',
         a.starts + interval '2 hours', 30 + g % 211, 10, false, a.starts
  FROM generate_series(0, {CHECKINS - 1}) g
  JOIN bn_act a ON a.n = g % {ACTIVITIES}
  JOIN bn_comm c ON c.n = a.c
  JOIN bn_member m ON m.n = a.c + {COMMUNITIES} * ((g / {ACTIVITIES} + 7 * a.n) % {MEMBERS // COMMUNITIES});

INSERT INTO ledger_accounts (id, community_id, kind, owner_key, member_id, balance, held, earned, spent, expired,
                             last_hash, entry_count, version, created_at)
  SELECT gen_random_uuid(), c.id, 'issuance', 'issuance', NULL, 0, 0, 0, 0, 0, '', 0, 0, '2024-01-01'
  FROM bn_comm c;
INSERT INTO ledger_accounts (id, community_id, kind, owner_key, member_id, balance, held, earned, spent, expired,
                             last_hash, entry_count, version, created_at)
  SELECT gen_random_uuid(), c.id, 'member', 'member:' || m.id, m.id, 0, 0, 0, 0, 0, '', 0, 0, '2024-01-01'
  FROM bn_member m JOIN bn_comm c ON c.n = m.c;
CREATE UNLOGGED TABLE bn_award AS
  SELECT g, gen_random_uuid() AS id, a.c, m.id AS member_id, a.starts + interval '2 hours' AS at
  FROM generate_series(0, {CHECKINS - 1}, {CHECKINS_PER_AWARD}) g
  JOIN bn_act a ON a.n = g % {ACTIVITIES}
  JOIN bn_member m ON m.n = a.c + {COMMUNITIES} * ((g / {ACTIVITIES} + 7 * a.n) % {MEMBERS // COMMUNITIES});
INSERT INTO ledger_transfers (id, community_id, points, code, memo, content_hash, created_at)
  SELECT w.id, c.id, 10, 'checkin', '', '', w.at FROM bn_award w JOIN bn_comm c ON c.n = w.c;
INSERT INTO ledger_entries (id, community_id, transfer_id, account_id, points, seq, prev_hash, hash, created_at)
  SELECT gen_random_uuid(), acc.community_id, w.id, acc.id, 10,
         row_number() OVER (PARTITION BY acc.id ORDER BY w.g), '', '', w.at
  FROM bn_award w JOIN ledger_accounts acc ON acc.member_id = w.member_id AND acc.kind = 'member';
INSERT INTO ledger_entries (id, community_id, transfer_id, account_id, points, seq, prev_hash, hash, created_at)
  SELECT gen_random_uuid(), acc.community_id, w.id, acc.id, -10,
         row_number() OVER (PARTITION BY acc.id ORDER BY w.g), '', '', w.at
  FROM bn_award w JOIN bn_comm c ON c.n = w.c
  JOIN ledger_accounts acc ON acc.community_id = c.id AND acc.kind = 'issuance';
UPDATE ledger_accounts a SET balance = s.total, earned = s.total
  FROM (SELECT account_id, sum(points) AS total FROM ledger_entries GROUP BY account_id) s
  WHERE s.account_id = a.id AND a.kind = 'member';

INSERT INTO wishes (id, community_id, requester_id, title, description, category, status, volunteer_id,
                    assigned_by, assigned_at, dispatched_at, accepted_at, completed_at, rated_at, stars, comment,
                    timeouts, created_at)
  SELECT gen_random_uuid(), c.id, r.id, '心愿', '', 'errand',
         CASE WHEN g % 10 < 5 THEN 'rated' WHEN g % 10 < 7 THEN 'done' WHEN g % 10 < 8 THEN 'assigned' ELSE 'open' END,
         CASE WHEN g % 10 < 8 THEN v.id END, CASE WHEN g % 10 < 8 THEN v.id END,
         CASE WHEN g % 10 < 8 THEN w.at + (1 + g % 47) * interval '1 hour' END,
         CASE WHEN g % 10 < 8 THEN w.at + (1 + g % 23) * interval '1 hour' END,
         CASE WHEN g % 10 < 8 THEN w.at + (1 + g % 47) * interval '1 hour' END,
         CASE WHEN g % 10 < 7 THEN w.at + (50 + g % 71) * interval '1 hour' END,
         CASE WHEN g % 10 < 5 THEN w.at + (130 + g % 11) * interval '1 hour' END,
         CASE WHEN g % 10 < 5 THEN 1 + g % 5 END, '', 0, w.at
  FROM (SELECT g, timestamptz '2026-01-01 00:00+08' + (g::float / {WISHES}) * interval '365 days' AS at
        FROM generate_series(0, {WISHES - 1}) g) w
  JOIN bn_comm c ON c.n = w.g % {COMMUNITIES}
  JOIN bn_member r ON r.n = w.g % {COMMUNITIES} + {COMMUNITIES} * (w.g % 700)
  JOIN bn_member v ON v.n = w.g % {COMMUNITIES} + {COMMUNITIES} * ((w.g + 1) % 700);

INSERT INTO reward_rules (id, community_id, code, title, description, points, evidence_required, publicity_days,
                          active, created_at)
  SELECT gen_random_uuid(), c.id, 'garbage', '垃圾分类', '', 5, false, 3, true, '2025-01-01' FROM bn_comm c;
INSERT INTO reward_claims (id, community_id, rule_id, member_id, submitted_by, evidence, points, year, status,
                           review_round, decided_at, decision_note, awarded_at, created_at)
  SELECT gen_random_uuid(), c.id, r.id, m.id, m.id, '', 5, 2026,
         CASE g % 3 WHEN 0 THEN 'awarded' WHEN 1 THEN 'rejected' ELSE 'submitted' END, 1, NULL, '',
         CASE WHEN g % 3 = 0 THEN at + interval '5 days' END, at
  FROM (SELECT g, timestamptz '2026-01-01 00:00+08' + (g::float / {CLAIMS}) * interval '365 days' AS at
        FROM generate_series(0, {CLAIMS - 1}) g) x
  JOIN bn_comm c ON c.n = x.g % {COMMUNITIES}
  JOIN reward_rules r ON r.community_id = c.id
  JOIN bn_member m ON m.n = x.g % {COMMUNITIES} + {COMMUNITIES} * (x.g % 700);
DROP TABLE bn_comm, bn_member, bn_team, bn_act, bn_award;
ANALYZE;
"""

ROOT = Actor(
    member_id=__import__("uuid").UUID(int=1), name="bench", phone="10000000000", is_platform_admin=True
)


async def _seed(dsn: str) -> float:
    started = time.perf_counter()
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(SEED)
    finally:
        await conn.close()
    return time.perf_counter() - started


async def _rebuild(url: str) -> float:
    from service.db import transaction
    from service.reports import summary

    engine = create_engine(url)
    try:
        started = time.perf_counter()
        async with transaction(create_session_maker(engine)) as db:
            await summary.rebuild(db)
        return time.perf_counter() - started
    finally:
        await engine.dispose()


async def _time_report(
    url: str, scope: str, period: str, runs: int, raw: bool = False, statements: bool = False
) -> tuple[list[float], dict[str, float | None]]:
    engine = create_engine(url)
    maker = create_session_maker(engine)
    times: list[float] = []
    figures: dict[str, float | None] = {}
    if raw:
        service._summary_months = lambda _period, _cids: None  # type: ignore[assignment]
    log: list[tuple[float, str]] = []
    if statements:
        from sqlalchemy import event

        @event.listens_for(engine.sync_engine, "before_cursor_execute")
        def _before(conn: Any, *_args: Any) -> None:
            conn.info["t0"] = time.perf_counter()

        @event.listens_for(engine.sync_engine, "after_cursor_execute")
        def _after(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
            log.append((time.perf_counter() - conn.info["t0"], " ".join(statement.split())[:100]))

    try:
        for _ in range(runs):
            async with maker() as db:
                started = time.perf_counter()
                resolved = await service.resolve_scope(db, ROOT, scope)
                report = await service.build_report(
                    db, resolved, rules.parse_period(period, date(2026, 12, 31))
                )
                times.append(time.perf_counter() - started)
                figures = {f.key: f.total for f in report.figures}
    finally:
        await engine.dispose()
    for seconds, statement in sorted(log, reverse=True)[:12]:
        print(f"  {seconds:6.3f} s  {statement}")
    return times, figures


def _psql(admin_dsn: str, sql: str) -> None:
    subprocess.run(["psql", admin_dsn, "-v", "ON_ERROR_STOP=1", "-qc", sql], check=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--pg", default=os.environ.get("JIFEN_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
    )
    parser.add_argument("--runs", type=int, default=RUNS)
    parser.add_argument("--keep", action="store_true", help="keep the scratch database (to explore it)")
    parser.add_argument("--reuse", help="time the reports on this already seeded database (kept by --keep)")
    parser.add_argument("--raw", action="store_true", help="figures from the raw rows (summaries off)")
    parser.add_argument("--rebuild", action="store_true", help="also time a rebuild of the summaries")
    parser.add_argument("--statements", action="store_true", help="slowest statements of a city year")
    args = parser.parse_args()
    load_all_models()
    name = args.reuse or f"jifen_reports_bench_{os.getpid()}"
    base = args.pg.rsplit("/", 1)[0]
    dsn = f"{base}/{name}"
    url = dsn.replace("postgresql://", "postgresql+asyncpg://")
    print("load before:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    if not args.reuse:
        _psql(args.pg, f'CREATE DATABASE "{name}"')
    try:
        if not args.reuse:
            upgrade_database(url)
            seconds = asyncio.run(_seed(dsn))
            print(f"seeded in {seconds:.0f} s")
        if args.rebuild:
            print(f"summaries rebuilt in {asyncio.run(_rebuild(url)):.0f} s")
        district = "region:00000000-0000-0000-0001-000000000000"
        city = "region:00000000-0000-0000-0000-000000000001"
        for label, scope, period in (
            ("district, month (2026-06)", district, "2026-06"),
            ("city, year (2026)", city, "2026"),
        ):
            times, figures = asyncio.run(_time_report(url, scope, period, args.runs, args.raw))
            print(
                f"{label}: best {min(times):.2f} s, median {statistics.median(times):.2f} s "
                f"({args.runs} runs) · check-ins {figures['checkins']:,.0f}, active volunteers "
                f"{figures['active_volunteers']:,.0f}, hours {figures['service_hours']:,.0f}, "
                f"points issued {figures['points_issued']:,.0f}"
            )
        if args.statements:
            print("slowest statements of one city-year report:")
            asyncio.run(_time_report(url, city, "2026", 1, args.raw, statements=True))
        print("load after:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    finally:
        if not (args.keep or args.reuse):
            _psql(args.pg, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
