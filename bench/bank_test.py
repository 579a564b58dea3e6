"""The bank test: money-like writes through a real server that is killed (-9) and restarted mid-run.

Starts ``jifen serve --workers 2`` on PostgreSQL (a scratch database, created and dropped here) on a
free 127.0.0.1 port, seeds a community with members who have points, products with stock and a
partner with offers, then runs concurrent clients doing manual awards, orders, cancels, pickups,
vouchers, voucher cancels and redemptions. Every write carries an Idempotency-Key; on a connection
error or a 5xx the client sends the same request with the same key again. The whole server process
group is killed with SIGKILL two or three times during the run and started again.

Afterwards it checks, and prints one line per check:
  - ``jifen ledger verify`` exits 0 (hash chains, zero sums, cached balances, holds)
  - conservation: all account balances sum to zero; no member account is negative
  - every acknowledged write is present exactly once (awards, orders, vouchers by id and by key;
    cancels, pickups and redemptions by the state of their order or voucher and their one transfer)
  - stock + reserved + fulfilled quantities = initial stock; offers' claimed counts match
  - pending holds are exactly those of reserved orders and issued vouchers; posted holds those of
    fulfilled orders and redeemed vouchers; each member's balance = seeded + awards - spending

    .venv/bin/python bench/bank_test.py --seconds 20        # exit 0 when every check passes

PostgreSQL at ``JIFEN_TEST_POSTGRES_URL`` (default postgresql+asyncpg://postgres@127.0.0.1:5432/test;
only the server part is used). The suite runs a 20-second pass (tests/integration/test_bank.py).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from service.accounts import service as accounts  # noqa: E402
from service.accounts.actor import Actor  # noqa: E402
from service.accounts.models import Member  # noqa: E402
from service.db import create_engine, create_session_maker  # noqa: E402
from service.idempotency import IdempotencyRecord  # noqa: E402
from service.models import load_all_models  # noqa: E402
from service.points import service as points  # noqa: E402
from service.points.models import Account, AwardRequest, Hold, Transfer  # noqa: E402
from service.store import service as store  # noqa: E402
from service.store.models import Offer, Order, Product, Voucher  # noqa: E402
from tests.support.database import create_test_database, db_env, drop_test_database  # noqa: E402

SECRET = "bank-test-secret-" + "k" * 32
MEMBERS = 6
SEED_POINTS = 400
PRODUCTS = 3
STOCK = 600
PRODUCT_PRICE = 7
OFFER_PRICE = 5
CLIENTS = 6
"""Concurrent client tasks, each acting for one member (and, in turn, as admin, clerk or shop staff)."""
START_TIMEOUT = 60.0
REQUEST_TIMEOUT = 20.0
SETTLE_SECONDS = 60.0
"""After the run, how long clients may keep retrying requests that were in flight."""


# ---------------------------------------------------------------- the server


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    url: str
    database_url: str
    port: int
    log: Any
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0
    pids: list[int] = field(default_factory=list)
    """The process id of each start that answered /healthz (a real process, not a log line)."""

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            **db_env(self.database_url),
            "JIFEN_SECRET_KEY": SECRET,
            "JIFEN_LOG_LEVEL": "WARNING",
            "JIFEN_JOBS_INTERVAL_SECONDS": "5",
        }

    def start(self) -> None:
        jifen = Path(sys.executable).parent / "jifen"
        self.proc = subprocess.Popen(
            [str(jifen), "serve", "--host", "127.0.0.1", "--port", str(self.port), "--workers", "2"],
            env=self.env(),
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: one killpg reaches granian and its workers
        )
        self.starts += 1
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}; see its log")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    self.pids.append(self.proc.pid)
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError("server did not answer /healthz in time")

    def kill(self) -> None:
        """SIGKILL the whole process group (granian's main process and its workers)."""
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)
        self.proc = None

    def stop(self) -> None:
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=15)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass
        self.kill()


# ---------------------------------------------------------------- seeding


@dataclass
class World:
    cid: uuid.UUID
    products: list[uuid.UUID]
    offers: list[uuid.UUID]
    members: list[uuid.UUID]
    tokens: dict[str, str] = field(default_factory=dict)
    """'admin', 'clerk', 'staff' and 'm<i>' -> bearer token."""


