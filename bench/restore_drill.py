"""The restore drill: a base backup and WAL archiving while the bank test's traffic runs, then a restore
to a chosen moment on a scratch cluster, checked against what the clients were told.

On loopback, under a scratch directory in /tmp: a PostgreSQL 15 (port 5443) that archives every WAL
segment (``archive_command`` copies it to ``archive/``), ``jifen serve --workers 2`` on it, and the bank
test's clients (awards, orders, cancels, pickups, vouchers, redemptions). While they run it takes a base
backup (``pg_basebackup``), then picks the restore target: a moment well after the backup (to the second;
a minute is the same with ``:00``). After the run it restores the backup on a scratch cluster (port 5444)
with ``restore_command`` and ``recovery_target_time`` and checks, one line each:

  - ``jifen ledger verify`` is clean on the restored database, and all balances sum to zero
  - every write acknowledged before the target is there (each award with its one transfer, each order,
    voucher, cancel, pickup and redemption in the state the client was told), and no write sent after it
    is; writes in flight at that moment (sent before, answered after) may be either, and are counted
  - every transfer of the restored ledger is a seed, an award, a pickup or a redemption of those

Needs root (PostgreSQL runs as the ``postgres`` user) and the system's PostgreSQL 15 binaries; the
system's PostgreSQL on port 5432 is never touched.

    .venv/bin/python bench/restore_drill.py --seconds 60
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH.parent))

PRIMARY_PORT, RESTORE_PORT = 5443, 5444
READY_TIMEOUT = 120.0
os.environ["JIFEN_TEST_POSTGRES_URL"] = f"postgresql+asyncpg://postgres@127.0.0.1:{PRIMARY_PORT}/postgres"

import bank_test  # noqa: E402
from _harness import drill_arguments  # noqa: E402
from sqlalchemy import func, select  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from service.db import create_engine, create_session_maker  # noqa: E402
from service.models import load_all_models  # noqa: E402
from service.points.models import Account, AwardRequest, Transfer  # noqa: E402
from service.store.models import Order, Voucher  # noqa: E402
from tests.support.cluster import BIN_DIR, Postgres  # noqa: E402
from tests.support.cluster import as_postgres as _as_postgres  # noqa: E402
from tests.support.database import create_test_database  # noqa: E402


@dataclass
class Write:
    """One write a client sent, and what it was told."""

    kind: str
    """award, order, order_cancel, pickup, voucher, voucher_cancel, redeem"""
    sent: float
    answered: float
    status: int
    rid: str | None


class Client(bank_test.Client):
    """The bank test's client, remembering when each write was sent and answered (wall clock)."""

    log: list[Write] = []

    async def write(self, who: str, path: str, body: dict[str, Any] | None = None) -> Any:
        sent = time.time()
        r = await super().write(who, path, body)
        if r is not None and r.status_code < 300:
            kind, rid = _kind(path, r)
            Client.log.append(Write(kind, sent, time.time(), r.status_code, rid))
        return r


def _kind(path: str, r: Any) -> tuple[str, str | None]:
    parts = path.strip("/").split("/")
    body = r.json() if r.content else {}
    if path.endswith("/awards"):
        return "award", body.get("id")
    if path == "/api/v1/orders":
        return "order", body.get("id")
    if path == "/api/v1/orders/pickup":
        return "pickup", body.get("id")
    if path == "/api/v1/vouchers/redeem":
        return "redeem", body.get("id")
    if path.endswith("/vouchers"):
        return "voucher", body.get("id")
    if path.endswith("/cancel"):
        return ("order_cancel" if parts[2] == "orders" else "voucher_cancel"), parts[3]
    return "other", None


