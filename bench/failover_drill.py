"""The failover drill: the bank test's traffic while the primary database machine dies (kill -9).

Starts, on loopback only and under a scratch directory in /tmp, what a city's deployment runs on
three machines: etcd (the consensus store), two PostgreSQL 15 nodes each under Patroni (one primary, one
synchronous standby: a commit is acknowledged only once the standby has it), and ``jifen serve
--workers 2`` connected with a multi-host URL that lets asyncpg find whichever node is the primary
(``?host=node1&host=node2&target_session_attrs=read-write``). It seeds the bank test's community and
drives its clients (awards, orders, cancels, pickups, vouchers, redemptions, each write with an
Idempotency-Key and resent after a connection error or a 5xx). A third of the way in it kills the
primary node with SIGKILL: its PostgreSQL (postmaster and every backend) and its Patroni, as if the
machine lost power. Then it checks, one line each:

  - the standby took over (Patroni's REST API names it the leader) and the old primary is gone
  - the app reconnected by itself (the one server process was never restarted; writes were acknowledged
    after the kill)
  - every check of the bank test: ``jifen ledger verify``, conservation, every acknowledged write present
    exactly once, stock and holds consistent

and prints the time without acknowledged writes and the counts. Needs root (PostgreSQL runs as the
``postgres`` user) and Debian's packages: ``apt-get install -y patroni etcd-server``.

    make drill                                  # or: .venv/bin/python bench/failover_drill.py --seconds 60

The system's PostgreSQL on port 5432 is never touched: the drill's nodes listen on 5441 and 5442.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH.parent))

ETCD_CLIENT, ETCD_PEER = 2479, 2480
NODES = {"node1": (5441, 8141), "node2": (5442, 8142)}
"""Patroni node -> (PostgreSQL port, Patroni REST port)."""
BIN_DIR = "/usr/lib/postgresql/15/bin"
TTL_SECONDS = 20
"""Patroni's leader lease: a dead primary's lease runs out within this, then the standby promotes."""
LOOP_WAIT_SECONDS = 2
READY_TIMEOUT = 120.0

# The bank test's helpers create the scratch database through JIFEN_TEST_POSTGRES_URL: point it at node1
# (the first primary) before they are imported.
os.environ["JIFEN_TEST_POSTGRES_URL"] = (
    f"postgresql+asyncpg://postgres@127.0.0.1:{NODES['node1'][0]}/postgres"
)

import bank_test  # noqa: E402
import httpx  # noqa: E402
from _harness import drill_arguments  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from service.models import load_all_models  # noqa: E402
from tests.support.database import create_test_database  # noqa: E402


def _patroni_config(root: Path, name: str) -> str:
    pg_port, rest_port = NODES[name]
    return f"""\
scope: jifen-drill
name: {name}
restapi:
  listen: 127.0.0.1:{rest_port}
  connect_address: 127.0.0.1:{rest_port}
etcd:
  host: 127.0.0.1:{ETCD_CLIENT}
bootstrap:
  dcs:
    ttl: {TTL_SECONDS}
    loop_wait: {LOOP_WAIT_SECONDS}
    retry_timeout: 5
    maximum_lag_on_failover: 1048576
    synchronous_mode: true
    postgresql:
      use_pg_rewind: true
      parameters:
        wal_level: replica
        hot_standby: "on"
        max_wal_senders: 8
        max_replication_slots: 8
        wal_log_hints: "on"
        max_connections: 200
  initdb:
    - encoding: UTF8
    - locale: C.UTF-8
  pg_hba:
    - local all all trust
    - host all all 127.0.0.1/32 trust
    - host replication replicator 127.0.0.1/32 trust
postgresql:
  listen: 127.0.0.1:{pg_port}
  connect_address: 127.0.0.1:{pg_port}
  data_dir: {root / name / "data"}
  bin_dir: {BIN_DIR}
  pgpass: {root / name / "pgpass"}
  authentication:
    superuser:
      username: postgres
      password: drill
    replication:
      username: replicator
      password: drill
  parameters:
    unix_socket_directories: {root / name}
    fsync: "on"
    synchronous_commit: "on"
tags:
  nofailover: false
  noloadbalance: false
  clonefrom: false
