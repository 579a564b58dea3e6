"""What ``jifen ledger verify`` prints: one line per community, then each problem."""

from __future__ import annotations

import sys

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from service.accounts.models import Community
from service.accounts.service import get_community_by_code
from service.points import service

__all__ = ["verify_ledgers"]


async def verify_ledgers(db: AsyncSession, community_code: str | None) -> int:
    """Verify one community (by code) or all; print a report; return 0 when clean, 1 otherwise."""
    if community_code:
        communities = [await get_community_by_code(db, community_code)]
    else:
        communities = list(await db.scalars(select(Community).order_by(Community.code)))
    bad = 0
    for c in communities:
        r = await service.verify(db, c.id)
        state = "ok" if r.ok else f"{r.problems_total} PROBLEMS"
        print(f"{c.code}: {state} ({r.accounts_checked} accounts, {r.entries_checked} entries)")
        for p in r.problems:
            where = " ".join(f"{k}={p[k]}" for k in ("entry_id", "account_id", "transfer_id") if k in p)
            print(f"  {p['code']}: {p['detail']} {where}", file=sys.stderr)
        bad += 0 if r.ok else 1
    return 1 if bad else 0
