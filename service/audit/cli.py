"""What ``jifen audit verify`` prints: one line per chain, then the first broken event on stderr."""

from __future__ import annotations

import sys

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from service.accounts.models import Community
from service.audit import rules, views

__all__ = ["verify_audit"]


async def verify_audit(db: AsyncSession, community_code: str | None) -> int:
    """Verify one community's chains (by code) or every chain; return 0 when all hold, 1 otherwise."""
    if community_code:
        cid = await db.scalar(select(Community.id).where(Community.code == community_code))
        if cid is None:
            print(f"no community with the code {community_code!r}", file=sys.stderr)
            return 2
        first = rules.chain_of(cid)
        mine = [c for c in await views.chains(db) if rules.community_chain(c) == first] or [first]
        names = {c: community_code + c.removeprefix(first) for c in mine}
    else:
        codes = {rules.chain_of(c.id): c.code for c in await db.execute(select(Community.id, Community.code))}
        names = {c: _name(c, codes) for c in await views.chains(db)}
    bad = 0
    for chain, name in names.items():
        r = await views.verify_chain(db, chain)
        print(f"{name}: {'ok' if r.ok else 'BROKEN'} ({r.events_checked} events verified)")
        if not r.ok:
            where = f" at event {r.event_id}" if r.event_id else ""
            print(f"  {name}: chain broken{where}: {r.problem}", file=sys.stderr)
            bad += 1
    return 1 if bad else 0


def _name(chain: str, codes: dict[str, str]) -> str:
    """A chain as printed: the community's code, and ``#<shard>`` for its other chains."""
    first = rules.community_chain(chain)
    return codes.get(first, first) + chain.removeprefix(first)
