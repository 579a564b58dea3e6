"""Profile one granian worker under the check-in load with py-spy; print the top frames.

Run: ``.venv/bin/pip install py-spy`` (bench only, not a runtime dependency), then
``.venv/bin/python bench/profile_checkin.py [--pg] [--seconds 10]`` (py-spy needs root or ptrace rights).
Prints the functions with the most samples, inclusive (anywhere on the stack) and by the module they
spend their own time in.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import free_port, psql, serve_jifen, stop, worker_rss_mb, wrk
from checkin_bench import SECRET, _seed

from service.db import upgrade_database


def _summary(collapsed: Path, top: int) -> str:
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        n = int(count)
        total += n
        frames = stack.split(";")
        for name in set(frames):
            inclusive[name] += n
        leaf = frames[-1]
        module = leaf.split("(")[-1].split(":")[0] if "(" in leaf else leaf
        own[_package(module)] += n
    out = [f"{total} samples", "", "inclusive (share of samples with the function on the stack):"]
    out += [f"  {100 * n / total:5.1f}%  {name}" for name, n in inclusive.most_common(top)]
    out += ["", "own time by package:"]
    out += [f"  {100 * n / total:5.1f}%  {name}" for name, n in own.most_common(top)]
    return "\n".join(out)


def _package(path: str) -> str:
    for marker in ("site-packages/", "/lib/python3"):
        if marker in path:
            rest = path.split(marker, 1)[1]
            return rest.split("/")[0] if marker == "site-packages/" else "stdlib:" + rest.split("/")[1]
    if "/service/" in path:
        return "service/" + path.split("/service/", 1)[1]
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pg", action="store_true", help="PostgreSQL (2 workers) instead of SQLite (1)")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--keep", default="", help="keep the raw py-spy output in this file")
    args = parser.parse_args()
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    with tempfile.TemporaryDirectory() as tmp:
        admin = "postgresql://postgres@127.0.0.1:5432/postgres"
        name = f"jifen_bench_profile_{secrets.token_hex(3)}"
        if args.pg:
            psql(admin, f'CREATE DATABASE "{name}"')
            url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
        else:
            url = f"sqlite+aiosqlite:///{tmp}/profile.db"
        try:
            upgrade_database(url)
            lines = Path(tmp) / "lines.tsv"
            asyncio.run(_seed(url, lines))
            port = free_port()
            proc = serve_jifen(url, port, 2 if args.pg else 1, SECRET)
            try:
                out = Path(tmp) / "profile.txt" if not args.keep else Path(args.keep)
                result: dict[str, object] = {}
                load = threading.Thread(
                    target=lambda: result.update(
                        wrk(f"http://127.0.0.1:{port}", seconds=args.seconds + 4, clients=64, lines=lines)
                    )
                )
                load.start()
                pid = _worker_pid(proc.pid)
                subprocess.run(
                    [spy, "record", "--nonblocking", "-r", "200", "-d", str(args.seconds), "-f", "raw",
                     "-o", str(out), "-p", str(pid)],
                    check=True, capture_output=True,
                )  # fmt: skip
                load.join()
                print(f"check-ins/s during the profile: {result.get('per_s')}, rss {worker_rss_mb(proc)}")
                print(_summary(out, args.top))
            finally:
                stop(proc)
        finally:
            if args.pg:
                psql(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return 0


def _worker_pid(parent: int) -> int:
    out = subprocess.run(["ps", "-eo", "pid=,ppid="], capture_output=True, text=True).stdout
    kids = [int(p) for p, pp in (line.split() for line in out.splitlines()) if int(pp) == parent]
    if not kids:
        return parent
    return _worker_pid(kids[-1]) if len(kids) == 1 and _has_kids(kids[-1]) else kids[-1]


def _has_kids(pid: int) -> bool:
    out = subprocess.run(["ps", "-eo", "ppid="], capture_output=True, text=True).stdout
    return str(pid) in out.split()


if __name__ == "__main__":
    raise SystemExit(main())