async def seed(database_url: str) -> World:
    engine = create_engine(database_url)
    try:
        async with create_session_maker(engine)() as db, db.begin():
            root_m = Member(phone="13700000000", name="银行测试", is_platform_admin=True)
            db.add(root_m)
            await db.flush()
            root = Actor(root_m.id, root_m.name, root_m.phone, True)
            community = await accounts.create_community(db, root, "银行测试社区", "bank-test")
            await points.set_budget(db, community.id, points.BUDGET_MONTHLY_MAX, set_by=root_m.id)
            partner = await accounts.create_partner(db, root, community.id, "银行测试商店")
            people = {
                "admin": await accounts.add_member(
                    db, root, community.id, "13800000001", "管理员", None, "admin"
                ),
                "clerk": await accounts.add_member(
                    db, root, community.id, "13800000003", "店员", None, "clerk"
                ),
                "staff": await accounts.add_member(
                    db, root, community.id, "13800000005", "商家", None, "partner", partner.id
                ),
            }
            clerk = Actor(people["clerk"].id, "店员", people["clerk"].phone)
            staff = Actor(people["staff"].id, "商家", people["staff"].phone)
            products = [
                (
                    await store.create_product(
                        db, clerk, community.id, name=f"商品{i}", points_price=PRODUCT_PRICE, stock=STOCK
                    )
                ).id
                for i in range(PRODUCTS)
            ]
            offers = [
                (
                    await store.create_offer(
                        db, staff, partner.id, title=f"优惠{i}", points_price=OFFER_PRICE
                    )
                ).id
                for i in range(2)
            ]
            members = []
            for i in range(MEMBERS):
                m = await accounts.add_member(db, root, community.id, f"1390000{i:04d}", f"居民{i}", None)
                people[f"m{i}"] = m
                members.append(m.id)
                await points.award(
                    db,
                    community_id=community.id,
                    member_id=m.id,
                    points=SEED_POINTS,
                    code="seed",
                    idempotency_key=f"seed-{m.id}",
                )
            world = World(community.id, products, offers, members)
            world.tokens = {k: accounts.issue_token(m, SECRET) for k, m in people.items()}
            return world
    finally:
        await engine.dispose()


# ---------------------------------------------------------------- clients


@dataclass
class Acks:
    """What the server acknowledged (a 2xx, or the 409 that says a lost 2xx already happened)."""

    awards: dict[str, str] = field(default_factory=dict)  # idempotency key -> award id
    orders: dict[str, str] = field(default_factory=dict)  # key -> order id
    vouchers: dict[str, str] = field(default_factory=dict)  # key -> voucher id
    order_state: dict[str, str] = field(default_factory=dict)  # order id -> cancelled / fulfilled
    voucher_state: dict[str, str] = field(default_factory=dict)  # voucher id -> cancelled / redeemed
    statuses: Counter[int] = field(default_factory=Counter)
    refused: Counter[str] = field(default_factory=Counter)
    retries: int = 0


