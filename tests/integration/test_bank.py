"""The bank test (bench/bank_test.py) as part of the PostgreSQL pass: 20 seconds with kill -9."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.support.database import PG_URL, ROOT

pytestmark = pytest.mark.postgres

BANK_SECONDS = 20
BANK_TIMEOUT_SECONDS = 420
"""The run, three server starts, the settle time and the checks, on a busy 2-core machine."""


def test_bank_test_survives_kill_9_with_every_check_passing() -> None:
    """Concurrent awards, orders, cancels, pickups, vouchers and redemptions against ``jifen serve
    --workers 2``, killed and restarted mid-run: the ledger verifies, points are conserved, every
    acknowledged write is there exactly once, stock and holds add up."""
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "bank_test.py"), "--seconds", str(BANK_SECONDS)],
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
