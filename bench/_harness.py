"""Shared pieces of the HTTP benchmarks: servers, wrk, pgbench, worker memory, machine load.

The load generator is wrk (C, its own process, two threads) driven by ``requests.lua``, which sends
the lines of a prepared file in turn so that every request is a new one (a new check-in, a new
redemption). ``ensure_wrk`` installs it with apt-get when it is missing (the Makefile does the same).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
LUA = Path(__file__).resolve().parent / "requests.lua"
SCHEDULE_LUA = Path(__file__).resolve().parent / "schedule.lua"
WRK_THREADS = 2


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    subprocess.run(["apt-get", "install", "-y", "wrk"], check=False, capture_output=True)
    found = shutil.which("wrk")
    if not found:
        raise SystemExit("wrk is missing: apt-get install -y wrk")
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"{one:.1f}/{five:.1f}"


def _wait(port: int, path: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}{path}", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError("server did not start")


def serve_jifen(url: str, port: int, workers: int, secret: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "JIFEN_DATABASE_URL": url,
        "JIFEN_SECRET_KEY": secret,
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
    _wait(port, "/readyz", proc)
    return proc


def serve_hello(port: int, workers: int) -> subprocess.Popen[bytes]:
    code = (
        "from granian import Granian\n"
        "from granian.constants import Interfaces\n"
        f"Granian('bench.hello_app:app', address='127.0.0.1', port={port}, workers={workers},"
        " interface=Interfaces.ASGI, log_level='error').serve()\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    _wait(port, "/", proc)
    return proc


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def worker_rss_mb(proc: subprocess.Popen[bytes]) -> list[float]:
    """Resident memory of the server's worker processes (its descendants), in MB."""
    out = subprocess.run(["ps", "-eo", "pid=,ppid=,rss="], capture_output=True, text=True).stdout
    children: dict[int, list[tuple[int, int]]] = {}
    for line in out.splitlines():
        pid, ppid, rss = (int(x) for x in line.split())
        children.setdefault(ppid, []).append((pid, rss))
    found: list[float] = []
    todo = [proc.pid]
    while todo:
        for pid, rss in children.get(todo.pop(), []):
            found.append(rss / 1024)
            todo.append(pid)
    return found


_UNIT = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(text: str) -> float:
    found = re.match(r"([\d.]+)(us|ms|s|m)", text)
    return float(found.group(1)) * _UNIT[found.group(2)] if found else float("nan")


def wrk(
    base: str,
    *,
    seconds: float,
    clients: int,
    path: str = "/",
    lines: Path | None = None,
    first: int = 0,
    schedule: tuple[Path, float] | None = None,
) -> dict[str, Any]:
    """Run wrk; with ``lines`` every request is the next line of that file (see requests.lua); with
    ``schedule`` (file, start as a Unix time) each line is sent at its own moment (see schedule.lua)."""
    cmd = [ensure_wrk(), f"-t{WRK_THREADS}", f"-c{clients}", f"-d{max(1, round(seconds))}s", "--latency"]
    cmd += ["--timeout", "10s"]
    if schedule is not None:
        start_ms = f"{schedule[1] * 1000:.0f}"
        cmd += ["-s", str(SCHEDULE_LUA), base, "--", str(schedule[0]), str(WRK_THREADS), start_ms]
    elif lines is not None:
        cmd += ["-s", str(LUA), base, "--", str(lines), str(first), str(WRK_THREADS)]
    else:
        cmd.append(base + path)
    before = load()
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    per_s = re.search(r"Requests/sec:\s+([\d.]+)", out)
    total = re.search(r"(\d+) requests in", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    lat = {m.group(1): _ms(m.group(2)) for m in re.finditer(r"^\s+(50|90|99)%\s+(\S+)", out, re.M)}
    late = re.search(r"^Late: (\d+) ([\d.]+)", out, re.M)
    statuses = re.search(r"^Statuses: (.*)$", out, re.M)
    return {
        "statuses": statuses.group(1).strip() if statuses else "",
        "late": int(late.group(1)) if late else 0,
        "late_max_ms": float(late.group(2)) if late else 0.0,
        "per_s": float(per_s.group(1)) if per_s else 0.0,
        "n": int(total.group(1)) if total else 0,
        "p50": lat.get("50", float("nan")),
        "p99": lat.get("99", float("nan")),
        "errors": (int(non2xx.group(1)) if non2xx else 0)
        + (sum(int(x) for x in sock.groups()) if sock else 0),
        "load": f"{before} -> {load()}",
    }


def psql(admin_dsn: str, sql: str) -> None:
    subprocess.run(["psql", admin_dsn, "-qc", sql], check=True, capture_output=True)


def pgbench(dsn: str, clients: int, seconds: int) -> dict[str, Any]:
    """pgbench's tpcb-like workload on a scratch database (initialised here, scale 10)."""
    subprocess.run(["pgbench", "-i", "-q", "-s", "10", dsn], check=True, capture_output=True)
    before = load()
    out = subprocess.run(
        ["pgbench", "-b", "tpcb-like", "-c", str(clients), "-j", str(min(clients, os.cpu_count() or 1)),
         "-T", str(seconds), "-r", dsn],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    tps = re.search(r"tps = ([\d.]+)", out)
    avg = re.search(r"latency average = ([\d.]+) ms", out)
    return {
        "per_s": float(tps.group(1)) if tps else 0.0,
        "p50": float(avg.group(1)) if avg else float("nan"),
        "p99": float("nan"),
        "errors": 0,
        "load": f"{before} -> {load()}",
    }


def table(rows: list[tuple[str, str, dict[str, Any]]]) -> str:
    out = [
        f"{'backend':<9} {'workload':<34} {'per s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}  load 1m/5m"
    ]
    for backend, name, r in rows:
        out.append(
            f"{backend:<9} {name:<34} {r['per_s']:>9.1f} {r['p50']:>8.1f} {r['p99']:>8.1f} "
            f"{r.get('errors', 0):>7}  {r.get('load', '')}"
        )
    return "\n".join(out)


def drill_arguments(doc: str | None, name: str) -> Any:
    """The drills' command line (``--seconds``, ``--keep``, ``--summary``), parsed; ``None`` when not run as
    root (PostgreSQL runs as the postgres user; said on stderr). Also: SIGTERM exits, progress unbuffered."""
    import argparse
    import signal

    parser = argparse.ArgumentParser(description=(doc or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="how long the clients run (default 60)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory (logs) afterwards")
    parser.add_argument("--summary", type=Path, help="write the figures as JSON here")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print(f"{name}: run it as root (PostgreSQL runs as the postgres user)", file=sys.stderr)
        return None
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[attr-defined]  # progress as it happens
    return args