async def drive(server: Any, world: Any, seconds: float, backup: Any) -> tuple[Any, float, float]:
    """The bank clients for ``seconds``; the base backup a sixth of the way in. Returns the acks, when
    the backup finished and the restore target (wall clock, whole seconds)."""
    acks = bank_test.Acks()
    start = time.monotonic()
    hard_deadline = start + seconds + bank_test.SETTLE_SECONDS
    clients = [Client(server.url, world, acks, hard_deadline) for _ in range(bank_test.CLIENTS)]
    tasks = [
        asyncio.create_task(c.run(i % bank_test.MEMBERS, start + seconds)) for i, c in enumerate(clients)
    ]
    await asyncio.sleep(seconds / 6)
    print(f"  t={time.monotonic() - start:5.1f}s pg_basebackup begins (traffic goes on)", flush=True)
    await asyncio.to_thread(backup)
    backed_up = time.time()
    print(f"  t={time.monotonic() - start:5.1f}s base backup done", flush=True)
    await asyncio.sleep(max(0.0, start + seconds * 0.6 - time.monotonic()))
    target = float(int(time.time()))  # a whole second, in the middle of the traffic
    print(f"  t={time.monotonic() - start:5.1f}s the restore target: {_stamp(target)}", flush=True)
    await asyncio.gather(*tasks)
    return acks, backed_up, target