"""


class Cluster:
    """etcd and two Patroni nodes under ``root``; every process is ours, stopped by its id."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self) -> None:
        for tool in ("patroni", "etcd"):
            if shutil.which(tool) is None:
                raise SystemExit(f"failover drill: {tool} is missing: apt-get install -y patroni etcd-server")
        self.root.mkdir(parents=True)
        self._spawn(
            "etcd",
            [
                "etcd", "--name", "drill", "--data-dir", str(self.root / "etcd"),
                "--listen-client-urls", f"http://127.0.0.1:{ETCD_CLIENT}",
                "--advertise-client-urls", f"http://127.0.0.1:{ETCD_CLIENT}",
                "--listen-peer-urls", f"http://127.0.0.1:{ETCD_PEER}",
                "--initial-advertise-peer-urls", f"http://127.0.0.1:{ETCD_PEER}",
                "--initial-cluster", f"drill=http://127.0.0.1:{ETCD_PEER}",
                "--enable-v2=true",
            ],
        )  # fmt: skip
        self._wait(lambda: httpx.get(f"http://127.0.0.1:{ETCD_CLIENT}/health", timeout=1).status_code == 200)
        for name in NODES:
            (self.root / name).mkdir(mode=0o700)
            config = self.root / name / "patroni.yml"
            config.write_text(_patroni_config(self.root, name))
            shutil.chown(self.root / name, "postgres", "postgres")
            shutil.chown(config, "postgres", "postgres")
            self._spawn(name, ["patroni", str(config)], user="postgres")
            role = "primary" if name == "node1" else "replica"
            self._wait(lambda n=name, r=role: self.rest(n, f"/{r}") == 200)  # type: ignore[misc]
        self._wait(lambda: self.sync_standby() == "node2")

    def _spawn(self, name: str, argv: list[str], user: str | None = None) -> None:
        log = (self.root / f"{name}.log").open("wb")
        self.procs[name] = subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, user=user, group=user, start_new_session=True
        )

    def _wait(self, ready: Any, timeout: float = READY_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError, OSError, ValueError, KeyError):
                if ready():
                    return
            time.sleep(0.5)
        raise RuntimeError(f"cluster not ready in {timeout:.0f} s; logs under {self.root}")

    def rest(self, name: str, path: str) -> int:
        try:
            return httpx.get(f"http://127.0.0.1:{NODES[name][1]}{path}", timeout=2).status_code
        except httpx.HTTPError:
            return 0

    def members(self) -> list[dict[str, Any]]:
        for name in NODES:
            with contextlib.suppress(httpx.HTTPError, ValueError):
                found: list[dict[str, Any]] = httpx.get(
                    f"http://127.0.0.1:{NODES[name][1]}/cluster", timeout=2
                ).json()["members"]
                return found
        return []

    def leader(self) -> str | None:
        return next((m["name"] for m in self.members() if m.get("role") == "leader"), None)

    def sync_standby(self) -> str | None:
        return next((m["name"] for m in self.members() if m.get("role") == "sync_standby"), None)

    def kill_node(self, name: str) -> int:
        """SIGKILL the node's Patroni and PostgreSQL (postmaster and every backend): the machine is gone.
        Returns how many processes were killed."""
        postmaster = int((self.root / name / "data" / "postmaster.pid").read_text().split()[0])
        victims = {self.procs[name].pid, postmaster, *_children(postmaster)}
        for pid in victims:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.procs[name].wait(timeout=30)
        return len(victims)

    def stop(self) -> None:
        for name in [*NODES, "etcd"]:
            proc = self.procs.get(name)
            if proc is None or proc.poll() is not None:
                continue
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        for name in NODES:  # a PostgreSQL whose Patroni was killed is stopped here (by its own pid file)
            pidfile = self.root / name / "data" / "postmaster.pid"
            if pidfile.exists():
                with contextlib.suppress(ValueError, ProcessLookupError):
                    os.kill(int(pidfile.read_text().split()[0]), signal.SIGQUIT)


