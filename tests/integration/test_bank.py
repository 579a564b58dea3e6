"""The bank test (bench/bank_test.py) as part of the PostgreSQL pass: 20 seconds with kill -9."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.database import PG_URL, ROOT

pytestmark = pytest.mark.postgres

BANK_SECONDS = 20
BANK_KILLS = 2
BANK_TIMEOUT_SECONDS = 420
"""The run, three server starts, the settle time and the checks, on a busy 2-core machine."""
AT_LEAST = {"awards": 20, "orders": 20, "vouchers": 20, "redemptions": 5, "pickups": 5}
"""Acknowledged writes a 20-second run must reach even on a busy machine (a quiet run makes several
hundred of each): a server that refuses every write, or a client that never writes, fails here."""


def test_bank_test_survives_kill_9_with_every_check_passing(tmp_path: Path) -> None:
    """Concurrent awards, orders, cancels, pickups, vouchers and redemptions against ``jifen serve
    --workers 2``, killed and restarted mid-run: the ledger verifies, points are conserved, every
    acknowledged write is there exactly once, stock and holds add up."""
    proc = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "bench" / "bank_test.py"),
            *("--seconds", str(BANK_SECONDS), "--kills", str(BANK_KILLS)),
            *("--summary", str(tmp_path / "counts.json")),
        ],
        cwd=ROOT,
        env={**os.environ, "JIFEN_TEST_POSTGRES_URL": PG_URL},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        out, _ = proc.communicate(timeout=BANK_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        proc.terminate()  # the bank test stops its server and drops its database on SIGTERM
        out, _ = proc.communicate(timeout=60)
        pytest.fail("the bank test did not finish in time:\n" + out[-6000:])
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, out[-6000:]
    assert "bank test: all checks passed" in out and "[FAIL]" not in out, out[-6000:]
    for check in (
        "jifen ledger verify",
        "conservation",
        "acknowledged orders present exactly once",
        "kill -9",
    ):
        assert check in out, out[-6000:]
    counts = json.loads((tmp_path / "counts.json").read_text())
    print("bank test counts:", counts)
    low = {k: (counts[k], n) for k, n in AT_LEAST.items() if counts[k] < n}
    assert not low, f"too little work acknowledged (count, floor): {low}\n{out[-3000:]}"
    assert counts["kills"] == BANK_KILLS, counts
    # Each start is a process that answered /healthz; kill -9 then restart means a new process each time.
    pids = counts["server_pids"]
    assert len(pids) == len(set(pids)) == BANK_KILLS + 1, f"server processes started: {pids}"
    assert counts["retries"] > 0, f"no request was resent: the kills hit nothing in flight ({counts})"
    assert counts["failed_checks"] == 0, counts