class Client:
    def __init__(self, base: str, world: World, acks: Acks, hard_deadline: float) -> None:
        self.http = httpx.AsyncClient(base_url=base, timeout=REQUEST_TIMEOUT)
        self.world, self.acks, self.hard_deadline = world, acks, hard_deadline

    async def write(self, who: str, path: str, body: dict[str, Any] | None = None) -> httpx.Response | None:
        """POST with an Idempotency-Key; the same request again after a connection error or a 5xx."""
        headers = {"Authorization": f"Bearer {self.world.tokens[who]}", "Idempotency-Key": uuid.uuid4().hex}
        while time.monotonic() < self.hard_deadline:
            try:
                r = await self.http.post(path, json=body, headers=headers)
            except httpx.HTTPError:
                self.acks.retries += 1
                await asyncio.sleep(0.2 + random.random() * 0.3)
                continue
            self.acks.statuses[r.status_code] += 1
            if r.status_code >= 500:
                self.acks.retries += 1
                await asyncio.sleep(0.2)
                continue
            if r.status_code >= 400:
                self.acks.refused[r.json().get("code", str(r.status_code))] += 1
            r.extensions["key"] = headers["Idempotency-Key"]
            return r
        return None  # gave up: this write was never acknowledged

    async def run(self, me: int, deadline: float) -> None:
        cid, who = self.world.cid, f"m{me}"
        try:
            while time.monotonic() < deadline:
                roll = random.random()
                if roll < 0.25:
                    target = self.world.members[random.randrange(MEMBERS)]
                    body = {"member_id": str(target), "points": random.randint(1, 20), "reason": "银行测试"}
                    r = await self.write("admin", f"/api/v1/communities/{cid}/awards", body)
                    if r is not None and r.status_code == 201:
                        self.acks.awards[r.extensions["key"]] = r.json()["id"]
                elif roll < 0.65:
                    await self.order(who)
                else:
                    await self.voucher(who)
        finally:
            await self.http.aclose()

    async def order(self, who: str) -> None:
        body = {"product_id": str(random.choice(self.world.products)), "quantity": random.randint(1, 2)}
        r = await self.write(who, "/api/v1/orders", body)
        if r is None or r.status_code != 201:
            return
        order = r.json()
        self.acks.orders[r.extensions["key"]] = order["id"]
        then = random.random()
        if then < 0.4:
            done = await self.write(who, f"/api/v1/orders/{order['id']}/cancel")
            self._closed(done, self.acks.order_state, order["id"], "cancelled", "order_cancelled")
        elif then < 0.8:
            done = await self.write("clerk", "/api/v1/orders/pickup", {"pickup_code": order["pickup_code"]})
            self._closed(done, self.acks.order_state, order["id"], "fulfilled", "order_already_fulfilled")

    async def voucher(self, who: str) -> None:
        r = await self.write(who, f"/api/v1/offers/{random.choice(self.world.offers)}/vouchers")
        if r is None or r.status_code != 201:
            return
        voucher = r.json()
        self.acks.vouchers[r.extensions["key"]] = voucher["id"]
        then = random.random()
        if then < 0.4:
            done = await self.write(who, f"/api/v1/vouchers/{voucher['id']}/cancel")
            self._closed(done, self.acks.voucher_state, voucher["id"], "cancelled", "voucher_cancelled")
        elif then < 0.8:
            done = await self.write("staff", "/api/v1/vouchers/redeem", {"code": voucher["code"]})
            self._closed(done, self.acks.voucher_state, voucher["id"], "redeemed", "voucher_already_redeemed")

    @staticmethod
    def _closed(r: httpx.Response | None, states: dict[str, str], rid: str, state: str, again: str) -> None:
        # Cancels take no key: a retry of a cancel whose answer was lost says "already cancelled".
        if r is not None and (r.status_code == 200 or r.json().get("code") == again):
            states[rid] = state


async def drive(server: Server, world: World, seconds: float, kills: int) -> Acks:
    acks = Acks()
    start = time.monotonic()
    deadline = start + seconds
    hard_deadline = deadline + SETTLE_SECONDS
    clients = [Client(server.url, world, acks, hard_deadline) for _ in range(CLIENTS)]
    tasks = [asyncio.create_task(c.run(i % MEMBERS, deadline)) for i, c in enumerate(clients)]
    for k in range(kills):
        at = start + seconds * (k + 1) / (kills + 1)
        await asyncio.sleep(max(0.0, at - time.monotonic()))
        print(f"  t={time.monotonic() - start:5.1f}s kill -9 the server (process group)", flush=True)
        await asyncio.to_thread(server.kill)
        await asyncio.sleep(0.3)
        await asyncio.to_thread(server.start)
        print(f"  t={time.monotonic() - start:5.1f}s server is back", flush=True)
    await asyncio.gather(*tasks)
    return acks


# ---------------------------------------------------------------- checks


class Checks:
    def __init__(self) -> None:
        self.failed = 0

    def check(self, name: str, ok: bool, detail: str = "") -> None:
        self.failed += not ok
        print(f"  [{'ok' if ok else 'FAIL'}] {name}" + (f": {detail}" if detail else ""), flush=True)


def _response_id(record: IdempotencyRecord) -> str | None:
    try:
        return str(json.loads(record.response or b"{}").get("id"))
    except ValueError:
        return None