def _stamp(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%d %H:%M:%S+00")


class Checks(bank_test.Checks):
    pass


async def check_restored(url: str, env: dict[str, str], target: float) -> Checks:
    c = Checks()
    verify = await asyncio.to_thread(
        subprocess.run,
        [str(Path(sys.executable).parent / "jifen"), "ledger", "verify"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    c.check(
        "jifen ledger verify (restored)",
        verify.returncode == 0,
        (verify.stdout + verify.stderr).strip()[-300:],
    )
    before = [w for w in Client.log if w.answered <= target]
    after = [w for w in Client.log if w.sent > target]
    in_flight = [w for w in Client.log if w.sent <= target < w.answered]
    engine = create_engine(url)
    try:
        async with create_session_maker(engine)() as db:
            total = await db.scalar(select(func.coalesce(func.sum(Account.balance), 0)))
            c.check("conservation: all balances sum to zero", total == 0, f"sum {total}")
            awards = {str(a.id) for a in await db.scalars(select(AwardRequest))}
            award_transfers: dict[str, int] = {}
            for (ref,) in await db.execute(select(Transfer.ref_id).where(Transfer.ref_type == "award")):
                award_transfers[ref] = award_transfers.get(ref, 0) + 1
            orders = {str(o.id): o.status for o in await db.scalars(select(Order))}
            vouchers = {str(v.id): v.status for v in await db.scalars(select(Voucher))}
            transfers = await db.scalar(select(func.count()).select_from(Transfer))

        def present(w: Write) -> bool:
            if w.kind == "award":
                return w.rid in awards and award_transfers.get(w.rid or "") == 1
            if w.kind in {"order", "voucher"}:
                return w.rid in (orders if w.kind == "order" else vouchers)
            state = {"order_cancel": ("cancelled", orders), "pickup": ("fulfilled", orders),
                     "voucher_cancel": ("cancelled", vouchers), "redeem": ("redeemed", vouchers)}  # fmt: skip
            wanted, table = state[w.kind]
            return table.get(w.rid or "") == wanted

        missing = [w for w in before if not present(w)]
        c.check(
            f"{len(before)} writes acknowledged before the target are all there",
            not missing,
            f"missing {[(w.kind, w.rid) for w in missing][:5]}",
        )
        extra = [w for w in after if present(w)]
        c.check(f"none of the {len(after)} writes sent after the target is there", not extra, f"{len(extra)}")
        kept = sum(present(w) for w in in_flight)
        explained = (
            bank_test.MEMBERS
            + sum(1 for a in awards if award_transfers.get(a) == 1)
            + sum(1 for s in orders.values() if s == "fulfilled")
            + sum(1 for s in vouchers.values() if s == "redeemed")
        )
        c.check(
            "every transfer restored is a seed, an award, a pickup or a redemption",
            transfers == explained,
            f"{transfers} transfers, {explained} explained",
        )
        c.summary = {  # type: ignore[attr-defined]
            "acknowledged_before_target": len(before),
            "sent_after_target": len(after),
            "in_flight_at_target": len(in_flight),
            "in_flight_kept": kept,
            "restored_transfers": transfers,
            "restored_awards": len(awards),
        }
    finally:
        await engine.dispose()
    return c


def main() -> int:
    args = drill_arguments(__doc__, "restore drill")
    if args is None:
        return 2
    load_all_models()
    root = Path(f"/tmp/jifen-restore-{os.getpid()}")
    archive, base = root / "archive", root / "base"
    primary, restored = Postgres(root / "primary", PRIMARY_PORT), Postgres(root / "restored", RESTORE_PORT)
    server: Any = None
    print(f"restore drill: {args.seconds:g} s of bank traffic, scratch directory {root}")
    try:
        root.mkdir()
        archive.mkdir()
        shutil.chown(root, "postgres", "postgres")
        shutil.chown(archive, "postgres", "postgres")
        primary.init(archive)
        primary.start()
        name = f"jifen_restore_{uuid.uuid4().hex[:6]}"
        owner, app = create_test_database(name)
        world = asyncio.run(bank_test.seed(app))
        port = bank_test._free_port()

        def backup() -> None:
            _as_postgres([str(BIN_DIR / "pg_basebackup"), "-h", "127.0.0.1", "-p", str(PRIMARY_PORT),
                          "-U", "postgres", "-D", str(base), "-X", "none", "--checkpoint=fast"])  # fmt: skip

        with (root / "jifen.log").open("wb") as log:
            server = bank_test.Server(f"http://127.0.0.1:{port}", app, port, log)
            server.start()
            _, backed_up, target = asyncio.run(drive(server, world, args.seconds, backup))
            server.stop()
        segment = primary.sql("SELECT pg_walfile_name(pg_switch_wal())")
        deadline = time.monotonic() + READY_TIMEOUT
        while not (archive / segment).exists():  # the segment holding the target is in the archive
            if time.monotonic() > deadline:
                raise RuntimeError(f"WAL segment {segment} was not archived")
            time.sleep(0.2)
        archived = sum(1 for _ in archive.iterdir())
        began = time.monotonic()
        shutil.copytree(base, restored.data)
        (restored.data / "postmaster.pid").unlink(missing_ok=True)
        (restored.data / "recovery.signal").touch()
        with (restored.data / "postgresql.auto.conf").open("a") as conf:
            conf.write(
                f"port = {RESTORE_PORT}\nunix_socket_directories = '{restored.data}'\narchive_mode = off\n"
                f"restore_command = 'cp {archive}/%f %p'\n"
                f"recovery_target_time = '{_stamp(target)}'\nrecovery_target_action = 'promote'\n"
            )
        subprocess.run(["chown", "-R", "postgres:postgres", str(restored.data)], check=True)
        restored.start()
        while restored.sql("SELECT pg_is_in_recovery()") != "f":
            if time.monotonic() - began > READY_TIMEOUT:
                raise RuntimeError("the restored cluster did not finish recovery")
            time.sleep(0.2)
        took = time.monotonic() - began
        print(f"  restored to {_stamp(target)} in {took:.1f} s ({archived} WAL segments archived)")
        restored_url = str(make_url(app).set(port=RESTORE_PORT).render_as_string(hide_password=False))
        restored_owner = str(make_url(owner).set(port=RESTORE_PORT).render_as_string(hide_password=False))
        env = {
            **server.env(),
            "JIFEN_DATABASE_URL": restored_url,
            "JIFEN_MIGRATION_DATABASE_URL": restored_owner,
        }
        checks = asyncio.run(check_restored(restored_url, env, target))
        summary = {
            "seconds": args.seconds,
            "target": _stamp(target),
            "target_after_backup_seconds": round(target - backed_up, 1),
            "writes_acknowledged": len(Client.log),
            "restore_seconds": round(took, 1),
            "wal_segments": archived,
            **checks.summary,  # type: ignore[attr-defined]
            "failed_checks": checks.failed,
        }
        print(f"  counts {json.dumps(summary)}")
        if args.summary:
            args.summary.write_text(json.dumps(summary))
        print(
            "restore drill: all checks passed"
            if not checks.failed
            else f"restore drill: {checks.failed} FAILED"
        )
        return 1 if checks.failed else 0
    finally:
        if server is not None:
            server.stop()
        restored.stop()
        primary.stop()
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
