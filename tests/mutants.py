"""``make mutants``: break a rule on purpose, one at a time, and check that the suite notices.

Each mutant is a small text patch on one file of ``service/`` (``old`` must occur exactly once) and the
tests that should catch it. The script copies the working tree (tracked and new files, no ``.venv``) to
a scratch directory, runs every mutant's tests once unpatched (they must pass there), then for each
mutant: patch the copy, run its tests (``-x``, stopping at the first failure), restore the file. A mutant
is *caught* when its tests fail, *survived* when they pass. The working tree is never changed. Exit
status: 0 when every mutant was caught, 1 otherwise (a survivor, or a mutant that could not run).

Add a mutant: append ``Mutant(name, file, old, new, tests, database)`` to ``MUTANTS``; keep ``tests`` to
the few files that should catch it (each mutant should run in under two minutes). ``database`` is
``"sqlite"`` or ``"postgres"`` (PostgreSQL-only code: the batch functions in ``service/*/sql``).

    .venv/bin/python tests/mutants.py               # all of them
    .venv/bin/python tests/mutants.py own_award ... # the named ones
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Mutant:
    name: str
    file: str
    old: str
    new: str
    tests: tuple[str, ...]
    database: str = "sqlite"


MUTANTS = (
    Mutant(
        "own_award",  # the admin who requested an award approves it
        "service/points/service.py",
        "    if found.requested_by == actor.member_id:\n        raise SameAdmin()",
        "    if False:\n        raise SameAdmin()",
        ("tests/api/test_points_api.py", "tests/integration/test_points_service.py"),
    ),
    Mutant(
        "voucher_twice_sqlite",  # the ORM path redeems a voucher that was already redeemed
        "service/store/service.py",
        '.where(Voucher.id == voucher.id, Voucher.status == "issued")\n        .values(status="redeemed"',
        '.where(Voucher.id == voucher.id)\n        .values(status="redeemed"',
        ("tests/api/test_partner_api.py", "tests/api/test_store_api.py"),
    ),
    Mutant(
        "voucher_twice_postgres",  # the PostgreSQL batch function redeems a redeemed voucher
        "service/store/sql/batches.sql",
        "IF v.id = ANY(seen) OR v.status <> 'issued' OR v.expires_at <= p_now[i] OR h.status <> 'pending'",
        "IF v.id = ANY(seen) OR v.expires_at <= p_now[i]",
        ("tests/integration/test_redeem_fastpath.py",),
        "postgres",
    ),
    Mutant(
        "rejection_leaves_pending",  # rejecting a manual attendance leaves it pending
        "service/activities/service.py",
        '    att.status = "rejected"\n',
        "    att.status = att.status\n",
        ("tests/api/test_checkin_api.py",),
    ),
    Mutant(
        "refusal_writes",  # a refused wish cancellation commits a change first
        "service/wishes/service.py",
        'raise NotRequester(detail="Only the person who posted the wish cancels it.")',
        'wish.title += "!"\n        await db.commit()\n'
        '        raise NotRequester(detail="Only the person who posted the wish cancels it.")',
        ("tests/api/test_route_matrix.py::test_every_route_checks_the_callers_role_in_the_owning_community",),
    ),
    Mutant(
        "checkout_pays_twice",  # a scan after the check-out checks out (and pays) again
        "service/activities/rules.py",
        '    raise ValueError("already_checked_out")',
        '    return "check_out"',
        ("tests/api/test_checkin_api.py", "tests/integration/test_activities.py"),
    ),
    Mutant(
        "outsider_in_batch",  # the scan batch accepts someone with no role in the community
        "service/activities/sql/scan_batch.sql",
        "IF NOT (r.admin OR 'member' = ANY(r.roles) OR 'admin' = ANY(r.roles)) THEN",
        "IF false THEN",
        ("tests/integration/test_scan_batch.py",),
        "postgres",
    ),
    Mutant(
        "audit_missing",  # rejecting a manual attendance writes no audit event
        "service/activities/service.py",
        '    await _audit_manual(db, actor, activity, att, "manual_attendance_rejected", client_addr)\n',
        "",
        ("tests/api/test_route_matrix.py::test_every_audited_staff_route_writes_one_event",),
    ),
)


def _copy_tree(target: Path) -> None:
    """The working tree as it is (tracked and untracked files, ignored ones left out) into ``target``."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout.split(b"\0")
    for raw in listed:
        if not raw:
            continue
        rel = raw.decode()
        src = ROOT / rel
        if not src.is_file():
            continue
        dst = target / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dst)


def _pytest(scratch: Path, tests: tuple[str, ...], database: str) -> tuple[int, str]:
    env = {**os.environ, "PYTHONPATH": str(scratch), "JIFEN_TEST_DATABASE": database}
    env.pop("CI", None)
    cmd = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *tests]
    try:
        done = subprocess.run(cmd, cwd=scratch, env=env, capture_output=True, text=True, timeout=600)
    except subprocess.TimeoutExpired:
        return -1, "timed out after 600 s"
    lines = (done.stdout + done.stderr).strip().splitlines()
    return done.returncode, lines[-1] if lines else ""


def main(names: list[str]) -> int:
    chosen = [m for m in MUTANTS if not names or m.name in names]
    unknown = set(names) - {m.name for m in MUTANTS}
    if unknown:
        print(f"no such mutant: {sorted(unknown)}")
        return 2
    scratch = Path(tempfile.mkdtemp(prefix="jifen-mutants-"))
    results: list[tuple[str, str, str]] = []
    try:
        _copy_tree(scratch)
        where = subprocess.run(
            [sys.executable, "-c", "import service; print(service.__file__)"],
            cwd=scratch,
            env={**os.environ, "PYTHONPATH": str(scratch)},
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        assert where.startswith(str(scratch)), f"the tests would import {where}, not the scratch copy"
        for database in sorted({m.database for m in chosen}):
            tests = tuple(sorted({t for m in chosen if m.database == database for t in m.tests}))
            started = time.monotonic()
            code, last = _pytest(scratch, tests, database)
            print(f"baseline ({database}, {time.monotonic() - started:.0f} s): {last}")
            if code != 0:
                print("the unpatched tests do not pass: fix that first")
                return 1
        for m in chosen:
            path = scratch / m.file
            original = path.read_text(encoding="utf-8")
            if original.count(m.old) != 1:
                results.append(
                    (m.name, "NOT APPLIED", f"`old` occurs {original.count(m.old)} times in {m.file}")
                )
                continue
            path.write_text(original.replace(m.old, m.new), encoding="utf-8")
            started = time.monotonic()
            try:
                code, last = _pytest(scratch, m.tests, m.database)
            finally:
                path.write_text(original, encoding="utf-8")
            took = f"{time.monotonic() - started:.0f} s"
            if code == 1:
                verdict = "caught"
            elif code == 0:
                verdict = "SURVIVED"
            else:
                verdict = "ERROR"  # interrupted, a usage or collection error: not a catch
            results.append((m.name, verdict, f"{took}, {m.database}: {last}"))
            print(f"{m.name:26} {verdict:9} {took}, {m.database}: {last}", flush=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    caught = sum(1 for _, v, _ in results if v == "caught")
    print(f"\n{caught} of {len(chosen)} mutants caught")
    for name, verdict, why in results:
        if verdict != "caught":
            print(f"  {name}: {verdict} ({why})")
    return 0 if caught == len(chosen) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