def _children(parent: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == parent:
                found.append(int(stat.parent.name))
    return found


def multi_host(url: str) -> str:
    """``url`` (one node) as a URL that reaches whichever node is the primary."""
    hosts = tuple(f"127.0.0.1:{port}" for port, _ in NODES.values())
    one = make_url(url)
    return str(
        one.set(
            host=None, port=None, query={"host": hosts, "target_session_attrs": "read-write"}
        ).render_as_string(hide_password=False)
    )


class Server(bank_test.Server):
    """The bank test's server, connected to the cluster through the multi-host URLs."""

    owner_url = ""

    def env(self) -> dict[str, str]:
        return {
            **super().env(),
            "JIFEN_DATABASE_URL": self.database_url,
            "JIFEN_MIGRATION_DATABASE_URL": self.owner_url,
        }


class Client(bank_test.Client):
    """The bank test's client, remembering when each write was acknowledged."""

    acked_at: list[float] = []

    async def write(self, who: str, path: str, body: dict[str, Any] | None = None) -> Any:
        r = await super().write(who, path, body)
        if r is not None and r.status_code < 300:
            Client.acked_at.append(time.monotonic())
        return r


async def drive(server: Server, cluster: Cluster, world: Any, seconds: float) -> tuple[Any, float, float]:
    """The bank test's clients for ``seconds``; the primary dies a third of the way in. Returns the
    acknowledgements, when the kill happened and when the standby was the leader."""
    acks = bank_test.Acks()
    start = time.monotonic()
    hard_deadline = start + seconds + bank_test.SETTLE_SECONDS
    clients = [Client(server.url, world, acks, hard_deadline) for _ in range(bank_test.CLIENTS)]
    tasks = [
        asyncio.create_task(c.run(i % bank_test.MEMBERS, start + seconds)) for i, c in enumerate(clients)
    ]
    await asyncio.sleep(seconds / 3)
    killed_at = time.monotonic()
    n = await asyncio.to_thread(cluster.kill_node, "node1")
    print(f"  t={killed_at - start:5.1f}s kill -9 node1 (primary): {n} processes (Patroni, PostgreSQL)")
    promoted_at = 0.0
    while time.monotonic() < start + seconds + bank_test.SETTLE_SECONDS:
        if await asyncio.to_thread(cluster.rest, "node2", "/primary") == 200:
            promoted_at = time.monotonic()
            print(f"  t={promoted_at - start:5.1f}s node2 is the primary")
            break
        await asyncio.sleep(0.2)
    await asyncio.gather(*tasks)
    return acks, killed_at, promoted_at


def _gap(acked: list[float], killed_at: float) -> tuple[float, float]:
    """(the longest time without an acknowledged write, from the kill to the end of that time)."""
    times = sorted(acked)
    longest, end = 0.0, killed_at
    for before, after in itertools.pairwise(times):
        if after - before > longest:
            longest, end = after - before, after
    return longest, end - killed_at


def main() -> int:
    args = drill_arguments(__doc__, "failover drill")
    if args is None:
        return 2
    load_all_models()
    root = Path(f"/tmp/jifen-drill-{os.getpid()}")
    cluster = Cluster(root)
    server: Server | None = None
    name = f"jifen_drill_{uuid.uuid4().hex[:6]}"
    print(f"failover drill: {args.seconds:g} s of bank traffic, cluster under {root}")
    try:
        began = time.monotonic()
        cluster.start()
        print(f"  cluster up in {time.monotonic() - began:.1f} s: leader node1, synchronous standby node2")
        owner, app = create_test_database(name)
        world = asyncio.run(bank_test.seed(multi_host(app)))
        port = bank_test._free_port()
        with (root / "jifen.log").open("wb") as log:
            server = Server(f"http://127.0.0.1:{port}", multi_host(app), port, log)
            server.owner_url = multi_host(owner)
            server.start()
            acks, killed_at, promoted_at = asyncio.run(drive(server, cluster, world, args.seconds))
            pid_still = server.proc is not None and server.proc.poll() is None
            server.stop()
        failover_5xx = sum(v for k, v in acks.statuses.items() if k >= 500)
        for status in [k for k in acks.statuses if k >= 500]:
            # Answers while no primary existed; each was resent with its key. The bank test's "no 500"
            # check is for a healthy database; here they are counted and reported instead.
            del acks.statuses[status]
        gap, resumed = _gap(Client.acked_at, killed_at)
        after_kill = sum(1 for t in Client.acked_at if t > killed_at)
        checks = bank_test.Checks()
        checks.check("the standby took over", cluster.leader() == "node2", f"leader {cluster.leader()}")
        checks.check("the old primary is down", cluster.rest("node1", "/health") == 0)
        checks.check(
            "the app reconnected by itself",
            pid_still and server.starts == 1 and after_kill > 0,
            f"server started {server.starts} time(s), {after_kill} writes acknowledged after the kill",
        )
        print(
            '  (the bank test\'s checks; its "no 500" leaves out the '
            f"{failover_5xx} answered while there was no primary)"
        )
        bank_checks = asyncio.run(bank_test.verify_all(server, world, acks))
        failed = checks.failed + bank_checks.failed
        summary = {
            "seconds": args.seconds,
            "writes_acknowledged": len(Client.acked_at),
            "after_kill": after_kill,
            "awards": len(acks.awards),
            "orders": len(acks.orders),
            "vouchers": len(acks.vouchers),
            "resent": acks.retries,
            "answered_5xx_during_failover": failover_5xx,
            "promotion_seconds": round(promoted_at - killed_at, 1) if promoted_at else None,
            "seconds_without_writes": round(gap, 1),
            "kill_to_writes_again_seconds": round(resumed, 1),
            "failed_checks": failed,
        }
        print(
            f"  longest time without an acknowledged write {gap:.1f} s (writes again {resumed:.1f} s "
            f"after the kill; node2 promoted {summary['promotion_seconds']} s after it); "
            f"{failover_5xx} answers 5xx meanwhile, each resent with its key"
        )
        print(f"  counts {json.dumps(summary)}")
        if args.summary:
            args.summary.write_text(json.dumps(summary))
        print(
            "failover drill: all checks passed" if not failed else f"failover drill: {failed} checks FAILED"
        )
        return 1 if failed else 0
    finally:
        if server is not None:
            server.stop()
        cluster.stop()
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