async def verify_all(server: Server, world: World, acks: Acks) -> Checks:
    c = Checks()
    verify = await asyncio.to_thread(
        subprocess.run,
        [str(Path(sys.executable).parent / "jifen"), "ledger", "verify"],
        env=server.env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    c.check("jifen ledger verify", verify.returncode == 0, (verify.stdout + verify.stderr).strip()[-300:])
    c.check("no 500 answered", acks.statuses[500] == 0, f"statuses {dict(acks.statuses)}")
    engine = create_engine(server.database_url)
    try:
        async with create_session_maker(engine)() as db:
            total = await db.scalar(select(func.coalesce(func.sum(Account.balance), 0)))
            c.check("conservation: all balances sum to zero", total == 0, f"sum {total}")
            negative = await db.scalar(
                select(func.count()).where(
                    Account.kind == "member", (Account.balance - Account.held < 0) | (Account.held < 0)
                )
            )
            c.check("no negative member balance", negative == 0, f"{negative} negative")

            awards = {a.id: a for a in await db.scalars(select(AwardRequest))}
            award_transfers = Counter(
                r for (r,) in await db.execute(select(Transfer.ref_id).where(Transfer.ref_type == "award"))
            )
            keys = {
                (r.scope, r.key): r
                for r in await db.scalars(
                    select(IdempotencyRecord).where(IdempotencyRecord.status_code.is_not(None))
                )
            }
            award_scope = f"POST /api/v1/communities/{world.cid}/awards"
            missing = [
                k
                for k, aid in acks.awards.items()
                if uuid.UUID(aid) not in awards
                or award_transfers[aid] != 1
                or _response_id(keys.get((award_scope, k), IdempotencyRecord())) != aid
            ]
            c.check(
                f"{len(acks.awards)} acknowledged awards each posted exactly once",
                not missing and len(awards) == sum(1 for k in keys if k[0] == award_scope),
                f"{len(missing)} missing or doubled; {len(awards)} awards in the database",
            )
            c.check(
                "every award posted exactly once",
                all(n == 1 for n in award_transfers.values()) and len(award_transfers) == len(awards),
            )

            orders = {str(o.id): o for o in await db.scalars(select(Order))}
            order_keys = [r for (s, _), r in keys.items() if s == "POST /api/v1/orders"]
            missing = [k for k, oid in acks.orders.items() if oid not in orders]
            c.check(
                f"{len(acks.orders)} acknowledged orders present exactly once",
                not missing
                and len(orders) == len(order_keys)
                and {_response_id(r) for r in order_keys} == set(orders),
                f"{len(missing)} missing; {len(orders)} orders for {len(order_keys)} keys",
            )
            wrong = [oid for oid, state in acks.order_state.items() if orders[oid].status != state]
            c.check(
                f"{len(acks.order_state)} acknowledged cancels and pickups hold", not wrong, f"{wrong[:3]}"
            )

            vouchers = {str(v.id): v for v in await db.scalars(select(Voucher))}
            voucher_keys = [r for (s, _), r in keys.items() if s.startswith("POST /api/v1/offers/")]
            missing = [k for k, vid in acks.vouchers.items() if vid not in vouchers]
            c.check(
                f"{len(acks.vouchers)} acknowledged vouchers present exactly once",
                not missing
                and len(vouchers) == len(voucher_keys)
                and {_response_id(r) for r in voucher_keys} == set(vouchers),
                f"{len(missing)} missing; {len(vouchers)} vouchers for {len(voucher_keys)} keys",
            )
            wrong = [vid for vid, state in acks.voucher_state.items() if vouchers[vid].status != state]
            c.check(f"{len(acks.voucher_state)} acknowledged voucher cancels and redemptions hold", not wrong)

            spent = Counter(
                (t.ref_type, t.ref_id)
                for t in await db.scalars(select(Transfer).where(Transfer.ref_type.in_(("order", "voucher"))))
            )
            paid = {("order", k) for k, o in orders.items() if o.status == "fulfilled"} | {
                ("voucher", k) for k, v in vouchers.items() if v.status == "redeemed"
            }
            c.check(
                "each pickup and redemption paid exactly once, nothing else paid",
                set(spent) == paid and all(n == 1 for n in spent.values()),
                f"{len(paid)} handed out, {len(spent)} paid",
            )

            for product in await db.scalars(select(Product)):
                out = sum(
                    o.quantity
                    for o in orders.values()
                    if o.product_id == product.id and o.status in ("reserved", "fulfilled")
                )
                c.check(
                    f"stock of {product.name}: {product.stock} + {out} taken = {STOCK}",
                    product.stock + out == STOCK,
                )
            for offer in await db.scalars(select(Offer)):
                taken = sum(
                    1
                    for v in vouchers.values()
                    if v.offer_id == offer.id and v.status in ("issued", "redeemed")
                )
                c.check(
                    f"claims of {offer.title}: {offer.claimed_count} = {taken}", offer.claimed_count == taken
                )

            holds = {h.id: h for h in await db.scalars(select(Hold))}
            want_pending = {o.hold_id for o in orders.values() if o.status == "reserved"} | {
                v.hold_id for v in vouchers.values() if v.status == "issued"
            }
            want_posted = {o.hold_id for o in orders.values() if o.status == "fulfilled"} | {
                v.hold_id for v in vouchers.values() if v.status == "redeemed"
            }
            pending = {h for h, x in holds.items() if x.status == "pending"}
            posted = {h for h, x in holds.items() if x.status == "posted"}
            c.check(
                "pending holds = reserved orders + issued vouchers",
                pending == want_pending,
                f"{len(pending)} pending, {len(want_pending)} expected",
            )
            c.check("posted holds = fulfilled orders + redeemed vouchers", posted == want_posted)
            c.check(
                "every hold belongs to exactly one order or voucher",
                len(holds) == len(orders) + len(vouchers),
                f"{len(holds)} holds, {len(orders)} orders, {len(vouchers)} vouchers",
            )

            wrong_balance = 0
            for mid in world.members:
                bal = await points.balance(db, world.cid, mid)
                earned = SEED_POINTS + sum(
                    a.points for a in awards.values() if a.member_id == mid and a.status == "posted"
                )
                paid_out = sum(
                    o.points for o in orders.values() if o.member_id == mid and o.status == "fulfilled"
                )
                paid_out += sum(
                    v.points for v in vouchers.values() if v.member_id == mid and v.status == "redeemed"
                )
                held = sum(o.points for o in orders.values() if o.member_id == mid and o.status == "reserved")
                held += sum(
                    v.points for v in vouchers.values() if v.member_id == mid and v.status == "issued"
                )
                if (bal.available + bal.held, bal.held) != (earned - paid_out, held):
                    wrong_balance += 1
            c.check(
                "each member's balance = seeded + awards - handed out; held = open orders and vouchers",
                not wrong_balance,
            )
    finally:
        await engine.dispose()
    return c


# ---------------------------------------------------------------- main


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="how long the clients run (default 60)")
    parser.add_argument("--kills", type=int, default=None, help="kill -9 this many times (default 2 or 3)")
    parser.add_argument("--keep-log", action="store_true", help="print the server's log at the end")
    parser.add_argument("--summary", type=Path, help="write the counts as JSON here (the suite reads them)")
    args = parser.parse_args()
    kills = args.kills if args.kills is not None else (3 if args.seconds >= 30 else 2)
    # A SIGTERM (a test runner's timeout) still runs the finally below: no orphan server, no scratch database.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    load_all_models()
    name = f"jifen_bank_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    port = _free_port()
    log_path = Path(f"/tmp/{name}.log")
    print(f"bank test: {args.seconds:g} s, {CLIENTS} clients, {kills} kill -9, database {name}, port {port}")
    server: Server | None = None
    try:
        with log_path.open("wb") as log:
            # The suite's way: the owner role migrates, the server connects as an app role owning nothing.
            _, database_url = create_test_database(name)
            world = asyncio.run(seed(database_url))
            server = Server(f"http://127.0.0.1:{port}", database_url, port, log)
            server.start()
            began = time.monotonic()
            acks = asyncio.run(drive(server, world, args.seconds, kills))
            took = time.monotonic() - began
            server.stop()
            writes = sum(acks.statuses.values())
            print(
                f"  {writes} answers in {took:.1f} s ({writes / took:.1f}/s), {acks.retries} resent, "
                f"statuses {dict(sorted(acks.statuses.items()))}, refusals {dict(acks.refused)}, "
                f"server started {server.starts} times"
            )
            checks = asyncio.run(verify_all(server, world, acks))
            summary = {
                "awards": len(acks.awards),
                "orders": len(acks.orders),
                "vouchers": len(acks.vouchers),
                "redemptions": sum(1 for s in acks.voucher_state.values() if s == "redeemed"),
                "pickups": sum(1 for s in acks.order_state.values() if s == "fulfilled"),
                "retries": acks.retries,
                "kills": kills,
                "server_pids": server.pids,
                "statuses": {str(k): v for k, v in acks.statuses.items()},
                "failed_checks": checks.failed,
            }
            print(f"  counts {json.dumps(summary)}")
            if args.summary:
                args.summary.write_text(json.dumps(summary))
        if checks.failed or args.keep_log:
            print(log_path.read_text(errors="replace")[-4000:])
        print(
            "bank test: all checks passed"
            if not checks.failed
            else f"bank test: {checks.failed} checks FAILED"
        )
        return 1 if checks.failed else 0
    finally:
        if server is not None:
            server.stop()
        drop_test_database(name)
        log_path.unlink(missing_ok=True)


if __name__ == "__main__":
    sys.exit(main())
